"""Vision Transformer (ViT).

"An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
Dosovitskiy et al., ICLR 2021 (https://arxiv.org/abs/2010.11929).

Images are cut into patches, linearly embedded, a class token is prepended, learned position
embeddings are added, and a stack of pre-norm transformer blocks runs over the sequence. The
class token (or the mean of the patch tokens) feeds a linear classifier.
"""
import keras
from keras import layers

from ...layers import ClassToken, PatchEmbedding, PositionEmbedding, Preprocessing, TokenPooling, TransformerBlock


def _classifier(x, num_classes, drop_rate, name):
    x = layers.Dropout(drop_rate, name=f"{name}_drop")(x)
    # Logits in float32 even under a mixed-precision policy, for a stable loss.
    return layers.Dense(num_classes, name=name, dtype="float32")(x)


def build_head(x, *, num_classes, include_top, pooling, global_pool, num_prefix_tokens, fc_norm, layer_norm_epsilon, drop_rate, classifier_activation, distilled=False):
    """Final norm, pooling and classifier shared by the token-sequence families.

    ``fc_norm`` follows timm: the final LayerNorm is applied after average pooling instead
    of before it. ``distilled`` (DeiT): a second head reads the distillation token and the
    output is the mean of both heads' logits, as the DeiT reference does at inference.
    """
    pool = pooling or (global_pool if include_top else None)
    use_fc_norm = (pool == "avg") if fc_norm is None else fc_norm
    if not use_fc_norm:
        x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="norm")(x)
    if pool is None:
        return x
    if distilled and pool == "token":
        cls_features = TokenPooling("token", num_prefix_tokens=num_prefix_tokens, name="pool")(x)
        dist_features = TokenPooling("token", num_prefix_tokens=num_prefix_tokens, token_index=1, name="pool_dist")(x)
        if not include_top or not num_classes:
            return layers.Average(name="pre_logits")([cls_features, dist_features])
        logits = _classifier(cls_features, num_classes, drop_rate, "head")
        dist_logits = _classifier(dist_features, num_classes, drop_rate, "head_dist")
        x = layers.Average(name="logits", dtype="float32")([logits, dist_logits])
    else:
        x = TokenPooling(pool, num_prefix_tokens=num_prefix_tokens, name="pool")(x)
        if use_fc_norm:
            x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="fc_norm")(x)
        if not include_top or not num_classes:
            return x
        x = _classifier(x, num_classes, drop_rate, "head")
    if classifier_activation is not None:
        x = layers.Activation(classifier_activation, name="predictions", dtype="float32")(x)
    return x


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


def VisionTransformer(
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
    num_classes=1000,
    include_top=True,
    include_preprocessing=True,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    channel_order="rgb",
    pooling=None,
    classifier_activation=None,
    name="vit",
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
        include_preprocessing, mean, std, channel_order: in-model input normalization.
        name: model name.

    Example:
        >>> model = VisionTransformer(input_shape=(32, 32, 3), patch_size=4, embed_dim=64, depth=2, num_heads=2, num_classes=10)
    """
    if global_pool not in ("token", "avg"):
        raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}.")
    if pooling not in (None, "token", "avg"):
        raise ValueError(f"pooling must be None, 'token' or 'avg', got {pooling!r}.")
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if include_preprocessing:
        x = Preprocessing(mean=mean, std=std, channel_order=channel_order, name="preprocessing")(x)
    x = PatchEmbedding(patch_size, embed_dim, name="patch_embed")(x)
    num_prefix_tokens = 0
    if distilled and not class_token:
        raise ValueError("distilled=True needs class_token=True (DeiT prepends both tokens).")
    if class_token:
        x = ClassToken(use_distillation_token=distilled, name="cls_token")(x)
        num_prefix_tokens = 2 if distilled else 1
    x = PositionEmbedding(name="pos_embed")(x)
    x = layers.Dropout(drop_rate, name="pos_drop")(x)
    for i in range(depth):
        x = TransformerBlock(
            num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate * i / max(depth - 1, 1),
            layer_scale_init=layer_scale_init,
            layer_norm_epsilon=layer_norm_epsilon,
            name=f"blocks_{i}",
        )(x)
    outputs = build_head(
        x,
        num_classes=num_classes,
        include_top=include_top,
        pooling=pooling,
        global_pool=global_pool,
        num_prefix_tokens=num_prefix_tokens,
        fc_norm=fc_norm,
        layer_norm_epsilon=layer_norm_epsilon,
        drop_rate=drop_rate,
        classifier_activation=classifier_activation,
        distilled=distilled,
    )
    return keras.Model(inputs, outputs, name=name)
