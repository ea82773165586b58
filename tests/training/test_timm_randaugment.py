"""training.randaugment: timm's RandAugment ('rand-m9-mstd0.5-inc1') in TensorFlow, against timm itself.

Every operation is compared with timm's operation function (Pillow) applied with the same explicit
argument to the same image; the level -> argument mapping with timm's ``LEVEL_TO_ARG``; the whole
transform with timm's operations replayed from our draws (``RandAugment.sample``).
"""
import random

import numpy as np
import pytest
import tensorflow as tf
import timm.data.auto_augment as timm_aa
from PIL import Image

from training import randaugment as ra

FILL = (124, 116, 104)
TIMM_KWARGS = dict(fillcolor=FILL, resample=Image.BILINEAR)
HPARAMS = {"img_mean": FILL, "translate_pct": 0.45}


def _image(seed=0, height=48, width=64, low_contrast=False):
    """A real-looking RGB image: gradients and waves plus noise (not square, not full range)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width * 200 + 30, y / height * 180 + 40,
                     (x + y) / (width + height) * 150 + 60], -1)
    image = base + 25 * np.sin(x[..., None] / 5.0 + np.arange(3)) + rng.normal(0, 12, base.shape)
    image = np.clip(image, 0, 255)
    if low_contrast:
        image = image / 2 + 40
    return image.astype(np.uint8)


IMAGES = [_image(0), _image(1, low_contrast=True)]
#: One instance (DeiT's settings) for the transform tests: XLA compiles it once per image shape.
AUGMENT = ra.RandAugment()


def _timm(name, image, arg):
    op = timm_aa.NAME_TO_OP[name]
    pil = Image.fromarray(image)
    out = op(pil, **TIMM_KWARGS) if name in ("AutoContrast", "Equalize", "Invert") else op(
        pil, arg, **TIMM_KWARGS)
    return np.asarray(out).astype(int)


def _ours(name, image, arg):
    return ra.apply_op(name, tf.constant(image), arg, FILL).numpy().astype(int)


POINT_CASES = [
    ("AutoContrast", 0), ("Equalize", 0), ("Invert", 0),
    ("Posterize", 1), ("Posterize", 2), ("Posterize", 4),
    ("PosterizeIncreasing", 1), ("PosterizeIncreasing", 3),
    ("Solarize", 0), ("Solarize", 102), ("Solarize", 230), ("Solarize", 256),
    ("SolarizeIncreasing", 26), ("SolarizeIncreasing", 128),
    ("SolarizeAdd", 0), ("SolarizeAdd", 55), ("SolarizeAdd", 99), ("SolarizeAdd", 128),
]
ENHANCE_CASES = [(name, factor) for name in (
    "Color", "ColorIncreasing", "Contrast", "ContrastIncreasing", "Brightness",
    "BrightnessIncreasing", "Sharpness", "SharpnessIncreasing") for factor in (0.1, 0.73, 1.81)]
GEOMETRIC_CASES = [
    ("Rotate", 12.3), ("Rotate", -27.0), ("Rotate", 30.0),
    ("ShearX", 0.27), ("ShearX", -0.3), ("ShearY", 0.27), ("ShearY", -0.15),
    ("TranslateXRel", 0.405), ("TranslateXRel", -0.45), ("TranslateXRel", 0.13),
    ("TranslateYRel", 0.405), ("TranslateYRel", -0.45), ("TranslateYRel", 0.13),
]


def test_op_sets_are_timms():
    assert list(ra.RAND_INCREASING_OPS) == list(timm_aa._RAND_INCREASING_TRANSFORMS)
    assert list(ra.RAND_OPS) == list(timm_aa._RAND_TRANSFORMS)
    assert ra.RandAugment().op_names == ra.RAND_INCREASING_OPS
    assert ra.RandAugment(increasing=False).op_names == ra.RAND_OPS


@pytest.mark.parametrize("name,arg", POINT_CASES)
def test_point_ops_equal_timm(name, arg):
    for image in IMAGES:
        np.testing.assert_array_equal(_ours(name, image, arg), _timm(name, image, arg))


def test_posterize_to_zero_bits_is_black():
    # timm's PosterizeIncreasing keeps 0 bits at magnitude 10; Pillow 13 refuses 0 bits, older
    # Pillow masked every bit: black. Reference: Pillow's own point() with that mask.
    image = IMAGES[0]
    expected = np.asarray(Image.fromarray(image).point(lambda v: v & ~(2 ** 8 - 1)))
    np.testing.assert_array_equal(_ours("PosterizeIncreasing", image, 0), expected)


@pytest.mark.parametrize("name,factor", ENHANCE_CASES)
def test_enhance_ops_match_timm(name, factor):
    # Same blend and truncation as Pillow: measured identical; allow one level for float rounding.
    for image in IMAGES:
        diff = np.abs(_ours(name, image, factor) - _timm(name, image, factor))
        assert diff.max() <= 1, (name, factor, diff.max())
        assert diff.mean() < 0.01, (name, factor, diff.mean())


@pytest.mark.parametrize("name,arg", GEOMETRIC_CASES)
def test_geometric_ops_match_timm_bilinear(name, arg):
    # Pillow samples in float64, we in float32: measured max 1 level, mean < 0.07.
    for image in IMAGES:
        ours, theirs = _ours(name, image, arg), _timm(name, image, arg)
        diff = np.abs(ours - theirs)
        assert diff.max() <= 2, (name, arg, diff.max())
        assert diff.mean() < 0.15, (name, arg, diff.mean())
        assert np.mean(diff > 1) < 0.001
        # the fill lands on the same pixels
        np.testing.assert_array_equal(np.all(ours == FILL, -1).sum(), np.all(theirs == FILL, -1).sum())


@pytest.mark.parametrize("name", sorted(set(ra.RAND_INCREASING_OPS + ra.RAND_OPS)))
def test_level_to_arg_equals_timm(name, monkeypatch):
    level_fn = timm_aa.LEVEL_TO_ARG[name]
    for negate in (False, True):
        # timm's _randomly_negate flips the sign when random.random() > 0.5
        monkeypatch.setattr(timm_aa.random, "random", lambda: 0.9 if negate else 0.1)
        for magnitude in (0.0, 1.7, 5.0, 8.65, 9.0, 9.99, 10.0, 13.0):
            ours = float(ra.level_to_arg(name, magnitude, negate, 0.45).numpy())
            theirs = level_fn(magnitude, HPARAMS)[0] if level_fn is not None else 0.0
            assert ours == theirs, (name, magnitude, negate, ours, theirs)


@pytest.mark.parametrize("name,arg", POINT_CASES[:3] + ENHANCE_CASES[1::3] + GEOMETRIC_CASES[::2])
def test_plain_tensorflow_ops_equal_the_xla_ones(name, arg):
    image = tf.constant(IMAGES[0])
    xla = ra.apply_op(name, image, arg, FILL).numpy().astype(int)
    plain = ra.apply_op(name, image, arg, FILL, jit_compile=False).numpy().astype(int)
    assert np.abs(xla - plain).max() <= (1 if (name, arg) in GEOMETRIC_CASES else 0)


def _replay_with_timm(augment, image, seed):
    """timm's operations applied to ``image`` with our draws for ``seed``."""
    pil = Image.fromarray(image)
    for draw in augment.sample(seed):
        if draw is None:
            continue
        name, magnitude, negate = draw
        op = timm_aa.AugmentOp(name, prob=1.0, magnitude=magnitude, hparams=dict(HPARAMS))
        op.kwargs["resample"] = Image.BILINEAR
        saved = random.random
        random.random = lambda: 0.9 if negate else 0.1  # fixes _randomly_negate's draw
        try:
            pil = op(pil)
        finally:
            random.random = saved
    return np.asarray(pil).astype(int)


def test_transform_equals_timm_ops_replayed_from_its_draws():
    augment = AUGMENT
    image = IMAGES[0]
    checked = 0
    for i in range(24):
        seed = tf.constant([i, 11], tf.int64)
        draws = augment.sample(seed)
        if any(d is not None and d[0] == "PosterizeIncreasing" and d[1] >= 10 for d in draws):
            continue  # Pillow 13 refuses timm's 0-bit posterize (see the test above)
        ours = augment(tf.constant(image), seed).numpy().astype(int)
        diff = np.abs(ours - _replay_with_timm(augment, image, seed))
        # a one-level geometric difference can move a pixel across an Equalize/Posterize step
        assert np.mean(diff > 2) < 0.01, (draws, np.mean(diff > 2))
        assert diff.mean() < 0.5, (draws, diff.mean())
        checked += any(d is not None for d in draws)
    assert checked >= 12


def test_same_seed_same_image_and_different_seeds_differ():
    image = tf.constant(IMAGES[0])
    seeds = [[1, k] for k in range(40) if all(d is not None for d in AUGMENT.sample([1, k]))][:6]
    a = AUGMENT(image, tf.constant(seeds[0])).numpy()
    b = AUGMENT(image, tf.constant(seeds[0], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    outputs = [AUGMENT(image, tf.constant(seed)).numpy() for seed in seeds[1:]]
    assert all(not np.array_equal(a, o) for o in outputs)
    assert a.shape == IMAGES[0].shape and a.dtype == np.uint8


def test_prob_zero_and_no_ops_are_the_identity():
    image = tf.constant(IMAGES[0])
    for augment in (ra.RandAugment(prob=0.0), ra.RandAugment(num_ops=0)):
        for k in range(5):
            np.testing.assert_array_equal(augment(image, tf.constant([k, 0])).numpy(), IMAGES[0])


def test_draw_statistics_match_timms_sampling():
    augment = ra.RandAugment(num_ops=2, magnitude=9, magnitude_std=0.5, prob=0.5)
    draws = [augment.sample(tf.constant([k, 5])) for k in range(600)]
    flat = [d for per_image in draws for d in per_image]
    applied = [d for d in flat if d is not None]
    # applied ops per image ~ Binomial(2, 0.5): mean 1
    assert abs(len(applied) / len(draws) - 1.0) < 0.12
    counts = {name: 0 for name in ra.RAND_INCREASING_OPS}
    for name, _, _ in applied:
        counts[name] += 1
    expected = len(applied) / len(counts)
    assert all(0.5 * expected < c < 1.5 * expected for c in counts.values()), counts
    magnitudes = np.array([m for _, m, _ in applied])
    assert magnitudes.min() >= 0 and magnitudes.max() <= 10
    assert abs(magnitudes.mean() - 9.0) < 0.1 and 0.4 < magnitudes.std() < 0.6
    assert 0.4 < np.mean([n for _, _, n in applied]) < 0.6
    # uniform magnitudes for an infinite std, as timm's 'mstd' > 100
    uniform = ra.RandAugment(magnitude=9, magnitude_std=float("inf"), prob=1.0)
    m = np.array([d[1] for k in range(300) for d in uniform.sample(tf.constant([k, 1]))])
    assert 0 <= m.min() and m.max() <= 9 and abs(m.mean() - 4.5) < 0.5


def test_images_change_exactly_when_an_op_is_drawn():
    augment = AUGMENT
    image = tf.constant(IMAGES[1])  # low contrast: AutoContrast and Equalize change it too
    for k in range(24):
        seed = tf.constant([k, 3])
        changed = not np.array_equal(augment(image, seed).numpy(), IMAGES[1])
        assert changed == any(d is not None for d in augment.sample(seed)), augment.sample(seed)


def test_dynamic_shapes_in_a_tf_data_map_and_without_xla():
    # one operation per image keeps XLA's compilation (once per image shape) short
    augment = ra.RandAugment(num_ops=1, prob=1.0)
    plain = ra.RandAugment(num_ops=1, prob=1.0, jit_compile=False)  # same draws, no XLA
    images = [_image(2, 20, 28), _image(3, 24, 18), _image(4, 20, 28)]

    def gen():
        yield from images

    ds = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    ds = ds.enumerate().map(lambda i, x: augment(x, tf.stack([i, tf.constant(9, tf.int64)])),
                            num_parallel_calls=2, deterministic=True)
    outputs = list(ds.as_numpy_iterator())
    for i, (image, out) in enumerate(zip(images, outputs)):
        assert out.shape == image.shape and out.dtype == np.uint8
        expected = plain(tf.constant(image), tf.constant([i, 9])).numpy().astype(int)
        assert np.abs(out.astype(int) - expected).max() <= 1


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="num_ops"):
        ra.RandAugment(num_ops=-1)
    with pytest.raises(ValueError, match="num_ops"):
        ra.RandAugment(num_ops=1.5)
    with pytest.raises(ValueError, match="magnitude must be in"):
        ra.RandAugment(magnitude=-0.5)
    with pytest.raises(ValueError, match="magnitude must be in"):
        ra.RandAugment(magnitude=11, magnitude_max=10)
    with pytest.raises(ValueError, match="magnitude_std"):
        ra.RandAugment(magnitude_std=-1)
    with pytest.raises(ValueError, match="prob"):
        ra.RandAugment(prob=1.5)
    with pytest.raises(ValueError, match="fill"):
        ra.RandAugment(fill=(1, 2))
    augment = ra.RandAugment()
    seed = tf.constant([1, 2])
    with pytest.raises(ValueError, match="uint8"):
        augment(tf.zeros([8, 8, 3], tf.float32), seed)
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        augment(tf.zeros([8, 8], tf.uint8), seed)
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        augment(tf.zeros([2, 8, 8, 3], tf.uint8), seed)
    with pytest.raises(ValueError, match="seed"):
        augment(tf.zeros([8, 8, 3], tf.uint8), tf.constant([1, 2, 3]))
    with pytest.raises(ValueError, match="seed"):
        augment(tf.zeros([8, 8, 3], tf.uint8), tf.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="unknown RandAugment operation"):
        ra.apply_op("Cutout", tf.zeros([8, 8, 3], tf.uint8), 1.0)
