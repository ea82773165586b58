"""The CCT family: model builder, named variants and their weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout, resample
from .model import CCT, CCTBlock, SequencePooling, features

register_family("cct", presets, builder=CCT, convert=convert, detect=detect_layout, resample=resample, features=features)

__all__ = ["CCT", "CCTBlock", "SequencePooling"]
