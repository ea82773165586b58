"""Choosing a ``tf.distribute`` strategy by name: one device, mirrored, multi-worker, TPU.

Create the strategy first thing in the program (``MultiWorkerMirroredStrategy`` must exist
before any other TensorFlow op runs), then build the model, optimizer and metrics inside
``strategy.scope()``. ``model.fit`` then splits each global batch across replicas.
"""
import json
import os

import tensorflow as tf

from .keras_fixes import apply_multi_worker_fix

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


def tf_config_from_workers(workers, worker_index):
    """The ``TF_CONFIG`` dict for a worker list (``["host:port", ...]``) and this worker."""
    workers = [w.strip() for w in (workers.split(",") if isinstance(workers, str) else workers)
               if w.strip()]
    if not workers:
        raise ValueError("--workers must list at least one host:port")
    for w in workers:
        host, _, port = w.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"Worker address {w!r} must look like host:port")
    if worker_index is None or not 0 <= int(worker_index) < len(workers):
        raise ValueError(f"--worker-index must be in [0, {len(workers)}), got {worker_index!r}")
    return {"cluster": {"worker": workers}, "task": {"type": "worker", "index": int(worker_index)}}


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None


def get_strategy(name="auto", *, workers=None, worker_index=None, tpu=None):
    """Create a ``tf.distribute`` strategy.

    Args:
        name: ``"one_device"`` (first GPU, else CPU), ``"mirrored"`` (all local GPUs, or the
            logical CPUs if there is no GPU), ``"multi_worker"`` (workers from ``TF_CONFIG``
            or ``workers``/``worker_index``), ``"tpu"`` (through a ``TPUClusterResolver``), or
            ``"auto"``: multi-worker if ``TF_CONFIG`` names several workers, a TPU if one is
            configured (``TPU_NAME``), mirrored over several GPUs, else one device.
        workers: ``"host:port,host:port"`` or a list; sets ``TF_CONFIG`` for this process.
        worker_index: this worker's index in ``workers``.
        tpu: TPU name or ``grpc://`` address for the cluster resolver (``""``: local TPU VM).

    Returns:
        A ``tf.distribute.Strategy``.

    Example:
        >>> strategy = get_strategy("mirrored")
        >>> with strategy.scope():
        ...     model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if workers:
        os.environ["TF_CONFIG"] = json.dumps(tf_config_from_workers(workers, worker_index))
        if name == "auto":
            name = "multi_worker"
    if name == "auto":
        cluster = _tf_config().get("cluster", {})
        if sum(len(v) for k, v in cluster.items() if k in ("worker", "chief")) > 1:
            name = "multi_worker"
        elif tpu is not None or os.environ.get("TPU_NAME"):
            name = "tpu"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if not _tf_config().get("cluster"):
            raise ValueError("multi_worker needs TF_CONFIG or --workers host:port,... with "
                             "--worker-index")
        apply_multi_worker_fix()
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=tpu if tpu is not None else os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def worker_info(strategy):
    """``(index, count, is_chief)`` of this process in a (possibly multi-worker) strategy.

    With only ``worker`` tasks, worker 0 is the chief; it alone writes the outputs.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver:
        task_type, task_id = resolver.task_type, resolver.task_id or 0
        count = sum(len(v) for k, v in resolver.cluster_spec().as_dict().items()
                    if k in ("worker", "chief"))
        if task_type is None:
            return 0, 1, True
        if "chief" in resolver.cluster_spec().as_dict():
            return task_id + (task_type == "worker"), count, task_type == "chief"
        return task_id, count, task_id == 0
    return 0, 1, True


def cpu_has_bf16(flags=None):
    """Whether this CPU has bfloat16 units (AMX or AVX512-BF16), from ``/proc/cpuinfo``.

    ``flags``: ``{name: bool}`` as :func:`keras_vit.utils.benchmark.cpu_flags` returns (default:
    this machine's).
    """
    if flags is None:
        from keras_vit.utils.benchmark import cpu_flags

        flags = cpu_flags()
    return bool(flags.get("AMX") or flags.get("AVX512-BF16"))


def default_mixed_precision_policy(strategy, cpu_flags=None):
    """The policy ``mixed_precision: "auto"`` picks: where the hardware has bfloat16 units,
    ``"mixed_bfloat16"`` (TPU, GPUs of compute capability >= 8.0, CPUs with AMX or AVX512-BF16);
    ``"mixed_float16"`` on GPUs with float16 tensor cores only (7.x); ``None`` (keep float32)
    elsewhere, e.g. on a CPU without bf16 units, where bfloat16 is emulated and slower.

    ``cpu_flags``: ``{name: bool}`` overriding this machine's CPU flags (tests).
    """
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        if capability and capability >= (8, 0):
            return "mixed_bfloat16"
        if capability and capability >= (7, 0):
            return "mixed_float16"
        return None
    if cpu_has_bf16(cpu_flags):
        return "mixed_bfloat16"
    return None
