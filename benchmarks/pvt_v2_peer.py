"""PVT v2-b0 against keras-cv-attention-models' PVT_V2B0: float32 TFLite, builtin ops,
XNNPACK, 1 thread, timed interleaved in one process (random weights, 224x224).

    pip install keras-cv-attention-models   # the peer; skipped with a note when missing
    python benchmarks/pvt_v2_peer.py [--rounds 5] [--runs 20]

Both files take raw RGB pixels (the peer gets a Rescaling(1/255) in front, as ours has its
Preprocessing); both are converted with TFLITE_BUILTINS only through
``keras_vit.tflite.export_model`` and verified against their Keras model. The peer counts as
the same model only when its parameter count equals ours (3,666,760 with a 1000-class head).
The files are called in turn, one call at a time (``peers.time_alternating``). The table
gives each file's median and fastest call, the spread of the per-round medians, parameters, delegate
partitions, ops outside XNNPACK, and peer/ours.

kecam under Keras 3: imported as it is, kecam picks its TensorFlow backend (``tf.keras``
functions on Keras 3 symbolic tensors) and PVT_V2B0 fails with "A KerasTensor cannot be used
as input to a TensorFlow function" (``pvt.py``, ``attention_block_with_conv_down``). With
``KECAM_BACKEND=keras_core`` and ``keras`` standing in for ``keras_core`` *before its first
import*, kecam builds on ``keras.ops`` and works with Keras 3.15 (kecam 1.4.3):
``peers.import_kecam`` does that.
"""
import argparse
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # peers.py

from peers import import_kecam, time_alternating  # noqa: E402

OURS = "keras_vit pvt_v2_b0"
PEER = "kecam PVT_V2B0"
PEER_HELP = ("pip install keras-cv-attention-models (1.4.3 builds with Keras 3.15 through its keras_core backend, "
             "which this script selects)")


def kecam_pvt_v2_b0(size):
    import keras

    from keras_cv_attention_models import pvt

    inner = pvt.PVT_V2B0(input_shape=(size, size, 3), pretrained=None, classifier_activation=None)
    inputs = keras.Input((size, size, 3))
    return keras.Model(inputs, inner(keras.layers.Rescaling(1 / 255.0)(inputs)), name="kecam_pvt_v2_b0")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", help="folder to keep the .tflite files in (default: a temporary one)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    import ai_edge_litert
    import keras_vit
    from keras_vit.tflite import TFLiteRunner, export_model

    size = 224
    load_before = os.getloadavg()
    models = {OURS: lambda: keras_vit.create_model("pvt_v2_b0")}
    kecam_version = None
    try:
        kecam_version = import_kecam().__version__
        models[PEER] = lambda: kecam_pvt_v2_b0(size)
    except ImportError as exc:
        print(f"{PEER} skipped: {exc}. To compare: {PEER_HELP}.", file=sys.stderr)
    folder = args.keep or tempfile.mkdtemp(prefix="pvt_v2_peer_")
    os.makedirs(folder, exist_ok=True)
    runners, params, reports = {}, {}, {}
    for name, build in models.items():
        keras.utils.set_random_seed(0)
        try:
            model = build()
        except Exception as exc:  # a peer that does not build here is reported, not fatal
            print(f"{name} skipped: it does not build with Keras {keras.__version__}: "
                  f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}. {PEER_HELP}.", file=sys.stderr)
            continue
        params[name] = model.count_params()
        path = os.path.join(folder, name.replace(" ", "_") + ".tflite")
        result = export_model(model, path, quantize="none", num_verify=2, overwrite=True)
        assert result.passed, result.verification.summary()
        runners[name] = TFLiteRunner(path, num_threads=args.threads)
        reports[name] = runners[name].op_report()
        print(f"{name}: {params[name]:,} parameters; {reports[name].summary()}")
        keras.backend.clear_session()
    same_model = PEER in params and params[PEER] == params[OURS]
    if PEER in params and not same_model:
        print(f"{PEER} has {params[PEER]:,} parameters, ours {params[OURS]:,}: not the same model, no ratio.", file=sys.stderr)

    images = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    times = time_alternating(runners, {name: images for name in runners}, args.rounds, args.runs)
    load_after = os.getloadavg()
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    print()
    print(f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, TF {tf.__version__}, Keras {keras.__version__}, "
          f"LiteRT {getattr(ai_edge_litert, '__version__', '?')}, kecam {kecam_version or 'not installed'}; "
          f"pvt_v2_b0, {size}x{size}, float32, XNNPACK, {args.threads} thread(s), {args.rounds} rounds x "
          f"{args.runs} calls each, alternating call by call, after 2 warm-up; load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print()
    print("| model | params | median ms | min ms | round medians ms | partitions | ops outside XNNPACK | peer / ours |")
    print("|---|---|---|---|---|---|---|---|")
    ours = np.median(np.concatenate(times[OURS]))
    for name, runner in runners.items():
        report = reports[name]
        outside = "none" if report.fully_delegated else ", ".join(f"{k} x{v}" for k, v in report.outside.items())
        median, fastest = np.median(np.concatenate(times[name])), np.min(np.concatenate(times[name]))
        ratio = f"{median / ours:.2f}" if name == OURS or same_model else "- (not the same model)"
        rounds = ", ".join(f"{np.median(t):.1f}" for t in times[name])
        print(f"| {name} | {params[name]:,} | {median:.1f} | {fastest:.1f} | {rounds} | "
              f"{report.num_partitions} | {outside} | {ratio} |")
    if PEER not in runners:
        print(f"\nNo peer to compare with: {PEER_HELP}.")


if __name__ == "__main__":
    main()
