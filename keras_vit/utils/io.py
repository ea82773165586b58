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
import re
import secrets
import shutil
import signal
import socket
import threading
import zlib

TMP_PREFIX = ".tmp-"
# Part of every temporary name, so that a sweep on a shared filesystem only judges the
# processes of this machine (a pid says nothing about another host's processes).
_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"
_TMP_NAME = re.compile(r"^\.tmp-(?:[a-z]+-)?(\d+)-([0-9a-f]{4})[0-9a-f]{4}-")

__all__ = ["atomic_path", "atomic_write", "atomic_dir", "write_json", "write_bytes", "tmp_sibling",
           "remove_tmp", "cleanup_on_terminate", "sweep_stale", "make_parents"]


def make_parents(path):
    """Creates the missing folders above ``path``; returns them, deepest first, for :func:`remove_made`."""
    made, folder = [], os.path.dirname(os.path.abspath(path))
    while folder and not os.path.lexists(folder):
        made.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return made


def remove_made(folders):
    """Removes folders made by :func:`make_parents` that are still empty (after a failed write)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def tmp_sibling(path, tag=""):
    """A fresh hidden name in ``path``'s folder that ends like ``path`` (``.keras``, ``.weights.h5``).

    Writers such as ``model.save`` check the extension, so the temporary name keeps the whole
    basename; the ``.tmp-`` prefix keeps it out of globs such as ``epoch-*.keras``. The name
    holds the writer's pid, so :func:`sweep_stale` can tell a killed writer's leftovers.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    token = f"{os.getpid()}-{_HOST}{secrets.token_hex(2)}"
    return os.path.join(folder, f"{TMP_PREFIX}{tag}{token}-{os.path.basename(os.path.normpath(path))}")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def sweep_stale(folder):
    """Removes temporary files and folders of ours in ``folder`` whose writer is dead.

    A SIGKILL (or a power cut) skips every clean-up; the next write into the same folder
    removes what it left. Only names made by :func:`tmp_sibling` on this machine are
    considered, and only when the pid in the name no longer runs. Returns the removed paths.
    """
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for name in entries:
        match = _TMP_NAME.match(name)
        if match is None or match.group(2) != _HOST or _alive(int(match.group(1))):
            continue
        remove_tmp(os.path.join(folder, name))
        removed.append(os.path.join(folder, name))
    return removed


def _name_target(error, tmp, path):
    """An OSError about the temporary name speaks of the target instead (what the user asked for)."""
    if isinstance(error, OSError) and error.filename is not None and os.fspath(error.filename).startswith(tmp):
        error.filename = path


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
    made = make_parents(path)
    tmp = tmp_sibling(path)
    with cleanup_on_terminate():
        done = False
        try:
            yield tmp
            _refuse_folder(path)
            os.replace(tmp, path)
            done = True
        except OSError as error:
            _name_target(error, tmp, path)
            raise
        finally:
            remove_tmp(tmp)
            if not done:
                remove_made(made)


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
    made = make_parents(path)
    tmp = tmp_sibling(path)
    with cleanup_on_terminate():
        done = False
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
            done = True
        except OSError as error:
            _name_target(error, tmp, path)
            raise
        finally:
            remove_tmp(tmp)
            if not done:
                remove_made(made)
