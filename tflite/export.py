"""Export a Keras classifier for mobile: SavedModel, `.keras` and TFLite, then verify it.

This module decides where an export may go and orchestrates the two steps, conversion
(:mod:`keras_vit.tflite.convert`) and verification (:mod:`keras_vit.tflite.verify`).

Nothing the user made is ever moved or deleted. A file format (``.tflite``, ``.keras``) refuses
a folder as its output; a SavedModel replaces only a folder that is a SavedModel (or an empty
one) unless ``overwrite=True``; the current folder, its parents and a folder holding the model
being exported are always refused. Every export is written to a temporary name beside
``output`` and renamed into place only after conversion succeeded
(:mod:`keras_vit.utils.io`), and every temporary file or folder is removed on any failure,
Ctrl-C and SIGTERM included.
"""
import dataclasses
import os
import shutil
import zipfile

from keras_vit.utils import io as atomic_io

from . import data as data_lib
from . import metadata as tflite_metadata
from . import runtime
from .convert import (  # noqa: F401  (re-exported: the public names of the export API)
    FLOAT_OPS_PRESETS,
    INT8_UNSAFE_OPS,
    TRANSFORMER_FLOAT_OPS,
    ConversionError,
    convert_saved_model,
    convert_tflite,
    resolve_float_ops,
    write_saved_model,
)
from .verify import FLOAT32_TOLERANCE, MIN_TOP1_AGREEMENT, Verification  # noqa: F401
from .verify import compare, keras_predict, saved_model_runner, verification_images

_keras_predict = keras_predict  # the name tflite/benchmark.py imports

FORMATS = ("saved_model", "keras", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
IO_DTYPES = (None, "float32", "uint8", "int8")

__all__ = [
    "export_model",
    "check_output",
    "ExportResult",
    "Verification",
    "ConversionError",
    "OutputError",
    "load_keras_model",
    "resolve_float_ops",
    "TRANSFORMER_FLOAT_OPS",
]


class OutputError(ValueError):
    """The output path would destroy something the user made; nothing was written."""


@dataclasses.dataclass
class ExportResult:
    """What :func:`export_model` wrote and what it found.

    Attributes:
        path: the exported file or folder.
        format: ``"saved_model"``, ``"keras"`` or ``"tflite"``.
        quantize: quantization mode (``"none"`` for non-TFLite formats).
        size: bytes on disk (whole folder for SavedModel).
        input_shape / input_dtype / output_dtype: the exported interface.
        ops: ``{op_name: count}`` for TFLite files (empty otherwise).
        ops_outside_delegate: ``{op_name: count}`` of TFLite nodes not run by XNNPACK.
        delegate_partitions: number of XNNPACK partitions.
        verification: a :class:`Verification`, or ``None`` when ``verify=False``.
        float_ops: op types kept in float in an int8 export (empty: full integer).
        preset_report: with ``preset=``, the candidates measured and why this one was chosen
            (a :class:`keras_vit.tflite.presets.PresetReport`).
        gpu_compatible: TFLite only: whether TensorFlow Lite's analyzer finds every op compatible
            with the GPU delegate (static check; ``None``: not checked).
    """

    path: str
    format: str
    quantize: str
    size: int
    input_shape: tuple
    input_dtype: str
    output_dtype: str
    ops: dict = dataclasses.field(default_factory=dict)
    ops_outside_delegate: dict = dataclasses.field(default_factory=dict)
    delegate_partitions: int = 0
    verification: Verification = None
    float_ops: tuple = ()
    preset_report: object = None
    gpu_compatible: bool = None

    @property
    def passed(self):
        """True unless verification ran and failed."""
        return self.verification is None or self.verification.passed

    def summary(self):
        lines = [
            f"Exported {self.format}"
            + (f" ({self.quantize}{', float ' + '/'.join(self.float_ops) if self.float_ops else ''})"
               if self.format == "tflite" else "")
            + f" to {self.path}: {self.size / 1e6:.2f} MB, input {self.input_shape} {self.input_dtype},"
            f" output {self.output_dtype}"
        ]
        if self.ops:
            lines.append("Ops: " + ", ".join(f"{k} x{v}" for k, v in self.ops.items()))
            if self.ops_outside_delegate:
                outside = ", ".join(f"{k} x{v}" for k, v in self.ops_outside_delegate.items())
                lines.append(
                    f"XNNPACK: {self.delegate_partitions} partitions; outside the delegate: {outside}"
                )
            else:
                lines.append(f"XNNPACK: every op delegated ({self.delegate_partitions} partition)")
        if self.gpu_compatible is not None:
            lines.append("GPU delegate (TFLite analyzer, static): "
                         + ("compatible" if self.gpu_compatible else "NOT compatible"))
        if self.verification is not None:
            lines.append("Verification " + self.verification.summary())
        if self.preset_report is not None:
            lines.append(self.preset_report.summary())
        return "\n".join(lines)

def load_keras_model(path):
    """Load a `.keras` file with keras_vit's layers registered, in Keras' safe mode.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a loadable `.keras` file, or one whose config names code (Lambda
            layers, functions such as ``os.system``).
    """
    import keras

    import keras_vit.models  # noqa: F401  (registers the serializable layers)
    from keras_vit.weights.readers import check_keras_config

    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path}")
    if os.path.isdir(path) or not zipfile.is_zipfile(path):
        raise ValueError(f"Cannot load {path}: not a .keras file (a .keras model is a zip archive).")
    check_keras_config(path)  # UnsafeCheckpointError (a ValueError) for configs naming code
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        # export_model protects the file a model came from, however the model reaches it.
        model._keras_vit_source = os.path.abspath(path)
        return model
    except (TypeError, ValueError, KeyError, OSError, zipfile.BadZipFile) as e:
        raise ValueError(
            f"Cannot load {path}: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__} (custom layers "
            "must be registered with keras.saving.register_keras_serializable and imported; code in the "
            "config is refused)."
        ) from None


def resolve_model(spec, weights=None, image_size=None, num_classes=None):
    """A ``keras.Model`` from a `.keras` file or a keras_vit registry name.

    Args:
        spec: path ending in ``.keras``, or a registry name such as ``vit_tiny_patch16_224``.
        weights: weights tag or file for a registry model.
        image_size: square input size for a registry model (default: the variant's own).
        num_classes: classifier classes for a registry model (default: the variant's own).
    """
    import keras_vit

    for name, value in (("image_size", image_size), ("num_classes", num_classes)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if spec.endswith(".keras"):
        # A saved model has its own input size and head: refuse rather than silently ignore.
        given = [flag for flag, value in (("--weights", weights), ("--image-size", image_size),
                                          ("--num-classes", num_classes)) if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} apply to registry names, not .keras files (a saved model keeps "
                             "its own weights, input size and classes).")
        return load_keras_model(spec)
    names = keras_vit.list_models()
    if spec not in names:
        raise ValueError(f"Unknown model {spec!r}: not a .keras file nor one of {', '.join(names)}.")
    kwargs = {"weights": weights}
    if image_size is not None:
        kwargs["input_shape"] = (image_size, image_size, 3)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    return keras_vit.create_model(spec, **kwargs)


def _validate_args(format, quantize, input_dtype, output_dtype, batch_size):
    if format not in FORMATS:
        raise ValueError(f"Unknown format {format!r}; choose one of {', '.join(FORMATS)}.")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}.")
    if format != "tflite" and quantize != "none":
        raise ValueError(f"Quantization applies to TFLite only; format {format!r} takes quantize='none'.")
    for name, value in (("input_dtype", input_dtype), ("output_dtype", output_dtype)):
        if value not in IO_DTYPES:
            raise ValueError(f"Unknown {name} {value!r}; choose float32, uint8 or int8.")
        if value in ("uint8", "int8") and quantize != "int8":
            raise ValueError(f"{name}={value!r} needs quantize='int8' (full-integer model).")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")

def _model_image_shape(model, input_shape):
    shape = tuple(model.inputs[0].shape[1:])
    if input_shape is not None:
        input_shape = tuple(int(d) for d in input_shape)
        if any(d is not None and d != e for d, e in zip(shape, input_shape)) or len(shape) != len(input_shape):
            raise ValueError(f"input_shape {input_shape} does not fit the model input {shape}.")
        shape = input_shape
    if len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(
            f"The model input {shape} is not a fixed (H, W, C) image shape; pass input_shape=(H, W, 3)."
        )
    return shape

def _is_tflite_file(path):
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"


#: What :func:`write_saved_model` puts in a SavedModel folder. A folder holding anything else
#: is not (only) an earlier export, and is never replaced without ``overwrite``.
SAVED_MODEL_ENTRIES = frozenset({"saved_model.pb", "fingerprint.pb", "variables", "assets", "keras_metadata.pb"})


def _special_file(path):
    """A description of ``path`` when it exists but is neither a regular file nor a folder."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output(output, format, overwrite=False, protect=()):
    """The normalised output path, after checking that writing there loses nothing.

    Args:
        output: the requested file or folder (a trailing slash is allowed for a SavedModel).
        format: one of ``FORMATS``.
        overwrite: allow replacing an existing file or folder that is not an earlier export of
            the same format. A file format still never replaces a folder.
        protect: files that must survive (the model being exported).

    Raises:
        OutputError: the path is the current folder or one of its parents, holds a protected
            file, is a folder for a file format, or is something other than an earlier export
            without ``overwrite``.
    """
    raw = os.fspath(output)
    if not raw.strip():
        raise OutputError("The output path is empty.")
    path = os.path.normpath(raw)
    real = os.path.realpath(path)
    cwd = os.path.realpath(os.getcwd())
    if _inside(cwd, real) or real in (os.path.realpath(os.path.expanduser("~")), os.path.abspath(os.sep)):
        raise OutputError(
            f"Refusing to export to {raw!r}: it is the current folder, one of its parents or your home folder. "
            f"Give a new name, e.g. --output {os.path.join(raw, 'export_' + format)}."
        )
    for keep in protect:
        if keep and _inside(os.path.realpath(os.fspath(keep)), real):
            raise OutputError(
                f"Refusing to export to {raw!r}: it {'is' if os.path.realpath(keep) == real else 'holds'} the model "
                f"being exported ({keep}). Choose another output path."
            )
    exists = os.path.lexists(path)
    special = _special_file(path)
    if special is not None:  # checked before anything opens it: a FIFO would block the reader
        raise OutputError(
            f"Refusing to export to {raw!r}: it is {special}, not a file or folder; nothing is ever written "
            "over one, even with --overwrite. Give the path of a new file or folder."
        )
    if format in ("tflite", "keras"):
        if raw.endswith(("/", os.sep)) or os.path.isdir(path):
            example = os.path.join(path, "model." + format)
            raise OutputError(
                f"{raw!r} is a folder, but a {format} export is one file. Give a file path such as {example} "
                "(nothing was changed)."
            )
        if format == "keras" and not path.endswith(".keras"):
            raise OutputError(f"A .keras export needs a path ending in .keras, got {raw!r}.")
        if exists and not overwrite:
            earlier = _is_tflite_file(path) if format == "tflite" else zipfile.is_zipfile(path)
            if not earlier:
                raise OutputError(
                    f"{raw!r} exists and is not a {format} file; choose another name, or pass --overwrite "
                    "(overwrite=True) to replace it."
                )
        return path
    if exists and not os.path.isdir(path):
        if not overwrite:
            raise OutputError(
                f"{raw!r} is an existing file, but a SavedModel is a folder; choose another name, or pass "
                "--overwrite (overwrite=True) to replace it."
            )
    elif exists and not overwrite:
        entries = sorted(os.listdir(path))
        others = [e for e in entries if e not in SAVED_MODEL_ENTRIES]
        if entries and "saved_model.pb" not in entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise OutputError(
                f"{raw!r} is a folder that is not a SavedModel (it holds {shown}); nothing was changed. "
                "Choose a new folder, or pass --overwrite (overwrite=True) to replace it and everything in it."
            )
        if others:  # an earlier export is replaced only when the folder holds nothing else
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise OutputError(
                f"{raw!r} holds a SavedModel and also {shown}, which an export does not write; nothing was "
                "changed. Move those elsewhere or choose a new folder (--overwrite replaces everything in it)."
            )
    return path


def _float32_config(config):
    """``config`` with every mixed-precision dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and str(config.get("config", {}).get("name", "")).startswith("mixed_"):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_config(v) for v in config]
    if isinstance(config, str) and config.startswith("mixed_"):
        return "float32"
    return config


def float32_model(model):
    """``model`` itself if it computes in float32, else the same functional model computing in
    float32 with the same weights (a mixed-precision model keeps float32 variables already).

    Example:
        >>> exportable = float32_model(model_trained_with_mixed_bfloat16)
    """
    import keras

    if all(getattr(layer.dtype_policy, "compute_dtype", "float32") == "float32" for layer in model.layers):
        return model
    # Layers that make sublayers take the global policy for them: build under float32 too.
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        clone = keras.Model.from_config(_float32_config(model.get_config()))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    clone.set_weights(model.get_weights())
    clone._keras_vit_source = getattr(model, "_keras_vit_source", None)
    return clone


def _dir_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, files in os.walk(path) for f in files)

def export_model(
    model,
    output,
    format="tflite",
    quantize="none",
    representative_data=None,
    input_dtype=None,
    output_dtype=None,
    batch_size=1,
    verify=True,
    sample_images=None,
    labels=None,
    input_shape=None,
    num_calibration=100,
    num_verify=16,
    tolerance=FLOAT32_TOLERANCE,
    min_top1_agreement=None,
    num_threads=None,
    float_ops=None,
    overwrite=False,
    preset=None,
    saved_model_dir=None,
    reparameterize=True,
    class_names=None,
):
    """Export a Keras image classifier for mobile and check the result against Keras.

    One entry point for every mode: it dispatches to :func:`export_tflite`,
    :func:`export_saved_model` or :func:`export_keras` by ``format``, or to the mobile preset
    (:func:`keras_vit.tflite.presets.export_preset`) with ``preset=``; each of those takes only
    its own arguments.

    The model must take raw RGB pixels in [0, 255] (keras_vit models do, with
    ``include_preprocessing=True``); the exported file takes the same pixels.

    Args:
        model: a ``keras.Model`` or the path of a `.keras` file.
        output: file (``.tflite``, ``.keras``) or folder (SavedModel) to write.
        format: ``"tflite"``, ``"saved_model"`` or ``"keras"``.
        quantize: TFLite only: ``"none"`` (float32), ``"float16"`` (float16 weights),
            ``"dynamic"`` (int8 weights, float activations) or ``"int8"`` (full integer,
            needs ``representative_data``).
        representative_data: raw-pixel images ``(N, H, W, 3)`` from the training data for
            int8 calibration; also the default verification images.
        input_dtype / output_dtype: ``"uint8"`` or ``"int8"`` to make a full-integer model's
            input/output integer (``None``/``"float32"`` keeps float). A uint8 input takes
            raw pixel bytes as they are (scale 1, zero point 0).
        batch_size: fixed batch dimension of the exported signature.
        verify: run the export with ``ai_edge_litert`` (or reload it) and compare with Keras.
        sample_images: images for verification, all used (default: the last
            ``num_verify`` representative images, or seeded uniform noise).
        labels: labels of ``sample_images`` to report accuracy.
        input_shape: ``(H, W, 3)`` when the model's input has unknown dimensions.
        num_calibration: representative images used for int8 calibration.
        num_verify: verification images when ``sample_images`` is not given.
        tolerance: float32 bound on ``max|diff| / (max - min of Keras logits)``.
        min_top1_agreement: bound for quantized formats (default ``MIN_TOP1_AGREEMENT``).
        num_threads: interpreter threads used for verification.
        float_ops: ``quantize="int8"`` only: operator types to keep in float, as a list of
            TFLite op names (``["SOFTMAX", "BATCH_MATMUL"]``) or the preset ``"transformer"``
            (LayerNorm and attention ops, see ``TRANSFORMER_FLOAT_OPS``), which makes int8
            transformers several times faster on CPU at the same or better accuracy.
            ``None``: full integer.
        overwrite: replace an existing output that is not an earlier export of the same
            format (a SavedModel folder or a ``.tflite``/``.keras`` file is replaced without it).
            The current folder, its parents and the folder of the exported model are refused
            even so, and a file format never replaces a folder.
        preset: ``"mobile"``: TFLite only; export float32, float16, dynamic int8, full int8
            and int8 with float transformer ops, time them interleaved (1 thread, XNNPACK)
            and keep the fastest within 0.5 accuracy points of float32 on ``sample_images``/
            ``labels`` (both needed, with ``representative_data``); ``quantize`` and
            ``float_ops`` are then chosen, not given. See :mod:`keras_vit.tflite.presets`.
        saved_model_dir: TFLite only: convert this SavedModel, written earlier for the same
            model by ``export_model(model, dir, format="saved_model", batch_size=...)``,
            instead of writing a temporary one (saves a third of each conversion when
            exporting several formats). Verification still compares with ``model``.
        reparameterize: SavedModel and TFLite: export the family's deployable form where it has
            one (``keras_vit.registry.inference_form``: FastViT's folded branches, same outputs);
            verification still compares with ``model``. ``False``: export ``model`` as it is.
        class_names: TFLite only: one name per class, written into the file's metadata
            (``labels.txt``, read by MediaPipe Tasks and ``keras-vit predict``); default
            ``class_0``, ``class_1``... See :mod:`keras_vit.tflite.metadata`.

    Returns:
        An :class:`ExportResult`. The file is kept when verification fails; check
        ``result.passed``.

    Raises:
        ValueError: bad arguments or data.
        OutputError: (a ValueError) the output would replace something that is not an earlier
            export (see :func:`check_output`).
        ConversionError: conversion failed or needed non-builtin ops (nothing is written then).
        OSError: the disk is full or read-only (nothing is left behind).

    Example:
        >>> result = export_model(model, "vit_int8.tflite", quantize="int8",
        ...                       representative_data=x_train[:200], input_dtype="uint8")
        >>> print(result.summary())
        >>> export_model(model, "vit_mixed.tflite", quantize="int8", float_ops="transformer",
        ...              representative_data=x_train[:200], input_dtype="uint8")
    """
    if preset is not None:
        if format != "tflite" or quantize != "none" or float_ops is not None or input_dtype or output_dtype:
            raise ValueError("preset= chooses the TFLite quantization itself: leave quantize, float_ops and the "
                             "input/output dtypes unset.")
        from .presets import export_preset

        if isinstance(model, (str, os.PathLike)):
            model = load_keras_model(os.fspath(model))
        model = float32_model(model)
        check_output(output, "tflite", overwrite, protect=(getattr(model, "_keras_vit_source", None),))
        return export_preset(model, output, preset, representative_data, sample_images, labels,
                             threads=num_threads or 1, overwrite=overwrite, batch_size=batch_size,
                             num_calibration=num_calibration, input_shape=input_shape, class_names=class_names)
    _validate_args(format, quantize, input_dtype, output_dtype, batch_size)
    common = dict(overwrite=overwrite, verify=verify, sample_images=sample_images, labels=labels,
                  representative_data=representative_data, num_verify=num_verify, input_shape=input_shape)
    if saved_model_dir is not None and format != "tflite":
        raise ValueError(f"saved_model_dir is for format='tflite' only, not {format!r}.")
    if format == "keras":
        return export_keras(model, output, **common)
    if format == "saved_model":
        return export_saved_model(model, output, batch_size=batch_size, reparameterize=reparameterize,
                                  tolerance=tolerance, **common)
    return export_tflite(
        model, output, quantize=quantize, input_dtype=input_dtype, output_dtype=output_dtype,
        batch_size=batch_size, float_ops=float_ops, num_calibration=num_calibration,
        saved_model_dir=saved_model_dir, class_names=class_names, reparameterize=reparameterize,
        tolerance=tolerance, min_top1_agreement=min_top1_agreement, num_threads=num_threads, **common,
    )


def _prepare(model, output, format, overwrite, input_shape, representative_data, sample_images):
    """What every mode does first: refuse an output that would replace the source or something
    an export did not write, sweep what a killed export left beside it, load a `.keras` path,
    compute in float32, and check the images against the model's input.

    Returns ``(model, output, image_shape, representative_data, sample_images)``.
    """
    source = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
    # A model loaded by load_keras_model (the CLI's way) remembers its file: protected as well.
    output = check_output(output, format, overwrite, protect=(source, getattr(model, "_keras_vit_source", None)))
    atomic_io.sweep_stale(os.path.dirname(os.path.abspath(output)))  # what a killed export left here
    if source is not None:
        model = load_keras_model(source)
    # A model trained under mixed precision exports (and is verified) in float32: TFLite has no
    # bfloat16 kernels for several ops (GELU's Erfc), and float32 is what every runtime runs.
    model = float32_model(model)
    image_shape = _model_image_shape(model, input_shape)
    if representative_data is not None:
        representative_data = data_lib.check_images(representative_data, image_shape, "representative_data")
    if sample_images is not None:
        sample_images = data_lib.check_images(sample_images, image_shape, "sample_images")
    return model, output, image_shape, representative_data, sample_images


def _verified(result, run, model, image_shape, quantize, *, verify, sample_images, representative_data, labels,
              num_verify, tolerance=FLOAT32_TOLERANCE, min_top1_agreement=None):
    """``result`` with its verification: the export's outputs (``run``) against Keras'."""
    if verify:
        images = verification_images(image_shape, sample_images, representative_data, num_verify)
        reference = keras_predict(model, images)
        candidate = run(images)
        result.verification = compare(reference, candidate, quantize, labels if sample_images is not None else None,
                                      tolerance, min_top1_agreement)
        result.verification.on_noise = sample_images is None and representative_data is None
    return result


def export_keras(model, output, *, overwrite=False, verify=True, sample_images=None, labels=None,
                 representative_data=None, num_verify=16, input_shape=None):
    """Write ``model`` as a `.keras` file, reload it and check its outputs against the model's.

    The arguments mean what they mean for :func:`export_model` (``format="keras"``).

    Example:
        >>> export_keras(model, "vit.keras").passed
    """
    model, output, image_shape, representative_data, sample_images = _prepare(
        model, output, "keras", overwrite, input_shape, representative_data, sample_images)
    with atomic_io.cleanup_on_terminate():  # SIGTERM unwinds, so the temporary file is removed
        with atomic_io.atomic_path(output) as tmp:
            model.save(tmp)
            exported = load_keras_model(tmp) if verify else None
    result = ExportResult(output, "keras", "none", _dir_size(output), (None,) + image_shape, "float32", "float32")
    return _verified(result, lambda x: keras_predict(exported, x), model, image_shape, "none", verify=verify,
                     sample_images=sample_images, representative_data=representative_data, labels=labels,
                     num_verify=num_verify)


def export_saved_model(model, output, *, batch_size=1, reparameterize=True, overwrite=False, verify=True,
                       sample_images=None, labels=None, representative_data=None, num_verify=16, input_shape=None,
                       tolerance=FLOAT32_TOLERANCE):
    """Write ``model`` as a SavedModel folder (signature ``serving_default``, input ``images``) and
    check its outputs against Keras'. The arguments mean what they mean for :func:`export_model`.

    Example:
        >>> export_saved_model(model, "vit_saved_model/").passed
    """
    _validate_args("saved_model", "none", None, None, batch_size)
    model, output, image_shape, representative_data, sample_images = _prepare(
        model, output, "saved_model", overwrite, input_shape, representative_data, sample_images)
    from keras_vit.registry import inference_form

    deployed = inference_form(model) if reparameterize else model
    with atomic_io.cleanup_on_terminate():
        with atomic_io.atomic_dir(output, replace_existing=os.path.lexists(output)) as tmp:
            write_saved_model(deployed, tmp, image_shape, batch_size)
    result = ExportResult(output, "saved_model", "none", _dir_size(output), (batch_size,) + image_shape,
                          "float32", "float32")
    run = saved_model_runner(output, batch_size) if verify else None
    return _verified(result, run, model, image_shape, "none", verify=verify, sample_images=sample_images,
                     representative_data=representative_data, labels=labels, num_verify=num_verify,
                     tolerance=tolerance)


def export_tflite(model, output, *, quantize="none", representative_data=None, input_dtype=None, output_dtype=None,
                  batch_size=1, float_ops=None, num_calibration=100, saved_model_dir=None, class_names=None,
                  reparameterize=True, overwrite=False, verify=True, sample_images=None, labels=None, num_verify=16,
                  input_shape=None, tolerance=FLOAT32_TOLERANCE, min_top1_agreement=None, num_threads=None):
    """Convert ``model`` to a `.tflite` file with builtin operators only, write its metadata and
    labels (what MediaPipe Tasks reads), report its operators, XNNPACK coverage and GPU-delegate
    compatibility, and check it against Keras with LiteRT. The arguments mean what they mean for
    :func:`export_model` (``format="tflite"``).

    Example:
        >>> export_tflite(model, "vit_dynamic.tflite", quantize="dynamic").passed
    """
    _validate_args("tflite", quantize, input_dtype, output_dtype, batch_size)
    if saved_model_dir is not None and not os.path.isfile(os.path.join(os.fspath(saved_model_dir), "saved_model.pb")):
        raise ValueError(f"saved_model_dir {os.fspath(saved_model_dir)!r} is not a SavedModel folder (no "
                         "saved_model.pb); write it with export_model(model, dir, format='saved_model').")
    float_ops = resolve_float_ops(float_ops, quantize)
    model, output, image_shape, representative_data, sample_images = _prepare(
        model, output, "tflite", overwrite, input_shape, representative_data, sample_images)
    from keras_vit.registry import inference_form

    deployed = inference_form(model) if reparameterize else model
    with atomic_io.cleanup_on_terminate():  # SIGTERM unwinds, so the finally blocks below clean up
        # The temporary SavedModel lives beside the output (not in $TMPDIR): a killed export's
        # leftover is then swept by the next export there (_prepare's sweep).
        made = atomic_io.make_parents(output)
        sm_dir = os.fspath(saved_model_dir) if saved_model_dir else atomic_io.tmp_sibling(output, tag="sm-")
        try:
            if not saved_model_dir:
                write_saved_model(deployed, sm_dir, image_shape, batch_size)
            # float_ops comes back with any INT8_UNSAFE_OPS (DIV) the model needed kept in float.
            tflite_bytes, float_ops = convert_tflite(
                sm_dir, image_shape, batch_size, quantize, representative_data, input_dtype,
                output_dtype, num_calibration, float_ops,
            )
            if not saved_model_dir:
                shutil.rmtree(sm_dir, ignore_errors=True)
            # Metadata and labels.txt: what MediaPipe Tasks needs (keras_vit.tflite.metadata).
            tflite_bytes = tflite_metadata.for_export(tflite_bytes, model, class_names)
            atomic_io.write_bytes(output, tflite_bytes)
        except BaseException:
            if not saved_model_dir:
                shutil.rmtree(sm_dir, ignore_errors=True)
            atomic_io.remove_made(made)  # a folder made for this output goes too
            raise
    runner = runtime.TFLiteRunner(output, num_threads=num_threads)
    report = runner.op_report()
    ops, _ = runtime.inspect_ops(output)
    result = ExportResult(
        output, "tflite", quantize, _dir_size(output), runner.input_shape, str(runner.input_dtype),
        str(runner.output_dtype), ops, report.outside, report.num_partitions, float_ops=float_ops,
        gpu_compatible=tflite_metadata.gpu_compatibility(output)[0],
    )
    return _verified(result, runner, model, image_shape, quantize, verify=verify, sample_images=sample_images,
                     representative_data=representative_data, labels=labels, num_verify=num_verify,
                     tolerance=tolerance, min_top1_agreement=min_top1_agreement)
