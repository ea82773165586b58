"""The real download path, against an HTTP server on 127.0.0.1 serving files the test makes."""
import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

import keras_vit
from keras_vit.weights.download import download
from keras_vit.weights.tags import WeightsTag

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("KERAS_VIT_CACHE", str(path))
    return path


@pytest.fixture
def published(server):
    """A tiny model's weights published on the local server, registered as a tag."""
    root, url = server
    model = keras_vit.create_model("vit_tiny_patch16_224", **TINY)
    keras_vit.save_weights(model, str(root / "tiny.safetensors"))
    digest = hashlib.sha256((root / "tiny.safetensors").read_bytes()).hexdigest()
    spec = keras_vit.get_model_spec("vit_tiny_patch16_224")
    tag = WeightsTag("test_tag", f"{url}/tiny.safetensors", "keras_vit", sha256=digest, input_size=(32, 32), num_classes=5)
    spec.weights["test_tag"] = tag
    try:
        yield model, tag
    finally:
        del spec.weights["test_tag"]


def test_tag_downloads_verifies_caches_and_loads(published, cache):
    model, tag = published
    loaded = keras_vit.create_model("vit_tiny_patch16_224", weights="test_tag", **{k: v for k, v in TINY.items() if k != "input_shape"})
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    cached = list(cache.iterdir())
    assert [p.name for p in cached] == [tag.cache_name("vit_tiny_patch16_224")]


def test_checksum_mismatch_is_an_error_and_leaves_no_file(server, cache):
    root, url = server
    (root / "w.bin").write_bytes(b"x" * 100)
    with pytest.raises(keras_vit.WeightsDownloadError, match="Checksum mismatch"):
        download(f"{url}/w.bin", "w.bin", sha256="0" * 64, progress=False)
    assert not any(cache.iterdir())


def test_unknown_digest_is_recorded_then_enforced(server, cache):
    root, url = server
    (root / "w.bin").write_bytes(b"original")
    path = download(f"{url}/w.bin", "w.bin", progress=False)
    assert open(path + ".sha256").read().strip() == hashlib.sha256(b"original").hexdigest()
    with open(path, "wb") as f:
        f.write(b"tampered")
    with pytest.raises(keras_vit.WeightsDownloadError, match="Checksum mismatch"):
        download(f"{url}/w.bin", "w.bin", progress=False)


def test_offline_error_names_url_and_where_to_put_the_file(cache):
    url = "http://127.0.0.1:9/ViT-B_16.npz"  # discard port: nothing listens
    with pytest.raises(keras_vit.WeightsDownloadError) as info:
        download(url, "vit_base.ViT-B_16.npz", progress=False)
    message = str(info.value)
    assert url in message
    assert "weights='/path/to/ViT-B_16.npz'" in message
    assert str(cache / "vit_base.ViT-B_16.npz") in message


def test_http_404(server, cache):
    _, url = server
    with pytest.raises(keras_vit.WeightsDownloadError, match="Could not download .*missing.npz"):
        download(f"{url}/missing.npz", "missing.npz", progress=False)


def test_cache_pointing_at_a_file_is_one_clear_error(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "cache.txt"
    not_a_folder.write_text("mine")
    monkeypatch.setenv("KERAS_VIT_CACHE", str(not_a_folder))
    with pytest.raises(keras_vit.WeightsDownloadError, match=r"is a file, not a folder; point \$KERAS_VIT_CACHE"):
        download("http://127.0.0.1:9/w.npz", "w.npz", progress=False)
    assert not_a_folder.read_text() == "mine"


def test_full_disk_blames_the_disk_not_the_network(server, cache, monkeypatch):
    import errno
    import os

    from keras_vit.utils import io as atomic_io

    root, url = server
    (root / "w.bin").write_bytes(b"x" * 100)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_io.os, "fsync", full)
    with pytest.raises(keras_vit.WeightsDownloadError, match="Cannot write w.bin into the weights cache.*free some space") as info:
        download(f"{url}/w.bin", "w.bin", progress=False)
    monkeypatch.undo()
    assert "Could not download" not in str(info.value)
    assert os.listdir(cache) == []
