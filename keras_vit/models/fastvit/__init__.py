"""The FastViT family: model builder (training and folded forms), named variants, weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout
from .model import FastViT, features
from .reparam import reparameterize

register_family("fastvit", presets, builder=FastViT, convert=convert, detect=detect_layout, features=features,
                inference_form=reparameterize)

__all__ = ["FastViT", "reparameterize"]
