"""A seed is one run: two trainings with the same recipe and seed end with identical weights.

Without op determinism they do not: the augmentation layers draw random numbers inside a
parallel ``tf.data`` map, in the order its threads happen to run (the digits recipe's
first-epoch loss differed in the second decimal between two runs of seed 0).
"""
import json
import subprocess
import sys

import pytest

from keras_vit.training import Recipe
from tests.training.helpers import TINY_RECIPE, subprocess_env

# The tiny recipe with the digits recipe's random augmentations switched on.
RECIPE = dict(TINY_RECIPE, epochs=1, random_translate=0.1, random_rotate=0.03,
              mixup_alpha=0.2, mix_prob=0.5, ema=True, ema_momentum=0.99)

SCRIPT = r"""
import json, sys
import numpy as np
from keras_vit.training import Recipe, train
recipe = Recipe(**json.loads(sys.argv[1])).validated()
runs = []
for i in range(2):
    result = train(recipe, sys.argv[2] + f"/run{i}", verbose=0)
    runs.append((result.history["loss"], result.model.get_weights()))
(loss_a, w_a), (loss_b, w_b) = runs
print(json.dumps({"loss": [loss_a, loss_b],
                  "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(w_a, w_b))}))
"""


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(RECIPE), str(tmp_path)],
                         capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loss"][0] == result["loss"][1]
    assert result["max_weight_diff"] == 0.0


def test_deterministic_key_is_checked():
    assert Recipe(deterministic=False).validated().deterministic is False
    assert Recipe(deterministic="auto").validated().deterministic == "auto"
    with pytest.raises(ValueError, match="deterministic"):
        Recipe(deterministic="yes").validated()
