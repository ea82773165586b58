"""The demo's numbers over seeds: what `keras-vit train --data digits --export` gives a user.

Runs the exact command `make demo` runs, once per seed, in a fresh process each, and prints
one table: test accuracy (Keras, float32 and int8 TFLite), the epoch kept on validation,
training and export time, the first epoch (graph building included) and the median of the
others, and the machine's load. The test split is the same for every seed (``split_seed``).

    python benchmarks/demo_seeds.py                    # seeds 0 1 2, outputs under runs/demo_seeds
    python benchmarks/demo_seeds.py --seeds 0 --out /tmp/demo
    python benchmarks/demo_seeds.py --model cct_2_3x2_32 --out runs/demo_cct   # another model

The README quotes its output; say there whether the machine was shared.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run_seed(seed, out, model=None):
    """One `keras-vit train --data digits --export` run; returns its row."""
    load_before = os.getloadavg()[0]
    started = time.time()
    command = [sys.executable, "-m", "keras_vit.cli", "train", "--data", "digits",
               "--output", out, "--seed", str(seed), "--export", "--progress", "epochs"]
    if model:
        command += ["--model", model]
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - started
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "stderr.txt"), "w", encoding="utf-8") as f:
        f.write(done.stderr)  # a normal run writes nothing there
    if done.returncode != 0:
        raise SystemExit(f"seed {seed} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    with open(os.path.join(out, "history.json"), encoding="utf-8") as f:
        history = json.load(f)
    export = {row["format"]: row for row in metrics.get("export", [])}
    epochs = history.get("epoch_seconds") or []
    return {
        "seed": seed,
        "test_accuracy": metrics["test_accuracy"],
        "tflite_float32": export.get("model_float32.tflite", {}).get("accuracy"),
        "tflite_int8": export.get("model_int8.tflite", {}).get("accuracy"),
        "selected_epoch": metrics.get("selected_epoch"),
        "epochs": metrics["epochs"],
        "train_s": metrics["train_seconds_this_run"],
        "export_s": metrics.get("export_seconds"),
        "wall_s": wall,
        "first_epoch_s": epochs[0] if epochs else None,
        "median_epoch_s": statistics.median(epochs[1:]) if len(epochs) > 1 else None,
        "load": (load_before + os.getloadavg()[0]) / 2,
        "stderr_lines": len([l for l in done.stderr.splitlines() if l.strip()]),
    }


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def _s(x):
    return "-" if x is None else f"{x:.1f}"


def table(rows):
    lines = ["| seed | test acc (Keras) | TFLite f32 | TFLite int8 | epoch kept | train s | "
             "export s | wall s (process) | 1st epoch s | median epoch s | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {_pct(r['test_accuracy'])} | {_pct(r['tflite_float32'])} | "
                     f"{_pct(r['tflite_int8'])} | {r['selected_epoch']}/{r['epochs']} | "
                     f"{_s(r['train_s'])} | {_s(r['export_s'])} | {_s(r['wall_s'])} | "
                     f"{_s(r['first_epoch_s'])} | {_s(r['median_epoch_s'])} | {r['load']:.1f} |")
    accs = [r["test_accuracy"] for r in rows]
    lines.append("")
    lines.append(f"test accuracy: mean {_pct(statistics.mean(accs))}, min {_pct(min(accs))}, "
                 f"max {_pct(max(accs))} over {len(accs)} seed(s); wall time per run "
                 f"{min(r['wall_s'] for r in rows):.0f}-{max(r['wall_s'] for r in rows):.0f} s")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/demo_seeds")
    parser.add_argument("--model", help="another model with the default recipe sized for it (e.g. cct_2_3x2_32)")
    parser.add_argument("--result-name", default="demo_seeds", help="docs/benchmarks/<name>.md to write")
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_vit.utils import benchmark

    stamp = benchmark.run_stamp("benchmarks/demo_seeds.py")
    print(stamp, flush=True)
    rows = []
    for seed in args.seeds:
        out = os.path.join(args.out, f"seed-{seed}")
        if os.path.exists(os.path.join(out, "metrics.json")):
            raise SystemExit(f"{out} holds a finished run; remove it or choose another --out")
        rows.append(run_seed(seed, out, args.model))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
    what = f"`keras-vit train --data digits --export{' --model ' + args.model if args.model else ''}`"
    benchmark.write_result(args.result_name, "The digits main job over seeds", stamp,
                           f"{what}, one fresh process per seed.\n\n" + table(rows), folder=args.results_dir)


if __name__ == "__main__":
    main()
