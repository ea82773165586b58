"""Building blocks shared by every keras_vit family."""
from .attention import Attention, MultiHeadSelfAttention, RelativePositionBias
from .classifier import Backbone, image_classifier
from .embedding import ClassToken, PatchEmbedding, PositionEmbedding
from .head import classifier, drop_path_rates, image_input, map_head, token_head
from .mlp import MLP
from .pooling import TokenPooling
from .preprocessing import Preprocessing
from .regularization import DropPath, LayerScale
from .resample import (
    relative_position_index,
    resample_grid,
    resample_position_embedding,
    resize_relative_position_table,
)
from .transformer import TransformerBlock

__all__ = [
    "Attention",
    "Backbone",
    "ClassToken",
    "DropPath",
    "LayerScale",
    "MLP",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PositionEmbedding",
    "Preprocessing",
    "RelativePositionBias",
    "TokenPooling",
    "TransformerBlock",
    "classifier",
    "image_classifier",
    "drop_path_rates",
    "image_input",
    "map_head",
    "relative_position_index",
    "resample_grid",
    "resample_position_embedding",
    "resize_relative_position_table",
    "token_head",
]
