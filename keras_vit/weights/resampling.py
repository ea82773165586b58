"""Load-time resampling hooks: tensors whose shape depends on the input size or window.

A family's ``ModelSpec.resample`` is a function ``(layout) -> hook`` or ``None``; the hook is
``hook(path, array, target_shape, model) -> array or None`` and is called for every checkpoint
array whose shape differs from the model's variable. It returns the resized array, or
``None`` where it does not apply (then the shape mismatch is reported as usual).
"""
import math

from ..layers.attention import RelativePositionBias
from ..layers.embedding import PatchEmbedding, PositionEmbedding
from ..layers.resample import resample_position_embedding, resize_relative_position_table


def _owner(model, path, layer_type):
    """The sublayer of ``layer_type`` that holds the variable at ``path``, if any."""
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, layer_type) and any(v.path == path for v in layer.weights):
            return layer
        stack.extend(getattr(layer, "_layers", []))
    return None


def _patch_grid(model):
    for layer in model.layers:
        if isinstance(layer, PatchEmbedding):
            h, w = layer.input.shape[1:3]
            return h // layer.patch_size[0], w // layer.patch_size[1]
    return None


def position_embeddings(method):
    """Hook resampling learned ``(1, prefix + H*W, C)`` position tables with ``method``.

    The target grid is the :class:`PositionEmbedding`'s ``grid_size`` or, without one, the
    model's patch grid; the checkpoint's grid is taken as square.
    """

    def hook(path, array, target_shape, model):
        layer = _owner(model, path, PositionEmbedding)
        if layer is None or array.ndim != 3 or len(target_shape) != 3 or array.shape[-1] != target_shape[-1]:
            return None
        grid = layer.grid_size or _patch_grid(model)
        if grid is None:
            return None
        prefix = layer.num_prefix_tokens if layer.num_prefix_tokens is not None else target_shape[1] - grid[0] * grid[1]
        old = array.shape[1] - prefix
        side = int(round(math.sqrt(old))) if old > 0 else 0
        if prefix < 0 or side * side != old or prefix + grid[0] * grid[1] != target_shape[1]:
            return None
        return resample_position_embedding(array, grid, num_prefix_tokens=prefix, old_grid=(side, side), method=method)

    return hook


def relative_table_source(path, array, target_shape, model):
    """``(layer, side)`` of a checkpoint's relative position table for the model's
    :class:`RelativePositionBias` at ``path``: its square grid of ``side`` x ``side`` offsets
    (the table's rows beyond are the class-token rows); ``None`` where ``array`` is not one."""
    layer = _owner(model, path, RelativePositionBias)
    if layer is None or array.ndim != 2 or len(target_shape) != 2 or array.shape[1] != target_shape[1]:
        return None
    extra = 3 * layer.num_prefix_tokens
    side = int(round(math.sqrt(array.shape[0] - extra)))
    if side * side != array.shape[0] - extra:
        return None
    return layer, side


def relative_position_tables(path, array, target_shape, model):
    """Hook resizing relative position bias tables as timm's ``resize_rel_pos_bias_table``."""
    source = relative_table_source(path, array, target_shape, model)
    if source is None or source[1] % 2 == 0:
        return None
    layer, side = source
    extra = 3 * layer.num_prefix_tokens
    old_window = ((side + 1) // 2, (side + 1) // 2)
    return resize_relative_position_table(array, layer.window_size, old_window_size=old_window, num_extra_tokens=extra)


def chain(*hooks):
    """One hook trying ``hooks`` in order; the first that applies wins."""

    def hook(path, array, target_shape, model):
        for h in hooks:
            out = h(path, array, target_shape, model)
            if out is not None:
                return out
        return None

    return hook
