"""keras_vit: Vision Transformers for Keras 3.

Example:
    >>> import keras_vit
    >>> model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
    >>> model = keras_vit.ViTB16(weights="path/to/ViT-B_16.npz")
"""
from . import layers, visualize
from .models.mobilevit import MobileViT, MobileViTS, MobileViTXS, MobileViTXXS
from .models.vit.model import distillation_outputs
from .models.vit import ViTB16, ViTB32, ViTH14, ViTL16, ViTL32, ViTS16, ViTTi16, VisionTransformer
from .registry import ModelSpec, create_model, get_model_spec, list_models, register_model, save_weights
from .weights.errors import (
    CheckpointReadError,
    UnsafeCheckpointError,
    WeightsDownloadError,
    WeightsError,
    WeightsMismatchError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointReadError",
    "MobileViT",
    "MobileViTS",
    "MobileViTXS",
    "MobileViTXXS",
    "ModelSpec",
    "UnsafeCheckpointError",
    "ViTB16",
    "ViTB32",
    "ViTH14",
    "ViTL16",
    "ViTL32",
    "ViTS16",
    "ViTTi16",
    "VisionTransformer",
    "WeightsDownloadError",
    "WeightsError",
    "WeightsMismatchError",
    "create_model",
    "distillation_outputs",
    "get_model_spec",
    "layers",
    "list_models",
    "register_model",
    "save_weights",
    "visualize",
]
