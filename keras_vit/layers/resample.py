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
