"""Reading PyTorch ``.pth``/``.bin`` checkpoints as numpy arrays, without torch, running no code.

A ``torch.save`` file is a pickle whose tensors point at raw storages: in a zip archive
(``<name>/data.pkl`` and ``<name>/data/<key>``, the format since torch 1.6) or, in the legacy
format, as byte blocks after the pickles in one stream. We unpickle with an allow-list: the
few globals a state dict needs (``torch._utils._rebuild_tensor_v2``, ``_rebuild_parameter``,
the typed storages, ``collections.OrderedDict``, ``torch.Size``) map to our own functions that
build numpy arrays; any other global raises :class:`UnsafeCheckpointError` before anything
is called. Every pickle is first scanned to its STOP opcode with :mod:`pickletools`, which runs
nothing, so a truncated or corrupt file is a :class:`CheckpointReadError` and never mistaken
for an unsafe one.

bfloat16 tensors become float32 (numpy has no bfloat16); every other dtype is kept.
"""
import collections
import io
import os
import pickle
import pickletools
import struct
import zipfile

import numpy as np

from . import budget
from .budget import CheckpointTooLargeError
from .errors import CheckpointReadError, UnsafeCheckpointError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
BFLOAT16 = "bfloat16"
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": BFLOAT16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Refused(Exception):
    """A global outside the allow-list (turned into UnsafeCheckpointError)."""


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    @property
    def itemsize(self):
        return 2 if self.dtype == BFLOAT16 else np.dtype(self.dtype).itemsize

    def decode(self, raw, little_endian=True):
        if self.dtype == BFLOAT16:
            halves = np.frombuffer(raw, dtype="<u2" if little_endian else ">u2")
            return (halves.astype(np.uint32) << 16).view(np.float32)
        dtype = np.dtype(self.dtype).newbyteorder("<" if little_endian else ">")
        return np.frombuffer(raw, dtype=dtype).astype(np.dtype(self.dtype), copy=False)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise CheckpointReadError(f"a tensor points at {type(storage).__name__}, not a storage")
    size, stride, offset = tuple(int(s) for s in size), tuple(int(s) for s in stride), int(storage_offset)
    if len(size) != len(stride) or offset < 0 or min(size + stride, default=0) < 0:
        raise CheckpointReadError(f"a tensor has an invalid layout (size {size}, stride {stride}, offset {offset})")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    end = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if end > storage.size:
        raise CheckpointReadError(f"a tensor of size {size} reaches element {end} of a storage of {storage.size}")
    # A stride of 0 (or strides that overlap) makes a tensor larger than its storage: charged
    # before the copy, which is where the memory goes.
    budget.charge(int(np.prod(size)) * storage.itemsize, f"a tensor of size {size} (stride {stride})")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * storage.itemsize for s in stride), writeable=False
    )
    return np.array(view)


def _skip_tensor(*unused):
    return None


def _rebuild_parameter(data, *unused):
    return data


def _size(*dims):
    return tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else tuple(dims)


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): _size,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, load_storage, dry_run=False):
        super().__init__(file)
        self._load_storage = load_storage
        self._storages = {}
        self._dry_run = dry_run

    def find_class(self, module, name):
        try:
            found = ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(f"{module}.{name}") from None
        if self._dry_run and found is _rebuild_tensor:
            return _skip_tensor
        return found

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise CheckpointReadError(f"unexpected persistent id {str(pid)[:80]}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if key not in self._storages:
            self._storages[key] = self._load_storage(storage_type, key, numel)
        return self._storages[key]


def _scan(stream):
    """Checks that ``stream`` holds one complete pickle from its position; runs nothing."""
    start, opcode = stream.tell(), None
    for opcode, _, _ in pickletools.genops(stream):
        pass  # genops raises on a truncated or malformed stream and stops after STOP
    if opcode is None or opcode.name != "STOP":
        raise CheckpointReadError("the pickle ends before its STOP opcode")
    end = stream.tell()
    stream.seek(start)
    return end


def _unpickle(stream, load_storage=None, dry_run=False):
    end = _scan(stream)

    def no_storage(*args):
        raise CheckpointReadError("a storage where none is expected")

    value = _Unpickler(stream, load_storage or no_storage, dry_run).load()
    stream.seek(end)
    return value


def _read_zip(path, zf):
    names = zf.namelist()
    pkl = next(n for n in names if n.endswith("data.pkl"))
    prefix = pkl[: -len("data.pkl")]
    little = True
    if prefix + "byteorder" in names:
        little = zf.read(prefix + "byteorder").strip() != b"big"
    infos = {i.filename: i for i in zf.infolist()}

    def load_storage(storage_type, key, numel):
        name = f"{prefix}data/{key}"
        if name not in infos:
            raise CheckpointReadError(f"storage {key} is missing from the archive")
        expected = numel * storage_type.itemsize
        if infos[name].file_size != expected:  # checked before decompressing anything
            raise CheckpointReadError(
                f"storage {key} declares {infos[name].file_size} bytes, its tensors need {expected}"
            )
        budget.charge(expected, f"storage {key}")
        return storage_type.decode(zf.read(name), little)

    return _unpickle(io.BytesIO(zf.read(pkl)), load_storage)


def _read_legacy(f):
    magic = _unpickle(f)
    if magic != LEGACY_MAGIC:
        raise CheckpointReadError("a pickle that is not a PyTorch checkpoint")
    _unpickle(f)  # protocol version
    sys_info = _unpickle(f)
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    pending = {}

    def load_storage(storage_type, key, numel):
        pending[key] = (storage_type, numel)

    # The legacy format stores the data after the object pickle, so the object is unpickled
    # twice: once (building no tensor) to learn the storages, once with their arrays.
    start = f.tell()
    _unpickle(f, load_storage, dry_run=True)
    keys = _unpickle(f)
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(pending):
        raise CheckpointReadError("the storage list does not match the tensors")
    arrays, file_size = {}, os.fstat(f.fileno()).st_size
    for key in keys:
        storage_type, numel = pending[str(key)]
        header = f.read(8)
        if len(header) != 8:
            raise CheckpointReadError("the file ends inside the tensor data")
        (stored,) = struct.unpack("<q" if little else ">q", header)
        if stored != numel:
            raise CheckpointReadError(f"storage {key} holds {stored} elements, its tensors need {numel}")
        nbytes = numel * storage_type.itemsize
        if nbytes > file_size - f.tell():  # checked before allocating
            raise CheckpointReadError("the file ends inside the tensor data")
        budget.charge(nbytes, f"storage {key}")
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise CheckpointReadError("the file ends inside the tensor data")
        arrays[str(key)] = storage_type.decode(raw, little)
    f.seek(start)
    return _unpickle(f, lambda storage_type, key, numel: arrays[key])


def load(path):
    """The object ``torch.save`` wrote to ``path``, with tensors as numpy arrays.

    Raises:
        UnsafeCheckpointError: the pickle names a global outside the allow-list; nothing in
            the file was called.
        CheckpointReadError: truncated, corrupt or not a PyTorch checkpoint.
    """
    try:
        with open(path, "rb") as f:
            if f.read(2) == b"PK":  # a zip archive, whole or cut: never parsed as a pickle stream
                with zipfile.ZipFile(f) as zf:
                    return _read_zip(path, zf)
            f.seek(0)
            return _read_legacy(f)
    except _Refused as exc:
        raise UnsafeCheckpointError(
            f"{path} contains pickled code or objects that are not plain tensors (it names {exc}); "
            "refusing to load it. Nothing in the file was run."
        ) from None
    except CheckpointTooLargeError as exc:
        raise CheckpointTooLargeError(f"{path}: {exc}") from None
    except (CheckpointReadError, UnsafeCheckpointError) as exc:
        if str(exc).startswith(str(path)):
            raise
        raise CheckpointReadError(f"{path} is a truncated or corrupt PyTorch checkpoint: {exc}") from None
    except (Exception, RecursionError) as exc:  # any malformed pickle or archive
        raise CheckpointReadError(
            f"{path} is a truncated or corrupt PyTorch checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
