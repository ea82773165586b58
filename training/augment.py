"""DeiT-style data augmentation in the ``tf.data`` pipeline, as timm defines it.

Per image (uint8, in the map that decodes): horizontal flip, RandAugment
(:class:`~training.randaugment.RandAugment`, timm's ``rand-m9-mstd0.5-inc1``) and RandomErasing
(:func:`~training.mixing.random_erasing`); per batch (float32): small translations/rotations
(Keras's ``RandomTranslation``/``RandomRotation``, for digits) and MixUp/CutMix
(:func:`~training.mixing.mix_batch`, timm's batch mode). All of it runs on the host CPU while
accelerators train, and the model stays a plain model.

Every random draw is stateless, keyed by a seed that :func:`~training.data.make_pipeline` derives
from the recipe's seed and the image's (or batch's) place in the stream.
"""
import keras
import tensorflow as tf

from .data import sub_seed as _sub_seed
from .mixing import _check_probability, mix_batch, random_erasing as erase
from .randaugment import RandAugment


#: Augmentation runs on the input pipeline's float32 pixels, whatever mixed-precision policy the
#: model trains under (under mixed_bfloat16, Keras layers otherwise mix bfloat16 and float32 tensors).
F32 = dict(dtype="float32")


class Augmenter:
    """Training-time augmentation configured by a recipe.

    Args:
        num_classes: length of the one-hot labels.
        randaugment_ops: operations per image of timm's RandAugment (0: off).
        randaugment_magnitude: its magnitude as a fraction of timm's top level 10 (0.9: ``m9``).
        randaugment_magnitude_std: standard deviation of the per-operation magnitude noise, in
            timm's levels (0.5: ``mstd0.5``; 0: a fixed magnitude).
        hflip: random horizontal flips (off for digits and text).
        random_translate: largest shift, as a fraction of the image side (0: off).
        random_rotate: largest rotation, as a fraction of a full turn (0: off).
        random_erasing: probability that an image gets a random rectangle of noise (timm's
            ``re_prob``, pixel mode).
        mixup_alpha, cutmix_alpha: Beta parameters of MixUp and CutMix (0: off).
        mix_prob: probability that a batch is mixed at all.
        mix_switch_prob: when both are on, probability of CutMix instead of MixUp.
        seed: seed of the Keras layers and of the draws when no seed is passed.

    Example:
        >>> aug = Augmenter(10, mixup_alpha=0.8, cutmix_alpha=1.0)
        >>> ds = ds.map(aug.per_image).batch(32).map(lambda x, y: aug.per_batch(
        ...     tf.cast(x, tf.float32), tf.one_hot(y, 10)))
    """

    def __init__(self, num_classes, *, randaugment_ops=2, randaugment_magnitude=0.5, randaugment_magnitude_std=0.5,
                 hflip=True, random_translate=0.0, random_rotate=0.0, random_erasing=0.0, mixup_alpha=0.0,
                 cutmix_alpha=0.0, mix_prob=1.0, mix_switch_prob=0.5, seed=0):
        self.num_classes = num_classes
        self.hflip = bool(hflip)
        self.randaugment = (
            RandAugment(num_ops=int(randaugment_ops), magnitude=10.0 * float(randaugment_magnitude),
                        magnitude_std=float(randaugment_magnitude_std))
            if randaugment_ops > 0 else None)
        self.random_erasing = float(random_erasing)
        _check_probability("random_erasing", self.random_erasing)
        # Small geometric jitter is the augmentation that matters for tiny images (digits).
        self.geometric = [
            layer for layer in (
                keras.layers.RandomTranslation(random_translate, random_translate,
                                               fill_mode="constant", seed=seed + 6, **F32)
                if random_translate > 0 else None,
                keras.layers.RandomRotation(random_rotate, fill_mode="constant", seed=seed + 7, **F32)
                if random_rotate > 0 else None)
            if layer is not None]
        self.mix = dict(mixup_alpha=float(mixup_alpha), cutmix_alpha=float(cutmix_alpha), prob=float(mix_prob),
                        switch_prob=float(mix_switch_prob))
        self._rng = tf.random.Generator.from_seed(seed + 5)

    @classmethod
    def from_recipe(cls, recipe, num_classes):
        """Build from a :class:`~keras_vit.training.recipe.Recipe`; ``None`` if all is off."""
        aug = cls(num_classes, randaugment_ops=recipe.randaugment_ops,
                  randaugment_magnitude=recipe.randaugment_magnitude,
                  randaugment_magnitude_std=recipe.randaugment_magnitude_std, hflip=recipe.hflip,
                  random_translate=recipe.random_translate, random_rotate=recipe.random_rotate,
                  random_erasing=recipe.random_erasing, mixup_alpha=recipe.mixup_alpha,
                  cutmix_alpha=recipe.cutmix_alpha, mix_prob=recipe.mix_prob,
                  mix_switch_prob=recipe.mix_switch_prob, seed=recipe.seed)
        return aug if aug.enabled else None

    @property
    def mixing(self):
        return (self.mix["mixup_alpha"] > 0 or self.mix["cutmix_alpha"] > 0) and self.mix["prob"] > 0

    @property
    def per_image_work(self):
        return self.hflip or self.randaugment is not None or self.random_erasing > 0

    @property
    def enabled(self):
        return self.mixing or bool(self.geometric) or self.per_image_work

    def _seed(self, seed):
        return self._rng.make_seeds(1)[:, 0] if seed is None else tf.cast(seed, tf.int64)

    def per_image(self, image, label, seed=None):
        """Augment one uint8 ``(H, W, 3)`` image: flip, RandAugment, RandomErasing (in this order,
        as timm). ``seed``: ``[2]`` stateless seed (``None``: drawn from the augmenter's
        generator). Labels pass through."""
        if not self.per_image_work:
            return image, label
        seed = self._seed(seed)
        image = tf.convert_to_tensor(image)
        if image.dtype != tf.uint8:
            raise ValueError(f"per_image takes uint8 images (H, W, 3), got {image.dtype.name}")
        if self.hflip:
            flip = tf.random.stateless_uniform([], _sub_seed(seed, 0)) < 0.5
            image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
        if self.randaugment is not None:
            image = self.randaugment(image, _sub_seed(seed, 1))
        if self.random_erasing > 0:
            image = erase(image, _sub_seed(seed, 2), probability=self.random_erasing)
        return image, label

    def per_batch(self, images, labels, seed=None):
        """Augment a float batch in [0, 255] with one-hot labels: translation/rotation, then MixUp
        or CutMix. ``seed``: ``[2]`` stateless seed of the mix (``None``: drawn). Pixels stay in
        [0, 255]."""
        for layer in self.geometric:
            images = layer(images, training=True)
        if self.mixing:
            images, labels = mix_batch(images, labels, self._seed(seed), **self.mix)
        # Interpolation and lam * 255 + (1 - lam) * 255 can round to 255.00002 in float32; the
        # model's input range is [0, 255] exactly, as it is for an unaugmented batch.
        return tf.clip_by_value(images, 0.0, 255.0), labels
