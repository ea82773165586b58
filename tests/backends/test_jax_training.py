"""``keras-vit train --backend jax`` on two virtual CPU devices (``keras.distribution.DataParallel``):
the same losses as on one device, and a run killed mid-epoch resumes.

XLA splits the host CPU into two devices with ``--xla_force_host_platform_device_count=2``;
each global batch is then split in two, as on two GPUs.
"""
import json
import time

import numpy as np
import pytest

from tests.references import require_installed
from tests.training.helpers import TINY_RECIPE, start_python, stop

TWO_DEVICES = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
# float32: "auto" picks bfloat16 on CPUs with bf16 units, and the comparison wants float32 sums.
RECIPE = dict(TINY_RECIPE, epochs=2, mixed_precision="float32")


def _train(tmp_path, name, recipe, *extra, timeout=600):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(recipe))
    out = tmp_path / name
    args = ["-m", "keras_vit.training.cli", "--backend", "jax", "--recipe", str(path), "--output", str(out),
            "--progress", "epochs", *extra]
    process = start_python(args, tmp_path / f"{name}.log", **TWO_DEVICES)
    return process, out


def _finish(process, out, log, timeout=600):
    try:
        code = process.wait(timeout=timeout)
    finally:
        stop([process])
    assert code == 0, log.read_text()[-4000:]
    return json.loads((out / "metrics.json").read_text()), json.loads((out / "history.json").read_text())


@pytest.mark.slow
def test_two_devices_give_the_losses_of_one(tmp_path):
    require_installed("jax")
    one, out1 = _train(tmp_path, "one", RECIPE, "--strategy", "one_device")
    metrics1, history1 = _finish(one, out1, tmp_path / "one.log")
    two, out2 = _train(tmp_path, "two", RECIPE)
    metrics2, history2 = _finish(two, out2, tmp_path / "two.log")
    assert (metrics1["backend"], metrics1["replicas"], metrics1["strategy"]) == ("jax", 1, "OneDevice")
    assert (metrics2["backend"], metrics2["replicas"], metrics2["strategy"]) == ("jax", 2, "DataParallel")
    # The same batches, split in two: equal up to float32 summation order.
    np.testing.assert_allclose(history2["loss"], history1["loss"], rtol=1e-4)
    np.testing.assert_allclose(history2["val_loss"], history1["val_loss"], rtol=1e-4)
    assert abs(metrics2["test_accuracy"] - metrics1["test_accuracy"]) <= 1 / metrics1["num_test"]
    assert history1["loss"][1] < history1["loss"][0]


@pytest.mark.slow
def test_killed_two_device_run_resumes(tmp_path):
    require_installed("jax")
    # Batch 8: ~157 steps per epoch, a backup every 10 steps: the kill lands mid-epoch.
    recipe = dict(RECIPE, batch_size=8, backup_every_steps=10)
    first, out = _train(tmp_path, "run", recipe)
    latest = out / "backup" / "worker-0" / "latest.json"
    killed_at = None
    try:
        deadline = time.time() + 400
        while time.time() < deadline and first.poll() is None:
            if latest.exists():
                state = json.loads(latest.read_text())
                if state["epoch"] >= 1 and state["step"] >= 20:
                    killed_at = state
                    first.kill()  # SIGKILL: no cleanup
                    break
            time.sleep(0.05)
        first.wait(timeout=30)
    finally:
        stop([first])
    log = (tmp_path / "run.log").read_text()
    assert killed_at is not None, f"never reached a mid-epoch backup:\n{log[-3000:]}"
    assert not (out / "metrics.json").exists()

    (tmp_path / "run.log").rename(tmp_path / "first.log")
    second, _ = _train(tmp_path, "run", recipe)
    metrics, history = _finish(second, out, tmp_path / "run.log")
    log2 = (tmp_path / "run.log").read_text()
    assert "Resuming from epoch 2" in log2
    assert "\nepoch 1/2 " not in "\n" + log2  # the finished epoch is not repeated
    assert metrics["replicas"] == 2 and metrics["resumed_from"]["epoch"] == 1
    assert (metrics["resumed_from"]["epoch"], metrics["resumed_from"]["step"]) >= (killed_at["epoch"], killed_at["step"])
    assert history["epoch"] == [1, 2]
    assert metrics["test_accuracy"] > 0.3
