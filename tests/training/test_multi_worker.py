"""Real two-process MultiWorkerMirroredStrategy runs over loopback, with and without the fix."""
import json
import os

import numpy as np
import pytest

from tests.training.helpers import TINY_RECIPE, WORKER_SCRIPT, free_ports, start_python, stop

TIMEOUT = 240


def _run_workers(tmp_path, extra_args, env=None, name="w"):
    ports = free_ports(2)
    workers = ",".join(f"127.0.0.1:{p}" for p in ports)
    procs, logs = [], []
    try:
        for index in range(2):
            log = tmp_path / f"{name}{index}.log"
            logs.append(log)
            procs.append(start_python(
                extra_args(index, workers), log, **(env or {})))
        codes = [p.wait(timeout=TIMEOUT) for p in procs]
    finally:
        stop(procs)
    return codes, [log.read_text() for log in logs]


def _fit_args(tmp_path):
    def args(index, workers):
        return [WORKER_SCRIPT, "fit", "--strategy", "multi_worker", "--workers", workers,
                "--index", str(index), "--out", str(tmp_path / f"mw{index}.npz")]
    return args


def test_two_workers_match_each_other_and_single_worker(tmp_path):
    codes, logs = _run_workers(tmp_path, _fit_args(tmp_path))
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    single = start_python([WORKER_SCRIPT, "fit", "--strategy", "one_device",
                           "--out", str(tmp_path / "single.npz")], tmp_path / "single.log")
    try:
        assert single.wait(timeout=TIMEOUT) == 0, (tmp_path / "single.log").read_text()[-3000:]
    finally:
        stop([single])
    w0, w1, s = (np.load(tmp_path / f) for f in ("mw0.npz", "mw1.npz", "single.npz"))
    assert int(w0["replicas"]) == 2 and int(s["replicas"]) == 1
    weights = [k for k in w0.files if k.startswith("arr_")]
    assert weights
    for k in weights:
        np.testing.assert_array_equal(w0[k], w1[k])  # identical on both workers
        np.testing.assert_allclose(w0[k], s[k], rtol=1e-5, atol=1e-6)
    # Same global batches: the per-epoch losses match the single-worker run.
    np.testing.assert_allclose(w0["loss"], s["loss"], rtol=1e-5)
    assert w0["loss"][-1] < w0["loss"][0]  # it did train


@pytest.mark.slow
def test_upstream_keras_bug_still_present_without_fix(tmp_path):
    """Without our patch, Keras' model.fit fails under multi-worker. When this test fails,
    Keras has fixed the bug: set FIRST_FIXED_KERAS_VERSION in training/keras_fixes.py."""
    codes, logs = _run_workers(tmp_path, _fit_args(tmp_path),
                               env={"KERAS_VIT_DISABLE_KERAS_FIXES": "1"}, name="nofix")
    assert any(c != 0 for c in codes)
    text = "\n".join(logs)
    assert ("PerReplica" in text) or ("Invalid reduction dimension" in text), text[-3000:]


@pytest.mark.slow
def test_cli_train_on_two_workers(tmp_path):
    recipe = tmp_path / "tiny.json"
    recipe.write_text(json.dumps(dict(TINY_RECIPE, epochs=1)))
    out = tmp_path / "run"

    def args(index, workers):
        return ["-m", "keras_vit.training.cli", "--recipe", str(recipe), "--output", str(out),
                "--strategy", "multi_worker", "--workers", workers, "--worker-index",
                str(index), "--progress", "none"]

    codes, logs = _run_workers(tmp_path, args, name="cli")
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["workers"] == 2 and metrics["replicas"] == 2
    # The reported accuracy is the one the confusion matrix of the whole test split gives.
    matrix = np.asarray(metrics["confusion_matrix"])
    assert matrix.sum() == metrics["num_test"] and matrix.shape == (10, 10)
    assert metrics["test_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum(), abs=1e-6)
    assert os.path.isfile(out / "model.keras")
    # Each worker keeps its own backup, so no shared file system is needed to resume.
    for index in range(2):
        assert os.path.isfile(out / "backup" / f"worker-{index}" / "latest.json")
