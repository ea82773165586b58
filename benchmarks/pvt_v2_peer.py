"""PVT v2-b0 against keras-cv-attention-models' PVT_V2B0: float32 TFLite, builtin ops,
XNNPACK, 1 thread, timed interleaved in one process (random weights, 224x224).

    pip install keras-cv-attention-models   # the peer; skipped with a note when missing
    python benchmarks/pvt_v2_peer.py [--rounds 5] [--runs 10]

Both files take raw RGB pixels (the peer gets a Rescaling layer in front, as ours has its
Preprocessing); both are converted with TFLITE_BUILTINS only. The table gives each file's
median, the spread of the per-round medians, parameters, ops outside XNNPACK, and peer/ours.
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def kecam_pvt_v2_b0(size):
    import keras

    os.environ["KECAM_BACKEND"] = "keras_core"
    sys.modules.setdefault("keras_core", keras)
    from keras_cv_attention_models import pvt

    inner = pvt.PVT_V2B0(input_shape=(size, size, 3), pretrained=None, classifier_activation=None)
    inputs = keras.Input((size, size, 3))
    return keras.Model(inputs, inner(keras.layers.Rescaling(1 / 255.0)(inputs)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import keras_vit
    from keras_vit.tflite import TFLiteRunner, export_model

    size = 224
    models = {"keras_vit pvt_v2_b0": lambda: keras_vit.create_model("pvt_v2_b0")}
    try:
        import keras_cv_attention_models  # noqa: F401

        models["kecam PVT_V2B0"] = lambda: kecam_pvt_v2_b0(size)
    except ImportError:
        print("kecam skipped: pip install keras-cv-attention-models", file=sys.stderr)
    runners, params = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for name, build in models.items():
            keras.utils.set_random_seed(0)
            try:
                model = build()
            except Exception as exc:  # a peer that does not build here is reported, not fatal
                print(f"{name} skipped: it does not build with Keras {keras.__version__}: "
                      f"{str(exc).strip().splitlines()[0][:160]}", file=sys.stderr)
                continue
            params[name] = model.count_params()
            path = os.path.join(folder, name.replace(" ", "_") + ".tflite")
            result = export_model(model, path, quantize="none", num_verify=2)
            assert result.passed, result.verification.summary()
            runners[name] = TFLiteRunner(path, num_threads=1)
        times = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, runner in runners.items():
                times[name].append(np.median(runner.time_invoke(runs=args.runs, warmup=2)))
    load = os.getloadavg()[0]
    print(f"1 thread, {args.rounds} interleaved rounds x {args.runs} runs, load average {load:.1f}")
    print("| model | params | median ms | round medians ms | ops outside XNNPACK | peer / ours |")
    print("|---|---|---|---|---|---|")
    ours = np.median(times["keras_vit pvt_v2_b0"])
    for name, runner in runners.items():
        report = runner.op_report()
        outside = "none" if report.fully_delegated else ", ".join(f"{k}x{v}" for k, v in report.outside.items())
        median = np.median(times[name])
        print(f"| {name} | {params[name]:,} | {median:.1f} | {', '.join(f'{t:.1f}' for t in times[name])} | {outside} | "
              f"{median / ours:.2f} |")

    if len(runners) < 2:
        print("No peer to compare with (see the skipped peers above).")


if __name__ == "__main__":
    main()
