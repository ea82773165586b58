"""Bilinear sampling of feature maps at data-dependent points, TFLite-friendly.

:func:`grid_sample` does what PyTorch's ``F.grid_sample(mode="bilinear",
padding_mode="zeros")`` does, for channels-last maps. Instead of gathering the four corner
pixels (TFLite's GATHER_ND runs outside the XNNPACK delegate), every sample gets a row of
"tent" weights ``max(0, 1 - |p - i|)`` over the pixel rows and over the pixel columns: exactly
the bilinear weights of the two neighbours, zero elsewhere and zero for pixels outside the
map (the zero padding). The sample is then one matrix product of the outer product of the two
weight rows with the flattened map: SUB, ABS, RELU, MUL and BATCH_MATMUL, all delegated.
The cost is ``points x H x W x C`` multiply-adds, what attention over the map costs anyway.
"""
import numpy as np
from keras import ops


def unnormalize(coords, size, align_corners=True):
    """Normalized coordinates in [-1, 1] -> pixel coordinates, as ``grid_sample`` maps them.

    ``align_corners=True``: -1 and 1 are the centres of the first and last pixels;
    ``False``: they are the outer edges of the map.
    """
    if align_corners:
        return (coords + 1.0) * (0.5 * (size - 1))
    return ((coords + 1.0) * size - 1.0) * 0.5


def tent_weights(pixel_coords, size):
    """Bilinear weights ``(..., 1) -> (..., size)`` of the pixels ``0 .. size - 1``.

    A coordinate between pixels ``i`` and ``i + 1`` gets ``1 - frac`` and ``frac`` on them and
    0 elsewhere; a neighbour outside ``[0, size)`` simply has no column, so its share is lost
    as with zero padding.
    """
    grid = ops.convert_to_tensor(np.arange(size, dtype="float32"), dtype=pixel_coords.dtype)
    return ops.relu(1.0 - ops.abs(pixel_coords - grid))


def grid_sample(fmap, grid, align_corners=True):
    """Samples ``fmap`` ``(N, H, W, C)`` bilinearly at ``grid`` ``(N, P, 2)`` -> ``(N, P, C)``.

    ``grid`` holds normalized ``(x, y)`` pairs in [-1, 1] as PyTorch's ``grid_sample`` takes them
    (flattened over the output points); points outside the map read zeros. ``H`` and ``W`` must
    be static.

    Example:
        >>> sampled = grid_sample(fmap, points)  # == F.grid_sample(fmap_nchw, points[:, None], align_corners=True)
    """
    height, width, channels = fmap.shape[1], fmap.shape[2], fmap.shape[3]
    points = grid.shape[1]
    gx, gy = ops.split(grid, 2, axis=-1)
    weights = sample_weights(gy, gx, (height, width), align_corners)
    return ops.matmul(ops.reshape(weights, (-1, points, height * width)), ops.reshape(fmap, (-1, height * width, channels)))


def sample_weights(y, x, size, align_corners=True):
    """The ``(..., H, W)`` bilinear weights of normalized points ``y``, ``x`` of shape ``(..., 1)``."""
    height, width = size
    wy = tent_weights(unnormalize(y, height, align_corners), height)
    wx = tent_weights(unnormalize(x, width, align_corners), width)
    return ops.expand_dims(wy, -1) * ops.expand_dims(wx, -2)
