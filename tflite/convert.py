"""SavedModel and TFLite conversion, builtin operators only.

TFLite files are converted from the same SavedModel serving signature that
``format="saved_model"`` writes, with a fixed input shape ``(batch_size, H, W, 3)``. Keras'
own ``model.export(format="litert")`` is not used because it may enable ``SELECT_TF_OPS``
silently. Conversion fails with the list of offending TensorFlow ops when the model needs
Flex/``SELECT_TF_OPS`` or custom ops.

Full-integer (int8) export can keep chosen operator types in float (``float_ops``): the
quantizer leaves them out and puts a DEQUANTIZE before and a QUANTIZE after each, so they run
on TFLite's and XNNPACK's float kernels while everything else stays int8.
"""
import re
import warnings

import numpy as np

from . import runtime

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

#: Operators an int8 export always keeps in float when the quantizer made them integer.
#: TFLite's int8 DIV stops the interpreter ("data[i] != zero_point") whenever a divisor rounds
#: to the zero point: T2T-ViT's performer attention divides by a normalizer whose small
#: values do, so its full-int8 file failed on ordinary images. XNNPACK has no int8 DIV either.
INT8_UNSAFE_OPS = ("DIV",)


class ConversionError(RuntimeError):
    """TFLite conversion failed, or would need non-builtin (Flex/custom) operators."""


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


def integer_ops(model):
    """Names of the operators of a `.tflite` file (path or bytes) that take int8/uint8 inputs."""
    from ai_edge_litert import schema_py_generated as schema

    integer = (schema.TensorType.INT8, schema.TensorType.UINT8)
    return {name for sub, op, name, _ in runtime.operators(model)
            if any(i >= 0 and sub.Tensors(i).Type() in integer
                   for i in (op.Inputs(k) for k in range(op.InputsLength())))}


def convert_saved_model(saved_model_dir, image_shape, batch_size, quantize, representative_data=None,
                        input_dtype=None, output_dtype=None, num_calibration=100, float_ops=()):
    """Convert a SavedModel to TFLite bytes with builtin ops only.

    ``float_ops`` (int8 only) are TFLite op names to keep in float, see :func:`resolve_float_ops`;
    ``INT8_UNSAFE_OPS`` are added to them when the quantizer made one of them integer
    (:func:`convert_tflite` says which).
    """
    return convert_tflite(saved_model_dir, image_shape, batch_size, quantize, representative_data,
                          input_dtype, output_dtype, num_calibration, float_ops)[0]


def convert_tflite(saved_model_dir, image_shape, batch_size, quantize, representative_data=None,
                   input_dtype=None, output_dtype=None, num_calibration=100, float_ops=()):
    """:func:`convert_saved_model`, returning ``(tflite_bytes, float_ops)``: the op types
    actually kept in float, which include any of ``INT8_UNSAFE_OPS`` the model has."""
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
            float_ops = tuple(float_ops or ())
            if quantize == "int8" and float_ops:
                tflite_bytes = _quantize_keeping_float_ops(converter, float_ops, input_dtype, output_dtype)
            else:
                tflite_bytes = converter.convert()
            unsafe = ()
            if quantize == "int8":
                integer = integer_ops(tflite_bytes)
                unsafe = tuple(op for op in INT8_UNSAFE_OPS if op in integer and op not in float_ops)
            if unsafe:
                float_ops = float_ops + unsafe
                tflite_bytes = _quantize_keeping_float_ops(converter, float_ops, input_dtype, output_dtype)
    except Exception as e:  # the converter raises several private error types
        raise _conversion_error(e) from None
    _, non_builtin = runtime.inspect_ops(tflite_bytes)
    if non_builtin:
        raise ConversionError(f"The converted model contains non-builtin ops: {', '.join(non_builtin)}.")
    return tflite_bytes, float_ops
