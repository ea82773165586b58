"""Resampling learned position embeddings to another grid, in NumPy.

Each checkpoint source resizes its table its own way, and parity at a changed resolution
means doing exactly what the source's reference does:
- timm: bicubic with antialiasing (PyTorch's ``antialias=True``, PIL's a=-0.5 kernel);
- Hugging Face transformers: plain bicubic (a=-0.75, clamped borders), no antialiasing;
- Google's ``.npz`` as loaded by timm: bilinear, no antialiasing.
All use ``align_corners=False``. The weights are built as separable matrices so that the
result equals PyTorch's ``F.interpolate`` to float rounding.
"""
import math

import numpy as np

RESAMPLE_METHODS = ("bicubic_antialias", "bicubic", "bilinear")


def _cubic(x, a):
    x = np.abs(x)
    return np.where(
        x <= 1.0,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        np.where(x < 2.0, (((x - 5.0) * x + 8.0) * x - 4.0) * a, 0.0),
    )


def _weights_bicubic(in_size, out_size):
    scale = in_size / out_size
    w = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        src = scale * (i + 0.5) - 0.5
        base = math.floor(src)
        t = src - base
        coeffs = _cubic(np.array([t + 1.0, t, 1.0 - t, 2.0 - t]), -0.75)
        for k, c in enumerate(coeffs):
            w[i, min(max(base - 1 + k, 0), in_size - 1)] += c
    return w


def _weights_bicubic_antialias(in_size, out_size):
    scale = in_size / out_size
    support = 2.0 * scale if scale >= 1.0 else 2.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    w = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = scale * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        j = np.arange(xmin, xmax)
        taps = _cubic((j - center + 0.5) * invscale, -0.5)
        total = taps.sum()
        w[i, xmin:xmax] = taps / total if total != 0 else taps
    return w


def _weights_bilinear(in_size, out_size):
    scale = in_size / out_size
    w = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        src = max(scale * (i + 0.5) - 0.5, 0.0)
        i0 = min(int(math.floor(src)), in_size - 1)
        i1 = min(i0 + 1, in_size - 1)
        frac = src - i0
        w[i, i0] += 1.0 - frac
        w[i, i1] += frac
    return w


_WEIGHTS = {
    "bicubic_antialias": _weights_bicubic_antialias,
    "bicubic": _weights_bicubic,
    "bilinear": _weights_bilinear,
}


def resample_grid(grid, new_size, method="bicubic_antialias"):
    """Resizes an ``(H, W, C)`` array to ``new_size`` like PyTorch's ``F.interpolate``."""
    if method not in _WEIGHTS:
        raise ValueError(f"Unknown resampling method {method!r}; expected one of {RESAMPLE_METHODS}.")
    h, w = grid.shape[:2]
    new_h, new_w = new_size
    wy = _WEIGHTS[method](h, new_h)
    wx = _WEIGHTS[method](w, new_w)
    out = np.einsum("yh,hwc->ywc", wy, grid.astype(np.float64))
    out = np.einsum("xw,ywc->yxc", wx, out)
    return out.astype(grid.dtype)


def resample_position_embedding(posemb, new_grid, num_prefix_tokens=1, old_grid=None, method="bicubic_antialias"):
    """Resamples a ``(1, prefix + H*W, C)`` position table to ``new_grid`` = (H', W').

    Class/distillation token positions (the first ``num_prefix_tokens``) are kept as they
    are; the patch positions are resized as an image.

    Args:
        posemb: the table from a checkpoint.
        new_grid: target (rows, cols) of patches.
        num_prefix_tokens: tokens before the patch tokens.
        old_grid: (rows, cols) of the checkpoint; ``None`` assumes a square grid.
        method: one of ``"bicubic_antialias"`` (timm), ``"bicubic"`` (transformers),
            ``"bilinear"`` (Google npz via timm).

    Example:
        >>> table = resample_position_embedding(table_224, (24, 24))  # 224 -> 384 at patch 16
    """
    posemb = np.asarray(posemb)
    prefix, grid = posemb[:, :num_prefix_tokens], posemb[:, num_prefix_tokens:]
    n = grid.shape[1]
    if old_grid is None:
        side = int(round(math.sqrt(n)))
        if side * side != n:
            raise ValueError(f"Cannot infer a square grid from {n} position tokens; pass old_grid.")
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != n:
        raise ValueError(f"old_grid {old_grid} does not match {n} position tokens.")
    if tuple(old_grid) == tuple(new_grid):
        return posemb
    grid = grid.reshape(old_grid[0], old_grid[1], -1)
    grid = resample_grid(grid, new_grid, method).reshape(1, new_grid[0] * new_grid[1], -1)
    return np.concatenate([prefix, grid], axis=1)


def relative_position_index(window_size, num_prefix_tokens=0):
    """Index into a relative position bias table for every (query, key) pair of a window.

    Row-major tokens, offsets ``(dy + Wh - 1) * (2 Ww - 1) + (dx + Ww - 1)`` as Swin and BEiT
    number them. With a class token (BEiT) the index has one more row and column pointing at
    the table's three extra rows: class-to-patch, patch-to-class and class-to-class.

    Returns:
        int32 array ``(prefix + Wh*Ww, prefix + Wh*Ww)``.
    """
    wh, ww = window_size
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    rel = coords[:, :, None] - coords[:, None, :]
    index = (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)
    if num_prefix_tokens:
        num_distances = (2 * wh - 1) * (2 * ww - 1)
        index = np.pad(index, ((1, 0), (1, 0)))
        index[0, :] = num_distances
        index[:, 0] = num_distances + 1
        index[0, 0] = num_distances + 2
    return index.astype(np.int32)


def _geometric_positions(src, dst):
    """Source offsets spread geometrically so that the outermost reaches about ``dst // 2``.

    This is the resizing scheme of BEiT's fine-tuning code, as timm's
    ``resize_rel_pos_bias_table`` keeps it: a bisection for the ratio ``q`` of the steps.
    """

    def progression(ratio, n):
        return (1.0 - ratio**n) / (1.0 - ratio)

    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        if progression(q, src // 2) > dst // 2:
            right = q
        else:
            left = q
    distances, current = [], 1.0
    for i in range(src // 2):
        distances.append(current)
        current += q ** (i + 1)
    return np.array([-d for d in reversed(distances)] + [0.0] + distances)


def resize_relative_position_table(table, new_window_size, old_window_size=None, num_extra_tokens=None):
    """Resizes a ``(num_positions, heads)`` relative position bias table to another window.

    Does what timm's ``resize_rel_pos_bias_table`` does when loading a checkpoint (and BEiT's
    fine-tuning code before it): the ``(2 Wh - 1) x (2 Ww - 1)`` source grid is placed at
    geometrically spaced offsets, and the target's integer offsets are linearly interpolated
    from it per head (edges clamped); the extra class-token rows are kept as they are.

    Args:
        table: ``(positions + extra, heads)``.
        new_window_size: target (Wh, Ww).
        old_window_size: source window; ``None`` assumes a square one.
        num_extra_tokens: rows after the grid (3 with a class token); ``None``: whatever the
            table has beyond a square grid.

    Example:
        >>> table = resize_relative_position_table(table_14, (24, 24), num_extra_tokens=3)
    """
    table = np.asarray(table)
    dst = (2 * new_window_size[0] - 1, 2 * new_window_size[1] - 1)
    if old_window_size is not None:
        src = (2 * old_window_size[0] - 1, 2 * old_window_size[1] - 1)
        extra = table.shape[0] - src[0] * src[1] if num_extra_tokens is None else num_extra_tokens
    else:
        if num_extra_tokens is None:
            raise ValueError("Pass old_window_size or num_extra_tokens to resize a relative position table.")
        extra = num_extra_tokens
        side = int(round(math.sqrt(table.shape[0] - extra)))
        if side * side != table.shape[0] - extra:
            raise ValueError(f"A table of {table.shape[0]} rows with {extra} extra is not a square grid; pass old_window_size.")
        src = (side, side)
    if extra < 0 or src[0] * src[1] + extra != table.shape[0]:
        raise ValueError(f"A table of {table.shape[0]} rows does not fit a {src} grid with {extra} extra rows.")
    if src == dst:
        return table
    grid, extras = table[: table.shape[0] - extra], table[table.shape[0] - extra :]
    ys, xs = _geometric_positions(src[0], dst[0]), _geometric_positions(src[1], dst[1])
    ty, tx = dst[0] // 2, dst[1] // 2
    dy, dx = np.arange(-ty, ty + 0.1), np.arange(-tx, tx + 0.1)
    grid = grid.reshape(src[0], src[1], -1).astype(np.float64)
    # Bilinear on a rectilinear grid is linear along y, then along x (np.interp clamps edges).
    along_y = np.stack([[np.interp(dy, ys, grid[:, j, h]) for j in range(src[1])] for h in range(grid.shape[-1])])
    out = np.stack([[np.interp(dx, xs, along_y[h, :, i]) for i in range(len(dy))] for h in range(grid.shape[-1])])
    out = out.transpose(1, 2, 0).reshape(-1, grid.shape[-1]).astype(table.dtype)
    return np.concatenate([out, extras], axis=0)
