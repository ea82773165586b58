"""Benchmark exported models: size, latency (1 and 2 threads), peak memory, accuracy.

Each latency/memory measurement runs in a fresh subprocess (``--worker``) so that thread
settings take effect (TensorFlow fixes its thread pools at start-up) and peak memory is the
process's own: peak RSS after running minus peak RSS just before loading the model.

Peers are other Keras implementations of the same architecture, built in a subprocess
(``--peer-export``) with the same configuration and a rescaling layer in front so they take
the same raw pixels, then exported with the same :func:`export_model`. Supported peer:
``kecam`` (keras-cv-attention-models; see :data:`PEERS`).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

DEFAULT_FORMATS = ("keras", "tflite:none", "tflite:float16", "tflite:dynamic", "tflite:int8")

#: Peers this command compares with (the shared harness knows how to build them).
PEERS = {"kecam": "keras-cv-attention-models (beit.ViT, KECAM_BACKEND=keras_core)"}


def available_peers(peers):
    """``(usable, skipped)``: peers whose package is installed, and a note for each other."""
    from keras_vit.utils.benchmark import peer_available

    usable, skipped = [], []
    for peer in peers:
        missing = peer_available(peer)
        if missing:
            skipped.append(missing)
        else:
            usable.append(peer)
    return usable, skipped


def _parse_format(entry):
    fmt, _, quantize = entry.partition(":")
    if fmt not in ("keras", "tflite"):
        raise ValueError(f"Unknown benchmark format {entry!r}; use keras or tflite:QUANTIZE.")
    quantize = quantize or "none"
    from .export import QUANTIZATIONS

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization in {entry!r}; choose one of {', '.join(QUANTIZATIONS)}.")
    return fmt, quantize


# --------------------------------------------------------------------------- workers


def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    return float("nan")


def _reset_peak_rss():
    """Current RSS in MB, after resetting the kernel's peak-RSS mark (VmHWM).

    Imports (TensorFlow above all) set a high peak before the model is even loaded, so the
    mark is reset through /proc/self/clear_refs; the model's peak is then VmHWM - this.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def _peak_rss_mb():
    return _status_mb("VmHWM")


def _worker(path, threads, runs, peer):
    """Time one model file at one thread count; prints a JSON line."""
    if path.endswith(".tflite"):
        from .runtime import TFLiteRunner

        before = _reset_peak_rss()
        runner = TFLiteRunner(path, num_threads=threads)
        times = runner.time_invoke(runs=runs, warmup=5)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        if peer:
            _import_peer(peer)
        from .export import load_keras_model

        before = _reset_peak_rss()
        model = load_keras_model(path)
        shape = (1,) + tuple(model.inputs[0].shape[1:])
        x = tf.constant(np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32))
        fn = tf.function(lambda t: model(t, training=False))
        import time

        for _ in range(5):
            fn(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            np.asarray(fn(x))
            times.append((time.perf_counter() - t0) * 1e3)
        times = np.asarray(times)
    print(json.dumps({
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "peak_mb": _peak_rss_mb() - before,
    }))


def _measure(path, threads, runs, peer=None):
    cmd = [sys.executable, "-m", "keras_vit.tflite.benchmark", "--worker", path, "--threads", str(threads),
           "--runs", str(runs)] + (["--peer", peer] if peer else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"benchmark worker failed for {path}:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- peers


def _import_peer(peer):
    if peer not in PEERS:
        raise ValueError(f"Unknown peer {peer!r}; known: {', '.join(PEERS)}.")
    from keras_vit.utils.benchmark import import_kecam

    import_kecam()


def _build_peer(peer, config, image_shape, num_classes, mean, std):
    """The peer's model for a keras_vit ViT config, fed raw pixels like ours."""
    from keras_vit.utils.benchmark import kecam_model

    _import_peer(peer)
    return kecam_model("vit", image_shape[0], num_classes=num_classes, config=config, mean=mean, std=std)


def _peer_export(spec_path):
    """Subprocess entry: build a peer model, export it like ours, write results as JSON."""
    from .export import export_model

    with open(spec_path) as f:
        spec = json.load(f)
    data = np.load(spec["data"])
    cal, ev, labels = data["cal"], data["eval"], data["labels"] if "labels" in data else None
    model = _build_peer(spec["peer"], spec["config"], tuple(spec["image_shape"]), spec["num_classes"],
                        spec["mean"], spec["std"])
    rows = []
    for entry in spec["formats"]:
        fmt, quantize = _parse_format(entry)
        out = os.path.join(spec["workdir"], f"{spec['name']}_{spec['peer']}_{quantize if fmt == 'tflite' else 'keras'}"
                           + (".tflite" if fmt == "tflite" else ".keras"))
        try:
            res = export_model(model, out, format=fmt, quantize=quantize, representative_data=cal,
                               sample_images=ev[:16], verify=True)
        except Exception as e:  # report the failure in the table instead of aborting
            rows.append({"format": entry, "error": f"{type(e).__name__}: {str(e)[:200]}"})
            continue
        row = {"format": entry, "path": out, "size": res.size, "outside": res.ops_outside_delegate}
        row["accuracy"] = _accuracy(out, model, ev, labels) if labels is not None else None
        rows.append(row)
    with open(spec["result"], "w") as f:
        json.dump(rows, f)


# --------------------------------------------------------------------------- driver


def _accuracy(path, model, images, labels):
    if path.endswith(".tflite"):
        from .runtime import evaluate_tflite

        return evaluate_tflite(path, images, labels)["accuracy"]
    from .export import _keras_predict

    return float((_keras_predict(model, images).reshape(len(images), -1).argmax(-1) == labels).mean())


def _benchmark_data(args, image_shape):
    if args.data:
        from .data import calibration_and_eval

        return calibration_and_eval(args.data, image_shape, args.num_calibration, args.num_eval)
    # No data: smooth seeded noise calibrates int8 and exercises the models; no accuracy.
    rng = np.random.default_rng(0)
    h, w, c = image_shape
    base = rng.uniform(0, 255, (args.num_calibration + 16, max(1, h // 8), max(1, w // 8), c))
    images = np.kron(base, np.ones((1, -(-h // base.shape[1]), -(-w // base.shape[2]), 1)))[:, :h, :w]
    return images[: args.num_calibration].astype(np.float32), images[args.num_calibration :].astype(np.float32), None


def _model_config(spec):
    try:
        import keras_vit
    except ImportError:
        return None
    if spec.endswith(".keras") or spec not in keras_vit.list_models():
        return None
    ms = keras_vit.get_model_spec(spec)
    return {"family": ms.family, "config": dict(ms.config), "mean": list(ms.mean), "std": list(ms.std)}


def _fmt_row(impl, entry, size, timing, accuracy, ratio, outside):
    cells = [impl, entry, f"{size / 1e6:.2f}" if size else "-"]
    for t in timing:
        cells += [f"{t['median_ms']:.2f}", f"{t['p90_ms']:.2f}"] if t else ["-", "-"]
    peak = max((t["peak_mb"] for t in timing if t), default=None)
    cells.append(f"{peak:.0f}" if peak is not None else "-")
    cells.append(f"{accuracy:.3f}" if accuracy is not None else "-")
    cells.append(ratio)
    cells.append(outside)
    return cells


def _time_all(results, args):
    """Fill ``r["timing"]`` (one dict per thread count) for every benchmarked file.

    TFLite files are timed in this process with the shared harness
    (:func:`keras_vit.utils.benchmark.time_interleaved`), all interpreters loaded at once and
    invoked call by call, so that load from elsewhere on the machine hits every
    implementation alike. `.keras` files need a process per thread count (TensorFlow fixes
    its thread pools at start-up); their rounds interleave too. Peak memory always comes
    from a fresh worker process.
    """
    from keras_vit.utils import benchmark

    from .runtime import invoker

    for r in results.values():
        r["timing"] = [{"median": [], "p90": [], "peak_mb": 0.0} for _ in args.threads]
        r["timing"][0]["peak_mb"] = _measure(r["path"], args.threads[0], 5, r.get("peer"))["peak_mb"]
    for i, threads in enumerate(args.threads):
        invokers = {k: invoker(r["path"], threads=threads)
                    for k, r in results.items() if r["path"].endswith(".tflite")}
        for _ in range(args.rounds):
            # One round of the shared harness for the TFLite files (call by call), then the
            # `.keras` files, each in its own process.
            samples = benchmark.time_interleaved(invokers, rounds=1, calls=args.runs, warmup=3, reduce=None) if invokers else {}
            for key, r in results.items():
                if key in samples:
                    times = 1e3 * np.asarray(samples[key][0])
                    stats = {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}
                else:
                    stats = _measure(r["path"], threads, args.runs, r.get("peer"))
                r["timing"][i]["median"].append(stats["median_ms"])
                r["timing"][i]["p90"].append(stats["p90_ms"])
        del invokers
    for r in results.values():
        peak = r["timing"][0]["peak_mb"]
        r["timing"] = [{"median_ms": float(np.median(t["median"])), "p90_ms": float(np.median(t["p90"])),
                        "peak_mb": peak} for t in r["timing"]]


def _table(title, header, rows):
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run(args):
    """Benchmark every model and format in ``args``; prints markdown tables.

    Without ``args.workdir`` the exported files go to a temporary folder, removed at the end
    (also on errors and Ctrl-C).
    """
    for name in ("runs", "rounds"):
        value = getattr(args, name, 1)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"--{name} must be a positive integer, got {value!r}.")
    if not args.threads or any(not isinstance(t, int) or t < 1 for t in args.threads):
        raise ValueError(f"--threads takes positive integers, got {args.threads!r}.")
    formats = [_parse_format(e) for e in args.formats]
    for peer in args.peers:
        if peer not in PEERS:
            raise ValueError(f"Unknown peer {peer!r}; known: {', '.join(PEERS)}.")
    if args.workdir:
        return _run(args, formats, args.workdir)
    workdir = tempfile.mkdtemp(prefix="keras_vit_bench_")
    try:
        return _run(args, formats, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(args, formats, workdir):
    from .export import resolve_model
    from .export import export_model

    peers, skipped = available_peers(args.peers)
    for note in skipped:
        print(f"note: skipping peer {note}", file=sys.stderr)
    os.makedirs(workdir, exist_ok=True)
    tables = []
    for spec in args.models:
        model = resolve_model(spec, args.weights, args.image_size, args.num_classes)
        name = os.path.splitext(os.path.basename(spec))[0]
        image_shape = tuple(model.inputs[0].shape[1:])
        num_classes = int(model.outputs[0].shape[-1])
        cal, ev, labels = _benchmark_data(args, image_shape)
        results = {}  # (impl, entry) -> dict
        for (fmt, quantize), entry in zip(formats, args.formats):
            out = os.path.join(workdir, f"{name}_{quantize if fmt == 'tflite' else 'keras'}"
                               + (".tflite" if fmt == "tflite" else ".keras"))
            res = export_model(model, out, format=fmt, quantize=quantize, representative_data=cal,
                               sample_images=ev[:16], verify=True)
            acc = _accuracy(out, model, ev, labels) if labels is not None else None
            outside = ", ".join(f"{k}x{v}" for k, v in res.ops_outside_delegate.items()) if fmt == "tflite" else "n/a"
            if fmt == "tflite" and not outside:
                outside = "none"
            results[("keras_vit", entry)] = {"path": out, "size": res.size, "accuracy": acc, "outside": outside,
                                             "verified": res.passed}
        meta = _model_config(spec)
        for peer in peers:
            if meta is None or meta["family"] != "vit":
                print(f"note: no {peer} equivalent for {spec}; skipping the peer.", file=sys.stderr)
                continue
            data_path = os.path.join(workdir, f"{name}_data.npz")
            arrays = {"cal": cal, "eval": ev}
            if labels is not None:
                arrays["labels"] = labels
            np.savez(data_path, **arrays)
            config = dict(meta["config"])
            spec_path = os.path.join(workdir, f"{name}_{peer}.json")
            result_path = os.path.join(workdir, f"{name}_{peer}_result.json")
            with open(spec_path, "w") as f:
                json.dump({"peer": peer, "config": config, "image_shape": image_shape, "num_classes": num_classes,
                           "mean": meta["mean"], "std": meta["std"], "formats": args.formats, "data": data_path,
                           "workdir": workdir, "name": name, "result": result_path}, f)
            proc = subprocess.run([sys.executable, "-m", "keras_vit.tflite.benchmark", "--peer-export", spec_path],
                                  capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            if proc.returncode:
                last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
                print(f"note: skipping peer {peer}: its export failed ({last})", file=sys.stderr)
                continue
            with open(result_path) as f:
                for row in json.load(f):
                    if "error" in row:
                        print(f"note: {peer} {row['format']}: {row['error']}", file=sys.stderr)
                        continue
                    outside = ", ".join(f"{k}x{v}" for k, v in row["outside"].items()) or "none"
                    results[(peer, row["format"])] = {"path": row["path"], "size": row["size"],
                                                      "accuracy": row["accuracy"],
                                                      "outside": outside if row["format"] != "keras" else "n/a",
                                                      "peer": peer}
        _time_all(results, args)
        header = ["impl", "format", "size MB"]
        for t in args.threads:
            header += [f"p50 ms {t}T", f"p90 ms {t}T"]
        header += ["peak MB", "accuracy", f"peer/ours p50 ({args.threads[0]}T)", "ops outside XNNPACK"]
        rows = []
        for (impl, entry), r in results.items():
            ratio = "-"
            if impl != "keras_vit" and ("keras_vit", entry) in results:
                ours = results[("keras_vit", entry)]["timing"][0]["median_ms"]
                ratio = f"{r['timing'][0]['median_ms'] / ours:.2f}x"
            rows.append(_fmt_row(impl, entry, r["size"], r["timing"], r["accuracy"], ratio, r["outside"]))
        title = f"{name} ({image_shape[0]}x{image_shape[1]}, {num_classes} classes" + (
            f", accuracy on {len(labels)} images of {args.data})" if labels is not None else ", no labels)")
        tables.append(_table(title, header, rows))
        print(tables[-1] + "\n", flush=True)
    if skipped:
        print("Peers skipped: " + "; ".join(skipped), file=sys.stderr)
    if args.markdown:
        tmp = args.markdown + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n\n".join(tables) + "\n")
        os.replace(tmp, args.markdown)
    return 0


def _main():
    parser = argparse.ArgumentParser(description="internal benchmark subprocess entry points")
    parser.add_argument("--worker", default=None)
    parser.add_argument("--peer-export", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--peer", default=None)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.threads, args.runs, args.peer)
    elif args.peer_export:
        _peer_export(args.peer_export)
    else:
        parser.error("use keras-vit benchmark; this module's own entry is for subprocesses")


if __name__ == "__main__":
    _main()
