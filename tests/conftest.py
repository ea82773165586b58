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
