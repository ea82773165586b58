"""The DAT family (CVPR 2022): model builder, named variants and the official key map."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout, resample
from .model import DAT, DeformableAttention, WindowBlock, features

register_family("dat", presets, builder=DAT, convert=convert, detect=detect_layout, resample=resample, features=features)

__all__ = ["DAT", "DeformableAttention", "WindowBlock"]
