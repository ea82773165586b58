"""The BEiT family: model builder, named variants and their weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout, resample
from .model import Beit, SharedRelativePositionBias, features

register_family("beit", presets, builder=Beit, convert=convert, detect=detect_layout, resample=resample, features=features)

__all__ = ["Beit", "SharedRelativePositionBias"]
