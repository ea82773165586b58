"""The BEiT family: model builder, named variants, their weights, and masked image modeling."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout, resample
from .mim import (
    BlockwiseMaskGenerator,
    MaskedImageData,
    MaskedTokenLoss,
    MaskToken,
    PatchTokenizer,
    fit_kmeans_tokenizer,
    masked_image_model,
    pretrain,
)
from .model import Beit, SharedRelativePositionBias, features

register_family("beit", presets, builder=Beit, convert=convert, detect=detect_layout, resample=resample, features=features)

__all__ = [
    "Beit",
    "BlockwiseMaskGenerator",
    "MaskToken",
    "MaskedImageData",
    "MaskedTokenLoss",
    "PatchTokenizer",
    "SharedRelativePositionBias",
    "fit_kmeans_tokenizer",
    "masked_image_model",
    "pretrain",
]
