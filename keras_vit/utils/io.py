"""Atomic writes: a reader never sees half a file, and a failed write leaves nothing behind.

Every writer in the package goes through these helpers. The data goes to a temporary name in
the target's own folder (same filesystem, so the final ``os.replace`` is atomic) and is renamed
over the target only once complete. On any failure, Ctrl-C and SIGTERM included, the temporary
file or folder is removed and the target is left as it was.

Example:
    >>> with atomic_write("metrics.json") as f:
    ...     json.dump(metrics, f)
    >>> with atomic_path("model.keras") as tmp:   # for writers that take a path
    ...     model.save(tmp)
"""
import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import threading

TMP_PREFIX = ".tmp-"

__all__ = ["atomic_path", "atomic_write", "atomic_dir", "write_json", "write_bytes", "tmp_sibling",
           "remove_tmp", "cleanup_on_terminate"]


def tmp_sibling(path, tag=""):
    """A fresh hidden name in ``path``'s folder that ends like ``path`` (``.keras``, ``.weights.h5``).

    Writers such as ``model.save`` check the extension, so the temporary name keeps the whole
    basename; the ``.tmp-`` prefix keeps it out of globs such as ``epoch-*.keras``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return os.path.join(folder, f"{TMP_PREFIX}{tag}{token}-{os.path.basename(os.path.normpath(path))}")


def remove_tmp(path):
    """Remove a temporary file or folder made by these helpers, if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def cleanup_on_terminate():
    """Turn SIGTERM into ``SystemExit`` inside the block, so ``finally`` clean-ups run.

    Python's default SIGTERM ends the process without unwinding. Only the main thread can set
    handlers, and a handler somebody else installed is left alone.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _refuse_folder(path):
    if os.path.isdir(path):
        raise IsADirectoryError(
            errno.EISDIR, f"{path} is an existing folder; give the path of a file to write (nothing was changed)", path
        )


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; it becomes ``path`` when the block succeeds.

    For writers that take a file name (``model.save``, ``save_weights``). An existing file at
    ``path`` is replaced; an existing folder is refused (``IsADirectoryError``), never removed.
    """
    path = os.fspath(path)
    _refuse_folder(path)
    tmp = tmp_sibling(path)
    with cleanup_on_terminate():
        try:
            yield tmp
            _refuse_folder(path)
            os.replace(tmp, path)
        finally:
            remove_tmp(tmp)


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8"):
    """Opens a temporary file beside ``path`` for writing; it replaces ``path`` on success.

    The file is flushed and fsynced before the rename, so a crash right after still finds the
    whole content.
    """
    if "r" in mode or "a" in mode or "+" in mode:
        raise ValueError(f"atomic_write writes a new file; mode {mode!r} is not supported")
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_json(path, data, **dump_kwargs):
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    dump_kwargs = {"indent": 2, "sort_keys": True, **dump_kwargs}
    with atomic_write(path) as f:
        json.dump(data, f, **dump_kwargs)


def write_bytes(path, data):
    """Write ``data`` (bytes), atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def atomic_dir(path, replace_existing=False):
    """Yields a temporary folder path beside ``path``; it becomes ``path`` when the block succeeds.

    The caller decides whether an existing ``path`` may be replaced (``replace_existing``);
    otherwise an existing file or folder is refused with ``FileExistsError`` before anything is
    written. A replaced folder is renamed aside, the new one renamed in, and only then the old
    one removed; if the second rename fails, the old folder is put back.
    """
    path = os.path.normpath(os.fspath(path))
    if os.path.lexists(path) and not replace_existing:
        raise FileExistsError(errno.EEXIST, f"{path} already exists (nothing was changed)", path)
    tmp = tmp_sibling(path)
    with cleanup_on_terminate():
        try:
            yield tmp
            if not os.path.lexists(path):
                os.replace(tmp, path)
            elif not replace_existing:
                raise FileExistsError(errno.EEXIST, f"{path} appeared while writing (nothing was changed)", path)
            else:
                old = tmp_sibling(path, tag="old-")
                os.replace(path, old)
                try:
                    os.replace(tmp, path)
                except BaseException:
                    os.replace(old, path)
                    raise
                remove_tmp(old)
        finally:
            remove_tmp(tmp)
