"""T2T-ViT: parity with the official code (yitu-opensource/T2T-ViT) through its fixtures.

``tests/fixtures/official`` holds small models made with the official code (random weights but
the official sinusoid table and performer random features, official key names;
``make_fixtures.py`` there writes them), a fixed input and the official outputs with both
attention scales: ``logits`` (``head_dim ** -0.5``, the constructor's default) and
``logits_qk_scale_pretrained`` (the named model's ``embed_dim ** -0.5``, what the published
weights need and our named variants use), also at a second input size (sinusoid table
resized bicubically by the official ``resize_pos_embed``).
"""
import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.t2t_vit import SoftSplit
from keras_vit.models.t2t_vit.convert import convert
from keras_vit.models.t2t_vit.model import sinusoid_table
from tests.references import OFFICIAL_FIXTURES, require_fixture

ATOL = 1e-4
# fixture -> the registered name it reduces. Our overrides come from the fixture's official
# kwargs; the attention scale stays the named variant's (the published weights' scale).
CASES = {
    "t2t_vit_7_reduced": "t2t_vit_7",
    "t2t_vit_14_reduced": "t2t_vit_14",
    "t2t_vit_t_14_reduced": "t2t_vit_t_14",
}


def fixture(name):
    path = require_fixture(OFFICIAL_FIXTURES / f"{name}.safetensors")
    arrays = dict(np.load(require_fixture(OFFICIAL_FIXTURES / f"{name}.npz")))
    return path, arrays, json.loads(require_fixture(OFFICIAL_FIXTURES / f"{name}.json").read_text())


def overrides(meta, size=None):
    """Our overrides of the named variant for a fixture's official T2T_ViT(...) arguments:
    the sizes it reduces; tokens type, heads and MLP ratio must be the named variant's."""
    kwargs, config = meta["constructor_kwargs"], keras_vit.get_model_spec(meta["reduces"]).config
    assert {k: config[k] for k in ("tokens_type", "num_heads", "mlp_ratio")} == {
        k: kwargs[k] for k in ("tokens_type", "num_heads", "mlp_ratio")
    }
    size = size or kwargs["img_size"]
    return dict(input_shape=(size, size, 3), num_classes=kwargs["num_classes"], embed_dim=kwargs["embed_dim"],
                depth=kwargs["depth"], token_dim=kwargs["token_dim"])


def test_fixture_files_load_as_they_are():
    """Every fixture reads as it is (a safetensors header length can start with 0x80, the
    byte a legacy torch pickle starts with)."""
    from keras_vit.weights.readers import read_checkpoint

    for name in CASES:
        assert read_checkpoint(str(fixture(name)[0]))


def assert_close(actual, expected, atol=ATOL):
    diff = float(np.abs(np.asarray(actual) - expected).max())
    assert diff < atol, f"max abs diff {diff:.2e}"
    return diff


@pytest.mark.parametrize("fixture_name", sorted(CASES))
def test_official_fixture_parity(fixture_name, tmp_path):
    path, arrays, meta = fixture(fixture_name)
    name = CASES[fixture_name]
    x = arrays["input_nhwc"]
    # The named variants use the published weights' scale ...
    model = keras_vit.create_model(name, weights=str(path), include_preprocessing=False, **overrides(meta))
    assert_close(model.predict(x, verbose=0), arrays["logits_qk_scale_pretrained"])
    tokens = keras.Model(model.inputs, model.get_layer("tokens_to_token_project").output).predict(x, verbose=0)
    assert_close(tokens, arrays["tokens"])
    # ... and qk_scale=None is the official constructor's default.
    default = keras_vit.create_model(name, weights=str(path), include_preprocessing=False, qk_scale=None, **overrides(meta))
    assert_close(default.predict(x, verbose=0), arrays["logits"])
    pre_logits = keras.Model(default.inputs, default.get_layer("pool").output).predict(x, verbose=0)
    assert_close(pre_logits, arrays["pre_logits"])


@pytest.mark.parametrize("fixture_name", sorted(CASES))
def test_official_parity_at_another_size(fixture_name, tmp_path):
    path, arrays, meta = fixture(fixture_name)
    name = CASES[fixture_name]
    size = meta["other_size"]
    x = np.random.default_rng(12345).standard_normal((2, 3, size, size)).astype(np.float32).transpose(0, 2, 3, 1)
    model = keras_vit.create_model(name, weights=str(path), include_preprocessing=False, **overrides(meta, size))
    assert_close(model.predict(x, verbose=0), arrays[f"logits_qk_scale_pretrained_at_{size}"])
    default = keras_vit.create_model(name, weights=str(path), include_preprocessing=False, qk_scale=None, **overrides(meta, size))
    assert_close(default.predict(x, verbose=0), arrays[f"logits_at_{size}"])


def test_soft_split_is_unfold():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 9, 11, 3)).astype("float32")
    ours = np.asarray(SoftSplit(3, 2, 1)(x))
    unfold = torch.nn.Unfold(kernel_size=3, stride=2, padding=1)(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    np.testing.assert_array_equal(ours.reshape(2, -1, ours.shape[-1]), unfold.transpose(0, 2, 1))


def test_sinusoid_table_is_the_fixture_table():
    path, _, meta = fixture("t2t_vit_7_reduced")
    from safetensors.numpy import load_file

    kwargs = meta["constructor_kwargs"]
    positions = (kwargs["img_size"] // 16) ** 2 + 1
    np.testing.assert_allclose(sinusoid_table(positions, kwargs["embed_dim"]), load_file(str(path))["pos_embed"], atol=1e-6)


def test_key_map_is_one_to_one_and_frozen_tensors_are_variables():
    path, _, meta = fixture("t2t_vit_7_reduced")
    from safetensors.numpy import load_file

    state = load_file(str(path))
    arrays, layout = convert(state)
    assert layout == "official" and len(arrays) == len(state)
    model = keras_vit.create_model("t2t_vit_7", **overrides(meta))
    assert sorted(arrays) == sorted(v.path for v in model.weights)
    frozen = sorted(v.path for v in model.non_trainable_weights)
    assert frozen == ["pos_embed/pos_embed", "tokens_to_token_attention1/w", "tokens_to_token_attention2/w"]


def test_features_are_the_token_maps():
    spec = keras_vit.get_model_spec("t2t_vit_t_14")
    features = keras_vit.create_model("t2t_vit_t_14", features_only=True, **spec.tiny)
    assert [(i["name"], i["num_chs"], i["reduction"]) for i in features.feature_info] == [("P2", 16, 4), ("P3", 16, 8), ("P4", 32, 16)]


def test_attention_maps_from_the_class_token(tmp_path):
    from keras_vit.visualize import attention_rollout, attention_scores, save_attention_maps

    spec = keras_vit.get_model_spec("t2t_vit_7")
    model = keras_vit.create_model("t2t_vit_7", **spec.tiny)
    size = spec.tiny["input_shape"][0]
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    scores = attention_scores(model, x)
    grid = int(np.sqrt(scores[0].shape[-1] - 1))
    assert grid * grid + 1 == scores[0].shape[-1] and grid == size // 16
    maps = attention_rollout(model, x)
    assert maps.shape == (2, grid, grid) and np.isclose(maps.max(), 1.0)
    assert open(save_attention_maps(model, x, str(tmp_path / "t2t.png")), "rb").read(4) == b"\x89PNG"
