"""The MobileViT family: model builder, named variants and their weights."""
from ...registry import model_shortcut, register_family
from . import presets
from .convert import convert, detect_layout
from .layers import Fold, Unfold
from .model import MobileViT, features

register_family("mobilevit", presets, builder=MobileViT, convert=convert, detect=detect_layout, features=features)

MobileViTXXS = model_shortcut("mobilevit_xxs", "MobileViTXXS")
MobileViTXS = model_shortcut("mobilevit_xs", "MobileViTXS")
MobileViTS = model_shortcut("mobilevit_s", "MobileViTS")

__all__ = ["Fold", "MobileViT", "MobileViTS", "MobileViTXS", "MobileViTXXS", "Unfold"]
