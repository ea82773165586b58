import numpy as np
import pytest

from keras_vit.training import Augmenter, load_dataset, make_pipeline


def _write_images(folder, n, color):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (10 + i, 12), color).save(folder / f"{i}.png")


def test_digits_splits_are_stratified_disjoint_and_resized():
    splits = load_dataset("digits", 16, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert splits.num_classes == 10
    assert splits.num_train + splits.num_val + splits.num_test == 1797
    assert 340 <= splits.num_test <= 380
    x, y = next(iter(splits.test.batch(512)))
    assert x.shape[1:] == (16, 16, 3) and x.dtype.name == "uint8"
    assert set(np.unique(y.numpy())) == set(range(10))
    train_x = np.stack([a.numpy() for a, _ in splits.train])
    test_x = x.numpy()
    # No test image also appears in train (digits has a few exact duplicates, so allow them).
    train_set = {a.tobytes() for a in train_x}
    assert sum(t.tobytes() in train_set for t in test_x) < 10


def test_training_pipeline_batches_one_hot_and_augments():
    splits = load_dataset("digits", 16)
    aug = Augmenter(10, randaugment_ops=1, hflip=True, random_erasing=0.5, mixup_alpha=0.8,
                    cutmix_alpha=1.0)
    ds = make_pipeline(splits.train, 10, 8, training=True, augment=aug, seed=1)
    x, y = next(iter(ds))
    assert x.shape == (8, 16, 16, 3) and y.shape == (8, 10)
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, atol=1e-5)
    # Pixels stay in [0, 255] exactly: a MixUp of two 255s can round to 255.00002 unclipped.
    for x, _ in ds.take(30):
        assert float(x.numpy().min()) >= 0 and float(x.numpy().max()) <= 255
    # MixUp/CutMix produce soft labels for at least some images.
    assert np.any((y.numpy() > 0.01) & (y.numpy() < 0.99))


def test_skip_batches_resumes_the_same_stream():
    splits = load_dataset("digits", 8)
    full = [y.numpy() for _, y in make_pipeline(splits.train, 10, 16, training=True,
                                                seed=3).take(5)]
    resumed = [y.numpy() for _, y in make_pipeline(splits.train, 10, 16, training=True, seed=3,
                                                   skip_batches=2).take(3)]
    for a, b in zip(full[2:], resumed):
        np.testing.assert_array_equal(a, b)


def test_image_folder(tmp_path):
    _write_images(tmp_path / "cats", 10, (255, 0, 0))
    _write_images(tmp_path / "dogs", 10, (0, 0, 255))
    splits = load_dataset(str(tmp_path), 12, val_fraction=0.2, test_fraction=0.2)
    assert splits.class_names == ["cats", "dogs"]
    assert (splits.num_train, splits.num_val, splits.num_test) == (12, 4, 4)
    for x, y in splits.test:
        assert x.shape == (12, 12, 3)
        # Red images are class 0, blue class 1.
        assert int(np.argmax(x.numpy()[6, 6])) == (0 if int(y) == 0 else 2)
    # val_fraction=0: no validation split, its images go to train; the test split is the same.
    whole = load_dataset(str(tmp_path), 12, val_fraction=0.0, test_fraction=0.2)
    assert (whole.num_train, whole.num_val, whole.num_test) == (16, 0, 4)
    assert len(list(whole.val)) == 0 and len(list(whole.train)) == 16
    # A train/ and test/ layout with no val/ carves nothing either.
    for split in ("train", "test"):
        _write_images(tmp_path / "split" / split / "a", 5, (255, 0, 0))
        _write_images(tmp_path / "split" / split / "b", 5, (0, 0, 255))
    split = load_dataset(str(tmp_path / "split"), 12, val_fraction=0.0)
    assert (split.num_train, split.num_val, split.num_test) == (10, 0, 10)


def test_bad_datasets_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset 'mnist_typo'"):
        load_dataset("mnist_typo", 8)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "missing"), 8)
    (tmp_path / "empty_root").mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_dataset(str(tmp_path / "empty_root"), 8)
    _write_images(tmp_path / "root" / "a", 3, (0, 0, 0))
    (tmp_path / "root" / "b").mkdir()
    _write_images(tmp_path / "root" / "c", 3, (9, 9, 9))
    with pytest.raises(ValueError, match="without images.*b"):
        load_dataset(str(tmp_path / "root"), 8)


def test_tfds_unknown_and_unprepared(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(ValueError, match="Unknown tfds dataset"):
        load_dataset("tfds:not_a_real_dataset_xyz", 8, data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not prepared"):
        load_dataset("tfds:mnist", 8, data_dir=str(tmp_path), download=False)


def test_unreadable_files_in_an_image_folder_are_named_and_skipped(tmp_path):
    _write_images(tmp_path / "cats", 12, (200, 10, 10))
    _write_images(tmp_path / "dogs", 12, (10, 10, 200))
    (tmp_path / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "dogs" / "notes.png").write_text("a text file with an image extension")
    with pytest.warns(UserWarning) as caught:
        splits = load_dataset(str(tmp_path), 8, val_fraction=0.25, test_fraction=0.25)
    message = str(caught[0].message)
    assert "broken.jpg" in message and "notes.png" in message and "Skipping 2" in message
    assert splits.num_train + splits.num_val + splits.num_test == 24
    images = np.stack([x for x, _ in splits.train.as_numpy_iterator()])
    assert images.shape[1:] == (8, 8, 3) and images.dtype == np.uint8


def test_an_image_folder_needs_two_classes(tmp_path):
    _write_images(tmp_path / "only", 10, (1, 2, 3))
    with pytest.raises(ValueError, match="at least 2"):
        load_dataset(str(tmp_path), 8)


def test_a_missing_package_is_not_blamed_on_the_network(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    class Builder:
        def download_and_prepare(self):
            raise ModuleNotFoundError("No module named 'importlib_resources'",
                                      name="importlib_resources")

    monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None: Builder())
    with pytest.raises(ImportError) as error:
        load_dataset("tfds:mnist", 8)
    text = str(error.value)
    assert "pip install importlib_resources" in text and "not a network problem" in text


def test_the_train_extra_installs_what_tfds_needs():
    import os
    import re

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "setup.py"), encoding="utf-8") as f:
        setup = f.read()
    train_extra = re.search(r'"train": \[(.*?)\]', setup, re.S).group(1)
    assert "importlib_resources" in train_extra and "tensorflow-datasets" in train_extra
