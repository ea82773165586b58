"""Export keras_vit models for mobile (TFLite, SavedModel, `.keras`) and check them.

Public API:

* :func:`export_model` writes one format, verifies it against Keras and reports its
  operators and XNNPACK delegate coverage (:class:`ExportResult`).
* :class:`TFLiteRunner` runs a `.tflite` on raw RGB pixels; :func:`evaluate_tflite`
  measures its accuracy on labelled images.
* :func:`inspect_ops` and :func:`delegate_coverage` inspect a converted file.

Command line: ``keras-vit export|predict|benchmark`` (see :mod:`keras_vit.tflite.cli`).
"""
from .export import ConversionError, ExportResult, Verification, export_model, load_keras_model
from .runtime import OpReport, TFLiteRunner, delegate_coverage, evaluate_tflite, inspect_ops

__all__ = [
    "ConversionError",
    "ExportResult",
    "OpReport",
    "TFLiteRunner",
    "Verification",
    "delegate_coverage",
    "evaluate_tflite",
    "export_model",
    "inspect_ops",
    "load_keras_model",
]
