"""training.data.RandomResizedCrop and the undecoded training split, against torchvision and Pillow."""
import io

import numpy as np
import pytest
import tensorflow as tf

from tests.references import require
from training.data import EncodedImages, RandomResizedCrop, load_dataset, make_pipeline


def _photo(height, width, seed=0):
    """Smooth shapes plus noise: compresses and decodes like a photograph."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    field = Image.fromarray(rng.uniform(0, 255, (6, 6, 3)).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    noisy = np.asarray(field, dtype=np.float32) + rng.normal(0, 8, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _window(crop, height, width, i):
    return tuple(int(v) for v in crop.window(height, width, tf.constant([7, i], tf.int64)))


def test_fallback_window_equals_torchvision():
    # Images too elongated for any draw: torchvision's deterministic fallback, a centered window
    # cut to the nearest allowed aspect ratio.
    require("torch")
    transforms = require("torchvision.transforms")
    import torch

    crop = RandomResizedCrop(32)
    for height, width in [(10, 1000), (1000, 10), (7, 400)]:
        theirs = transforms.RandomResizedCrop.get_params(torch.zeros(3, height, width), [0.08, 1.0], [3 / 4, 4 / 3])
        assert _window(crop, height, width, 0) == tuple(theirs), (height, width)


def test_windows_are_distributed_as_torchvision_draws_them():
    require("torch")
    transforms = require("torchvision.transforms")
    import torch

    height, width = 300, 400
    crop = RandomResizedCrop(32)
    ours = np.array([_window(crop, height, width, i) for i in range(1500)])
    torch.manual_seed(0)
    theirs = np.array([transforms.RandomResizedCrop.get_params(torch.zeros(3, height, width), [0.08, 1.0],
                                                               [3 / 4, 4 / 3]) for _ in range(3000)])
    for windows in (ours, theirs):
        top, left, h, w = windows.T
        assert (top >= 0).all() and (left >= 0).all() and (top + h <= height).all() and (left + w <= width).all()
    area = lambda windows: windows[:, 2] * windows[:, 3] / (height * width)  # noqa: E731
    aspect = lambda windows: windows[:, 3] / windows[:, 2]  # noqa: E731
    # Same distribution: means within a few standard errors (area's std is about 0.25).
    assert abs(area(ours).mean() - area(theirs).mean()) < 0.025
    assert abs(np.log(aspect(ours)).mean() - np.log(aspect(theirs)).mean()) < 0.02
    assert abs(np.median(area(ours)) - np.median(area(theirs))) < 0.04
    # Bounds: the area fraction and aspect ratio (up to rounding to whole pixels).
    assert area(ours).min() >= 0.08 - 0.005 and area(ours).max() <= 1.0
    assert aspect(ours).min() >= 0.75 * 0.98 and aspect(ours).max() <= 4 / 3 * 1.02
    # Offsets cover the image: not always at the corner or the center.
    assert len({(t, l) for t, l, _, _ in ours}) > 1000
    assert _window(crop, height, width, 5) == _window(crop, height, width, 5)


def test_jpeg_window_decoding_equals_pillow_decode_then_crop():
    # decode() decodes only the window of a JPEG; cutting the same window out of Pillow's full
    # decode (the path of every other format) gives the same pixels, but for a few at the window's
    # edges (libjpeg upsamples chroma from the neighbours it decoded).
    image = _photo(120, 170)
    crop = RandomResizedCrop(48)
    data = _encode(image, "JPEG", quality=92)
    decoded = np.asarray(__import__("PIL.Image").Image.open(io.BytesIO(data)).convert("RGB"))
    for i in range(6):
        seed = tf.constant([1, i], tf.int64)
        fast = crop.decode(tf.constant(data), seed).numpy()
        slow = crop.crop(tf.constant(decoded), seed).numpy()
        assert fast.shape == (48, 48, 3) and fast.dtype == np.uint8
        diff = np.abs(fast.astype(int) - slow.astype(int))
        assert diff.max() <= 6 and diff.mean() < 0.1, (i, diff.max(), diff.mean())


@pytest.mark.parametrize("fmt,mode,kwargs", [
    ("PNG", "RGB", {}), ("PNG", "RGBA", {}), ("JPEG", "L", {}), ("JPEG", "CMYK", {}), ("WEBP", "RGB", {"lossless": True}),
])
def test_other_formats_decode_to_rgb_crops(fmt, mode, kwargs):
    from keras_vit.data import _to_rgb8
    from PIL import Image

    image = _photo(60, 90).convert(mode)
    data = _encode(image, fmt, **kwargs)
    crop = RandomResizedCrop(24)
    seed = tf.constant([3, 1], tf.int64)
    out = crop.decode(tf.constant(data), seed).numpy()
    assert out.shape == (24, 24, 3) and out.dtype == np.uint8
    reference = np.asarray(_to_rgb8(Image.open(io.BytesIO(data))))
    expected = crop.crop(tf.constant(reference), seed).numpy()
    # Pillow decodes these (CMYK, PNG, WebP) or libjpeg decodes grayscale: same pixels, or within rounding.
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= (3 if fmt == "JPEG" else 0)


def test_bad_arguments_say_what_is_expected():
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(32, scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(32, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="ratio"):
        RandomResizedCrop(32, ratio=(2.0, 1.0))
    with pytest.raises(ValueError, match="size"):
        RandomResizedCrop(0)


def _folder(root, classes=2, per_class=6):
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            _photo(40 + 7 * i, 50 + 5 * c, seed=10 * c + i).save(folder / f"{i}.jpg", quality=90)
            if i == 0:
                _photo(45, 45, seed=99 + c).save(folder / "extra.png")
    return root


def _batches(ds, n):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]


def test_pipeline_crops_the_undecoded_split_deterministically_and_resumes(tmp_path):
    splits = load_dataset(str(_folder(tmp_path)), 24, val_fraction=0.0, test_fraction=0.2, seed=0)
    assert isinstance(splits.train_encoded, EncodedImages) and splits.train_encoded.is_path
    crop = RandomResizedCrop(24)

    def pipeline(seed=0, skip=0):
        return make_pipeline(splits.train_encoded, 2, 4, training=True, crop=crop, seed=seed, skip_batches=skip,
                             shuffle_buffer=100)

    first = _batches(pipeline(), 5)
    assert first[0][0].shape == (4, 24, 24, 3) and first[0][1].shape == (4, 2)
    for (xa, ya), (xb, yb) in zip(first, _batches(pipeline(), 5)):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    # A resumed run gets the interrupted one's images and crops.
    for (xa, ya), (xb, yb) in zip(first[2:], _batches(pipeline(skip=2), 3)):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    other = _batches(pipeline(seed=1), 5)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other))
    # Every image of an epoch is a crop of a training image: the same image twice (two epochs)
    # gives different crops.
    stream = np.concatenate([x for x, _ in _batches(pipeline(), 2 * splits.num_train // 4)])
    assert len({x.tobytes() for x in stream}) == len(stream)


def test_pipeline_crop_on_decoded_images_and_bad_combinations(tmp_path):
    splits = load_dataset("digits", 16, val_fraction=0.0, test_fraction=0.2)
    assert splits.train_encoded is None
    crop = RandomResizedCrop(16, scale=(0.25, 0.5))
    x, _ = next(iter(make_pipeline(splits.train, 10, 8, training=True, crop=crop, seed=0)))
    plain, _ = next(iter(make_pipeline(splits.train, 10, 8, training=True, seed=0)))
    assert x.shape == (8, 16, 16, 3) and not np.array_equal(x.numpy(), plain.numpy())
    folder = load_dataset(str(_folder(tmp_path)), 24, val_fraction=0.0, test_fraction=0.2)
    with pytest.raises(ValueError, match="RandomResizedCrop"):
        make_pipeline(folder.train_encoded, 2, 4, training=True)
    with pytest.raises(ValueError, match="training"):
        make_pipeline(splits.test, 10, 4, crop=crop)


def test_tfds_training_split_is_decoded_from_its_encoded_records(tmp_path):
    # A TFDS dataset prepared here (JPEG and PNG records): the encoded training split has the
    # same images, in the same order, as the decoded one.
    import tensorflow_datasets as tfds

    photos = [(_photo(30 + 3 * i, 40, seed=i), i % 3) for i in range(12)]

    class KerasVitCropImages(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(names=["a", "b", "c"])}),
                supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(0, 9), "test": self._generate_examples(9, 12)}

        def _generate_examples(self, start, stop):
            for i in range(start, stop):
                yield i, {"image": np.asarray(photos[i][0]), "label": photos[i][1]}

    KerasVitCropImages(data_dir=str(tmp_path)).download_and_prepare()
    splits = load_dataset("tfds:keras_vit_crop_images", 20, data_dir=str(tmp_path), download=False,
                          val_fraction=0.0)
    assert isinstance(splits.train_encoded, EncodedImages) and not splits.train_encoded.is_path
    decoded = [(x.numpy(), int(y)) for x, y in splits.train]
    encoded = list(splits.train_encoded.records)
    assert len(encoded) == len(decoded) == splits.num_train
    means = []
    for (data, label), (image, expected_label) in zip(encoded, decoded):
        assert int(label) == expected_label
        # The same picture: resized whole, the record is the decoded split's image.
        whole = tf.image.resize(tf.io.decode_jpeg(data, channels=3), (20, 20), antialias=True).numpy()
        means.append(np.abs(whole - image).mean())
    assert max(means) < 1.5, means
    x, y = next(iter(make_pipeline(splits.train_encoded, 3, 4, training=True, crop=RandomResizedCrop(20), seed=0)))
    assert x.shape == (4, 20, 20, 3) and y.shape == (4, 3)
