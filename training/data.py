"""Input pipelines for training over the named datasets of :mod:`keras_vit.datasets`.

:func:`keras_vit.datasets.load_dataset` gives three unbatched ``tf.data`` splits of ``(uint8
image HxWx3, int label)`` resized to the model's input (re-exported here);
:func:`make_pipeline` then caches, shuffles, batches (global batch), augments and prefetches
them; ``model.fit`` splits each global batch across replicas and the auto-shard policy gives
every worker its own part of it.
"""
import tensorflow as tf

from keras_vit.data import IMAGE_EXTENSIONS  # noqa: F401  (re-exported)
from keras_vit.datasets import DataSplits, load_dataset  # noqa: F401  (re-exported)


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
    cache=True,
    seed=0,
    shuffle_buffer=10000,
    skip_batches=0,
    repeats=1,
    multi_scale=None,
):
    """Batch an unbatched split into a ``tf.data`` pipeline ready for ``model.fit``.

    Args:
        dataset: unbatched ``(uint8 image, int label)`` dataset from :func:`load_dataset`.
        num_classes: labels become one-hot float vectors of this length (MixUp/CutMix and
            label smoothing need soft labels).
        batch_size: the global batch; ``model.fit`` splits it across replicas.
        training: shuffle (seeded, reshuffled every epoch), repeat forever, drop the last
            incomplete batch and augment. Use ``steps_per_epoch`` in ``fit``.
        augment: an :class:`~keras_vit.training.augment.Augmenter` or ``None``.
        cache: ``True`` (memory), a file path prefix, or ``False``.
        seed: shuffle seed.
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
    ds = dataset
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
        if repeats > 1:
            ds = ds.flat_map(lambda x, y: tf.data.Dataset.from_tensors((x, y)).repeat(repeats))
        if skip_batches and multi_scale is None:
            # Skipping elements before augmentation is cheap and, with a seeded shuffle,
            # lands exactly where the interrupted run stopped.
            ds = ds.skip(skip_batches * batch_size)
        if augment is not None:
            ds = ds.map(augment.per_image, num_parallel_calls=tf.data.AUTOTUNE)
    if training and multi_scale is not None:
        # Batch sizes vary with the resolution: resuming skips whole batches.
        ds = multi_scale.batch(ds).skip(skip_batches)
    else:
        ds = ds.batch(batch_size, drop_remainder=training)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, num_classes)),
                num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment is not None:
        ds = ds.map(augment.per_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())
