"""Pyramid Vision Transformer v2 (PVT v2).

"PVT v2: Improved Baselines with Pyramid Vision Transformer", Wang et al., CVMJ 2022
(https://arxiv.org/abs/2106.13797).

Four stages, each an overlapping patch embedding (a strided convolution larger than its
stride: 7x7/4 first, then 3x3/2) and LayerNorm, transformer blocks, and a LayerNorm. The
attention is spatial-reduction attention: keys and values come from the map shrunk by a
strided convolution (``sr_ratio``) and normalized; "linear" SRA (``pvt_v2_b2_li``) pools
the map to 7x7 instead, then a 1x1 convolution, LayerNorm and GELU. The MLP has a 3x3
depthwise convolution after its first layer. No position embeddings: any input size works.

Blocks work on ``(B, H, W, C)`` maps; only attention flattens them to tokens. Layer names
follow timm's modules with ``_`` for ``.`` (``stages_1_blocks_0``).
"""
import keras
from keras import layers, ops

from ...layers import Attention, TransformerBlock, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.features import pyramid
from ...layers.fusion import tokenwise
from ...layers.spatial_reduction import SpatialReduction, adaptive_pool_matrix  # noqa: F401  (re-exported)
from ...layers.regularization import DropPath


def _gelu(x):
    return keras.activations.gelu(x, approximate=False)


@keras.saving.register_keras_serializable(package="keras_vit")
class DepthwiseConvMLP(layers.Layer):
    """PVT v2's MLP on a ``(B, H, W, C)`` map: ``fc2(gelu(dwconv3x3(fc1(x))))``.

    Args:
        hidden_dim: width of the hidden layer.
        extra_relu: a ReLU before the depthwise convolution (linear SRA models).
        drop_rate: dropout after the activation and after ``fc2``.

    Example:
        >>> y = DepthwiseConvMLP(256)(feature_map)  # (B, 56, 56, 32) -> (B, 56, 56, 32)
    """

    def __init__(self, hidden_dim, extra_relu=False, drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.extra_relu = extra_relu
        self.drop_rate = drop_rate

    def build(self, input_shape):
        policy = self.dtype_policy
        hidden = tuple(input_shape[:-1]) + (self.hidden_dim,)
        self.fc1 = layers.Dense(self.hidden_dim, name="fc1", dtype=policy)
        self.fc1.build(input_shape)
        self.dwconv = layers.DepthwiseConv2D(3, padding="same", name="dwconv", dtype=policy)
        self.dwconv.build(hidden)
        self.fc2 = layers.Dense(input_shape[-1], name="fc2", dtype=policy)
        self.fc2.build(hidden)
        self.drop = layers.Dropout(self.drop_rate, dtype=policy)

    def call(self, x, training=None):
        x = tokenwise(self.fc1, x, training=training)
        if self.extra_relu:
            x = ops.relu(x)
        x = self.drop(_gelu(self.dwconv(x)), training=training)
        return self.drop(tokenwise(self.fc2, x, training=training), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "extra_relu": self.extra_relu, "drop_rate": self.drop_rate})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class PvtV2Block(TransformerBlock):
    """PVT v2 block on a ``(B, H, W, C)`` map: spatial-reduction attention, depthwise-conv MLP.

    The attention is an :class:`~keras_vit.layers.Attention` with separate ``q`` and fused
    ``kv`` projections and a :class:`SpatialReduction` key/value step (none when
    ``sr_ratio`` is 1 and not linear); it runs on the flattened map.

    Args:
        num_heads: attention heads.
        sr_ratio: spatial reduction of keys and values.
        linear: linear SRA (pool to 7x7) and the MLP's extra ReLU.
        sr_norm_epsilon: epsilon of the reduction's LayerNorm.
        **kwargs: the arguments of :class:`~keras_vit.layers.TransformerBlock`.

    Example:
        >>> y = PvtV2Block(1, sr_ratio=8, mlp_ratio=8.0)(feature_map)  # (B, 56, 56, 32)
    """

    def __init__(self, num_heads, sr_ratio=1, linear=False, sr_norm_epsilon=1e-5, **kwargs):
        super().__init__(num_heads, **kwargs)
        self.sr_ratio = sr_ratio
        self.linear = linear
        self.sr_norm_epsilon = sr_norm_epsilon

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"{self.name}: needs a (batch, height, width, channels) map of fixed size, got {input_shape}.")
        h, w, dim = input_shape[1:]
        policy = self.dtype_policy
        step = None
        if self.linear or self.sr_ratio > 1:
            step = SpatialReduction(self.sr_ratio, grid_size=(h, w), linear=self.linear, layer_norm_epsilon=self.sr_norm_epsilon,
                                    name="spatial_reduction", dtype=policy)
        tokens = (input_shape[0], h * w, dim)
        self.norm1 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm1", dtype=policy)
        self.attn = Attention(self.num_heads, qkv_bias=self.qkv_bias, qk_scale=self.qk_scale, attn_drop_rate=self.attn_drop_rate,
                              proj_drop_rate=self.drop_rate, projection="q_kv", key_value_step=step, name="attn", dtype=policy)
        self.norm2 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm2", dtype=policy)
        self.mlp = DepthwiseConvMLP(int(dim * self.mlp_ratio), extra_relu=self.linear, drop_rate=self.drop_rate, name="mlp", dtype=policy)
        self.ls1 = self.ls2 = None
        self.drop_path = DropPath(self.drop_path_rate, dtype=policy)
        self.norm1.build(input_shape)
        self.attn.build(tokens)
        self.norm2.build(input_shape)
        self.mlp.build(input_shape)

    def _attention(self, x, training, return_attention_scores, **attention_kwargs):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        out = self.attn(ops.reshape(x, (-1, h * w, c)), training=training, return_attention_scores=return_attention_scores, **attention_kwargs)
        if return_attention_scores:
            return ops.reshape(out[0], (-1, h, w, c)), out[1]
        return ops.reshape(out, (-1, h, w, c))

    def get_config(self):
        config = super().get_config()
        config.update({"sr_ratio": self.sr_ratio, "linear": self.linear, "sr_norm_epsilon": self.sr_norm_epsilon})
        return config


def overlap_patch_embed(x, dim, kernel_size, stride, epsilon, name):
    """Convolution larger than its stride, padded symmetrically as PyTorch, then LayerNorm."""
    x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    x = layers.Conv2D(dim, kernel_size, strides=stride, name=f"{name}_proj")(x)
    return layers.LayerNormalization(epsilon=epsilon, name=f"{name}_norm")(x)


@image_classifier(name="pvt_v2", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def PyramidVisionTransformerV2(
    x,
    *,
    input_shape=(224, 224, 3),
    depths=(2, 2, 2, 2),
    embed_dims=(32, 64, 160, 256),
    num_heads=(1, 2, 5, 8),
    sr_ratios=(8, 4, 2, 1),
    mlp_ratios=(8.0, 8.0, 4.0, 4.0),
    qkv_bias=True,
    linear=False,
    layer_norm_epsilon=1e-6,
    patch_norm_epsilon=1e-5,
    sr_norm_epsilon=1e-5,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds a PVT v2 as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3); any size (multiples of 32 keep every stage exact).
        depths, embed_dims, num_heads, sr_ratios, mlp_ratios: per-stage blocks, width,
            heads, key/value reduction and MLP ratio.
        qkv_bias: bias of the q and kv projections.
        linear: linear spatial-reduction attention (``pvt_v2_b2_li``).
        layer_norm_epsilon: epsilon of the blocks' and stages' LayerNorms (1e-6).
        patch_norm_epsilon, sr_norm_epsilon: epsilons of the patch embeddings' and the
            reductions' LayerNorms: 1e-5 in timm, 1e-6 in transformers (set by its layout).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth.
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``include_top=False`` with ``pooling=None`` returns the last stage's map.
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = PyramidVisionTransformerV2(input_shape=(64, 64, 3), depths=(1, 1, 1, 1), embed_dims=(8, 16, 16, 32), num_classes=10)
    """
    stages = len(depths)
    if not len(embed_dims) == len(num_heads) == len(sr_ratios) == len(mlp_ratios) == stages:
        raise ValueError("depths, embed_dims, num_heads, sr_ratios and mlp_ratios need one entry per stage.")
    rates = drop_path_rates(drop_path_rate, sum(depths))
    levels = []  # each stage's normalized map (timm's feature_info: stages.0 … stages.3)
    for i in range(stages):
        if i == 0:
            x = overlap_patch_embed(x, embed_dims[0], 7, 4, patch_norm_epsilon, "patch_embed")
        else:
            x = overlap_patch_embed(x, embed_dims[i], 3, 2, patch_norm_epsilon, f"stages_{i}_downsample")
        for j in range(depths[i]):
            x = PvtV2Block(
                num_heads[i], sr_ratio=sr_ratios[i], linear=linear, sr_norm_epsilon=sr_norm_epsilon, mlp_ratio=mlp_ratios[i],
                qkv_bias=qkv_bias, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate, drop_path_rate=rates[sum(depths[:i]) + j],
                layer_norm_epsilon=layer_norm_epsilon, name=f"stages_{i}_blocks_{j}",
            )(x)
        x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name=f"stages_{i}_norm")(x)
        levels.append((x, 4 * 2**i, f"stages_{i}"))
    return Backbone(x, levels, drop_rate=drop_rate)


def features(model, out_indices=None):
    """PVT v2 feature pyramid: each stage's normalized map (strides 4 … 32: ``P2`` … ``P5``),
    as timm's ``feature_info`` (modules ``stages.0`` … ``stages.3``)."""
    return pyramid(model, out_indices=out_indices)
