"""MobileViT v2.

"Separable Self-attention for Mobile Vision Transformers", Mehta & Rastegari, TMLR 2023
(https://arxiv.org/abs/2206.02680).

MobileViT's network (see :mod:`keras_vit.models.mobilevit`) with three changes in its
MobileViT blocks: attention is separable, linear in the number of patches
(:class:`.layers.LinearSelfAttention`); the transformer normalizes with a one-group
GroupNorm over the whole map instead of LayerNorm; and the block ends with its 1x1
projection: no concatenation with the input and no 3x3 fusion. The local representation is
a depthwise 3x3 convolution. Widths scale with one multiplier (``mobilevitv2_050`` … ``_200``)
and the network has no final 1x1 convolution before pooling.

Layer names follow timm's module names with ``_`` for ``.`` (``stages_2_1_conv_kxk_bn``), and
the MobileNetV2 blocks and convolutions are MobileViT's (same names, same padding).
"""
import keras
import numpy as np
from keras import layers

from ...layers import drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.features import producer_name, pyramid
from ..mobilevit.model import conv_bn, inverted_residual
from .layers import AlignedResize, GroupNorm1, LinearTransformerBlock, PatchFold, PatchUnfold


def mobilevitv2_block(x, transformer_dim, depth, *, patch_size, mlp_ratio, drop_rate, attn_drop_rate, drop_path_rate, norm_epsilon, epsilon, name):
    """Depthwise 3x3 -> 1x1 -> unfold -> linear transformers -> GroupNorm -> fold -> 1x1 projection."""
    channels = x.shape[-1]
    (ph, pw) = patch_size
    size = (-(-x.shape[1] // ph) * ph, -(-x.shape[2] // pw) * pw)
    if size != tuple(x.shape[1:3]):
        # The references resize the block's input to the next multiple of the patch and
        # keep that size: later stages see the larger map.
        x = AlignedResize(size, name=f"{name}_resize")(x)
    x = conv_bn(x, channels, 3, depthwise=True, epsilon=epsilon, name=f"{name}_conv_kxk")
    x = layers.Conv2D(transformer_dim, 1, use_bias=False, name=f"{name}_conv_1x1")(x)
    x = PatchUnfold(patch_size, name=f"{name}_unfold")(x)
    for i in range(depth):
        x = LinearTransformerBlock(
            mlp_ratio=mlp_ratio,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
            norm_epsilon=norm_epsilon,
            name=f"{name}_transformer_{i}",
        )(x)
    x = GroupNorm1(norm_epsilon, name=f"{name}_norm")(x)
    x = PatchFold(patch_size, output_size=size, name=f"{name}_fold")(x)
    return conv_bn(x, channels, 1, activation=False, epsilon=epsilon, name=f"{name}_conv_proj")


@image_classifier(name="mobilevitv2", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
def MobileViTV2(
    x,
    *,
    input_shape=(256, 256, 3),
    stem_channels=32,
    channels=(64, 128, 256, 384, 512),
    block_depths=(1, 2),
    transformer_dims=(128, 192, 256),
    transformer_depths=(2, 4, 3),
    expand_ratio=2.0,
    patch_size=2,
    mlp_ratio=2.0,
    norm_epsilon=1e-5,
    batch_norm_epsilon=1e-5,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds a MobileViT v2 as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3), fixed; multiples of 32 keep every map a multiple
            of the patch (others work too: a block's input is resized up to the next
            multiple, as the references do).
        stem_channels: width of the stride-2 stem convolution.
        channels: output width of the five stages (two MobileNetV2 stages, three MobileViT v2).
        block_depths: MobileNetV2 blocks in the first two stages.
        transformer_dims, transformer_depths: width and blocks of the three transformers.
        expand_ratio: MobileNetV2 expansion.
        patch_size: int or (height, width) of the unfolding patch.
        mlp_ratio: MLP ratio of the transformer blocks.
        norm_epsilon, batch_norm_epsilon: GroupNorm and BatchNorm epsilons (1e-5 in the references).
        drop_rate: dropout in the transformers and before the classifier.
        attn_drop_rate: dropout on the context scores.
        drop_path_rate: stochastic depth, rising linearly over the network's blocks (as timm's
            ByobNet: every MobileNetV2 and MobileViT v2 block counts as one; a MobileNetV2
            block without a residual keeps its whole output, as in MobileViT).
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``include_top=False`` with ``pooling=None`` returns the final feature map.
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = MobileViTV2(stem_channels=16, channels=(32, 64, 128, 192, 256), transformer_dims=(64, 96, 128))
    """
    if len(channels) != 5 or len(block_depths) != 2 or len(transformer_dims) != 3 or len(transformer_depths) != 3:
        raise ValueError(
            "MobileViT v2 has 5 stages: 5 channels, 2 block_depths, 3 transformer_dims and 3 transformer_depths; "
            f"got {len(channels)}, {len(block_depths)}, {len(transformer_dims)} and {len(transformer_depths)}."
        )
    patch_size = tuple(patch_size) if isinstance(patch_size, (tuple, list)) else (patch_size, patch_size)
    eps = batch_norm_epsilon
    x = conv_bn(x, stem_channels, 3, stride=2, epsilon=eps, name="stem")
    # One rate per block of the network, in order (timm's ByobNet schedule).
    rates = iter(drop_path_rates(drop_path_rate, sum(block_depths) + 2 * len(transformer_depths)))
    levels = []  # the stage outputs, strides 2 … 32 (timm's feature_info)
    for stage, depth in enumerate(block_depths):
        for i in range(depth):
            stride = 2 if stage > 0 and i == 0 else 1
            x = inverted_residual(
                x, channels[stage], stride=stride, expand_ratio=expand_ratio, drop_path_rate=next(rates), epsilon=eps,
                name=f"stages_{stage}_{i}",
            )
        levels.append((x, 2 ** (stage + 1), producer_name(x)))
    for k, (dim, depth) in enumerate(zip(transformer_dims, transformer_depths)):
        stage = k + 2
        x = inverted_residual(x, channels[stage], stride=2, expand_ratio=expand_ratio, drop_path_rate=next(rates), epsilon=eps, name=f"stages_{stage}_0")
        x = mobilevitv2_block(
            x, dim, depth,
            patch_size=patch_size, mlp_ratio=mlp_ratio, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=next(rates), norm_epsilon=norm_epsilon, epsilon=eps, name=f"stages_{stage}_1",
        )
        levels.append((x, 2 ** (stage + 1), producer_name(x)))
    return Backbone(x, levels, drop_rate=drop_rate)


def features(model, out_indices=None):
    """MobileViT v2 feature pyramid: the outputs of stages 0 … 4 (strides 2, 4, 8, 16, 32).

    ``out_indices`` index that list, as timm's ``feature_info`` does (default ``(1, 2, 3, 4)``:
    ``P2`` … ``P5``). With an input that is not a multiple of 32, a level's map is the
    references' (resized up where a block needed it), not exactly the input over its stride.

    Example:
        >>> pyramid = keras_vit.create_model("mobilevitv2_050", features_only=True)
    """
    return pyramid(model, out_indices=(1, 2, 3, 4) if out_indices is None else out_indices)


def context_scores(model, images):
    """The context scores of every transformer block: how much each patch contributes to
    the context vector of its sequence (the softmax over patches in
    :class:`.layers.LinearSelfAttention`), MobileViT v2's counterpart of attention maps.

    Args:
        model: a MobileViT v2 model (any head).
        images: ``(batch, H, W, 3)`` input as the model takes it.

    Returns:
        ``{block name: array (batch, ph * pw, grid_h, grid_w)}`` in network order: one map over
        the patch grid per pixel position of a patch, each summing to 1.

    Example:
        >>> maps = context_scores(model, images)["stages_4_1_transformer_2"].mean(axis=1)
    """
    from .layers import LinearTransformerBlock

    blocks = [layer for layer in model.layers if isinstance(layer, LinearTransformerBlock)]
    if not blocks:
        raise ValueError(f"Model '{model.name}' has no MobileViT v2 transformer blocks (LinearTransformerBlock).")
    inputs = keras.Model(model.inputs[0], [block.input for block in blocks])(np.asarray(images), training=False)
    scores = {}
    for block, x in zip(blocks, inputs):
        unfold = model.get_layer(block.name.rsplit("_transformer_", 1)[0] + "_unfold")
        (h, w), (ph, pw) = unfold.input.shape[1:3], unfold.patch_size
        _, s = block(x, training=False, return_attention_scores=True)
        scores[block.name] = np.asarray(s).reshape(-1, ph * pw, h // ph, w // pw)
    return scores
