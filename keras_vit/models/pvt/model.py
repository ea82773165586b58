"""Pyramid Vision Transformer (PVT v1).

"Pyramid Vision Transformer: A Versatile Backbone for Dense Prediction without
Convolutions", Wang et al., ICCV 2021 (https://arxiv.org/abs/2102.12122).

Four stages, each a non-overlapping patch embedding (4x4, then 2x2 convolutions) with
LayerNorm, a learned position embedding, and pre-norm transformer blocks whose attention
takes keys and values from the map shrunk by a strided convolution (spatial-reduction
attention, ``sr_ratios``). The last stage prepends a class token (its position embedding has
one more row), and the classifier reads it after a final LayerNorm.

Layer names follow the official modules with ``_`` for ``.`` (``patch_embed1_proj``,
``pos_embed1``, ``block1_0/attn/spatial_reduction/sr``), which the transformers checkpoints
renamed one-to-one.
"""
from keras import layers

from ...layers import Attention, ClassToken, PositionEmbedding, TransformerBlock, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.features import TokensToMap, pyramid
from ...layers.spatial_reduction import SpatialReduction


@image_classifier(name="pvt", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def PyramidVisionTransformer(
    x,
    *,
    input_shape=(224, 224, 3),
    depths=(2, 2, 2, 2),
    embed_dims=(64, 128, 320, 512),
    num_heads=(1, 2, 5, 8),
    mlp_ratios=(8.0, 8.0, 4.0, 4.0),
    sr_ratios=(8, 4, 2, 1),
    patch_sizes=(4, 2, 2, 2),
    qkv_bias=True,
    layer_norm_epsilon=1e-6,
    patch_norm_epsilon=1e-6,
    sr_norm_epsilon=1e-6,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds a PVT (v1) as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3); multiples of 32 keep every stage exact. Position
            embeddings of a checkpoint made at another size are resampled bilinearly, as the
            official code does.
        depths, embed_dims, num_heads, mlp_ratios, sr_ratios, patch_sizes: per-stage blocks,
            width, heads, MLP ratio, key/value reduction and patch size.
        qkv_bias: bias of the q and kv projections.
        layer_norm_epsilon: epsilon of the blocks' and the final LayerNorm (1e-6).
        patch_norm_epsilon, sr_norm_epsilon: epsilons of the patch embeddings' and the
            reductions' LayerNorms: 1e-6 in transformers, 1e-5 in the official code (set by
            the layout of the checkpoint).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth.
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``pooling`` is ``"token"`` (the class token, default) or ``"avg"``.
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = PyramidVisionTransformer(input_shape=(64, 64, 3), depths=(1, 1, 1, 1), embed_dims=(8, 16, 16, 32), num_classes=10)
    """
    stages = len(depths)
    if not len(embed_dims) == len(num_heads) == len(mlp_ratios) == len(sr_ratios) == len(patch_sizes) == stages:
        raise ValueError("depths, embed_dims, num_heads, mlp_ratios, sr_ratios and patch_sizes need one entry per stage.")
    rates = drop_path_rates(drop_path_rate, sum(depths))
    levels = []  # transformers' per-stage hidden states
    for i in range(stages):
        n, last = i + 1, i == stages - 1
        x = layers.Conv2D(embed_dims[i], patch_sizes[i], strides=patch_sizes[i], name=f"patch_embed{n}_proj")(x)
        grid = (x.shape[1], x.shape[2])
        x = layers.Reshape((grid[0] * grid[1], embed_dims[i]), name=f"patch_embed{n}_flatten")(x)
        x = layers.LayerNormalization(epsilon=patch_norm_epsilon, name=f"patch_embed{n}_norm")(x)
        if last:
            x = ClassToken(name="cls_token")(x)
        x = PositionEmbedding(grid_size=grid, num_prefix_tokens=int(last), name=f"pos_embed{n}")(x)
        x = layers.Dropout(drop_rate, name=f"pos_drop{n}")(x)
        for j in range(depths[i]):
            step = None
            if sr_ratios[i] > 1:
                step = SpatialReduction(sr_ratios[i], grid_size=grid, layer_norm_epsilon=sr_norm_epsilon, name="spatial_reduction")
            attention = Attention(num_heads[i], qkv_bias=qkv_bias, attn_drop_rate=attn_drop_rate, proj_drop_rate=drop_rate,
                                  projection="q_kv", key_value_step=step, name="attn")
            x = TransformerBlock(
                num_heads[i], mlp_ratio=mlp_ratios[i], qkv_bias=qkv_bias, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path_rate=rates[sum(depths[:i]) + j], layer_norm_epsilon=layer_norm_epsilon, attention=attention,
                name=f"block{n}_{j}",
            )(x)
        if not last:
            x = TokensToMap(grid, name=f"block{n}_map")(x)
            levels.append((x, 4 * 2**i, f"block{n}"))
    # The final norm is the backbone's: the last level is the normalized patch tokens.
    x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="norm")(x)
    levels.append((TokensToMap(grid, num_prefix_tokens=1, name=f"block{stages}_map")(x), 4 * 2 ** (stages - 1), "norm"))
    return Backbone(
        x, levels, head="token", global_pool="token", num_prefix_tokens=1, fc_norm=False, final_norm=False,
        layer_norm_epsilon=layer_norm_epsilon, drop_rate=drop_rate,
    )


def features(model, out_indices=None):
    """PVT feature pyramid: the maps after stages 1-3 (un-normalized: the reference has a
    LayerNorm only after the last stage) and the last stage's normalized patch tokens
    (strides 4 … 32: ``P2`` … ``P5``), as transformers' per-stage hidden states."""
    return pyramid(model, out_indices=out_indices)
