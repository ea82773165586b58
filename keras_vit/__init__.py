"""keras_vit: Vision Transformers for Keras 3.

Example:
    >>> import keras_vit
    >>> model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
    >>> model = keras_vit.ViTB16(weights="path/to/ViT-B_16.npz")

``import keras_vit`` registers every family and layer with Keras (so ``.keras`` files load
with ``keras.saving.load_model``). Two cases stay light, with names imported on first use
(PEP 562): the ``keras-vit`` command, whose ``--help`` and ``list`` must not load
TensorFlow (it registers the layers itself before running a command), and a Python without
Keras, where the TFLite on-device example runs with numpy, Pillow and LiteRT only.
"""
import importlib
import os
import sys

from .utils.lazy import lazy_exports

__version__ = "0.2.0"

# public name -> module that defines it (a module itself for "layers" and "visualize")
_EXPORTS = {
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


def _command_line():
    """True in ``keras-vit ...`` and ``python -m keras_vit.cli`` / ``keras_vit.training.cli``."""
    if os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else "").startswith("keras-vit"):
        return True
    argv = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and b in ("keras_vit.cli", "keras_vit.training.cli")
               for a, b in zip(argv, argv[1:]))


def _register_now():
    if _command_line():
        return False  # the command line: keras_vit.cli registers after parsing
    try:
        import keras  # noqa: F401
    except ImportError:
        return False  # no Keras here (on a device): nothing to register
    return True


if _register_now():
    importlib.import_module("keras_vit.models")
