"""Export a Keras classifier for mobile: SavedModel, `.keras` and TFLite, then verify it.

Every export is written to a temporary file or folder beside ``output`` and moved into place
with ``os.replace`` only after conversion succeeded, so a failure never leaves a partial
file. TFLite conversion uses builtin operators only (no Flex/``SELECT_TF_OPS``, no custom
ops) and fails with the list of offending TensorFlow ops otherwise.

TFLite files are converted from the same SavedModel serving signature that
``format="saved_model"`` writes, with a fixed input shape ``(batch_size, H, W, 3)``. Keras'
own ``model.export(format="litert")`` is not used because it may enable ``SELECT_TF_OPS``
silently.

Full-integer (int8) export can keep chosen operator types in float (``float_ops``): the
quantizer leaves them out and puts a DEQUANTIZE before and a QUANTIZE after each, so they run
on TFLite's and XNNPACK's float kernels while everything else stays int8.
"""
import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
import warnings

import numpy as np

from . import data as data_lib
from . import runtime

FORMATS = ("saved_model", "keras", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
IO_DTYPES = (None, "float32", "uint8", "int8")

#: Default parity thresholds: float32 uses ``max|diff| / logit range``; the quantized
#: formats use top-1 agreement with the Keras model on the verification images.
FLOAT32_TOLERANCE = 1e-4
MIN_TOP1_AGREEMENT = {"float16": 0.99, "dynamic": 0.9, "int8": 0.8}

#: Operators a full-int8 transformer is better off running in float (``float_ops="transformer"``).
#: On MobileViT-XXS at 256x256 (one CPU thread) this took int8 latency from 3.3x float32's to
#: 0.7x, with outputs as close to Keras or slightly closer. The op names are TFLite's.
TRANSFORMER_FLOAT_OPS = (
    # LayerNorm has no TFLite builtin; it lowers to MEAN (mean and variance),
    # SQUARED_DIFFERENCE and RSQRT. The variance of small activations and 1/sqrt over a wide
    # range lose much of their precision in int8, and XNNPACK has no int8 SQUARED_DIFFERENCE or
    # RSQRT, so every LayerNorm also leaves the delegate and comes back.
    "MEAN",
    "SQUARED_DIFFERENCE",
    "RSQRT",
    # Attention: int8 SOFTMAX has a fixed output scale of 1/256, so small attention weights
    # round to zero, and q @ k^T / attn @ v multiply two quantized activations.
    # XNNPACK has no int8 kernel for either, so each one splits the delegated graph.
    "SOFTMAX",
    "BATCH_MATMUL",
)
FLOAT_OPS_PRESETS = {"transformer": TRANSFORMER_FLOAT_OPS}

__all__ = [
    "export_model",
    "ExportResult",
    "Verification",
    "ConversionError",
    "load_keras_model",
    "resolve_float_ops",
    "TRANSFORMER_FLOAT_OPS",
]


class ConversionError(RuntimeError):
    """TFLite conversion failed, or would need non-builtin (Flex/custom) operators."""


@dataclasses.dataclass
class Verification:
    """Result of running the exported file against the Keras model.

    Attributes:
        passed: whether the metric met its threshold.
        metric: ``"max_abs_diff/range"`` (float32) or ``"top1_agreement"``.
        value: the measured value of ``metric``.
        threshold: the bound it was held to.
        max_abs_diff: largest absolute output difference.
        logit_range: ``max - min`` of the Keras outputs.
        top1_agreement: fraction of samples whose argmax matches Keras.
        num_samples: verification images used.
        accuracy / keras_accuracy: accuracy of the export and of Keras when labels exist.
    """

    passed: bool
    metric: str
    value: float
    threshold: float
    max_abs_diff: float
    logit_range: float
    top1_agreement: float
    num_samples: int
    accuracy: float = None
    keras_accuracy: float = None

    def summary(self):
        cmp = "<=" if self.metric.startswith("max_abs") else ">="
        text = (
            f"{'PASSED' if self.passed else 'FAILED'}: {self.metric} = {self.value:.3g} "
            f"({cmp} {self.threshold:g} required) on {self.num_samples} samples; "
            f"max|diff| {self.max_abs_diff:.3g}, top-1 agreement {self.top1_agreement:.3f}"
        )
        if self.accuracy is not None:
            text += f"; accuracy {self.accuracy:.4f} (Keras {self.keras_accuracy:.4f})"
        return text


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
        if self.verification is not None:
            lines.append("Verification " + self.verification.summary())
        return "\n".join(lines)


def load_keras_model(path):
    """Load a `.keras` file, with keras_vit's layers registered when the package exists."""
    import keras

    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path}")
    with contextlib.suppress(ImportError):
        import keras_vit  # noqa: F401  (registers serializable layers)
    try:
        return keras.saving.load_model(path, compile=False)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"Cannot load {path}: {str(e).splitlines()[0][:300]} (custom layers must be registered "
            "with keras.saving.register_keras_serializable and imported)."
        ) from None


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


def _builtin_op_names():
    from ai_edge_litert import schema_py_generated as schema

    return {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}


def resolve_float_ops(float_ops, quantize="int8"):
    """The TFLite op names that ``float_ops`` stands for, as a tuple (empty: full integer).

    Args:
        float_ops: ``None``, a preset name from ``FLOAT_OPS_PRESETS`` (``"transformer"``) or
            a list of TFLite builtin op names (case-insensitive), e.g. ``["SOFTMAX"]``.
        quantize: the export's quantization; ``float_ops`` applies to ``"int8"`` only.

    Raises:
        ValueError: ``float_ops`` with another quantization, an unknown preset or op name.
    """
    if float_ops is None:
        return ()
    if quantize != "int8":
        raise ValueError(
            f"float_ops applies to quantize='int8' only (got quantize={quantize!r}): the other modes "
            "already compute in float."
        )
    if isinstance(float_ops, str):
        if float_ops not in FLOAT_OPS_PRESETS:
            raise ValueError(
                f"Unknown float_ops preset {float_ops!r}; choose {', '.join(FLOAT_OPS_PRESETS)} or pass a "
                "list of TFLite op names such as ['SOFTMAX', 'BATCH_MATMUL']."
            )
        return FLOAT_OPS_PRESETS[float_ops]
    if not all(isinstance(name, str) for name in float_ops):
        raise ValueError(f"float_ops must be a preset name or a list of TFLite op names, got {float_ops!r}.")
    names = tuple(dict.fromkeys(name.strip().upper() for name in float_ops))
    allowed = _builtin_op_names() - {"CUSTOM", "QUANTIZE", "DEQUANTIZE"}
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValueError(
            f"Unknown TFLite op name(s) in float_ops: {', '.join(unknown)}. Use builtin operator names as "
            "inspect_ops() or ExportResult.ops list them, e.g. SOFTMAX, BATCH_MATMUL, MEAN."
        )
    return names


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


def _tmp_sibling(output, suffix=""):
    """A temporary path in the output's folder, so ``os.replace`` stays on one filesystem."""
    folder = os.path.dirname(os.path.abspath(output)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(output) + "-", suffix=suffix, dir=folder)
    os.close(fd)
    os.remove(tmp)
    return tmp


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def _replace(tmp, output):
    """Move ``tmp`` to ``output``; an existing folder (SavedModel) is swapped out first."""
    if os.path.isdir(output) and not os.path.islink(output):
        old = _tmp_sibling(output, ".old")
        os.replace(output, old)
        os.replace(tmp, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, output)


def write_saved_model(model, path, image_shape, batch_size=1, input_dtype="float32"):
    """Write a SavedModel whose ``serving_default`` signature takes raw pixels.

    The signature input is ``images``: ``(batch_size, H, W, 3)`` in [0, 255]; the output
    is ``predictions`` (the model's first output).
    """
    import keras
    import tensorflow as tf

    spec = tf.TensorSpec((batch_size,) + tuple(image_shape), tf.as_dtype(input_dtype), name="images")

    def serve(images):
        outputs = model(tf.cast(images, tf.float32), training=False)
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        return {"predictions": outputs}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[spec])
    archive.write_out(path, verbose=False)


_FLEX_RE = re.compile(r"(?:TF Select ops|Flex ops|custom ops?)\s*:\s*([^\n]+)", re.IGNORECASE)


def _conversion_error(error):
    """Condense a converter error into the ops it could not express as builtins."""
    text = str(error)
    found = sorted({op.strip() for m in _FLEX_RE.findall(text) for op in m.split(",") if op.strip()})
    if found or "ERROR_NEEDS_FLEX_OPS" in text or "ERROR_NEEDS_CUSTOM_OPS" in text:
        return ConversionError(
            "The model needs TensorFlow ops that have no TFLite builtin: "
            f"{', '.join(found) or '(see converter log)'}. Flex/SELECT_TF_OPS and custom ops are "
            "not allowed; rewrite the layer that uses them with builtin-friendly keras.ops."
        )
    lines = [l for l in text.splitlines() if "error" in l.lower()][:5]
    return ConversionError("TFLite conversion failed: " + (" | ".join(lines) or text[:2000]))


def _range_anchor(image_shape):
    """One calibration image spanning exactly [0, 255].

    Calibration sets the input tensor's range from the data. Including this image fixes it
    to [0, 255], so a uint8 input gets scale 1 and zero point 0 (int8: -128) and the app
    can feed raw pixel bytes without any arithmetic.
    """
    n = int(np.prod(image_shape))
    return np.linspace(0, 255, n, dtype=np.float32).reshape(image_shape)


def _quantize_keeping_float_ops(converter, float_ops, input_dtype, output_dtype):
    """Full-integer conversion with the ``float_ops`` op types left in float.

    TFLiteConverter has no public option for this; TF's quantization debugger has
    (``denylisted_ops``). It calibrates with the converter's representative dataset and runs
    the same MLIR quantizer as ``converter.convert()`` with those ops left out. That quantizer
    call ignores ``inference_input_type``/``inference_output_type`` and returns float input
    and output, so these are set afterwards with the helper ``convert()`` itself uses for
    them, which yields the same input/output scale and zero point as the plain int8 path.
    """
    import tensorflow as tf
    from tensorflow.lite.python.util import modify_model_io_type

    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(float_ops))
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_options=options)
    quantized = debugger.get_nondebug_quantized_model()
    return modify_model_io_type(quantized, tf.as_dtype(input_dtype or "float32"), tf.as_dtype(output_dtype or "float32"))


def convert_saved_model(saved_model_dir, image_shape, batch_size, quantize, representative_data=None,
                        input_dtype=None, output_dtype=None, num_calibration=100, float_ops=()):
    """Convert a SavedModel to TFLite bytes with builtin ops only.

    ``float_ops`` (int8 only) are TFLite op names to keep in float, see :func:`resolve_float_ops`.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        if representative_data is None:
            raise ValueError("quantize='int8' needs representative_data (raw-pixel images from the training data).")
        samples = np.asarray(representative_data, dtype=np.float32)[:num_calibration]
        samples = np.concatenate([_range_anchor(image_shape)[None], samples])

        def representative_dataset():
            for start in range(0, len(samples) - batch_size + 1, batch_size):
                yield [samples[start : start + batch_size]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if input_dtype in ("uint8", "int8"):
            converter.inference_input_type = tf.as_dtype(input_dtype)
        if output_dtype in ("uint8", "int8"):
            converter.inference_output_type = tf.as_dtype(output_dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if quantize == "int8" and float_ops:
                tflite_bytes = _quantize_keeping_float_ops(converter, float_ops, input_dtype, output_dtype)
            else:
                tflite_bytes = converter.convert()
    except Exception as e:  # the converter raises several private error types
        raise _conversion_error(e) from None
    _, non_builtin = runtime.inspect_ops(tflite_bytes)
    if non_builtin:
        raise ConversionError(f"The converted model contains non-builtin ops: {', '.join(non_builtin)}.")
    return tflite_bytes


def _verification_images(model_image_shape, sample_images, representative_data, num_samples, seed=0):
    if sample_images is not None:  # given explicitly: use them all (labels match them)
        return sample_images
    if representative_data is not None:
        # Samples the calibration did not see when there are enough of them.
        data = representative_data
        return data[-num_samples:] if len(data) > num_samples else data
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (num_samples,) + tuple(model_image_shape)).astype(np.float32)


def _compare(reference, candidate, quantize, labels, tolerance, min_agreement):
    reference = reference.reshape(len(reference), -1).astype(np.float64)
    candidate = candidate.reshape(len(candidate), -1).astype(np.float64)
    max_abs = float(np.abs(reference - candidate).max())
    logit_range = float(reference.max() - reference.min()) or 1.0
    agreement = float((reference.argmax(-1) == candidate.argmax(-1)).mean())
    if quantize == "none":
        metric, value, threshold = "max_abs_diff/range", max_abs / logit_range, tolerance
        passed = value <= threshold
    else:
        metric, value = "top1_agreement", agreement
        threshold = min_agreement if min_agreement is not None else MIN_TOP1_AGREEMENT[quantize]
        passed = value >= threshold
    result = Verification(passed, metric, value, threshold, max_abs, logit_range, agreement, len(reference))
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)[: len(reference)]
        result.accuracy = float((candidate.argmax(-1) == labels).mean())
        result.keras_accuracy = float((reference.argmax(-1) == labels).mean())
    return result


def _keras_predict(model, images, batch_size=32):
    outs = []
    for start in range(0, len(images), batch_size):
        out = model(images[start : start + batch_size], training=False)
        if isinstance(out, (list, tuple)):
            out = out[0]
        outs.append(np.asarray(out))
    return np.concatenate(outs)


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
):
    """Export a Keras image classifier for mobile and check the result against Keras.

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

    Returns:
        An :class:`ExportResult`. The file is kept when verification fails; check
        ``result.passed``.

    Raises:
        ValueError: bad arguments or data. ConversionError: conversion failed or needed
        non-builtin ops (nothing is written then).

    Example:
        >>> result = export_model(model, "vit_int8.tflite", quantize="int8",
        ...                       representative_data=x_train[:200], input_dtype="uint8")
        >>> print(result.summary())
        >>> export_model(model, "vit_mixed.tflite", quantize="int8", float_ops="transformer",
        ...              representative_data=x_train[:200], input_dtype="uint8")
    """
    _validate_args(format, quantize, input_dtype, output_dtype, batch_size)
    float_ops = resolve_float_ops(float_ops, quantize)
    if isinstance(model, (str, os.PathLike)):
        model = load_keras_model(os.fspath(model))
    image_shape = _model_image_shape(model, input_shape)
    if representative_data is not None:
        representative_data = data_lib.check_images(representative_data, image_shape, "representative_data")
    if sample_images is not None:
        sample_images = data_lib.check_images(sample_images, image_shape, "sample_images")
    output = os.fspath(output)

    if format == "keras":
        if not output.endswith(".keras"):
            raise ValueError(f"A .keras export needs a path ending in .keras, got {output!r}.")
        tmp = _tmp_sibling(output, ".keras")
        try:
            model.save(tmp)
            exported = load_keras_model(tmp) if verify else None
            _replace(tmp, output)
        finally:
            _remove(tmp)
        result = ExportResult(output, "keras", "none", _dir_size(output), (None,) + image_shape,
                              "float32", "float32")
        run = (lambda x: _keras_predict(exported, x)) if verify else None
    elif format == "saved_model":
        tmp = _tmp_sibling(output)
        try:
            write_saved_model(model, tmp, image_shape, batch_size)
            _replace(tmp, output)
        finally:
            _remove(tmp)
        result = ExportResult(output, "saved_model", "none", _dir_size(output), (batch_size,) + image_shape,
                              "float32", "float32")
        run = _saved_model_runner(output, batch_size) if verify else None
    else:
        sm_dir = tempfile.mkdtemp(prefix="keras_vit_export_")
        tmp = _tmp_sibling(output, ".tflite")
        try:
            write_saved_model(model, sm_dir, image_shape, batch_size)
            tflite_bytes = convert_saved_model(
                sm_dir, image_shape, batch_size, quantize, representative_data, input_dtype,
                output_dtype, num_calibration, float_ops,
            )
            with open(tmp, "wb") as f:
                f.write(tflite_bytes)
            _replace(tmp, output)
        finally:
            shutil.rmtree(sm_dir, ignore_errors=True)
            _remove(tmp)
        runner = runtime.TFLiteRunner(output, num_threads=num_threads)
        report = runner.op_report()
        ops, _ = runtime.inspect_ops(output)
        result = ExportResult(
            output, "tflite", quantize, _dir_size(output), runner.input_shape, str(runner.input_dtype),
            str(runner.output_dtype), ops, report.outside, report.num_partitions, float_ops=float_ops,
        )
        run = runner

    if verify:
        images = _verification_images(image_shape, sample_images, representative_data, num_verify)
        reference = _keras_predict(model, images)
        candidate = run(images)
        result.verification = _compare(reference, candidate, quantize, labels if sample_images is not None else None,
                                       tolerance, min_top1_agreement)
    return result


def _saved_model_runner(path, batch_size):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    fn = loaded.signatures["serving_default"]

    def run(images):
        outs = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            n = len(chunk)
            if n < batch_size:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
            outs.append(fn(images=tf.constant(chunk))["predictions"].numpy()[:n])
        return np.concatenate(outs)

    return run
