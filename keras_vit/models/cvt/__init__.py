"""The CvT family: model builder, named variants and their weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout
from .model import ConvKeyValue, ConvProjection, CvT, features

register_family("cvt", presets, builder=CvT, convert=convert, detect=detect_layout, features=features)

__all__ = ["ConvKeyValue", "ConvProjection", "CvT"]
