"""MobileViT's multi-scale sampler: every training batch at its own resolution and batch size.

Mehta & Rastegari, "MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision
Transformer", ICLR 2022 (https://arxiv.org/abs/2110.02178), section 3.3 and appendix. Each
batch draws one resolution ``s`` from a set (160, 192, ..., 320 around 256 in the paper) and
holds ``batch_size * (base / s) ** 2`` images, so that pixels per batch, and with them memory
and time per step, stay about constant (ml-cvnets' ``VariableBatchSampler`` scales from the
base size as here). Small resolutions give many cheap steps, large ones few; validation and
test run at the base size. The network must take any input size
(``create_model(..., input_shape=(None, None, 3))``, MobileViT).

Here the base size is the recipe's ``image_size`` (images are loaded and augmented at that
size) and ``batch_size`` is the batch at it; a batch at another size is resized bilinearly
after per-image augmentation and before the batch augmentations (MixUp, CutMix, translation).
Batches are whole multiples of the number of replicas, so ``tf.distribute`` splits every one
evenly, and there are only ``len(sizes)`` shapes, so a step compiles at most that many ways.

Recipe key::

    "multi_scale": {"sizes": [40, 48, 56, 64, 72, 80]}
"""
import numpy as np

KEYS = ("sizes",)


def check_multi_scale(value, image_size, batch_size, model=None):
    """Validate the recipe key ``multi_scale``; raises ``ValueError`` naming what is wrong.

    Args:
        value: ``None`` (off) or ``{"sizes": [int, ...]}``.
        image_size, batch_size: the recipe's base size and the batch at it.
        model: registered model name; the family must take any input size.
    """
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(f"Recipe key 'multi_scale' must be null or a JSON object like "
                         f'{{"sizes": [160, 192, 224, 256, 288, 320]}}, got {value!r}')
    unknown = sorted(set(value) - set(KEYS))
    if unknown or "sizes" not in value:
        raise ValueError(f"Recipe key 'multi_scale' takes the key 'sizes' only (the resolutions "
                         f"to sample from); got keys {sorted(value)}")
    sizes = value["sizes"]
    if (not isinstance(sizes, list) or not sizes
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)):
        raise ValueError(f"Recipe key 'multi_scale': 'sizes' must be a non-empty list of positive "
                         f"integers (image sides in pixels), got {sizes!r}")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"Recipe key 'multi_scale': 'sizes' lists a size twice: {sizes!r}")
    if batch_size * image_size ** 2 < max(sizes) ** 2:
        raise ValueError(f"Recipe key 'multi_scale': batch_size {batch_size} at image_size {image_size} "
                         f"leaves less than one image per batch at size {max(sizes)}")
    if model is not None:
        import keras_vit.models  # noqa: F401  (registers the families)
        from keras_vit import registry

        if model in registry.list_models() and not getattr(
                registry.get_model_spec(model).builder, "any_input_size", False):
            raise ValueError(f"Recipe key 'multi_scale' needs a model that takes any input size; "
                             f"{model!r} is built for one size (MobileViT takes any)")


class MultiScaleSampler:
    """Groups an unbatched image stream into batches of varying resolution and size.

    Args:
        sizes: resolutions (square sides) to draw from, uniformly, one per batch.
        base_size: the side images arrive at; ``batch_size`` is the batch at it.
        batch_size: global batch at ``base_size``; at side ``s`` a batch holds
            ``batch_size * (base_size / s) ** 2`` images, rounded down to a multiple of
            ``num_replicas`` (at least ``num_replicas``).
        num_replicas: replicas of the ``tf.distribute`` strategy (all workers).
        seed: the sequence of resolutions depends on it (and on nothing else).

    Example:
        >>> sampler = MultiScaleSampler([40, 48, 56, 64, 72, 80], base_size=64, batch_size=64)
        >>> sampler.batch_sizes
        (163, 113, 83, 64, 50, 40)
        >>> batches = sampler.batch(unbatched_images_and_labels)  # (B_t, s_t, s_t, 3) float32
    """

    def __init__(self, sizes, base_size, batch_size, *, num_replicas=1, seed=0):
        self.sizes = tuple(int(s) for s in sizes)
        self.base_size = int(base_size)
        self.num_replicas = int(num_replicas)
        self.seed = int(seed)
        self.batch_sizes = tuple(
            max(self.num_replicas,
                int(batch_size * self.base_size ** 2 / s ** 2) // self.num_replicas * self.num_replicas)
            for s in self.sizes)

    @classmethod
    def from_recipe(cls, recipe, num_replicas=1):
        """The sampler of ``recipe.multi_scale`` (``None`` when the key is off)."""
        if recipe.multi_scale is None:
            return None
        return cls(recipe.multi_scale["sizes"], recipe.image_size, recipe.batch_size,
                   num_replicas=num_replicas, seed=recipe.seed)

    @property
    def mean_batch_size(self):
        """Images per step on average (resolutions are drawn uniformly)."""
        return float(np.mean(self.batch_sizes))

    def steps_per_epoch(self, num_images):
        """Steps that draw about ``num_images`` images: an epoch sees the split about once."""
        return max(1, round(num_images / self.mean_batch_size))

    def _size_index(self, step):
        import tensorflow as tf  # here, not at the top: reading a recipe does not load TensorFlow

        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        return tf.random.stateless_uniform([], seed, minval=0, maxval=len(self.sizes), dtype=tf.int64)

    def schedule(self, steps):
        """``[(size, batch), ...]`` of the first ``steps`` batches, as :meth:`batch` yields them."""
        index = [int(self._size_index(t)) for t in range(steps)]
        return [(self.sizes[i], self.batch_sizes[i]) for i in index]

    def batch(self, dataset):
        """Batch an unbatched ``(image, label)`` dataset (images at ``base_size``).

        Step ``t`` takes the next ``batch_sizes[i]`` images and resizes them to ``sizes[i]``
        (bilinear, antialiased), ``i`` drawn from ``(seed, t)``. Returns float32 images.
        """
        import tensorflow as tf

        count = len(self.sizes)
        batch_sizes = tf.constant(self.batch_sizes, tf.int64)
        sizes = tf.constant(self.sizes, tf.int32)

        def assign(state, element):
            # Which step every image belongs to: a step starts when the last one is full.
            step, left = state
            step = tf.where(left == 0, step + 1, step)
            index = self._size_index(step)
            left = tf.where(left == 0, batch_sizes[index], left) - 1
            return (step, left), (element, step * count + index)

        def resized(key, window):
            size = sizes[key % count]
            return window.batch(max(self.batch_sizes)).map(
                lambda element, _: (tf.image.resize(element[0], [size, size], antialias=True), element[1]))

        ds = dataset.scan((tf.constant(-1, tf.int64), tf.constant(0, tf.int64)), assign)
        # Every key (one per step) covers a run of exactly its batch size: each window closes
        # as its step's last image arrives, so batches come out in step order.
        return ds.group_by_window(lambda element, key: key, resized,
                                  window_size_func=lambda key: tf.gather(batch_sizes, key % count))

