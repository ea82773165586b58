"""The one benchmark harness: run stamp, interleaved timing, peers and result files.

Every benchmark (the scripts in ``benchmarks/`` and ``keras-vit benchmark``) uses these
pieces instead of its own copy:

- :func:`run_stamp`: when and where a run happened (date, CPU model and the flags that decide
  speed here: AMX, AVX512-BF16, VNNI; core count, load average) and the library versions.
- :func:`time_interleaved`: times several callables on a shared machine. Load comes in bursts
  longer than one call, so every round calls each candidate in turn, starting from another
  one each round, and the result is one median per round: read ratios within a run.
- :func:`import_kecam`, :func:`kecam_model`, :func:`keras_hub_model`: the Keras peers, fed raw
  RGB pixels in [0, 255] as our models are.
- :func:`markdown_table` and :func:`write_result`: a result file under ``docs/benchmarks/``,
  written atomically, starting with its run stamp. Nobody edits those files by hand.

Only the standard library and numpy are imported here; TensorFlow, Keras and the peers are
imported by the functions that need them.

Example:
    >>> from keras_vit.utils import benchmark
    >>> rounds = benchmark.time_interleaved({"a": f, "b": g}, rounds=5, calls=10)
    >>> benchmark.summarize(rounds["a"])  # (median, min, max) over rounds, seconds
"""
import datetime
import importlib.metadata
import os
import platform
import statistics
import sys
import time

from .io import atomic_write

#: CPU flags (``/proc/cpuinfo`` names) that change which kernels run, and so the speed.
CPU_FLAGS = {"AMX": "amx_bf16", "AVX512-BF16": "avx512_bf16", "AVX512-VNNI": "avx512_vnni",
             "AVX-VNNI": "avx_vnni", "AVX512F": "avx512f", "AVX2": "avx2"}
#: Distributions named in every run stamp when installed.
DEFAULT_DISTRIBUTIONS = ("tensorflow", "keras", "ai-edge-litert", "numpy", "torch", "timm", "jax",
                         "keras-cv-attention-models", "keras-hub", "litert-torch")


def _cpuinfo():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo``, else :func:`platform.processor`)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags():
    """``{name: bool}`` for :data:`CPU_FLAGS`: which of those instruction sets this CPU has."""
    flags = set()
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return {name: flag in flags for name, flag in CPU_FLAGS.items()}


def versions(distributions=DEFAULT_DISTRIBUTIONS):
    """``["name version", ...]`` of the installed distributions among ``distributions``."""
    found = [f"Python {platform.python_version()}"]
    for dist in distributions:
        try:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def run_stamp(script, distributions=DEFAULT_DISTRIBUTIONS):
    """One line saying when, where and with what a benchmark ran.

    Example:
        >>> run_stamp("benchmarks/perf.py")  # 'Run: 2026-12-04 21:05 UTC, benchmarks/perf.py, ...'
    """
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    flags = cpu_flags()
    has = ", ".join(f"{name} {'yes' if present else 'no'}" for name, present in flags.items()
                    if name in ("AMX", "AVX512-BF16", "AVX512-VNNI", "AVX-VNNI"))
    try:
        load = f"load average {os.getloadavg()[0]:.1f}"
    except OSError:
        load = "load average unknown"
    return (f"Run: {now}, `{script}`, {cpu_model()} ({has}), {os.cpu_count()} CPUs, {load}; "
            + ", ".join(versions(distributions)))


def time_interleaved(fns, rounds=5, calls=10, warmup=2, per_call=True, reduce=statistics.median):
    """Time callables side by side; returns ``{label: [seconds per call, one value per round]}``.

    Args:
        fns: ``{label: callable}``; each call is one unit of work (an invoke, a batch, a step).
        rounds: rounds; each gives one value per label (the median of its calls).
        calls: calls of each callable per round.
        warmup: untimed calls of each callable before the first round.
        per_call: ``True`` alternates call by call (a, b, a, b, ...): every candidate under the
            same load. ``False`` times ``calls`` calls of one candidate in a block, for work
            that must not be interleaved (e.g. training steps that share a thread pool badly).
        reduce: how a round's per-call seconds become its value (``None``: the list itself).

    The first candidate of each round rotates, so that no candidate always runs first.
    """
    if rounds < 1 or calls < 1:
        raise ValueError(f"rounds and calls must be at least 1, got rounds={rounds}, calls={calls}.")
    labels = list(fns)
    for label in labels:
        for _ in range(warmup):
            fns[label]()
    result = {label: [] for label in labels}
    for i in range(rounds):
        shift = i % len(labels)
        order = labels[shift:] + labels[:shift]
        samples = {label: [] for label in labels}
        if per_call:
            for _ in range(calls):
                for label in order:
                    t0 = time.perf_counter()
                    fns[label]()
                    samples[label].append(time.perf_counter() - t0)
        else:
            for label in order:
                t0 = time.perf_counter()
                for _ in range(calls):
                    fns[label]()
                samples[label].append((time.perf_counter() - t0) / calls)
        for label in labels:
            result[label].append(samples[label] if reduce is None else reduce(samples[label]))
    return result


def summarize(values):
    """``(median, min, max)`` of per-round values."""
    return statistics.median(values), min(values), max(values)


# ----------------------------------------------------------------------------- peers

#: Peer name -> (module to import, pip requirement, what it is).
PEERS = {
    "kecam": ("keras_cv_attention_models", "keras-cv-attention-models",
              "keras-cv-attention-models on its Keras 3 backend (KECAM_BACKEND=keras_core)"),
    "keras-hub": ("keras_hub", "keras-hub", "keras-hub"),
}


def peer_available(peer):
    """``None`` if the peer is installed, else a note saying how to install it."""
    import importlib.util

    module, requirement, what = PEERS[peer]
    if importlib.util.find_spec(module) is None:
        return f"{peer} ({what}): not installed; pip install {requirement} to compare with it"
    return None


def import_kecam():
    """keras-cv-attention-models on its Keras 3 backend.

    kecam reads ``KECAM_BACKEND`` once, at its first import, and its default TensorFlow
    backend fails under Keras 3: the variable (and ``keras`` standing in for ``keras_core``)
    must be set before that.
    """
    import keras

    os.environ["KECAM_BACKEND"] = "keras_core"
    sys.modules.setdefault("keras_core", keras)
    import keras_cv_attention_models

    return keras_cv_attention_models


def _raw_pixels(inner, image_shape, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
    """``inner`` behind a Rescaling that maps raw [0, 255] pixels to ``(x/255 - mean) / std``."""
    import keras

    inputs = keras.Input(image_shape)
    scale = [1.0 / (255.0 * s) for s in std]
    offset = [-m / s for m, s in zip(mean, std)]
    return keras.Model(inputs, inner(keras.layers.Rescaling(scale, offset=offset)(inputs)))


#: Our name -> (kecam module, constructor, extra keywords) of the same architecture.
KECAM_MODELS = {
    "mobilevit_xxs": ("mobilevit", "MobileViT_XXS", {}),
    "mobilevit_xs": ("mobilevit", "MobileViT_XS", {}),
    "mobilevit_s": ("mobilevit", "MobileViT_S", {}),
    "mobilevitv2_050": ("mobilevit", "MobileViT_V2_050", {}),
    "mobilevitv2_100": ("mobilevit", "MobileViT_V2_100", {}),
    "pvt_v2_b0": ("pvt", "PVT_V2B0", {}),
    "pvt_v2_b1": ("pvt", "PVT_V2B1", {}),
    "efficientvit_b0": ("efficientvit_b", "EfficientViT_B0", {}),
    "efficientvit_b1": ("efficientvit_b", "EfficientViT_B1", {}),
    # The reparameterized (deploy) form, as ours exports.
    "fastvit_t8": ("fastvit", "FastViT_T8", {"deploy": True}),
    "fastvit_t12": ("fastvit", "FastViT_T12", {"deploy": True}),
    "fastvit_sa12": ("fastvit", "FastViT_SA12", {"deploy": True}),
}


def kecam_model(name, size, num_classes=1000, config=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
    """kecam's model of the same architecture as our ``name``, taking raw pixels.

    ``config`` (a ViT's ``depth``, ``embed_dim``, ``num_heads``, ``patch_size``, ``mlp_ratio``)
    builds a ViT of any size; otherwise ``name`` picks one of the models kecam has.
    Raises ImportError when kecam has no such model or is not installed.
    """
    import_kecam()
    shape = (size, size, 3)
    common = dict(input_shape=shape, num_classes=num_classes, classifier_activation=None, pretrained=None)
    if config is not None or name in ("vit_tiny_patch16_224", "deit_tiny_patch16_224"):
        from keras_cv_attention_models import beit

        config = config or dict(depth=12, embed_dim=192, num_heads=3, patch_size=16)
        inner = beit.ViT(depth=config["depth"], embed_dim=config["embed_dim"], num_heads=config["num_heads"],
                         patch_size=config["patch_size"], mlp_ratio=config.get("mlp_ratio", 4), **common)
    elif name in KECAM_MODELS:
        module_name, constructor, extra = KECAM_MODELS[name]
        # Some kecam "modules" (efficientvit_b) are attributes of the package, not importable paths.
        module = getattr(import_kecam(), module_name, None) or importlib.import_module(
            f"keras_cv_attention_models.{module_name}")
        inner = getattr(module, constructor)(**common, **extra)
    else:
        raise ImportError(f"no kecam peer for {name}")
    return _raw_pixels(inner, shape, mean, std)


def keras_hub_model(name, size, num_classes=1000):
    """keras-hub's model of the same architecture (ViT-Ti/16 only), taking raw pixels."""
    import keras
    import keras_hub

    if name != "vit_tiny_patch16_224":
        raise ImportError(f"no keras-hub peer for {name}")
    backbone = keras_hub.models.ViTBackbone(image_shape=(size, size, 3), patch_size=16, num_layers=12, num_heads=3,
                                            hidden_dim=192, mlp_dim=768)
    inputs = keras.Input((size, size, 3))
    x = backbone(keras.layers.Rescaling(2 / 255.0, offset=-1.0)(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x[:, 0]))


# ----------------------------------------------------------------------------- result files

#: Where result files go: ``docs/benchmarks/`` of the repository this module runs from.
RESULTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "docs", "benchmarks")


def markdown_table(header, rows):
    """A Markdown table from a header and rows of cells (converted with ``str``)."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_result(name, title, stamp, body, folder=None):
    """Write ``docs/benchmarks/<name>.md`` (atomically): title, run stamp, then ``body``.

    Returns the path. ``folder`` overrides the destination (tests, or a run elsewhere).
    """
    folder = folder or RESULTS_DIR
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.md")
    with atomic_write(path) as f:
        f.write(f"# {title}\n\n{stamp}\n\n{body.strip()}\n")
    return path
