"""timm's RandomErasing and batch-mode MixUp/CutMix as TensorFlow ops for ``tf.data`` pipelines.

The recipes of DeiT and its successors trained with timm's definitions (``timm.data.random_erasing``
and ``timm.data.mixup``); these functions draw from the same distributions with stateless TF
random ops, so a pipeline is deterministic for a seed, and they compute only what changes: the
erased rectangle's pixels, or CutMix's box.

Seeds are shape-[2] integer tensors, and must differ from one image (or batch) to the next and
from one epoch to the next: :func:`~training.data.make_pipeline` keys them by the element's place
in the repeated stream (``enumerate`` after ``repeat``), which never comes back.

Example:
    >>> ds = ds.repeat().enumerate().map(lambda i, xy: (random_erasing(xy[0], tf.stack([0, i])), xy[1]))
    >>> ds = ds.batch(64).enumerate().map(
    ...     lambda i, xy: mix_batch(tf.cast(xy[0], tf.float32), xy[1], tf.stack([1, i])))
"""
import math

import tensorflow as tf

_ERASE_MODES = ("pixel", "rand", "const")
_ATTEMPTS = 10  # timm tries this many random rectangles per box before it gives up


def _seed_tensor(seed):
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise ValueError(f"seed must be an integer tensor of shape [2] (for tf.random.stateless_*), "
                         f"got dtype {seed.dtype.name}")
    if not seed.shape.is_compatible_with([2]):
        raise ValueError(f"seed must have shape [2] (for tf.random.stateless_*), got {seed.shape}")
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def _split(seed, n):
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=n))


def _check_probability(name, value):
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


def _erasing_config(probability, min_area, max_area, min_aspect, max_aspect, mode, min_count,
                    max_count, mean, std):
    _check_probability("probability", probability)
    if not 0.0 < min_area <= max_area <= 1.0:
        raise ValueError(f"need 0 < min_area <= max_area <= 1 (fractions of the image area), "
                         f"got min_area={min_area}, max_area={max_area}")
    max_aspect = 1.0 / min_aspect if max_aspect is None and min_aspect > 0 else max_aspect
    if not (min_aspect > 0 and max_aspect > 0):
        raise ValueError(f"min_aspect and max_aspect must be > 0 (height / width of the rectangle), "
                         f"got min_aspect={min_aspect}, max_aspect={max_aspect}")
    mode = str(mode).lower()
    if mode not in _ERASE_MODES:
        raise ValueError(f"mode must be one of {_ERASE_MODES} (timm's erase colours), got {mode!r}")
    max_count = min_count if max_count is None else max_count
    if not (int(min_count) == min_count >= 1 and int(max_count) == max_count >= min_count):
        raise ValueError(f"need integers 1 <= min_count <= max_count (rectangles per image), "
                         f"got min_count={min_count}, max_count={max_count}")
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"mean and std need one value per RGB channel, got mean={mean}, std={std}")
    return mode, float(max_aspect), int(min_count), int(max_count)


def random_erasing(image, seed, *, probability=0.25, min_area=0.02, max_area=1 / 3, min_aspect=0.3,
                   max_aspect=None, mode="pixel", min_count=1, max_count=None,
                   mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    """timm's ``RandomErasing`` (Zhong et al., 2017) on ONE uint8 image.

    With chance ``probability`` the image gets ``count`` rectangles (uniform in
    ``min_count..max_count``) replaced by noise. Each rectangle is timm's: target area
    ``uniform(min_area, max_area) * H * W / count``, aspect ``h / w`` log-uniform in
    ``[min_aspect, max_aspect]``, ``h = round(sqrt(area * aspect))``,
    ``w = round(sqrt(area / aspect))``; of 10 such draws the first with ``h < H`` and ``w < W``
    is placed at a uniform position, and if none fits that rectangle is skipped. The 10 draws are
    vectorized and noise is generated for the rectangle only.

    timm erases after normalization, so its noise lives in normalized space. Our images are not
    normalized (the model does it), so the noise is mapped to pixels, ``255 * (mean + std * z)``:
    timm leaves it unclipped in normalized space, here it is rounded and clipped to [0, 255]
    because the image stays uint8.

    Args:
        image: uint8 tensor (H, W, 3) with values in [0, 255]; H and W may be dynamic.
        seed: integer tensor of shape [2] for ``tf.random.stateless_*``; same seed, same output.
        probability: chance that the image is erased at all.
        min_area, max_area: range of the erased area, as a fraction of the image area.
        min_aspect, max_aspect: range of the rectangle's height / width; ``max_aspect=None``
            means ``1 / min_aspect``.
        mode: ``"pixel"``: per-pixel normal noise; ``"rand"``: one normal colour per rectangle;
            ``"const"``: timm's 0 in normalized space, i.e. the colour ``255 * mean``.
        min_count, max_count: number of rectangles (``max_count=None``: ``min_count``).
        mean, std: the per-channel normalization (in [0, 1] units) that defines the noise.

    Returns:
        uint8 tensor of the image's shape.

    Raises:
        ValueError: for arguments out of range, an unknown mode, or a non-uint8 image.

    Example:
        >>> ds = ds.enumerate().map(lambda i, x: random_erasing(x, tf.stack([i, 0])))
    """
    mode, max_aspect, min_count, max_count = _erasing_config(
        probability, min_area, max_area, min_aspect, max_aspect, mode, min_count, max_count, mean, std)
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
        raise ValueError(f"random_erasing takes one uint8 image (H, W, 3) in [0, 255], got dtype "
                         f"{image.dtype.name}")
    if image.shape.rank is not None and (image.shape.rank != 3 or image.shape[-1] not in (None, 3)):
        raise ValueError(f"random_erasing takes one image of shape (H, W, 3), got shape {image.shape}")
    seed = _seed_tensor(seed)
    if probability == 0.0:
        return image
    apply_seed, box_seed = _split(seed, 2)

    def erase():
        return _erase(image, box_seed, min_area=min_area, max_area=max_area,
                      log_aspect=(math.log(min_aspect), math.log(max_aspect)), mode=mode,
                      min_count=min_count, max_count=max_count, mean=mean, std=std)

    if probability == 1.0:
        return erase()
    return tf.cond(tf.random.stateless_uniform([], apply_seed) < probability, erase, lambda: image)


def _erase(image, seed, *, min_area, max_area, log_aspect, mode, min_count, max_count, mean, std):
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    h_f, w_f = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    count_seed, area_seed, aspect_seed, place_seed, *noise_seeds = _split(seed, 4 + max_count)
    if min_count == max_count:
        count = tf.constant(min_count, tf.int32)
    else:
        count = tf.random.stateless_uniform([], count_seed, min_count, max_count + 1, dtype=tf.int32)

    # All attempts of all rectangles at once: [rectangle, attempt].
    draws = [max_count, _ATTEMPTS]
    target_area = (tf.random.stateless_uniform(draws, area_seed, min_area, max_area, tf.float64)
                   * h_f * w_f / tf.cast(count, tf.float64))
    aspect = tf.exp(tf.random.stateless_uniform(draws, aspect_seed, *log_aspect, tf.float64))
    # tf.round rounds halves to even, as Python's round does.
    h = tf.round(tf.sqrt(target_area * aspect))
    w = tf.round(tf.sqrt(target_area / aspect))
    fits = (h < h_f) & (w < w_f)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
    used = tf.reduce_any(fits, axis=1) & (tf.range(max_count) < count)
    h = tf.where(used, tf.gather(h, first, batch_dims=1), 0.0)
    w = tf.where(used, tf.gather(w, first, batch_dims=1), 0.0)
    # top uniform in 0..H-h, left in 0..W-w (the float64 draw's bias is ~1e-12).
    u = tf.random.stateless_uniform([2, max_count], place_seed, dtype=tf.float64)
    top = tf.minimum(tf.floor(u[0] * (h_f - h + 1.0)), h_f - h)
    left = tf.minimum(tf.floor(u[1] * (w_f - w + 1.0)), w_f - w)
    h, w, top, left = (tf.cast(t, tf.int32) for t in (h, w, top, left))

    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)
    out = image
    for i in range(max_count):  # static: max_count is a Python int (1 in the recipes)
        size = tf.stack([h[i], w[i], 3])
        if mode == "pixel":
            z = tf.random.stateless_normal(size, noise_seeds[i])
        elif mode == "rand":
            z = tf.broadcast_to(tf.random.stateless_normal([3], noise_seeds[i]), size)
        else:
            z = tf.zeros(size)
        patch = tf.cast(tf.clip_by_value(tf.round(255.0 * (mean + std * z)), 0.0, 255.0), tf.uint8)
        out = _paste(out, patch, top[i], left[i], h[i], w[i])
    out.set_shape(image.shape)
    return out


def _paste(image, patch, top, left, h, w):
    """``image`` with ``patch`` (h, w, C) written at (top, left): two concats, no full-size mask."""
    rows = image[top:top + h]
    rows = tf.concat([rows[:, :left], patch, rows[:, left + w:]], axis=1)
    return tf.concat([image[:top], rows, image[top + h:]], axis=0)


def cutmix_box(height, width, lam, center_y, center_x, *, correct_lam=True):
    """timm's ``rand_bbox`` box for a given centre, and ``cutmix_bbox_and_lam``'s lam.

    The box is ``sqrt(1 - lam)`` of each side, centred at (center_y, center_x) and clipped to the
    image; with ``correct_lam`` lam becomes the fraction of the image outside the clipped box.

    Args:
        height, width: image size (int or int scalar tensors).
        lam: the Beta draw, a float scalar.
        center_y, center_x: box centre, ints in [0, height) and [0, width). lam and the centres
            may also be equal-length vectors (many boxes at once; box is then [4, N]).
        correct_lam: recompute lam from the clipped box's area.

    Returns:
        ``(lam, box)``: float64 scalar and int32 ``[y0, y1, x0, x1]`` (rows y0..y1-1 and columns
        x0..x1-1 are pasted).
    """
    height, width, center_y, center_x = (
        tf.cast(v, tf.int32) for v in (height, width, center_y, center_x))
    lam = tf.cast(lam, tf.float64)
    ratio = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(tf.floor(tf.cast(height, tf.float64) * ratio), tf.int32)
    cut_w = tf.cast(tf.floor(tf.cast(width, tf.float64) * ratio), tf.int32)
    y0 = tf.clip_by_value(center_y - cut_h // 2, 0, height)
    y1 = tf.clip_by_value(center_y + (cut_h + 1) // 2, 0, height)
    x0 = tf.clip_by_value(center_x - cut_w // 2, 0, width)
    x1 = tf.clip_by_value(center_x + (cut_w + 1) // 2, 0, width)
    box = tf.stack([y0, y1, x0, x1])
    if correct_lam:
        lam = _outside_box(height, width, box)
    return lam, box


def minmax_box(height, width, cut_h, cut_w, top, left):
    """timm's ``rand_bbox_minmax`` box for given draws, and its lam (always area-corrected).

    Returns:
        ``(lam, box)`` as :func:`cutmix_box`.
    """
    top, left, cut_h, cut_w = (tf.cast(v, tf.int32) for v in (top, left, cut_h, cut_w))
    box = tf.stack([top, top + cut_h, left, left + cut_w])
    return _outside_box(height, width, box), box


def _outside_box(height, width, box):
    area = tf.cast((box[1] - box[0]) * (box[3] - box[2]), tf.float64)
    return 1.0 - area / (tf.cast(height, tf.float64) * tf.cast(width, tf.float64))


def _mix_config(mixup_alpha, cutmix_alpha, prob, switch_prob, cutmix_minmax):
    _check_probability("prob", prob)
    _check_probability("switch_prob", switch_prob)
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise ValueError(f"mixup_alpha and cutmix_alpha must be >= 0 (0: off), got {mixup_alpha}, "
                         f"{cutmix_alpha}")
    if cutmix_minmax is not None:
        if len(cutmix_minmax) != 2 or not 0.0 <= cutmix_minmax[0] < cutmix_minmax[1] <= 1.0:
            raise ValueError(f"cutmix_minmax must be (min, max) side fractions with 0 <= min < max <= 1, "
                             f"got {cutmix_minmax}")
        cutmix_alpha = 1.0  # as timm: minmax boxes ignore lam, but lam still decides mixing
    if mixup_alpha == 0 and cutmix_alpha == 0:
        raise ValueError("mixing needs mixup_alpha > 0, cutmix_alpha > 0 or cutmix_minmax")
    return float(mixup_alpha), float(cutmix_alpha)


def _beta(seed, alpha):
    """Beta(alpha, alpha) as X / (X + Y) of two Gamma(alpha) draws, float64."""
    g = tf.random.stateless_gamma([2], seed, alpha=tf.constant(alpha, tf.float64), dtype=tf.float64)
    total = g[0] + g[1]
    # Both gammas underflow to 0 only for tiny alpha; the symmetric Beta's middle then stands in.
    return tf.where(total > 0, g[0] / tf.where(total > 0, total, 1.0), 0.5)


def _uniform_int(seed, low, high):
    """Uniform int in [low, high) (an empty range gives low)."""
    high = tf.maximum(high, low + 1)
    return tf.random.stateless_uniform([], seed, low, high, dtype=tf.int32)


def mixup_lam_and_box(seed, height, width, *, mixup_alpha, cutmix_alpha, prob, switch_prob,
                      cutmix_minmax, correct_lam):
    """Draw one batch's parameters as timm's ``Mixup._params_per_batch`` + ``cutmix_bbox_and_lam``.

    With chance ``prob`` the batch is mixed (else lam = 1); with both alphas on it uses CutMix
    with chance ``switch_prob``; lam ~ Beta(alpha, alpha) of the chosen method. CutMix's box is
    :func:`cutmix_box` at a uniform centre (or :func:`minmax_box` with ``cutmix_minmax``: side
    fractions uniform in [min, max), lam from the area, and CutMix's alpha forced to 1 as timm).

    Args:
        seed: integer tensor of shape [2].
        height, width: image size (ints or int scalar tensors).
        Other arguments: as :func:`mix_batch`.

    Returns:
        ``(lam, use_cutmix, box)``: float64 scalar, bool scalar, int32 ``[y0, y1, x0, x1]``
        (all zeros unless ``use_cutmix``).
    """
    mixup_alpha, cutmix_alpha = _mix_config(mixup_alpha, cutmix_alpha, prob, switch_prob, cutmix_minmax)
    seed = _seed_tensor(seed)
    s_mix, s_switch, s_mixup, s_cutmix, s_y, s_x, s_h, s_w = _split(seed, 8)
    mix = tf.random.stateless_uniform([], s_mix) < prob
    if mixup_alpha > 0 and cutmix_alpha > 0:
        use_cutmix = tf.random.stateless_uniform([], s_switch) < switch_prob
        lam = tf.where(use_cutmix, _beta(s_cutmix, cutmix_alpha), _beta(s_mixup, mixup_alpha))
    elif mixup_alpha > 0:
        use_cutmix = tf.constant(False)
        lam = _beta(s_mixup, mixup_alpha)
    else:
        use_cutmix = tf.constant(True)
        lam = _beta(s_cutmix, cutmix_alpha)
    lam = tf.where(mix, lam, tf.constant(1.0, tf.float64))
    use_cutmix = mix & use_cutmix
    box = tf.zeros([4], tf.int32)
    if cutmix_alpha > 0:
        height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
        if cutmix_minmax is not None:
            def side(size, s):  # timm: randint(int(size * min), int(size * max))
                size_f = tf.cast(size, tf.float64)
                return _uniform_int(s, tf.cast(tf.floor(size_f * cutmix_minmax[0]), tf.int32),
                                    tf.cast(tf.floor(size_f * cutmix_minmax[1]), tf.int32))
            cut_h, cut_w = side(height, s_h), side(width, s_w)
            cut_lam, cut_box = minmax_box(height, width, cut_h, cut_w,
                                          _uniform_int(s_y, 0, height - cut_h + 1),
                                          _uniform_int(s_x, 0, width - cut_w + 1))
        else:
            cut_lam, cut_box = cutmix_box(height, width, lam, _uniform_int(s_y, 0, height),
                                          _uniform_int(s_x, 0, width), correct_lam=correct_lam)
        lam = tf.where(use_cutmix, cut_lam, lam)
        box = tf.where(use_cutmix, cut_box, box)
    return lam, use_cutmix, box


def apply_mix(images, labels, lam, use_cutmix, box):
    """Mix a batch with its reverse (timm's ``x.flip(0)``) for given parameters.

    MixUp (``use_cutmix`` False, lam < 1): ``lam * x + (1 - lam) * x.flip(0)`` on the whole
    batch. CutMix: only the box is read from the reversed batch and spliced in with concats (a
    ``where`` with a broadcast box mask took 3x as long on a 64 x 224 x 224 batch). lam = 1
    without CutMix returns the images unchanged. Labels: always
    ``lam * y + (1 - lam) * y.flip(0)``.

    Args:
        images: float tensor (B, H, W, C).
        labels: float tensor (B, K), one-hot or soft.
        lam, use_cutmix, box: as returned by :func:`mixup_lam_and_box`.

    Returns:
        ``(images, labels)`` of the inputs' shapes and dtypes.
    """
    images = tf.convert_to_tensor(images)
    labels = tf.convert_to_tensor(labels)
    for name, t in (("images", images), ("labels", labels)):
        if not t.dtype.is_floating:
            raise ValueError(f"{name} must be float (images in [0, 255], labels one-hot or soft), "
                             f"got dtype {t.dtype.name}")
    if images.shape.rank not in (None, 4):
        raise ValueError(f"images must be a batch (B, H, W, C), got shape {images.shape}")
    if labels.shape.rank not in (None, 2):
        raise ValueError(f"labels must be (B, num_classes), got shape {labels.shape}")
    lam = tf.cast(lam, tf.float64)
    box = tf.cast(box, tf.int32)

    def weights(dtype):  # (1 - lam) in float64 first, as timm computes it in Python
        return tf.cast(lam, dtype), tf.cast(1.0 - lam, dtype)

    def cutmix():  # the box from the reversed batch, spliced in: 3x faster than a masked where
        y0, y1, x0, x1 = box[0], box[1], box[2], box[3]
        patch = tf.reverse(images[:, y0:y1, x0:x1], [0])
        rows = images[:, y0:y1]
        rows = tf.concat([rows[:, :, :x0], patch, rows[:, :, x1:]], axis=2)
        return tf.concat([images[:, :y0], rows, images[:, y1:]], axis=1)

    def mixup():
        a, b = weights(images.dtype)
        return images * a + tf.reverse(images, [0]) * b

    mixed = tf.cond(use_cutmix, cutmix,
                    lambda: tf.cond(lam < 1.0, mixup, lambda: tf.identity(images)))
    mixed.set_shape(images.shape)
    a, b = weights(labels.dtype)
    return mixed, labels * a + tf.reverse(labels, [0]) * b


def mix_batch(images, labels, seed, *, mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5,
              cutmix_minmax=None, correct_lam=True):
    """timm's ``Mixup(mode="batch")``: MixUp or CutMix of a batch with its reverse.

    One lam for the whole batch (:func:`mixup_lam_and_box`), applied by :func:`apply_mix`.
    Label smoothing is not applied here (our loss applies it); for one-hot labels the result
    equals timm's ``mixup_target`` with smoothing, since smoothing is linear in the label. timm
    asserts an even batch; here an odd batch's middle image mixes with itself.

    Args:
        images: float32 tensor (B, H, W, 3) with values in [0, 255].
        labels: float tensor (B, K), one-hot or soft.
        seed: integer tensor of shape [2] for ``tf.random.stateless_*``.
        mixup_alpha: Beta parameter of MixUp (0: off).
        cutmix_alpha: Beta parameter of CutMix (0: off).
        prob: chance that the batch is mixed at all.
        switch_prob: with both on, chance of CutMix instead of MixUp.
        cutmix_minmax: ``(min, max)`` box side fractions instead of lam-sized boxes (timm's
            ``rand_bbox_minmax``); None: off.
        correct_lam: set CutMix's lam to the clipped box's share of the image.

    Returns:
        ``(images, labels)``, mixed.

    Example:
        >>> ds = ds.batch(64).enumerate().map(lambda i, xy: mix_batch(*xy, tf.stack([i, 3])))
    """
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    lam, use_cutmix, box = mixup_lam_and_box(
        seed, shape[1], shape[2], mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, prob=prob,
        switch_prob=switch_prob, cutmix_minmax=cutmix_minmax, correct_lam=correct_lam)
    return apply_mix(images, labels, lam, use_cutmix, box)
