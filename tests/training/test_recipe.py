import json

import pytest

from keras_vit.training import Recipe, list_recipes, load_recipe
from keras_vit.training.recipe import parse_override


def test_shipped_digits_recipe_loads_and_overrides():
    assert "vit_digits" in list_recipes()
    recipe = load_recipe("vit_digits", epochs=3)
    assert recipe.epochs == 3 and recipe.data == "digits" and recipe.image_size == 32


def test_every_shipped_recipe_is_valid():
    for name in list_recipes():
        assert isinstance(load_recipe(name), Recipe)


def test_bad_recipe_key_is_a_clear_error(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"epochz": 3}))
    with pytest.raises(ValueError, match="Unknown recipe.*'epochz'.*Did you mean 'epochs'"):
        load_recipe(str(path))
    with pytest.raises(ValueError, match="Did you mean 'learning_rate'"):
        load_recipe(None, learning_rat=0.1)


def test_malformed_recipe_file_and_missing_recipe(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_recipe(str(path))
    with pytest.raises(FileNotFoundError, match="Shipped recipes"):
        load_recipe("no_such_recipe")
    with pytest.raises(ValueError, match="val_fraction"):
        load_recipe(None, val_fraction=1.5)


def test_parse_override_json_values():
    assert parse_override("epochs=5") == ("epochs", 5)
    assert parse_override("model_overrides={\"depth\": 2}") == ("model_overrides", {"depth": 2})
    assert parse_override("data=tfds:cifar10") == ("data", "tfds:cifar10")
    with pytest.raises(ValueError):
        parse_override("nokey")


def test_recipe_save_round_trip(tmp_path):
    recipe = load_recipe("vit_digits", seed=7)
    recipe.save(str(tmp_path / "out.json"))
    assert load_recipe(str(tmp_path / "out.json")) == recipe
