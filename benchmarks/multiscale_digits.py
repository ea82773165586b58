"""MobileViT on digits with and without the multi-scale sampler: test accuracy and time per epoch.

The shipped recipe ``mobilevit_digits`` (MobileViT-XXS, 64 x 64 inputs, batch 64) trains once
as it is and once with ``multi_scale`` (MobileViT's sampler, Mehta & Rastegari, ICLR 2022,
section 3.3: a resolution drawn per batch, the batch scaled by ``(64 / size) ** 2``; the
paper's 160 ... 320 around 256 becomes 40 ... 80 around 64), for each seed, each run in a fresh
process of ``keras-vit train``. The runs of a seed are interleaved (plain first for even
seeds, multi-scale first for odd ones) so that the shared machine's load falls on both alike;
the load average is sampled every 5 s during each run and reported with it.

Time per epoch is the median over the epochs after the first (the first builds the graphs);
the multi-scale run has fewer, larger-on-average steps over about the same number of images.
``--epochs`` shortens the recipe's 40 epochs to fit a time budget: the file says how many.

    python benchmarks/multiscale_digits.py --epochs 8 --set warmup_epochs=1 --set ema_warmup=true --write
    python benchmarks/multiscale_digits.py --epochs 2 --seeds 0    # a quick look
    python benchmarks/multiscale_digits.py --rows runs/multiscale_digits/results.json --write
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_vit.utils.benchmark import markdown_table, run_stamp, write_result  # noqa: E402

RECIPE = "mobilevit_digits"
SIZES = (40, 48, 56, 64, 72, 80)


def _sample_load(stop, samples, every=5.0):
    while not stop.wait(every):
        samples.append(os.getloadavg()[0])


def run_one(seed, multi_scale, epochs, out, sizes, overrides=()):
    """One ``keras-vit train`` run (``overrides``: ``key=value`` recipe changes); returns its row."""
    command = [sys.executable, "-m", "keras_vit.cli", "train", "--recipe", RECIPE, "--output", out,
               "--seed", str(seed), "--progress", "epochs"]
    for override in overrides:
        command += ["--set", override]
    if epochs:
        command += ["--epochs", str(epochs)]
    if multi_scale:
        command += ["--set", "multi_scale=" + json.dumps({"sizes": list(sizes)})]
    samples, stop = [os.getloadavg()[0]], threading.Event()
    sampler = threading.Thread(target=_sample_load, args=(stop, samples), daemon=True)
    sampler.start()
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - started
    stop.set()
    sampler.join()
    if done.returncode != 0:
        raise SystemExit(f"seed {seed} multi_scale={multi_scale} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    with open(os.path.join(out, "history.json"), encoding="utf-8") as f:
        history = json.load(f)
    seconds = history.get("epoch_seconds") or []
    return {
        "seed": seed,
        "multi_scale": bool(multi_scale),
        "test_accuracy": metrics["test_accuracy"],
        "test_size": metrics["num_test"],
        "selected_epoch": metrics.get("selected_epoch"),
        "epochs": metrics["epochs"],
        "first_epoch_s": seconds[0] if seconds else None,
        "median_epoch_s": statistics.median(seconds[1:]) if len(seconds) > 1 else None,
        "train_s": metrics["train_seconds_this_run"],
        "wall_s": wall,
        "load": statistics.mean(samples),
    }


def steps_and_images(sizes, num_train, batch_size=64, base_size=64):
    """Steps per epoch and mean images per step of each variant (as the trainer computes them)."""
    from training.multiscale import MultiScaleSampler

    sampler = MultiScaleSampler(sizes, base_size, batch_size)
    return {"plain": (num_train // batch_size, batch_size),
            "multi-scale": (sampler.steps_per_epoch(num_train), sampler.mean_batch_size),
            "batch_sizes": dict(zip(sampler.sizes, sampler.batch_sizes))}


def report(rows, sizes, epochs, num_train, overrides=()):
    def fmt(value, digits=2):
        return "" if value is None else f"{value:.{digits}f}"

    table = markdown_table(
        ["seed", "sampler", "test accuracy %", "kept epoch", "first epoch s", "median epoch s", "train s", "load (mean)"],
        [[r["seed"], "multi-scale" if r["multi_scale"] else "fixed 64", fmt(100 * r["test_accuracy"]),
          r["selected_epoch"], fmt(r["first_epoch_s"]), fmt(r["median_epoch_s"]), fmt(r["train_s"], 1), fmt(r["load"], 1)]
         for r in rows])
    summary = []
    for multi in (False, True):
        runs = [r for r in rows if r["multi_scale"] == multi]
        if not runs:
            continue
        acc = [100 * r["test_accuracy"] for r in runs]
        epoch = [r["median_epoch_s"] for r in runs if r["median_epoch_s"] is not None]
        summary.append(["multi-scale" if multi else "fixed 64", len(runs),
                        f"{statistics.mean(acc):.2f} ± {statistics.stdev(acc):.2f}" if len(acc) > 1 else fmt(acc[0]),
                        fmt(min(acc)), fmt(max(acc)), fmt(statistics.median(epoch)) if epoch else "",
                        fmt(statistics.mean(r["load"] for r in runs), 1)])
    shape = steps_and_images(sizes, num_train)
    reading = ""
    if len(summary) == 2:
        pairs = [(f, m) for f in rows for m in rows if f["seed"] == m["seed"] and not f["multi_scale"] and m["multi_scale"]]
        gain = statistics.mean(100 * (m["test_accuracy"] - f["test_accuracy"]) for f, m in pairs)
        ratio = statistics.median(m["median_epoch_s"] / f["median_epoch_s"] for f, m in pairs
                                  if m["median_epoch_s"] and f["median_epoch_s"])
        reading = (f"Multi-scale minus fixed, same seed: {gain:+.2f} points of test accuracy on average over "
                   f"{len(pairs)} seeds; epoch time ratio (multi-scale / fixed, median over seeds) {ratio:.2f}, "
                   "under the loads in the last column. Over the same epochs the multi-scale run makes "
                   f"{shape['multi-scale'][0]} instead of {shape['plain'][0]} optimizer steps per epoch, "
                   "and most of its images are seen at another size than the test's.")
    changes = (" (also changed for so few epochs: " + ", ".join(f"`{o}`" for o in overrides) + ")") if overrides else ""
    per_size = ", ".join(f"{s}: {b}" for s, b in shape["batch_sizes"].items())
    body = f"""
`{RECIPE}` (MobileViT-XXS, 64 x 64 inputs, batch 64, EMA weights kept on validation) for **{epochs}
epochs** instead of the recipe's 40, so that the six runs fit in about 25 minutes on 2 shared
cores{changes}; with and without the recipe key `multi_scale: {{"sizes": {list(sizes)}}}`: MobileViT's
sampler (Mehta & Rastegari, ICLR 2022, section 3.3), the paper's 160 ... 320 around 256 scaled to
40 ... 80 around 64. Batch per size ({per_size}) keeps batch x pixels about constant; a
fixed-64 epoch is {shape['plain'][0]} steps of 64 images, a multi-scale epoch
{shape['multi-scale'][0]} steps of {shape['multi-scale'][1]:.1f} images on average (the same
{num_train} training images about once). Validation and test run at 64 x 64 on the same test
split ({rows[0]['test_size']} images) for every seed.

The machine was shared: other trainings ran at the same time, and the load average (sampled
every 5 s during each run) is given per run. Runs of one seed ran back to back, in alternating
order. Compare the two samplers within this file only.

## Summary

{markdown_table(["sampler", "runs", "test accuracy % (mean ± sd)", "min", "max", "median epoch s (median of runs)", "load"], summary)}

{reading}

## Runs

{table}

Median epoch s: the median over epochs 2 ... {epochs} (the first builds the graphs). Train s: the
whole `fit`, graph building included.
"""
    return body


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the recipe's 40)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="key=value recipe change for both samplers (repeatable)")
    parser.add_argument("--out", default="runs/multiscale_digits")
    parser.add_argument("--rows", help="re-tabulate this results.json instead of training")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks/multiscale_digits.md")
    args = parser.parse_args()
    stamp = run_stamp("benchmarks/multiscale_digits.py")
    if args.rows:
        with open(args.rows, encoding="utf-8") as f:
            saved = json.load(f)
        rows, stamp = saved["rows"], saved["stamp"]
        args.epochs, args.sizes, num_train = saved["epochs"], saved["sizes"], saved["num_train"]
        args.overrides = saved.get("overrides", [])
    else:
        rows = []
        for seed in args.seeds:
            order = (False, True) if seed % 2 == 0 else (True, False)
            for multi in order:
                out = os.path.join(args.out, f"seed{seed}_{'multiscale' if multi else 'fixed'}")
                rows.append(run_one(seed, multi, args.epochs, out, args.sizes, args.overrides))
                print(json.dumps(rows[-1]), flush=True)
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
            num_train = json.load(f)["num_train"]
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
            json.dump({"stamp": stamp, "epochs": args.epochs or 40, "sizes": args.sizes, "num_train": num_train,
                       "overrides": args.overrides, "rows": rows}, f, indent=1)
    body = report(rows, args.sizes, args.epochs or 40, num_train, args.overrides)
    print(body)
    if args.write:
        print(write_result("multiscale_digits", "MobileViT's multi-scale sampler on digits", stamp, body))


if __name__ == "__main__":
    main()
