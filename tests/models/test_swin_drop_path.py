"""Stochastic depth of Swin and PVT v2 block by block against timm at the same ``drop_path_rate``.

timm spreads ``torch.linspace(0, drop_path_rate, sum(depths))`` over all blocks of all stages
(the first block gets an ``Identity``, rate 0). Ours comes from ``layers.drop_path_rates`` and
reaches each block's ``DropPath`` layer through the builder; the rates are read from the built
models on both sides, so a schedule restarted per stage, shifted by one block or ending below
``drop_path_rate`` fails here.
"""
import re

import numpy as np
import pytest

import keras_vit
from tests.references import require

DROP_PATH_RATE = 0.2
BLOCK_NAME = re.compile(r"^(?:layers|stages)[._](\d+)[._]blocks[._](\d+)$")


def block_order(name):
    match = BLOCK_NAME.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def timm_rates(name):
    """``{(stage, block): (rate of drop_path1, rate of drop_path2)}`` of timm's model."""
    timm = require("timm")
    model = timm.create_model(name, pretrained=False, drop_path_rate=DROP_PATH_RATE)
    rates = {}
    for module_name, module in model.named_modules():
        key = block_order(module_name)
        if key is not None:
            rates[key] = tuple(getattr(getattr(module, attr), "drop_prob", 0.0) for attr in ("drop_path1", "drop_path2"))
    return rates


def our_rates(name):
    """``{(stage, block): rate}`` of the ``DropPath`` layer each of our blocks applies to both branches."""
    model = keras_vit.create_model(name, drop_path_rate=DROP_PATH_RATE)
    return {block_order(layer.name): layer.drop_path.rate for layer in model.layers if block_order(layer.name) is not None}


@pytest.mark.parametrize("name", ["swin_tiny_patch4_window7_224", "pvt_v2_b0"])
def test_drop_path_rates_match_timm(name):
    theirs = timm_rates(name)
    ours = our_rates(name)
    assert sorted(ours) == sorted(theirs), f"blocks differ: ours {sorted(ours)}, timm {sorted(theirs)}"
    keys = sorted(theirs)
    for key in keys:
        first, second = theirs[key]
        assert first == pytest.approx(second), f"timm's two drop paths of block {key} differ"
    expected = np.array([theirs[k][0] for k in keys])
    actual = np.array([ours[k] for k in keys])
    # Not vacuous: timm's schedule rises from 0 to the full rate over more than one stage.
    assert expected[0] == 0.0 and expected[-1] == pytest.approx(DROP_PATH_RATE) and len({k[0] for k in keys}) > 1
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6, err_msg=f"{name}: per-block drop-path rates (stage, block) {keys}")
