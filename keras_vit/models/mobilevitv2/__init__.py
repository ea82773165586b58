"""The MobileViT v2 family: model builder, named variants and their weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout
from .layers import AlignedResize, GroupNorm1, LinearSelfAttention, LinearTransformerBlock, PatchFold, PatchUnfold
from .model import MobileViTV2, context_scores, features

register_family("mobilevitv2", presets, builder=MobileViTV2, convert=convert, detect=detect_layout, features=features)

__all__ = [
    "AlignedResize",
    "GroupNorm1",
    "LinearSelfAttention",
    "LinearTransformerBlock",
    "MobileViTV2",
    "PatchFold",
    "PatchUnfold",
    "context_scores",
]
