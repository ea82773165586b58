"""Every shipped paper recipe trains one step, on its family's tiny configuration.

The recipe's optimisation and augmentation keys stay as shipped (learning-rate scaling,
layer decay, SGD, repeated augmentation, EMA, clipping, MixUp/CutMix, RandAugment); only the
model size, the data (a small generated image folder), the batch and the weights change.
"""
import json
import math
import os

import numpy as np
import pytest

import keras_vit
from keras_vit.training.recipe import RECIPES_DIR, list_recipes, load_recipe

PAPER_RECIPES = sorted(n for n in list_recipes() if n.endswith("_imagenet"))
FAMILIES = ("vit", "deit", "beit", "swin", "cvt", "pvt", "pvt_v2", "mobilevit", "cct", "t2t_vit", "dat",
            "mobilevitv2", "efficientvit", "fastvit")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Two classes of four JPEGs of varied sizes."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        os.makedirs(root / label)
        for i in range(4):
            size = (40 + 8 * i, 48)
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.jpg")
    return str(root)


def test_every_family_has_a_paper_recipe_citing_its_source():
    families = {keras_vit.get_model_spec(load_recipe(n).model).family for n in PAPER_RECIPES}
    assert set(FAMILIES) <= families
    for family in ("vit", "deit", "beit", "swin"):
        assert f"{family}_finetune_imagenet" in PAPER_RECIPES
    for name in PAPER_RECIPES:
        with open(os.path.join(RECIPES_DIR, f"{name}.json"), encoding="utf-8") as f:
            description = json.load(f)["description"]
        # A citation: authors, a year and the table, section or appendix the numbers come from.
        assert "et al." in description or " and " in description, name
        assert any(w in description for w in ("Table", "section", "Appendix")), name
    assert load_recipe("beit_finetune_imagenet").layer_decay == 0.65


def _tiny(recipe_name, folder):
    recipe = load_recipe(recipe_name)
    spec = keras_vit.get_model_spec(recipe.model)
    tiny = dict(spec.tiny)
    side = tiny.pop("input_shape")[0]
    tiny.pop("num_classes", None)
    # The multi-scale sampler's sizes, scaled as the image side is (MobileViT: 160-320 -> 40-80).
    multi_scale = recipe.multi_scale and {"sizes": [s * side // recipe.image_size for s in recipe.multi_scale["sizes"]]}
    return recipe.replace(model_overrides=tiny, image_size=side, batch_size=2, epochs=1, multi_scale=multi_scale,
                          weights=None, data=folder, val_fraction=0.0, test_fraction=0.25,
                          keep="last", backup_every_steps=0, mixed_precision="float32",
                          # Warmup starts at 0: the one step would not move anything.
                          warmup_epochs=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_recipe_trains_one_step(name, image_folder, tmp_path):
    from keras_vit.training.trainer import prepare

    recipe = _tiny(name, image_folder)
    run = prepare(recipe, str(tmp_path / "run"), verbose=0)
    model = run.student
    # One step: eagerly, since tracing the train step would cost more than running it.
    run.fitted.run_eagerly = True
    before = [np.array(v) for v in model.trainable_variables]
    history = run.fitted.fit(run.train_data(0), steps_per_epoch=1, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][-1])
    moved = sum(not np.array_equal(b, np.array(v)) for b, v in zip(before, model.trainable_variables))
    assert moved > len(before) // 2, f"{name}: only {moved} of {len(before)} variables changed"
