"""Building blocks shared by every keras_vit family."""
from .attention import MultiHeadSelfAttention
from .embedding import ClassToken, PatchEmbedding, PositionEmbedding
from .mlp import MLP
from .pooling import TokenPooling
from .preprocessing import Preprocessing
from .regularization import DropPath, LayerScale
from .resample import resample_grid, resample_position_embedding
from .transformer import TransformerBlock

__all__ = [
    "ClassToken",
    "DropPath",
    "LayerScale",
    "MLP",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PositionEmbedding",
    "Preprocessing",
    "TokenPooling",
    "TransformerBlock",
    "resample_grid",
    "resample_position_embedding",
]
