"""DAT (CVPR 2022): the official-code fixture (random weights, all three attention kinds,
DAT-T's layout at 128x128 with 4x4 windows: 32/16/8/4 maps) matches in logits and per stage;
sampled points match the official positions; the deformable position-table resize equals the
official bicubic interpolation, and the logits at 256x256 match the official
``load_pretrained``'s.

Fixtures: ``tests/fixtures/official/dat_tiny_reduced.*``, made with LeapLabTHU/DAT at tag
CVPR2022 by ``make_fixtures.py`` in that folder.
"""
import json
import pathlib

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.dat import DeformableAttention
from tests.references import OFFICIAL_FIXTURES, require, require_fixture

NAME = "dat_tiny_reduced"


def _fixture():
    meta = json.loads(require_fixture(OFFICIAL_FIXTURES / f"{NAME}.json").read_text())
    config = meta["constructor_kwargs"]
    # One window size for every stage, as in every official config.
    assert len(set(config["window_sizes"])) == 1 and config["dim_stem"] == config["dims"][0]
    kwargs = dict(
        dims=tuple(config["dims"]), depths=tuple(config["depths"]), heads=tuple(config["heads"]),
        groups=tuple(config["groups"]), stage_spec=tuple(tuple(s) for s in config["stage_spec"]),
        use_pes=tuple(config["use_pes"]), strides=tuple(config["strides"]),
        offset_range_factor=tuple(config["offset_range_factor"]), expansion=config["expansion"],
        patch_size=config["patch_size"], num_classes=config["num_classes"], window_size=config["window_sizes"][0],
        input_shape=(config["img_size"], config["img_size"], 3),
    )
    return kwargs, np.load(require_fixture(OFFICIAL_FIXTURES / f"{NAME}.npz")), meta


def _weights():
    return str(require_fixture(OFFICIAL_FIXTURES / f"{NAME}.safetensors"))


@pytest.fixture(scope="module")
def fixture_model():
    kwargs, arrays, _ = _fixture()
    model = keras_vit.create_model("dat_tiny", weights=_weights(), include_preprocessing=False, **kwargs)
    return model, arrays


def test_fixture_logits(fixture_model):
    model, arrays = fixture_model
    logits = model.predict(arrays["input_nhwc"], verbose=0)
    diff = float(np.abs(logits - arrays["logits"]).max())
    assert diff < 1e-4, f"max abs diff {diff:.2e}"
    assert np.array_equal(logits.argmax(-1), arrays["logits"].argmax(-1))


def test_fixture_stages(fixture_model):
    model, arrays = fixture_model
    outputs = [model.get_layer(f"stages_{i}_to_map").output for i in range(4)]
    stages = keras.Model(model.inputs, outputs).predict(arrays["input_nhwc"], verbose=0)
    for i, ours in enumerate(stages):
        np.testing.assert_allclose(ours, arrays[f"stage{i}_out_nchw"].transpose(0, 2, 3, 1), atol=1e-4, err_msg=f"stage {i}")


@pytest.mark.parametrize("stage", [2, 3])
def test_fixture_sampling_positions(fixture_model, stage):
    """The points block 1 of a stage samples at: official ``pos`` (B, groups, Hk, Wk, 2) as (y, x)."""
    model, arrays = fixture_model
    block = model.get_layer(f"stages_{stage}_1")
    attn = block.attn
    assert isinstance(attn, DeformableAttention)
    # The attention's input: norm1 of the block's input tokens.
    tokens = keras.Model(model.inputs, block.input).predict(arrays["input_nhwc"], verbose=0)
    pos = np.asarray(attn.sampling_positions(attn.q(block.norm1(tokens))))
    expected = arrays[f"dat_pos_stage{stage}_block1"]
    np.testing.assert_allclose(pos.reshape(expected.shape), expected, atol=1e-5)
    # Some points fall outside [-1, 1]: the zero padding of the sampling is exercised.
    assert np.abs(expected).max() > 0.9


def test_rpe_table_resize_matches_official_interpolation(tmp_path):
    """Loading at twice the size resizes each (heads, 2H-1, 2W-1) table as the official
    load_pretrained."""
    torch = require("torch")
    from safetensors.numpy import load_file, save_file

    kwargs, _, meta = _fixture()
    size = meta["other_size"]
    state = load_file(_weights())
    save_file(state, str(tmp_path / "dat.safetensors"))
    kwargs["input_shape"] = (size, size, 3)
    model = keras_vit.create_model("dat_tiny", weights=str(tmp_path / "dat.safetensors"), **kwargs)
    table = state["stages.2.attns.1.rpe_table"]
    side = 2 * (size // 16) - 1  # stage 2's map is size / 16
    assert table.shape[1:] != (side, side)
    expected = torch.nn.functional.interpolate(torch.from_numpy(table)[None], (side, side), mode="bicubic")[0].numpy()
    ours = model.get_layer("stages_2_1").attn.rpe_table.numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert model.predict(np.zeros((1, size, size, 3), "float32"), verbose=0).shape == (1, kwargs["num_classes"])


def test_visualize_sampled_points(fixture_model, tmp_path):
    """keras_vit.visualize maps the official sampling positions to image pixels and draws them."""
    from keras_vit import visualize

    model, arrays = fixture_model
    points = visualize.deformable_points(model, arrays["input_nhwc"])
    assert list(points) == ["stages_2_1", "stages_3_1"]
    pos = arrays["dat_pos_stage3_block1"]  # (B, groups, Hk, Wk, 2) normalized (y, x) on the last map
    batch, groups, _, width = pos.shape[:4]
    expected_x = ((pos[..., 1] + 1) / 2 * (width - 1) + 0.5) * 32 - 0.5  # the last map's stride is 32
    np.testing.assert_allclose(points["stages_3_1"][..., 0], expected_x.reshape(batch, groups, -1), atol=1e-3)
    path = visualize.save_deformable_points(model, arrays["input_nhwc"][:1] * 50 + 128, str(tmp_path / "points.png"))
    assert pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="not a deformable block"):
        visualize.save_deformable_points(model, arrays["input_nhwc"][:1], str(tmp_path / "x.png"), block="stages_0_0")


def test_official_logits_at_another_size():
    """At twice the size (maps 64/32/16/8) the resized tables and new masks give the official
    logits."""
    kwargs, arrays, meta = _fixture()
    size = meta["other_size"]
    expected = arrays[f"logits_at_{size}"]
    x = np.random.default_rng(12345).standard_normal((2, 3, size, size)).astype(np.float32).transpose(0, 2, 3, 1)
    kwargs["input_shape"] = (size, size, 3)
    model = keras_vit.create_model("dat_tiny", weights=_weights(), include_preprocessing=False, **kwargs)
    diff = float(np.abs(model.predict(x, verbose=0) - expected).max())
    assert diff < 1e-4, f"max abs diff {diff:.2e}"
