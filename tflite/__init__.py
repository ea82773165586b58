"""Export keras_vit models for mobile (TFLite, SavedModel, `.keras`) and check them.

Public API:

* :func:`export_model` writes one format, verifies it against Keras and reports its
  operators and XNNPACK delegate coverage (:class:`ExportResult`); it dispatches to
  :func:`export_tflite`, :func:`export_saved_model`, :func:`export_keras`, or the mobile preset.
* :class:`TFLiteRunner` runs a `.tflite` on raw RGB pixels; :func:`evaluate_tflite`
  measures its accuracy on labelled images.
* :func:`inspect_ops` and :func:`delegate_coverage` inspect a converted file.

Command line: ``keras-vit export|predict|benchmark`` (see :mod:`keras_vit.tflite.cli`).

Names are imported on first use (PEP 562): ``keras_vit.tflite.on_device_example`` and
``keras_vit.tflite.data.prepare_image`` run with numpy, Pillow and LiteRT only.
"""
from keras_vit.utils.lazy import lazy_exports

# public name -> submodule that defines it
_EXPORTS = {
    "ConversionError": "export",
    "ExportResult": "export",
    "Verification": "export",
    "export_model": "export",
    "export_keras": "export",
    "export_saved_model": "export",
    "export_tflite": "export",
    "load_keras_model": "export",
    "OpReport": "runtime",
    "TFLiteRunner": "runtime",
    "delegate_coverage": "runtime",
    "evaluate_tflite": "runtime",
    "inspect_ops": "runtime",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
