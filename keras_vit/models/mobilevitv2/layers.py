"""MobileViT v2's own layers: separable (linear) self-attention, its transformer block, the
one-group GroupNorm it normalizes with, the unfold/fold around the transformer and the
``align_corners=True`` resize of maps that are not a multiple of the patch.

The transformer runs on ``(B, P, N, C)``: ``P = ph * pw`` pixels per patch, ``N`` patches,
as in timm and ml-cvnets (``[B, C, P, N]`` there, channels-last here). Pixel ``(i, j)`` of
a patch is sequence ``i * pw + j``, patch ``(r, c)`` is token ``r * (W / pw) + c``.
Everything else in the block is token-wise or normalizes the whole map, so only the
attention's softmax and sum over ``N`` see this grouping; all tensors stay 4-D, which
TFLite's builtin ops and XNNPACK take without broadcasting beyond rank 4.
"""
import numpy as np

import keras
from keras import layers, ops

from ...layers import MLP, DropPath
from ...layers.fusion import tokenwise


def _pair(value):
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value), int(value))


@keras.saving.register_keras_serializable(package="keras_vit")
class GroupNorm1(layers.Layer):
    """GroupNorm with one group: each sample normalized over all of its positions and
    channels, then scaled and shifted per channel (timm's ``GroupNorm1``, ml-cvnets'
    ``layer_norm_2d``). Unlike LayerNorm, the statistics are shared by every token.

    Statistics are computed in float32 (also under mixed precision), as the mean of the
    flattened sample: a 2-D reduction that TFLite and XNNPACK take at any rank.

    Args:
        epsilon: added to the variance (1e-5, PyTorch's default).

    Example:
        >>> y = GroupNorm1(epsilon=1e-5)(x)  # x: (B, ..., C)
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"{self.name}: GroupNorm1 needs a fixed non-batch shape, got {input_shape}.")
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x):
        shape = tuple(x.shape[1:])
        x32 = ops.cast(x, "float32")
        flat = ops.reshape(x32, (-1, int(np.prod(shape))))
        mean = ops.mean(flat, axis=-1, keepdims=True)
        centered = flat - mean
        variance = ops.mean(ops.square(centered), axis=-1, keepdims=True)
        y = ops.reshape(centered * ops.rsqrt(variance + self.epsilon), (-1,) + shape)
        y = y * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class LinearSelfAttention(layers.Layer):
    """Separable self-attention with linear cost in the number of tokens (MobileViT v2).

    Mehta & Rastegari, "Separable Self-attention for Mobile Vision Transformers", TMLR 2023
    (https://arxiv.org/abs/2206.02680). One projection gives a single-channel query, keys
    and values; the query's softmax over the tokens (the *context scores*) weighs the keys
    into one context vector per sequence, which multiplies ``relu(values)`` token-wise:
    ``out_proj(relu(v) * sum_n softmax(q)_n k_n)``.

    Input and output are ``(B, P, N, C)`` (sequences of ``N`` tokens, see the module
    docstring). ``return_attention_scores=True`` also returns the context scores
    ``(B, P, N)``: how much each patch contributes to its sequence's context.

    Args:
        attn_drop_rate: dropout on the context scores.
        proj_drop_rate: dropout after ``out_proj``.

    Example:
        >>> y, scores = LinearSelfAttention()(x, return_attention_scores=True)
    """

    def __init__(self, attn_drop_rate=0.0, proj_drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.attn_drop_rate = attn_drop_rate
        self.proj_drop_rate = proj_drop_rate

    def build(self, input_shape):
        if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
            raise ValueError(f"{self.name}: needs a (batch, pixels, patches, channels) tensor of fixed size, got {input_shape}.")
        dim, policy = input_shape[-1], self.dtype_policy
        # Column 0 is the query, then keys, then values: the reference's qkv_proj order.
        self.qkv_proj = layers.Dense(1 + 2 * dim, name="qkv_proj", dtype=policy)
        self.qkv_proj.build(input_shape)
        self.out_proj = layers.Dense(dim, name="out_proj", dtype=policy)
        self.out_proj.build(input_shape)
        self.attn_drop = layers.Dropout(self.attn_drop_rate, dtype=policy)
        self.proj_drop = layers.Dropout(self.proj_drop_rate, dtype=policy)

    def call(self, x, training=None, return_attention_scores=False):
        pixels, patches, dim = x.shape[1], x.shape[2], x.shape[3]
        qkv = tokenwise(self.qkv_proj, x, training=training)
        query, key, value = qkv[..., :1], qkv[..., 1:1 + dim], qkv[..., 1 + dim:]
        # (B, P, N, 1) is (B, P, 1, N) in memory: a free reshape puts the tokens last for softmax.
        query = ops.reshape(query, (-1, pixels, 1, patches))
        # A single patch (a map of one patch) gets all of the context: softmax over one value is 1.
        scores = ops.softmax(query, axis=-1) if patches > 1 else ops.ones_like(query)
        # (B, P, 1, N) @ (B, P, N, C): the context vector of each sequence, (B, P, 1, C).
        context = ops.matmul(self.attn_drop(scores, training=training), key)
        out = ops.relu(value) * context
        out = self.proj_drop(tokenwise(self.out_proj, out, training=training), training=training)
        if return_attention_scores:
            return out, ops.reshape(scores, (-1, pixels, patches))
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"attn_drop_rate": self.attn_drop_rate, "proj_drop_rate": self.proj_drop_rate})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class LinearTransformerBlock(layers.Layer):
    """Pre-norm transformer block of MobileViT v2: ``x + attn(norm1(x))``, ``x + mlp(norm2(x))``.

    The shared :class:`keras_vit.layers.TransformerBlock` normalizes each token (LayerNorm);
    this one normalizes the whole map (:class:`GroupNorm1`) and attends with
    :class:`LinearSelfAttention`, so it is the family's own. Sublayers are named like timm's
    (``norm1``, ``attn``, ``norm2``, ``mlp/fc1``, ``mlp/fc2``).

    Args:
        mlp_ratio: MLP hidden width as a multiple of the channels.
        drop_rate: dropout after the attention projection and in the MLP.
        attn_drop_rate: dropout on the context scores.
        drop_path_rate: stochastic depth of both residual branches.
        norm_epsilon: :class:`GroupNorm1` epsilon.
        activation: MLP activation (SiLU in the references).

    Example:
        >>> y = LinearTransformerBlock(mlp_ratio=2.0)(x)  # x: (B, P, N, C)
    """

    def __init__(self, mlp_ratio=2.0, drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0, norm_epsilon=1e-5, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.mlp_ratio = mlp_ratio
        self.drop_rate = drop_rate
        self.attn_drop_rate = attn_drop_rate
        self.drop_path_rate = drop_path_rate
        self.norm_epsilon = norm_epsilon
        self.activation = activation

    def build(self, input_shape):
        policy = self.dtype_policy
        self.norm1 = GroupNorm1(self.norm_epsilon, name="norm1", dtype=policy)
        self.attn = LinearSelfAttention(self.attn_drop_rate, self.drop_rate, name="attn", dtype=policy)
        self.norm2 = GroupNorm1(self.norm_epsilon, name="norm2", dtype=policy)
        self.mlp = MLP(int(input_shape[-1] * self.mlp_ratio), activation=self.activation, drop_rate=self.drop_rate, name="mlp", dtype=policy)
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path", dtype=policy)
        for layer in (self.norm1, self.attn, self.norm2, self.mlp):
            layer.build(input_shape)

    def call(self, x, training=None, return_attention_scores=False):
        attended = self.attn(self.norm1(x), training=training, return_attention_scores=return_attention_scores)
        if return_attention_scores:
            attended, scores = attended
        x = x + self.drop_path(attended, training=training)
        x = x + self.drop_path(self.mlp(self.norm2(x), training=training), training=training)
        return (x, scores) if return_attention_scores else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mlp_ratio": self.mlp_ratio,
                "drop_rate": self.drop_rate,
                "attn_drop_rate": self.attn_drop_rate,
                "drop_path_rate": self.drop_path_rate,
                "norm_epsilon": self.norm_epsilon,
                "activation": self.activation,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchUnfold(layers.Layer):
    """``(B, H, W, C)`` map -> ``(B, P, N, C)``: the same pixel of every patch as one sequence.

    One 6-D transpose (the most TFLite's TRANSPOSE and XNNPACK take). Height and width must
    be multiples of the patch (:class:`AlignedResize` first, as the references do).

    Args:
        patch_size: int or (height, width) of a patch.

    Example:
        >>> x = PatchUnfold(2)(feature_map)  # (B, 32, 32, 64) -> (B, 4, 256, 64)
    """

    def __init__(self, patch_size=2, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _pair(patch_size)

    def build(self, input_shape):
        (ph, pw) = self.patch_size
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"{self.name}: needs a (batch, height, width, channels) map of fixed size, got {input_shape}.")
        if input_shape[1] % ph or input_shape[2] % pw:
            raise ValueError(f"{self.name}: map size {tuple(input_shape[1:3])} is not a multiple of the patch {self.patch_size}.")

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        (ph, pw) = self.patch_size
        x = ops.reshape(x, (-1, h // ph, ph, w // pw, pw, c))
        x = ops.transpose(x, (0, 2, 4, 1, 3, 5))
        return ops.reshape(x, (-1, ph * pw, (h // ph) * (w // pw), c))

    def compute_output_shape(self, input_shape):
        (ph, pw) = self.patch_size
        return (input_shape[0], ph * pw, (input_shape[1] // ph) * (input_shape[2] // pw), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchFold(layers.Layer):
    """``(B, P, N, C)`` -> ``(B, H, W, C)``: the inverse of :class:`PatchUnfold`.

    Args:
        patch_size: int or (height, width) of a patch.
        output_size: (height, width) of the map that was unfolded.

    Example:
        >>> feature_map = PatchFold(2, output_size=(32, 32))(x)
    """

    def __init__(self, patch_size=2, output_size=None, **kwargs):
        super().__init__(**kwargs)
        if output_size is None:
            raise ValueError("PatchFold needs the output_size (height, width) of the map that was unfolded.")
        self.patch_size = _pair(patch_size)
        self.output_size = _pair(output_size)

    def call(self, x):
        (h, w), (ph, pw), c = self.output_size, self.patch_size, x.shape[-1]
        x = ops.reshape(x, (-1, ph, pw, h // ph, w // pw, c))
        x = ops.transpose(x, (0, 3, 1, 4, 2, 5))
        return ops.reshape(x, (-1, h, w, c))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.output_size + (input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "output_size": self.output_size})
        return config


def _interpolation_matrix(out_size, in_size):
    """``(out, in)`` weights of 1-D linear interpolation with aligned corners."""
    matrix = np.zeros((out_size, in_size), np.float32)
    if out_size == 1 or in_size == 1:
        matrix[:, 0] = 1.0
        return matrix
    position = np.arange(out_size) * (in_size - 1) / (out_size - 1)
    low = np.minimum(np.floor(position).astype(int), in_size - 2)
    frac = (position - low).astype(np.float32)
    matrix[np.arange(out_size), low] = 1.0 - frac
    matrix[np.arange(out_size), low + 1] = frac
    return matrix


@keras.saving.register_keras_serializable(package="keras_vit")
class AlignedResize(layers.Layer):
    """Bilinear resize with aligned corners (PyTorch's ``align_corners=True``), which
    MobileViT v2 applies to a block's input when it is not a multiple of the patch.

    Keras' resize has no aligned-corners mode; this one is two matrix products with fixed
    interpolation weights (builtin ``FULLY_CONNECTED`` ops in TFLite).

    Args:
        size: (height, width) of the output.

    Example:
        >>> x = AlignedResize((6, 6))(feature_map)  # (B, 5, 5, C) -> (B, 6, 6, C)
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = _pair(size)

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        rows = ops.convert_to_tensor(_interpolation_matrix(self.size[0], h).T, dtype=self.compute_dtype)
        cols = ops.convert_to_tensor(_interpolation_matrix(self.size[1], w).T, dtype=self.compute_dtype)
        x = ops.matmul(ops.transpose(x, (0, 2, 3, 1)), rows)  # (B, W, C, out_h)
        x = ops.matmul(ops.transpose(x, (0, 3, 2, 1)), cols)  # (B, out_h, C, out_w)
        return ops.transpose(x, (0, 1, 3, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.size + (input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size})
        return config
