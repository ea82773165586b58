"""Downloading checkpoints into a local cache, atomically and with checksums."""
import errno
import hashlib
import os
import urllib.error
import urllib.request

from ..utils.io import atomic_write
from .errors import WeightsDownloadError

CACHE_ENV = "KERAS_VIT_CACHE"
#: errno values that mean the local disk or folder, not the network, is the problem.
LOCAL_ERRNOS = (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT, errno.EISDIR, errno.ENOTDIR)


def cache_dir():
    """The weights cache: ``$KERAS_VIT_CACHE`` or ``~/.keras/keras_vit``.

    Raises:
        WeightsDownloadError: the path is a file or cannot be created.
    """
    path = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".keras", "keras_vit")
    if os.path.exists(path) and not os.path.isdir(path):
        raise WeightsDownloadError(
            f"The weights cache {path} (${CACHE_ENV}) is a file, not a folder; point ${CACHE_ENV} at a folder."
        )
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise WeightsDownloadError(
            f"Cannot create the weights cache {path}: {exc.strerror or exc}; set ${CACHE_ENV} to a folder you can write to."
        ) from None
    return path


def sha256_of(path, chunk_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_digest(path, expected, url):
    actual = sha256_of(path)
    if expected and actual != expected.lower():
        raise WeightsDownloadError(
            f"Checksum mismatch for {path} (from {url}): sha256 is {actual}, expected {expected}. "
            "The file is corrupt or not the published one; delete it and download again."
        )
    return actual


def download(url, file_name, sha256=None, progress=True, timeout=60):
    """Returns the local path of ``url``, downloading it into the cache if needed.

    The file is streamed to a temporary name and renamed only once complete and verified,
    so an interrupted download never leaves a file that looks finished. Where ``sha256`` is
    unknown, the digest of the first download is stored in ``<file>.sha256`` and checked on
    every later use.

    Raises:
        WeightsDownloadError: offline, HTTP error or checksum mismatch; the message names the
            URL and the path to put a manually downloaded copy.
    """
    target = os.path.join(cache_dir(), file_name)
    digest_file = target + ".sha256"
    if os.path.exists(target):
        known = sha256
        if not known and os.path.exists(digest_file):
            with open(digest_file) as f:
                known = f.read().strip()
        _check_digest(target, known, url)
        return target

    try:
        with atomic_write(target, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "keras-vit"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = None
                if progress:
                    from tqdm import tqdm

                    bar = tqdm(total=total, unit="B", unit_scale=True, desc=file_name)
                try:
                    while True:
                        chunk = response.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
                if total is not None and out.tell() != total:
                    raise WeightsDownloadError(f"Download of {url} stopped after {out.tell()} of {total} bytes.")
            out.flush()
            actual = _check_digest(out.name, sha256, url)  # before the file takes its final name
        if not sha256:
            with atomic_write(digest_file) as f:
                f.write(actual + "\n")
        return target
    except OSError as exc:
        if not isinstance(exc, urllib.error.URLError) and exc.errno in LOCAL_ERRNOS:
            raise WeightsDownloadError(
                f"Cannot write {file_name} into the weights cache {os.path.dirname(target)}: "
                f"{exc.strerror or exc}; free some space or set ${CACHE_ENV} to another folder."
            ) from None
        raise WeightsDownloadError(
            f"Could not download {url}: {getattr(exc, 'reason', exc)}.\n"
            f"Without internet access, download that file on another machine and either pass its path "
            f"(weights='/path/to/{url.rsplit('/', 1)[-1]}') or copy it to {target}."
        ) from exc
