"""timm's RandAugment ('rand-m9-mstd0.5-inc1', DeiT's and the papers' ImageNet recipe) in TensorFlow.

The papers' ImageNet recipes (DeiT, and the ViT variants trained with timm) augment with timm's
``rand_augment_transform('rand-m9-mstd0.5-inc1', hparams)``: Pillow operations on one image at a
time. This module reproduces it with TensorFlow ops for a ``tf.data`` map, one image per call,
computing only the operations that were drawn (one ``tf.switch_case`` branch per operation) and
with stateless random ops, so that a seed fixes the result.

Speed: TensorFlow's CPU kernels cost 30-600 us each on a 224x224 image (``tf.where``, gathers and
reductions the most), so a chain of them is slower than Pillow. The drawn operations therefore
run as one XLA computation per call (``jit_compile=True``, the default), which fuses each
operation into a few loops: about 0.3 ms per image on one core against timm's 0.7 ms
(``benchmarks/randaugment_speed.py``). XLA compiles once per image shape (about 3 s for 48x64,
8-10 s for 224x224 on one core), so feed it images of one size, after the random resized crop;
for images of many sizes use ``jit_compile=False`` (plain TensorFlow ops: the same draws, the
same pixels up to one level in geometric operations, but about 4x slower: 1.2 ms per image).

What matches timm 1.0.31 (and Pillow, whose functions timm calls):

* the draws: ``num_ops`` operations picked uniformly with replacement, each applied with
  probability ``prob``; per application a magnitude ``N(magnitude, magnitude_std)`` (``U(0,
  magnitude)`` for an infinite std) clipped to ``[0, magnitude_max]``, turned into the operation's
  argument as timm's ``_*_level_to_arg`` functions do, random sign flips included;
* the point operations (AutoContrast, Equalize, Invert, Posterize, Solarize, SolarizeAdd) give
  Pillow's output exactly; the enhance operations (Color, Contrast, Brightness, Sharpness) follow
  Pillow's blend with its degenerate image (its integer grayscale, the rounded mean of that
  grayscale, black, its 3x3 SMOOTH filter with the border kept) and truncation, and agree with
  it to within one level;
* the geometric operations (Rotate, ShearX/Y, TranslateX/YRel) use Pillow's affine matrices and
  pixel-centre convention, its rule for which output pixels get the fill colour, and bilinear
  sampling with edge clamping.

Differences: timm samples geometric operations with bicubic interpolation in DeiT's recipe (and
picks bilinear or bicubic at random without an ``interpolation`` hparam); here they are always
bilinear, Pillow's BILINEAR (TensorFlow's projective transform, slow here anyway, has only
NEAREST and BILINEAR; bicubic is not implemented).
The random streams differ from timm's (Python's ``random`` and NumPy's), so the same image gets
different, identically distributed augmentations. PosterizeIncreasing at magnitude 10 keeps 0
bits (a black image) as timm meant it; Pillow 13's ``ImageOps.posterize`` refuses 0 bits.
"""
import math

import numpy as np
import tensorflow as tf

#: timm's ``_RAND_INCREASING_TRANSFORMS`` (the ``inc1`` set), in timm's order.
RAND_INCREASING_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
    "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
    "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")

#: timm's ``_RAND_TRANSFORMS`` (the default set, ``inc0``), in timm's order.
RAND_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
    "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel",
    "TranslateYRel")

_LEVEL_DENOM = 10.0
_F64 = tf.float64


# ---------------------------------------------------------------------------------------------
# Magnitude -> operation argument (timm's _*_level_to_arg), in float64 like Python's floats.
# ``m`` is a float64 scalar, ``negate`` a bool scalar (timm's _randomly_negate drew "flip").

def _signed(value, negate):
    return tf.where(negate, -value, value)


def _no_arg(m, negate, translate_pct):
    return tf.constant(0.0, _F64)


def _rotate_arg(m, negate, translate_pct):
    return _signed((m / _LEVEL_DENOM) * 30.0, negate)


def _posterize_arg(m, negate, translate_pct):
    return tf.floor((m / _LEVEL_DENOM) * 4.0)


def _posterize_increasing_arg(m, negate, translate_pct):
    return 4.0 - _posterize_arg(m, negate, translate_pct)


def _solarize_arg(m, negate, translate_pct):
    return tf.minimum(tf.floor((m / _LEVEL_DENOM) * 256.0), 256.0)


def _solarize_increasing_arg(m, negate, translate_pct):
    return 256.0 - _solarize_arg(m, negate, translate_pct)


def _solarize_add_arg(m, negate, translate_pct):
    return tf.minimum(tf.floor((m / _LEVEL_DENOM) * 110.0), 128.0)


def _enhance_arg(m, negate, translate_pct):
    return (m / _LEVEL_DENOM) * 1.8 + 0.1


def _enhance_increasing_arg(m, negate, translate_pct):
    return tf.maximum(_signed((m / _LEVEL_DENOM) * 0.9, negate) + 1.0, 0.1)


def _shear_arg(m, negate, translate_pct):
    return _signed((m / _LEVEL_DENOM) * 0.3, negate)


def _translate_rel_arg(m, negate, translate_pct):
    return _signed((m / _LEVEL_DENOM) * translate_pct, negate)


# ---------------------------------------------------------------------------------------------
# Pixel operations on one uint8 (H, W, 3) image. ``arg`` is a float64 scalar, ``fill`` a uint8 (3,).

def _auto_contrast(image, arg, fill):
    flat = tf.reshape(image, [-1, 3])
    lo = tf.cast(tf.reduce_min(flat, 0), _F64)
    hi = tf.cast(tf.reduce_max(flat, 0), _F64)
    stretch = hi > lo
    # Pillow's lut: int(ix * scale + offset) in Python floats, clipped; identity when hi <= lo.
    scale = tf.where(stretch, 255.0 / tf.where(stretch, hi - lo, 1.0), 1.0)
    # Pillow rounds the product and then the sum; XLA may fuse them into one fused multiply-add
    # (one rounding), which is off by one where the result is an integer. Splitting ``scale``
    # into 24 + 29 significant bits makes both partial products of an 8-bit value exact, so
    # their sum is the correctly rounded product however it is fused.
    scale_hi = tf.cast(tf.cast(scale, tf.float32), _F64)
    scale_lo = scale - scale_hi
    offset = tf.where(stretch, -(lo * scale_hi + lo * scale_lo), 0.0)
    pixels = tf.cast(image, _F64)
    out = tf.floor((pixels * scale_hi + pixels * scale_lo) + offset)
    return tf.cast(tf.clip_by_value(out, 0.0, 255.0), tf.uint8)


def _equalize(image, arg, fill):
    index = tf.cast(image, tf.int32) + tf.constant([0, 256, 512])
    flat = tf.reshape(index, [-1, 1])
    hist = tf.reshape(tf.tensor_scatter_nd_add(tf.zeros([768], tf.int32), flat,
                                               tf.ones_like(flat[:, 0])), [3, 256])
    # Pillow: step = (pixels - count of the last non-empty bin) // 255; identity when step is 0;
    # lut[i] = (step // 2 + pixels below i) // step.
    last = 255 - tf.argmax(tf.cast(tf.reverse(hist, [1]) > 0, tf.int32), axis=1, output_type=tf.int32)
    last_count = tf.gather(hist, last, batch_dims=1)
    step = (tf.reduce_sum(hist, 1) - last_count) // 255
    below = tf.cumsum(hist, axis=1, exclusive=True)
    lut = (step[:, None] // 2 + below) // tf.maximum(step, 1)[:, None]
    lut = tf.where(step[:, None] > 0, lut, tf.range(256)[None, :])
    lut = tf.cast(tf.minimum(lut, 255), tf.uint8)
    return tf.gather(tf.reshape(lut, [-1]), index)


def _invert(image, arg, fill):
    return 255 - image


def _posterize(image, arg, fill):
    bits = tf.clip_by_value(tf.cast(arg, tf.int32), 0, 8)
    mask = 256 - tf.bitwise.left_shift(1, 8 - bits)  # 0 bits: 0; 8 bits: 255
    return tf.bitwise.bitwise_and(image, tf.cast(mask, tf.uint8))


def _solarize(image, arg, fill):
    threshold = tf.cast(arg, tf.int32)
    flip = tf.logical_and(image >= tf.cast(tf.clip_by_value(threshold, 0, 255), tf.uint8),
                          threshold < 256)
    return tf.where(flip, 255 - image, image)


def _solarize_add(image, arg, fill):
    add = tf.cast(tf.clip_by_value(arg, 0.0, 255.0), tf.uint8)
    return image + tf.where(image < 128, tf.minimum(add, 255 - image), tf.zeros_like(image))


def _blend(degenerate, image, factor):
    """Pillow's ``Image.blend(degenerate, image, factor)`` on float32 pixel values."""
    out = degenerate + tf.cast(factor, tf.float32) * (image - degenerate)
    return tf.cast(tf.clip_by_value(out, 0.0, 255.0), tf.uint8)  # the cast truncates, as Pillow


def _grayscale(pixels):
    """Pillow's RGB -> L: (R*19595 + G*38470 + B*7471 + 2**15) >> 16 (exact in float32)."""
    weights = tf.constant([[19595.0], [38470.0], [7471.0]])
    total = tf.matmul(tf.reshape(pixels, [-1, 3]), weights)
    return tf.reshape(tf.floor((total + 32768.0) * (1.0 / 65536.0)), tf.concat(
        [tf.shape(pixels)[:2], [1]], 0))


def _color(image, arg, fill):
    pixels = tf.cast(image, tf.float32)
    return _blend(_grayscale(pixels), pixels, arg)


def _contrast(image, arg, fill):
    pixels = tf.cast(image, tf.float32)
    gray = _grayscale(pixels)
    count = tf.cast(tf.size(gray), _F64)
    mean = tf.floor(tf.reduce_sum(tf.cast(gray, _F64)) / count + 0.5)
    return _blend(tf.cast(mean, tf.float32), pixels, arg)


def _brightness(image, arg, fill):
    return _blend(0.0, tf.cast(image, tf.float32), arg)


def _sharpness(image, arg, fill):
    def sharpen():
        pixels = tf.cast(image, tf.float32)
        rows = pixels[:-2] + pixels[1:-1] + pixels[2:]
        centre = pixels[1:-1, 1:-1]
        total = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:] + 4.0 * centre
        # Pillow's SMOOTH: kernel [[1,1,1],[1,5,1],[1,1,1]] / 13, rounded; the border is kept.
        smooth = tf.floor((total + 6.5) * (1.0 / 13.0))
        inner = _blend(smooth, centre, arg)
        middle = tf.concat([image[1:-1, :1], inner, image[1:-1, -1:]], axis=1)
        return tf.concat([image[:1], middle, image[-1:]], axis=0)

    height, width = image.shape[0], image.shape[1]
    if height is not None and width is not None:
        return sharpen() if min(height, width) >= 3 else image
    shape = tf.shape(image)
    return tf.cond(tf.reduce_min(shape[:2]) >= 3, sharpen, lambda: image)


def _mix(low, high, weight):
    low = tf.cast(low, tf.float32)
    return low + weight * (tf.cast(high, tf.float32) - low)


def _finish(values, inside, fill):
    """Truncate bilinear values as Pillow does and put ``fill`` where the source is outside."""
    return tf.where(inside, tf.cast(values, tf.uint8), fill)


def _shift_x(image, shift, fill):
    """Pillow affine ``(1, 0, shift, 0, 1, 0)`` (translate, bilinear), ``shift`` float64 scalar."""
    width = tf.shape(image)[1]
    whole = tf.floor(shift)
    cols = tf.range(width) + tf.cast(whole, tf.int32)
    low = tf.gather(image, tf.clip_by_value(cols, 0, width - 1), axis=1)
    high = tf.gather(image, tf.clip_by_value(cols + 1, 0, width - 1), axis=1)
    source = tf.cast(tf.range(width), _F64) + 0.5 + shift  # Pillow: inside when in [0, width)
    inside = tf.logical_and(source >= 0.0, source < tf.cast(width, _F64))
    return _finish(_mix(low, high, tf.cast(shift - whole, tf.float32)), inside[None, :, None], fill)


def _shift_y(image, shift, fill):
    """Pillow affine ``(1, 0, 0, 0, 1, shift)``."""
    height = tf.shape(image)[0]
    whole = tf.floor(shift)
    rows = tf.range(height) + tf.cast(whole, tf.int32)
    low = tf.gather(image, tf.clip_by_value(rows, 0, height - 1))
    high = tf.gather(image, tf.clip_by_value(rows + 1, 0, height - 1))
    source = tf.cast(tf.range(height), _F64) + 0.5 + shift
    inside = tf.logical_and(source >= 0.0, source < tf.cast(height, _F64))
    return _finish(_mix(low, high, tf.cast(shift - whole, tf.float32)), inside[:, None, None], fill)


def _translate_x_rel(image, arg, fill):
    return _shift_x(image, arg * tf.cast(tf.shape(image)[1], _F64), fill)


def _translate_y_rel(image, arg, fill):
    return _shift_y(image, arg * tf.cast(tf.shape(image)[0], _F64), fill)


def _shear_x(image, arg, fill):
    """Pillow affine ``(1, factor, 0, 0, 1, 0)``: row y moves by factor * (y + 0.5) pixels."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    shift = arg * (tf.cast(tf.range(height), _F64) + 0.5)  # (H,)
    whole = tf.floor(shift)
    cols = tf.range(width)[None, :] + tf.cast(whole, tf.int32)[:, None]  # (H, W)
    base = (tf.range(height) * width)[:, None]
    flat = tf.reshape(image, [-1, 3])
    low = tf.gather(flat, base + tf.clip_by_value(cols, 0, width - 1))
    high = tf.gather(flat, base + tf.clip_by_value(cols + 1, 0, width - 1))
    source = tf.cast(cols, _F64) + 0.5 + (shift - whole)[:, None]
    inside = tf.logical_and(source >= 0.0, source < tf.cast(width, _F64))
    values = _mix(low, high, tf.cast(shift - whole, tf.float32)[:, None, None])
    return tf.reshape(_finish(values, inside[:, :, None], fill), shape)


def _shear_y(image, arg, fill):
    """Pillow affine ``(1, 0, 0, factor, 1, 0)``: column x moves by factor * (x + 0.5) pixels."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    shift = arg * (tf.cast(tf.range(width), _F64) + 0.5)  # (W,)
    whole = tf.floor(shift)
    rows = tf.range(height)[:, None] + tf.cast(whole, tf.int32)[None, :]  # (H, W)
    col = tf.range(width)[None, :]
    flat = tf.reshape(image, [-1, 3])
    low = tf.gather(flat, tf.clip_by_value(rows, 0, height - 1) * width + col)
    high = tf.gather(flat, tf.clip_by_value(rows + 1, 0, height - 1) * width + col)
    source = tf.cast(rows, _F64) + 0.5 + (shift - whole)[None, :]
    inside = tf.logical_and(source >= 0.0, source < tf.cast(height, _F64))
    values = _mix(low, high, tf.cast(shift - whole, tf.float32)[None, :, None])
    return tf.reshape(_finish(values, inside[:, :, None], fill), shape)


def _rotate(image, arg, fill):
    """Pillow's ``Image.rotate(degrees, BILINEAR, fillcolor=fill)`` about the image centre."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    w, h = tf.cast(width, _F64), tf.cast(height, _F64)
    angle = -(tf.math.floormod(arg, 360.0) * (math.pi / 180.0))
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Output pixel centre (x + .5, y + .5) -> source (a x' + b y' + c, d x' + e y' + f), Pillow's
    # matrix for a rotation about (w / 2, h / 2).
    cx, cy = w / 2.0, h / 2.0
    c = cos * -cx + sin * -cy + cx
    f = -sin * -cx + cos * -cy + cy
    xs = tf.cast(tf.range(width), _F64) + 0.5
    ys = tf.cast(tf.range(height), _F64)[:, None] + 0.5
    src_x = tf.cast(cos * xs + (sin * ys + c), tf.float32)  # (H, W)
    src_y = tf.cast(-sin * xs + (cos * ys + f), tf.float32)
    inside = ((src_x >= 0.0) & (src_x < tf.cast(width, tf.float32))
              & (src_y >= 0.0) & (src_y < tf.cast(height, tf.float32)))
    src_x, src_y = src_x - 0.5, src_y - 0.5
    x0, y0 = tf.floor(src_x), tf.floor(src_y)
    dx, dy = (src_x - x0)[:, :, None], (src_y - y0)[:, :, None]
    x0 = tf.cast(x0, tf.int32)
    y0 = tf.cast(y0, tf.int32)
    x_lo, x_hi = tf.clip_by_value(x0, 0, width - 1), tf.clip_by_value(x0 + 1, 0, width - 1)
    r_lo = tf.clip_by_value(y0, 0, height - 1) * width
    r_hi = tf.clip_by_value(y0 + 1, 0, height - 1) * width
    flat = tf.reshape(image, [-1, 3])
    top = _mix(tf.gather(flat, r_lo + x_lo), tf.gather(flat, r_lo + x_hi), dx)
    bottom = _mix(tf.gather(flat, r_hi + x_lo), tf.gather(flat, r_hi + x_hi), dx)
    values = top + dy * (bottom - top)
    return tf.reshape(_finish(values, inside[:, :, None], fill), shape)


#: name -> (magnitude -> argument, operation)
_OPS = {
    "AutoContrast": (_no_arg, _auto_contrast),
    "Equalize": (_no_arg, _equalize),
    "Invert": (_no_arg, _invert),
    "Rotate": (_rotate_arg, _rotate),
    "Posterize": (_posterize_arg, _posterize),
    "PosterizeIncreasing": (_posterize_increasing_arg, _posterize),
    "Solarize": (_solarize_arg, _solarize),
    "SolarizeIncreasing": (_solarize_increasing_arg, _solarize),
    "SolarizeAdd": (_solarize_add_arg, _solarize_add),
    "Color": (_enhance_arg, _color),
    "ColorIncreasing": (_enhance_increasing_arg, _color),
    "Contrast": (_enhance_arg, _contrast),
    "ContrastIncreasing": (_enhance_increasing_arg, _contrast),
    "Brightness": (_enhance_arg, _brightness),
    "BrightnessIncreasing": (_enhance_increasing_arg, _brightness),
    "Sharpness": (_enhance_arg, _sharpness),
    "SharpnessIncreasing": (_enhance_increasing_arg, _sharpness),
    "ShearX": (_shear_arg, _shear_x),
    "ShearY": (_shear_arg, _shear_y),
    "TranslateXRel": (_translate_rel_arg, _translate_x_rel),
    "TranslateYRel": (_translate_rel_arg, _translate_y_rel),
}


def _f64(value):
    """float64 tensor of a value; Python floats go straight to float64 (not through float32)."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.cast(value, _F64)
    return tf.convert_to_tensor(np.asarray(value, np.float64))


def _check_name(name):
    if name not in _OPS:
        raise ValueError(f"unknown RandAugment operation {name!r}; expected one of {sorted(_OPS)}")


def _check_fill(fill):
    try:
        values = [float(v) for v in fill]
    except TypeError:
        values = []
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise ValueError(f"fill must be 3 values (R, G, B) in [0, 255], got {fill!r}")
    return tuple(int(round(v)) for v in values)


def _check_image(image):
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
        raise ValueError(f"image must be a uint8 tensor, got dtype {image.dtype.name}")
    if image.shape.rank != 3 or image.shape[-1] not in (3, None):
        raise ValueError(f"image must have shape (height, width, 3), got {image.shape}")
    return image


def level_to_arg(name, magnitude, negate=False, translate_pct=0.45):
    """The argument timm passes to operation ``name`` for a magnitude (its ``_*_level_to_arg``).

    Args:
        name: an operation of :data:`RAND_INCREASING_OPS` or :data:`RAND_OPS`.
        magnitude: the (already clipped) magnitude, 0..10 at timm's scale.
        negate: the sign draw of timm's ``_randomly_negate`` (True: flip); ignored by unsigned
            operations.
        translate_pct: timm's ``translate_pct`` hparam (TranslateXRel/YRel).

    Returns:
        A float64 scalar tensor (integral for Posterize, Solarize and SolarizeAdd; 0 for the
        operations without argument).
    """
    _check_name(name)
    return _OPS[name][0](_f64(magnitude), tf.cast(negate, tf.bool), float(translate_pct))


_IMAGE_SPEC = tf.TensorSpec([None, None, 3], tf.uint8)
_JIT_OPS = {}
_COMPILED = {}  # RandAugment settings -> its tf.function


def _jit_op(name):
    """Operation ``name`` as an XLA-compiled function (compiled once per image shape)."""
    if name not in _JIT_OPS:
        _JIT_OPS[name] = tf.function(
            _OPS[name][1], jit_compile=True, autograph=False,
            input_signature=[_IMAGE_SPEC, tf.TensorSpec([], _F64), tf.TensorSpec([3], tf.uint8)])
    return _JIT_OPS[name]


@tf.autograph.experimental.do_not_convert
def apply_op(name, image, arg=0.0, fill=(124, 116, 104), jit_compile=True):
    """Applies one operation with an explicit argument, as timm's op function with that argument.

    Args:
        name: an operation name (see :func:`level_to_arg`).
        image: uint8 (H, W, 3) tensor.
        arg: the operation's argument (degrees, bits, threshold, factor, shear, or fraction of the
            image side for TranslateX/YRel).
        fill: RGB fill of the geometric operations.
        jit_compile: run it as an XLA computation (as :class:`RandAugment` does by default).

    Returns:
        uint8 (H, W, 3) tensor.
    """
    _check_name(name)
    image = _check_image(image)
    op = _jit_op(name) if jit_compile else _OPS[name][1]
    out = op(image, _f64(arg), tf.constant(_check_fill(fill), tf.uint8))
    out.set_shape(image.shape)
    return out


class RandAugment:
    """timm's RandAugment ('rand-m{M}-mstd{S}-inc1') in TensorFlow ops, for tf.data maps.

    Per image, ``num_ops`` operations are drawn uniformly with replacement from timm's increasing
    set (or its plain set with ``increasing=False``); each is applied with probability ``prob``,
    at a magnitude drawn from ``N(magnitude, magnitude_std)`` (``U(0, magnitude)`` when the std
    is ``inf``) clipped to ``[0, magnitude_max]``. Only the drawn operations are computed. The
    geometric operations resample bilinearly (DeiT's timm recipe uses bicubic, which TensorFlow's
    image transforms lack) and fill with ``fill``; everything else follows Pillow (see the module
    docstring for how closely).

    Args:
        num_ops: operations drawn per image (timm's ``n``, 2).
        magnitude: mean magnitude, 0..``magnitude_max`` (timm's ``m``; 9 in DeiT).
        magnitude_std: std of the magnitude noise (timm's ``mstd``; 0.5 in DeiT; ``inf``: uniform).
        magnitude_max: upper clip of the magnitude (timm's ``mmax``, default 10).
        prob: probability of applying each drawn operation (timm's ``p``, 0.5).
        fill: RGB fill for the geometric operations (timm's ``img_mean`` hparam).
        increasing: timm's ``inc1`` operation set (True) or its default set (False).
        translate_pct: largest translation as a fraction of the side (timm's hparam, 0.45).
        jit_compile: run each call as one XLA computation (default). XLA compiles once per image
            shape (3-10 s on one core), so give it images of one size (after the random crop);
            False runs plain TensorFlow ops (the same draws and results up to one level in
            geometric ops; about 4x slower, no compilation).

    Example:
        >>> augment = RandAugment(num_ops=2, magnitude=9, magnitude_std=0.5)
        >>> ds = ds.map(lambda image, seed: augment(image, seed))  # uint8 (H, W, 3), seed [2]
    """

    def __init__(self, num_ops=2, magnitude=9.0, magnitude_std=0.5, magnitude_max=10.0, prob=0.5,
                 fill=(124, 116, 104), increasing=True, translate_pct=0.45, jit_compile=True):
        if isinstance(num_ops, bool) or not isinstance(num_ops, (int, np.integer)) or num_ops < 0:
            raise ValueError(f"num_ops must be an integer >= 0, got {num_ops!r}")
        if not (isinstance(magnitude_max, (int, float, np.number)) and 0 < magnitude_max < math.inf):
            raise ValueError(f"magnitude_max must be a positive finite number, got {magnitude_max!r}")
        if not (isinstance(magnitude, (int, float, np.number)) and 0 <= magnitude <= magnitude_max):
            raise ValueError(f"magnitude must be in [0, magnitude_max={magnitude_max}], got "
                             f"{magnitude!r}")
        if not (isinstance(magnitude_std, (int, float, np.number)) and magnitude_std >= 0):
            raise ValueError(f"magnitude_std must be >= 0 (inf: uniform magnitudes), got "
                             f"{magnitude_std!r}")
        if not (isinstance(prob, (int, float, np.number)) and 0 <= prob <= 1):
            raise ValueError(f"prob must be in [0, 1], got {prob!r}")
        if not (isinstance(translate_pct, (int, float, np.number)) and translate_pct >= 0):
            raise ValueError(f"translate_pct must be >= 0, got {translate_pct!r}")
        self.num_ops = int(num_ops)
        self.magnitude = float(magnitude)
        self.magnitude_std = float(magnitude_std)
        self.magnitude_max = float(magnitude_max)
        self.prob = float(prob)
        self.fill = _check_fill(fill)
        self.increasing = bool(increasing)
        self.translate_pct = float(translate_pct)
        self.op_names = RAND_INCREASING_OPS if self.increasing else RAND_OPS
        # One XLA computation per image shape: XLA fuses each operation's element-wise steps and
        # gathers into a few loops, 3-10x faster than TensorFlow's kernels one op at a time.
        self.jit_compile = bool(jit_compile)
        # Augmenters with the same settings share one function, so XLA compiles once per image
        # shape and process, not once per pipeline (every recipe's pipeline makes its own).
        key = (self.num_ops, self.magnitude, self.magnitude_std, self.magnitude_max, self.prob, self.fill,
               self.increasing, self.translate_pct, self.jit_compile)
        if key not in _COMPILED:
            _COMPILED[key] = tf.function(
                self._augment, jit_compile=self.jit_compile, autograph=False,
                input_signature=[_IMAGE_SPEC, tf.TensorSpec([self.num_ops, 5], tf.float32)])
        self._compiled = _COMPILED[key]

    def __repr__(self):
        return (f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, "
                f"magnitude_std={self.magnitude_std}, magnitude_max={self.magnitude_max}, "
                f"prob={self.prob}, fill={self.fill}, increasing={self.increasing})")

    def _magnitudes(self, uniforms):
        """float64 magnitudes from the uniforms (columns 3 and 4), clipped like timm's."""
        u3, u4 = tf.cast(uniforms[:, 3], _F64), tf.cast(uniforms[:, 4], _F64)
        if self.magnitude_std == math.inf:
            m = u3 * self.magnitude
        elif self.magnitude_std > 0:
            normal = tf.sqrt(-2.0 * tf.math.log(1.0 - u3)) * tf.cos((2.0 * math.pi) * u4)
            m = self.magnitude + self.magnitude_std * normal
        else:
            m = tf.fill(tf.shape(u3), tf.constant(self.magnitude, _F64))
        return tf.clip_by_value(m, 0.0, self.magnitude_max)

    @tf.autograph.experimental.do_not_convert
    def __call__(self, image, seed):
        """Augments one image.

        Args:
            image: uint8 (H, W, 3) tensor (static or dynamic H, W).
            seed: int32/int64 shape [2] tensor for the ``tf.random.stateless_*`` ops.

        Returns:
            uint8 (H, W, 3) tensor of the same shape; the same for the same seed.
        """
        image = _check_image(image)
        seed = tf.convert_to_tensor(seed)
        if seed.dtype not in (tf.int32, tf.int64) or seed.shape.rank not in (1, None) or (
                seed.shape.rank == 1 and seed.shape[0] not in (2, None)):
            raise ValueError(f"seed must be an int32 or int64 tensor of shape [2], got "
                             f"{seed.dtype.name} {seed.shape}")
        if self.num_ops == 0 or self.prob == 0:
            return tf.identity(image)
        out = self._compiled(image, self._uniforms(seed))
        out.set_shape(image.shape)
        return out

    def _uniforms(self, seed):
        """One row of uniforms per drawn operation: which, whether, sign, magnitude (2 columns).

        Drawn outside XLA: XLA's stateless random ops give other numbers than TensorFlow's
        kernels, and the draws should not depend on ``jit_compile``.
        """
        return tf.random.stateless_uniform([self.num_ops, 5], seed=tf.cast(seed, tf.int64))

    def _draws(self, uniforms):
        """Per drawn operation: its branch (``len(op_names)``: not applied), sign, magnitude."""
        count = len(self.op_names)
        chosen = tf.minimum(tf.cast(uniforms[:, 0] * count, tf.int32), count - 1)
        branch = tf.where(uniforms[:, 1] < self.prob, chosen, count)
        negate = uniforms[:, 2] > 0.5
        return branch, negate, self._magnitudes(uniforms)

    def _augment(self, image, uniforms):
        """The drawn operations; XLA-compiled as a whole (see ``__init__``)."""
        branch, negate, magnitudes = self._draws(uniforms)
        fill = tf.constant(self.fill, tf.uint8)
        for i in range(self.num_ops):
            branches = [self._branch(name, image, magnitudes[i], negate[i], fill)
                        for name in self.op_names]
            branches.append(lambda image=image: tf.identity(image))
            image = tf.switch_case(branch[i], branches)
        return image

    def sample(self, seed):
        """What ``self(image, seed)`` applies, for inspection and tests.

        Args:
            seed: int32/int64 shape [2] seed, as for ``__call__``.

        Returns:
            A list with one entry per drawn operation: ``None`` where it is not applied, else
            ``(name, magnitude, negate)`` (magnitude after clipping; ``negate``: timm's random
            sign flip, used by the signed operations).
        """
        branch, negate, magnitudes = self._draws(self._uniforms(seed))
        return [None if b == len(self.op_names) else (self.op_names[b], float(m), bool(n))
                for b, n, m in zip(branch.numpy(), negate.numpy(), magnitudes.numpy())]

    def _branch(self, name, image, magnitude, negate, fill):
        level_fn, op = _OPS[name]

        def run():
            return op(image, level_fn(magnitude, negate, self.translate_pct), fill)
        return run
