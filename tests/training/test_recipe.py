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


@pytest.mark.parametrize(
    "override, message",
    [
        ("ema=\"false\"", r"'ema' must be true or false, got 'false'"),
        ("ema=False", r"'ema' must be true or false, got 'False'"),  # Python spelling: a string
        ("hflip=no", r"'hflip' must be true or false, got 'no'"),
        ("epochs=1.7", r"'epochs' must be an integer, got 1.7"),
        ("epochs=[3]", r"'epochs' must be an integer, got \[3\]"),
        ("batch_size=\"64\"", r"'batch_size' must be an integer, got '64'"),
        ("model=null", r"'model' must be a string, got None"),
        ("learning_rate=\"fast\"", r"'learning_rate' must be a number, got 'fast'"),
        ("learning_rate=true", r"'learning_rate' must be a number, got True"),
        ("learning_rate=-0.001", r"'learning_rate' must be > 0"),
        ("drop_path_rate=1.0", r"'drop_path_rate' must be in \[0.0, 1.0\)"),
        ("drop_path_rate=-0.1", r"'drop_path_rate' must be in"),
        ("weight_decay=-1", r"'weight_decay' must be in"),
        ("epochs=0", r"'epochs' must be in \[1, inf\]"),
        ("model_overrides=[1]", r"'model_overrides' must be a JSON object"),
        ("model_overrides={\"std\": 0}", r"model_overrides\['std'\] must be > 0"),
        ("model_overrides={\"std\": [0.5, 0, 0.5]}", r"model_overrides\['std'\] must be > 0"),
        ("cache=3", r"'cache' must be true, false or a path"),
        ("mixed_precision=\"fast\"", r"'mixed_precision' must be"),
    ],
)
def test_recipe_values_are_type_checked(override, message):
    key, value = parse_override(override)
    with pytest.raises(ValueError, match=message):
        load_recipe("vit_digits", **{key: value})


def test_recipe_file_with_string_bool_is_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"ema": "false", "hflip": "no"}))
    with pytest.raises(ValueError, match=r"'(ema|hflip)' must be true or false"):
        load_recipe(str(path))


def test_valid_values_still_pass():
    recipe = load_recipe("vit_digits", ema=True, epochs=2, warmup_epochs=1, learning_rate=1, cache="/tmp/c",
                         mixed_precision=False, clip_global_norm=None, model_overrides={"std": [0.5, 0.5, 0.5]})
    assert recipe.ema is True and recipe.learning_rate == 1 and recipe.epochs == 2
