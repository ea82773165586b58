"""Reading checkpoint files into ``{name: numpy array}`` without ever running code from them.

- ``.safetensors``: plain tensors, no code by design.
- ``.npz``: ``numpy.load(allow_pickle=False)``, so object arrays are refused.
- ``.pth``/``.bin``: only through ``torch.load(weights_only=True)``, which refuses pickled
  code; torch is needed for these files alone.
- ``.keras``: ``keras.saving.load_model(safe_mode=True)``, which refuses Lambda layers.
- A directory: a Hugging Face checkpoint (``model.safetensors``, sharded or not, or
  ``pytorch_model.bin``).
The format is found from the file's first bytes, not its extension.
"""
import json
import os
import pickle
import zipfile

import numpy as np

from .errors import CheckpointReadError, UnsafeCheckpointError

HF_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def _sniff(path):
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x89HDF"):
        return "h5"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile as exc:
            raise CheckpointReadError(f"{path} looks like a zip archive but is truncated or corrupt: {exc}") from exc
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        raise CheckpointReadError(f"{path} is a zip archive of unknown content ({names[:5]}...).")
    if head[:1] == b"\x80":
        return "torch"  # legacy (non-zip) torch.save pickle
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    raise CheckpointReadError(
        f"{path}: unknown checkpoint format. Expected .safetensors, .npz, .pth/.bin (torch), .keras, "
        "a .weights.h5 file or a Hugging Face checkpoint directory."
    )


def _read_safetensors(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointReadError(f"{path} is not a valid safetensors file (truncated or corrupt?): {exc}") from exc


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise UnsafeCheckpointError(
                f"{path} contains pickled Python objects; refusing to unpickle them. Checkpoints must hold plain arrays."
            ) from exc
        raise CheckpointReadError(f"{path} is not a valid .npz file: {exc}") from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointReadError(f"{path} is a truncated or corrupt .npz file: {exc}") from exc


def _read_torch(path):
    try:
        import torch
    except ImportError as exc:
        raise CheckpointReadError(
            f"{path} is a PyTorch checkpoint; reading it needs torch (`pip install keras-vit[torch]`). "
            "Alternatively convert it to .safetensors."
        ) from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path} contains pickled code or objects that are not plain tensors; refusing to load it "
            f"(torch weights-only loader said: {str(exc).splitlines()[0]})."
        ) from exc
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointReadError(f"{path} is a truncated or corrupt PyTorch checkpoint: {exc}") from exc
    for key in ("state_dict", "model", "model_state", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise CheckpointReadError(f"{path} does not hold a state dict (found {type(obj).__name__}).")
    out = {}
    for key, value in obj.items():
        if hasattr(value, "detach"):
            out[key] = value.detach().to(torch.float32 if value.is_floating_point() else value.dtype).numpy()
    return out


def _read_keras(path):
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise UnsafeCheckpointError(
                f"{path} contains a Lambda layer or other code; refusing to deserialize it (safe_mode=True)."
            ) from exc
        raise CheckpointReadError(f"{path} is not a loadable .keras file: {exc}") from exc
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointReadError(f"{path} is a truncated or corrupt .keras file: {exc}") from exc
    return {v.path: np.asarray(v.numpy()) for v in model.weights}


def _read_hf_dir(path):
    index = None
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if os.path.exists(os.path.join(path, name)):
            with open(os.path.join(path, name)) as f:
                index = json.load(f)
            break
    if index is not None:
        state = {}
        for shard in sorted(set(index["weight_map"].values())):
            state.update(read_checkpoint(os.path.join(path, shard)))
        return state
    for name in ("model.safetensors", "pytorch_model.bin"):
        if os.path.exists(os.path.join(path, name)):
            return read_checkpoint(os.path.join(path, name))
    raise CheckpointReadError(f"{path} is a directory without a checkpoint; expected one of {HF_FILES}.")


def read_checkpoint(path):
    """Reads a checkpoint file or Hugging Face directory into ``{key: np.ndarray}``.

    Raises:
        CheckpointReadError: missing, truncated, corrupt or unknown file.
        UnsafeCheckpointError: the file holds code or pickled objects (nothing is executed).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return _read_hf_dir(path)
    if not os.path.exists(path):
        raise CheckpointReadError(f"Weights file not found: {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointReadError(f"Weights file {path} is empty.")
    kind = _sniff(path)
    if kind == "h5":
        raise CheckpointReadError(
            f"{path} is an HDF5 .weights.h5 file; load it with model.load_weights(path) on the same architecture, "
            "or pass a .keras or .safetensors file as weights=."
        )
    reader = {"safetensors": _read_safetensors, "npz": _read_npz, "torch": _read_torch, "keras": _read_keras}[kind]
    state = reader(path)
    if not state:
        raise CheckpointReadError(f"{path} holds no tensors.")
    return state
