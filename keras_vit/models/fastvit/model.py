"""FastViT.

"FastViT: A Fast Hybrid Vision Transformer using Structural Reparameterization",
Vasu, Gabriel, Zhu, Tuzel & Ranjan, ICCV 2023 (https://arxiv.org/abs/2303.14189).

A four-stage convolutional network built to be folded after training. Every convolution
of the stem, the downsampling layers and the classifier's last convolution is a MobileOne
block: at training time several parallel branches (k x k conv + BN, 1 x 1 conv + BN, a BN
identity) whose sum is one k x k convolution at inference. The token mixer of the first
stages is RepMixer, ``x + gamma * (mixer(x) - norm(x))``, which folds into one depthwise
3 x 3 convolution; the SA/MA variants use self-attention in the last stage, after a
conditional position encoding (a depthwise 7 x 7 convolution plus identity, folded too).
Downsampling uses large (7 x 7) depthwise kernels re-parameterized with a 3 x 3 branch.

``inference_mode=True`` builds the folded graph (single convolutions with biases, no
BatchNormalization, layer scales folded into the convolution or projection before them);
:func:`keras_vit.models.fastvit.reparameterize` turns a trained model into it with equal
outputs. The training form's layer names follow timm's module names with ``_`` for ``.``
(``stages_1_blocks_0_token_mixer_mixer_conv_kxk_0_conv``), the folded form's name each
folded convolution ``..._reparam_conv`` as timm's ``reparameterize_model`` does.
Strided convolutions pad symmetrically as PyTorch does (``ZeroPadding2D`` + ``valid``).
"""
from keras import layers

from ...layers import Attention, DropPath, LayerScale, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.conv import torch_conv
from ...layers.features import pyramid
from ...layers.fusion import BatchNormalization

BN_EPSILON = 1e-5  # PyTorch's BatchNorm2d default, used by every FastViT checkpoint
TOKEN_MIXERS = ("repmixer", "attention")


def _bn(x, name):
    return BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, name=name)(x)


def _gelu(x, name):
    return layers.Activation("gelu", name=name)(x)


def conv(x, filters, kernel_size, *, name, stride=1, depthwise=False, use_bias=False):
    """A convolution padded as PyTorch's (``k // 2`` on every side); depthwise keeps
    ``filters / channels`` outputs per input channel (timm's ``groups=in_chs``)."""
    return torch_conv(x, filters, kernel_size, stride=stride, depthwise=depthwise,
                      depth_multiplier=filters // x.shape[-1] if depthwise else 1, use_bias=use_bias, name=name,
                      pad_name=f"{name}_pad")


def conv_bn(x, filters, kernel_size, *, name, stride=1, depthwise=False):
    """timm's ``ConvNormAct`` without activation: ``{name}_conv`` and ``{name}_bn``."""
    x = conv(x, filters, kernel_size, stride=stride, depthwise=depthwise, name=f"{name}_conv")
    return _bn(x, f"{name}_bn")


def squeeze_excite(x, name):
    """timm's ``SqueezeExcite(C, rd_divisor=1)``: mean, 1x1 conv to ``round(C / 16)``, ReLU, 1x1, sigmoid gate."""
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = layers.Conv2D(max(1, int(channels / 16 + 0.5)), 1, activation="relu", name=f"{name}_fc1")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_fc2")(s)
    return layers.Multiply(name=f"{name}_gate")([x, s])


def mobileone(x, filters, kernel_size, *, name, stride=1, depthwise=False, use_act=True, use_se=False, inference_mode=False):
    """MobileOne block (Vasu et al., CVPR 2023): k x k conv + BN, a 1 x 1 conv + BN "scale"
    branch when k > 1, and a BN "identity" branch when the shape is kept, summed; then SE and
    GELU. Folded: one convolution with bias, ``{name}_reparam_conv``."""
    if inference_mode:
        y = conv(x, filters, kernel_size, stride=stride, depthwise=depthwise, use_bias=True, name=f"{name}_reparam_conv")
    else:
        branches = []
        if filters == x.shape[-1] and stride == 1:
            branches.append(_bn(x, f"{name}_identity"))
        if kernel_size > 1:
            branches.append(conv_bn(x, filters, 1, stride=stride, depthwise=depthwise, name=f"{name}_conv_scale"))
        branches.append(conv_bn(x, filters, kernel_size, stride=stride, depthwise=depthwise, name=f"{name}_conv_kxk_0"))
        y = layers.Add(name=f"{name}_add")(branches) if len(branches) > 1 else branches[0]
    if use_se:
        y = squeeze_excite(y, f"{name}_se")
    return _gelu(y, f"{name}_act") if use_act else y


def large_kernel_conv(x, filters, kernel_size, *, stride, small_kernel=3, name, inference_mode=False):
    """RepLKNet's re-parameterized large depthwise kernel: a k x k and a 3 x 3 branch, each
    with BN, summed (timm's ``ReparamLargeKernelConv`` without SE or activation)."""
    if inference_mode:
        return conv(x, filters, kernel_size, stride=stride, depthwise=True, use_bias=True, name=f"{name}_reparam_conv")
    large = conv_bn(x, filters, kernel_size, stride=stride, depthwise=True, name=f"{name}_large_conv")
    small = conv_bn(x, filters, small_kernel, stride=stride, depthwise=True, name=f"{name}_small_conv")
    return layers.Add(name=f"{name}_add")([large, small])


def repmixer(x, *, kernel_size, layer_scale_init_value, name, inference_mode=False):
    """RepMixer: ``x + gamma * (mixer(x) - norm(x))``, ``mixer`` a depthwise MobileOne block
    without activation and ``norm`` a BatchNorm; folded, one depthwise conv with bias."""
    if inference_mode:
        return conv(x, x.shape[-1], kernel_size, depthwise=True, use_bias=True, name=f"{name}_reparam_conv")
    channels = x.shape[-1]
    mixed = mobileone(x, channels, kernel_size, depthwise=True, use_act=False, name=f"{name}_mixer")
    normed = _bn(x, f"{name}_norm_identity")
    delta = layers.Subtract(name=f"{name}_sub")([mixed, normed])
    delta = LayerScale(layer_scale_init_value, name=f"{name}_layer_scale")(delta)
    return layers.Add(name=f"{name}_add")([x, delta])


def conv_mlp(x, hidden, *, drop_rate, name, inference_mode=False):
    """ConvFFN: depthwise 7 x 7 conv + BN (folded: one conv with bias), 1 x 1 expansion, GELU, 1 x 1."""
    channels = x.shape[-1]
    if inference_mode:
        x = conv(x, channels, 7, depthwise=True, use_bias=True, name=f"{name}_conv")
    else:
        x = conv_bn(x, channels, 7, depthwise=True, name=f"{name}_conv")
    x = layers.Conv2D(hidden, 1, name=f"{name}_fc1")(x)
    x = _gelu(x, f"{name}_act")
    x = layers.Dropout(drop_rate, name=f"{name}_drop1")(x)
    x = layers.Conv2D(channels, 1, name=f"{name}_fc2")(x)
    return layers.Dropout(drop_rate, name=f"{name}_drop2")(x)


def _residual(x, branch, *, layer_scale_init_value, drop_path_rate, scale_name, name, inference_mode):
    """``x + drop_path(layer_scale(branch))``; folded, the scale lives in the branch's last layer."""
    if not inference_mode:
        branch = LayerScale(layer_scale_init_value, name=scale_name)(branch)
    if drop_path_rate:
        branch = DropPath(drop_path_rate, name=f"{name}_drop_path")(branch)
    return layers.Add(name=name)([x, branch])


def repmixer_block(x, *, kernel_size, mlp_ratio, drop_rate, drop_path_rate, layer_scale_init_value, name, inference_mode):
    """MetaFormer block with RepMixer as token mixer and the convolutional MLP."""
    x = repmixer(x, kernel_size=kernel_size, layer_scale_init_value=layer_scale_init_value, name=f"{name}_token_mixer", inference_mode=inference_mode)
    y = conv_mlp(x, int(x.shape[-1] * mlp_ratio), drop_rate=drop_rate, name=f"{name}_mlp", inference_mode=inference_mode)
    return _residual(x, y, layer_scale_init_value=layer_scale_init_value, drop_path_rate=drop_path_rate,
                     scale_name=f"{name}_layer_scale", name=f"{name}_add", inference_mode=inference_mode)


def attention_block(x, *, head_dim, mlp_ratio, drop_rate, drop_path_rate, layer_scale_init_value, name, inference_mode):
    """MetaFormer block with self-attention after a BatchNorm (folded into ``qkv``'s bias)."""
    height, width, channels = x.shape[1:]
    y = x if inference_mode else _bn(x, f"{name}_norm")
    y = layers.Reshape((height * width, channels), name=f"{name}_to_tokens")(y)
    y = Attention(channels // head_dim, qkv_bias=inference_mode, name=f"{name}_token_mixer")(y)
    y = layers.Reshape((height, width, channels), name=f"{name}_to_map")(y)
    x = _residual(x, y, layer_scale_init_value=layer_scale_init_value, drop_path_rate=drop_path_rate,
                  scale_name=f"{name}_layer_scale_1", name=f"{name}_attn_add", inference_mode=inference_mode)
    y = conv_mlp(x, int(channels * mlp_ratio), drop_rate=drop_rate, name=f"{name}_mlp", inference_mode=inference_mode)
    return _residual(x, y, layer_scale_init_value=layer_scale_init_value, drop_path_rate=drop_path_rate,
                     scale_name=f"{name}_layer_scale_2", name=f"{name}_add", inference_mode=inference_mode)


def conditional_position_encoding(x, kernel_size, *, name, inference_mode):
    """RepCPE: ``x + depthwise_conv(x)`` (conv with bias); folded, one depthwise conv."""
    if inference_mode:
        return conv(x, x.shape[-1], kernel_size, depthwise=True, use_bias=True, name=f"{name}_reparam_conv")
    y = conv(x, x.shape[-1], kernel_size, depthwise=True, use_bias=True, name=f"{name}_pos_enc")
    return layers.Add(name=f"{name}_add")([x, y])


@image_classifier(name="fastvit", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def FastViT(
    x,
    *,
    input_shape=(256, 256, 3),
    depths=(2, 2, 4, 2),
    embed_dims=(48, 96, 192, 384),
    mlp_ratios=(3.0, 3.0, 3.0, 3.0),
    token_mixers=("repmixer", "repmixer", "repmixer", "repmixer"),
    pos_embs=(None, None, None, None),
    repmixer_kernel_size=3,
    down_patch_size=7,
    head_dim=32,
    cls_ratio=2.0,
    layer_scale_init_value=1e-5,
    inference_mode=False,
    drop_rate=0.0,
    proj_drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds a FastViT as a functional ``keras.Model``, in training or folded (inference) form.

    Args:
        input_shape: (height, width, 3), fixed.
        depths: blocks per stage (four stages at strides 4, 8, 16, 32).
        embed_dims: channels per stage.
        mlp_ratios: ConvFFN expansion per stage.
        token_mixers: ``"repmixer"`` or ``"attention"`` per stage.
        pos_embs: kernel size of the conditional position encoding before each stage, or ``None``.
        repmixer_kernel_size: RepMixer's depthwise kernel.
        down_patch_size: the large depthwise kernel of the stride-2 downsampling.
        head_dim: channels per attention head.
        cls_ratio: width of the final MobileOne convolution over the last stage's.
        layer_scale_init_value: initial layer scales.
        inference_mode: build the folded graph (see :func:`reparameterize`); weights of the
            training form do not load into it directly.
        drop_rate: dropout before the classifier. proj_drop_rate: dropout in the ConvFFN.
        drop_path_rate: stochastic depth, increasing linearly over all blocks.
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``include_top=False`` with ``pooling=None`` returns the final feature map.
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = FastViT(input_shape=(256, 256, 3))                          # FastViT-T8, training form
        >>> folded = FastViT(input_shape=(256, 256, 3), inference_mode=True)    # its deployable form
    """
    stages = len(depths)
    for arg, value in (("embed_dims", embed_dims), ("mlp_ratios", mlp_ratios), ("token_mixers", token_mixers), ("pos_embs", pos_embs)):
        if len(value) != stages:
            raise ValueError(f"FastViT: {arg} has {len(value)} entries, expected one per stage ({stages}, as depths).")
    for mixer in token_mixers:
        if mixer not in TOKEN_MIXERS:
            raise ValueError(f"FastViT: token mixer {mixer!r} is not one of {TOKEN_MIXERS}.")
    for mixer, dim in zip(token_mixers, embed_dims):
        if mixer == "attention" and dim % head_dim:
            raise ValueError(f"FastViT: an attention stage's width {dim} is not a multiple of head_dim={head_dim}.")
    for a, b in zip(embed_dims, embed_dims[1:]):
        if b % a:
            raise ValueError(f"FastViT: each stage's width must be a multiple of the previous one's "
                             f"(depthwise downsampling), got {tuple(embed_dims)}.")
    mode = dict(inference_mode=inference_mode)
    x = mobileone(x, embed_dims[0], 3, stride=2, name="stem_0", **mode)
    x = mobileone(x, embed_dims[0], 3, stride=2, depthwise=True, name="stem_1", **mode)
    x = mobileone(x, embed_dims[0], 1, name="stem_2", **mode)
    rates = drop_path_rates(drop_path_rate, sum(depths))
    block = 0
    levels = []  # each stage's last block (timm's feature_info)
    for i, depth in enumerate(depths):
        prefix = f"stages_{i}"
        if i > 0:
            x = large_kernel_conv(x, embed_dims[i], down_patch_size, stride=2, name=f"{prefix}_downsample_proj_0", **mode)
            x = mobileone(x, embed_dims[i], 1, name=f"{prefix}_downsample_proj_1", **mode)
        if pos_embs[i]:
            x = conditional_position_encoding(x, pos_embs[i], name=f"{prefix}_pos_emb", **mode)
        for j in range(depth):
            common = dict(mlp_ratio=mlp_ratios[i], drop_rate=proj_drop_rate, drop_path_rate=rates[block],
                          layer_scale_init_value=layer_scale_init_value, name=f"{prefix}_blocks_{j}", **mode)
            if token_mixers[i] == "repmixer":
                x = repmixer_block(x, kernel_size=repmixer_kernel_size, **common)
            else:
                x = attention_block(x, head_dim=head_dim, **common)
            block += 1
        if depth:
            levels.append((x, 2 ** (i + 2), f"{prefix}_blocks_{depth - 1}_add"))
    # timm's group_size=1: a depthwise convolution widening each channel cls_ratio times.
    x = mobileone(x, int(embed_dims[-1] * cls_ratio), 3, depthwise=True, use_se=True, name="final_conv", **mode)
    return Backbone(x, levels, drop_rate=drop_rate)


def stage_outputs(model):
    """The layer ending each stage: the last block's residual ``Add`` (found by name, so that
    it works on any FastViT, a loaded one too; the pyramid uses the levels recorded at build)."""
    names = {layer.name for layer in model.layers}
    outputs, stage = [], 0
    while any(n.startswith(f"stages_{stage}_blocks_") for n in names):
        last = max(int(n.split("_")[3]) for n in names if n.startswith(f"stages_{stage}_blocks_"))
        outputs.append(model.get_layer(f"stages_{stage}_blocks_{last}_add"))
        stage += 1
    return outputs


def features(model, out_indices=None):
    """FastViT feature pyramid: the outputs of the four stages (strides 4, 8, 16, 32: ``P2`` … ``P5``),
    indexed as timm's ``feature_info`` (default: all four)."""
    return pyramid(model, out_indices=out_indices)
