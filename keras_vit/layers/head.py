"""Model pieces every family builder shares: the input prologue, the head and the
stochastic-depth schedule."""
import keras
from keras import layers

from .pooling import TokenPooling
from .preprocessing import Preprocessing

MAP_POOLING = ("avg", "max")


def image_input(input_shape, *, include_preprocessing=True, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), channel_order="rgb"):
    """The model input ``images`` and, with ``include_preprocessing``, its normalization.

    Returns:
        ``(inputs, x)``: the ``keras.Input`` and the tensor the network starts from.
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if include_preprocessing:
        x = Preprocessing(mean=mean, std=std, channel_order=channel_order, name="preprocessing")(x)
    return inputs, x


def drop_path_rates(drop_path_rate, count):
    """Stochastic depth rising linearly from 0 to ``drop_path_rate`` over ``count`` blocks."""
    return [drop_path_rate * i / max(count - 1, 1) for i in range(count)]


def classifier(x, num_classes, *, drop_rate=0.0, classifier_activation=None, name="head"):
    """Dropout, a Dense classifier with float32 logits, and an optional activation.

    Logits are float32 even under a mixed-precision policy, for a stable loss.
    """
    x = layers.Dropout(drop_rate, name=f"{name}_drop")(x)
    x = layers.Dense(num_classes, name=name, dtype="float32")(x)
    return with_activation(x, classifier_activation)


def with_activation(x, classifier_activation):
    if classifier_activation is None:
        return x
    return layers.Activation(classifier_activation, name="predictions", dtype="float32")(x)


def map_head(x, *, num_classes, include_top, pooling, drop_rate=0.0, classifier_activation=None):
    """Head of a network ending in a ``(B, H, W, C)`` map: global pooling, then the classifier.

    ``include_top=False`` with ``pooling=None`` returns the map itself.
    """
    if pooling not in (None,) + MAP_POOLING:
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")
    pool = pooling or ("avg" if include_top else None)
    if pool is not None:
        pool_layer = layers.GlobalAveragePooling2D if pool == "avg" else layers.GlobalMaxPooling2D
        x = pool_layer(name="pool")(x)
    if include_top and num_classes:
        x = classifier(x, num_classes, drop_rate=drop_rate, classifier_activation=classifier_activation)
    return x


def token_head(x, *, num_classes, include_top, pooling, global_pool, num_prefix_tokens, fc_norm, layer_norm_epsilon, drop_rate, classifier_activation, distilled=False, final_norm=True):
    """Final norm, pooling and classifier of a network ending in a token sequence.

    ``fc_norm`` follows timm: the final LayerNorm is applied after average pooling instead
    of before it (``None``: when pooling is avg). ``distilled`` (DeiT): a second head reads the
    distillation token and the output is the mean of both heads' logits, as the DeiT reference
    does at inference. ``include_top=False`` with ``pooling=None`` returns the normalized tokens.
    ``final_norm=False``: the backbone applied the final norm itself (PVT, whose last pyramid
    level is the normalized tokens).
    """
    if pooling not in (None, "token", "avg"):
        raise ValueError(f"pooling must be None, 'token' or 'avg', got {pooling!r}.")
    pool = pooling or (global_pool if include_top else None)
    use_fc_norm = (pool == "avg") if fc_norm is None else fc_norm
    if not use_fc_norm and final_norm:
        x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="norm")(x)
    if pool is None:
        return x
    if distilled and pool == "token":
        cls_features = TokenPooling("token", num_prefix_tokens=num_prefix_tokens, name="pool")(x)
        dist_features = TokenPooling("token", num_prefix_tokens=num_prefix_tokens, token_index=1, name="pool_dist")(x)
        if not include_top or not num_classes:
            return layers.Average(name="pre_logits")([cls_features, dist_features])
        logits = classifier(cls_features, num_classes, drop_rate=drop_rate, name="head")
        dist_logits = classifier(dist_features, num_classes, drop_rate=drop_rate, name="head_dist")
        x = layers.Average(name="logits", dtype="float32")([logits, dist_logits])
        return with_activation(x, classifier_activation)
    x = TokenPooling(pool, num_prefix_tokens=num_prefix_tokens, name="pool")(x)
    if use_fc_norm:
        x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="fc_norm")(x)
    if not include_top or not num_classes:
        return x
    return classifier(x, num_classes, drop_rate=drop_rate, classifier_activation=classifier_activation)
