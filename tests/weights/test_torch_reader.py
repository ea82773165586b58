"""Reading .pth/.bin without torch: exact arrays, refused code, truncation is never 'unsafe'."""
import collections
import os
import pickle
import sys

import numpy as np
import pytest

import keras_vit
from keras_vit.weights import torch_pickle
from keras_vit.weights.readers import read_checkpoint
from tests.references import require


def _state(torch):
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(6, 4, generator=gen)
    return collections.OrderedDict(
        [
            ("w32", torch.randn(3, 5, generator=gen)),
            ("transposed", base.t()),  # non-contiguous: strides (1, 4)
            ("sliced", torch.arange(20.0)[3:15:3]),  # storage offset and stride
            ("shared_view", base[2]),  # a second view of the same storage
            ("w16", torch.randn(4, 4, generator=gen).half()),
            ("bf16", torch.randn(7, generator=gen).to(torch.bfloat16)),
            ("i64", torch.tensor([1, -(2**40), 2**62], dtype=torch.int64)),
            ("i32", torch.tensor([[3, -4]], dtype=torch.int32)),
            ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
            ("f64", torch.randn(2, generator=gen, dtype=torch.float64)),
            ("scalar", torch.tensor(2.5)),
            ("empty", torch.zeros(0, 3)),
            ("param", torch.nn.Parameter(torch.randn(2, 2, generator=gen))),
        ]
    )


def _expected(torch, tensor):
    tensor = tensor.detach()
    return tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("wrapper", [None, "state_dict", "model"])
def test_arrays_equal_torch_exactly(tmp_path, monkeypatch, legacy, wrapper):
    torch = require("torch")
    state = _state(torch)
    obj = state if wrapper is None else {wrapper: state, "epoch": 7, "args": {"lr": 0.1}}
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
    got = read_checkpoint(path)
    assert list(got) == list(state)
    for key, tensor in state.items():
        want = _expected(torch, tensor)
        assert got[key].dtype == want.dtype and got[key].shape == want.shape, key
        np.testing.assert_array_equal(got[key], want, err_msg=key)
    assert got["w16"].dtype == np.float16 and got["i64"].dtype == np.int64 and got["bf16"].dtype == np.float32


def test_timm_checkpoint_pth_equals_safetensors(tmp_path):
    """A real timm state dict saved as .pth builds the same model as its .safetensors."""
    torch = require("torch")
    timm = require("timm")
    from safetensors.torch import save_file

    ref = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=1, num_classes=3)
    torch.save({"model": ref.state_dict()}, tmp_path / "timm.pth")
    save_file(ref.state_dict(), str(tmp_path / "timm.safetensors"))
    kwargs = dict(input_shape=(32, 32, 3), patch_size=8, depth=1, num_classes=3)
    a = keras_vit.create_model("vit_tiny_patch16_224", weights=str(tmp_path / "timm.pth"), **kwargs)
    b = keras_vit.create_model("vit_tiny_patch16_224", weights=str(tmp_path / "timm.safetensors"), **kwargs)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("payload", ["os.system", "eval", "numpy"])
def test_malicious_pickles_are_refused_and_never_run(tmp_path, legacy, payload):
    torch = require("torch")
    marker = tmp_path / "pwned"
    evil = {
        "os.system": _Exploit(marker),
        "eval": _Eval(),
        "numpy": np.ones(3),  # numpy's own reconstructor is not on the allow-list either
    }[payload]
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.ones(2), "payload": evil}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(keras_vit.UnsafeCheckpointError, match="refusing.*Nothing in the file was run"):
        read_checkpoint(path)
    assert not marker.exists()


def test_unsafe_message_does_not_suggest_weights_only_false(tmp_path):
    path = tmp_path / "evil.bin"
    path.write_bytes(pickle.dumps({"w": _Exploit(tmp_path / "pwned")}, protocol=2))
    with pytest.raises(keras_vit.UnsafeCheckpointError) as info:
        read_checkpoint(path)
    assert "weights_only" not in str(info.value)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_every_truncation_is_a_read_error_never_unsafe(tmp_path, legacy):
    torch = require("torch")
    full = tmp_path / "full.pth"
    torch.save(_state(torch), full, _use_new_zipfile_serialization=not legacy)
    data = full.read_bytes()
    cut = tmp_path / "cut.pth"
    step = 1 if legacy else 3
    cuts = list(range(1, len(data), step))
    for n in cuts:
        cut.write_bytes(data[:n])
        with pytest.raises(keras_vit.CheckpointReadError) as info:
            read_checkpoint(cut)
        assert not isinstance(info.value, keras_vit.UnsafeCheckpointError), n
    assert len(cuts) > 300


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_are_a_read_error(tmp_path, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path = tmp_path / "random.pth"
    # Half of them start like a pickle, so they reach the torch reader itself.
    path.write_bytes((b"\x80\x02" + data) if seed % 2 else data)
    with pytest.raises(keras_vit.CheckpointReadError):
        read_checkpoint(path)


def test_storage_size_is_checked_before_reading(tmp_path):
    """A zip whose storage declares more bytes than its tensors need is corrupt, not read."""
    import zipfile

    torch = require("torch")
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(4)}, good)
    bad = tmp_path / "bad.pth"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data/0"):
                data = data * 1000
            dst.writestr(info, data)
    with pytest.raises(keras_vit.CheckpointReadError, match="declares 16000 bytes"):
        torch_pickle.load(str(bad))
