"""FastViT variants (paper, Table 1 / timm's ``fastvit_*``) and their published weights.

Apple's ImageNet-1k checkpoints (ml-fastvit), as converted by timm (training form, with
every re-parameterizable branch): plain and distilled from a RegNetY-16GF teacher
(``apple_dist_in1k``). Trained at 256 px with ImageNet mean/std.
"""
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY, WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = ("Vasu, Gabriel, Zhu, Tuzel & Ranjan, FastViT: A Fast Hybrid Vision Transformer using "
         "Structural Reparameterization, ICCV 2023")

_REPMIXER = ("repmixer",) * 4
_SA = ("repmixer", "repmixer", "repmixer", "attention")
_CPE = (None, None, None, 7)  # a 7 x 7 conditional position encoding before the attention stage

VARIANTS = {
    "fastvit_t8": dict(depths=(2, 2, 4, 2), embed_dims=(48, 96, 192, 384), mlp_ratios=(3, 3, 3, 3), token_mixers=_REPMIXER),
    "fastvit_t12": dict(depths=(2, 2, 6, 2), embed_dims=(64, 128, 256, 512), mlp_ratios=(3, 3, 3, 3), token_mixers=_REPMIXER),
    "fastvit_s12": dict(depths=(2, 2, 6, 2), embed_dims=(64, 128, 256, 512), mlp_ratios=(4, 4, 4, 4), token_mixers=_REPMIXER),
    "fastvit_sa12": dict(depths=(2, 2, 6, 2), embed_dims=(64, 128, 256, 512), mlp_ratios=(4, 4, 4, 4), token_mixers=_SA, pos_embs=_CPE),
    "fastvit_sa24": dict(depths=(4, 4, 12, 4), embed_dims=(64, 128, 256, 512), mlp_ratios=(4, 4, 4, 4), token_mixers=_SA, pos_embs=_CPE),
    "fastvit_sa36": dict(depths=(6, 6, 18, 6), embed_dims=(64, 128, 256, 512), mlp_ratios=(4, 4, 4, 4), token_mixers=_SA, pos_embs=_CPE),
    "fastvit_ma36": dict(depths=(6, 6, 18, 6), embed_dims=(76, 152, 304, 608), mlp_ratios=(4, 4, 4, 4), token_mixers=_SA, pos_embs=_CPE),
}

# Parameter counts of timm's fastvit_* (training form, 1000-class head; BatchNorm running
# statistics are buffers there, so they are not counted).
PARAMETERS = {
    "fastvit_t8": 4_026_232,
    "fastvit_t12": 7_553_704,
    "fastvit_s12": 9_473_576,
    "fastvit_sa12": 11_580_968,
    "fastvit_sa24": 21_554_216,
    "fastvit_sa36": 31_527_464,
    "fastvit_ma36": 44_068_004,
}

INPUT_SIZE = (256, 256)
for _config in VARIANTS.values():
    _config["input_size"] = INPUT_SIZE

# Both token mixers, the position encoding (timm fixes head_dim at 32: two heads here), SE, and
# depthwise widening by 2 at every downsampling and in the final convolution.
TINY = dict(
    input_shape=(64, 64, 3), depths=(1, 1, 1, 1), embed_dims=(8, 16, 32, 64), mlp_ratios=(2, 2, 2, 2),
    token_mixers=("repmixer", "repmixer", "repmixer", "attention"), pos_embs=(None, None, None, 7),
    num_classes=5,
)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LICENSE = "fastvit-license"  # Apple's ml-fastvit LICENSE, as timm's pretrained_cfg names it


def weights_for(name):
    """All :class:`WeightsTag` of model ``name`` as ``{tag: WeightsTag}``."""
    common = dict(license=LICENSE, input_size=INPUT_SIZE, mean=MEAN, std=STD)
    return {
        tag: WeightsTag(tag, f"https://huggingface.co/timm/{name}.{tag}/resolve/main/model.safetensors", "timm", **common)
        for tag in ("apple_in1k", "apple_dist_in1k")
    }


WEIGHTS = {name: weights_for(name) for name in VARIANTS}
DEFAULT_WEIGHTS = {name: "apple_in1k" for name in VARIANTS}  # timm's default tag
REFERENCES = {name: ("timm", name) for name in VARIANTS}
