"""Compact Convolutional Transformer (CCT).

"Escaping the Big Data Paradigm with Compact Transformers", Hassani et al., 2021
(https://arxiv.org/abs/2104.05704); official code: SHI-Labs/Compact-Transformers (``src/cct.py``).

A small convolutional tokenizer (conv without bias, ReLU, 3x3/2 max pooling, per layer)
replaces the patch embedding; its map is flattened row-major into tokens, a learned position
embedding is added, and a stack of transformer layers runs over them. There is no class
token: *sequence pooling* weighs the normalized tokens by a softmax over a Linear(C, 1) and
sums them. The official layer is ``x = x + attn(pre_norm(x)); x = norm1(x); x = x + mlp(x)``:
the MLP residual starts from the normalized tokens.
"""
import keras
from keras import layers, ops

from ...layers import PositionEmbedding, TransformerBlock, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.features import TokensToMap, pyramid
from ...layers.head import classifier


@keras.saving.register_keras_serializable(package="keras_vit")
class CCTBlock(TransformerBlock):
    """CCT's transformer layer: the shared block with the official order of norms.

    ``x = x + attn(norm1(x)); x = norm2(x); x = x + mlp(x)`` (official names: ``pre_norm`` is
    our ``norm1``, ``norm1`` our ``norm2``, ``linear1``/``linear2`` our ``mlp/fc1``/``fc2``).
    Same arguments as :class:`keras_vit.layers.TransformerBlock`.

    Example:
        >>> y = CCTBlock(4, mlp_ratio=2.0, qkv_bias=False, layer_norm_epsilon=1e-5)(tokens)
    """

    def call(self, x, training=None, return_attention_scores=False, **attention_kwargs):
        attn_out = self._attention(self.norm1(x), training, return_attention_scores, **attention_kwargs)
        if return_attention_scores:
            attn_out, scores = attn_out
        x = self.norm2(self._residual(x, attn_out, self.ls1, training))
        x = self._residual(x, self.mlp(x, training=training), self.ls2, training)
        return (x, scores) if return_attention_scores else x


@keras.saving.register_keras_serializable(package="keras_vit")
class SequencePooling(layers.Layer):
    """CCT's sequence pooling: ``softmax_tokens(Linear(C, 1)(x))^T x``, ``(B, N, C) -> (B, C)``.

    The sublayer ``attention_pool`` is the official ``classifier.attention_pool``.
    ``return_weights=True`` in ``call`` also returns the ``(B, N)`` pooling weights (what the
    model "looks at": there is no class token).

    Example:
        >>> features = SequencePooling()(tokens)
    """

    def build(self, input_shape):
        self.attention_pool = layers.Dense(1, name="attention_pool", dtype=self.dtype_policy)
        self.attention_pool.build(input_shape)

    def call(self, x, return_weights=False):
        n = x.shape[1]
        # (B, N, 1) -> (B, 1, N) is a reshape; the softmax then runs over the last axis.
        weights = ops.softmax(ops.reshape(self.attention_pool(x), (-1, 1, n)), axis=-1)
        pooled = ops.reshape(ops.matmul(weights, x), (-1, x.shape[-1]))
        return (pooled, ops.reshape(weights, (-1, n))) if return_weights else pooled

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def _pad(x, padding, name):
    # PyTorch pads symmetrically; Keras' "same" would pad stride-2 layers asymmetrically.
    return layers.ZeroPadding2D(padding, name=name)(x) if padding else x


def tokenizer(x, *, embed_dim, num_conv_layers, kernel_size, conv_stride, conv_padding, tokenizer_channels,
              pool_size, pool_stride, pool_padding):
    """The convolutional tokenizer; returns the list of per-layer maps (the last is the token map)."""
    maps = []
    for i in range(num_conv_layers):
        channels = embed_dim if i == num_conv_layers - 1 else tokenizer_channels
        x = _pad(x, conv_padding, f"tokenizer_conv_{i}_pad")
        x = layers.Conv2D(channels, kernel_size, strides=conv_stride, use_bias=False, name=f"tokenizer_conv_{i}")(x)
        x = layers.ReLU(name=f"tokenizer_relu_{i}")(x)
        # Zero padding equals PyTorch's -inf padding here: the inputs are ReLU outputs (>= 0)
        # and every window holds at least one of them.
        x = _pad(x, pool_padding, f"tokenizer_pool_{i}_pad")
        x = layers.MaxPooling2D(pool_size, strides=pool_stride, name=f"tokenizer_pool_{i}")(x)
        maps.append(x)
    return maps


@image_classifier(name="cct", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def CCT(
    x,
    *,
    input_shape=(224, 224, 3),
    embed_dim=384,
    depth=14,
    num_heads=6,
    mlp_ratio=3.0,
    num_conv_layers=2,
    kernel_size=7,
    conv_stride=None,
    conv_padding=None,
    tokenizer_channels=64,
    pool_size=3,
    pool_stride=2,
    pool_padding=1,
    drop_rate=0.0,
    attn_drop_rate=0.1,
    drop_path_rate=0.0,
    layer_norm_epsilon=1e-5,
):
    """Builds a CCT as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3). The position table is sized for it.
        embed_dim, depth, num_heads, mlp_ratio: transformer width, layers, heads, MLP ratio.
        num_conv_layers, kernel_size: tokenizer convolutions (``cct_7_3x2``: 2 layers of 3x3).
        conv_stride, conv_padding: default as the official ``_cct``: ``max(1, k // 2 - 1)`` and
            ``max(1, k // 2)``.
        tokenizer_channels: width of the intermediate tokenizer convolutions (64).
        pool_size, pool_stride, pool_padding: the max pooling after each convolution.
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout (official 0.1)
            and stochastic depth (linear over layers; official 0.1).
        layer_norm_epsilon: LayerNorm epsilon (PyTorch's 1e-5).
        num_classes, include_top, classifier_activation: see ``create_model``.
        pooling: ``None`` (sequence pooling with the top, the normalized tokens without),
            ``"seq"`` or ``"avg"``.
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = CCT(input_shape=(32, 32, 3), embed_dim=128, depth=2, num_heads=2, mlp_ratio=1.0, kernel_size=3, num_classes=10)
    """
    conv_stride = max(1, kernel_size // 2 - 1) if conv_stride is None else conv_stride
    conv_padding = max(1, kernel_size // 2) if conv_padding is None else conv_padding
    maps = tokenizer(
        x, embed_dim=embed_dim, num_conv_layers=num_conv_layers, kernel_size=kernel_size, conv_stride=conv_stride,
        conv_padding=conv_padding, tokenizer_channels=tokenizer_channels, pool_size=pool_size, pool_stride=pool_stride,
        pool_padding=pool_padding,
    )
    grid = tuple(maps[-1].shape[1:3])
    x = layers.Reshape((grid[0] * grid[1], embed_dim), name="tokenizer_flatten")(maps[-1])
    x = PositionEmbedding(grid_size=grid, num_prefix_tokens=0, name="positional_emb")(x)
    x = layers.Dropout(drop_rate, name="pos_drop")(x)
    for i, rate in enumerate(drop_path_rates(drop_path_rate, depth)):
        x = CCTBlock(
            num_heads, mlp_ratio=mlp_ratio, qkv_bias=False, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=rate, layer_norm_epsilon=layer_norm_epsilon, name=f"blocks_{i}",
        )(x)
    last_tokens = x
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="norm")(x)
    # Levels: each tokenizer layer's pooled map but the last, then the last layer's tokens
    # as a map at the tokenizer's stride.
    size = input_shape[0]
    levels = [(fmap, size // fmap.shape[1], f"tokenizer_pool_{i}") for i, fmap in enumerate(maps[:-1])]
    fmap = TokensToMap(grid, 0, name=f"blocks_{depth - 1}_map")(last_tokens)
    levels.append((fmap, size // grid[0], f"blocks_{depth - 1}"))
    return Backbone(x, levels, head=sequence_pooling_head)


def sequence_pooling_head(x, *, num_classes, include_top, pooling, classifier_activation):
    """CCT's head (the shared wrapper's hook): sequence pooling (or the mean), then the classifier.

    ``pooling``: ``None`` (sequence pooling with the top, the normalized tokens without),
    ``"seq"`` or ``"avg"``.
    """
    if pooling not in (None, "seq", "avg"):
        raise ValueError(f"pooling must be None, 'seq' or 'avg' (CCT has no class token), got {pooling!r}.")
    pool = pooling or ("seq" if include_top else None)
    if pool == "seq":
        x = SequencePooling(name="seq_pool")(x)
    elif pool == "avg":
        x = layers.GlobalAveragePooling1D(name="pool")(x)
    if include_top and num_classes:
        x = classifier(x, num_classes, drop_rate=0.0, classifier_activation=classifier_activation)
    return x


def features(model, out_indices=None):
    """CCT feature maps: each tokenizer layer's pooled map but the last, then the last
    transformer layer's tokens as a map at the tokenizer's stride (``cct_14_7x2``: P2 with 64
    channels, P4 with 384). A one-layer tokenizer (``*_3x1``) has only the token map.
    """
    return pyramid(model, out_indices=out_indices)
