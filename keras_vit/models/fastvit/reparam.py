"""Structural re-parameterization of FastViT: the training form's weights folded into the
inference form's (RepVGG, Ding et al. 2021; MobileOne and FastViT, Vasu et al. 2023).

Every fold is exact arithmetic on the weights (BatchNorm with its running statistics, in
inference mode):

- conv + BN -> conv with bias: ``k * s``, ``beta - mean * s`` with ``s = gamma / sqrt(var + eps)``;
- parallel branches summed into one kernel: a 1 x 1 "scale" or 3 x 3 "small" branch is
  zero-padded to the large kernel, a BN "identity" branch is an identity kernel times ``s``;
- RepMixer ``x + g * (mixer(x) - norm(x))`` -> ``identity + g * (K_mixer - K_norm)``;
- conditional position encoding ``x + dwconv(x)`` -> ``identity + K``;
- a layer scale after a convolution or projection multiplies its output channels;
- the attention block's BatchNorm before ``qkv`` becomes ``qkv``'s kernel rows and a bias.

:func:`fold_arrays` works on ``{variable path: array}`` dicts in our names, so the same code
folds a Keras model (:func:`reparameterize`) and completes timm's own re-parameterized
checkpoints, which keep the ConvFFN's BatchNorm and the layer scales apart.
"""
import numpy as np
from keras import layers

from ...layers import Attention
from ...weights.loading import assign_weights
from .model import BN_EPSILON, FastViT, stage_outputs


def _bn(arrays, prefix, epsilon=BN_EPSILON):
    """Pops a BatchNorm's variables; returns its inference affine ``(scale, shift)``."""
    gamma, beta = arrays.pop(f"{prefix}/gamma"), arrays.pop(f"{prefix}/beta")
    mean, var = arrays.pop(f"{prefix}/moving_mean"), arrays.pop(f"{prefix}/moving_variance")
    scale = gamma / np.sqrt(var + epsilon)
    return scale, beta - mean * scale


def _scale_outputs(kernel, scale):
    """``kernel`` times ``scale`` per output channel, for Conv2D ``(kh, kw, in, out)`` and
    DepthwiseConv2D ``(kh, kw, C, multiplier)`` kernels (output channel ``c * m + j``)."""
    if scale.size == kernel.shape[3]:
        return kernel * scale
    return kernel * scale.reshape(kernel.shape[2], kernel.shape[3])


def _pad_to(kernel, size):
    pad = (size - kernel.shape[0]) // 2
    return np.pad(kernel, ((pad, pad), (pad, pad), (0, 0), (0, 0)))


def _identity(shape):
    """The kernel of ``y = x`` with the layout ``shape`` (Conv2D or DepthwiseConv2D)."""
    kernel = np.zeros(shape, np.float32)
    c = shape[0] // 2
    if shape[3] == 1 and shape[2] > 1:  # depthwise
        kernel[c, c, :, 0] = 1.0
    else:
        kernel[c, c] = np.eye(shape[2], shape[3], dtype=np.float32)
    return kernel


def _conv_bn(arrays, prefix):
    """``{prefix}_conv`` followed by ``{prefix}_bn`` -> (kernel, bias)."""
    kernel = arrays.pop(f"{prefix}_conv/kernel")
    scale, shift = _bn(arrays, f"{prefix}_bn")
    return _scale_outputs(kernel, scale), shift


def _mobileone(arrays, prefix):
    """The MobileOne branches of ``prefix`` (kxk, scale, identity) -> one (kernel, bias)."""
    kernel, bias = _conv_bn(arrays, f"{prefix}_conv_kxk_0")
    if f"{prefix}_conv_scale_conv/kernel" in arrays:
        k, b = _conv_bn(arrays, f"{prefix}_conv_scale")
        kernel, bias = kernel + _pad_to(k, kernel.shape[0]), bias + b
    if f"{prefix}_identity/gamma" in arrays:
        scale, shift = _bn(arrays, f"{prefix}_identity")
        kernel, bias = kernel + _scale_outputs(_identity(kernel.shape), scale), bias + shift
    return kernel, bias


def _prefixes(arrays, suffix):
    return sorted(k[: -len(suffix)] for k in arrays if k.endswith(suffix))


def fold_arrays(arrays):
    """Training-form FastViT variables -> the folded form's, by name; other variables pass through.

    Args:
        arrays: ``{variable path: array}`` of a training-form model (BatchNorm statistics
            included), or a partly folded set (timm's re-parameterized checkpoints).

    Returns:
        A new dict for the ``inference_mode=True`` model of the same configuration.
    """
    arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
    out = {}
    for p in _prefixes(arrays, "_norm_identity/gamma"):  # RepMixer: p is "..._token_mixer"
        kernel, bias = _mobileone(arrays, f"{p}_mixer")
        scale, shift = _bn(arrays, f"{p}_norm_identity")
        gamma = arrays.pop(f"{p}_layer_scale/gamma")
        norm = _scale_outputs(_identity(kernel.shape), scale)
        out[f"{p}_reparam_conv/kernel"] = _identity(kernel.shape) + _scale_outputs(kernel - norm, gamma)
        out[f"{p}_reparam_conv/bias"] = gamma * (bias - shift)
    for p in _prefixes(arrays, "_conv_kxk_0_conv/kernel"):  # stem, downsampling 1 x 1, final conv
        out[f"{p}_reparam_conv/kernel"], out[f"{p}_reparam_conv/bias"] = _mobileone(arrays, p)
    for p in _prefixes(arrays, "_large_conv_conv/kernel"):
        kernel, bias = _conv_bn(arrays, f"{p}_large_conv")
        small, small_bias = _conv_bn(arrays, f"{p}_small_conv")
        out[f"{p}_reparam_conv/kernel"] = kernel + _pad_to(small, kernel.shape[0])
        out[f"{p}_reparam_conv/bias"] = bias + small_bias
    for p in _prefixes(arrays, "_pos_enc/kernel"):
        kernel = arrays.pop(f"{p}_pos_enc/kernel")
        out[f"{p}_reparam_conv/kernel"] = kernel + _identity(kernel.shape)
        out[f"{p}_reparam_conv/bias"] = arrays.pop(f"{p}_pos_enc/bias")
    for p in _prefixes(arrays, "_mlp_conv_conv/kernel"):
        out[f"{p}_mlp_conv/kernel"], out[f"{p}_mlp_conv/bias"] = _conv_bn(arrays, f"{p}_mlp_conv")
    for p in _prefixes(arrays, "_token_mixer/qkv/kernel"):  # attention blocks
        if f"{p}_norm/gamma" in arrays:
            scale, shift = _bn(arrays, f"{p}_norm")
            qkv = arrays.pop(f"{p}_token_mixer/qkv/kernel")
            out[f"{p}_token_mixer/qkv/kernel"] = qkv * scale[:, None]
            out[f"{p}_token_mixer/qkv/bias"] = shift @ qkv + arrays.pop(f"{p}_token_mixer/qkv/bias", 0.0)
    scaled = {"_layer_scale": "_mlp_fc2", "_layer_scale_1": "_token_mixer/proj", "_layer_scale_2": "_mlp_fc2"}
    for suffix, target in scaled.items():
        for p in _prefixes(arrays, f"{suffix}/gamma"):
            gamma = arrays.pop(f"{p}{suffix}/gamma")
            for name in ("kernel", "bias"):
                out[f"{p}{target}/{name}"] = arrays.pop(f"{p}{target}/{name}") * gamma
    out.update(arrays)
    return out


def is_folded(model):
    """True for an ``inference_mode=True`` FastViT, False for the training form."""
    names = {layer.name for layer in model.layers}
    if "stem_0_reparam_conv" in names:
        return True
    if "stem_0_add" in names:
        return False
    raise ValueError(f"Model '{model.name}' is not a FastViT (no layer stem_0_add or stem_0_reparam_conv).")


def _layer(model, *names):
    found = {layer.name: layer for layer in model.layers}
    return next((found[n] for n in names if n in found), None)


def model_config(model):
    """The :func:`FastViT` keywords that build ``model``'s graph, read from its layers.

    Works for either form and for models reloaded from ``.keras`` files.
    """
    stages = stage_outputs(model)
    embed_dims = tuple(int(layer.output.shape[-1]) for layer in stages)
    depths = tuple(int(layer.name.split("_")[3]) + 1 for layer in stages)
    config = dict(input_shape=tuple(model.input_shape[1:]), depths=depths, embed_dims=embed_dims, name=model.name)
    config["mlp_ratios"] = tuple(model.get_layer(f"stages_{i}_blocks_0_mlp_fc1").filters / d for i, d in enumerate(embed_dims))
    mixers, pos_embs, head_dim = [], [], 32
    for i in range(len(stages)):
        mixer = _layer(model, f"stages_{i}_blocks_0_token_mixer")
        mixers.append("attention" if isinstance(mixer, Attention) else "repmixer")
        if isinstance(mixer, Attention):
            head_dim = embed_dims[i] // mixer.num_heads
        cpe = _layer(model, f"stages_{i}_pos_emb_pos_enc", f"stages_{i}_pos_emb_reparam_conv")
        pos_embs.append(cpe.kernel_size[0] if cpe is not None else None)
    config.update(token_mixers=tuple(mixers), pos_embs=tuple(pos_embs), head_dim=head_dim)
    for i, mixer in enumerate(mixers):
        if mixer == "repmixer":
            conv = _layer(model, f"stages_{i}_blocks_0_token_mixer_mixer_conv_kxk_0_conv", f"stages_{i}_blocks_0_token_mixer_reparam_conv")
            config["repmixer_kernel_size"] = conv.kernel_size[0]
            break
    down = _layer(model, "stages_1_downsample_proj_0_large_conv_conv", "stages_1_downsample_proj_0_reparam_conv")
    if down is not None:
        config["down_patch_size"] = down.kernel_size[0]
    final = _layer(model, "final_conv_conv_kxk_0_conv", "final_conv_reparam_conv")
    config["cls_ratio"] = final.output.shape[-1] / embed_dims[-1]
    scale = next((layer for layer in model.layers if layer.__class__.__name__ == "LayerScale"), None)
    if scale is not None:
        config["layer_scale_init_value"] = scale.init_value
    drop = _layer(model, "stages_0_blocks_0_mlp_drop1")
    config["proj_drop_rate"] = drop.rate if drop is not None else 0.0
    config["drop_path_rate"] = max([layer.rate for layer in model.layers if layer.__class__.__name__ == "DropPath"], default=0.0)
    preprocessing = _layer(model, "preprocessing")
    config["include_preprocessing"] = preprocessing is not None
    if preprocessing is not None:
        config.update(mean=preprocessing.mean, std=preprocessing.std, channel_order=preprocessing.channel_order)
    head, pool = _layer(model, "head"), _layer(model, "pool")
    config["include_top"] = head is not None
    config["num_classes"] = head.units if head is not None else 0
    config["pooling"] = None if pool is None else ("max" if isinstance(pool, layers.GlobalMaxPooling2D) else "avg")
    head_drop = _layer(model, "head_drop")
    config["drop_rate"] = head_drop.rate if head_drop is not None else 0.0
    activation = _layer(model, "predictions")
    config["classifier_activation"] = activation.get_config()["activation"] if activation is not None else None
    return config


def reparameterize(model):
    """The folded (inference) form of a training-form FastViT, with the same outputs.

    Every MobileOne block, large-kernel downsampling, RepMixer and position encoding becomes
    one convolution with bias; the ConvFFN's BatchNorm folds into its depthwise convolution,
    the attention's BatchNorm into ``qkv``, and the layer scales into ``fc2``/``proj``. Logits
    equal the training form's in inference up to float32 rounding. A folded model is
    returned as it is. Exports (``keras_vit.tflite.export_model``) fold by default.

    Args:
        model: a FastViT from ``create_model("fastvit_*")`` or :func:`FastViT` (or reloaded
            from ``.keras``), classifier or headless.

    Returns:
        A new ``keras.Model`` built with ``inference_mode=True``; ``model`` is unchanged.

    Example:
        >>> model = keras_vit.create_model("fastvit_t8", weights="default")
        >>> deployable = reparameterize(model)
    """
    if is_folded(model):
        return model
    folded = FastViT(inference_mode=True, **model_config(model))
    arrays = {v.path: np.asarray(v.numpy()) for v in model.weights if "seed_generator" not in v.path}
    assign_weights(folded, fold_arrays(arrays), source="folded training-form FastViT")
    return folded
