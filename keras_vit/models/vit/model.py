"""Vision Transformer (ViT).

"An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
Dosovitskiy et al., ICLR 2021 (https://arxiv.org/abs/2010.11929).

Images are cut into patches, linearly embedded, a class token is prepended, learned position
embeddings are added, and a stack of pre-norm transformer blocks runs over the sequence. The
class token (or the mean of the patch tokens) feeds a linear classifier.
"""
from keras import layers

from ...layers import ClassToken, PatchEmbedding, PositionEmbedding, TransformerBlock, drop_path_rates
from ...layers.classifier import Backbone, image_classifier
from ...layers.features import TokensToMap, pyramid, recorded_levels, rescale_map


def distillation_outputs(model):
    """A model sharing ``model``'s layers that returns ``[class_logits, distillation_logits]``.

    DeiT trains the two heads apart (the distillation head against the teacher) and averages
    them at inference; ``model`` itself returns the average. Use this view for the loss.

    Example:
        >>> student = keras_vit.create_model("deit_tiny_distilled_patch16_224", num_classes=10)
        >>> train_view = distillation_outputs(student)  # outputs: [cls_logits, dist_logits]
    """
    import keras

    try:
        heads = [model.get_layer("head").output, model.get_layer("head_dist").output]
    except ValueError as exc:
        raise ValueError(f"Model '{model.name}' has no distillation head (head_dist); use a *_distilled_* model.") from exc
    return keras.Model(model.inputs, heads, name=f"{model.name}_distillation")


@image_classifier(name="vit", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
def VisionTransformer(
    x,
    *,
    input_shape=(224, 224, 3),
    patch_size=16,
    embed_dim=768,
    depth=12,
    num_heads=12,
    mlp_ratio=4.0,
    qkv_bias=True,
    qk_scale=None,
    class_token=True,
    distilled=False,
    global_pool="token",
    fc_norm=None,
    layer_scale_init=None,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
    layer_norm_epsilon=1e-6,
):
    """Builds a ViT as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3); both multiples of ``patch_size``.
        patch_size: side of the square patches.
        embed_dim, depth, num_heads, mlp_ratio: transformer width, blocks, heads, MLP ratio.
        qkv_bias: bias in the qkv projections.
        qk_scale: attention scale override.
        class_token: prepend a class token.
        distilled: also prepend DeiT's distillation token, read by a second head.
        global_pool: ``"token"`` or ``"avg"``: what feeds the head.
        fc_norm: normalize after pooling instead of before (``None``: when pooling is avg).
        layer_scale_init: LayerScale initial value, or ``None``.
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout and stochastic
            depth (increasing linearly over blocks up to ``drop_path_rate``).
        layer_norm_epsilon: LayerNorm epsilon.
        num_classes, include_top, pooling, classifier_activation: see ``create_model``.
        include_preprocessing, mean, std, channel_order: in-model input normalization
            (default mean and std 0.5).
        name: model name.

    The head and preprocessing keywords are the shared wrapper's
    (:func:`keras_vit.layers.classifier.image_classifier`); ``VisionTransformer.backbone``
    is the backbone alone.

    Example:
        >>> model = VisionTransformer(input_shape=(32, 32, 3), patch_size=4, embed_dim=64, depth=2, num_heads=2, num_classes=10)
    """
    if global_pool not in ("token", "avg"):
        raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}.")
    if distilled and not class_token:
        raise ValueError("distilled=True needs class_token=True (DeiT prepends both tokens).")
    x = PatchEmbedding(patch_size, embed_dim, name="patch_embed")(x)
    num_prefix_tokens = 0
    if class_token:
        x = ClassToken(use_distillation_token=distilled, name="cls_token")(x)
        num_prefix_tokens = 2 if distilled else 1
    grid = PatchEmbedding.grid_size(input_shape, patch_size)
    x = PositionEmbedding(grid_size=grid, num_prefix_tokens=num_prefix_tokens, name="pos_embed")(x)
    x = layers.Dropout(drop_rate, name="pos_drop")(x)
    x, levels = transformer_blocks(
        x,
        depth,
        grid=grid,
        patch_size=patch_size,
        num_prefix_tokens=num_prefix_tokens,
        block=lambda i, rate: TransformerBlock(
            num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=rate,
            layer_scale_init=layer_scale_init,
            layer_norm_epsilon=layer_norm_epsilon,
            name=f"blocks_{i}",
        ),
        drop_path_rate=drop_path_rate,
    )
    return Backbone(
        x,
        levels,
        head="token",
        global_pool=global_pool,
        num_prefix_tokens=num_prefix_tokens,
        fc_norm=fc_norm,
        layer_norm_epsilon=layer_norm_epsilon,
        drop_rate=drop_rate,
        distilled=distilled,
    )


def transformer_blocks(x, depth, *, grid, patch_size, num_prefix_tokens, block, drop_path_rate, call=None):
    """The plain-ViT trunk that ViT, DeiT and BEiT share: ``depth`` blocks over the tokens.

    ``block(i, drop_path_rate)`` makes block ``i`` (stochastic depth rising linearly);
    ``call(block, x)`` applies it (default ``block(x)``; BEiT passes a shared bias). Returns
    the tokens and the pyramid levels: every block's output as a map (prefix tokens
    dropped) at stride ``patch_size``, from which :func:`features` picks and rescales.
    """
    rates = drop_path_rates(drop_path_rate, depth)
    levels = []
    for i in range(depth):
        layer = block(i, rates[i])
        x = layer(x) if call is None else call(layer, x)
        levels.append((TokensToMap(grid, num_prefix_tokens, name=f"{layer.name}_map")(x), patch_size, layer.name))
    return x, levels


def features(model, out_indices=None):
    """ViT/DeiT feature pyramid: four blocks as maps at strides patch/4 … patch*2.

    ``out_indices`` are block indices (default: the blocks ending each quarter of the depth,
    as ViTDet and DPT take them, e.g. 2, 5, 8, 11 of 12). The maps are raw block outputs, as
    timm's ``forward_intermediates`` returns them; block ``out_indices[k]`` is rescaled to
    stride ``patch * 2**(k-2)``.
    """
    blocks = recorded_levels(model)
    depth = len(blocks)
    indices = [depth // 4 * (k + 1) - 1 for k in range(4)] if out_indices is None else list(out_indices)
    if len(indices) > 4:
        raise ValueError(f"A plain ViT pyramid has at most 4 levels; got out_indices={tuple(indices)}.")
    levels = []
    for k, index in enumerate(indices):
        if not -depth <= index < depth:
            raise ValueError(f"out_indices {tuple(indices)}: this model has {depth} blocks.")
        fmap, patch, block = blocks[index]
        scale = 2.0 ** (k - (len(indices) - 2)) if len(indices) > 1 else 1.0
        levels.append((rescale_map(fmap, 1 / scale, name=f"{block}_rescale"), int(patch * scale), block))
    return pyramid(model, levels)
