"""Hostile checkpoints: typed errors, all-or-nothing loads, nothing read outside the folder."""
import json
import os
import re
import tracemalloc
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save_file

import keras_vit
from keras_vit.models.vit.convert import HF_RULES, TIMM_RULES
from keras_vit.weights.convert import apply_rules
from keras_vit.weights.loading import assign_weights
from keras_vit.weights.readers import read_checkpoint

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


def tiny(**kwargs):
    return keras_vit.create_model("vit_tiny_patch16_224", **{**TINY, **kwargs})


def _own_arrays(model):
    return {v.path: v.numpy().copy() for v in model.weights if "seed_generator" not in v.path}


# --- assign_weights: dtypes checked and cast before the first assignment --------------------


@pytest.mark.parametrize("bad", [np.array(["a"]), np.array([1 + 2j]), np.array([True]), np.array([None])],
                         ids=["str", "complex", "bool", "object"])
def test_non_numeric_array_assigns_nothing(bad):
    model = tiny()
    before = _own_arrays(model)
    arrays = {k: v + 1 for k, v in before.items()}
    victim = sorted(arrays)[-1]  # the last variable: every other one would be assigned first
    arrays[victim] = np.broadcast_to(bad, arrays[victim].shape)
    with pytest.raises(keras_vit.WeightsMismatchError, match=f"not real numbers:\\n  {victim}: checkpoint dtype"):
        assign_weights(model, arrays)
    after = _own_arrays(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_integer_arrays_are_cast_and_loaded():
    model = tiny()
    arrays = {k: np.ones(v.shape, np.int64) for k, v in _own_arrays(model).items()}
    assign_weights(model, arrays)
    assert all(np.all(v.numpy() == 1) for v in model.weights if "seed_generator" not in v.path)


def test_nan_and_inf_warn_naming_the_tensors():
    model = tiny()
    arrays = _own_arrays(model)
    arrays["blocks_0/attn/qkv/kernel"][0, 0] = np.nan
    arrays["norm/gamma"][1] = np.inf
    with pytest.warns(UserWarning, match=r"NaN or infinite values in 2 tensors: .*blocks_0/attn/qkv/kernel.*norm/gamma"):
        assign_weights(model, arrays)


# --- converters: typed errors naming key and shapes -----------------------------------------


def _hf_state(dim=32):
    s = {}
    for i, name in enumerate(("query", "key", "value")):
        s[f"encoder.layer.0.attention.attention.{name}.weight"] = np.zeros((dim + 8 * (name == "key"), dim), "float32")
    return s


def test_qkv_of_mismatched_shapes_is_a_mismatch_error():
    with pytest.raises(keras_vit.WeightsMismatchError,
                       match=r"blocks_0/attn/qkv/kernel: .* different shapes: encoder.layer.0.attention.attention.query.weight \(32, 32\), "
                             r"encoder.layer.0.attention.attention.key.weight \(32, 40\)"):
        apply_rules(_hf_state(), HF_RULES)


@pytest.mark.parametrize("key, shape", [("patch_embed.proj.weight", (32, 192)), ("blocks.0.attn.qkv.weight", (96, 32, 1))])
def test_wrong_rank_is_a_mismatch_error(key, shape):
    with pytest.raises(keras_vit.WeightsMismatchError, match=re.escape(f"{key} {shape}") + r".*needs a \d-D array, got shape"):
        apply_rules({key: np.zeros(shape, "float32")}, TIMM_RULES)


def test_wrong_rank_through_create_model(tmp_path):
    timm = pytest.importorskip("timm")
    ref = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=1, num_classes=3)
    state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    state["patch_embed.proj.weight"] = state["patch_embed.proj.weight"].reshape(192, -1)
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(keras_vit.WeightsMismatchError, match="patch_embed.proj.weight"):
        keras_vit.create_model("vit_tiny_patch16_224", weights=str(tmp_path / "bad.safetensors"),
                               input_shape=(32, 32, 3), patch_size=8, depth=1, num_classes=3)


# --- Hugging Face shard index ----------------------------------------------------------------


@pytest.fixture
def hf_dir(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    save_file({"a": np.ones(2, "float32")}, str(folder / "model-00001-of-00001.safetensors"))
    secret = tmp_path / "secret.safetensors"
    save_file({"stolen": np.ones(2, "float32")}, str(secret))
    return folder, secret


def _index(folder, value):
    text = value if isinstance(value, str) else json.dumps(value)
    (folder / "model.safetensors.index.json").write_text(text)


@pytest.mark.parametrize(
    "shard",
    ["../secret.safetensors", "ABS", "sub/model.safetensors", "..", "model.safetensors.index.json", "link.safetensors"],
    ids=["dotdot", "absolute", "subfolder", "parent", "self-reference", "symlink-out"],
)
def test_shard_paths_stay_inside_the_folder(hf_dir, shard):
    folder, secret = hf_dir
    (folder / "sub").mkdir()
    save_file({"a": np.ones(2, "float32")}, str(folder / "sub" / "model.safetensors"))
    os.symlink(secret, folder / "link.safetensors")
    shard = str(secret) if shard == "ABS" else shard
    _index(folder, {"weight_map": {"a": "model-00001-of-00001.safetensors", "stolen": shard}})
    with pytest.raises(keras_vit.CheckpointReadError, match="shard"):
        read_checkpoint(folder)


@pytest.mark.parametrize(
    "index",
    ["{not json", [], {"metadata": {}}, {"weight_map": []}, {"weight_map": {}}, {"weight_map": {"a": 3}}, "\xff"],
    ids=["bad-json", "list", "no-weight-map", "map-is-list", "empty-map", "non-string-shard", "binary"],
)
def test_malformed_index_is_a_read_error(hf_dir, index):
    folder, _ = hf_dir
    _index(folder, index)
    with pytest.raises(keras_vit.CheckpointReadError):
        read_checkpoint(folder)


def test_valid_index_reads_its_shards(hf_dir):
    folder, _ = hf_dir
    _index(folder, {"weight_map": {"a": "model-00001-of-00001.safetensors"}})
    assert list(read_checkpoint(folder)) == ["a"]


# --- .keras config naming code ---------------------------------------------------------------


def _rewrite_config(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config)
            zout.writestr(info, data)


def _system_layer(config):
    layer = config["config"]["layers"][-1]
    layer.update(module="os", class_name="system", registered_name=None)
    layer["config"] = {"command": "touch pwned"}


def _system_model(config):
    config.update(module="os", class_name="system", registered_name=None, config="touch pwned")


@pytest.mark.parametrize("edit", [_system_layer, _system_model], ids=["layer", "model"])
def test_keras_config_naming_os_system_is_unsafe(tmp_path, monkeypatch, edit):
    monkeypatch.chdir(tmp_path)
    model = tiny()
    model.save(tmp_path / "ok.keras")
    _rewrite_config(tmp_path / "ok.keras", tmp_path / "evil.keras", edit)
    with pytest.raises(keras_vit.UnsafeCheckpointError, match="os.system"):
        tiny(weights=str(tmp_path / "evil.keras"))
    from keras_vit.tflite.cli import main

    assert main(["export", str(tmp_path / "evil.keras"), "--format", "keras", "--output", "out.keras"]) == 1
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.keras").exists()


def test_own_keras_file_still_loads(tmp_path):
    model = tiny()
    model.save(tmp_path / "ok.keras")
    loaded = tiny(weights=str(tmp_path / "ok.keras"))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(model.weights, loaded.weights))


# --- .npz zip bomb ---------------------------------------------------------------------------


def test_npz_zip_bomb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, **{"embedding/kernel": np.zeros((4096, 4096), "float32")})  # 64 MB of zeros
    assert os.path.getsize(path) < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(keras_vit.CheckpointReadError, match="zip bomb"):
            read_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # the 64 MB array was never inflated


def test_compressed_npz_of_real_weights_still_loads(tmp_path):
    path = tmp_path / "w.npz"
    weights = np.random.default_rng(0).standard_normal((512, 1024)).astype("float32")
    np.savez_compressed(path, w=weights)
    np.testing.assert_array_equal(read_checkpoint(path)["w"], weights)

