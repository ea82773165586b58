"""DeiT-style data augmentation built from Keras core preprocessing layers.

RandAugment and horizontal flips run per image, RandomErasing and MixUp/CutMix per batch,
all inside the ``tf.data`` pipeline (the Keras layers are tf.data-safe), so the model stays a
plain model and augmentation runs on the host CPU while accelerators train.
"""
import functools

import keras
import tensorflow as tf


#: Augmentation runs on the input pipeline's float32 pixels, whatever mixed-precision policy the
#: model trains under (under mixed_bfloat16, CutMix otherwise mixed bfloat16 and float32 tensors).
F32 = dict(dtype="float32")


class ChosenOpsRandAugment(keras.layers.RandAugment):
    """``keras.layers.RandAugment`` that computes only the operations it picked.

    RandAugment (Cubuk et al., 2020) applies ``num_ops`` operations picked at random from a
    list. Keras's layer computes every operation of its list ``num_ops`` times per image and
    keeps the picked one with ``where`` (22 transforms for 2 operations, Equalization's
    histograms among them); here a ``tf.switch_case`` on the picked index runs that one only.
    The random draws (:meth:`get_random_transformation`) and so the output are Keras's: only
    the work differs. For ``tf.data`` pipelines, where augmentation runs.

    Example:
        >>> layer = ChosenOpsRandAugment(value_range=(0, 255), num_ops=2, factor=0.9, seed=1)
        >>> ds = ds.map(lambda x, y: (layer(x, training=True), y))
    """

    def transform_images(self, images, transformation, training=True):
        images = tf.cast(images, self.compute_dtype)
        if not training:
            return images
        transforms = transformation["transforms"]
        for i in range(self.num_ops):
            shape = images.shape
            images = tf.switch_case(tf.cast(transformation["layer_idxes"][i], tf.int32), [
                functools.partial(self._apply_one, name, images, value) for name, value in transforms.items()])
            images = tf.ensure_shape(images, shape)
        return images

    def _apply_one(self, name, images, value):
        return tf.cast(getattr(self, name).transform_images(images, value), self.compute_dtype)


class Augmenter:
    """Training-time augmentation configured by a recipe.

    Args:
        num_classes: length of the one-hot labels.
        randaugment_ops: operations per image for ``keras.layers.RandAugment`` (0: off).
        randaugment_magnitude: RandAugment ``factor`` (strength, 0..1).
        hflip: random horizontal flips (off for digits and text).
        random_translate: largest shift, as a fraction of the image side (0: off).
        random_rotate: largest rotation, as a fraction of a full turn (0: off).
        random_erasing: probability that an image gets a random rectangle erased.
        mixup_alpha, cutmix_alpha: Beta parameters of MixUp and CutMix (0: off).
        mix_prob: probability that a batch is mixed at all.
        mix_switch_prob: when both are on, probability of CutMix instead of MixUp.
        seed: base seed of the random layers.

    Example:
        >>> aug = Augmenter(10, mixup_alpha=0.8, cutmix_alpha=1.0)
        >>> ds = ds.map(aug.per_image).batch(32).map(aug.per_batch)
    """

    def __init__(self, num_classes, *, randaugment_ops=2, randaugment_magnitude=0.5,
                 hflip=True, random_translate=0.0, random_rotate=0.0, random_erasing=0.0, mixup_alpha=0.0, cutmix_alpha=0.0,
                 mix_prob=1.0, mix_switch_prob=0.5, seed=0):
        self.num_classes = num_classes
        self.mix_prob = float(mix_prob)
        self.mix_switch_prob = float(mix_switch_prob)
        self.flip = keras.layers.RandomFlip("horizontal", seed=seed, **F32) if hflip else None
        self.randaugment = (
            ChosenOpsRandAugment(value_range=(0, 255), num_ops=int(randaugment_ops),
                                 factor=float(randaugment_magnitude), seed=seed + 1, **F32)
            if randaugment_ops > 0 else None)
        # Small geometric jitter is the augmentation that matters for tiny images (digits).
        self.geometric = [
            layer for layer in (
                keras.layers.RandomTranslation(random_translate, random_translate,
                                               fill_mode="constant", seed=seed + 6, **F32)
                if random_translate > 0 else None,
                keras.layers.RandomRotation(random_rotate, fill_mode="constant", seed=seed + 7, **F32)
                if random_rotate > 0 else None)
            if layer is not None]
        # factor=(p, p): Keras samples the probability from the range; a point range is p.
        self.erasing = (
            keras.layers.RandomErasing(factor=(random_erasing, random_erasing),
                                       value_range=(0, 255), seed=seed + 2, **F32)
            if random_erasing > 0 else None)
        self.mixup = keras.layers.MixUp(alpha=mixup_alpha, seed=seed + 3, **F32) if mixup_alpha > 0 else None
        self.cutmix = keras.layers.CutMix(factor=cutmix_alpha, seed=seed + 4, **F32) if cutmix_alpha > 0 else None
        self._rng = tf.random.Generator.from_seed(seed + 5)

    @classmethod
    def from_recipe(cls, recipe, num_classes):
        """Build from a :class:`~keras_vit.training.recipe.Recipe`; ``None`` if all is off."""
        aug = cls(num_classes, randaugment_ops=recipe.randaugment_ops,
                  randaugment_magnitude=recipe.randaugment_magnitude, hflip=recipe.hflip,
                  random_translate=recipe.random_translate, random_rotate=recipe.random_rotate,
                  random_erasing=recipe.random_erasing, mixup_alpha=recipe.mixup_alpha,
                  cutmix_alpha=recipe.cutmix_alpha, mix_prob=recipe.mix_prob,
                  mix_switch_prob=recipe.mix_switch_prob, seed=recipe.seed)
        return aug if aug.enabled else None

    @property
    def enabled(self):
        mixing = (self.mixup is not None or self.cutmix is not None) and self.mix_prob > 0
        return mixing or bool(self.geometric) or any(
            x is not None for x in (self.flip, self.randaugment, self.erasing))

    def per_image(self, image, label, seed=None):
        """Augment one uint8 image (flip, RandAugment); labels pass through."""
        if self.flip is None and self.randaugment is None:
            return image, label
        x = tf.cast(image, tf.float32)
        if self.flip is not None:
            x = self.flip(x, training=True)
        if self.randaugment is not None:
            x = self.randaugment(x, training=True)
        return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8), label

    def per_batch(self, images, labels, seed=None):
        """Augment a float batch with one-hot labels: translation/rotation, RandomErasing,
        then MixUp or CutMix. Pixels stay in [0, 255]."""
        images, labels = self._per_batch(images, labels)
        # Interpolation and lam * 255 + (1 - lam) * 255 can round to 255.00002 in float32; the
        # model's input range is [0, 255] exactly, as it is for an unaugmented batch.
        return tf.clip_by_value(images, 0.0, 255.0), labels

    def _per_batch(self, images, labels):
        for layer in self.geometric:
            images = layer(images, training=True)
        if self.erasing is not None:
            images = self.erasing(images, training=True)
        if self.mixup is None and self.cutmix is None:
            return images, labels
        data = {"images": images, "labels": labels}

        def mixed():
            if self.mixup is not None and self.cutmix is not None:
                use_cutmix = self._rng.uniform(()) < self.mix_switch_prob
                out = tf.cond(use_cutmix, lambda: self.cutmix(data, training=True),
                              lambda: self.mixup(data, training=True))
            else:
                out = (self.mixup or self.cutmix)(data, training=True)
            return tf.cast(out["images"], images.dtype), tf.cast(out["labels"], labels.dtype)

        if self.mix_prob >= 1.0:
            return mixed()
        return tf.cond(self._rng.uniform(()) < self.mix_prob, mixed, lambda: (images, labels))
