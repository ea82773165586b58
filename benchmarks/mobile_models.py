"""The mobile models side by side: ImageNet top-1 (papers) against TFLite latency, and a plot.

    python benchmarks/mobile_models.py [--models mobilevit_xxs efficientvit_b0 ...] [--rounds 5] [--calls 10]

For each model (default: MobileViT v1/v2, EfficientViT-B0/B1, FastViT-T8/T12/SA12, PVT v2-b0,
DeiT-Ti) at its native input size, with random weights (latency does not depend on them): our
float32 TFLite file (FastViT in its folded inference form, as ``export_model`` writes it), our
dynamic-range int8 file and our int8 file with LayerNorm and attention in float (the mobile
preset's candidates), and, where keras-cv-attention-models builds the same architecture, its
float32 file. All files are timed side by side in one process with the shared harness (1
thread, XNNPACK, call by call, rotating rounds). Writes ``docs/benchmarks/mobile_models.md``
and the latency-accuracy plot ``docs/benchmarks/mobile_models.png``.

"Fastest export" is the fastest of our three files. Its accuracy is the paper's float32 top-1:
how much a quantized file loses depends on the trained weights, which is why ``--preset
mobile`` measures it on held-out data before choosing. The PyTorch-to-LiteRT path
(litert-torch) is compared in ``benchmarks/litert_torch_peer.py``.
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: ImageNet-1k top-1 (%) at the native resolution, as each paper (or its official release) reports it.
PAPER_TOP1 = {
    "mobilevit_xxs": (69.0, "MobileViT, Mehta & Rastegari 2022, Table 4"),
    "mobilevit_xs": (74.8, "MobileViT, Table 4"),
    "mobilevit_s": (78.4, "MobileViT, Table 4"),
    "mobilevitv2_050": (70.18, "MobileViT v2, Mehta & Rastegari 2022, Table 1 / ml-cvnets model zoo"),
    "mobilevitv2_075": (75.56, "MobileViT v2, ml-cvnets model zoo"),
    "mobilevitv2_100": (78.09, "MobileViT v2, ml-cvnets model zoo"),
    "efficientvit_b0": (71.6, "EfficientViT, Cai et al. 2023, official release (r224)"),
    "efficientvit_b1": (79.4, "EfficientViT, Table 7 (r224)"),
    "fastvit_t8": (75.6, "FastViT, Vasu et al. 2023, Table 2"),
    "fastvit_t12": (79.1, "FastViT, Table 2"),
    "fastvit_sa12": (80.6, "FastViT, Table 2"),
    "pvt_v2_b0": (70.5, "PVT v2, Wang et al. 2022, Table 1"),
    "deit_tiny_patch16_224": (72.2, "DeiT, Touvron et al. 2021, Table 1"),
}
DEFAULT_MODELS = ("mobilevit_xxs", "mobilevitv2_050", "efficientvit_b0", "efficientvit_b1", "fastvit_t8",
                  "fastvit_t12", "fastvit_sa12", "pvt_v2_b0", "deit_tiny_patch16_224")


def smooth_images(n, size, seed=0):
    """Calibration images with image-like statistics (blocky, smooth colours)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 8, 8, 3))
    x = np.repeat(np.repeat(coarse, -(-size // 8), axis=1), -(-size // 8), axis=2)[:, :size, :size]
    return np.clip(x + rng.normal(0, 12, x.shape), 0, 255).astype(np.float32)


def plot(rows, path):
    """Latency (log x) against top-1: one point per model and file kind, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for kind, marker, colour in (("float32", "o", "tab:blue"), ("fastest", "s", "tab:orange"),
                                 ("kecam float32", "^", "tab:gray")):
        points = [(r[kind], r["top1"], r["name"]) for r in rows if r.get(kind)]
        if not points:
            continue
        ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, color=colour, s=45,
                   label={"float32": "keras-vit float32", "fastest": "keras-vit fastest export",
                          "kecam float32": "keras-cv-attention-models float32"}[kind], zorder=3)
        if kind == "float32":
            for x, y, name in points:
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    for r in rows:  # an arrow from float32 to the fastest file of the same model
        if r.get("fastest") and r["fastest"] < r["float32"]:
            ax.annotate("", xy=(r["fastest"], r["top1"]), xytext=(r["float32"], r["top1"]),
                        arrowprops=dict(arrowstyle="->", color="tab:orange", alpha=0.6))
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("TFLite latency, ms (1 thread, XNNPACK; log scale)")
    ax.set_ylabel("ImageNet-1k top-1, % (paper)")
    ax.set_title("Mobile ViTs: accuracy against latency (up and left is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-peer", action="store_true", help="leave keras-cv-attention-models out")
    parser.add_argument("--results-dir", default=None, help="where to write the results (default docs/benchmarks)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models if m not in PAPER_TOP1]
    if unknown:
        parser.error(f"no paper top-1 recorded for {', '.join(unknown)}; known: {', '.join(PAPER_TOP1)}")

    import keras

    import keras_vit
    from keras_vit.tflite import export_model
    from keras_vit.tflite.runtime import invoker
    from keras_vit.utils import benchmark

    stamp = benchmark.run_stamp("benchmarks/mobile_models.py")
    variants = {"float32": dict(quantize="none"), "dynamic int8": dict(quantize="dynamic"),
                "int8, float transformer ops": dict(quantize="int8", float_ops="transformer")}
    fns, sizes, notes = {}, {}, []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            if name not in keras_vit.list_models():
                notes.append(f"{name}: not registered here")
                continue
            size = keras_vit.get_model_spec(name).input_size[0]
            sizes[name] = size
            keras.utils.set_random_seed(0)
            model = keras_vit.create_model(name)
            calibration = smooth_images(32, size)
            for label, kwargs in variants.items():
                path = os.path.join(folder, f"{name}_{len(fns)}.tflite")
                result = export_model(model, path, representative_data=calibration, num_calibration=32,
                                      num_verify=2, **kwargs)
                if label == "float32" and not result.passed:
                    notes.append(f"{name} float32: verification failed ({result.verification.summary()})")
                fns[(name, label)] = invoker(path, threads=args.threads)
            keras.backend.clear_session()
            if not args.no_peer and benchmark.peer_available("kecam") is None:
                try:
                    peer = benchmark.kecam_model(name, size)
                    path = os.path.join(folder, f"{name}_kecam.tflite")
                    export_model(peer, path, verify=False)
                    fns[(name, "kecam float32")] = invoker(path, threads=args.threads)
                except Exception as error:  # noqa: BLE001 - a peer that does not build is reported
                    notes.append(f"kecam {name}: {type(error).__name__}: {str(error).splitlines()[0][:120]}")
                keras.backend.clear_session()
            print(f"  exported {name}", file=sys.stderr, flush=True)
        rounds = benchmark.time_interleaved(fns, rounds=args.rounds, calls=args.calls)
    ms = {key: [1e3 * t for t in values] for key, values in rounds.items()}
    rows, table = [], []
    for name in sizes:
        float32 = benchmark.summarize(ms[(name, "float32")])[0]
        ours = {label: benchmark.summarize(ms[(name, label)])[0] for label in variants}
        fastest_label = min(ours, key=ours.get)
        peer = benchmark.summarize(ms[(name, "kecam float32")])[0] if (name, "kecam float32") in ms else None
        top1, source = PAPER_TOP1[name]
        rows.append({"name": name, "top1": top1, "float32": float32, "fastest": ours[fastest_label],
                     "kecam float32": peer})
        lo, hi = min(ms[(name, "float32")]), max(ms[(name, "float32")])
        table.append((name, sizes[name], f"{top1:.1f}", f"{float32:.2f} ({lo:.2f}-{hi:.2f})",
                      f"{ours['dynamic int8']:.2f}", f"{ours['int8, float transformer ops']:.2f}",
                      f"{ours[fastest_label]:.2f} ({fastest_label})",
                      f"{peer:.2f}" if peer else "-", f"{peer / float32:.2f}" if peer else "-", source))
    body = (f"Random weights, {args.threads} thread(s), XNNPACK, median of {args.rounds} interleaved rounds of "
            f"{args.calls} calls (float32: min-max of the round medians in brackets). Top-1 is the paper's float32 "
            "accuracy; a quantized file's own accuracy depends on the trained weights (the mobile preset measures "
            "it before choosing).\n\n![latency against accuracy](mobile_models.png)\n\n"
            + benchmark.markdown_table(("model", "input", "top-1 % (paper)", "float32 ms", "dynamic int8 ms",
                                        "int8 + float transformer ops ms", "fastest export ms",
                                        "kecam float32 ms", "kecam / ours float32", "top-1 source"), table))
    if notes:
        body += "\n\nNotes: " + "; ".join(notes)
    folder = args.results_dir or benchmark.RESULTS_DIR
    os.makedirs(folder, exist_ok=True)
    plot(rows, os.path.join(folder, "mobile_models.png"))
    path = benchmark.write_result("mobile_models", "Mobile models: accuracy against latency", stamp, body,
                                  folder=args.results_dir)
    print(open(path, encoding="utf-8").read())


if __name__ == "__main__":
    main()
