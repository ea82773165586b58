"""CvT: Convolutional vision Transformer.

"CvT: Introducing Convolutions to Vision Transformers", Wu et al., ICCV 2021
(https://arxiv.org/abs/2103.15808).

Three stages, each a convolutional token embedding (an overlapping strided convolution and
LayerNorm) followed by transformer blocks whose attention projects q, k and v from the token
map through a depthwise convolution and BatchNorm (the "convolutional projection"); keys and
values use stride 2, so attention is over a quarter of the tokens. Only the last stage has a
class token; it bypasses the convolutions and feeds a LayerNorm and the linear classifier.

The attention is the shared :class:`~keras_vit.layers.Attention` with ``projection="q_k_v"``;
the convolutional projections are its ``query_step`` and ``key_value_step``. Layer names follow
the official code's modules (``stage2_blocks_3/attn/conv_proj_q``), so that both checkpoint
layouts map one key to one variable. The attention scale is ``dim ** -0.5`` (the full width,
not the head width), as both references compute it.
"""
import keras
from keras import layers, ops

from ...layers import Attention, ClassToken, TransformerBlock, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.features import TokensToMap, pyramid
from ...layers.fusion import BatchNormalization


def _conv_grid(size, kernel, stride, padding):
    """Output (H, W) of a convolution with symmetric ``padding``, as PyTorch computes it."""
    return tuple((s + 2 * padding - kernel) // stride + 1 for s in size)


@keras.saving.register_keras_serializable(package="keras_vit")
class ConvProjection(layers.Layer):
    """Depthwise convolution + BatchNorm over the token map, CvT's convolutional projection.

    ``(B, prefix + H*W, C)`` tokens -> ``(B, prefix + H'*W', C)``: the patch tokens are laid
    out as an ``(H, W)`` map, padded symmetrically by ``kernel_size // 2`` (as PyTorch pads),
    filtered with stride ``stride`` and normalized; the prefix (class) token passes unchanged.

    Args:
        grid_size: (H, W) of the patch tokens.
        kernel_size: depthwise kernel side.
        stride: 1 for queries, 2 for keys and values.
        num_prefix_tokens: class tokens before the patch tokens (0 or 1).
        batch_norm_epsilon: BatchNorm epsilon (PyTorch's 1e-5).

    Example:
        >>> k_in = ConvProjection((14, 14), stride=2, num_prefix_tokens=1)(tokens)
    """

    def __init__(self, grid_size, kernel_size=3, stride=1, num_prefix_tokens=0, batch_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = tuple(int(s) for s in grid_size)
        self.kernel_size = kernel_size
        self.stride = stride
        self.num_prefix_tokens = num_prefix_tokens
        self.batch_norm_epsilon = batch_norm_epsilon

    def output_grid(self):
        return _conv_grid(self.grid_size, self.kernel_size, self.stride, self.kernel_size // 2)

    def build(self, input_shape):
        channels = input_shape[-1]
        pad = self.kernel_size // 2
        h, w = self.grid_size
        policy = self.dtype_policy
        self.conv = layers.DepthwiseConv2D(self.kernel_size, strides=self.stride, padding="valid", use_bias=False, name="conv", dtype=policy)
        self.conv.build((None, h + 2 * pad, w + 2 * pad, channels))
        self.bn = BatchNormalization(epsilon=self.batch_norm_epsilon, momentum=0.9, name="bn", dtype=policy)
        self.bn.build((None,) + self.output_grid() + (channels,))

    def call(self, x, training=None):
        h, w = self.grid_size
        channels = x.shape[-1]
        n = self.num_prefix_tokens
        prefix, tokens = (x[:, :n], x[:, n:]) if n else (None, x)
        fmap = ops.reshape(tokens, (-1, h, w, channels))
        pad = self.kernel_size // 2
        if pad:
            fmap = ops.pad(fmap, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        fmap = self.bn(self.conv(fmap), training=training)
        oh, ow = self.output_grid()
        tokens = ops.reshape(fmap, (-1, oh * ow, channels))
        return tokens if prefix is None else ops.concatenate([prefix, tokens], axis=1)

    def compute_output_shape(self, input_shape):
        oh, ow = self.output_grid()
        return (input_shape[0], self.num_prefix_tokens + oh * ow, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "kernel_size": self.kernel_size,
                "stride": self.stride,
                "num_prefix_tokens": self.num_prefix_tokens,
                "batch_norm_epsilon": self.batch_norm_epsilon,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class ConvKeyValue(layers.Layer):
    """The key and value inputs of CvT attention: two strided :class:`ConvProjection`.

    An :class:`~keras_vit.layers.Attention` ``key_value_step`` returning ``(k_in, v_in)``;
    the sublayers are ``conv_proj_k`` and ``conv_proj_v`` as in the official code.

    Args:
        grid_size, kernel_size, stride, num_prefix_tokens, batch_norm_epsilon: as
            :class:`ConvProjection`.

    Example:
        >>> attn = Attention(1, projection="q_k_v", key_value_step=ConvKeyValue((56, 56), stride=2))
    """

    def __init__(self, grid_size, kernel_size=3, stride=2, num_prefix_tokens=0, batch_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = tuple(int(s) for s in grid_size)
        self.kernel_size = kernel_size
        self.stride = stride
        self.num_prefix_tokens = num_prefix_tokens
        self.batch_norm_epsilon = batch_norm_epsilon

    def _projection(self, name):
        return ConvProjection(
            self.grid_size, self.kernel_size, self.stride, self.num_prefix_tokens, self.batch_norm_epsilon,
            name=name, dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        self.conv_proj_k = self._projection("conv_proj_k")
        self.conv_proj_v = self._projection("conv_proj_v")
        self.conv_proj_k.build(input_shape)
        self.conv_proj_v.build(input_shape)

    def call(self, x, training=None):
        return self.conv_proj_k(x, training=training), self.conv_proj_v(x, training=training)

    def compute_output_shape(self, input_shape):
        grid = _conv_grid(self.grid_size, self.kernel_size, self.stride, self.kernel_size // 2)
        shape = (input_shape[0], self.num_prefix_tokens + grid[0] * grid[1], input_shape[-1])
        return shape, shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "kernel_size": self.kernel_size,
                "stride": self.stride,
                "num_prefix_tokens": self.num_prefix_tokens,
                "batch_norm_epsilon": self.batch_norm_epsilon,
            }
        )
        return config


@image_classifier(name="cvt", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def CvT(
    x,
    *,
    input_shape=(224, 224, 3),
    embed_dims=(64, 192, 384),
    depths=(1, 2, 10),
    num_heads=(1, 3, 6),
    patch_sizes=(7, 3, 3),
    patch_strides=(4, 2, 2),
    patch_padding=(2, 1, 1),
    mlp_ratio=4.0,
    qkv_bias=True,
    kernel_qkv=3,
    stride_q=1,
    stride_kv=2,
    layer_norm_epsilon=1e-5,
    batch_norm_epsilon=1e-5,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds a CvT as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3), fixed (the convolutional projections know the grid).
        embed_dims, depths, num_heads: width, blocks and heads of the three stages.
        patch_sizes, patch_strides, patch_padding: the convolutional token embeddings.
        mlp_ratio: MLP hidden width as a multiple of the width.
        qkv_bias: bias of the q, k, v Linear projections.
        kernel_qkv, stride_q, stride_kv: the depthwise convolutional projections.
        layer_norm_epsilon, batch_norm_epsilon: 1e-5 in both references (PyTorch defaults).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth.
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``include_top=False`` with ``pooling=None`` returns the normalized last-stage tokens
            (class token first).
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = CvT(input_shape=(64, 64, 3), embed_dims=(16, 32, 48), depths=(1, 1, 1), num_heads=(1, 2, 3), num_classes=10)
    """
    if not len(embed_dims) == len(depths) == len(num_heads) == len(patch_sizes) == len(patch_strides) == len(patch_padding):
        raise ValueError("embed_dims, depths, num_heads and the patch_* arguments need one entry per stage.")
    rates = drop_path_rates(drop_path_rate, sum(depths))
    grid = tuple(input_shape[:2])
    last = len(depths) - 1
    levels, reduction = [], 1  # each stage's last block as a map (transformers' CvtModel)
    for s, (dim, depth, heads) in enumerate(zip(embed_dims, depths, num_heads)):
        p = f"stage{s}_"
        if patch_padding[s]:
            x = layers.ZeroPadding2D(patch_padding[s], name=p + "patch_embed_pad")(x)
        x = layers.Conv2D(dim, patch_sizes[s], strides=patch_strides[s], name=p + "patch_embed_proj")(x)
        x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name=p + "patch_embed_norm")(x)
        grid = _conv_grid(grid, patch_sizes[s], patch_strides[s], patch_padding[s])
        x = layers.Reshape((grid[0] * grid[1], dim), name=p + "flatten")(x)
        prefix = 1 if s == last else 0
        if prefix:
            x = ClassToken(name=p + "cls_token")(x)
        x = layers.Dropout(drop_rate, name=p + "pos_drop")(x)
        for i in range(depth):
            attention = Attention(
                heads,
                qkv_bias=qkv_bias,
                qk_scale=dim**-0.5,
                attn_drop_rate=attn_drop_rate,
                proj_drop_rate=drop_rate,
                projection="q_k_v",
                query_step=ConvProjection(grid, kernel_qkv, stride_q, prefix, batch_norm_epsilon, name="conv_proj_q"),
                key_value_step=ConvKeyValue(grid, kernel_qkv, stride_kv, prefix, batch_norm_epsilon, name="conv_proj_kv"),
            )
            x = TransformerBlock(
                heads,
                mlp_ratio=mlp_ratio,
                drop_rate=drop_rate,
                drop_path_rate=rates[sum(depths[:s]) + i],
                layer_norm_epsilon=layer_norm_epsilon,
                attention=attention,
                name=f"{p}blocks_{i}",
            )(x)
        reduction *= patch_strides[s]
        if s < last:
            x = TokensToMap(grid, name=p + "to_map")(x)
            levels.append((x, reduction, f"{p}blocks_{depth - 1}"))
        else:  # before the final norm, without the class token
            levels.append((TokensToMap(grid, num_prefix_tokens=1, name=p + "to_map")(x), reduction, f"{p}blocks_{depth - 1}"))
    return Backbone(
        x, levels, head="token", global_pool="token", num_prefix_tokens=1, fc_norm=False,
        layer_norm_epsilon=layer_norm_epsilon, drop_rate=drop_rate,
    )


def features(model, out_indices=None):
    """CvT feature pyramid: the outputs of the three stages (strides 4, 8, 16 -> P2, P3, P4).

    The last stage's tokens are taken before the final norm, without the class token, as
    transformers' ``CvtModel`` returns them.
    """
    return pyramid(model, out_indices=out_indices)
