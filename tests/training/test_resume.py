"""Kill a training process mid-epoch (SIGKILL) and restart the same command."""
import json
import os
import time

import pytest

from tests.training.helpers import TINY_RECIPE, start_python, stop


def _command(recipe, out):
    return ["-m", "keras_vit.training.cli", "--recipe", str(recipe), "--output", str(out),
            "--progress", "epochs"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path):
    recipe = tmp_path / "tiny.json"
    # Batch 8: ~160 steps per epoch; a backup every 10 steps, so the kill lands mid-epoch.
    recipe.write_text(json.dumps(dict(TINY_RECIPE, epochs=3, batch_size=8,
                                      backup_every_steps=10)))
    out = tmp_path / "run"
    latest = out / "backup" / "worker-0" / "latest.json"
    first = start_python(_command(recipe, out), tmp_path / "first.log")
    killed_at = None
    try:
        deadline = time.time() + 180
        while time.time() < deadline and first.poll() is None:
            if latest.exists():
                state = json.loads(latest.read_text())
                if state["epoch"] >= 1 and state["step"] >= 20:
                    killed_at = state
                    first.kill()  # SIGKILL: no cleanup, no chance to finish writing files.
                    break
            time.sleep(0.05)
        first.wait(timeout=30)
    finally:
        stop([first])
    log = (tmp_path / "first.log").read_text()
    assert killed_at is not None, f"never reached a mid-epoch backup:\n{log[-3000:]}"
    assert first.returncode != 0
    assert not (out / "metrics.json").exists()

    second = start_python(_command(recipe, out), tmp_path / "second.log")
    try:
        assert second.wait(timeout=240) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        stop([second])
    log2 = (tmp_path / "second.log").read_text()
    state = json.loads(latest.read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    resumed = metrics["resumed_from"]
    # It resumed at or after the position seen before the kill, never from scratch.
    assert resumed is not None and resumed["epoch"] >= 1
    assert (resumed["epoch"], resumed["step"]) >= (killed_at["epoch"], killed_at["step"])
    assert "Resuming from epoch" in log2
    assert "\nepoch 1/3 " not in "\n" + log2  # finished epochs are not repeated
    assert state == dict(state, epoch=3, step=0)
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3]
    assert metrics["test_accuracy"] > 0.5
    assert sorted(os.listdir(out / "checkpoints"))[-1] == "epoch-003.keras"
