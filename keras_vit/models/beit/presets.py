"""BEiT variants (paper, Table 1 sizes; timm's names) and Microsoft's published weights.

The released classifiers were pre-trained by masked image modeling on ImageNet-22k,
fine-tuned on ImageNet-22k, then on ImageNet-1k (timm's ``in22k_ft_in22k_in1k``). Microsoft
published them as transformers checkpoints; timm re-published its conversion on its hub.
Both take RGB normalized with mean = std = 0.5.
"""
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Bao et al., BEiT: BERT Pre-Training of Image Transformers, ICLR 2022"
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

SIZES = {
    "base": dict(embed_dim=768, depth=12, num_heads=12, layer_scale_init=0.1),
    "large": dict(embed_dim=1024, depth=24, num_heads=16, layer_scale_init=1e-5),
}
_NAMES = [("base", 224), ("base", 384), ("large", 224), ("large", 384), ("large", 512)]
VARIANTS = {
    f"beit_{size}_patch16_{res}": dict(patch_size=16, input_size=(res, res), **SIZES[size])
    for size, res in _NAMES
}

# Parameters with a 1000-class head, as timm counts them (the registry-wide test checks).
PARAMETERS = {
    "beit_base_patch16_224": 86_530_984,
    "beit_base_patch16_384": 86_744_104,
    "beit_large_patch16_224": 304_430_568,
    "beit_large_patch16_384": 304_998_888,
    "beit_large_patch16_512": 305_674_728,
}

# transformers' BEiT configs keep BertConfig's LayerNorm epsilon, 1e-12 (timm and the
# original code: 1e-6); parity with that reference needs it.
LAYOUT_PREPROCESSING = {"transformers": {"layer_norm_epsilon": 1e-12}}

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=4, num_heads=2, num_classes=5)


def _tags(name, size, resolution):
    common = dict(input_size=(resolution, resolution), mean=MEAN, std=STD)
    tags = {
        "in22k_ft_in22k_in1k": WeightsTag(
            "in22k_ft_in22k_in1k",
            f"https://huggingface.co/timm/{name}.in22k_ft_in22k_in1k/resolve/main/model.safetensors",
            "timm",
            **common,
        ),
        "hf_in22k_ft_in22k_in1k": WeightsTag(
            "hf_in22k_ft_in22k_in1k",
            f"https://huggingface.co/microsoft/beit-{size}-patch16-{resolution}/resolve/main/pytorch_model.bin",
            "transformers",
            config=dict(LAYOUT_PREPROCESSING["transformers"]),
            **common,
        ),
    }
    if resolution == 224:
        tags["in22k_ft_in22k"] = WeightsTag(
            "in22k_ft_in22k",
            f"https://huggingface.co/timm/{name}.in22k_ft_in22k/resolve/main/model.safetensors",
            "timm",
            num_classes=21841,
            **common,
        )
    return tags


WEIGHTS = {f"beit_{size}_patch16_{res}": _tags(f"beit_{size}_patch16_{res}", size, res) for size, res in _NAMES}
DEFAULT_WEIGHTS = {name: "in22k_ft_in22k_in1k" for name in VARIANTS}
