"""Training on the TensorFlow, JAX or PyTorch backend: choosing it, and scaling out on JAX.

Keras reads its backend once, when it is imported, so :func:`choose_backend` runs before
anything imports Keras (``keras-vit train --backend jax`` sets ``KERAS_BACKEND``, or starts
itself again with it when Keras is already loaded with another backend).

On TensorFlow the trainer uses ``tf.distribute`` (:mod:`keras_vit.training.distribute`). On JAX
it uses ``keras.distribution``: :func:`get_distribution` returns a :class:`KerasDistribution`,
``DataParallel`` over every device (all local devices; with ``--workers``, every process's
devices after ``keras.distribution.initialize``), with the few members of a
``tf.distribute.Strategy`` the trainer reads (``scope()``, ``num_replicas_in_sync``). On
PyTorch Keras has no distribution API: training runs on one device.

The input stays ``tf.data``; Keras hands its batches to JAX and PyTorch as NumPy arrays and,
under ``DataParallel``, splits each global batch across the devices (and, with several
processes, shards the dataset per process).
"""
import contextlib
import os
import subprocess
import sys

BACKENDS = ("tensorflow", "jax", "torch")


def choose_backend(backend, argv=None, module="keras_vit.training.cli"):
    """Make ``backend`` Keras' backend for this command; call it before Keras is imported.

    Returns ``None`` when this process can go on (``KERAS_BACKEND`` set, or Keras already runs
    on ``backend``), else the exit code of ``python -m module argv...`` run with
    ``KERAS_BACKEND=backend`` (Keras was already imported with another backend).
    """
    if backend is None:
        return None
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        return None
    import keras

    if keras.backend.backend() == backend:
        return None
    if argv is None:
        raise RuntimeError(f"Keras is already running on {keras.backend.backend()!r}; set "
                           f"KERAS_BACKEND={backend} before importing it")
    env = dict(os.environ, KERAS_BACKEND=backend)
    return subprocess.call([sys.executable, "-m", module, *argv], env=env)


class KerasDistribution:
    """A ``keras.distribution`` setup (or none: one device) seen through the members of a
    ``tf.distribute.Strategy`` that the trainer uses.

    Args:
        distribution: a ``keras.distribution.Distribution``, or ``None`` for the backend's
            default device.
    """

    def __init__(self, distribution=None):
        self.distribution = distribution

    def scope(self):
        """Where variables are created with the distribution's layouts (replicated for
        ``DataParallel``)."""
        return self.distribution.scope() if self.distribution is not None else contextlib.nullcontext()

    @property
    def num_replicas_in_sync(self):
        """Devices a global batch is split over."""
        if self.distribution is None:
            return 1
        return int(self.distribution.device_mesh.devices.size)

    @property
    def kind(self):
        """What ``metrics.json`` records as the strategy: ``"DataParallel"`` or ``"OneDevice"``."""
        return type(self.distribution).__name__ if self.distribution is not None else "OneDevice"

    @property
    def num_processes(self):
        return getattr(self.distribution, "num_processes", 1) if self.distribution is not None else 1

    def default_mixed_precision_policy(self):
        """What ``mixed_precision: "auto"`` picks on this backend's first device, with the rule of
        :func:`keras_vit.training.distribute.default_mixed_precision_policy`: bfloat16 on TPUs,
        GPUs of compute capability >= 8.0 and CPUs with bf16 units; float16 on 7.x GPUs."""
        import keras

        from .distribute import cpu_has_bf16

        capability = None
        if keras.backend.backend() == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform == "tpu":
                return "mixed_bfloat16"
            if device.platform == "gpu":
                capability = tuple(int(p) for p in str(getattr(device, "compute_capability", "0.0")).split(".")[:2])
        else:
            import torch

            if torch.cuda.is_available():
                capability = torch.cuda.get_device_capability(0)
        if capability is not None:
            return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16" if capability >= (7, 0) else None
        return "mixed_bfloat16" if cpu_has_bf16() else None

    def __repr__(self):
        return f"KerasDistribution({self.kind}, {self.num_replicas_in_sync} device(s))"


def get_distribution(name="auto", *, workers=None, worker_index=None, tpu=None):
    """The trainer's strategy on the current Keras backend.

    TensorFlow: :func:`keras_vit.training.distribute.get_strategy`. JAX: ``"one_device"`` runs on
    the first device; ``"auto"``, ``"mirrored"`` and ``"tpu"`` run ``DataParallel`` over all
    local devices (one device: no distribution); ``"multi_worker"`` or ``workers`` first call
    ``keras.distribution.initialize`` (``workers``: ``host:port`` of every process, the first is
    JAX's coordinator; ``worker_index``: this process's index; without them the
    ``KERAS_DISTRIBUTION_*`` environment variables, or the TPU environment) and then run
    ``DataParallel`` over every process's devices. PyTorch: one device.
    """
    import keras

    from .distribute import STRATEGIES, tf_config_from_workers

    backend = keras.backend.backend()
    if backend == "tensorflow":
        from .distribute import get_strategy

        return get_strategy(name, workers=workers, worker_index=worker_index, tpu=tpu)
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if backend == "torch":
        if name in ("mirrored", "multi_worker", "tpu") or workers:
            raise ValueError(f"strategy {name!r} needs the JAX or TensorFlow backend: Keras' "
                             "distribution API does not run on PyTorch (train on one device, "
                             "or use --backend jax)")
        return KerasDistribution(None)
    if backend != "jax":
        raise ValueError(f"Unsupported Keras backend {backend!r}")
    if workers or name == "multi_worker":
        if workers:
            cluster = tf_config_from_workers(workers, worker_index)["cluster"]["worker"]
            keras.distribution.initialize(",".join(cluster), len(cluster), int(worker_index))
        else:
            keras.distribution.initialize()
    devices = keras.distribution.list_devices()
    if name == "one_device":
        devices = devices[:1]
    if len(devices) == 1 and name != "multi_worker" and not workers:
        return KerasDistribution(None)
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    return KerasDistribution(distribution)


def worker_info(strategy):
    """``(index, count, is_chief)`` of this process; process 0 is the chief on JAX."""
    if isinstance(strategy, KerasDistribution):
        import keras

        if keras.backend.backend() == "jax" and strategy.distribution is not None:
            import jax

            return jax.process_index(), jax.process_count(), jax.process_index() == 0
        return 0, 1, True
    from .distribute import worker_info as tf_worker_info

    return tf_worker_info(strategy)


def export_and_compare(model, output_dir, images, labels, **kwargs):
    """:func:`keras_vit.training.export.export_and_compare` on any backend.

    TFLite conversion needs TensorFlow graphs: on JAX and PyTorch the export runs in a child
    process on the TensorFlow backend, from ``output_dir/model.keras`` (written by the trainer
    just before), with the same images, labels and options. Returns the same rows.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        from .export import export_and_compare as export

        return export(model, output_dir, images, labels, **kwargs)
    import json
    import tempfile

    import numpy as np

    model_path = os.path.join(output_dir, "model.keras")
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"{model_path} must be saved before the export on {keras.backend.backend()}")
    rep = kwargs.pop("representative_images", None)
    with tempfile.TemporaryDirectory(prefix="keras_vit_export_") as tmp:
        arrays = {"images": np.asarray(images, "float32"), "labels": np.asarray(labels)}
        if rep is not None:
            arrays["representative_images"] = np.asarray(rep, "float32")
        np.savez(os.path.join(tmp, "data.npz"), **arrays)
        with open(os.path.join(tmp, "options.json"), "w", encoding="utf-8") as f:
            json.dump({k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}, f)
        code = subprocess.call([sys.executable, "-m", __name__, "export", output_dir, tmp],
                               env=dict(os.environ, KERAS_BACKEND="tensorflow"))
        rows = os.path.join(tmp, "rows.json")
        if code != 0 or not os.path.exists(rows):
            raise RuntimeError(f"the export on the TensorFlow backend failed (exit code {code}); "
                               f"model.keras is in {output_dir}: run keras-vit export on it")
        with open(rows, encoding="utf-8") as f:
            return json.load(f)


def _export_main(output_dir, tmp):
    """Child side of :func:`export_and_compare`: TensorFlow backend, model from ``model.keras``."""
    import json

    import keras
    import numpy as np

    import keras_vit.models  # noqa: F401  (registers the layers)

    from .export import export_and_compare as export

    assert keras.backend.backend() == "tensorflow", keras.backend.backend()
    data = np.load(os.path.join(tmp, "data.npz"))
    with open(os.path.join(tmp, "options.json"), encoding="utf-8") as f:
        options = json.load(f)
    model = keras.saving.load_model(os.path.join(output_dir, "model.keras"))
    rows = export(model, output_dir, data["images"], data["labels"],
                  representative_images=data["representative_images"] if "representative_images" in data else None,
                  **options)
    with open(os.path.join(tmp, "rows.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, default=float)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "export":
        _export_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"usage: python -m {__spec__.name if __spec__ else 'keras_vit.training.backend'} export OUTPUT_DIR TMP_DIR")
