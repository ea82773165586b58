"""The PVT v2 family: model builder, named variants and their weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout
from .model import DepthwiseConvMLP, PvtV2Block, PyramidVisionTransformerV2, SpatialReduction, features

register_family("pvt_v2", presets, builder=PyramidVisionTransformerV2, convert=convert, detect=detect_layout, features=features)

__all__ = ["DepthwiseConvMLP", "PvtV2Block", "PyramidVisionTransformerV2", "SpatialReduction"]
