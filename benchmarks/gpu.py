"""Training and inference images/s on one GPU at bfloat16: keras-vit (TensorFlow, JAX) against
timm (PyTorch autocast, eager and ``torch.compile``), with logits parity on the same GPU.

For each model (default ViT-B/16, Swin-T, MobileViT-S; random weights, native input size):

* timm: ``torch.autocast("cuda", torch.bfloat16)``, eager and ``torch.compile``d, AdamW steps
  (forward, backward, update) and inference forwards, data already on the GPU;
* keras-vit on every Keras backend installed among TensorFlow and JAX, each in its own process
  (Keras picks its backend once, at import): ``mixed_bfloat16`` policy, ``jit_compile=True``,
  ``train_on_batch``/``predict_on_batch`` on tensors already on the device;
* parity: timm's random weights saved as safetensors and loaded with
  ``keras_vit.create_model(name, weights=path)``, float32 logits of the same images on the GPU,
  max |diff| relative to the logit range.

Implementations run one after another (different processes cannot interleave); each timing is
the median over ``--rounds`` blocks of ``--steps`` steps after ``--warmup`` steps. The table
goes to ``docs/benchmarks/gpu.md`` with the run stamp (GPU name, versions). Without a GPU the
script exits with a message; ``--cpu-smoke`` runs a tiny version on the CPU (ViT-Ti, batch 2,
one step, no ``torch.compile``) to check the script itself, and writes no table.

It runs with any subset of TensorFlow, JAX and PyTorch installed (what is missing is skipped).

Usage::

    python benchmarks/gpu.py [--models vit_base_patch16_224 swin_tiny_patch4_window7_224 mobilevit_s]
        [--batch 64] [--steps 10] [--warmup 3] [--rounds 3] [--no-compile] [--cpu-smoke]
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

MODELS = ("vit_base_patch16_224", "swin_tiny_patch4_window7_224", "mobilevit_s")
KERAS_BACKENDS = ("tensorflow", "jax")
NUM_CLASSES = 1000


def installed(module):
    return importlib.util.find_spec(module) is not None


def gpu_present():
    """Names of the frameworks that see a GPU (checked in subprocesses for TF/JAX, whose
    GPU runtimes must not start in this process next to PyTorch's)."""
    found = []
    if installed("torch"):
        import torch

        if torch.cuda.is_available():
            found.append("torch")
    probes = {"jax": "import jax; print(any(d.platform == 'gpu' for d in jax.devices()))",
              "tensorflow": "import tensorflow as tf; print(bool(tf.config.list_physical_devices('GPU')))"}
    for name, code in probes.items():
        if installed(name):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if out.stdout.strip().endswith("True"):
                found.append(name)
    return found


def _median_rate(step, batch, steps, warmup, rounds, sync):
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        times.append(time.perf_counter() - start)
    return batch * steps / statistics.median(times)


# ----------------------------------------------------------------------------- timm (PyTorch)

def timm_results(name, size, args, images, weights_path):
    """``{impl: {"train": img/s, "infer": img/s}}`` for timm, its float32 logits of ``images``
    (raw pixels) and the normalized images it saw (timm's own mean/std for the model)."""
    import timm
    import torch
    from safetensors.torch import save_file

    device = "cpu" if args.cpu_smoke else "cuda"
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES).to(device)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, weights_path)
    model.eval()
    mean = torch.tensor(model.pretrained_cfg["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(model.pretrained_cfg["std"], device=device).view(1, 3, 1, 1)
    with torch.no_grad():
        x = (torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).to(device) / 255.0 - mean) / std
        logits = model(x).float().cpu().numpy()
        normalized = x.cpu().numpy().transpose(0, 2, 3, 1).copy()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    dtype = torch.bfloat16
    batch = torch.randn(args.batch, 3, size, size, device=device)
    labels = torch.randint(0, NUM_CLASSES, (args.batch,), device=device)
    results = {}
    variants = [("timm eager", model)]
    if not args.no_compile:
        variants.append(("timm torch.compile", torch.compile(model)))
    for label, net in variants:
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)

        def train_step():
            with torch.autocast(device, dtype=dtype):
                loss = torch.nn.functional.cross_entropy(net(batch), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def infer_step():
            with torch.no_grad(), torch.autocast(device, dtype=dtype):
                net(batch)

        net.train()
        train = _median_rate(train_step, args.batch, args.steps, args.warmup, args.rounds, sync)
        net.eval()
        infer = _median_rate(infer_step, args.batch, args.steps, args.warmup, args.rounds, sync)
        results[label] = {"train": train, "infer": infer}
    return results, logits, normalized


# ----------------------------------------------------------------------------- keras-vit worker

def keras_worker(args):
    """Child process on one Keras backend: prints one JSON line with rates and logits."""
    import keras

    import keras_vit

    backend = keras.backend.backend()
    data = np.load(args.worker_data)
    images = data["images"]
    # Parity on timm's normalized images: the preprocessing prologue is not what is compared.
    model = keras_vit.create_model(args.model, weights=args.worker_weights, num_classes=NUM_CLASSES,
                                   include_preprocessing=False)
    logits = np.asarray(model.predict(images, verbose=0), "float32")
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = keras_vit.create_model(args.model, num_classes=NUM_CLASSES)
    size = model.input_shape[1]
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.uniform(0, 255, (args.batch, size, size, 3)).astype("float32"))
    y = keras.ops.convert_to_tensor(np.eye(NUM_CLASSES, dtype="float32")[rng.integers(0, NUM_CLASSES, args.batch)])
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), jit_compile=True,
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    # train_on_batch and predict_on_batch return host values: each step ends synchronized.
    train = _median_rate(lambda: model.train_on_batch(x, y), args.batch, args.steps, args.warmup,
                         args.rounds, lambda: None)
    infer = _median_rate(lambda: model.predict_on_batch(x), args.batch, args.steps, args.warmup,
                         args.rounds, lambda: None)
    print("RESULT " + json.dumps({"backend": backend, "train": train, "infer": infer,
                                  "logits": logits.tolist()}))


def keras_results(name, backend, args, data_path, weights_path):
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--model", name,
               "--worker-data", data_path, "--worker-weights", weights_path,
               "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--rounds", str(args.rounds)]
    env = dict(os.environ, KERAS_BACKEND=backend)
    if args.cpu_smoke:
        env["CUDA_VISIBLE_DEVICES"] = ""
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stdout + out.stderr)[-1500:]}
    return json.loads(lines[-1][len("RESULT "):])


def _gpu_name():
    if installed("torch"):
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (x{torch.cuda.device_count()})"
    return "seen by " + ", ".join(gpu_present())


def _relative(a, b):
    return float(np.abs(a - b).max()) / max(float(b.max() - b.min()), 1e-6)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip timm's torch.compile column")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="check the script on the CPU: ViT-Ti, batch 2, one step, no torch.compile, no table")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--worker-data", help=argparse.SUPPRESS)
    parser.add_argument("--worker-weights", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return keras_worker(args)
    # This process only reads the registry and runs timm: Keras on PyTorch (or JAX) here keeps
    # TensorFlow from loading next to PyTorch and from taking the GPU's memory.
    os.environ["KERAS_BACKEND"] = "torch" if installed("torch") else "jax"
    if installed("torch"):
        import torch  # noqa: F401  (before anything imports TensorFlow: the other order crashes)
    if args.cpu_smoke:
        args.models, args.batch, args.steps, args.warmup, args.rounds = ["vit_tiny_patch16_224"], 2, 1, 1, 1
        args.no_compile = True
    else:
        gpus = gpu_present()
        if not gpus:
            sys.exit("benchmarks/gpu.py: no GPU found (checked PyTorch, JAX and TensorFlow). It measures "
                     "GPUs only; run it with --cpu-smoke to check the script on this machine.")
        print(f"GPU visible to: {', '.join(gpus)}")
    backends = [b for b in KERAS_BACKENDS if installed(b)]
    have_torch = installed("torch") and installed("timm")
    if not backends:
        sys.exit("benchmarks/gpu.py: neither TensorFlow nor JAX is installed: nothing of ours to time")
    rows, parity_rows = [], []
    with tempfile.TemporaryDirectory(prefix="keras_vit_gpu_") as tmp:
        for name in args.models:
            import keras_vit  # noqa: F401  (spec only; Keras' backend here is irrelevant)

            size = keras_vit.get_model_spec(name).input_size[0]
            images = np.random.default_rng(1).uniform(0, 255, (4, size, size, 3)).astype("float32")
            data_path, weights_path = os.path.join(tmp, "data.npz"), os.path.join(tmp, f"{name}.safetensors")
            timm, reference = ({}, None)
            if have_torch:
                timm, reference, normalized = timm_results(name, size, args, images, weights_path)
                import torch

                torch.cuda.empty_cache()  # the Keras workers get the GPU's memory
                np.savez(data_path, images=normalized)
            for label, rate in timm.items():
                rows.append((name, label, f"{rate['train']:.1f}", f"{rate['infer']:.1f}"))
            for backend in backends:
                if reference is None:
                    rows.append((name, f"keras-vit {backend}", "needs timm for weights", ""))
                    continue
                result = keras_results(name, backend, args, data_path, weights_path)
                if "error" in result:
                    rows.append((name, f"keras-vit {backend}", "failed", ""))
                    print(f"{name} on {backend} failed:\n{result['error']}", file=sys.stderr)
                    continue
                rows.append((name, f"keras-vit {backend}", f"{result['train']:.1f}", f"{result['infer']:.1f}"))
                parity_rows.append((name, backend, f"{_relative(np.asarray(result['logits']), reference):.1e}"))
    from keras_vit.utils.benchmark import markdown_table, run_stamp, write_result

    table = markdown_table(("model", "implementation", f"train img/s (batch {args.batch})", "inference img/s"), rows)
    parity = markdown_table(("model", "Keras backend", "max |diff| / logit range vs timm (float32)"), parity_rows)
    print(table + "\n\n" + parity)
    if args.cpu_smoke:
        print("(--cpu-smoke: CPU numbers of a tiny run, not written anywhere)")
        return 0
    path = write_result("gpu", "GPU throughput at bfloat16: keras-vit against timm",
                        run_stamp("benchmarks/gpu.py") + f"; GPU: {_gpu_name()}",
                        table + "\n\n" + parity)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
