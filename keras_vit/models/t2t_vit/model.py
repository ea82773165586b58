"""Tokens-to-Token ViT (T2T-ViT).

"Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet", Yuan et al.,
ICCV 2021 (https://arxiv.org/abs/2101.11986); official code: yitu-opensource/T2T-ViT
(``models/t2t_vit.py``).

The image is soft-split into overlapping patches (``nn.Unfold``: 7x7/4, then 3x3/2 twice);
between splits a light transformer (a Performer or a one-head transformer, width
``token_dim``) re-structures the tokens, which are folded back into a map. The last split is
projected to ``embed_dim``; a class token, a fixed sinusoid position table and a deep-narrow
ViT backbone follow.
"""
import math

import keras
import numpy as np
from keras import layers, ops

from ...layers import Attention, ClassToken, MLP, PositionEmbedding, TransformerBlock, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.features import TokensToMap, pyramid
from ...layers.fusion import tokenwise


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


@keras.saving.register_keras_serializable(package="keras_vit")
class SoftSplit(layers.Layer):
    """``nn.Unfold`` as a map: ``(B, H, W, C) -> (B, H', W', C * kh * kw)``, features (C, kh, kw).

    A depthwise convolution with a constant one-hot kernel (channel multiplier ``kh * kw``)
    after symmetric zero padding: each output is one input pixel times 1, so it is exact, and
    it converts to TFLite's DEPTHWISE_CONV_2D (XNNPACK) instead of the Flex ExtractImagePatches.

    Args:
        kernel_size, strides, padding: as ``nn.Unfold``.

    Example:
        >>> patches = SoftSplit(7, 4, 2)(images)  # (B, 56, 56, 147) for 224x224x3
    """

    def __init__(self, kernel_size, strides, padding=0, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = _pair(padding)

    def build(self, input_shape):
        kh, kw = self.kernel_size
        kernel = np.zeros((kh, kw, input_shape[-1], kh * kw), dtype="float32")
        for i in range(kh):
            for j in range(kw):
                kernel[i, j, :, i * kw + j] = 1.0
        self.kernel = kernel

    def call(self, x):
        (ph, pw) = self.padding
        if ph or pw:
            x = ops.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
        return ops.depthwise_conv(x, ops.cast(self.kernel, x.dtype), strides=self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        out = [None if s is None else (s + 2 * p - k) // st + 1
               for s, p, k, st in zip(input_shape[1:3], self.padding, self.kernel_size, self.strides)]
        return (input_shape[0], *out, input_shape[-1] * self.kernel_size[0] * self.kernel_size[1])

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class ValueSkipAttention(Attention):
    """T2T's token attention: :class:`Attention` whose residual is its own ``v``.

    The input and the attention width differ (147 or 576 in, ``token_dim`` out), so the
    official code adds ``v`` instead of the input. Scale ``qk_scale`` is the official
    ``dim ** -0.5`` with ``dim`` the input width (set by :class:`TokenTransformer`).
    """

    def call(self, x, training=None, return_attention_scores=False):
        q, k, v = self.project(x, training=training)
        out, probs = self.attend(self.split_heads(q), self.split_heads(k), self.split_heads(v), training=training)
        out = v + self.proj_drop(tokenwise(self.proj, self.merge_heads(out), training=training), training=training)
        return (out, probs) if return_attention_scores else out


@keras.saving.register_keras_serializable(package="keras_vit")
class TokenTransformer(layers.Layer):
    """T2T's transformer tokens block (official ``Token_transformer``), ``C_in -> token_dim``.

    ``y = attn(norm1(x))`` (v as the skip), then ``y + mlp(norm2(y))``; one head, MLP ratio 1.

    Args:
        token_dim: output width. num_heads, mlp_ratio: 1 and 1.0 in every official model.
        layer_norm_epsilon: 1e-5.

    Example:
        >>> tokens = TokenTransformer(64)(patches)  # (B, N, 147) -> (B, N, 64)
    """

    def __init__(self, token_dim, num_heads=1, mlp_ratio=1.0, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.token_dim = token_dim
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, input_shape):
        policy, dim = self.dtype_policy, input_shape[-1]
        out_shape = tuple(input_shape[:-1]) + (self.token_dim,)
        self.norm1 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm1", dtype=policy)
        self.norm1.build(input_shape)
        # The official head_dim is the input width divided by the heads, not the output's.
        self.attn = ValueSkipAttention(self.num_heads, qkv_bias=False, qk_scale=(dim // self.num_heads) ** -0.5,
                                       dim=self.token_dim, name="attn", dtype=policy)
        self.attn.build(input_shape)
        self.norm2 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm2", dtype=policy)
        self.norm2.build(out_shape)
        self.mlp = MLP(int(self.token_dim * self.mlp_ratio), output_dim=self.token_dim, name="mlp", dtype=policy)
        self.mlp.build(out_shape)

    def call(self, x, training=None):
        x = self.attn(self.norm1(x), training=training)
        return x + self.mlp(self.norm2(x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.token_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({"token_dim": self.token_dim, "num_heads": self.num_heads, "mlp_ratio": self.mlp_ratio,
                       "layer_norm_epsilon": self.layer_norm_epsilon})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class TokenPerformer(layers.Layer):
    """T2T's Performer tokens block (official ``Token_performer``), ``C_in -> token_dim``.

    Linear attention with positive random features (Choromanski et al., 2021): with
    ``phi(x) = exp(w x - |x|^2 / 2) / sqrt(m)`` for ``m = token_dim * kernel_ratio`` fixed
    random directions ``w`` (orthogonal rows scaled by ``sqrt(m)``; a frozen variable loaded
    from the checkpoint), ``y = phi(q) (phi(k)^T v) / (phi(q) sum_t phi(k_t) + 1e-8)``. The
    projection is split k, q, v in that order; ``v + proj(y)`` is the residual, then
    ``y + mlp(norm2(y))``.

    Example:
        >>> tokens = TokenPerformer(64)(patches)  # (B, N, 147) -> (B, N, 64)
    """

    def __init__(self, token_dim, kernel_ratio=0.5, drop_rate=0.1, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.token_dim = token_dim
        self.kernel_ratio = kernel_ratio
        self.drop_rate = drop_rate
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, input_shape):
        policy, emb = self.dtype_policy, self.token_dim
        out_shape = tuple(input_shape[:-1]) + (emb,)
        self.m = int(emb * self.kernel_ratio)
        self.norm1 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm1", dtype=policy)
        self.norm1.build(input_shape)
        self.kqv = layers.Dense(3 * emb, name="kqv", dtype=policy)
        self.kqv.build(input_shape)
        self.proj = layers.Dense(emb, name="proj", dtype=policy)
        self.proj.build(out_shape)
        self.norm2 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm2", dtype=policy)
        self.norm2.build(out_shape)
        # Official mlp: Linear, GELU, Linear, Dropout (no dropout after the GELU).
        self.mlp = MLP(emb, output_dim=emb, name="mlp", dtype=policy)
        self.mlp.build(out_shape)
        self.dp = layers.Dropout(self.drop_rate, dtype=policy)
        self.w = self.add_weight(name="w", shape=(self.m, emb), trainable=False,
                                 initializer=keras.initializers.Orthogonal(gain=math.sqrt(self.m)))

    def _features(self, x):
        """``exp(w x - |x|^2 / 2) / sqrt(m)``, ``(B, T, emb) -> (B, T, m)``."""
        half_norm = ops.mean(x * x, axis=-1, keepdims=True) * (self.token_dim / 2.0)
        return ops.exp(ops.matmul(x, ops.transpose(ops.cast(self.w, x.dtype))) - half_norm) / math.sqrt(self.m)

    def call(self, x, training=None):
        k, q, v = ops.split(tokenwise(self.kqv, self.norm1(x), training=training), 3, axis=-1)
        # The official code computes the features in float32.
        k, q, v = (ops.cast(t, "float32") for t in (k, q, v))
        kp, qp = self._features(k), self._features(q)
        kp_t = ops.transpose(kp, (0, 2, 1))  # (B, m, T)
        ones = ops.ones((kp.shape[1], 1), dtype=kp.dtype)
        denominator = ops.matmul(qp, ops.matmul(kp_t, ones))  # (B, T, 1)
        y = ops.matmul(qp, ops.matmul(kp_t, v)) / (denominator + 1e-8)
        y = ops.cast(y, self.compute_dtype)
        y = ops.cast(v, self.compute_dtype) + self.dp(tokenwise(self.proj, y, training=training), training=training)
        return y + self.dp(self.mlp(self.norm2(y), training=training), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.token_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({"token_dim": self.token_dim, "kernel_ratio": self.kernel_ratio, "drop_rate": self.drop_rate,
                       "layer_norm_epsilon": self.layer_norm_epsilon})
        return config


def sinusoid_table(n_position, dim):
    """The official ``get_sinusoid_encoding``: angle ``p / 10000^(2 (i // 2) / dim)``, sin on
    even and cos on odd features (interleaved), ``(1, n_position, dim)``."""
    position = np.arange(n_position, dtype=np.float64)[:, None]
    angle = position / np.power(10000, 2 * (np.arange(dim) // 2) / dim)[None]
    angle[:, 0::2], angle[:, 1::2] = np.sin(angle[:, 0::2]), np.cos(angle[:, 1::2])
    return angle[None].astype("float32")


@keras.saving.register_keras_serializable(package="keras_vit")
class SinusoidPositionEmbedding(PositionEmbedding):
    """T2T's fixed position table: :class:`PositionEmbedding` initialized with the official
    sinusoid (class token first) and frozen. It is a variable so that checkpoints (which hold
    it) load, and resample, like a learned table."""

    def build(self, input_shape):
        table = sinusoid_table(input_shape[1], input_shape[2])
        self.pos_embed = self.add_weight(name="pos_embed", shape=table.shape, trainable=False,
                                         initializer=keras.initializers.Constant(table))


def _to_map(x, grid, name):
    return layers.Reshape((grid[0], grid[1], x.shape[-1]), name=name)(x)


def _to_tokens(x, name):
    return layers.Reshape((x.shape[1] * x.shape[2], x.shape[-1]), name=name)(x)


@image_classifier(name="t2t_vit", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def T2TViT(
    x,
    *,
    input_shape=(224, 224, 3),
    tokens_type="performer",
    embed_dim=384,
    depth=14,
    num_heads=6,
    mlp_ratio=3.0,
    token_dim=64,
    qk_scale=None,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
    layer_norm_epsilon=1e-5,
):
    """Builds a T2T-ViT as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3), multiples of 16.
        tokens_type: ``"performer"`` (``t2t_vit_*``) or ``"transformer"`` (``t2t_vit_t_*``).
        embed_dim, depth, num_heads, mlp_ratio: the backbone.
        token_dim: width of the tokens-to-token blocks (64).
        qk_scale: backbone attention scale; ``None``: ``head_dim ** -0.5`` (the official
            constructor's default). The published checkpoints need ``embed_dim ** -0.5``,
            which the named variants set (see ``presets.py``).
        drop_rate, attn_drop_rate, drop_path_rate: backbone dropout, attention dropout and
            stochastic depth.
        num_classes, include_top, pooling (``None``, ``"token"``, ``"avg"``),
        classifier_activation, include_preprocessing, mean, std, channel_order, name: see
            ``create_model``.

    Example:
        >>> model = T2TViT(input_shape=(64, 64, 3), embed_dim=64, depth=2, num_heads=2, token_dim=16, num_classes=10)
    """
    if tokens_type not in ("performer", "transformer"):
        raise ValueError(f"tokens_type must be 'performer' or 'transformer', got {tokens_type!r}.")
    if input_shape[0] % 16 or input_shape[1] % 16:
        raise ValueError(f"T2T-ViT needs an input size divisible by 16 (strides 4, 2, 2), got {tuple(input_shape[:2])}.")
    block = TokenPerformer if tokens_type == "performer" else TokenTransformer
    size = input_shape[0]
    levels = []  # the tokens-to-token blocks' maps, then the last block's patch tokens
    for i, (k, s, p) in enumerate(((7, 4, 2), (3, 2, 1))):
        x = SoftSplit(k, s, p, name=f"tokens_to_token_soft_split{i}")(x)
        grid = tuple(x.shape[1:3])
        x = block(token_dim, name=f"tokens_to_token_attention{i + 1}")(_to_tokens(x, f"tokens_to_token_flatten{i}"))
        x = _to_map(x, grid, f"tokens_to_token_map{i + 1}")
        levels.append((x, size // grid[0], f"tokens_to_token_attention{i + 1}"))
    x = SoftSplit(3, 2, 1, name="tokens_to_token_soft_split2")(x)
    grid = tuple(x.shape[1:3])
    x = layers.Dense(embed_dim, name="tokens_to_token_project")(_to_tokens(x, "tokens_to_token_flatten2"))
    x = ClassToken(name="cls_token")(x)
    x = SinusoidPositionEmbedding(grid_size=grid, num_prefix_tokens=1, name="pos_embed")(x)
    x = layers.Dropout(drop_rate, name="pos_drop")(x)
    for i, rate in enumerate(drop_path_rates(drop_path_rate, depth)):
        x = TransformerBlock(
            num_heads, mlp_ratio=mlp_ratio, qkv_bias=False, qk_scale=qk_scale, drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate, drop_path_rate=rate, layer_norm_epsilon=layer_norm_epsilon, name=f"blocks_{i}",
        )(x)
    levels.append((TokensToMap(grid, 1, name=f"blocks_{depth - 1}_map")(x), size // grid[0], f"blocks_{depth - 1}"))
    return Backbone(
        x, levels, head="token", global_pool="token", num_prefix_tokens=1, fc_norm=False,
        layer_norm_epsilon=layer_norm_epsilon, drop_rate=drop_rate,
    )


def features(model, out_indices=None):
    """T2T-ViT feature maps: the two tokens-to-token blocks' outputs (``token_dim`` channels at
    strides 4 and 8) and the last backbone block's patch tokens at stride 16: P2, P3, P4."""
    return pyramid(model, out_indices=out_indices)
