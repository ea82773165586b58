"""Failure modes of weights loading: every one gets a clear error and leaves the model intact."""
import os
import pickle
import zipfile

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.weights.readers import read_checkpoint
from tests.references import require

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


def tiny(**kwargs):
    return keras_vit.create_model("vit_tiny_patch16_224", **{**TINY, **kwargs})


def images(n=2):
    return np.random.default_rng(0).uniform(0, 255, (n, 32, 32, 3)).astype("float32")


@pytest.fixture
def saved(tmp_path):
    model = tiny()
    path = tmp_path / "tiny.safetensors"
    keras_vit.save_weights(model, str(path))
    return model, path


def test_own_safetensors_round_trip(saved):
    model, path = saved
    loaded = tiny(weights=str(path))
    np.testing.assert_allclose(loaded.predict(images(), verbose=0), model.predict(images(), verbose=0), atol=1e-6)


def test_keras_file_as_weights(tmp_path):
    model = tiny()
    model.save(str(tmp_path / "m.keras"))
    loaded = tiny(weights=str(tmp_path / "m.keras"))
    np.testing.assert_allclose(loaded.predict(images(), verbose=0), model.predict(images(), verbose=0), atol=1e-6)


def test_other_num_classes_loads_all_but_head(saved):
    model, path = saved
    with pytest.warns(UserWarning, match="except the classifier head"):
        other = tiny(weights=str(path), num_classes=3)
    np.testing.assert_array_equal(other.get_layer("blocks_1").weights[0].numpy(), model.get_layer("blocks_1").weights[0].numpy())
    features = tiny(weights=str(path), include_top=False, pooling="token")
    assert features.output_shape == (None, 32)


@pytest.mark.parametrize("headless", [dict(features_only=True), dict(include_top=False)])
def test_full_checkpoint_loads_into_a_headless_model(tmp_path, headless):
    # EfficientViT's head has layers before the classifier (head_in_conv, head_fc, head_norm):
    # a model without its top lacks them, and a full checkpoint must still load into it.
    spec = keras_vit.get_model_spec("efficientvit_b0")
    full = keras_vit.create_model("efficientvit_b0", **spec.tiny)
    path = tmp_path / "full.safetensors"
    keras_vit.save_weights(full, str(path))
    config = {k: v for k, v in spec.tiny.items() if k != "num_classes"}
    model = keras_vit.create_model("efficientvit_b0", weights=str(path), **config, **headless)
    x = np.random.default_rng(0).uniform(0, 255, (1,) + tuple(config["input_shape"])).astype("float32")
    reference = keras_vit.create_model("efficientvit_b0", **config, **headless)
    full_weights = {w.path: w for w in full.weights}
    for w in reference.weights:
        w.assign(full_weights[w.path])
    got, want = model.predict(x, verbose=0), reference.predict(x, verbose=0)
    for a, b in zip(keras.tree.flatten(got), keras.tree.flatten(want)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # A model with its top still refuses arrays it does not have.
    with pytest.raises(keras_vit.WeightsMismatchError):
        keras_vit.create_model("vit_tiny_patch16_224", weights=str(path), **TINY)


def test_changed_resolution_resamples(saved):
    _, path = saved
    model = tiny(weights=str(path), input_shape=(48, 48, 3))
    assert model.get_layer("pos_embed").weights[0].shape == (1, 37, 32)


def test_other_architecture_lists_mismatches(saved):
    _, path = saved
    fresh = tiny(embed_dim=64)
    before = [w.numpy().copy() for w in fresh.weights]
    with pytest.raises(keras_vit.WeightsMismatchError, match=r"blocks_0/attn/qkv/kernel: checkpoint \(32, 96\), model \(64, 192\)"):
        tiny(embed_dim=64, weights=str(path))
    with pytest.raises(keras_vit.WeightsMismatchError, match=r"missing from the checkpoint:\n  blocks_2"):
        tiny(depth=3, weights=str(path))
    # Nothing was assigned to a model whose load failed.
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, fresh.weights))


def test_foreign_checkpoint_of_another_family(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "resnet.safetensors"
    save_file({"conv1.weight": np.zeros((64, 3, 7, 7), "float32"), "fc.weight": np.zeros((1000, 2048), "float32")}, str(path))
    with pytest.raises(keras_vit.WeightsMismatchError, match="Not a ViT checkpoint.*conv1.weight"):
        tiny(weights=str(path))


def test_unmatched_foreign_keys_are_listed(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "timm.safetensors"
    save_file({"patch_embed.proj.weight": np.zeros((32, 3, 8, 8), "float32"), "blocks.0.attn.rel_pos": np.zeros((3,), "float32")}, str(path))
    with pytest.raises(keras_vit.WeightsMismatchError, match=r"blocks.0.attn.rel_pos \(3,\)"):
        tiny(weights=str(path))


def test_missing_file():
    with pytest.raises(ValueError, match="neither a weights tag .* nor an existing file"):
        tiny(weights="/no/such/file.safetensors")
    with pytest.raises(keras_vit.CheckpointReadError, match="not found"):
        read_checkpoint("/no/such/file.npz")


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".pth", ".keras"])
def test_truncated_files(tmp_path, suffix):
    model = tiny()
    full = tmp_path / f"full{suffix}"
    if suffix == ".safetensors":
        keras_vit.save_weights(model, str(full))
    elif suffix == ".npz":
        np.savez(full, **{"embedding/kernel": np.ones((8, 8, 3, 32), "float32")})
    elif suffix == ".pth":
        torch = require("torch")
        torch.save({"patch_embed.proj.weight": torch.ones(32, 3, 8, 8)}, str(full))
    else:
        model.save(str(full))
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(keras_vit.CheckpointReadError, match="truncated or corrupt|not a valid"):
        tiny(weights=str(cut))


def test_garbage_and_empty_files(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(keras_vit.CheckpointReadError, match="unknown checkpoint format"):
        tiny(weights=str(junk))
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(keras_vit.CheckpointReadError, match="empty"):
        tiny(weights=str(empty))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pth_is_refused_and_not_run(tmp_path):
    torch = require("torch")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"patch_embed.proj.weight": torch.ones(1), "payload": _Exploit(marker)}, str(path))
    with pytest.raises(keras_vit.UnsafeCheckpointError, match="refusing"):
        tiny(weights=str(path))
    assert not marker.exists()


def test_malicious_legacy_pickle_is_refused(tmp_path):
    require("torch")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    path.write_bytes(pickle.dumps({"w": _Exploit(marker)}, protocol=2))
    with pytest.raises(keras_vit.UnsafeCheckpointError):
        tiny(weights=str(path))
    assert not marker.exists()


def test_npz_with_pickled_objects_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    np.savez(path, **{"embedding/kernel": np.array([_Exploit(marker)], dtype=object)})
    with pytest.raises(keras_vit.UnsafeCheckpointError, match="pickled"):
        tiny(weights=str(path))
    assert not marker.exists()


def test_keras_file_with_lambda_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    marker_path = str(marker)
    inputs = keras.Input((4,))
    # The Lambda's code creates the marker whenever it runs: building the model here does,
    # so the marker is removed before the load that must not run it.
    outputs = keras.layers.Lambda(lambda x: (open(marker_path, "w").close(), x * 2)[1])(inputs)
    path = tmp_path / "evil.keras"
    keras.Model(inputs, outputs).save(str(path))
    assert marker.exists()
    marker.unlink()
    with zipfile.ZipFile(path) as zf:
        assert "config.json" in zf.namelist()
    with pytest.raises(keras_vit.UnsafeCheckpointError, match="Lambda"):
        tiny(weights=str(path))
    assert not marker.exists()
