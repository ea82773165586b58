"""Backbone and image classifier: the one place that adds the input prologue and the head.

keras-hub splits a model into a Backbone, an ImageConverter (preprocessing) and an
ImageClassifier (head). We do the same with functions: a family writes its **backbone**,
a function from the prologue's output ``x`` to a :class:`Backbone` (the tokens or map the
head reads, the feature pyramid recorded while it was built, and what the head needs to know),
and decorates it with :func:`image_classifier`. The decorated function is the family's public
builder: it takes the backbone's keywords plus the head and preprocessing keywords
(:data:`HEAD_KEYWORDS`, defaults in :data:`HEAD_DEFAULTS`, the family giving only its
normalization ``mean``/``std`` and model ``name``), validates them once, and returns the
functional ``keras.Model``.

Example:
    >>> @image_classifier(name="tiny", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    ... def Tiny(x, *, input_shape=(32, 32, 3), width=8, drop_rate=0.0):
    ...     x = keras.layers.Conv2D(width, 3, strides=2, name="stem")(x)
    ...     return Backbone(x, levels=[(x, 2, "stem")], drop_rate=drop_rate)
    >>> model = Tiny(width=16, num_classes=10)        # a classifier
    >>> pyramid(Tiny(include_top=False))               # the feature pyramid
"""
import functools
import inspect
import numbers

import keras

from .head import image_input, map_head, token_head

# The head and preprocessing keywords every builder takes, with their defaults
# (``mean``/``std`` have none: the family gives the normalization its weights expect).
HEAD_DEFAULTS = {
    "num_classes": 1000,
    "include_top": True,
    "include_preprocessing": True,
    "mean": None,
    "std": None,
    "channel_order": "rgb",
    "pooling": None,
    "classifier_activation": None,
}
HEAD_KEYWORDS = tuple(HEAD_DEFAULTS)


class Backbone:
    """What a family's backbone function returns to :func:`image_classifier`.

    Args:
        output: the tensor the head reads: a ``(B, H, W, C)`` map or ``(B, N, C)`` tokens.
        levels: the feature pyramid, recorded while building: a list of
            ``(tensor, reduction, layer_name)`` as :func:`keras_vit.layers.features.pyramid`
            takes them (the family's ``features`` picks from it).
        head: ``"map"`` (:func:`map_head`: global pooling and a classifier), ``"token"``
            (:func:`token_head`: final norm, token pooling and a classifier), or a callable
            ``head(output, *, num_classes, include_top, pooling, classifier_activation)``
            for a family whose head differs (the hook for it; no copy of the shared code).
        **head_options: further keywords of the head: ``drop_rate`` (dropout before the
            classifier); for ``"token"`` also ``global_pool``, ``num_prefix_tokens``,
            ``fc_norm``, ``layer_norm_epsilon``, ``distilled``.
    """

    def __init__(self, output, levels=(), *, head="map", **head_options):
        if head not in ("map", "token") and not callable(head):
            raise ValueError(f"head must be 'map', 'token' or a callable, got {head!r}.")
        self.output = output
        self.levels = list(levels)
        self.head = head
        self.head_options = head_options

    def add_head(self, *, num_classes, include_top, pooling, classifier_activation):
        keywords = dict(num_classes=num_classes, include_top=include_top, pooling=pooling, classifier_activation=classifier_activation)
        if self.head == "map":
            return map_head(self.output, **keywords, **self.head_options)
        if self.head == "token":
            return token_head(self.output, **keywords, **self.head_options)
        return self.head(self.output, **keywords, **self.head_options)


def check_head_keywords(num_classes, include_top, include_preprocessing, channel_order, classifier_activation):
    """Validates the head keywords every builder shares (``pooling`` is checked by the head,
    ``mean``/``std`` by :class:`~keras_vit.layers.Preprocessing`)."""
    if num_classes is not None and (not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) or num_classes < 0):
        raise ValueError(f"num_classes must be an integer >= 0 (0: no classifier), got {num_classes!r}.")
    for key, value in (("include_top", include_top), ("include_preprocessing", include_preprocessing)):
        if not isinstance(value, (bool, numbers.Integral)):
            raise ValueError(f"{key} must be True or False, got {value!r}.")
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}.")
    if classifier_activation is not None and not isinstance(classifier_activation, str) and not callable(classifier_activation):
        raise ValueError(f"classifier_activation must be None, an activation name or a callable, got {classifier_activation!r}.")


def build_classifier(backbone_fn, *, input_shape, name, num_classes, include_top, include_preprocessing, mean, std, channel_order, pooling, classifier_activation, **backbone_kwargs):
    """Prologue, ``backbone_fn(x, input_shape=..., **backbone_kwargs)``, head: the model.

    The model records the backbone's pyramid levels (read by
    :func:`keras_vit.layers.features.pyramid`).
    """
    check_head_keywords(num_classes, include_top, include_preprocessing, channel_order, classifier_activation)
    inputs, x = image_input(input_shape, include_preprocessing=include_preprocessing, mean=mean, std=std, channel_order=channel_order)
    backbone = backbone_fn(x, input_shape=input_shape, **backbone_kwargs)
    if not isinstance(backbone, Backbone):
        raise TypeError(f"{backbone_fn.__name__} must return a Backbone, got {type(backbone).__name__}.")
    outputs = backbone.add_head(num_classes=num_classes, include_top=include_top, pooling=pooling, classifier_activation=classifier_activation)
    model = keras.Model(inputs, outputs, name=name)
    # A plain attribute: the tensors belong to this model's graph (``features_only`` builds
    # the pyramid model from them right away). A model loaded from a file has none.
    model.pyramid_levels = tuple(backbone.levels)
    return model


def image_classifier(*, name, mean, std):
    """Decorator: turns a family's backbone function into its public builder.

    The backbone function takes the prologue's output ``x`` first, then keyword-only
    arguments, ``input_shape`` among them (with the family's default), and returns a
    :class:`Backbone`. The builder takes the same keywords without ``x``, plus
    :data:`HEAD_KEYWORDS` (defaults :data:`HEAD_DEFAULTS`, normalization ``mean``/``std``
    from the family) and ``name``; its signature says so, so ``inspect.signature`` and the
    registry's argument checks see every keyword. ``builder.backbone`` is the backbone
    function itself.

    Args:
        name: the model name by default.
        mean, std: the family's default input normalization.
    """
    head_defaults = dict(HEAD_DEFAULTS, mean=tuple(mean), std=tuple(std))

    def decorate(backbone_fn):
        own = list(inspect.signature(backbone_fn).parameters.values())[1:]
        clash = [p.name for p in own if p.name in head_defaults or p.name == "name"]
        if clash:
            raise TypeError(f"{backbone_fn.__name__}: the shared wrapper owns {clash}; a backbone does not take them.")
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        params += [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=value) for key, value in head_defaults.items()]
        params.append(inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=name))
        signature = inspect.Signature(params)

        @functools.wraps(backbone_fn)
        def builder(**kwargs):
            try:
                bound = signature.bind(**kwargs)
            except TypeError as exc:
                raise TypeError(f"{backbone_fn.__name__}(): {exc}") from None
            bound.apply_defaults()
            return build_classifier(backbone_fn, **bound.arguments)

        builder.__signature__ = signature
        builder.backbone = backbone_fn
        return builder

    return decorate
