"""keras_vit: Vision Transformers for Keras 3.

Example:
    >>> import keras_vit
    >>> model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
    >>> model = keras_vit.ViTB16(weights="path/to/ViT-B_16.npz")

``import keras_vit`` registers every family and layer with Keras as soon as Keras is loaded
(so ``.keras`` files load with ``keras.saving.load_model``), without loading Keras itself:
public names are imported on first use (PEP 562), ``keras-vit --help`` and ``keras-vit list``
answer without TensorFlow, and a Python without Keras runs the TFLite on-device example with
numpy, Pillow and LiteRT only.
"""
import importlib

from .utils.lazy import after_import, lazy_exports

__version__ = "0.2.0"

# public name -> module that defines it (a module itself for "layers" and "visualize")
_EXPORTS = {
    "FastViT": "keras_vit.models.fastvit",
    "MobileViT": "keras_vit.models.mobilevit",
    "MobileViTS": "keras_vit.models.mobilevit",
    "MobileViTXS": "keras_vit.models.mobilevit",
    "MobileViTXXS": "keras_vit.models.mobilevit",
    "distillation_outputs": "keras_vit.models.vit.model",
    "ViTB16": "keras_vit.models.vit",
    "ViTB32": "keras_vit.models.vit",
    "ViTH14": "keras_vit.models.vit",
    "ViTL16": "keras_vit.models.vit",
    "ViTL32": "keras_vit.models.vit",
    "ViTS16": "keras_vit.models.vit",
    "ViTTi16": "keras_vit.models.vit",
    "VisionTransformer": "keras_vit.models.vit",
    "ModelSpec": "keras_vit.registry",
    "create_model": "keras_vit.registry",
    "get_model_spec": "keras_vit.registry",
    "list_models": "keras_vit.registry",
    "register_model": "keras_vit.registry",
    "save_weights": "keras_vit.registry",
    "save_pretrained": "keras_vit.pretrained",
    "reparameterize": "keras_vit.models.fastvit",
    "CheckpointReadError": "keras_vit.weights.errors",
    "UnsafeCheckpointError": "keras_vit.weights.errors",
    "WeightsDownloadError": "keras_vit.weights.errors",
    "WeightsError": "keras_vit.weights.errors",
    "WeightsMismatchError": "keras_vit.weights.errors",
    "layers": None,
    "visualize": None,
}

__all__ = sorted(_EXPORTS)


# Every family registers itself when keras_vit.models is imported: do it before the
# registry is used, so list_models() and create_model() always see all of them.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, prepare=lambda: importlib.import_module("keras_vit.models"))


# Register every family and layer with Keras as soon as Keras is loaded (now, if it already
# is; when a keras_vit module itself loads Keras, once that import has finished), so that
# `.keras` files load with keras.saving.load_model. Code of ours that loads models imports
# keras_vit.models itself. Importing keras_vit does not
# load Keras itself: `keras-vit --help` and `keras-vit list` stay fast, and a Python without
# Keras (a device running the TFLite example) imports keras_vit all the same.
after_import("keras", lambda: importlib.import_module("keras_vit.models"), defer_while="keras_vit")
