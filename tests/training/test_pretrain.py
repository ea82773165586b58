"""``keras-vit pretrain``: BEiT masked image modeling from the command line, resumable, under
tf.distribute, ending in a backbone that create_model loads for fine-tuning."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_vit
from keras_vit.training.pretrain import main, pretrain

TINY = {"patch_size": 4, "embed_dim": 32, "depth": 2, "num_heads": 2}
ARGS = ["--model", "beit_base_patch16_224", "--image-size", "16", "--batch-size", "128"] + [
    a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]


def test_cli_pretrains_resumes_and_writes_a_loadable_backbone(tmp_path, capsys):
    out = tmp_path / "mim"
    assert main(ARGS + ["--output", str(out), "--epochs", "1"]) == 0
    first = json.loads((out / "metrics.json").read_text())
    assert first["epochs_run"] == 1 and np.isfinite(first["final_loss"])
    assert "keras-vit train --model beit_base_patch16_224 --weights" in capsys.readouterr().out
    # Re-running with more epochs resumes after the last backup: only the new epoch runs.
    assert main(ARGS + ["--output", str(out), "--epochs", "2"]) == 0
    second = json.loads((out / "metrics.json").read_text())
    assert second["epochs_run"] == 1
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2] and history["loss"][1] < history["loss"][0]
    # The backbone loads, all or nothing, into the same configuration for fine-tuning.
    from safetensors.numpy import load_file

    saved = load_file(str(out / "backbone.safetensors"))
    model = keras_vit.create_model("beit_base_patch16_224", weights=str(out / "backbone.safetensors"),
                                   input_shape=(16, 16, 3), num_classes=10, **TINY)
    for w in model.weights:
        if w.path in saved:
            np.testing.assert_array_equal(w.numpy(), saved[w.path])
    assert model.get_layer("blocks_0").attn.q_bias is not None


def test_bad_requests_are_one_line_errors(tmp_path, capsys):
    assert main(["--model", "vit_tiny_patch16_224", "--output", str(tmp_path / "x"), "--epochs", "1"]) == 2
    assert "pre-trains BEiT models" in capsys.readouterr().err
    with pytest.raises(ValueError, match="mask_ratio"):
        pretrain("beit_base_patch16_224", str(tmp_path / "y"), mask_ratio=1.5)
    with pytest.raises(ValueError, match="Unknown pretrain settings"):
        pretrain("beit_base_patch16_224", str(tmp_path / "z"), epoch=3)


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus(tmp_path):
    script = (
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from keras_vit.training.pretrain import pretrain\n"
        f"m = pretrain('beit_base_patch16_224', {str(tmp_path / 'm')!r}, strategy='mirrored', epochs=1, image_size=16,"
        f" batch_size=128, overrides={TINY!r}, verbose=0)\n"
        "assert m['epochs_run'] == 1, m\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "m" / "backbone.safetensors").exists()
