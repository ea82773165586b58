"""Run and inspect `.tflite` files with the LiteRT interpreter (``ai_edge_litert``).

Three things a mobile developer needs to trust an exported file live here:

* :class:`TFLiteRunner` feeds raw RGB pixels to a model, whatever its input type
  (float32, or uint8/int8 from full-integer quantization), and returns float outputs.
* :func:`inspect_ops` lists the operators stored in the flatbuffer and flags any that are
  not TFLite builtins (Flex/``SELECT_TF_OPS`` or custom ops).
* :func:`delegate_coverage` tells which operators the XNNPACK delegate takes and which run
  on TFLite's own kernels. Method: the interpreter is built with the default resolver, which
  applies XNNPACK at ``allocate_tensors()``. Delegation appends one ``DELEGATE`` node per
  partition and keeps the replaced nodes in the node list, so a partition's members are
  found by walking back from each ``DELEGATE`` node's output tensors through their
  producers until reaching that node's input tensors. Nodes reached from no partition are the
  ones the interpreter executes itself. ``tests/tflite/test_runtime.py`` checks the method
  on single-op models with known XNNPACK support.
"""
import dataclasses
import os
import time

import numpy as np

__all__ = [
    "TFLiteRunner",
    "OpReport",
    "inspect_ops",
    "delegate_coverage",
    "evaluate_tflite",
]


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Running .tflite files needs the LiteRT interpreter: pip install ai-edge-litert "
            "(or pip install 'keras-vit[tflite]')."
        ) from e
    return interpreter


def _read_model_bytes(model):
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    with open(os.fspath(model), "rb") as f:
        return f.read()


def inspect_ops(model):
    """List the operators of a `.tflite` flatbuffer.

    Args:
        model: path to a `.tflite` file, or its bytes.

    Returns:
        ``(ops, non_builtin)``: ``ops`` maps each operator name (``"CONV_2D"``,
        ``"FlexErf"`` ...) to its count over all subgraphs; ``non_builtin`` lists the
        names of custom and Flex operators, which must be empty for a builtin-only model.

    Example:
        >>> ops, bad = inspect_ops("vit.tflite")
    """
    from ai_edge_litert import schema_py_generated as schema

    ops = {}
    non_builtin = set()
    for _, _, name, builtin in operators(model):
        ops[name] = ops.get(name, 0) + 1
        if builtin == schema.BuiltinOperator.CUSTOM:
            non_builtin.add(name)
    return dict(sorted(ops.items())), sorted(non_builtin)


def operators(model):
    """Yield ``(subgraph, operator, name, builtin_code)`` for every operator of a `.tflite`
    file (path or bytes), from its flatbuffer (``ai_edge_litert``'s schema objects)."""
    from ai_edge_litert import schema_py_generated as schema

    fb = schema.Model.GetRootAs(_read_model_bytes(model), 0)
    code_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names, builtins = [], []
    for i in range(fb.OperatorCodesLength()):
        code = fb.OperatorCodes(i)
        # Old files store small codes in the deprecated 8-bit field only.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            names.append(custom.decode() if custom else "CUSTOM")
        else:
            names.append(code_names.get(builtin, f"BUILTIN_{builtin}"))
        builtins.append(builtin)
    for s in range(fb.SubgraphsLength()):
        sub = fb.Subgraphs(s)
        for j in range(sub.OperatorsLength()):
            op = sub.Operators(j)
            yield sub, op, names[op.OpcodeIndex()], builtins[op.OpcodeIndex()]


@dataclasses.dataclass
class OpReport:
    """Which nodes of a model's main subgraph the XNNPACK delegate runs.

    Attributes:
        num_nodes: nodes in the converted graph (before delegation).
        num_partitions: XNNPACK partitions; more than one means the graph leaves and
            re-enters the delegate, which costs a copy each time.
        outside: ``{op_name: count}`` of nodes the interpreter runs itself.
        outside_nodes: ``(node_index, op_name)`` of those nodes, in graph order.
    """

    num_nodes: int
    num_partitions: int
    outside: dict
    outside_nodes: list

    @property
    def fully_delegated(self):
        return not self.outside_nodes

    def summary(self):
        if self.fully_delegated:
            return f"all {self.num_nodes} nodes on XNNPACK ({self.num_partitions} partition)"
        ops = ", ".join(f"{k} x{v}" for k, v in self.outside.items())
        return (
            f"{len(self.outside_nodes)}/{self.num_nodes} nodes outside XNNPACK "
            f"({self.num_partitions} partitions): {ops}"
        )


def delegate_coverage(interpreter):
    """Find the nodes that the default XNNPACK delegate did not take.

    Args:
        interpreter: an ``ai_edge_litert.interpreter.Interpreter`` created with the default
            op resolver and after ``allocate_tensors()`` (when XNNPACK is applied).

    Returns:
        An :class:`OpReport`. See the module docstring for the method.
    """
    nodes = interpreter._get_ops_details()  # the public API has no node list
    original = [n for n in nodes if n["op_name"] != "DELEGATE"]
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    producer = {}
    for n in original:
        for t in n["outputs"]:
            producer[int(t)] = n["index"]
    covered = set()
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        seen = set()
        while stack:
            t = stack.pop()
            # Constants and graph inputs have no producer; boundary tensors come from
            # outside this partition.
            if t in seen or t in boundary or t not in producer:
                continue
            seen.add(t)
            node = producer[t]
            covered.add(node)
            stack.extend(int(x) for x in nodes[node]["inputs"] if x >= 0)
    outside_nodes = [(n["index"], n["op_name"]) for n in original if n["index"] not in covered]
    outside = {}
    for _, name in outside_nodes:
        outside[name] = outside.get(name, 0) + 1
    return OpReport(len(original), len(delegates), dict(sorted(outside.items())), outside_nodes)


class TFLiteRunner:
    """Run a `.tflite` classifier on raw RGB pixels.

    The exported models keep preprocessing inside, so inputs are pixel values in [0, 255]
    with shape ``(H, W, 3)`` or ``(N, H, W, 3)``. Quantized inputs (uint8/int8) are
    quantized with the tensor's own scale and zero point (for our exports these are
    1 and 0/-128, so uint8 pixels go in unchanged); quantized outputs are dequantized.

    Args:
        model: path to a `.tflite` file, or its bytes.
        num_threads: interpreter threads (``None``: LiteRT's default).
        use_xnnpack: apply the default XNNPACK delegate (what apps get by default).

    Example:
        >>> runner = TFLiteRunner("vit.tflite")
        >>> logits = runner(images)  # (N, num_classes) float32
    """

    def __init__(self, model, num_threads=None, use_xnnpack=True):
        interpreter = _interpreter_module()
        resolver = (
            interpreter.OpResolverType.AUTO
            if use_xnnpack
            else interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        if isinstance(model, os.PathLike):
            model = os.fspath(model)
        kwargs = {"model_path": model} if isinstance(model, str) else {"model_content": bytes(model)}
        try:
            self.interpreter = interpreter.Interpreter(
                num_threads=num_threads, experimental_op_resolver_type=resolver, **kwargs
            )
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"Could not load the TFLite model {model if isinstance(model, str) else '<bytes>'}: {e}") from e
        self.use_xnnpack = use_xnnpack
        self._input = self.interpreter.get_input_details()[0]
        self._outputs = self.interpreter.get_output_details()

    @property
    def input_shape(self):
        """Full input shape including the batch dimension, e.g. ``(1, 224, 224, 3)``."""
        return tuple(int(d) for d in self._input["shape"])

    @property
    def input_dtype(self):
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self):
        return np.dtype(self._outputs[0]["dtype"])

    def op_report(self):
        """Delegate coverage of this interpreter, see :func:`delegate_coverage`."""
        if not self.use_xnnpack:
            raise ValueError("op_report() needs a runner created with use_xnnpack=True.")
        return delegate_coverage(self.interpreter)

    def _check_images(self, images):
        images = np.asarray(images)
        expected = self.input_shape[1:]
        if images.ndim == len(expected):
            images = images[None]
        if images.ndim != len(expected) + 1 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"Images of shape {tuple(images.shape)} do not fit this model, which takes "
                f"(N, {', '.join(map(str, expected))}) raw RGB pixels."
            )
        return images

    def _quantize(self, batch):
        dtype = self.input_dtype
        if dtype == np.float32:
            return batch.astype(np.float32)
        scale, zero_point = self._input["quantization"]
        if scale == 0:
            return batch.astype(dtype)
        info = np.iinfo(dtype)
        q = np.round(batch.astype(np.float32) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)

    def _dequantize(self, detail, value):
        scale, zero_point = detail["quantization"]
        if np.issubdtype(value.dtype, np.integer) and scale != 0:
            return (value.astype(np.float32) - zero_point) * scale
        return value.astype(np.float32)

    def invoke_batch(self, batch):
        """Run one batch whose size equals the model's batch size; returns the first output."""
        self.interpreter.set_tensor(self._input["index"], self._quantize(batch))
        self.interpreter.invoke()
        out = self._outputs[0]
        return self._dequantize(out, self.interpreter.get_tensor(out["index"]))

    def __call__(self, images):
        """Run on ``(N, H, W, 3)`` or ``(H, W, 3)`` pixels; returns float32 ``(N, ...)``."""
        images = self._check_images(images)
        batch = self.input_shape[0]
        outs = []
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            n = len(chunk)
            if n < batch:  # pad the last chunk; fixed-shape models take full batches only
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - n, axis=0)])
            outs.append(self.invoke_batch(chunk)[:n])
        return np.concatenate(outs, axis=0)

    def time_invoke(self, runs=50, warmup=5, images=None):
        """Time ``invoke()`` alone; returns latencies in milliseconds (numpy array)."""
        if images is None:
            rng = np.random.default_rng(0)
            images = rng.uniform(0, 255, self.input_shape).astype(np.float32)
        self.interpreter.set_tensor(self._input["index"], self._quantize(self._check_images(images)))
        for _ in range(warmup):
            self.interpreter.invoke()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.interpreter.invoke()
            times.append(time.perf_counter() - t0)
        return np.asarray(times) * 1e3


def invoker(path, threads=1, images=None):
    """A callable running one ``invoke()`` of a TFLite file on a fixed input, for timing
    (:func:`keras_vit.utils.benchmark.time_interleaved`). ``images`` default: seeded noise."""
    runner = TFLiteRunner(path, num_threads=threads)
    if images is None:
        images = np.random.default_rng(0).uniform(0, 255, runner.input_shape).astype(np.float32)
    runner.time_invoke(runs=1, warmup=1, images=images)  # sets the input tensor
    return runner.interpreter.invoke


def evaluate_tflite(path, images, labels, num_threads=None, top_k=5):
    """Accuracy of a `.tflite` classifier on labelled raw-pixel images.

    Args:
        path: `.tflite` file (or bytes).
        images: ``(N, H, W, 3)`` raw RGB pixels in [0, 255].
        labels: ``(N,)`` integer class ids.
        num_threads: interpreter threads.
        top_k: also report top-k accuracy (skipped when the model has fewer classes).

    Returns:
        ``dict(accuracy, top_k_accuracy, num_samples, predictions)``; ``predictions`` are the
        top-1 class ids.

    Example:
        >>> evaluate_tflite("vit_int8.tflite", x_test, y_test)["accuracy"]
    """
    labels = np.asarray(labels).reshape(-1)
    images = np.asarray(images)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels.")
    logits = TFLiteRunner(path, num_threads=num_threads)(images)
    logits = logits.reshape(len(images), -1)
    pred = logits.argmax(-1)
    result = {
        "accuracy": float((pred == labels).mean()) if len(labels) else float("nan"),
        "num_samples": int(len(labels)),
        "predictions": pred,
    }
    if logits.shape[-1] > top_k:
        top = np.argsort(-logits, axis=-1)[:, :top_k]
        result["top_k_accuracy"] = float((top == labels[:, None]).any(-1).mean())
        result["top_k"] = top_k
    return result
