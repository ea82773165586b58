"""EfficientViT (MIT Han Lab), the B series.

"EfficientViT: Multi-Scale Linear Attention for High-Resolution Dense Prediction",
Cai, Li, Hu, Gan & Han, ICCV 2023 (https://arxiv.org/abs/2205.14756); timm's
``efficientvit_b0`` … ``efficientvit_b3`` (``timm/models/efficientvit_mit.py``).
This is *not* Microsoft's "EfficientViT: Memory Efficient Vision Transformer with Cascaded
Group Attention" (Liu et al., CVPR 2023, timm's ``efficientvit_m*``), a different network.

A MobileNet-style convolutional network whose last two stages alternate a *context* module
and a *local* module, each residual:

- context: multi-scale ReLU linear attention (LiteMLA). A 1x1 convolution makes q, k and v
  for every head; a depthwise 5x5 and a grouped 1x1 convolution aggregate neighbouring tokens
  into a second set of heads; every head then attends globally with ``ReLU`` as its kernel
  instead of a softmax (:class:`ReLULinearAttention`), and a 1x1 convolution with
  BatchNormalization projects the heads back;
- local: an MBConv (expand 1x1, depthwise 3x3, project 1x1).

The stem is a stride-2 3x3 convolution followed by depthwise-separable residual blocks, the
first two stages are MBConvs, and the head widens the last map with a 1x1 convolution, pools
it and runs a Linear - LayerNorm - hardswish MLP before the classifier. Activations are
hardswish throughout.

Layer names follow timm's module names with ``_`` for ``.`` (``stages_2_1_context_qkv_conv``
for ``stages.2.blocks.1.context_module.main.qkv.conv``), without timm's ``blocks`` and
``main`` wrappers, so that every checkpoint key maps to one variable. BatchNormalization has
PyTorch's epsilon 1e-5; strided convolutions pad symmetrically as PyTorch does
(``ZeroPadding2D`` + ``valid``), not TensorFlow's ``same``.

ReLU linear attention has no softmax probabilities, so these models have no attention maps
for :mod:`keras_vit.visualize`.
"""
import keras
from keras import layers, ops

from ...layers import DropPath, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.conv import torch_conv
from ...layers.features import producer_name, pyramid
from ...layers.fusion import BatchNormalization
from ...layers.head import MAP_POOLING, classifier


@keras.saving.register_keras_serializable(package="keras_vit")
class ReLULinearAttention(layers.Layer):
    """EfficientViT's global attention with a ReLU kernel, on a map of per-head q, k, v.

    Input: ``(B, H, W, G * 3 * head_dim)``, the channels of each of the ``G`` heads being its
    q, k and v (timm's LiteMLA order). Each head computes
    ``out = ReLU(q) (ReLU(k)^T [v, 1]) / (ReLU(q) ReLU(k)^T 1 + eps)`` over all ``H * W`` tokens
    in linear time (keys and values are summed first). Output: ``(B, H, W, G * head_dim)``.

    The products and the division run in float32 whatever the compute dtype (timm turns
    autocast off there): the sums over tokens overflow float16. No parameters; there are no
    attention probabilities to return.

    Args:
        head_dim: channels of each of q, k and v per head.
        epsilon: added to the normalizer.

    Example:
        >>> out = ReLULinearAttention(16)(qkv)  # (B, 14, 14, 8 * 48) -> (B, 14, 14, 8 * 16)
    """

    def __init__(self, head_dim, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.head_dim = int(head_dim)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(f"{self.name}: needs a (batch, height, width, channels) map of fixed size, got {input_shape}.")
        if input_shape[-1] % (3 * self.head_dim):
            raise ValueError(f"{self.name}: {input_shape[-1]} channels are not heads of q, k, v of {self.head_dim} channels each.")

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        d = self.head_dim
        heads = c // (3 * d)
        x = ops.cast(x, "float32")
        x = ops.transpose(ops.reshape(x, (-1, h * w, heads, 3 * d)), (0, 2, 1, 3))  # (B, G, N, 3d)
        q, k, v = ops.relu(x[..., :d]), ops.relu(x[..., d:2 * d]), x[..., 2 * d:]
        k_t = ops.transpose(k, (0, 1, 3, 2))  # (B, G, d, N)
        # k^T [v, 1]: the ones column of timm's padded v is the sum of k over the tokens.
        kv = ops.concatenate([ops.matmul(k_t, v), ops.sum(k_t, axis=-1, keepdims=True)], axis=-1)
        out = ops.matmul(q, kv)  # (B, G, N, d + 1)
        out = out[..., :d] / (out[..., d:] + self.epsilon)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, h, w, heads * d))
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // 3,)

    def get_config(self):
        config = super().get_config()
        config.update({"head_dim": self.head_dim, "epsilon": self.epsilon})
        return config


def _hardswish(x, name):
    return layers.Activation("hard_swish", name=name)(x)


def conv_norm_act(x, filters, kernel_size, *, name, stride=1, depthwise=False, use_bias=False, norm=True, activation=True):
    """timm's ConvNormAct: ``{name}_conv``, optional ``{name}_norm`` (BatchNorm) and ``{name}_act`` (hardswish)."""
    x = torch_conv(x, filters, kernel_size, stride=stride, depthwise=depthwise, use_bias=use_bias, name=f"{name}_conv",
                   pad_name=f"{name}_pad")
    if norm:
        x = BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_norm")(x)
    if activation:
        x = _hardswish(x, f"{name}_act")
    return x


def residual(shortcut, x, drop_path_rate, name):
    if drop_path_rate:
        x = DropPath(drop_path_rate, name=f"{name}_drop_path")(x)
    return layers.Add(name=f"{name}_add")([shortcut, x])


def ds_conv(x, *, name):
    """Depthwise-separable block of the stem: depthwise 3x3 (BN, hardswish), pointwise 1x1 (BN)."""
    y = conv_norm_act(x, None, 3, depthwise=True, name=f"{name}_depth_conv")
    return conv_norm_act(y, x.shape[-1], 1, activation=False, name=f"{name}_point_conv")


def mb_conv(x, out_channels, *, stride, expand_ratio, fewer_norm, name):
    """MBConv: expand 1x1, depthwise 3x3, project 1x1 (BN, no activation).

    ``fewer_norm`` (the attention stages): the first two convolutions have a bias and no
    BatchNormalization.
    """
    mid = round(x.shape[-1] * expand_ratio)
    x = conv_norm_act(x, mid, 1, use_bias=fewer_norm, norm=not fewer_norm, name=f"{name}_inverted_conv")
    x = conv_norm_act(x, mid, 3, stride=stride, depthwise=True, use_bias=fewer_norm, norm=not fewer_norm, name=f"{name}_depth_conv")
    return conv_norm_act(x, out_channels, 1, activation=False, name=f"{name}_point_conv")


def lite_mla(x, *, head_dim, scales=(5,), epsilon=1e-5, name):
    """timm's LiteMLA: qkv 1x1, multi-scale aggregation, ReLU linear attention, projection 1x1 + BN."""
    channels = x.shape[-1]
    heads = channels // head_dim
    total = heads * head_dim
    qkv = layers.Conv2D(3 * total, 1, use_bias=False, name=f"{name}_qkv_conv")(x)
    multi_scale = [qkv]
    for i, scale in enumerate(scales):
        # Depthwise over space, then a 1x1 within each head's q, k or v (groups of head_dim).
        y = layers.DepthwiseConv2D(scale, padding="same", use_bias=False, name=f"{name}_aggreg_{i}_0")(qkv)
        y = layers.Conv2D(3 * total, 1, groups=3 * heads, use_bias=False, name=f"{name}_aggreg_{i}_1")(y)
        multi_scale.append(y)
    y = layers.Concatenate(name=f"{name}_concat")(multi_scale)
    y = ReLULinearAttention(head_dim, epsilon=epsilon, name=f"{name}_attn")(y)
    return conv_norm_act(y, channels, 1, activation=False, name=f"{name}_proj")


def efficientvit_block(x, *, head_dim, expand_ratio, drop_path_rates, name):
    """Context module (LiteMLA) then local module (MBConv), each with an identity shortcut."""
    x = residual(x, lite_mla(x, head_dim=head_dim, name=f"{name}_context"), drop_path_rates[0], f"{name}_context")
    y = mb_conv(x, x.shape[-1], stride=1, expand_ratio=expand_ratio, fewer_norm=True, name=f"{name}_local")
    return residual(x, y, drop_path_rates[1], f"{name}_local")


def efficientvit_head(x, *, head_widths, num_classes, include_top, pooling, drop_rate, classifier_activation):
    """timm's ClassifierHead: 1x1 conv (BN, hardswish), pooling, Linear - LayerNorm - hardswish, classifier.

    ``include_top=False`` with ``pooling=None`` returns the last stage's map (timm's
    ``forward_features``); with a pooling it returns the pre-logits (timm's ``num_classes=0``).
    """
    if pooling not in (None,) + MAP_POOLING:
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")
    pool = pooling or ("avg" if include_top else None)
    if pool is None:
        return x
    x = conv_norm_act(x, head_widths[0], 1, name="head_in_conv")
    pool_layer = layers.GlobalAveragePooling2D if pool == "avg" else layers.GlobalMaxPooling2D
    x = pool_layer(name="pool")(x)
    x = layers.Dense(head_widths[1], use_bias=False, name="head_fc")(x)
    x = layers.LayerNormalization(epsilon=1e-5, name="head_norm")(x)
    x = _hardswish(x, "head_act")
    if include_top and num_classes:
        x = classifier(x, num_classes, drop_rate=drop_rate, classifier_activation=classifier_activation)
    return x


@image_classifier(name="efficientvit", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
def EfficientViT(
    x,
    *,
    input_shape=(224, 224, 3),
    widths=(8, 16, 32, 64, 128),
    depths=(1, 2, 2, 2, 2),
    head_dim=16,
    expand_ratio=4.0,
    head_widths=(1024, 1280),
    drop_rate=0.0,
    drop_path_rate=0.0,
):
    """Builds an EfficientViT (MIT, B series) as a functional ``keras.Model``.

    Cai et al., "EfficientViT: Multi-Scale Linear Attention for High-Resolution Dense
    Prediction", ICCV 2023; not Microsoft's cascaded-group-attention EfficientViT
    (``efficientvit_m*``). See the module docstring for the architecture. Its attention is a
    ReLU linear attention without softmax probabilities: there are no attention maps.

    Args:
        input_shape: (height, width, 3), fixed; multiples of 32 give whole maps in every stage.
        widths: channels of the stem and of the four stages.
        depths: residual blocks of the stem, MBConvs of stages 0-1 (the first one strided) and
            EfficientViT blocks of stages 2-3 (after a strided MBConv).
        head_dim: channels of q, k and v per attention head (heads = width // head_dim).
        expand_ratio: MBConv expansion.
        head_widths: the head's 1x1 convolution width and its hidden Linear width.
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth over the residual branches of stages 0-3, rising
            linearly (timm's EfficientViT has none; 0 reproduces it).
        num_classes, include_top, pooling, classifier_activation: see ``create_model``;
            ``include_top=False`` with ``pooling=None`` returns the last stage's map, with
            ``"avg"``/``"max"`` the pre-logits features (``head_widths[1]`` wide).
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = EfficientViT(input_shape=(224, 224, 3), widths=(8, 16, 32, 64, 128),
        ...                      depths=(1, 2, 2, 2, 2), head_dim=16, head_widths=(1024, 1280))
    """
    if len(widths) != 5 or len(depths) != 5:
        raise ValueError(f"EfficientViT has a stem and 4 stages: 5 widths and 5 depths, got {widths} and {depths}.")
    if min(depths[1:3]) < 1:
        raise ValueError(f"Stages 0 and 1 need at least their strided MBConv (depth >= 1), got depths {depths}.")
    for width in widths[3:]:
        if width % head_dim:
            raise ValueError(f"The attention stages' widths {widths[3:]} must be multiples of head_dim={head_dim}.")
    if len(head_widths) != 2:
        raise ValueError(f"head_widths is (conv width, hidden Linear width), got {head_widths}.")
    x = conv_norm_act(x, widths[0], 3, stride=2, name="stem_in_conv")
    for i in range(depths[0]):
        x = layers.Add(name=f"stem_res{i}_add")([x, ds_conv(x, name=f"stem_res{i}")])
    # Residual branches with identity shortcuts: MBConvs after the first of stages 0-1, and
    # both modules of every EfficientViT block.
    branches = [depths[1] - 1, depths[2] - 1, 2 * depths[3], 2 * depths[4]]
    rates = drop_path_rates(drop_path_rate, sum(branches))
    levels = []  # the stage outputs (timm's feature_info: stages.0 … stages.3)
    for stage in range(4):
        width, depth, vit_stage = widths[stage + 1], depths[stage + 1], stage >= 2
        stage_rates = rates[sum(branches[:stage]):sum(branches[:stage + 1])]
        prefix = f"stages_{stage}"
        x = mb_conv(x, width, stride=2, expand_ratio=expand_ratio, fewer_norm=vit_stage, name=f"{prefix}_0")
        if vit_stage:
            for b in range(depth):
                x = efficientvit_block(
                    x, head_dim=head_dim, expand_ratio=expand_ratio, drop_path_rates=stage_rates[2 * b:2 * b + 2], name=f"{prefix}_{b + 1}",
                )
        else:
            for b in range(1, depth):
                y = mb_conv(x, width, stride=1, expand_ratio=expand_ratio, fewer_norm=False, name=f"{prefix}_{b}")
                x = residual(x, y, stage_rates[b - 1], f"{prefix}_{b}")
        levels.append((x, 2 ** (stage + 2), producer_name(x)))
    return Backbone(x, levels, head=efficientvit_head, head_widths=head_widths, drop_rate=drop_rate)


def features(model, out_indices=None):
    """EfficientViT feature pyramid: the outputs of stages 0 … 3 (strides 4, 8, 16, 32).

    As timm's ``feature_info`` (``stages.0`` … ``stages.3``); ``out_indices`` index that list
    (default all four: ``P2`` … ``P5``).
    """
    return pyramid(model, out_indices=out_indices)
