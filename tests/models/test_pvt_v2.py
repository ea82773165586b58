"""PVT v2: parity with timm (b0 with strided spatial reduction, b2_li with linear SRA whose
7x7 adaptive pooling is uneven at 256) and transformers at 224 and 256, and features against
timm's ``features_only``.

Reference models are reduced (narrower; one block per stage for b2_li) with random weights,
saved in their own format and loaded through ``create_model(name, weights=path)``.
"""
import re

import numpy as np
import pytest

import keras_vit
from keras_vit.models.pvt_v2.model import adaptive_pool_matrix
from tests.references import normalize, random_images, randomize_torch_model, require, torch_forward

IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
REDUCED = {
    "pvt_v2_b0": dict(embed_dims=(16, 32, 40, 64)),
    "pvt_v2_b2_li": dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 40, 64)),
}
ATOL = 1e-4


def assert_close(actual, expected):
    diff = np.abs(actual - expected).max()
    assert diff < ATOL, f"max abs diff {diff:.2e} (range {expected.min():.2f}..{expected.max():.2f})"


@pytest.fixture(scope="module", params=sorted(REDUCED))
def timm_checkpoint(request, tmp_path_factory):
    timm = require("timm")
    from safetensors.torch import save_file

    name = request.param
    model = randomize_torch_model(timm.create_model(name, pretrained=False, **REDUCED[name]))
    path = tmp_path_factory.mktemp(name) / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return name, path, model


@pytest.mark.parametrize("size", [224, 256])
def test_timm_parity(timm_checkpoint, size):
    name, path, ref = timm_checkpoint
    raw = random_images(size=size)
    ours = keras_vit.create_model(name, weights=str(path), input_shape=(size, size, 3), **REDUCED[name])
    assert_close(ours.predict(raw, verbose=0), torch_forward(ref, normalize(raw, **IMAGENET)))


def test_features_match_timm(timm_checkpoint):
    timm = require("timm")
    torch = require("torch")
    name, path, src = timm_checkpoint
    ref = timm.create_model(name, pretrained=False, features_only=True, **REDUCED[name]).eval()
    # The feature wrapper flattens ``stages.i`` to ``stages_i`` and has no head.
    ref.load_state_dict({re.sub(r"^stages\.(\d+)", r"stages_\1", k): v for k, v in src.state_dict().items() if not k.startswith("head")})
    x = normalize(random_images(size=224))
    with torch.no_grad():
        expected = ref(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    features = keras_vit.create_model(name, weights=str(path), features_only=True, include_preprocessing=False, **REDUCED[name])
    out = features.predict(x, verbose=0)
    assert [i["name"] for i in features.feature_info] == ["P2", "P3", "P4", "P5"]
    assert [i["num_chs"] for i in features.feature_info] == ref.feature_info.channels()
    for level, want in zip(("P2", "P3", "P4", "P5"), expected):
        assert_close(out[level], want.numpy().transpose(0, 2, 3, 1))  # timm's PVT features are NCHW
    other = keras_vit.create_model(name, features_only=True, input_shape=(256, 256, 3), **REDUCED[name])
    assert [other.output[k].shape[1] for k in ("P2", "P3", "P4", "P5")] == [64, 32, 16, 8]


def _hf_model(name, seed=1):
    transformers = require("transformers")
    reduced = REDUCED[name]
    config = transformers.PvtV2Config(
        depths=list(reduced.get("depths", (2, 2, 2, 2))), hidden_sizes=list(reduced["embed_dims"]),
        num_attention_heads=[1, 2, 5, 8], linear_attention=name.endswith("_li"), num_labels=1000,
    )
    return randomize_torch_model(transformers.PvtV2ForImageClassification(config), seed=seed)


@pytest.mark.parametrize("name", sorted(REDUCED))
def test_transformers_parity(tmp_path, name):
    ref = _hf_model(name)
    ref.save_pretrained(str(tmp_path))
    for size in (224, 256):
        x = normalize(random_images(size=size), **IMAGENET)
        ours = keras_vit.create_model(name, weights=str(tmp_path), input_shape=(size, size, 3), include_preprocessing=False, **REDUCED[name])
        assert ours.get_layer("patch_embed_norm").epsilon == 1e-6
        assert_close(ours.predict(x, verbose=0), torch_forward(ref, x))


def test_adaptive_pool_matrix_is_pytorch_adaptive_avg_pool():
    torch = require("torch")
    x = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    expected = torch.nn.functional.adaptive_avg_pool1d(torch.from_numpy(x.T[None]), 7)[0].numpy().T
    np.testing.assert_allclose(adaptive_pool_matrix(9, 7) @ x, expected, atol=1e-6)
