"""Reading checkpoint files into ``{name: numpy array}`` without ever running code from them.

- ``.safetensors``: plain tensors, no code by design.
- ``.npz``: ``numpy.load(allow_pickle=False)``, so object arrays are refused.
  Declared sizes are checked before anything is decompressed (no zip bombs).
- ``.pth``/``.bin``: our own restricted unpickler (:mod:`.torch_pickle`), which builds numpy
  arrays and refuses every global that is not a tensor or storage; torch is not needed.
- ``.keras``: every object its config names must be a Keras or registered object, then
  ``keras.saving.load_model(safe_mode=True)``, which refuses Lambda layers.
- A directory: a Hugging Face checkpoint (``model.safetensors``, sharded or not, or
  ``pytorch_model.bin``). Shards must be plain files inside that directory.
The format is found from the file's first bytes, not its extension.
"""
import json
import os
import zipfile

import numpy as np

from . import torch_pickle
from .errors import CheckpointReadError, UnsafeCheckpointError

HF_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
#: A zip member that inflates more than this many times its compressed size (and to more than
#: ``ZIP_RATIO_MIN_BYTES``) is refused: float weights barely compress (about 1.1x).
MAX_ZIP_RATIO = 50
ZIP_RATIO_MIN_BYTES = 1 << 20


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
    # safetensors first: an 8-byte little-endian header length, then the JSON header. Its
    # first byte can be 0x80 (a header of 128 + 256k bytes), like a pickle's protocol opcode.
    if len(head) >= 10 and head[8:10] == b'{"' and int.from_bytes(head[:8], "little") + 8 <= os.path.getsize(path):
        return "safetensors"
    if head[:1] == b"\x80":
        return "torch"  # legacy (non-zip) torch.save pickle
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"  # a header longer than the file: the safetensors reader says it is truncated
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


def _check_zip_sizes(path):
    """Refuses members whose declared size is out of proportion, before decompressing any."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointReadError(f"{path} is a truncated or corrupt zip archive: {exc}") from exc
    for info in infos:
        if info.file_size > ZIP_RATIO_MIN_BYTES and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise CheckpointReadError(
                f"{path}: member {info.filename} declares {info.file_size:,} bytes from {info.compress_size:,} "
                f"compressed (over {MAX_ZIP_RATIO}x); refusing to decompress it (a zip bomb, not weights)."
            )


def _read_npz(path):
    _check_zip_sizes(path)
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
    if zipfile.is_zipfile(path):
        _check_zip_sizes(path)
    obj = torch_pickle.load(path)
    for key in ("state_dict", "model", "model_state", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise CheckpointReadError(f"{path} does not hold a state dict (found {type(obj).__name__}).")
    return {str(key): value for key, value in obj.items() if isinstance(value, np.ndarray)}


def _is_keras_module(module):
    return module.split(".")[0] in ("keras", "keras_vit")


def check_keras_config(path):
    """Raises UnsafeCheckpointError if the `.keras` config names anything but Keras objects.

    Keras resolves ``{"module": ..., "class_name": ...}`` by importing the module; a config
    naming ``os.system`` is refused here, before Keras sees it. Objects of other packages are
    accepted when registered with ``keras.saving.register_keras_serializable``.
    """
    import keras

    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError) as exc:
        raise CheckpointReadError(f"{path} is a truncated or corrupt .keras file: {exc}") from exc
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            module = node.get("module")
            if module is None:
                continue
            registered = node.get("registered_name")
            # "builtins"/"function" is how Keras names a function; it looks the name up only
            # among registered objects and its own activations, losses and metrics.
            keras_function = module == "builtins" and node.get("class_name") == "function"
            if not isinstance(module, str) or not (
                keras_function
                or _is_keras_module(module)
                or (isinstance(registered, str) and keras.saving.get_registered_object(registered) is not None)
            ):
                raise UnsafeCheckpointError(
                    f"{path} names {module}.{node.get('class_name')} in its config, which is neither a Keras "
                    "object nor a registered serializable one; refusing to load it (nothing was run)."
                )


def _read_keras(path):
    import keras

    check_keras_config(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise UnsafeCheckpointError(
                f"{path} contains a Lambda layer or other code; refusing to deserialize it (safe_mode=True)."
            ) from exc
        raise CheckpointReadError(f"{path} is not a loadable .keras file: {exc}") from exc
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, EOFError) as exc:
        raise CheckpointReadError(f"{path} is a truncated or corrupt .keras file: {str(exc)[:300]}") from exc
    return {v.path: np.asarray(v.numpy()) for v in model.weights}


def _shard_path(folder, index_name, shard):
    """The shard's path, refusing anything that is not a plain file in ``folder``."""
    if (
        not isinstance(shard, str)
        or shard in ("", ".", "..")
        or os.path.isabs(shard)
        or "/" in shard
        or "\\" in shard
        or shard.endswith(".json")
    ):
        raise CheckpointReadError(
            f"{os.path.join(folder, index_name)} names shard {shard!r}: shards must be checkpoint files "
            "directly inside the checkpoint folder (no folders, '..', absolute paths or indexes)."
        )
    full = os.path.join(folder, shard)
    if os.path.dirname(os.path.realpath(full)) != os.path.realpath(folder) or not os.path.isfile(full):
        raise CheckpointReadError(f"{os.path.join(folder, index_name)} names shard {shard!r}, which is not a file in {folder}.")
    return full


def _read_hf_index(folder, name):
    path = os.path.join(folder, name)
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (ValueError, OSError) as exc:
        raise CheckpointReadError(f"{path} is not a valid shard index (JSON): {exc}") from exc
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointReadError(f"{path} is not a shard index: it has no 'weight_map' object.")
    shards = list(weight_map.values())
    bad = next((shard for shard in shards if not isinstance(shard, str)), None)
    if bad is not None:
        raise CheckpointReadError(f"{path}: 'weight_map' values must be shard file names, found {bad!r}.")
    paths = [_shard_path(folder, name, shard) for shard in sorted(set(shards))]  # all checked first
    state = {}
    for shard_path in paths:
        state.update(_read_file(shard_path))
    return state


def _read_hf_dir(path):
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if os.path.exists(os.path.join(path, name)):
            return _read_hf_index(path, name)
    for name in ("model.safetensors", "pytorch_model.bin"):
        if os.path.isfile(os.path.join(path, name)):
            return _read_file(os.path.join(path, name))
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
    return _read_file(path)


def _read_file(path):
    if not os.path.exists(path):
        raise CheckpointReadError(f"Weights file not found: {path}")
    if not os.path.isfile(path):
        raise CheckpointReadError(f"{path} is not a regular file.")
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
