"""CvT variants (paper, Table 2; the official configs) and the published weights.

Microsoft published the ImageNet checkpoints twice: as ``.pth`` files of the official code
(microsoft/CvT, hosted on OneDrive, no stable file URLs) and as transformers checkpoints on
the Hugging Face hub (``microsoft/cvt-*``), which are the ones listed here.
"""
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Wu et al., CvT: Introducing Convolutions to Vision Transformers, ICCV 2021"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

_SIZES = {
    "13": dict(embed_dims=(64, 192, 384), depths=(1, 2, 10), num_heads=(1, 3, 6)),
    "21": dict(embed_dims=(64, 192, 384), depths=(1, 4, 16), num_heads=(1, 3, 6)),
    "w24": dict(embed_dims=(192, 768, 1024), depths=(2, 2, 20), num_heads=(3, 12, 16)),
}
_NAMES = [("13", 224), ("21", 224), ("13", 384), ("21", 384), ("w24", 384)]
VARIANTS = {f"cvt_{size}_{res}": dict(input_size=(res, res), **_SIZES[size]) for size, res in _NAMES}

# Counts of transformers' CvtForImageClassification with a 1000-class head (BatchNorm running
# statistics are buffers, not parameters); the registry-wide test recounts them.
PARAMETERS = {
    "cvt_13_224": 19_997_480,
    "cvt_21_224": 31_622_696,
    "cvt_13_384": 19_997_480,
    "cvt_21_384": 31_622_696,
    "cvt_w24_384": 277_196_392,
}

def _reference(size):
    """transformers' CvtConfig of a size (its argument names are singular)."""
    config = _SIZES[size]
    kwargs = dict(embed_dim=list(config["embed_dims"]), depth=list(config["depths"]), num_heads=list(config["num_heads"]))
    return ("transformers", "CvtForImageClassification", "CvtConfig", kwargs)


REFERENCES = {f"cvt_{size}_{res}": _reference(size) for size, res in _NAMES}

TINY = dict(input_shape=(64, 64, 3), embed_dims=(16, 32, 48), depths=(1, 1, 2), num_heads=(1, 2, 3), num_classes=5)

# transformers checkpoints on the hub: (repo, tag, pre-training).
_HUB = {
    "cvt_13_224": [("microsoft/cvt-13", "hf_in1k")],
    "cvt_21_224": [("microsoft/cvt-21", "hf_in1k")],
    "cvt_13_384": [("microsoft/cvt-13-384-22k", "hf_in22k_ft_in1k"), ("microsoft/cvt-13-384", "hf_in1k")],
    "cvt_21_384": [("microsoft/cvt-21-384-22k", "hf_in22k_ft_in1k"), ("microsoft/cvt-21-384", "hf_in1k")],
    "cvt_w24_384": [("microsoft/cvt-w24-384-22k", "hf_in22k_ft_in1k")],
}


def weights_for(name):
    """All :class:`WeightsTag` of model ``name`` as ``{tag: WeightsTag}``."""
    size = VARIANTS[name]["input_size"]
    return {
        tag: WeightsTag(
            tag, f"https://huggingface.co/{repo}/resolve/main/pytorch_model.bin", "transformers",
            license="apache-2.0", input_size=size, mean=MEAN, std=STD,
        )
        for repo, tag in _HUB[name]
    }


WEIGHTS = {name: weights_for(name) for name in VARIANTS}
DEFAULT_WEIGHTS = {name: next(iter(tags)) for name, tags in WEIGHTS.items()}
