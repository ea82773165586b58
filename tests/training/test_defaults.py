"""The recipe a run gets when none is named: the tuned small-data recipe, never ImageNet's."""
import os

import pytest

from keras_vit.training.defaults import DEFAULT_RECIPE, default_recipe, resolve_recipe
from keras_vit.training.recipe import load_recipe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_no_recipe_on_digits_is_the_demo_recipe():
    recipe = resolve_recipe(None, data="digits")
    assert recipe == load_recipe(DEFAULT_RECIPE)
    assert resolve_recipe(None) == recipe
    # What `make demo` runs is exactly this default.
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
        assert "keras-vit train --data digits" in f.read()
    assert recipe.image_size <= 64 and recipe.batch_size <= 128 and recipe.epochs <= 100


@pytest.mark.parametrize("model, size", [
    ("mobilevit_xxs", 64), ("vit_tiny_patch16_224", 64), ("vit_base_patch32_224", 128),
    ("deit_tiny_patch16_224", 64),
])
def test_a_named_model_gets_a_small_data_recipe_sized_for_it(model, size):
    if model == load_recipe(DEFAULT_RECIPE).model:
        # Naming the default's own model keeps its tuned recipe (and its overrides).
        assert resolve_recipe(None, model=model) == load_recipe(DEFAULT_RECIPE)
        return
    recipe = resolve_recipe(None, data="digits", model=model)
    assert recipe.model == model and recipe.model_overrides == {}
    assert recipe.image_size == size
    assert 10 <= recipe.epochs <= 40 and recipe.batch_size <= 128
    assert model in recipe.description


def test_flags_override_the_default_and_named_recipes_are_kept():
    assert resolve_recipe(None, data="digits", epochs=3, image_size=48).epochs == 3
    assert resolve_recipe(None, model="mobilevit_xxs", image_size=96).image_size == 96
    imagenet = resolve_recipe("deit_tiny_imagenet")
    assert imagenet.image_size == 224 and imagenet.epochs == 300
    other = default_recipe(data="my_images")
    assert other.data == "my_images" and "my_images" in other.description
    # Digits trains on its validation images (the last epoch is kept); a user's own data
    # keeps a validation split to watch, with the same keep rule.
    assert load_recipe(DEFAULT_RECIPE).val_fraction == 0 and other.val_fraction == 0.1
    assert other.keep == "last"
