"""The model registry: timm-style names -> builder, configuration and pretrained weights."""
import difflib
import errno
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from .layers.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from .weights.budget import checkpoint_budget
from .weights.download import download
from .weights.loading import assign_weights
from .weights.readers import read_checkpoint

_REGISTRY = {}


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named model and load its weights.

    Attributes:
        name: timm-style name, e.g. ``vit_base_patch16_224``.
        family: family name (``"vit"``, ``"mobilevit"`` …).
        builder: function building a functional ``keras.Model`` from the config keywords.
        config: constructor keywords of this variant.
        convert: ``convert(state) -> (arrays, layout)`` mapping a foreign checkpoint.
        detect: ``detect(state) -> layout or None``: which foreign layout a checkpoint has.
        weights: ``{tag: WeightsTag}``.
        default_weights: tag used by ``weights="default"``.
        resample: ``resample(layout) -> hook or None``: the load-time hook for tensors whose
            shape depends on the input size or window (see ``keras_vit.weights.resampling``).
        features: ``features(model, out_indices) -> keras.Model`` returning the feature
            pyramid ``{"P2": …}`` with ``feature_info`` (``create_model(features_only=True)``).
        input_size: default (height, width).
        mean, std: normalization used without weights.
        layout_preprocessing: ``{layout: dict(mean=, std=, channel_order=)}`` for checkpoint
            files given as a path, whose normalization depends on who published them.
        parameters: the official parameter count with a 1000-class head (checked against
            the reference implementation by the registry-wide test).
        tiny: constructor overrides of a tiny configuration, for tests.
        reference: where the official parameter count comes from: ``("timm", name)``,
            ``("transformers", config_class, kwargs)`` or ``("official", fixture, key)``.
        paper: citation.
        no_weight_decay: regexes (``re.search`` on variable paths) of the variables that
            AdamW must not decay besides 1-D tensors and biases (timm's ``no_weight_decay()``).
        weight_decay: regexes of 1-D variables that AdamW decays nevertheless, because timm's
            tensor is not 1-D and its 1-D rule misses it (FastViT's ``(C, 1, 1)`` layer scales).
        group_matcher: how variables group into layers for layer-wise learning-rate decay,
            timm's ``group_matcher()`` over our variable paths (see
            ``keras_vit.optimizers.layer_ids``); ``None``: the family declares none.
        inference_form: ``inference_form(model) -> model``: the family's deployable form of a
            model (FastViT's structural re-parameterization), applied by exports; ``None``: as is.
    """

    name: str
    family: str
    builder: object
    config: dict
    convert: object
    detect: object
    weights: dict = field(default_factory=dict)
    default_weights: str = None
    resample: object = None
    features: object = None
    input_size: tuple = (224, 224)
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    layout_preprocessing: dict = field(default_factory=dict)
    parameters: int = None
    tiny: dict = field(default_factory=dict)
    reference: tuple = None
    paper: str = ""
    no_weight_decay: tuple = ()
    weight_decay: tuple = ()
    group_matcher: dict = None
    inference_form: object = None


def register_model(spec):
    """Adds a :class:`ModelSpec` to the registry (names are unique)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"Model {spec.name!r} is already registered.")
    _REGISTRY[spec.name] = spec
    return spec


def register_family(family, presets, *, builder, convert, detect, resample=None, features=None, inference_form=None):
    """Registers every variant of a family from its ``presets`` module; one call per family.

    ``presets`` defines ``VARIANTS`` (name -> constructor keywords, with ``input_size``),
    ``PARAMETERS`` (name -> official count), ``TINY`` (test overrides), ``PAPER``, and
    optionally ``WEIGHTS`` (name -> ``{tag: WeightsTag}``), ``DEFAULT_WEIGHTS`` (name -> tag),
    ``MEAN``/``STD``, ``LAYOUT_PREPROCESSING`` and ``REFERENCES`` (name -> reference, default
    ``("timm", name)``), and the training facts ``NO_WEIGHT_DECAY``, ``WEIGHT_DECAY`` and ``GROUP_MATCHER``
    (usually imported from the family's ``training.py``).

    Example (a family's ``__init__.py``):
        >>> register_family("vit", presets, builder=VisionTransformer, convert=convert, detect=detect_layout)
    """
    weights = getattr(presets, "WEIGHTS", {})
    defaults = getattr(presets, "DEFAULT_WEIGHTS", {})
    references = getattr(presets, "REFERENCES", {})
    specs = []
    for name, variant in presets.VARIANTS.items():
        config = dict(variant)
        input_size = tuple(config.pop("input_size", (224, 224)))
        tags = weights.get(name, {})
        specs.append(
            register_model(
                ModelSpec(
                    name=name,
                    family=family,
                    builder=builder,
                    config=config,
                    convert=convert,
                    detect=detect,
                    weights=tags,
                    default_weights=defaults.get(name, next(iter(tags), None)),
                    resample=resample,
                    features=features,
                    inference_form=inference_form,
                    input_size=input_size,
                    mean=tuple(getattr(presets, "MEAN", IMAGENET_MEAN)),
                    std=tuple(getattr(presets, "STD", IMAGENET_STD)),
                    layout_preprocessing=getattr(presets, "LAYOUT_PREPROCESSING", {}),
                    parameters=presets.PARAMETERS[name],
                    tiny=dict(presets.TINY),
                    reference=references.get(name, ("timm", name)),
                    paper=presets.PAPER,
                    no_weight_decay=tuple(getattr(presets, "NO_WEIGHT_DECAY", ())),
                    weight_decay=tuple(getattr(presets, "WEIGHT_DECAY", ())),
                    group_matcher=getattr(presets, "GROUP_MATCHER", None),
                )
            )
        )
    return specs


def list_models(family=None, pretrained=False):
    """Names of the registered models, optionally of one family or only those with weights.

    Example:
        >>> keras_vit.list_models("vit")[:2]  # vit_base_patch16_224, vit_base_patch16_384
    """
    if family is not None:
        families = sorted({spec.family for spec in _REGISTRY.values()})
        if family not in families:
            raise ValueError(f"Unknown family {family!r}; the families are {', '.join(families)}.")
    return sorted(
        name
        for name, spec in _REGISTRY.items()
        if (family is None or spec.family == family) and (not pretrained or spec.weights)
    )


def inference_form(model):
    """``model`` in its family's deployable form (see ``ModelSpec.inference_form``), found by
    the model's registry name; other models are returned as they are.

    Example:
        >>> deployable = keras_vit.registry.inference_form(keras_vit.create_model("fastvit_t8"))
    """
    spec = _REGISTRY.get(getattr(model, "name", None))
    if spec is None or spec.inference_form is None:
        return model
    return spec.inference_form(model)


def get_model_spec(name):
    """The :class:`ModelSpec` of ``name``; unknown names get close suggestions."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model name {name!r}.{hint} See keras_vit.list_models() for all {len(_REGISTRY)} names.")
    return _REGISTRY[name]


def _resolve_weights(spec, weights):
    """Returns (tag or None, local path or None)."""
    if weights is None:
        return None, None
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be None, a tag name or a path, got {type(weights).__name__}.")
    weights = os.fspath(weights)
    if weights == "default":
        if spec.default_weights is None:
            raise ValueError(f"{spec.name} has no published weights; pass weights=None or a path.")
        weights = spec.default_weights
    if weights in spec.weights:
        return spec.weights[weights], None
    if os.path.exists(weights):
        return None, weights
    tags = ", ".join(spec.weights) or "none"
    raise ValueError(
        f"weights={weights!r} is neither a weights tag of {spec.name} (tags: {tags}; 'default' = "
        f"{spec.default_weights}) nor an existing file or directory."
    )


def _read_and_convert(spec, path, max_bytes=None, reason=None):
    """Reads ``path`` and maps it to our variable paths: ``(arrays, layout)``.

    Our own files (keys are variable paths, from :func:`save_weights` or a ``.keras`` file)
    pass through; foreign layouts go through the family's key map.
    """
    state = read_checkpoint(path, max_bytes, reason)
    if spec.detect(state) is None and all("/" in k for k in state):
        return state, "keras_vit"
    return spec.convert(state)


def create_model(
    name,
    *,
    weights=None,
    num_classes=1000,
    input_shape=None,
    include_top=True,
    include_preprocessing=True,
    pooling=None,
    classifier_activation=None,
    drop_path_rate=0.0,
    features_only=False,
    out_indices=None,
    **overrides,
):
    """Builds a registered model as a functional ``keras.Model``, optionally with weights.

    Args:
        name: a name from :func:`list_models`, e.g. ``"vit_base_patch16_224"``; or a folder
            written by ``keras_vit.save_pretrained`` (or a training run), or
            ``"hf://user/repo"`` on the Hugging Face Hub: the saved model with its weights
            (other arguments then rebuild it, e.g. ``num_classes`` for a new head).
        weights: ``None`` (random init, no download), ``"default"``, a weights tag of the
            model (e.g. ``"augreg_in21k_ft_in1k"``) or a path to a checkpoint: timm or
            transformers (``.safetensors``, ``.pth``/``.bin`` with torch, a transformers
            directory), a Google ``.npz``, or our own ``.keras``/``.safetensors``.
        num_classes: classes of the head. If it differs from the checkpoint's, everything
            but the head is loaded, with a warning.
        input_shape: ``(height, width, 3)``; defaults to the weights' input size. Position
            embeddings are resampled as the checkpoint's reference implementation does.
        include_top: add the classifier head.
        include_preprocessing: inputs are RGB in [0, 255] (float or uint8) and the model
            normalizes them as its weights expect; ``False``: inputs are already normalized.
        pooling: ``None``, ``"token"`` or ``"avg"``. With ``include_top=False`` and ``None``
            the model returns the token sequence; otherwise pooled features.
        classifier_activation: ``None`` for logits, or e.g. ``"softmax"``.
        drop_path_rate: stochastic depth rate (linearly increasing over blocks).
        features_only: return the feature pyramid for dense prediction instead: a model whose
            output is ``{"P2": map, …, "P5": map}`` (level n at stride 2**n, NHWC, keras-hub's
            ``pyramid_outputs`` names) with ``model.feature_info`` (channels, reduction and
            layer per level, as timm's).
        out_indices: which feature levels (indices into the family's list; see its
            ``features`` function).
        **overrides: any constructor keyword of the family (``depth``, ``embed_dim`` …;
            ``mean``/``std`` override the normalization).

    Example:
        >>> model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
        >>> model = keras_vit.create_model("vit_base_patch16_224", weights="/path/ViT-B_16.npz")
    """
    from .pretrained import is_pretrained_source, load_pretrained

    if is_pretrained_source(name):
        # A folder from save_pretrained or a training run, or hf://user/repo.
        arguments = dict(weights=weights, num_classes=num_classes, input_shape=input_shape,
                         include_top=include_top, include_preprocessing=include_preprocessing,
                         pooling=pooling, classifier_activation=classifier_activation,
                         drop_path_rate=drop_path_rate, features_only=features_only,
                         out_indices=out_indices)
        return load_pretrained(name, arguments, overrides)
    spec = get_model_spec(name)
    _check_arguments(spec, num_classes, input_shape, drop_path_rate, overrides)
    tag, path = _resolve_weights(spec, weights)
    if tag is not None:
        path = download(tag.url, tag.cache_name(name), tag.sha256)
    config = dict(spec.config)
    if tag is not None:
        config.update(tag.config)
    user_preprocessing = {key: overrides.pop(key) for key in ("mean", "std", "channel_order") if key in overrides}
    config.update(overrides)
    if input_shape is None:
        size = tag.input_size if tag is not None else spec.input_size
        input_shape = (size[0], size[1], 3)
    input_shape = tuple(input_shape)
    if features_only and spec.features is None:
        raise ValueError(f"{name}: features_only is not available for the {spec.family} family.")

    def normalization(layout):
        preprocessing = {"mean": tuple(spec.mean), "std": tuple(spec.std), "channel_order": "rgb"}
        if tag is not None:
            preprocessing = {"mean": tuple(tag.mean), "std": tuple(tag.std), "channel_order": tag.channel_order}
        elif layout in spec.layout_preprocessing:
            preprocessing.update(spec.layout_preprocessing[layout])
        preprocessing.update(user_preprocessing)
        return preprocessing

    def build(layout):
        preprocessing = normalization(layout)
        return preprocessing, spec.builder(
            input_shape=input_shape,
            num_classes=num_classes,
            include_top=include_top and not features_only,
            include_preprocessing=include_preprocessing,
            pooling=pooling,
            classifier_activation=classifier_activation,
            drop_path_rate=drop_path_rate,
            name=name,
            **preprocessing,
            **config,
        )

    preprocessing, model = build(None)
    arrays = layout = None
    if path is not None:
        # The model is built first so that its weight shapes bound what reading may allocate;
        # the layout can then change the input normalization, which takes a second build.
        arrays, layout = _read_and_convert(spec, path, *checkpoint_budget(model))
        if normalization(layout) != preprocessing:
            preprocessing, model = build(layout)
    if arrays is not None:
        what = f"weights '{tag.tag}' ({path})" if tag else f"checkpoint {path}"
        hook = spec.resample(layout) if spec.resample is not None else None
        assign_weights(model, arrays, resample=hook, source=f"{layout} {what}",
                       headless=features_only or not include_top)
    if features_only:
        return spec.features(model, out_indices)
    if out_indices is not None:
        raise ValueError("out_indices needs features_only=True.")
    return model


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_value(name, key, value, reference):
    """``value`` must be of the kind of the preset's ``reference`` (its default or preset value)."""
    if reference is None or isinstance(reference, str) and isinstance(value, str):
        return
    if isinstance(reference, bool):
        ok, expected = isinstance(value, (bool, np.bool_)), "True or False"
    elif _is_int(reference):
        low = 1 if reference >= 1 else 0 if reference == 0 else None
        ok = _is_int(value) and (low is None or value >= low)
        expected = "an integer" + (f" >= {low}" if low is not None else "")
    elif _is_real(reference):
        ok = _is_real(value) and math.isfinite(value) and (value > 0 if reference > 0 else value >= 0)
        expected = "a finite number " + ("> 0" if reference > 0 else ">= 0")
    elif isinstance(reference, (tuple, list)):
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"{name}: {key} must be a list like {list(reference)}, got {value!r}.")
        for i, item in enumerate(value):  # element-wise against the preset, or its first element
            ref = reference[i] if len(reference) == len(value) else reference[0] if reference else None
            _check_value(name, key, item, ref)
        return
    elif isinstance(reference, str):
        ok, expected = False, "a string"
    else:
        return
    if not ok:
        raise ValueError(f"{name}: {key} must be {expected} (preset value {reference!r}), got {value!r}.")


def check_overrides(name, overrides):
    """Raises ValueError for constructor overrides ``name``'s family does not take, or of the wrong kind.

    ``create_model`` runs the same check; recipes call it when they are read, before any data loads.
    """
    spec = get_model_spec(name)
    _check_arguments(spec, 0, None, 0.0, dict(overrides))


def _check_arguments(spec, num_classes, input_shape, drop_path_rate, overrides):
    """Clear errors for arguments the builders would take wrongly or fail on deep inside."""
    if not _is_int(num_classes) or num_classes < 0:
        raise ValueError(f"num_classes must be an integer >= 0 (0: no head), got {num_classes!r}.")
    if not _is_real(drop_path_rate) or not 0 <= drop_path_rate < 1:
        raise ValueError(f"drop_path_rate must be a number in [0, 1) (a probability per block), got {drop_path_rate!r}.")
    if input_shape is not None:
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
        # A family whose builder declares any_input_size takes None sides (one model for every size).
        any_size = getattr(spec.builder, "any_input_size", False)
        if shape is None or len(shape) != 3 or shape[-1] != 3 or not all(
                (_is_int(d) and d > 0) or (any_size and d is None and i < 2) for i, d in enumerate(shape)):
            raise ValueError(
                f"input_shape must be (height, width, 3) with positive integer sides, got {input_shape!r}; the "
                "models have position embeddings or windows sized to the input, so None (any size) is not "
                "supported. Build one model per input size (weights resample to it)."
            )
    import inspect

    signature = inspect.signature(spec.builder).parameters
    fixed = {"input_shape", "num_classes", "include_top", "include_preprocessing", "pooling",
             "classifier_activation", "drop_path_rate", "name"}
    known = sorted(k for k in signature if k not in fixed)
    for key, value in overrides.items():
        if key not in signature or key in fixed:
            raise ValueError(f"{spec.name}: unknown argument {key!r}; the {spec.family} family takes "
                             f"{', '.join(known)} (and create_model's own keywords).")
        if key in ("mean", "std", "channel_order"):
            continue  # the Preprocessing layer checks these
        if value is None and signature[key].default is None:
            continue  # None is the builder's own default (e.g. T2T-ViT's qk_scale: head_dim ** -0.5)
        reference = spec.config.get(key, signature[key].default)
        _check_value(spec.name, key, value, None if reference is inspect.Parameter.empty else reference)


def model_shortcut(name, shortcut_name):
    """A ``ViTB16``-style function: ``create_model(name, weights=..., **kwargs)`` under its own name."""

    def builder(weights=None, **kwargs):
        return create_model(name, weights=weights, **kwargs)

    builder.__name__ = builder.__qualname__ = shortcut_name
    builder.__doc__ = (
        f"Shortcut for ``keras_vit.create_model('{name}', ...)``; takes the same keywords.\n\n"
        f"Example:\n    >>> model = keras_vit.{shortcut_name}(weights='/path/to/checkpoint', num_classes=10)\n"
    )
    return builder


def save_weights(model, path):
    """Saves ``model``'s variables as ``.safetensors`` keyed by variable path (atomically).

    The file loads back with ``create_model(name, weights=path)``.
    """
    from safetensors.numpy import save_file

    from .utils.io import atomic_path

    arrays = {v.path: np.ascontiguousarray(np.asarray(v.numpy())) for v in model.weights if "seed_generator" not in v.path}
    with atomic_path(path) as tmp:  # errors name `path`, not the temporary file
        try:
            save_file(arrays, tmp)
        except Exception as exc:  # safetensors reports I/O errors as its own type, naming no file
            if isinstance(exc, OSError):
                raise
            code = re.search(r"code: (\d+)", str(exc))
            number = int(code.group(1)) if code else errno.EIO
            raise OSError(number, os.strerror(number), os.fspath(path)) from None
