"""The models on JAX and PyTorch: each backend in its own process, through the same tests.

Keras picks its backend once, at import, so every backend gets a child ``python -m pytest``
with ``KERAS_BACKEND`` set, running the tests ``selection.py`` chooses from the registry:
the tiny round trips, mixed precision, feature pyramids, a ``fit`` step, and one parity test
per family against its reference. TensorFlow, the default and the export backend, runs them
in the main suite. A failing child fails here with the end of its output.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.backends import selection
from tests.references import require_installed

BACKENDS = ("jax", "torch")

# XLA's CPU compiler at optimization level 0: the tests compile ~70 small programs once each,
# and this cuts the JAX run's CPU time by about a fifth (same ops, same float32 results within
# the tests' tolerances).
CHILD_ENV = {
    "jax": {"XLA_FLAGS": " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0",
                                                  "--xla_llvm_disable_expensive_passes=true"]))},
}
TIMEOUT = 1500  # seconds, under pytest.ini's 1800; on a 2-core machine the JAX child takes about 8 minutes


def child_env(backend, **extra):
    """The environment of a child process on ``backend``: this one's (thread limits included),
    without pytest-xdist's worker variables (the child runs its tests in one process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join(filter(None, [str(selection.ROOT), env.get("PYTHONPATH")])))
    env.update(extra)
    return env


def run_child(args, env, timeout=TIMEOUT, what="child"):
    """Run ``python args...`` in the repository root; fail with the output's tail unless it exits 0."""
    result = subprocess.run([sys.executable, *args], cwd=selection.ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"{what} exited with {result.returncode}:\n{output[-6000:]}", pytrace=False)
    return output


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_models_on_backend(backend, tmp_path):
    require_installed(backend)
    record = tmp_path / "selected.json"
    output = run_child(
        ["-m", "pytest", *selection.test_files(), "-p", "tests.backends.selection", "-p", "no:cacheprovider",
         "-n", "0", "-q", "-rfEs", "--durations=5", f"--basetemp={tmp_path / 'tmp'}"],
        child_env(backend, KERAS_VIT_BACKEND_SELECTION=str(record), **CHILD_ENV.get(backend, {})), what=f"pytest on {backend}")
    print(output[-4000:])
    selected = json.loads(record.read_text())
    missing = [f for f in selected["families"] if f not in selected["parity"]]
    assert not missing, (f"no parity test found for {missing} in tests/models/test_<family>*.py (a test "
                         f"name with 'parity', 'logits' or 'matches_timm'...; see tests/backends/selection.py)")
    tested = {item["family"] for item in selected["items"] if item["test"] in selection.ONE_TINY_PER_FAMILY}
    assert tested == set(selected["families"]), sorted(set(selected["families"]) - tested)
    assert " passed" in output and " failed" not in output
