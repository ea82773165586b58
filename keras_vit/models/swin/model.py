"""Swin Transformer.

"Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", Liu et al.,
ICCV 2021 (https://arxiv.org/abs/2103.14030).

A 4x4 patch embedding starts a four-stage pyramid. Each stage but the first halves the map
by patch merging (2x2 neighbours concatenated, LayerNorm, linear); its blocks attend within
non-overlapping ``window x window`` windows with a learned relative position bias, every
second block with the windows shifted by half a window so that information crosses window
borders (an additive mask keeps the tokens that the cyclic shift brought together apart).

The blocks work on ``(B, H, W, C)`` maps. Everything input-size dependent is static: the
window and shift of every block (a window larger than the map shrinks to it and stops
shifting, as in timm), the zero padding of maps that are not a multiple of the window, and
the shift mask (a NumPy constant). Shifts are slices and concatenations, windows are 4-D
reshapes and transposes; the float32 TFLite graph runs wholly on XNNPACK. With TF 2.21 and
LiteRT 2.3 the straightforward graph (``roll``, 6-D window transposes, the bias gathered and
the mask built at call time) also converts builtin-only, folds to the same constants and runs
wholly on XNNPACK at the same speed (the documentation's Swin-graph decision record): the restructuring keeps
older converters and delegates safe, it is not a speed-up today.

Layer names follow timm's module names with ``_`` for ``.`` (``layers_2_blocks_3``).
"""
import keras
import numpy as np
from keras import layers, ops

from ...layers import Attention, RelativePositionBias, TransformerBlock, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.embedding import PatchEmbedding
from ...layers.features import pyramid


def _pair(value):
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def window_and_shift(resolution, window_size):
    """The window and shift of a block on a ``resolution`` map (timm's ``_calc_window_shift``).

    A window at least as large as the map shrinks to the map and does not shift.
    """
    window = tuple(min(r, w) for r, w in zip(resolution, window_size))
    shift = tuple(0 if r <= w else w // 2 for r, w in zip(resolution, window))
    return window, shift


def shift_mask(padded_size, window_size, shift_size):
    """The ``(windows, N, N)`` additive mask of shifted windows: 0 within a region, -100 across.

    After the cyclic shift, a window at the bottom/right border holds tokens from up to
    three regions of the map that were not neighbours; they must not attend to each other.
    Computed on the padded map, as timm and transformers do.
    """
    (h, w), (wh, ww), (sh, sw) = padded_size, window_size, shift_size
    regions = np.zeros((h, w), np.float32)
    count = 0
    for rows in (slice(0, -wh), slice(-wh, -sh), slice(-sh, None)):
        for cols in (slice(0, -ww), slice(-ww, -sw), slice(-sw, None)):
            regions[rows, cols] = count
            count += 1
    windows = regions.reshape(h // wh, wh, w // ww, ww).transpose(0, 2, 1, 3).reshape(-1, wh * ww)
    diff = windows[:, None, :] - windows[:, :, None]
    return np.where(diff != 0, -100.0, 0.0).astype(np.float32)


def _roll(x, shift, axis):
    """``roll(x, -shift)`` along ``axis`` as two slices and a concatenation (no gathers)."""
    if shift == 0:
        return x
    size = x.shape[axis]
    shift %= size
    head = [slice(None)] * axis + [slice(0, shift)]
    tail = [slice(None)] * axis + [slice(shift, size)]
    return ops.concatenate([x[tuple(tail)], x[tuple(head)]], axis=axis)


@keras.saving.register_keras_serializable(package="keras_vit")
class SwinTransformerBlock(TransformerBlock):
    """Swin block on a ``(B, H, W, C)`` map: (shifted) window attention, then the MLP.

    A :class:`~keras_vit.layers.TransformerBlock` whose attention runs within windows: the
    normalized map is cyclically shifted, zero-padded to a multiple of the window, cut into
    ``(B * windows, window_area, C)`` sequences for an :class:`~keras_vit.layers.Attention`
    with a :class:`~keras_vit.layers.RelativePositionBias` (and, when shifted, the constant
    per-window mask), and put back.

    Args:
        num_heads: attention heads.
        window_size: int or (height, width) of a window (already fitted to the map).
        shift_size: int or (rows, cols) of the cyclic shift; 0 for plain windows.
        pad_before_shift: pad the map before shifting it (transformers and the original
            detection code) instead of after (timm). Equal when no padding is needed.
        **kwargs: the arguments of :class:`~keras_vit.layers.TransformerBlock`.

    Example:
        >>> y = SwinTransformerBlock(3, window_size=7, shift_size=3)(feature_map)  # (B, 56, 56, 96)
    """

    #: The layer that adds the relative position bias to the default attention's scores.
    position_bias_class = RelativePositionBias

    def __init__(self, num_heads, window_size=7, shift_size=0, pad_before_shift=False, qkv_bias=True, attn_drop_rate=0.0, drop_rate=0.0, attention=None, **kwargs):
        self.window_size = _pair(window_size)
        self.shift_size = _pair(shift_size)
        self.pad_before_shift = pad_before_shift
        if attention is None:
            attention = Attention(
                num_heads,
                qkv_bias=qkv_bias,
                attn_drop_rate=attn_drop_rate,
                proj_drop_rate=drop_rate,
                position_bias=self.position_bias_class(self.window_size, num_heads, name="relative_position"),
                name="attn",
                dtype=kwargs.get("dtype"),
            )
        kwargs.setdefault("layer_norm_epsilon", 1e-5)
        super().__init__(num_heads, qkv_bias=qkv_bias, attn_drop_rate=attn_drop_rate, drop_rate=drop_rate, attention=attention, **kwargs)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"{self.name}: needs a (batch, height, width, channels) map of fixed size, got {input_shape}.")
        h, w = input_shape[1:3]
        (wh, ww), (sh, sw) = self.window_size, self.shift_size
        self.padded_size = (-(-h // wh) * wh, -(-w // ww) * ww)
        self.mask = shift_mask(self.padded_size, self.window_size, self.shift_size) if sh or sw else None
        super().build(input_shape)

    def _pad(self, x, size):
        ph, pw = self.padded_size[0] - size[0], self.padded_size[1] - size[1]
        return ops.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0))) if ph or pw else x

    def _shift(self, x, sign):
        (sh, sw) = self.shift_size
        h, w = x.shape[1], x.shape[2]
        x = _roll(x, sign * sh if sign > 0 else h - sh, 1) if sh else x
        return _roll(x, sign * sw if sign > 0 else w - sw, 2) if sw else x

    def partition(self, x):
        """``(B, Hp, Wp, C)`` -> ``(B * windows, Wh * Ww, C)``, windows and tokens row-major."""
        (wh, ww), (hp, wp), c = self.window_size, self.padded_size, x.shape[-1]
        x = ops.reshape(x, (-1, wh, wp // ww, ww * c))
        x = ops.transpose(x, (0, 2, 1, 3))
        return ops.reshape(x, (-1, wh * ww, c))

    def merge(self, x):
        """The inverse of :meth:`partition`."""
        (wh, ww), (hp, wp), c = self.window_size, self.padded_size, x.shape[-1]
        x = ops.reshape(x, (-1, wp // ww, wh, ww * c))
        x = ops.transpose(x, (0, 2, 1, 3))
        return ops.reshape(x, (-1, hp, wp, c))

    def _attention(self, x, training, return_attention_scores, **attention_kwargs):
        size = (x.shape[1], x.shape[2])
        if self.pad_before_shift:
            x = self._pad(x, size)
        x = self._shift(x, 1)
        if not self.pad_before_shift:
            x = self._pad(x, size)
        if self.mask is not None:
            attention_kwargs.setdefault("attention_mask", self.mask)
        out = self.attn(self.partition(x), training=training, return_attention_scores=return_attention_scores, **attention_kwargs)
        if return_attention_scores:
            out, scores = out
        out = self.merge(out)
        if not self.pad_before_shift and self.padded_size != size:
            out = out[:, : size[0], : size[1]]
        out = self._shift(out, -1)
        if self.pad_before_shift and self.padded_size != size:
            out = out[:, : size[0], : size[1]]
        return (out, scores) if return_attention_scores else out

    def get_config(self):
        config = super().get_config()
        config.update({"window_size": self.window_size, "shift_size": self.shift_size, "pad_before_shift": self.pad_before_shift})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchMerging(layers.Layer):
    """Halves a ``(B, H, W, C)`` map: each 2x2 neighbourhood concatenated, LayerNorm, linear.

    Channels are concatenated in the reference order (top-left, bottom-left, top-right,
    bottom-right); odd sizes are zero-padded at the bottom/right first. Sublayers ``norm``
    and ``reduction`` (no bias) as in timm.

    Args:
        output_dim: output channels (default ``2 * C``).
        layer_norm_epsilon: LayerNorm epsilon.

    Example:
        >>> y = PatchMerging()(feature_map)  # (B, 56, 56, 96) -> (B, 28, 28, 192)
    """

    def __init__(self, output_dim=None, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, input_shape):
        c = input_shape[-1]
        self.norm = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm", dtype=self.dtype_policy)
        self.norm.build((None, 4 * c))
        self.reduction = layers.Dense(self.output_dim or 2 * c, use_bias=False, name="reduction", dtype=self.dtype_policy)
        self.reduction.build((None, 4 * c))

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        if h % 2 or w % 2:
            x = ops.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
            h, w = h + h % 2, w + w % 2
        # (B * H/2, dy, W/2, dx, C) -> (B * H/2, W/2, dx, dy, C): channels ordered (dx, dy, C).
        x = ops.reshape(x, (-1, 2, w // 2, 2, c))
        x = ops.transpose(x, (0, 2, 3, 1, 4))
        x = ops.reshape(x, (-1, h // 2, w // 2, 4 * c))
        return self.reduction(self.norm(x))

    def compute_output_shape(self, input_shape):
        h, w, c = input_shape[1:]
        return (input_shape[0], (h + 1) // 2, (w + 1) // 2, self.output_dim or 2 * c)

    def get_config(self):
        config = super().get_config()
        config.update({"output_dim": self.output_dim, "layer_norm_epsilon": self.layer_norm_epsilon})
        return config


@image_classifier(name="swin", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def SwinTransformer(
    x,
    *,
    input_shape=(224, 224, 3),
    patch_size=4,
    embed_dim=96,
    depths=(2, 2, 6, 2),
    num_heads=(3, 6, 12, 24),
    window_size=7,
    mlp_ratio=4.0,
    qkv_bias=True,
    pad_before_shift=False,
    layer_norm_epsilon=1e-5,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds a Swin Transformer as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3), multiples of ``patch_size``. Maps that are not a
            multiple of the window are padded inside each block, as timm does.
        patch_size: side of the patch embedding.
        embed_dim: width of the first stage; each later stage doubles it.
        depths, num_heads: blocks and heads per stage.
        window_size: attention window side (shrunk to the map where the map is smaller).
        mlp_ratio, qkv_bias: MLP ratio and q/k/v bias.
        pad_before_shift: transformers' order of padding and shifting (see
            :class:`SwinTransformerBlock`); set by transformers checkpoints.
        layer_norm_epsilon: LayerNorm epsilon (1e-5 as PyTorch's default).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout and stochastic
            depth (increasing linearly over all blocks).
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``include_top=False`` with ``pooling=None`` returns the final normalized map.
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = SwinTransformer(input_shape=(64, 64, 3), embed_dim=16, depths=(2, 2), num_heads=(1, 2), window_size=4, num_classes=10)
    """
    if len(depths) != len(num_heads):
        raise ValueError(f"depths {depths} and num_heads {num_heads} need one entry per stage.")
    x = PatchEmbedding(patch_size, embed_dim, flatten=False, name="patch_embed")(x)
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="patch_embed_norm")(x)
    x = layers.Dropout(drop_rate, name="pos_drop")(x)
    window = _pair(window_size)
    rates = drop_path_rates(drop_path_rate, sum(depths))
    levels = []  # each stage's last block, before the final norm (timm's feature_info)
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        if i > 0:
            x = PatchMerging(2 * x.shape[-1], layer_norm_epsilon=layer_norm_epsilon, name=f"layers_{i}_downsample")(x)
        win, shift = window_and_shift(tuple(x.shape[1:3]), window)
        for j in range(depth):
            x = SwinTransformerBlock(
                heads,
                window_size=win,
                shift_size=shift if j % 2 else 0,
                pad_before_shift=pad_before_shift,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=rates[sum(depths[:i]) + j],
                layer_norm_epsilon=layer_norm_epsilon,
                name=f"layers_{i}_blocks_{j}",
            )(x)
        levels.append((x, _pair(patch_size)[0] * 2**i, f"layers_{i}"))
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="norm")(x)
    return Backbone(x, levels, drop_rate=drop_rate)


def features(model, out_indices=None):
    """Swin feature pyramid: the output of each stage (strides 4, 8, 16, 32: ``P2`` … ``P5``).

    As timm's ``feature_info`` (modules ``layers.0`` … ``layers.3``): the last block's map of
    each stage, before the final norm. ``out_indices`` index the stages.
    """
    return pyramid(model, out_indices=out_indices)
