"""The PVT (v1) family: model builder, named variants and their weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout, resample
from .model import PyramidVisionTransformer, features

register_family("pvt", presets, builder=PyramidVisionTransformer, convert=convert, detect=detect_layout, resample=resample, features=features)

__all__ = ["PyramidVisionTransformer"]
