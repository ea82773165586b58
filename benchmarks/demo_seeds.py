"""The demo's numbers over seeds: what `keras-vit train --data digits --export` gives a user.

Runs the exact command `make demo` runs, once per seed, in a fresh process each, and prints
one table: test accuracy (Keras, float32 and int8 TFLite), the epoch kept on validation,
training and export time, the first epoch (graph building included) and the median of the
others, and the machine's load. The test split is the same for every seed (``split_seed``).

With ``--precision`` the same job runs under each given precision (the recipe key
``mixed_precision``, passed as ``--set mixed_precision=...``), interleaved per seed (seed 0
float32, seed 0 bfloat16, seed 1 float32, ...) so that the shared machine's load falls on
both alike. With two precisions the output adds the per-seed accuracy differences, their
mean in points, the epoch-time ratio, and which tensor types the exported TFLite files hold
(a mixed-precision model is cloned to float32 before export: ``keras_vit.tflite.float32_model``).

    python benchmarks/demo_seeds.py                    # seeds 0 1 2, outputs under runs/demo_seeds
    python benchmarks/demo_seeds.py --seeds 0 --out /tmp/demo
    python benchmarks/demo_seeds.py --model cct_2_3x2_32 --out runs/demo_cct   # another model
    python benchmarks/demo_seeds.py --precision float32 bfloat16 --out runs/bf16_digits --write
    python benchmarks/demo_seeds.py --rows runs/bf16_digits/results.json --write   # rewrite the file only

``--write`` writes ``docs/benchmarks/demo_seeds.md`` (one precision) or ``bf16_digits.md``
(two), or the name given. The README quotes its output; say there whether the machine was
shared.
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import time

PRECISIONS = ("float32", "bfloat16", "float16")
TFLITE_FILES = ("model_float32.tflite", "model_int8.tflite")


def run_seed(seed, out, model=None, precision=None):
    """One `keras-vit train --data digits --export` run; returns its row.

    ``precision`` (``None``: the recipe's own) becomes ``--set mixed_precision=<precision>``.
    """
    load_before = os.getloadavg()[0]
    started = time.time()
    command = [sys.executable, "-m", "keras_vit.cli", "train", "--data", "digits",
               "--output", out, "--seed", str(seed), "--export", "--progress", "epochs"]
    if model:
        command += ["--model", model]
    if precision:
        command += ["--set", f"mixed_precision={precision}"]
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - started
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "stderr.txt"), "w", encoding="utf-8") as f:
        f.write(done.stderr)  # a normal run writes nothing there
    if done.returncode != 0:
        raise SystemExit(f"seed {seed} ({precision or 'recipe precision'}) failed ({done.returncode}):\n"
                         f"{done.stderr[-3000:]}")
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    with open(os.path.join(out, "history.json"), encoding="utf-8") as f:
        history = json.load(f)
    export = {row["format"]: row for row in metrics.get("export", [])}
    epochs = history.get("epoch_seconds") or []
    row = {
        "seed": seed,
        "precision": precision,
        "policy": metrics.get("precision"),  # what the run recorded it trained under
        "test_accuracy": metrics["test_accuracy"],
        "tflite_float32": export.get("model_float32.tflite", {}).get("accuracy"),
        "tflite_int8": export.get("model_int8.tflite", {}).get("accuracy"),
        "test_size": metrics.get("num_test"),
        "selected_epoch": metrics.get("selected_epoch"),
        "epochs": metrics["epochs"],
        "train_s": metrics["train_seconds_this_run"],
        "export_s": metrics.get("export_seconds"),
        "wall_s": wall,
        "first_epoch_s": epochs[0] if epochs else None,
        "median_epoch_s": statistics.median(epochs[1:]) if len(epochs) > 1 else None,
        "load": (load_before + os.getloadavg()[0]) / 2,
        "stderr_lines": len([l for l in done.stderr.splitlines() if l.strip()]),
        "tflite_types": {name: tflite_types(os.path.join(out, name)) for name in TFLITE_FILES
                         if os.path.exists(os.path.join(out, name))},
    }
    with open(os.path.join(out, "row.json"), "w", encoding="utf-8") as f:
        json.dump(row, f, indent=1)
    return row


def tflite_types(path):
    """What a `.tflite` file computes in: ``{"tensors": {type: count}, "CAST": n}`` over all
    subgraphs, read from its flatbuffer (a bfloat16 or float16 graph shows those tensor types
    and casts around them)."""
    from ai_edge_litert import schema_py_generated as schema

    with open(path, "rb") as f:
        fb = schema.Model.GetRootAs(f.read(), 0)
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    tensors = collections.Counter()
    casts = 0
    cast_codes = {i for i in range(fb.OperatorCodesLength())
                  if max(fb.OperatorCodes(i).BuiltinCode(), fb.OperatorCodes(i).DeprecatedBuiltinCode())
                  == schema.BuiltinOperator.CAST}
    for s in range(fb.SubgraphsLength()):
        sub = fb.Subgraphs(s)
        for t in range(sub.TensorsLength()):
            tensors[type_names.get(sub.Tensors(t).Type(), str(sub.Tensors(t).Type()))] += 1
        casts += sum(sub.Operators(j).OpcodeIndex() in cast_codes for j in range(sub.OperatorsLength()))
    return {"tensors": dict(sorted(tensors.items())), "CAST": casts}


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def _s(x):
    return "-" if x is None else f"{x:.1f}"


def table(rows):
    with_precision = any(r.get("precision") for r in rows)
    lines = ["| seed | " + ("precision (recorded policy) | " if with_precision else "")
             + "test acc (Keras) | TFLite f32 | TFLite int8 | epoch kept | train s | "
             "export s | wall s (process) | 1st epoch s | median epoch s | load avg |",
             "|---|" + ("---|" if with_precision else "") + "---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        precision = f"{r['precision']} ({r.get('policy')}) | " if with_precision else ""
        lines.append(f"| {r['seed']} | {precision}{_pct(r['test_accuracy'])} | {_pct(r['tflite_float32'])} | "
                     f"{_pct(r['tflite_int8'])} | {r['selected_epoch'] or 'last'}/{r['epochs']} | "
                     f"{_s(r['train_s'])} | {_s(r['export_s'])} | {_s(r['wall_s'])} | "
                     f"{_s(r['first_epoch_s'])} | {_s(r['median_epoch_s'])} | {r['load']:.1f} |")
    lines.append("")
    for precision, group in _by_precision(rows).items():
        accs = [r["test_accuracy"] for r in group]
        lines.append(f"{precision + ': ' if precision else ''}test accuracy: mean {_pct(statistics.mean(accs))}, "
                     f"min {_pct(min(accs))}, max {_pct(max(accs))} over {len(accs)} seed(s); wall time "
                     f"per run {min(r['wall_s'] for r in group):.0f}-{max(r['wall_s'] for r in group):.0f} s")
        lines.append("")
    return "\n".join(lines).rstrip()


def _by_precision(rows):
    groups = {}
    for r in rows:
        groups.setdefault(r.get("precision"), []).append(r)
    return groups


def comparison(rows, tolerance=0.3):
    """The second precision against the first, seed by seed: accuracy differences in points,
    their mean against ``tolerance``, epoch times, and the exported files' tensor types."""
    from keras_vit.utils.benchmark import markdown_table

    groups = _by_precision(rows)
    (base, base_rows), (other, other_rows) = list(groups.items())[:2]
    by_seed = {r["seed"]: r for r in base_rows}
    pairs = [(by_seed[r["seed"]], r) for r in other_rows if r["seed"] in by_seed]
    keys = (("test_accuracy", "Keras"), ("tflite_float32", "TFLite float32"), ("tflite_int8", "TFLite int8"))
    size = base_rows[0].get("test_size")
    lines = [f"Accuracy difference, {other} minus {base}, in points"
             + (f" (the test split has {size} images: one image is {100 / size:.2f} points)" if size else "")
             + ":", ""]
    header = ["seed"] + [name for _, name in keys]
    body = []
    means = {}
    for key, name in keys:
        diffs = [100 * (o[key] - b[key]) for b, o in pairs if o[key] is not None and b[key] is not None]
        means[name] = statistics.mean(diffs) if diffs else None
    for b, o in pairs:
        body.append([b["seed"]] + [_pts(o[key], b[key]) for key, _ in keys])
    body.append([f"mean over {len(pairs)} seed(s)"] + [_fmt_pts(means[name]) for _, name in keys])
    body.append([f"within {tolerance} points"] + [
        "-" if means[name] is None else ("yes" if abs(means[name]) <= tolerance else
                                         f"no (by {abs(means[name]) - tolerance:.2f})") for _, name in keys])
    lines.append(markdown_table(header, body))
    lines.append("")
    base_epoch = statistics.median(r["median_epoch_s"] for r in base_rows)
    other_epoch = statistics.median(r["median_epoch_s"] for r in other_rows)
    ratios = [b["median_epoch_s"] / o["median_epoch_s"] for b, o in pairs]
    speed = base_epoch / other_epoch
    lines.append(f"Training time per epoch (median over seeds of each run's median epoch, graph building "
                 f"excluded): {base} {base_epoch:.1f} s, {other} {other_epoch:.1f} s; {other} speed-up "
                 f"{speed:.2f}x (per seed {' / '.join(f'{x:.2f}' for x in ratios)}): "
                 + (f"{other} is **slower** on this model." if speed < 1 else f"{other} is faster on this model.")
                 + " Each run is its own process of several minutes, so a ratio also holds the load difference "
                 "between the two runs (load column); `benchmarks/bf16.py` compares the two policies step by step "
                 "in one process.")
    lines.append("")
    loads = [r["load"] for r in rows]
    lines.append(f"Load average during the runs (mean of start and end of each): {min(loads):.1f}-{max(loads):.1f} "
                 f"(median {statistics.median(loads):.1f}) on {os.cpu_count()} CPUs.")
    lines.append("")
    lines.append("Exported TFLite files: tensor types and CAST operators per file (all subgraphs):")
    lines.append("")
    type_rows = []
    for r in rows:
        for name, info in sorted((r.get("tflite_types") or {}).items()):
            tensors = ", ".join(f"{t} {n}" for t, n in info["tensors"].items())
            type_rows.append([r["seed"], r["precision"], name, tensors, info["CAST"]])
    lines.append(markdown_table(["seed", "trained in", "file", "tensors", "CAST ops"], type_rows))
    reduced = sorted({t for r in other_rows for info in (r.get("tflite_types") or {}).values()
                      for t in info["tensors"] if t in ("BFLOAT16", "FLOAT16")})
    lines.append("")
    casts = {p: max((info["CAST"] for r in group for info in (r.get("tflite_types") or {}).values()), default=0)
             for p, group in ((base, base_rows), (other, other_rows))}
    lines.append(f"- The {other}-trained models' exports hold "
                 + (f"{', '.join(reduced)} tensors: not float32 graphs." if reduced else
                    "no BFLOAT16 or FLOAT16 tensor: float32 graphs (int8 where quantized).")
                 + f" CAST operators: at most {casts[other]} per file ({base}-trained: at most {casts[base]}).")
    for name in TFLITE_FILES:
        # The same file from runs of one precision can differ too (e.g. where int8 keeps ops in
        # float): say whether it varies within float32 before reading a difference into bfloat16.
        base_kinds = {json.dumps((r.get("tflite_types") or {}).get(name), sort_keys=True) for r in base_rows}
        other_kinds = {json.dumps((r.get("tflite_types") or {}).get(name), sort_keys=True) for r in other_rows}
        if base_kinds == other_kinds and len(base_kinds) == 1:
            lines.append(f"- `{name}`: the same tensor types and counts in every run of both precisions.")
        else:
            lines.append(f"- `{name}`: tensor counts vary from run to run "
                         f"({len(base_kinds)} distinct over the {base} runs, {len(other_kinds)} over the {other} runs).")
    return "\n".join(lines), means


def _pts(a, b):
    return "-" if a is None or b is None else _fmt_pts(100 * (a - b))


def _fmt_pts(x):
    return "-" if x is None else f"{round(x, 2) + 0.0:+.2f}"  # + 0.0: no "-0.00"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/demo_seeds")
    parser.add_argument("--model", help="another model with the default recipe sized for it (e.g. cct_2_3x2_32)")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS,
                        help="run the job under each of these precisions (recipe key mixed_precision), "
                             "interleaved per seed; default: the recipe's own (float32), no override")
    parser.add_argument("--write", nargs="?", const="", default=None, metavar="NAME",
                        help="write docs/benchmarks/<NAME>.md (default name: demo_seeds, or "
                             "bf16_digits when float32 and bfloat16 are compared)")
    parser.add_argument("--results-dir", default=None, help="where --write puts the file (default docs/benchmarks)")
    parser.add_argument("--rows", help="a results.json of an earlier run: tabulate (and --write) it, run nothing")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_vit.utils import benchmark

    if args.rows:
        with open(args.rows, encoding="utf-8") as f:
            saved = json.load(f)
        stamp, rows, args.model = saved["stamp"], saved["rows"], saved.get("model")
    else:
        stamp = benchmark.run_stamp("benchmarks/demo_seeds.py")
        print(stamp, flush=True)
        rows = []
        precisions = args.precision or [None]
        for seed in args.seeds:
            for precision in precisions:
                out = os.path.join(args.out, *([precision] if precision else []), f"seed-{seed}")
                if os.path.exists(os.path.join(out, "metrics.json")):
                    raise SystemExit(f"{out} holds a finished run; remove it or choose another --out")
                rows.append(run_seed(seed, out, args.model, precision))
                print(json.dumps(rows[-1]), flush=True)
                with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
                    json.dump({"stamp": stamp, "model": args.model, "rows": rows}, f, indent=1)  # kept after every run
    text = table(rows)
    compared = [p for p in _by_precision(rows) if p]
    if len(compared) >= 2:
        text += "\n\n" + comparison(rows)[0]
    print(text)
    if args.write is not None:
        name = args.write or ("bf16_digits" if compared[:2] == ["float32", "bfloat16"] else "demo_seeds")
        what = f"`keras-vit train --data digits --export{' --model ' + args.model if args.model else ''}`"
        how = "one fresh process per seed"
        title = "The digits main job over seeds"
        if compared:
            what += " with `--set mixed_precision=<precision>`"
            how += (f" and precision, interleaved per seed ({', '.join(compared)} for seed 0, then seed 1, ...)"
                    " so that the shared machine's load falls on both alike")
            title += f": {' against '.join(compared)}"
        path = benchmark.write_result(name, title, stamp, f"{what}, {how}.\n\n" + text, folder=args.results_dir)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
