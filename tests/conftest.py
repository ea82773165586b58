"""Shared test setup.

PyTorch must be imported before TensorFlow: the other order crashes the process
(segmentation fault in torchvision's native ops) with torch 2.14 and TF 2.21. The references
are optional, so the import is too.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:  # noqa: SIM105
    import torch  # noqa: F401
    import timm  # noqa: F401
except ImportError:
    pass

import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _free_models_between_modules():
    """Drop Keras' global state and collect garbage after each test module: the suite builds
    hundreds of models in one process, and without this its memory grows past 10 GB."""
    yield
    try:
        import keras

        keras.backend.clear_session()
    except ImportError:
        pass
    gc.collect()
