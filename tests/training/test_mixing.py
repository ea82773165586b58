"""training.mixing: timm's RandomErasing and batch-mode MixUp/CutMix in TF ops, against timm itself.

timm draws with numpy / Python's random and ours with stateless TF ops, so single draws are
compared by feeding timm's own draws (recorded from its module) to our pure functions, and the
distributions are compared over many seeds with loose bounds (fixed seeds: they cannot flake).
"""
import math
import random

import numpy as np
import pytest
import tensorflow as tf

from training.mixing import (apply_mix, cutmix_box, minmax_box, mix_batch, mixup_lam_and_box,
                             random_erasing)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class _Recorder:
    """A numpy RandomState whose calls (name, result) are recorded."""

    def __init__(self, seed):
        self._state = np.random.RandomState(seed)
        self.calls = []

    def __getattr__(self, name):
        draw = getattr(self._state, name)

        def recorded(*args, **kwargs):
            out = draw(*args, **kwargs)
            self.calls.append((name, out))
            return out
        return recorded

    def results(self, name):
        return [out for call, out in self.calls if call == name]


class _NumpyRecordingRandom:
    """Stands in for ``numpy`` inside timm.data.mixup: numpy, with ``np.random`` recorded."""

    def __init__(self, seed):
        self.random = _Recorder(seed)

    def __getattr__(self, name):
        return getattr(np, name)


def _record_timm_draws(monkeypatch, seed):
    import timm.data.mixup

    fake = _NumpyRecordingRandom(seed)
    monkeypatch.setattr(timm.data.mixup, "np", fake)
    return fake.random


# ---------------------------------------------------------------- MixUp / CutMix against timm

MIX_CONFIGS = {
    "mixup": dict(mixup_alpha=0.8, cutmix_alpha=0.0),
    "cutmix": dict(mixup_alpha=0.0, cutmix_alpha=1.0),
    "cutmix_uncorrected": dict(mixup_alpha=0.0, cutmix_alpha=1.0, correct_lam=False),
    "cutmix_minmax": dict(mixup_alpha=0.0, cutmix_alpha=0.0, cutmix_minmax=(0.2, 0.8)),
    "both_half_prob": dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=0.5, switch_prob=0.5),
}


@pytest.mark.parametrize("multi_label", [False, True], ids=["one_hot", "soft"])
@pytest.mark.parametrize("config", list(MIX_CONFIGS))
def test_apply_mix_equals_timm_mixup_for_timms_draws(monkeypatch, config, multi_label):
    import timm.data.mixup
    import torch

    kwargs = dict(MIX_CONFIGS[config])
    correct_lam = kwargs.pop("correct_lam", True)
    batch, height, width, classes = 6, 13, 17, 5
    rng = np.random.default_rng(0)
    seen = set()
    for seed in range(12):
        images = rng.uniform(0, 255, (batch, height, width, 3)).astype(np.float32)
        if multi_label:
            labels = rng.dirichlet(np.ones(classes), batch).astype(np.float32)
            target = torch.from_numpy(labels.copy())
        else:
            classes_idx = rng.integers(0, classes, batch)
            labels = np.eye(classes, dtype=np.float32)[classes_idx]
            target = torch.from_numpy(classes_idx)
        draws = _record_timm_draws(monkeypatch, seed)
        mixer = timm.data.mixup.Mixup(**kwargs, correct_lam=correct_lam, mode="batch", label_smoothing=0.0,
                                      num_classes=classes, multi_label=multi_label)
        x, y = mixer(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), target)
        theirs_images, theirs_labels = x.numpy().transpose(0, 2, 3, 1), y.numpy()

        # What timm drew: a Beta lam if it mixed, box draws (randint) if it chose CutMix.
        betas, ints = draws.results("beta"), draws.results("randint")
        use_cutmix = bool(ints)
        lam, box = (float(betas[0]) if betas else 1.0), np.zeros(4, np.int32)
        if use_cutmix and kwargs.get("cutmix_minmax"):
            lam, box = minmax_box(height, width, *ints)
        elif use_cutmix:
            lam, box = cutmix_box(height, width, lam, *ints, correct_lam=correct_lam)
        seen.add("cutmix" if use_cutmix else "mixup" if lam < 1 else "none")
        ours_images, ours_labels = apply_mix(images, labels, lam, use_cutmix, box)
        np.testing.assert_allclose(ours_images.numpy(), theirs_images, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(ours_labels.numpy(), theirs_labels, rtol=1e-6, atol=1e-6)
    expected = {"mixup": {"mixup"}, "both_half_prob": {"mixup", "cutmix", "none"}}.get(config, {"cutmix"})
    assert seen == expected


@pytest.mark.parametrize("correct_lam", [True, False])
def test_cutmix_box_and_lam_equal_timms_for_its_centres(monkeypatch, correct_lam):
    import timm.data.mixup

    rng = np.random.default_rng(1)
    for size in [(224, 224), (13, 17), (1, 5), (32, 7)]:
        draws = _record_timm_draws(monkeypatch, size[0])
        # Beta draws plus the extremes: no box (lam 1) and a full-image box (lam 0).
        lams = np.concatenate([rng.beta(1.0, 1.0, 200), [0.0, 1.0, 0.5]])
        theirs = [timm.data.mixup.cutmix_bbox_and_lam((8, 3, *size), lam, correct_lam=correct_lam)
                  for lam in lams]
        centres = np.array(draws.results("randint")).reshape(-1, 2)
        # Vectorized over the draws: one call for all of them.
        ours_lam, ours_box = cutmix_box(*size, lams, centres[:, 0], centres[:, 1], correct_lam=correct_lam)
        np.testing.assert_array_equal(ours_box.numpy().T, [box for box, _ in theirs])
        np.testing.assert_allclose(ours_lam.numpy(), [lam for _, lam in theirs], rtol=0, atol=1e-12)


def test_minmax_box_equals_timms_for_its_draws(monkeypatch):
    import timm.data.mixup

    for seed, size in enumerate([(224, 224), (13, 17), (40, 9)]):
        draws = _record_timm_draws(monkeypatch, seed)
        for _ in range(50):
            box, lam = timm.data.mixup.cutmix_bbox_and_lam((8, 3, *size), 0.3, ratio_minmax=(0.25, 0.75))
            ours_lam, ours_box = minmax_box(*size, *draws.results("randint")[-4:])
            np.testing.assert_array_equal(ours_box.numpy(), box)
            assert ours_lam.numpy() == pytest.approx(lam, abs=1e-12)


# ---------------------------------------------------------------- MixUp / CutMix distributions

def _draw_params(n, height=32, width=24, key=0, **kwargs):
    """(lam, use_cutmix, box) for seeds (i, key), i < n, as numpy arrays."""
    ds = tf.data.Dataset.range(n).map(
        lambda i: mixup_lam_and_box(tf.stack([i, key]), height, width, **kwargs)).batch(n)
    return [t.numpy() for t in next(iter(ds))]


def _timm_params(n, seed, height=32, width=24, **kwargs):
    """timm's Mixup._params_per_batch + cutmix_bbox_and_lam, n times from a seeded numpy."""
    import timm.data.mixup

    np_state = np.random.get_state()
    np.random.seed(seed)
    try:
        mixer = timm.data.mixup.Mixup(**kwargs, mode="batch")
        out = []
        for _ in range(n):
            lam, use_cutmix = mixer._params_per_batch()
            if use_cutmix:
                _, lam = timm.data.mixup.cutmix_bbox_and_lam((8, 3, height, width), lam, mixer.cutmix_minmax,
                                                             mixer.correct_lam)
            out.append((lam, use_cutmix))
    finally:
        np.random.set_state(np_state)
    lam, use_cutmix = map(np.array, zip(*out))
    return lam, use_cutmix


BOTH = dict(mixup_alpha=0.8, cutmix_alpha=1.0, cutmix_minmax=None, correct_lam=True)


def test_mix_params_distribution_matches_timm():
    n = 4000
    lam, use_cutmix, box = _draw_params(n, prob=0.8, switch_prob=0.3, **BOTH)
    timm_lam, timm_cutmix = _timm_params(n, 0, prob=0.8, switch_prob=0.3, **BOTH)
    mixed = lam < 1
    assert np.mean(mixed) == pytest.approx(0.8, abs=0.025)
    assert np.mean(use_cutmix) == pytest.approx(0.8 * 0.3, abs=0.025)
    assert np.mean(timm_cutmix) == pytest.approx(0.8 * 0.3, abs=0.025)
    # MixUp's lam is Beta(0.8, 0.8): symmetric, mean 0.5, std 1 / sqrt(10.4) = 0.31.
    mixup_lam, timm_mixup_lam = lam[mixed & ~use_cutmix], timm_lam[(timm_lam < 1) & ~timm_cutmix]
    assert np.mean(mixup_lam) == pytest.approx(0.5, abs=0.02)
    assert np.std(mixup_lam) == pytest.approx(1 / math.sqrt(10.4), abs=0.02)
    quantiles = [0.1, 0.25, 0.5, 0.75, 0.9]
    np.testing.assert_allclose(np.quantile(mixup_lam, quantiles), np.quantile(timm_mixup_lam, quantiles),
                               atol=0.04)
    # CutMix's area-corrected lam against timm's.
    np.testing.assert_allclose(np.quantile(lam[use_cutmix], quantiles),
                               np.quantile(timm_lam[timm_cutmix], quantiles), atol=0.06)
    # Boxes only for CutMix; their area gives lam.
    assert not box[~use_cutmix].any()
    area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
    np.testing.assert_allclose(lam[use_cutmix], 1 - area[use_cutmix] / (32 * 24), atol=1e-12)
    # Centres cover the image: boxes touch every border sometimes.
    cut = box[use_cutmix]
    assert (cut[:, 0] == 0).any() and (cut[:, 1] == 32).any() and (cut[:, 2] == 0).any() and (cut[:, 3] == 24).any()


def test_cutmix_minmax_boxes_within_bounds():
    n = 2000
    lam, use_cutmix, box = _draw_params(n, height=40, width=30, mixup_alpha=0.0, cutmix_alpha=0.0,
                                        cutmix_minmax=(0.2, 0.8), prob=1.0, switch_prob=0.5, correct_lam=False)
    assert use_cutmix.all()
    heights, widths = box[:, 1] - box[:, 0], box[:, 3] - box[:, 2]
    # timm: side in [int(size * 0.2), int(size * 0.8)), box inside the image.
    assert set(heights) == set(range(8, 32)) and set(widths) == set(range(6, 24))
    assert (box[:, 0] >= 0).all() and (box[:, 1] <= 40).all() and (box[:, 2] >= 0).all() and (box[:, 3] <= 30).all()
    np.testing.assert_allclose(lam, 1 - heights * widths / 1200, atol=1e-12)
    # Positions in 0..size - side: boxes touch every border sometimes.
    assert (box[:, 0] == 0).any() and (box[:, 1] == 40).any() and (box[:, 2] == 0).any() and (box[:, 3] == 30).any()
    timm_lam, _ = _timm_params(n, 1, height=40, width=30, mixup_alpha=0.0, cutmix_alpha=0.0,
                               cutmix_minmax=(0.2, 0.8))
    assert np.mean(lam) == pytest.approx(np.mean(timm_lam), abs=0.02)


def test_mix_batch_prob_zero_and_determinism():
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 255, (8, 16, 12, 3)).astype(np.float32)
    labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 8)]
    for i in range(20):
        x, y = mix_batch(images, labels, tf.constant([i, 5]), prob=0.0)
        np.testing.assert_array_equal(x.numpy(), images)
        np.testing.assert_array_equal(y.numpy(), labels)
    a = mix_batch(images, labels, tf.constant([3, 4]))
    b = mix_batch(images, labels, tf.constant([3, 4]))
    c = mix_batch(images, labels, tf.constant([4, 4]))
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert not np.array_equal(a[1].numpy(), c[1].numpy())
    # In a tf.data map of batches (graph mode), labels stay distributions.
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).enumerate().map(
        lambda i, xy: mix_batch(*xy, tf.stack([i, tf.constant(9, tf.int64)])))
    for x, y in ds:
        assert x.shape == (4, 16, 12, 3)
        np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, atol=1e-6)


def test_mix_bad_arguments_raise():
    images, labels = tf.zeros([2, 4, 4, 3]), tf.zeros([2, 3])
    for kwargs in [dict(prob=1.5), dict(switch_prob=-0.1), dict(mixup_alpha=0.0, cutmix_alpha=0.0),
                   dict(mixup_alpha=-1.0), dict(cutmix_minmax=(0.8, 0.2))]:
        with pytest.raises(ValueError):
            mix_batch(images, labels, tf.constant([0, 0]), **kwargs)
    with pytest.raises(ValueError, match="float"):
        mix_batch(tf.zeros([2, 4, 4, 3], tf.uint8), labels, tf.constant([0, 0]))
    with pytest.raises(ValueError, match="shape"):
        mix_batch(images, labels, tf.constant([0, 0, 0]))


# ---------------------------------------------------------------- RandomErasing

def _erase_many(images, key=0, **kwargs):
    ds = tf.data.Dataset.from_tensor_slices(images).enumerate().map(
        lambda i, x: random_erasing(x, tf.stack([i, tf.constant(key, tf.int64)]), **kwargs))
    return np.stack([x.numpy() for x in ds.batch(len(images))])[0]


def _boxes(erased):
    """Bounding boxes (y0, y1, x0, x1) of the True pixels of each mask (N, H, W); -1 if none."""
    rows, cols = erased.any(axis=2), erased.any(axis=1)
    boxes = np.full((len(erased), 4), -1)
    for i, (r, c) in enumerate(zip(rows, cols)):
        if r.any():
            ys, xs = np.nonzero(r)[0], np.nonzero(c)[0]
            boxes[i] = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    return boxes


def _timm_erase_boxes(n, shape, **kwargs):
    """Boxes timm's RandomErasing (const mode: normalized 0) erases from images of ones."""
    import torch
    from timm.data.random_erasing import RandomErasing

    state = random.getstate()
    random.seed(0)
    try:
        out = RandomErasing(mode="const", device="cpu", **kwargs)(torch.ones((n, 3, *shape)))
    finally:
        random.setstate(state)
    erased = (out == 0).all(dim=1).numpy()
    return _boxes(erased), erased.mean(axis=(1, 2))


def test_erasing_rectangles_match_timms_distribution():
    n, height, width = 1500, 48, 64
    p, min_area, max_area, min_aspect = 0.5, 0.02, 1 / 3, 0.3
    images = np.full((n, height, width, 3), 7, np.uint8)
    out = _erase_many(images, probability=p, mode="const")
    erased = (out != 7).any(axis=-1)
    # const: timm's normalized 0, i.e. the mean colour.
    np.testing.assert_array_equal(out[erased], np.broadcast_to(np.round(255 * np.array(MEAN)), (erased.sum(), 3)))
    ours = _boxes(erased)
    theirs, _ = _timm_erase_boxes(n, (height, width), probability=p)
    hit, timm_hit = ours[:, 0] >= 0, theirs[:, 0] >= 0
    # Rectangles: their box is all erased.
    assert erased.sum() == np.sum((ours[hit, 1] - ours[hit, 0]) * (ours[hit, 3] - ours[hit, 2]))
    # timm skips an image when no draw fits (tall draws here do not), so both erase a bit under p.
    assert np.mean(hit) == pytest.approx(np.mean(timm_hit), abs=0.05)
    assert 0.4 < np.mean(hit) <= p + 0.04
    h, w = (ours[hit, 1] - ours[hit, 0]).astype(float), (ours[hit, 3] - ours[hit, 2]).astype(float)
    th, tw = (theirs[timm_hit, 1] - theirs[timm_hit, 0]), (theirs[timm_hit, 3] - theirs[timm_hit, 2])
    for ours_side, timm_side in [(h, th), (w, tw), (h * w, th * tw), (h / w, th / tw)]:
        np.testing.assert_allclose(np.quantile(ours_side, [0.1, 0.5, 0.9]),
                                   np.quantile(timm_side, [0.1, 0.5, 0.9]), rtol=0.12)
    # Bounds, exact up to the rounding of h and w to the nearest integer.
    area = height * width
    assert ((h + 0.5) * (w + 0.5) >= min_area * area).all() and ((h - 0.5) * (w - 0.5) <= max_area * area).all()
    assert ((h + 0.5) / np.maximum(w - 0.5, 1e-9) >= min_aspect).all()
    assert ((h - 0.5) / (w + 0.5) <= 1 / min_aspect).all()
    assert (h < height).all() and (w < width).all()
    # Positions cover the image.
    assert (ours[hit, 0] == 0).any() and (ours[hit, 1] == height).any()
    assert (ours[hit, 2] == 0).any() and (ours[hit, 3] == width).any()


def test_erasing_several_rectangles_erase_as_much_as_timms():
    n, shape = 600, (40, 40)
    images = np.full((n, *shape, 3), 7, np.uint8)
    kwargs = dict(probability=1.0, min_count=1, max_count=3, min_area=0.05, max_area=0.2)
    ours = (_erase_many(images, mode="const", **kwargs) != 7).any(axis=-1).mean(axis=(1, 2))
    _, theirs = _timm_erase_boxes(n, shape, **kwargs)
    np.testing.assert_allclose(np.quantile(ours, [0.1, 0.5, 0.9]), np.quantile(theirs, [0.1, 0.5, 0.9]),
                               atol=0.02)


def test_erasing_noise_modes():
    n, shape = 200, (32, 40)
    images = np.zeros((n, *shape, 3), np.uint8)
    # pixel: 255 * (mean + std * z) per pixel; clipping at 0 and 255 (about 2.1 std away) barely moves it.
    out = _erase_many(images, probability=1.0, mode="pixel")
    boxes = _boxes((out != 0).any(axis=-1))
    assert (boxes[:, 0] >= 0).all()
    pixels = np.concatenate([out[i, y0:y1, x0:x1].reshape(-1, 3) for i, (y0, y1, x0, x1) in enumerate(boxes)])
    pixels = pixels.astype(np.float64)
    np.testing.assert_allclose(pixels.mean(axis=0), 255 * np.array(MEAN), atol=1.0)
    np.testing.assert_allclose(pixels.std(axis=0), 255 * np.array(STD), rtol=0.05)
    # rand: one colour per rectangle, normal per channel.
    out = _erase_many(images, key=1, probability=1.0, mode="rand")
    colours = []
    for i, (y0, y1, x0, x1) in enumerate(_boxes((out != 0).any(axis=-1))):
        box = out[i, y0:y1, x0:x1].reshape(-1, 3)
        assert (box == box[0]).all()
        colours.append(box[0])
    np.testing.assert_allclose(np.mean(colours, axis=0), 255 * np.array(MEAN), atol=12)


def test_erasing_in_tf_data_with_two_sizes_is_deterministic():
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(30, 20, 3), (17, 41, 3)] * 4]

    def run(key):
        ds = tf.data.Dataset.from_generator(lambda: iter(images),
                                            output_signature=tf.TensorSpec((None, None, 3), tf.uint8))
        ds = ds.enumerate().map(
            lambda i, x: random_erasing(x, tf.stack([i, tf.constant(key, tf.int64)]), probability=1.0))
        return [x.numpy() for x in ds]

    first, again, other = run(0), run(0), run(1)
    for image, a, b, c in zip(images, first, again, other):
        assert a.shape == image.shape and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, image)
        assert not np.array_equal(a, c)
    # Eager, static shape: kept, and probability 0 is the identity.
    x = tf.constant(images[0])
    assert random_erasing(x, tf.constant([1, 2])).shape == x.shape
    np.testing.assert_array_equal(random_erasing(x, tf.constant([1, 2]), probability=0.0).numpy(), images[0])


@pytest.mark.parametrize("kwargs", [
    dict(probability=-0.1), dict(probability=1.5), dict(min_area=0.5, max_area=0.1), dict(mode="noise"),
    dict(min_aspect=0.0), dict(min_count=2, max_count=1), dict(mean=(0.5,)),
], ids=str)
def test_erasing_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        random_erasing(tf.zeros([8, 8, 3], tf.uint8), tf.constant([0, 0]), **kwargs)


def test_erasing_bad_images_raise():
    with pytest.raises(ValueError, match="uint8"):
        random_erasing(tf.zeros([8, 8, 3]), tf.constant([0, 0]))
    with pytest.raises(ValueError, match="shape"):
        random_erasing(tf.zeros([2, 8, 8, 3], tf.uint8), tf.constant([0, 0]))
