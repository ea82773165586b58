"""Input pipelines for training over the named datasets of :mod:`keras_vit.datasets`.

:func:`keras_vit.datasets.load_dataset` gives three unbatched ``tf.data`` splits of ``(uint8
image HxWx3, int label)`` resized to the model's input (re-exported here), and for folders
and TFDS the training split undecoded too (``DataSplits.train_encoded``);
:func:`make_pipeline` then caches, shuffles, decodes with a :class:`RandomResizedCrop` where
asked, batches (global batch), augments and prefetches them; ``model.fit`` splits each global
batch across replicas and the auto-shard policy gives every worker its own part of it.

Every random draw of the training pipeline is stateless, keyed by ``(seed, index of the
image)`` (or of the batch): a seed gives the same crops and augmentations whatever the
parallelism, and a resumed run draws what the interrupted one would have.
"""
import io
import math

import numpy as np
import tensorflow as tf

from keras_vit.data import IMAGE_EXTENSIONS  # noqa: F401  (re-exported)
from keras_vit.datasets import DataSplits, EncodedImages, load_dataset  # noqa: F401  (re-exported)


def sub_seed(seed, index):
    """The stateless seed ``index`` derived from a ``[2]`` seed (independent streams)."""
    return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), index)


def _pillow_decode(data):
    """Encoded bytes to 8-bit RGB with Pillow, as ``keras_vit.data.open_image`` reads a file."""
    from keras_vit.data import open_image

    data = data.item() if isinstance(data, np.ndarray) else data  # a 0-d object array in tf.numpy_function
    return np.asarray(open_image(io.BytesIO(data)), dtype=np.uint8)


class RandomResizedCrop:
    """Inception's random crop (Szegedy et al., 2015), as torchvision and timm take it.

    A window of a random ``scale`` fraction of the image's area and a log-uniform random aspect
    ratio in ``ratio`` is cut and resized to ``size`` x ``size`` (bilinear, antialiased, as
    Pillow's). Up to 10 draws are tried; when none fits, the whole image is cut to the nearest
    allowed aspect ratio around its center (torchvision's ``RandomResizedCrop.get_params``).

    :meth:`decode` takes encoded bytes and decodes only the window of a JPEG
    (``tf.image.decode_and_crop_jpeg``): libjpeg still reads the compressed stream up to the
    window's last row, but transforms and converts only the window's pixels. Other formats (PNG, WebP, CMYK JPEG, 16-bit...)
    are decoded whole by Pillow, as ``keras_vit.data.open_image`` does, then cropped.

    Args:
        size: side of the output.
        scale: ``(min, max)`` fraction of the image's area, in (0, 1].
        ratio: ``(min, max)`` width / height of the window.
        attempts: draws before the center fallback.

    Example:
        >>> crop = RandomResizedCrop(224)
        >>> image = crop.decode(tf.io.read_file("cat.jpg"), seed=tf.constant([0, 1]))
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), attempts=10):
        scale, ratio = tuple(float(s) for s in scale), tuple(float(r) for r in ratio)
        if int(size) < 1:
            raise ValueError(f"RandomResizedCrop size must be a positive integer, got {size!r}")
        if len(scale) != 2 or not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(f"RandomResizedCrop scale must be (min, max) with 0 < min <= max <= 1, got {scale!r}")
        if len(ratio) != 2 or not 0.0 < ratio[0] <= ratio[1] or not math.isfinite(ratio[1]):
            raise ValueError(f"RandomResizedCrop ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
        if int(attempts) < 1:
            raise ValueError(f"RandomResizedCrop attempts must be at least 1, got {attempts!r}")
        self.size, self.scale, self.ratio, self.attempts = int(size), scale, ratio, int(attempts)

    def window(self, height, width, seed):
        """``(top, left, crop_height, crop_width)`` int32 of an image of ``height`` x ``width``."""
        height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
        h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        draws = tf.random.stateless_uniform([4, self.attempts], seed, dtype=tf.float32)
        area = h_f * w_f * (self.scale[0] + (self.scale[1] - self.scale[0]) * draws[0])
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = tf.exp(log_lo + (log_hi - log_lo) * draws[1])
        w = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
        h = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
        fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
        # Offsets uniform over the valid positions (torchvision's randint(0, side - crop + 1)).
        top = tf.cast(draws[2] * tf.cast(height - h + 1, tf.float32), tf.int32)
        left = tf.cast(draws[3] * tf.cast(width - w + 1, tf.float32), tf.int32)
        top, left = tf.minimum(top, height - h), tf.minimum(left, width - w)
        # The fallback: the whole image, cut to the nearest allowed aspect ratio, centered.
        in_ratio = w_f / h_f
        fb_w = tf.where(in_ratio > self.ratio[1], tf.cast(tf.round(h_f * self.ratio[1]), tf.int32), width)
        fb_h = tf.where(in_ratio < self.ratio[0], tf.cast(tf.round(w_f / self.ratio[0]), tf.int32), height)
        found = tf.reduce_any(fits)
        pick = lambda drawn, fallback: tf.where(found, drawn[first], fallback)  # noqa: E731
        return (pick(top, (height - fb_h) // 2), pick(left, (width - fb_w) // 2), pick(h, fb_h), pick(w, fb_w))

    def _resize(self, image):
        # Antialiasing only changes a downscale, and costs 2-3x the plain resize.
        shape = tf.shape(image)
        shrinks = tf.reduce_any(shape[:2] > self.size)
        image = tf.cond(
            shrinks,
            lambda: tf.image.resize(image, (self.size, self.size), method="bilinear", antialias=True),
            lambda: tf.image.resize(image, (self.size, self.size), method="bilinear"))
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    def crop(self, image, seed):
        """Crop and resize a decoded ``(H, W, 3)`` image."""
        shape = tf.shape(image)
        top, left, h, w = self.window(shape[0], shape[1], seed)
        return self._resize(image[top:top + h, left:left + w])

    def decode(self, data, seed):
        """Decode encoded image bytes (a scalar string tensor), crop and resize."""

        # A JPEG's header gives its shape and channels without decoding (zeros: not a JPEG).
        shape = tf.cond(tf.io.is_jpeg(data), lambda: tf.image.extract_jpeg_shape(data),
                        lambda: tf.zeros([3], tf.int32))

        def jpeg():
            top, left, h, w = self.window(shape[0], shape[1], seed)
            window = tf.stack([top, left, h, w])
            return self._resize(tf.image.decode_and_crop_jpeg(data, window, channels=3, dct_method="INTEGER_ACCURATE"))

        def other():
            image = tf.numpy_function(_pillow_decode, [data], tf.uint8, stateful=False)
            image.set_shape([None, None, 3])
            return self.crop(image, seed)

        # libjpeg converts grayscale and YCbCr JPEGs to RGB; CMYK and the rest go to Pillow. The
        # accurate integer DCT is the one Pillow uses (TensorFlow's default is the fast one).
        image = tf.cond(tf.reduce_any(tf.equal(shape[2], [1, 3])), jpeg, other)
        return tf.ensure_shape(image, [self.size, self.size, 3])


def _options():
    options = tf.data.Options()
    # Sources are in memory or a file list; DATA sharding gives each worker a disjoint part
    # of every global batch, whatever the number of files.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    options.deterministic = True
    return options


def make_pipeline(
    dataset,
    num_classes,
    batch_size,
    *,
    training=False,
    augment=None,
    crop=None,
    cache=True,
    seed=0,
    shuffle_buffer=10000,
    skip_batches=0,
    repeats=1,
    multi_scale=None,
):
    """Batch an unbatched split into a ``tf.data`` pipeline ready for ``model.fit``.

    Args:
        dataset: unbatched ``(uint8 image, int label)`` dataset from :func:`load_dataset`, or
            (training with ``crop`` only) its undecoded training split
            ``DataSplits.train_encoded``, decoded here after the shuffle.
        num_classes: labels become one-hot float vectors of this length (MixUp/CutMix and
            label smoothing need soft labels).
        batch_size: the global batch; ``model.fit`` splits it across replicas.
        training: shuffle (seeded, reshuffled every epoch), repeat forever, drop the last
            incomplete batch and augment. Use ``steps_per_epoch`` in ``fit``.
        augment: an :class:`~keras_vit.training.augment.Augmenter` or ``None``.
        crop: a :class:`RandomResizedCrop` (training only) or ``None``. On decoded images it
            crops the already resized image and resizes it back.
        cache: ``True`` (memory), a file path prefix, or ``False``. An undecoded split caches
            its file names or encoded bytes.
        seed: seed of the shuffle and of every random crop and augmentation.
        skip_batches: training batches to skip at the start (resuming mid-epoch).
        repeats: repeated augmentation (Hoffer et al., 2020; DeiT): each shuffled image is
            passed on this many times in a row, each copy augmented apart, so a batch holds
            ``batch_size / repeats`` distinct images and an epoch of the same steps sees
            ``1 / repeats`` of the split (timm's ``RASampler`` does the same across GPUs).
        multi_scale: a :class:`~keras_vit.training.multiscale.MultiScaleSampler` (training
            only): batches of varying resolution and size instead of ``batch_size``.

    Returns:
        A ``tf.data.Dataset`` of ``(float32 images in [0, 255], one-hot labels)``.
    """
    encoded = isinstance(dataset, EncodedImages)
    if encoded and (not training or crop is None):
        raise ValueError("an undecoded split (DataSplits.train_encoded) is decoded by a RandomResizedCrop: pass "
                         "training=True and crop=RandomResizedCrop(size), or pass the decoded split (DataSplits.train)")
    if crop is not None and not training:
        raise ValueError("crop is a training augmentation: pass training=True, or crop=None for evaluation")
    ds = dataset.records if encoded else dataset
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
        if repeats > 1:
            ds = ds.flat_map(lambda x, y: tf.data.Dataset.from_tensors((x, y)).repeat(repeats))
        # The image's place in the stream keys its random draws: a resumed run draws the same.
        ds = ds.enumerate()
        if skip_batches and multi_scale is None:
            # Skipping elements before decoding is cheap and, with a seeded shuffle, lands
            # exactly where the interrupted run stopped.
            ds = ds.skip(skip_batches * batch_size)
        is_path = encoded and dataset.is_path

        def per_image(index, element):
            image, label = element
            key = tf.stack([tf.constant(seed, tf.int64), index])
            if encoded:
                image = crop.decode(tf.io.read_file(image) if is_path else image, sub_seed(key, 0))
            elif crop is not None:
                image = crop.crop(image, sub_seed(key, 0))
            if augment is not None:
                image, label = augment.per_image(image, label, seed=sub_seed(key, 1))
            return image, label

        ds = ds.map(per_image, num_parallel_calls=tf.data.AUTOTUNE)
    if training and multi_scale is not None:
        # Batch sizes vary with the resolution: resuming skips whole batches.
        ds = multi_scale.batch(ds).skip(skip_batches)
    else:
        ds = ds.batch(batch_size, drop_remainder=training)
    if training and augment is not None:
        def per_batch(index, batch):
            images, labels = batch
            key = tf.stack([tf.constant(seed, tf.int64), -1 - index])
            return augment.per_batch(tf.cast(images, tf.float32), tf.one_hot(labels, num_classes), seed=key)

        ds = ds.enumerate(start=skip_batches).map(per_batch, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, num_classes)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())
