"""Shared test setup.

PyTorch must be imported before TensorFlow: the other order crashes the process
(segmentation fault in torchvision's native ops) with torch 2.14 and TF 2.21. The references
are optional, so the import is too.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Under pytest-xdist every worker would start thread pools as wide as the machine: on 2 cores
# two workers then run 4+ busy threads. Give each worker its share of the cores (TensorFlow
# reads these before it starts; subprocesses inherit them). KERAS_VIT_TEST_THREADS=0 leaves
# the defaults.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("KERAS_VIT_TEST_THREADS") != "0":
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _THREADS)
    os.environ.setdefault("OMP_NUM_THREADS", _THREADS)
else:
    _THREADS = None

try:
    import torch  # noqa: F401
    import timm  # noqa: F401

    if _THREADS:
        torch.set_num_threads(int(_THREADS))
except ImportError:
    pass

import gc  # noqa: E402

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "tensorflow_only: needs the TensorFlow backend (TFLite export, "
                            "tf.distribute); skipped when KERAS_BACKEND is another backend")


def pytest_runtest_setup(item):
    if item.get_closest_marker("tensorflow_only"):
        import keras

        if keras.backend.backend() != "tensorflow":
            pytest.skip(f"TensorFlow backend only, not {keras.backend.backend()}")


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
