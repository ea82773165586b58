"""Export presets: export several candidates, measure them, keep the best one.

``preset="mobile"`` (``keras-vit export MODEL --preset mobile --data ...``) answers "which
TFLite file should ship to a phone's CPU" by measurement, not by rule of thumb. It exports
the candidates of :data:`MOBILE_CANDIDATES` (float32, float16 weights, dynamic-range int8,
full int8, int8 with LayerNorm and attention in float, the same with GELU in float too), then

* measures each one's accuracy on held-out labelled images (the export's own verification
  run, so the numbers are those of the shipped file), and
* times them all in one process: every interpreter is loaded at once (1 thread, the default
  XNNPACK delegate, what an app gets by default) and invoked in turn, in a rotating order,
  for several rounds, so load from other processes hits every candidate alike,

and keeps the fastest candidate whose accuracy is within ``max_accuracy_drop`` (0.5 points)
of float32's (:func:`choose`). Which one wins depends on the family and the CPU: on x86 with
XNNPACK, dynamic-range int8 usually wins for plain ViTs (its int8 GEMMs quantize activations
on the fly inside the delegate), while full int8 loses to float32 because LayerNorm, softmax
and attention matmuls leave the delegate. That is why the choice is measured per model.

Timings are taken on the machine that runs the export: they rank the candidates for a CPU
like it. Use ``threads`` to match the target.
"""
import dataclasses
import os
import shutil
import statistics
import tempfile

from .convert import TRANSFORMER_FLOAT_OPS

#: Accuracy a candidate may lose against float32 and still be chosen (0.5 points).
MAX_ACCURACY_DROP = 0.005

#: ``TRANSFORMER_FLOAT_OPS`` and GELU: XNNPACK has no int8 GELU, so in a ViT each MLP's
#: GELU leaves the delegate and splits the graph (12 partitions more on ViT-Ti); in float it
#: costs a QUANTIZE/DEQUANTIZE pair inside the delegate instead (measured by the int8 profile benchmark).
TRANSFORMER_GELU_FLOAT_OPS = TRANSFORMER_FLOAT_OPS + ("GELU",)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One export a preset tries: a name and the :func:`export_model` arguments it uses."""

    name: str
    quantize: str
    float_ops: object = None
    input_dtype: str = None

    def export_kwargs(self):
        return {"quantize": self.quantize, "float_ops": self.float_ops, "input_dtype": self.input_dtype}


MOBILE_CANDIDATES = (
    Candidate("float32", "none"),
    Candidate("float16", "float16"),
    Candidate("dynamic int8", "dynamic"),
    Candidate("full int8", "int8", input_dtype="uint8"),
    Candidate("int8, float transformer ops", "int8", float_ops="transformer", input_dtype="uint8"),
    # GELU in float too: PVT v2-b0 9.57 ms against 10.23 with GELU in int8, ViT-Ti 13.11 against 13.88
    # (the int8 profile benchmark, 1 thread); the same file as the previous candidate for MobileViT (SiLU).
    Candidate("int8, float transformer ops and GELU", "int8", float_ops=TRANSFORMER_GELU_FLOAT_OPS, input_dtype="uint8"),
)
PRESETS = {"mobile": MOBILE_CANDIDATES}


@dataclasses.dataclass
class Measurement:
    """What a preset measured for one candidate.

    Attributes:
        name: the candidate's name.
        latency_ms: median over rounds of the per-round median invoke time (``None``: failed).
        round_ms: the per-round medians, to show the spread.
        accuracy: top-1 accuracy on the held-out labelled images.
        size: bytes of the file.
        error: why the candidate could not be exported or run (then it is never chosen).
    """

    name: str
    latency_ms: float = None
    round_ms: tuple = ()
    accuracy: float = None
    size: int = 0
    error: str = None


@dataclasses.dataclass
class PresetReport:
    """The measurements of every candidate, the choice and the reason for it."""

    preset: str
    measurements: list
    chosen: str
    reason: str
    threads: int
    rounds: int

    def table(self):
        base = next((m for m in self.measurements if m.name == "float32" and m.latency_ms), None)
        lines = [
            f"| candidate | size MB | latency ms, {self.threads} thread(s), median of {self.rounds} rounds (min-max) "
            "| speed-up vs float32 | accuracy | chosen |",
            "|---|---|---|---|---|---|",
        ]
        for m in self.measurements:
            if m.error:
                lines.append(f"| {m.name} | - | failed: {m.error} | - | - | |")
                continue
            speed = f"{base.latency_ms / m.latency_ms:.2f}x" if base else "-"
            lines.append(
                f"| {m.name} | {m.size / 1e6:.2f} | {m.latency_ms:.2f} ({min(m.round_ms):.2f}-{max(m.round_ms):.2f}) "
                f"| {speed} | {100 * m.accuracy:.2f}% | {'<-' if m.name == self.chosen else ''} |"
            )
        return "\n".join(lines)

    def summary(self):
        return f"Preset {self.preset!r}:\n{self.table()}\nChose {self.chosen}: {self.reason}"


def choose(measurements, max_accuracy_drop=MAX_ACCURACY_DROP):
    """The fastest measurement within ``max_accuracy_drop`` of float32's accuracy.

    Args:
        measurements: :class:`Measurement` list; one must be named ``"float32"`` and succeed.
        max_accuracy_drop: largest accepted loss of top-1 accuracy (a fraction: 0.005 is
            0.5 points). Float rounding of the comparison is allowed for.

    Returns:
        ``(chosen Measurement, reason)``: the reason names the speed-up and accuracy change
        against float32, and why each faster candidate was passed over.

    Raises:
        ValueError: float32 is missing or failed (nothing to compare accuracy with).
    """
    base = next((m for m in measurements if m.name == "float32"), None)
    if base is None or base.error or base.latency_ms is None or base.accuracy is None:
        raise ValueError("The float32 candidate is needed (measured, with accuracy) to judge the others.")
    floor = base.accuracy - max_accuracy_drop - 1e-9
    ok = [m for m in measurements if not m.error and m.accuracy is not None and m.accuracy >= floor]
    best = min(ok, key=lambda m: m.latency_ms)
    passed_over = []
    for m in sorted(measurements, key=lambda m: (m.latency_ms is None, m.latency_ms or 0)):
        if m is best:
            break
        if m.error:
            continue
        passed_over.append(f"{m.name} is faster ({m.latency_ms:.2f} ms) but loses "
                           f"{100 * (base.accuracy - m.accuracy):.3g} points of accuracy")
    reason = (f"fastest within {100 * max_accuracy_drop:.1f} accuracy points of float32: "
              f"{best.latency_ms:.2f} ms against float32's {base.latency_ms:.2f} ms "
              f"({base.latency_ms / best.latency_ms:.2f}x), accuracy {100 * best.accuracy:.2f}% against "
              f"{100 * base.accuracy:.2f}%")
    if passed_over:
        reason += "; " + "; ".join(passed_over)
    return best, reason


def time_interleaved(paths, threads=1, rounds=5, runs=10, warmup=3):
    """``{name: [median ms of each round]}``: all files loaded at once and timed side by side
    with the shared harness (:func:`keras_vit.utils.benchmark.time_interleaved`, call by call),
    so that load from other processes and CPU frequency changes hit every candidate alike."""
    from keras_vit.utils import benchmark

    from .runtime import invoker

    fns = {name: invoker(path, threads=threads) for name, path in paths.items()}
    rounds_s = benchmark.time_interleaved(fns, rounds=rounds, calls=runs, warmup=warmup)
    return {name: [1e3 * t for t in values] for name, values in rounds_s.items()}


def export_preset(model, output, preset, representative_data, sample_images, labels, threads=1, rounds=5,
                  runs=10, max_accuracy_drop=MAX_ACCURACY_DROP, candidates=None, overwrite=False, **export_kwargs):
    """Export every candidate of ``preset``, measure them and write the chosen one to ``output``.

    Args:
        model: a ``keras.Model``.
        output: the ``.tflite`` path for the chosen file.
        preset: a name from :data:`PRESETS` (``"mobile"``).
        representative_data: calibration images (raw pixels) for the int8 candidates.
        sample_images / labels: held-out labelled images; accuracy is measured on all of them.
        threads: interpreter threads for timing (1: one big core of a phone).
        rounds / runs: interleaved timing rounds, invokes per round.
        max_accuracy_drop: see :func:`choose`.
        candidates: override the preset's :class:`Candidate` list.
        overwrite / export_kwargs: passed to :func:`export_model` for each candidate.

    Returns:
        The chosen candidate's :class:`ExportResult` with ``path=output`` and
        ``preset_report`` set (a :class:`PresetReport`).
    """
    from keras_vit.utils import io as atomic_io

    from .export import check_output, export_model

    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    if representative_data is None or sample_images is None or labels is None:
        raise ValueError(f"preset={preset!r} needs calibration images and held-out labelled images "
                         "(--data with labels): it chooses by accuracy against float32.")
    output = check_output(output, "tflite", overwrite)
    candidates = PRESETS[preset] if candidates is None else candidates
    workdir = tempfile.mkdtemp(prefix="keras_vit_preset_")
    try:
        # Every candidate is converted from one SavedModel (float32 input; integer inputs are
        # set by the converter), written once instead of once per candidate.
        saved_model = os.path.join(workdir, "saved_model")
        export_model(model, saved_model, format="saved_model", verify=False,
                     batch_size=export_kwargs.get("batch_size", 1), input_shape=export_kwargs.get("input_shape"))
        results, measured, paths = {}, [], {}
        for c in candidates:
            path = os.path.join(workdir, f"candidate{len(paths)}.tflite")
            try:
                res = export_model(model, path, format="tflite", representative_data=representative_data,
                                   sample_images=sample_images, labels=labels, verify=True,
                                   saved_model_dir=saved_model, **c.export_kwargs(), **export_kwargs)
            except (ValueError, RuntimeError) as e:
                measured.append(Measurement(c.name, error=f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"))
                continue
            results[c.name], paths[c.name] = res, path
            measured.append(Measurement(c.name, accuracy=res.verification.accuracy, size=res.size))
        rounds_ms = time_interleaved(paths, threads=threads, rounds=rounds, runs=runs)
        for m in measured:
            if m.name in rounds_ms:
                m.round_ms = tuple(rounds_ms[m.name])
                m.latency_ms = statistics.median(m.round_ms)
        best, reason = choose(measured, max_accuracy_drop)
        with open(paths[best.name], "rb") as f:
            atomic_io.write_bytes(output, f.read())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = dataclasses.replace(results[best.name], path=output)
    result.preset_report = PresetReport(preset, measured, best.name, reason, threads, rounds)
    return result
