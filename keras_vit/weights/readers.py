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

from . import budget, torch_pickle
from .budget import CheckpointTooLargeError
from .errors import CheckpointReadError, UnsafeCheckpointError

HF_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
#: A zip member that inflates more than this many times its compressed size (and to more than
#: ``ZIP_RATIO_MIN_BYTES``) is refused: float weights barely compress (about 1.1x).
MAX_ZIP_RATIO = 50
ZIP_RATIO_MIN_BYTES = 1 << 20
#: A `.keras` config is JSON describing layers: a few hundred kB for the largest models.
MAX_KERAS_CONFIG_BYTES = 16 << 20
#: Keras configs nest layers in functional models a dozen levels deep; far deeper is an attack
#: on the recursive readers (json, Keras' deserializer).
MAX_KERAS_CONFIG_DEPTH = 100


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
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    budget.charge(os.path.getsize(path), "the safetensors file")  # every tensor is stored in full
    try:
        return dict(load_file(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointReadError(f"{path} is not a valid safetensors file (truncated or corrupt?): {exc}") from exc
    except (AttributeError, TypeError) as exc:  # a dtype numpy has no type for (F8_E4M3, F8_E5M2)
        try:
            with safe_open(path, framework="numpy") as f:
                dtypes = sorted({f.get_slice(k).get_dtype() for k in f.keys()})
        except Exception:  # the message below is enough without the list
            dtypes = []
        raise CheckpointReadError(
            f"{path} holds tensors of a dtype numpy cannot represent ({', '.join(dtypes) or exc}); store the "
            "weights as float32, float16 or bfloat16."
        ) from None


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
    budget.charge(sum(info.file_size for info in infos), f"the {len(infos)} members of {path}")


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
            size = zf.getinfo("config.json").file_size
            if size > MAX_KERAS_CONFIG_BYTES:  # checked before inflating it
                raise CheckpointReadError(
                    f"{path}: its config.json declares {size:,} bytes; a model's config takes well under "
                    f"{MAX_KERAS_CONFIG_BYTES:,}. Refusing to read it."
                )
            config = json.loads(zf.read("config.json"))
    except RecursionError:
        raise CheckpointReadError(
            f"{path}: its config.json nests deeper than Python can parse; not a Keras model config."
        ) from None
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError) as exc:
        if isinstance(exc, CheckpointReadError):
            raise
        raise CheckpointReadError(f"{path} is a truncated or corrupt .keras file: {exc}") from exc
    stack = [(config, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_KERAS_CONFIG_DEPTH:
            raise CheckpointReadError(
                f"{path}: its config nests more than {MAX_KERAS_CONFIG_DEPTH} levels deep; a Keras model config "
                "nests a dozen. Refusing to deserialize it."
            )
        if isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
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


#: The activation each transformers ``model_type`` must name for our builders to compute the
#: same function (exact GELU; MobileViT's SiLU).
HF_ACTIVATIONS = {"vit": ("gelu",), "deit": ("gelu",), "beit": ("gelu",), "swin": ("gelu",), "pvt_v2": ("gelu",),
                  "cvt": ("gelu",), "dat": ("gelu",), "mobilevit": ("silu", "swish"), "mobilevitv2": ("swish", "silu")}
#: Our layer norms use 1e-6 (1e-5 in some families); a checkpoint trained with an epsilon well
#: above that normalizes differently (1e-2 moves ViT's logits by 0.18).
HF_MAX_LAYER_NORM_EPS = 1e-5


def check_hf_config(folder):
    """Refuses a transformers folder whose ``config.json`` asks for what our models do not compute.

    ``hidden_act`` must be the activation of the family, and ``layer_norm_eps`` at most
    ``HF_MAX_LAYER_NORM_EPS``: the weights would load into a model computing another function.
    A folder without ``config.json`` is not checked.
    """
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return
    if os.path.getsize(path) > MAX_KERAS_CONFIG_BYTES:
        raise CheckpointReadError(f"{path} is {os.path.getsize(path):,} bytes: not a model config.")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (ValueError, OSError, RecursionError) as exc:
        raise CheckpointReadError(f"{path} is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(config, dict):
        raise CheckpointReadError(f"{path} is not a model config (a JSON object).")
    model_type, act = config.get("model_type"), config.get("hidden_act")
    allowed = HF_ACTIVATIONS.get(model_type)
    if act is not None and allowed is not None and act not in allowed:
        raise CheckpointReadError(
            f"{path} says hidden_act={act!r}, but the {model_type} models here compute {allowed[0]!r}; the weights "
            "would give other outputs. Convert the model with that activation in transformers first."
        )
    eps = config.get("layer_norm_eps")
    if eps is not None and (not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 <= eps <= HF_MAX_LAYER_NORM_EPS):
        raise CheckpointReadError(
            f"{path} says layer_norm_eps={eps!r}; the models here normalize with an epsilon of 1e-6 (at most "
            f"{HF_MAX_LAYER_NORM_EPS:g} is close enough). The weights would give other outputs."
        )


def _read_hf_dir(path):
    check_hf_config(path)
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if os.path.exists(os.path.join(path, name)):
            return _read_hf_index(path, name)
    for name in ("model.safetensors", "pytorch_model.bin"):
        if os.path.isfile(os.path.join(path, name)):
            return _read_file(os.path.join(path, name))
    raise CheckpointReadError(f"{path} is a directory without a checkpoint; expected one of {HF_FILES}.")


def read_checkpoint(path, max_bytes=None, reason=None):
    """Reads a checkpoint file or Hugging Face directory into ``{key: np.ndarray}``.

    Args:
        path: the file or folder.
        max_bytes: the most memory the arrays may take (``None``: no limit); checked before
            each allocation, so a small file declaring gigabytes is refused without using them.
            ``create_model`` passes :func:`keras_vit.weights.budget.checkpoint_budget`.
        reason: where ``max_bytes`` comes from, for the error message.

    Raises:
        CheckpointReadError: missing, truncated, corrupt or unknown file; or
            ``CheckpointTooLargeError``, a subclass, when it would take more than ``max_bytes``.
        UnsafeCheckpointError: the file holds code or pickled objects (nothing is executed).
    """
    path = os.fspath(path)
    with budget.limit(max_bytes, reason or "the limit given"):
        try:
            if os.path.isdir(path):
                return _read_hf_dir(path)
            return _read_file(path)
        except CheckpointTooLargeError as exc:
            if str(exc).startswith(path):
                raise
            raise CheckpointTooLargeError(f"{path}: {exc}") from None


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
