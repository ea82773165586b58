"""save_pretrained / create_model(folder) / create_model("hf://user/repo") (offline, from a cache)."""
import json
import os
import shutil

import numpy as np
import pytest

import keras_vit
from keras_vit.pretrained import PretrainedFolderError

NAME = "vit_tiny_patch16_224"
TINY = dict(input_shape=(16, 16, 3), patch_size=8, embed_dim=16, depth=1, num_heads=2)
CLASSES = ["cat", "dog", "fox"]
IMAGES = np.random.default_rng(0).uniform(0, 255, size=(2, 16, 16, 3)).astype("float32")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = keras_vit.create_model(NAME, num_classes=3, **TINY)
    folder = str(tmp_path_factory.mktemp("pretrained") / "my_vit")
    recipe = {"model": NAME, "model_overrides": {k: v for k, v in TINY.items() if k != "input_shape"},
              "data": "folder:/data/pets", "epochs": 7, "learning_rate": 0.001,
              "description": "A test recipe."}
    keras_vit.save_pretrained(model, folder, class_names=CLASSES, recipe=recipe,
                              metrics={"test_accuracy": 0.875, "num_train": 40, "num_test": 8})
    return model, folder


def test_folder_holds_config_weights_labels_preprocessing_and_card(saved):
    _, folder = saved
    for name in ("config.json", "model.json", "model.safetensors", "preprocessing.json",
                 "labels.txt", "recipe.json", "metrics.json", "README.md"):
        assert os.path.isfile(os.path.join(folder, name)), name
    config = json.load(open(os.path.join(folder, "config.json")))
    assert config["model"] == NAME and config["family"] == "vit"
    assert config["num_classes"] == 3 and config["class_names"] == CLASSES
    assert config["preprocessing"]["mean"] == pytest.approx([0.5] * 3)
    assert open(os.path.join(folder, "labels.txt")).read().split() == CLASSES
    card = open(os.path.join(folder, "README.md")).read()
    assert card.startswith("---\nlibrary_name: keras-vit")
    for text in ("A test recipe.", "| epochs | 7 |", "test accuracy: 0.8750", "folder:/data/pets",
                 "Training images: 40", "cat, dog, fox"):
        assert text in card, text
    assert "confusion_matrix.png" not in card


def test_create_model_loads_the_folder(saved):
    model, folder = saved
    loaded = keras_vit.create_model(folder)
    np.testing.assert_allclose(loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0),
                               rtol=1e-5, atol=1e-5)
    # Another head: rebuilt through the registry with the saved architecture, body loaded.
    with pytest.warns(UserWarning):
        other = keras_vit.create_model(folder, num_classes=5)
    assert other.outputs[0].shape[-1] == 5
    np.testing.assert_array_equal(other.get_layer("blocks_0").get_weights()[0],
                                  model.get_layer("blocks_0").get_weights()[0])
    with pytest.raises(ValueError, match="holds its own weights"):
        keras_vit.create_model(folder, weights="default")


def test_folder_errors_name_the_problem(saved, tmp_path):
    _, folder = saved
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    os.remove(broken / "model.safetensors")
    with pytest.raises(PretrainedFolderError, match="lacks model.safetensors"):
        keras_vit.create_model(str(broken))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"architectures": ["ViTModel"]}')
    with pytest.raises(PretrainedFolderError, match="not a keras-vit pretrained folder"):
        keras_vit.create_model(str(tmp_path / "other"))


def _hub_cache(root, repo_id, folder, files=None):
    """A Hugging Face hub cache holding ``folder``'s files as ``repo_id``'s main revision."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name in files or os.listdir(folder):
        shutil.copy(os.path.join(folder, name), snapshot / name)
    return snapshot


def test_hf_hub_repository_loads_offline_from_the_cache(saved, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    model, folder = saved
    _hub_cache(tmp_path / "hub", "someone/pets-vit", folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = keras_vit.create_model("hf://someone/pets-vit")
    np.testing.assert_allclose(loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_hf_offline_errors_say_which_file_to_fetch_and_where(saved, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    _, folder = saved
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(PretrainedFolderError) as missing_repo:
        keras_vit.create_model("hf://someone/not-cached")
    message = str(missing_repo.value)
    assert "HF_HUB_OFFLINE=1" in message and str(tmp_path / "hub") in message
    assert "https://huggingface.co/someone/not-cached" in message and "model.safetensors" in message
    snapshot = _hub_cache(tmp_path / "hub", "someone/half", folder, files=["config.json", "model.json"])
    with pytest.raises(PretrainedFolderError) as missing_file:
        keras_vit.create_model("hf://someone/half")
    message = str(missing_file.value)
    assert "https://huggingface.co/someone/half/resolve/main/model.safetensors" in message
    assert str(snapshot) in message
    with pytest.raises(ValueError, match="hf://user/repo"):
        keras_vit.create_model("hf://just-a-name")


@pytest.mark.slow
def test_training_output_folder_is_a_pretrained_model(tmp_path):
    from keras_vit.training import Recipe, train
    from tests.training.helpers import TINY_RECIPE

    result = train(Recipe(**dict(TINY_RECIPE, epochs=1)).validated(), str(tmp_path / "run"),
                   verbose=0)
    loaded = keras_vit.create_model(str(tmp_path / "run"))
    images = np.random.default_rng(1).uniform(0, 255, size=(3, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               result.model.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    card = open(tmp_path / "run" / "README.md").read()
    assert "![Confusion matrix on the test split](confusion_matrix.png)" in card
    assert "digits" in card and "test accuracy" in card
