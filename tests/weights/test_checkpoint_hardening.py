"""Issue 24, checkpoints: small files that declare gigabytes are refused before allocating;
files of a dtype or config we cannot honour fail with one clear error."""
import errno
import json
import os
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

import keras_vit
from keras_vit.weights.errors import CheckpointReadError
from keras_vit.weights.readers import check_keras_config, read_checkpoint

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=5)


def tiny(**kwargs):
    return keras_vit.create_model("vit_tiny_patch16_224", **{**TINY, **kwargs})


def _peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


@pytest.fixture(scope="module")
def many_members_npz(tmp_path_factory):
    """256 members of 1 MiB of zeros each: 256 MiB declared, about 300 KB on disk."""
    path = tmp_path_factory.mktemp("npz") / "many.npz"
    zeros = np.zeros((1 << 18) - 32, np.float32)  # with its 128-byte header: 1 MiB, under the ratio check
    np.savez_compressed(path, **{f"w{i}": zeros for i in range(256)})
    assert os.path.getsize(path) < 1 << 20
    return str(path)


@pytest.fixture(scope="module")
def stride0_pth(tmp_path_factory):
    """A torch file whose one-element storage is viewed as a 2**14 x 2**14 tensor (1 GiB)."""
    torch = pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("pth") / "stride0.pth"
    torch.save({"w": torch.zeros(1).expand(1 << 14, 1 << 14)}, path)
    assert os.path.getsize(path) < 4096
    return str(path)


@pytest.mark.parametrize("fixture", ["many_members_npz", "stride0_pth"])
def test_create_model_refuses_a_checkpoint_larger_than_the_model_can_need(fixture, request):
    path = request.getfixturevalue(fixture)
    with pytest.raises(CheckpointReadError, match="over the .* bytes it can need .*model 'vit_tiny_patch16_224'"):
        tiny(weights=path)


@pytest.mark.parametrize("fixture", ["many_members_npz", "stride0_pth"])
def test_the_budget_is_checked_before_allocating(fixture, request):
    path = request.getfixturevalue(fixture)

    def read():
        with pytest.raises(CheckpointReadError, match="refusing before allocating"):
            read_checkpoint(path, max_bytes=8 << 20, reason="test")

    assert _peak_mib(read) < 8


def test_a_checkpoint_within_the_budget_loads(tmp_path):
    model = tiny()
    keras_vit.save_weights(model, tmp_path / "w.safetensors")
    again = tiny(weights=str(tmp_path / "w.safetensors"))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(model.weights, again.weights))


def _keras_zip(path, config_bytes, declared_padding=0):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("config.json", "w", force_zip64=True) as f:
            f.write(config_bytes)
            for _ in range(declared_padding >> 20):
                f.write(b" " * (1 << 20))
        zf.writestr("model.weights.h5", b"")


def test_keras_config_padded_to_megabytes_is_refused_before_inflating(tmp_path):
    path = tmp_path / "padded.keras"
    _keras_zip(path, b'{"class_name": "Functional", "config": {}}', declared_padding=24 << 20)
    assert os.path.getsize(path) < 1 << 20

    def check():
        with pytest.raises(CheckpointReadError, match="config.json declares"):
            check_keras_config(str(path))

    assert _peak_mib(check) < 4


@pytest.mark.parametrize("depth", [200, 100_000])
def test_deeply_nested_keras_config_is_refused(tmp_path, depth):
    path = tmp_path / "deep.keras"
    _keras_zip(path, b"[" * depth + b"]" * depth)
    with pytest.raises(CheckpointReadError, match="nests"):
        check_keras_config(str(path))


def test_safetensors_of_a_dtype_numpy_lacks_is_one_error(tmp_path):
    header = json.dumps({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "f8.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(CheckpointReadError, match="F8_E4M3"):
        read_checkpoint(path)


def _hf_folder(tmp_path, **config):
    from safetensors.numpy import save_file

    folder = tmp_path / "hf"
    folder.mkdir()
    save_file({"vit.embeddings.cls_token": np.zeros((1, 1, 4), np.float32)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "vit", **config}))
    return folder


@pytest.mark.parametrize("config, match", [({"hidden_act": "relu"}, "hidden_act='relu'"),
                                           ({"layer_norm_eps": 1e-2}, "layer_norm_eps=0.01")])
def test_hf_config_we_cannot_honour_is_refused(tmp_path, config, match):
    with pytest.raises(CheckpointReadError, match=match):
        read_checkpoint(_hf_folder(tmp_path, **config))


def test_hf_config_we_compute_is_read(tmp_path):
    state = read_checkpoint(_hf_folder(tmp_path, hidden_act="gelu", layer_norm_eps=1e-12))
    assert list(state) == ["vit.embeddings.cls_token"]


def test_save_weights_errors_name_the_target(tmp_path, monkeypatch):
    model = tiny()
    folder = tmp_path / "taken"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        keras_vit.save_weights(model, folder)
    assert info.value.filename == str(folder)

    import safetensors.numpy
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space" })')

    monkeypatch.setattr(safetensors.numpy, "save_file", full)
    target = tmp_path / "w.safetensors"
    with pytest.raises(OSError) as info:
        keras_vit.save_weights(model, target)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert sorted(os.listdir(tmp_path)) == ["taken"]
