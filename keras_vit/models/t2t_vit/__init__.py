"""The T2T-ViT family: model builder, named variants and their weights."""
from ...registry import register_family
from . import presets
from .convert import convert, detect_layout, resample
from .model import SinusoidPositionEmbedding, SoftSplit, T2TViT, TokenPerformer, TokenTransformer, ValueSkipAttention, features

register_family("t2t_vit", presets, builder=T2TViT, convert=convert, detect=detect_layout, resample=resample, features=features)

__all__ = ["SinusoidPositionEmbedding", "SoftSplit", "T2TViT", "TokenPerformer", "TokenTransformer", "ValueSkipAttention"]
