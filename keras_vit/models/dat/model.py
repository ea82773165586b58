"""DAT: Vision Transformer with Deformable Attention (CVPR 2022 version).

"Vision Transformer with Deformable Attention", Xia et al., CVPR 2022
(https://arxiv.org/abs/2201.00520); official code LeapLabTHU/DAT at tag CVPR2022.

A four-stage pyramid (4x4 patch stem, 2x2 strided down-projections, each conv followed by a
LayerNorm). Stages 1-2 alternate local 7x7 window attention and shifted-window attention
(Swin); stages 3-4 alternate local attention and deformable attention: a small offset network
moves a grid of reference points per group of channels, keys and values are sampled
bilinearly at the moved points (:func:`keras_vit.layers.sampling.grid_sample`), and a
relative position bias is sampled from a continuous table at the query-to-point
displacements. Head: LayerNorm, global average pooling, linear.

Layer names follow the official modules (``stages_2_3/attn/conv_offset_0``); block ``d`` of a
stage holds the official ``layer_norms.{2d, 2d+1}``, ``attns.{d}`` and ``mlps.{d}``. The
official code's ``relative_position_index`` and ``attn_mask`` buffers are constants here.
"""
import math

import keras
import numpy as np
from keras import layers, ops

from ...layers import Attention, RelativePositionBias, TransformerBlock, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.features import TokensToMap, pyramid
from ...layers.fusion import tokenwise
from ...layers.sampling import grid_sample, tent_weights, unnormalize

OFFSET_KERNELS = (9, 7, 5, 3)


def reference_points(height, width):
    """Pixel centres in normalized coordinates, ``(H, W, 2)`` as (y, x): ``(i + 0.5) / H * 2 - 1``."""
    ys = (np.arange(height, dtype="float64") + 0.5) / height * 2 - 1
    xs = (np.arange(width, dtype="float64") + 0.5) / width * 2 - 1
    return np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).astype("float32")


def _roll(x, shift):
    """``torch.roll(x, (shift, shift), dims=(1, 2))`` by slicing (TFLite has no delegated ROLL)."""
    h, w = x.shape[1], x.shape[2]
    sh, sw = shift % h, shift % w
    if sh:
        x = ops.concatenate([x[:, h - sh :], x[:, : h - sh]], axis=1)
    if sw:
        x = ops.concatenate([x[:, :, w - sw :], x[:, :, : w - sw]], axis=2)
    return x


def shifted_window_mask(grid_size, window, shift):
    """The official ``attn_mask``: ``(windows, window**2, window**2)`` of 0 / -100."""
    h, w = grid_size
    labels = np.zeros((h, w), "float32")
    count = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            labels[hs, ws] = count
            count += 1
    windows = labels.reshape(h // window, window, w // window, window).transpose(0, 2, 1, 3).reshape(-1, window * window)
    return np.where(windows[:, None, :] != windows[:, :, None], -100.0, 0.0).astype("float32")


@keras.saving.register_keras_serializable(package="keras_vit")
class WindowBlock(TransformerBlock):
    """Transformer block whose attention runs inside ``window`` x ``window`` windows of the map.

    Tokens ``(B, H*W, C)`` in and out; with ``shift_size`` the map is rolled by ``-shift``
    first and back after, and tokens of different regions are masked (-100, the official mask).
    The attention is the shared :class:`Attention` with a :class:`RelativePositionBias`.

    Args:
        grid_size: (H, W); maps not divisible by ``window_size`` are zero-padded (Swin's way).
        window_size: window side (7).
        shift_size: 0 (local attention) or the shift (``ceil(window / 2)``).
        **kwargs: :class:`TransformerBlock` arguments.
    """

    def __init__(self, num_heads, grid_size, window_size=7, shift_size=0, **kwargs):
        super().__init__(num_heads, **kwargs)
        self.grid_size = tuple(int(s) for s in grid_size)
        self.window_size = window_size
        self.shift_size = shift_size
        # The official code needs maps divisible by the window (inputs divisible by 224); other
        # maps are zero-padded at the bottom/right around the attention, as Swin pads them.
        self.padded_size = tuple(-(-s // window_size) * window_size for s in self.grid_size)
        self.mask = shifted_window_mask(self.padded_size, window_size, shift_size) if shift_size else None

    def _attention(self, x, training, return_attention_scores, **attention_kwargs):
        (h0, w0), (h, w), n = self.grid_size, self.padded_size, self.window_size
        channels = x.shape[-1]
        fmap = ops.reshape(x, (-1, h0, w0, channels))
        if (h, w) != (h0, w0):
            fmap = ops.pad(fmap, ((0, 0), (0, h - h0), (0, w - w0), (0, 0)))
        if self.shift_size:
            fmap = _roll(fmap, -self.shift_size)
        windows = ops.reshape(fmap, (-1, h // n, n, w // n, n, channels))
        windows = ops.reshape(ops.transpose(windows, (0, 1, 3, 2, 4, 5)), (-1, n * n, channels))
        mask = None if self.mask is None else ops.convert_to_tensor(self.mask)
        out = self.attn(windows, attention_mask=mask, training=training, return_attention_scores=return_attention_scores)
        if return_attention_scores:
            out, scores = out
        fmap = ops.reshape(out, (-1, h // n, w // n, n, n, channels))
        fmap = ops.reshape(ops.transpose(fmap, (0, 1, 3, 2, 4, 5)), (-1, h, w, channels))
        if self.shift_size:
            fmap = _roll(fmap, self.shift_size)
        if (h, w) != (h0, w0):
            fmap = fmap[:, :h0, :w0]
        out = ops.reshape(fmap, (-1, h0 * w0, channels))
        return (out, scores) if return_attention_scores else out

    def get_config(self):
        config = super().get_config()
        config.update({"grid_size": self.grid_size, "window_size": self.window_size, "shift_size": self.shift_size})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class DeformableAttention(Attention):
    """DAT's deformable multi-head attention over the ``(H, W)`` token map.

    Queries are all tokens. Per group of channels (``groups``; each group holds
    ``num_heads / groups`` heads), an offset network (depthwise ``offset_kernel`` conv with
    bias -> LayerNorm -> GELU -> 1x1 conv to (dy, dx)) reads the group's queries; the offsets
    ``tanh(o) * (1/Hk, 1/Wk) * offset_range_factor`` move reference points at pixel centres,
    and the group's channels of the *input* tokens are sampled there (bilinear,
    ``align_corners=True``, zero padding, as the official ``grid_sample`` call). Keys and values
    are projected from the samples. With ``use_pe`` a ``(heads, 2H-1, 2W-1)`` table is sampled
    bilinearly at half the query-to-point displacement and added to the scores.

    The sampled positions are available from :meth:`sampling_positions` for visualization.

    Args:
        num_heads: attention heads.
        grid_size: (H, W) of the token map.
        groups: offset groups; ``num_heads`` must be divisible by it.
        offset_kernel: depthwise kernel of the offset network (9, 7, 5, 3 by stage).
        offset_stride: stride of the offset network (fewer points than queries if > 1).
        offset_range_factor: offset scale; <= 0 as in the official code (no tanh scaling).
        use_pe: the deformable relative position bias.
        layer_norm_epsilon: of the offset network's LayerNorm.
        **kwargs: :class:`Attention` arguments (``projection`` is ``"q_k_v"``).
    """

    def __init__(self, num_heads, grid_size, groups=1, offset_kernel=3, offset_stride=1, offset_range_factor=2.0,
                 use_pe=True, layer_norm_epsilon=1e-5, **kwargs):
        kwargs.setdefault("projection", "q_k_v")
        super().__init__(num_heads, **kwargs)
        self.grid_size = tuple(int(s) for s in grid_size)
        self.groups = groups
        self.offset_kernel = offset_kernel
        self.offset_stride = offset_stride
        self.offset_range_factor = offset_range_factor
        self.use_pe = use_pe
        self.layer_norm_epsilon = layer_norm_epsilon
        if num_heads % groups:
            raise ValueError(f"num_heads={num_heads} is not divisible by groups={groups}.")

    def build(self, input_shape):
        super().build(input_shape)
        dim = self.dim or input_shape[-1]
        h, w = self.grid_size
        k, s = self.offset_kernel, self.offset_stride
        group_channels = dim // self.groups
        policy = self.dtype_policy
        pad = k // 2
        self.offset_grid = ((h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1)
        self.conv_offset_0 = layers.DepthwiseConv2D(k, strides=s, padding="valid", name="conv_offset_0", dtype=policy)
        self.conv_offset_0.build((None, h + 2 * pad, w + 2 * pad, group_channels))
        self.conv_offset_1 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="conv_offset_1", dtype=policy)
        self.conv_offset_1.build((None,) + self.offset_grid + (group_channels,))
        self.conv_offset_3 = layers.Dense(2, use_bias=False, name="conv_offset_3", dtype=policy)
        self.conv_offset_3.build((None,) + self.offset_grid + (group_channels,))
        if self.use_pe:
            self.rpe_table = self.add_weight(
                name="rpe_table", shape=(self.num_heads, 2 * h - 1, 2 * w - 1),
                initializer=keras.initializers.TruncatedNormal(stddev=0.01),
            )

    def _group(self, x):
        """``(B, H*W, C)`` -> ``(B*G, H, W, C/G)``: channels split by group."""
        (h, w), g = self.grid_size, self.groups
        c = x.shape[-1] // g
        x = ops.transpose(ops.reshape(x, (-1, h, w, g, c)), (0, 3, 1, 2, 4))
        return ops.reshape(x, (-1, h, w, c))

    def sampling_positions(self, q):
        """Normalized (y, x) sampling points ``(B*G, Hk*Wk, 2)`` from the queries ``(B, H*W, C)``."""
        k = self.offset_kernel
        pad = k // 2
        x = self._group(q)
        if pad:
            x = ops.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        x = self.conv_offset_1(self.conv_offset_0(x))
        offset = self.conv_offset_3(keras.activations.gelu(x, approximate=False))
        hk, wk = self.offset_grid
        reference = ops.convert_to_tensor(reference_points(hk, wk), dtype=offset.dtype)
        if self.offset_range_factor > 0:
            scale = np.array([1.0 / hk, 1.0 / wk], "float32") * self.offset_range_factor
            offset = ops.tanh(offset) * ops.convert_to_tensor(scale, dtype=offset.dtype)
        pos = offset + reference
        if self.offset_range_factor < 0:
            pos = ops.tanh(pos)
        return ops.reshape(pos, (-1, hk * wk, 2))

    def _position_bias(self, pos):
        """The ``(B, heads, H*W, Ns)`` bias: the table sampled at ``(q - pos) / 2`` per head.

        Separable: the row weights depend on (query row, point), the column weights on
        (query column, point), so the table is contracted along rows, then along columns.
        """
        (h, w), g = self.grid_size, self.groups
        heads_g = self.num_heads // g
        rows, cols = 2 * h - 1, 2 * w - 1
        points = pos.shape[1]
        py, px = ops.split(pos, 2, axis=-1)  # (BG, Ns, 1)
        centres = reference_points(h, w)
        qy = ops.convert_to_tensor(centres[:, :1, :1].reshape(1, h, 1, 1), dtype=pos.dtype)
        qx = ops.convert_to_tensor(centres[:1, :, 1:].reshape(1, w, 1, 1), dtype=pos.dtype)
        wy = tent_weights(unnormalize((qy - ops.expand_dims(py, 1)) * 0.5, rows), rows)  # (BG, H, Ns, rows)
        wx = tent_weights(unnormalize((qx - ops.expand_dims(px, 1)) * 0.5, cols), cols)  # (BG, W, Ns, cols)
        table = ops.cast(self.rpe_table, pos.dtype)
        table = ops.transpose(ops.reshape(table, (1, g, heads_g, rows, cols)), (0, 1, 3, 2, 4))
        table = ops.reshape(table, (1, g, rows, heads_g * cols))
        u = ops.matmul(ops.reshape(wy, (-1, g, h * points, rows)), table)  # (B, G, H*Ns, hg*cols)
        u = ops.transpose(ops.reshape(u, (-1, h, points, heads_g, cols)), (0, 2, 3, 1, 4))
        u = ops.reshape(u, (-1, points, heads_g * h, cols))
        bias = ops.matmul(u, ops.transpose(wx, (0, 2, 3, 1)))  # (BG, Ns, hg*H, W)
        bias = ops.transpose(ops.reshape(bias, (-1, points, heads_g * h * w)), (0, 2, 1))
        return ops.reshape(bias, (-1, self.num_heads, h * w, points))

    def call(self, x, attention_bias=None, attention_mask=None, training=None, return_attention_scores=False):
        (h, w), g = self.grid_size, self.groups
        q = tokenwise(self.q, x, training=training)
        pos = self.sampling_positions(q)
        py, px = ops.split(pos, 2, axis=-1)
        sampled = grid_sample(self._group(x), ops.concatenate([px, py], axis=-1))  # (BG, Ns, C/G)
        points, c = sampled.shape[1], sampled.shape[2]
        sampled = ops.reshape(ops.transpose(ops.reshape(sampled, (-1, g, points, c)), (0, 2, 1, 3)), (-1, points, g * c))
        k, v = tokenwise(self.k, sampled, training=training), tokenwise(self.v, sampled, training=training)
        if self.use_pe:
            bias = self._position_bias(pos)
            attention_bias = bias if attention_bias is None else bias + attention_bias
        out, probs = self.attend(
            self.split_heads(q), self.split_heads(k), self.split_heads(v),
            attention_bias=attention_bias, attention_mask=attention_mask, training=training,
        )
        out = self.proj_drop(tokenwise(self.proj, self.merge_heads(out), training=training), training=training)
        return (out, probs) if return_attention_scores else out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "groups": self.groups,
                "offset_kernel": self.offset_kernel,
                "offset_stride": self.offset_stride,
                "offset_range_factor": self.offset_range_factor,
                "use_pe": self.use_pe,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config


@image_classifier(name="dat", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def DAT(
    x,
    *,
    input_shape=(224, 224, 3),
    patch_size=4,
    dims=(96, 192, 384, 768),
    depths=(2, 2, 6, 2),
    stage_spec=(("L", "S"), ("L", "S"), ("L", "D", "L", "D", "L", "D"), ("L", "D")),
    heads=(3, 6, 12, 24),
    window_size=7,
    groups=(-1, -1, 3, 6),
    use_pes=(False, False, True, True),
    strides=(-1, -1, 1, 1),
    offset_range_factor=(-1, -1, 2, 2),
    expansion=4,
    layer_norm_epsilon=1e-5,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds a DAT (CVPR 2022) as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3); multiples of ``32 * window_size`` (224) keep every
            stage's map divisible into windows, as the official code requires; other sizes
            pad the maps around window attention (Swin's convention, not in the official code).
        patch_size: stem stride.
        dims, depths, heads: width (doubling per stage), blocks and heads of the four stages.
        stage_spec: per stage, per block: ``"L"`` local window, ``"S"`` shifted window,
            ``"D"`` deformable attention.
        window_size: window side of L/S blocks (shift ``ceil(window / 2)``).
        groups, use_pes, strides, offset_range_factor: deformable attention per stage
            (offset groups, position bias, offset-network stride, offset scale).
        expansion: MLP ratio.
        layer_norm_epsilon: 1e-5 (PyTorch's default).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth.
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``include_top=False`` with ``pooling=None`` returns the normalized last map.
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = DAT(dims=(32, 64, 128, 256), heads=(1, 2, 4, 8), depths=(2, 2, 2, 2),
        ...             stage_spec=(("L", "S"), ("L", "S"), ("L", "D"), ("L", "D")), groups=(-1, -1, 2, 4))
    """
    for i in range(1, len(dims)):
        if dims[i] != 2 * dims[i - 1]:
            raise ValueError(f"DAT doubles the width per stage (the official stage input is dims[i-1] * 2), got dims={dims}.")
    x = layers.Conv2D(dims[0], patch_size, strides=patch_size, name="patch_proj_0")(x)
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="patch_proj_1")(x)
    rates = drop_path_rates(drop_path_rate, sum(depths))
    shift = math.ceil(window_size / 2)
    levels = []  # the stage outputs
    for i, (dim, depth) in enumerate(zip(dims, depths)):
        grid = tuple(x.shape[1:3])
        x = layers.Reshape((grid[0] * grid[1], dim), name=f"stages_{i}_flatten")(x)
        for d in range(depth):
            kind = stage_spec[i][d]
            common = dict(
                mlp_ratio=expansion, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path_rate=rates[sum(depths[:i]) + d], layer_norm_epsilon=layer_norm_epsilon, name=f"stages_{i}_{d}",
            )
            if kind in ("L", "S"):
                attention = Attention(
                    heads[i], attn_drop_rate=attn_drop_rate, proj_drop_rate=drop_rate,
                    position_bias=RelativePositionBias((window_size, window_size), heads[i], name="rpb"),
                )
                x = WindowBlock(heads[i], grid, window_size, shift if kind == "S" else 0, attention=attention, **common)(x)
            elif kind == "D":
                attention = DeformableAttention(
                    heads[i], grid, groups=groups[i], offset_kernel=OFFSET_KERNELS[i], offset_stride=strides[i],
                    offset_range_factor=offset_range_factor[i], use_pe=use_pes[i], layer_norm_epsilon=layer_norm_epsilon,
                    attn_drop_rate=attn_drop_rate, proj_drop_rate=drop_rate,
                )
                x = TransformerBlock(heads[i], attention=attention, **common)(x)
            else:
                raise ValueError(f"stage_spec entries are 'L', 'S' or 'D', got {kind!r}.")
        x = TokensToMap(grid, name=f"stages_{i}_to_map")(x)
        levels.append((x, patch_size * 2**i, f"stages_{i}_to_map"))
        if i < len(dims) - 1:
            x = layers.Conv2D(dims[i + 1], 2, strides=2, use_bias=False, name=f"down_projs_{i}_0")(x)
            x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name=f"down_projs_{i}_1")(x)
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="cls_norm")(x)
    return Backbone(x, levels, drop_rate=drop_rate)


def features(model, out_indices=None):
    """DAT feature pyramid: the four stage outputs (strides 4, 8, 16, 32 -> P2 … P5)."""
    return pyramid(model, out_indices=out_indices)
