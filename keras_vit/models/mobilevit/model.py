"""MobileViT.

"MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision Transformer",
Mehta & Rastegari, ICLR 2022 (https://arxiv.org/abs/2110.02178).

A MobileNetV2 network whose last three stages each end in a MobileViT block: a 3x3 and a
1x1 convolution make a local representation, which is unfolded into sequences of the same
pixel of every 2x2 patch (see :mod:`.layers`); a transformer mixes the patches globally,
the sequences are folded back into a map, projected by a 1x1 convolution, concatenated with
the block's input and fused by a 3x3 convolution. A 1x1 convolution widens the last map,
which is average-pooled into the classifier.

Layer names follow timm's module names with ``_`` for ``.`` (``stages_2_1_conv_kxk_bn``),
so that every checkpoint key maps to one variable. Convolutions are followed by
BatchNormalization (epsilon 1e-5, as PyTorch) and SiLU ("swish"); strided convolutions pad
symmetrically as PyTorch does (``ZeroPadding2D`` + ``valid``), not TensorFlow's ``same``.
"""
from keras import layers

from ...layers import DropPath, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.conv import torch_conv
from ...layers.features import producer_name, pyramid
from ...layers.fusion import BatchNormalization, LayerNormalization, SiLU
from .layers import MobileViTTransformerBlock, Resize, ResizeLike, ResizeToPatch, patch_grid_size


def make_divisible(value, divisor=8):
    """Rounds channel counts as the references do (at least 90% of ``value``)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(x, filters, kernel_size, *, name, stride=1, depthwise=False, activation=True, epsilon=1e-5):
    """Convolution without bias, BatchNormalization and (optionally) SiLU: ``{name}_conv/_bn``."""
    x = torch_conv(x, filters, kernel_size, stride=stride, depthwise=depthwise, name=f"{name}_conv", pad_name=f"{name}_pad")
    x = BatchNormalization(epsilon=epsilon, momentum=0.9, name=f"{name}_bn")(x)
    if activation:
        x = SiLU(name=f"{name}_act")(x)
    return x


def inverted_residual(x, out_channels, *, stride, expand_ratio, drop_path_rate=0.0, epsilon=1e-5, name):
    """MobileNetV2 block: expand 1x1, depthwise 3x3, linear project 1x1, residual if shapes allow."""
    in_channels = x.shape[-1]
    mid = make_divisible(round(in_channels * expand_ratio))
    shortcut = x
    x = conv_bn(x, mid, 1, epsilon=epsilon, name=f"{name}_conv1_1x1")
    x = conv_bn(x, mid, 3, stride=stride, depthwise=True, epsilon=epsilon, name=f"{name}_conv2_kxk")
    x = conv_bn(x, out_channels, 1, activation=False, epsilon=epsilon, name=f"{name}_conv3_1x1")
    if stride == 1 and in_channels == out_channels:
        if drop_path_rate:
            x = DropPath(drop_path_rate, name=f"{name}_drop_path")(x)
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def mobilevit_block(x, transformer_dim, depth, *, patch_size, num_heads, mlp_ratio, drop_rate, attn_drop_rate, drop_path_rates, layer_norm_epsilon, epsilon, name):
    """Local convs -> transformer over patch pixels -> 1x1 projection -> concat with input -> 3x3 fusion.

    The transformer blocks take the map itself and regroup it into patch-pixel sequences
    only inside attention (:class:`MobileViTTransformerBlock`): the same computation as
    unfold -> transformer -> fold, with fewer transposes.
    """
    channels = x.shape[-1]
    shortcut = x
    x = conv_bn(x, channels, 3, epsilon=epsilon, name=f"{name}_conv_kxk")
    x = layers.Conv2D(transformer_dim, 1, use_bias=False, name=f"{name}_conv_1x1")(x)
    size = tuple(x.shape[1:3])
    before = x
    # A model for any input size (None in size) resizes the same way, sized when it runs.
    dynamic = None in size
    padded = size if dynamic else patch_grid_size(size, patch_size)
    if dynamic:
        x = ResizeToPatch(patch_size, name=f"{name}_resize")(x)
    elif padded != size:
        # The references resize a map that is not a multiple of the patch, and back after.
        x = Resize(padded, name=f"{name}_resize")(x)
    for i in range(depth):
        x = MobileViTTransformerBlock(
            num_heads,
            patch_size=patch_size,
            mlp_ratio=mlp_ratio,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rates[i],
            layer_norm_epsilon=layer_norm_epsilon,
            activation="swish",
            name=f"{name}_transformer_{i}",
        )(x)
    # Inference form that TFLite folds into conv_proj (fusion.layer_norm); same variables.
    x = LayerNormalization(epsilon=layer_norm_epsilon, name=f"{name}_norm")(x)
    if dynamic:
        x = ResizeLike(name=f"{name}_resize_back")([x, before])
    elif padded != size:
        x = Resize(size, name=f"{name}_resize_back")(x)
    x = conv_bn(x, channels, 1, epsilon=epsilon, name=f"{name}_conv_proj")
    x = layers.Concatenate(name=f"{name}_concat")([shortcut, x])
    return conv_bn(x, channels, 3, epsilon=epsilon, name=f"{name}_conv_fusion")


@image_classifier(name="mobilevit", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
def MobileViT(
    x,
    *,
    input_shape=(256, 256, 3),
    stem_channels=16,
    channels=(32, 64, 96, 128, 160),
    block_depths=(1, 3),
    transformer_dims=(144, 192, 240),
    transformer_depths=(2, 4, 3),
    expand_ratio=4.0,
    num_features=640,
    patch_size=2,
    num_heads=4,
    mlp_ratio=2.0,
    layer_norm_epsilon=1e-5,
    batch_norm_epsilon=1e-5,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds a MobileViT as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3); multiples of 32 keep every map a multiple of
            the patch (others work too: maps are resized around the transformer, as the
            references do). ``(None, None, 3)`` builds one model for every size (the
            multi-scale training of the paper), the same weights and layer names; TFLite
            export wants a fixed size.
        stem_channels: width of the stride-2 stem convolution.
        channels: output width of the five stages (two MobileNetV2 stages, three MobileViT).
        block_depths: MobileNetV2 blocks in the first two stages.
        transformer_dims, transformer_depths: width and blocks of the three transformers.
        expand_ratio: MobileNetV2 expansion.
        num_features: width of the final 1x1 convolution (the pooled features).
        patch_size: unfolding patch side.
        num_heads, mlp_ratio: attention heads and MLP ratio of the transformer blocks.
        layer_norm_epsilon, batch_norm_epsilon: normalization epsilons (1e-5 in every reference).
        drop_rate: dropout in the transformers and before the classifier.
        attn_drop_rate: attention dropout.
        drop_path_rate: stochastic depth, increasing linearly over the transformer blocks.
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``include_top=False`` with ``pooling=None`` returns the final feature map.
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = MobileViT(input_shape=(256, 256, 3), channels=(16, 24, 48, 64, 80),
        ...                   transformer_dims=(64, 80, 96), expand_ratio=2.0, num_features=320)
    """
    if len(channels) != 5 or len(block_depths) != 2 or len(transformer_dims) != 3 or len(transformer_depths) != 3:
        raise ValueError("MobileViT has 5 stages: 5 channels, 2 block_depths, 3 transformer_dims and 3 transformer_depths.")
    eps = batch_norm_epsilon
    x = conv_bn(x, stem_channels, 3, stride=2, epsilon=eps, name="stem")
    levels = []  # the stage outputs, strides 2 … 32 (timm's feature_info)
    for stage, depth in enumerate(block_depths):
        for i in range(depth):
            stride = 2 if stage > 0 and i == 0 else 1
            x = inverted_residual(x, channels[stage], stride=stride, expand_ratio=expand_ratio, epsilon=eps, name=f"stages_{stage}_{i}")
        levels.append((x, 2 ** (stage + 1), producer_name(x)))
    rates = drop_path_rates(drop_path_rate, sum(transformer_depths))
    for k, (dim, depth) in enumerate(zip(transformer_dims, transformer_depths)):
        stage = k + 2
        x = inverted_residual(x, channels[stage], stride=2, expand_ratio=expand_ratio, epsilon=eps, name=f"stages_{stage}_0")
        start = sum(transformer_depths[:k])
        x = mobilevit_block(
            x, dim, depth,
            patch_size=patch_size, num_heads=num_heads, mlp_ratio=mlp_ratio, drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate, drop_path_rates=rates[start:start + depth],
            layer_norm_epsilon=layer_norm_epsilon, epsilon=eps, name=f"stages_{stage}_1",
        )
        levels.append((x, 2 ** (stage + 1), producer_name(x)))
    x = conv_bn(x, num_features, 1, epsilon=eps, name="final_conv")
    return Backbone(x, levels, drop_rate=drop_rate)


# create_model takes input_shape=(None, None, 3) for this family (see mobilevit_block).
MobileViT.any_input_size = True


def features(model, out_indices=None):
    """MobileViT feature pyramid: the outputs of stages 0 … 4 (strides 2, 4, 8, 16, 32).

    ``out_indices`` index that list, as timm's ``feature_info`` does (default ``(1, 2, 3, 4)``:
    ``P2`` … ``P5``).
    """
    return pyramid(model, out_indices=(1, 2, 3, 4) if out_indices is None else out_indices)
