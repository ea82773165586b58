"""Helpers for the training tests: a tiny recipe, free loopback ports, subprocesses."""
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_SCRIPT = os.path.join(HERE, "worker_script.py")

# A ViT small enough that an epoch on digits takes a second or two on 2 CPU cores.
TINY_RECIPE = {
    "model": "vit_tiny_patch16_224",
    "model_overrides": {"patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2,
                        "mlp_ratio": 2.0},
    "image_size": 16,
    "data": "digits",
    "epochs": 2,
    "batch_size": 32,
    "learning_rate": 0.005,
    "warmup_epochs": 0.2,
    "drop_path_rate": 0.0,
    "randaugment_ops": 0,
    "mixup_alpha": 0.0,
    "cutmix_alpha": 0.0,
    "random_erasing": 0.0,
    "hflip": False,
    # The tests compare float32 numerics ("auto" picks mixed_bfloat16 on CPUs with AMX/AVX512-BF16).
    "mixed_precision": "float32",
}


def free_ports(n):
    """``n`` distinct free TCP ports on 127.0.0.1."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def subprocess_env(**extra):
    """Environment for child Python processes: quiet TF, no GPU, this checkout importable."""
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
                "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def start_python(args, log_path, **env):
    """Start ``python args...`` with output to ``log_path``; the caller must kill it."""
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                            env=subprocess_env(**env))


def stop(processes):
    """Kill any still-running child processes (by their own id) and reap them."""
    for p in processes:
        if p.poll() is None:
            p.kill()
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
