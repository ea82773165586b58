"""Training recipes: every hyper-parameter of a run, loaded from JSON and overridable.

A recipe is a flat JSON object whose keys are the fields of :class:`Recipe`. Files live in
``training/recipes/<name>.json`` (installed as ``keras_vit/training/recipes``); one per model
and dataset. Unknown keys are an error, so a typo never silently falls back to a default.
"""
import dataclasses
import difflib
import json
import math
import os
import typing
from typing import Any, Optional

from keras_vit.utils.io import write_json

from .multiscale import check_multi_scale

RECIPES_DIR = os.path.join(os.path.dirname(__file__), "recipes")


@dataclasses.dataclass
class Recipe:
    """All settings of a training run. Defaults follow the DeiT recipe (Touvron et al., 2021).

    Model
        model: registered model name for ``keras_vit.create_model``.
        model_overrides: constructor arguments of the family (``patch_size``, ``depth``...).
        image_size: square input side; images are resized to it.
        weights: pretrained weights tag or file for ``create_model`` (``None``: from scratch).
        drop_path_rate, drop_rate: stochastic depth and head dropout.
    Data
        data: ``"digits"``, ``"tfds:<name>"``, or a folder with one sub-folder per class.
        data_dir: tfds data dir. download: let tfds download a missing dataset.
        val_fraction, test_fraction: carved out of the training set when the source has no
            such split (stratified, seeded); ``split_seed`` fixes which images they are,
            independently of ``seed``, so runs with different seeds share one test split.
        cache: keep decoded images in memory (``True``), in files under this path (a string),
            or not at all (``False``).
    Optimisation
        epochs, batch_size (global, split across replicas), learning_rate (peak),
        min_learning_rate (end of the cosine), warmup_epochs, weight_decay (AdamW; never
        applied to norms, biases, position embeddings or tokens), beta_1, beta_2,
        clip_global_norm, label_smoothing, ema (weights EMA, evaluated and saved at the end),
        ema_momentum, ema_warmup (at step ``t`` the average weighs roughly the last ``t/9`` steps
        until ``ema_momentum`` takes over: for short runs), mixed_precision (the one precision key: ``"float32"``,
        ``"bfloat16"``/``"mixed_bfloat16"``, ``"float16"``/``"mixed_float16"``; ``"auto"``: bfloat16 where
        the hardware has bf16 units (TPU, GPUs >= 8.0, CPUs with AMX or AVX512-BF16), float16 on
        GPUs 7.x, float32 elsewhere), lr_base_batch_size (``null``: ``learning_rate`` is the peak; a
        number: the peak is ``learning_rate * batch_size / lr_base_batch_size``, the papers'
        linear scaling rule), layer_decay (``null``: off; a factor in (0, 1]: layer-wise
        learning-rate decay with timm's layer groups, the head at the full rate and each
        layer below at ``layer_decay`` times the one above, as in BEiT fine-tuning),
        optimizer (``"adamw"``, or ``"sgd"`` with ``momentum``: ViT's fine-tuning).
    Augmentation
        crop_scale (``null``: each training image is resized whole to ``image_size``, as for
        evaluation; ``[min, max]``: Inception's RandomResizedCrop, a window of that fraction of
        the area, e.g. ``[0.08, 1.0]`` as the papers' ImageNet recipes, decoded from the file
        or TFDS record, see :class:`training.data.RandomResizedCrop`), crop_ratio (its aspect
        ratio range, width / height, ``[3/4, 4/3]``),
        randaugment_ops, randaugment_magnitude, randaugment_magnitude_std (timm's RandAugment,
        ``rand-m{10 * magnitude}-mstd{std}-inc1``; 0 ops: off), mixup_alpha, cutmix_alpha,
        mix_prob, mix_switch_prob (timm's batch MixUp/CutMix), random_erasing (probability of
        timm's RandomErasing per image, pixel mode), hflip, random_translate
        (largest shift, fraction of the side), random_rotate (largest turn, fraction of 360°),
        repeated_augmentation (each image appears this many times in a row, differently
        augmented, with the same steps per epoch: DeiT's repeated augmentation with 3),
        multi_scale (``null``: off; ``{"sizes": [...]}``: MobileViT's multi-scale sampler, each
        batch at a side drawn from ``sizes`` with ``batch_size * (image_size / side) ** 2``
        images, validation and test at ``image_size``; see :mod:`training.multiscale`).
    Distillation (DeiT)
        teacher: ``.keras`` file (or a model passed to :func:`train`); ``None``: no distillation.
        distillation: ``"soft"`` or ``"hard"``. distillation_alpha, distillation_temperature:
            weight of the teacher term and softmax temperature (soft distillation only).
    Run
        seed, keep (``"best"``: the epoch with the best validation accuracy, then loss;
        ``"last"``: the last epoch, e.g. when the validation split is too small to rank
        epochs; with ``ema`` either way its EMA weights), steps_per_execution,
        backup_every_steps (0: back up once per epoch), deterministic (``"auto"``: on when
        training runs on CPU only, where it costs nothing measurable, so that a seed gives
        the same run every time on the same machine; ``true``/``false`` force it; it calls
        ``tf.config.experimental.enable_op_determinism()``, which is process-wide).
    """

    model: str = "vit_tiny_patch16_224"
    model_overrides: dict = dataclasses.field(default_factory=dict)
    image_size: int = 224
    weights: Optional[str] = None
    drop_path_rate: float = 0.1
    drop_rate: float = 0.0

    data: str = "digits"
    data_dir: Optional[str] = None
    download: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0
    cache: Any = True

    epochs: int = 300
    batch_size: int = 1024
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    warmup_epochs: float = 5.0
    weight_decay: float = 0.05
    beta_1: float = 0.9
    beta_2: float = 0.999
    clip_global_norm: Optional[float] = None
    label_smoothing: float = 0.1
    ema: bool = False
    ema_momentum: float = 0.9999
    ema_warmup: bool = False
    mixed_precision: Any = "auto"
    lr_base_batch_size: Optional[int] = None
    layer_decay: Optional[float] = None
    optimizer: str = "adamw"
    momentum: float = 0.9

    crop_scale: Optional[list] = None
    crop_ratio: list = dataclasses.field(default_factory=lambda: [0.75, 4 / 3])
    randaugment_ops: int = 2
    randaugment_magnitude: float = 0.5
    randaugment_magnitude_std: float = 0.5
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    mix_prob: float = 1.0
    mix_switch_prob: float = 0.5
    random_erasing: float = 0.25
    hflip: bool = True
    random_translate: float = 0.0
    random_rotate: float = 0.0
    repeated_augmentation: int = 1
    multi_scale: Optional[dict] = None

    teacher: Optional[str] = None
    distillation: str = "hard"
    distillation_alpha: float = 0.5
    distillation_temperature: float = 1.0

    seed: int = 0
    keep: str = "best"
    steps_per_execution: int = 1
    backup_every_steps: int = 0
    deterministic: Any = "auto"

    description: str = ""

    def replace(self, **changes):
        """Return a copy with ``changes`` applied; unknown keys raise ``ValueError``."""
        _check_keys(changes, "recipe override")
        merged = dataclasses.asdict(self)
        merged.update(changes)
        return Recipe(**merged).validated()

    def validated(self):
        """Check every key's type and range; return ``self`` or raise ``ValueError`` naming the key.

        JSON and ``--set`` values are never coerced: ``"false"`` is a string, not a bool, and
        ``1.7`` is not a number of epochs.
        """
        for field in dataclasses.fields(self):
            _check_type(field.name, getattr(self, field.name), field.type)
        for key, low, high, high_open in RANGES:
            value = getattr(self, key)
            if value is None:
                continue
            above = value < high if high_open else value <= high
            if not (low <= value and above):
                bound = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
                raise ValueError(f"Recipe key {key!r} must be in {bound}, got {value!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"Recipe key 'learning_rate' must be > 0, got {self.learning_rate!r}")
        if self.distillation_temperature <= 0:
            raise ValueError(f"Recipe key 'distillation_temperature' must be > 0, got {self.distillation_temperature!r}")
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise ValueError(f"Recipe key 'layer_decay' must be in (0, 1] or null, got {self.layer_decay!r}")
        if self.clip_global_norm is not None and self.clip_global_norm <= 0:
            raise ValueError(f"Recipe key 'clip_global_norm' must be > 0 or null, got {self.clip_global_norm!r}")
        if not self.model.strip():
            raise ValueError("Recipe key 'model' must name a model, got an empty string")
        if not isinstance(self.cache, (bool, str)):
            raise ValueError(f"Recipe key 'cache' must be true, false or a path, got {self.cache!r}")
        if not (isinstance(self.mixed_precision, bool) or self.mixed_precision in MIXED_PRECISION_VALUES):
            raise ValueError(
                f"Recipe key 'mixed_precision' must be true, false or one of {', '.join(MIXED_PRECISION_VALUES)}, "
                f"got {self.mixed_precision!r}"
            )
        if self.deterministic not in (True, False, "auto"):
            raise ValueError(f"Recipe key 'deterministic' must be true, false or \"auto\", got {self.deterministic!r}")
        check_multi_scale(self.multi_scale, self.image_size, self.batch_size, self.model)
        _check_pair("crop_scale", self.crop_scale, 1.0, "null or [min, max] fractions of the area with "
                    "0 < min <= max <= 1, e.g. [0.08, 1.0]", optional=True)
        _check_pair("crop_ratio", self.crop_ratio, math.inf, "[min, max] aspect ratios (width / height) with "
                    "0 < min <= max, e.g. [0.75, 1.3333]")
        _check_normalization(self.model_overrides)
        _check_model_overrides(self.model, self.model_overrides)
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"Recipe key 'optimizer' must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.optimizer == "sgd" and (self.layer_decay is not None or self.ema_warmup):
            raise ValueError("Recipe keys 'layer_decay' and 'ema_warmup' need optimizer 'adamw'")
        if self.keep not in ("best", "last"):
            raise ValueError(f"Recipe key 'keep' must be 'best' or 'last', got {self.keep!r}")
        if self.distillation not in ("soft", "hard"):
            raise ValueError(f"distillation must be 'soft' or 'hard', got {self.distillation!r}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must be < 1")
        return self

    def to_dict(self):
        """The recipe as a JSON-serialisable dict (what ``save`` writes)."""
        return dataclasses.asdict(self)

    def save(self, path):
        """Write the recipe as JSON, atomically."""
        write_json(path, self.to_dict())


MIXED_PRECISION_VALUES = ("auto", "float32", "bfloat16", "float16", "mixed_float16", "mixed_bfloat16", "true", "false",
                          "on", "off")

#: (key, low, high, high is open): inclusive lower bound, upper bound open or closed.
RANGES = (
    ("drop_path_rate", 0.0, 1.0, True),
    ("drop_rate", 0.0, 1.0, True),
    ("val_fraction", 0.0, 1.0, False),
    ("test_fraction", 0.0, 1.0, False),
    ("min_learning_rate", 0.0, math.inf, False),
    ("warmup_epochs", 0.0, math.inf, False),
    ("weight_decay", 0.0, math.inf, False),
    ("beta_1", 0.0, 1.0, True),
    ("beta_2", 0.0, 1.0, True),
    ("label_smoothing", 0.0, 1.0, False),
    ("ema_momentum", 0.0, 1.0, False),
    ("randaugment_ops", 0, math.inf, False),
    ("randaugment_magnitude", 0.0, 1.0, False),
    ("randaugment_magnitude_std", 0.0, math.inf, False),
    ("mixup_alpha", 0.0, math.inf, False),
    ("cutmix_alpha", 0.0, math.inf, False),
    ("mix_prob", 0.0, 1.0, False),
    ("mix_switch_prob", 0.0, 1.0, False),
    ("random_erasing", 0.0, 1.0, False),
    ("random_translate", 0.0, 1.0, False),
    ("random_rotate", 0.0, 1.0, False),
    ("distillation_alpha", 0.0, 1.0, False),
    ("epochs", 1, math.inf, False),
    ("batch_size", 1, math.inf, False),
    ("image_size", 1, math.inf, False),
    ("steps_per_execution", 1, math.inf, False),
    ("backup_every_steps", 0, math.inf, False),
    ("lr_base_batch_size", 1, math.inf, False),
    ("repeated_augmentation", 1, math.inf, False),
    ("momentum", 0.0, 1.0, True),
)

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a JSON object"}


def _check_type(key, value, annotation):
    """Raises ``ValueError`` unless ``value`` is of the field's type (bool is not a number)."""
    if annotation is Any:
        return
    if typing.get_origin(annotation) is typing.Union:  # Optional[X]
        if value is None:
            return
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, annotation)
    if not ok:
        hint = ""
        if isinstance(value, str) and annotation is not str:
            hint = " (a quoted string is not converted; write the JSON value, e.g. --set ema=false)"
        raise ValueError(
            f"Recipe key {key!r} must be {_TYPE_NAMES.get(annotation, annotation.__name__)}, "
            f"got {value!r} ({type(value).__name__}){hint}"
        )


def _check_pair(key, value, top, expected, optional=False):
    """``value`` is ``[low, high]`` numbers with ``0 < low <= high <= top`` (or ``None`` if optional)."""
    if value is None and optional:
        return
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
          and 0 < value[0] <= value[1] <= top)
    if not ok:
        raise ValueError(f"Recipe key {key!r} must be {expected}, got {value!r}")


def _check_normalization(overrides):
    for key in ("mean", "std"):
        if key not in overrides:
            continue
        value = overrides[key]
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ValueError(f"model_overrides[{key!r}] must be a number or a list of numbers, got {value!r}")
        if key == "std" and min(values) <= 0:
            raise ValueError(f"model_overrides['std'] must be > 0 (it divides the input), got {value!r}")


def _check_model_overrides(model, overrides):
    """Unknown keys and values of the wrong kind fail when the recipe is read, not after the data loaded."""
    import keras_vit.models  # noqa: F401  (registers the families)
    from keras_vit import registry

    if not overrides or model not in registry.list_models():
        return  # an unknown model name is reported where the model is built
    try:
        registry.check_overrides(model, {k: v for k, v in overrides.items() if k not in ("mean", "std")})
    except ValueError as e:
        raise ValueError(f"Recipe key 'model_overrides': {e}") from None


def _check_keys(mapping, where):
    valid = {f.name for f in dataclasses.fields(Recipe)}
    for key in mapping:
        if key not in valid:
            close = difflib.get_close_matches(key, sorted(valid), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown {where} key {key!r}.{hint} Valid keys: {', '.join(sorted(valid))}"
            )


def list_recipes():
    """Names of the recipes shipped in ``training/recipes``."""
    if not os.path.isdir(RECIPES_DIR):
        return []
    return sorted(f[: -len(".json")] for f in os.listdir(RECIPES_DIR) if f.endswith(".json"))


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs):
    """``json.load``'s object hook: a key given twice (at any depth) is an error, not the last one wins."""
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(repr(key))
        seen[key] = value
    return seen


def load_recipe(name_or_path=None, **overrides):
    """Load a recipe by shipped name or JSON path, then apply ``overrides``.

    Args:
        name_or_path: a name from :func:`list_recipes` (e.g. ``"vit_digits"``), a path to a
            JSON file, or ``None`` for the defaults of :class:`Recipe`.
        **overrides: recipe keys to change, e.g. ``epochs=5``.

    Returns:
        A validated :class:`Recipe`.

    Example:
        >>> recipe = load_recipe("vit_digits", epochs=2)
    """
    values = {}
    if name_or_path is not None:
        path = name_or_path
        if not os.path.isfile(path):
            shipped = os.path.join(RECIPES_DIR, f"{name_or_path}.json")
            if not os.path.isfile(shipped):
                raise FileNotFoundError(
                    f"Recipe {name_or_path!r} is neither a file nor a shipped recipe. "
                    f"Shipped recipes: {', '.join(list_recipes()) or 'none'}"
                )
            path = shipped
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as e:
            raise ValueError(f"Recipe file {path} is not valid JSON: {e}") from None
        except _DuplicateKey as e:
            raise ValueError(f"Recipe file {path} sets {e} more than once; keep one (JSON would silently "
                             "keep the last).") from None
        if not isinstance(values, dict):
            raise ValueError(f"Recipe file {path} must hold a JSON object")
        _check_keys(values, f"recipe ({path})")
    recipe = Recipe(**values).validated()
    return recipe.replace(**overrides) if overrides else recipe


def parse_override(text):
    """Parse a ``key=value`` command-line override; the value is JSON if it parses as JSON.

    >>> parse_override("model_overrides={\\"depth\\": 4}")
    ('model_overrides', {'depth': 4})
    """
    if "=" not in text:
        raise ValueError(f"Override {text!r} must look like key=value")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    _check_keys({key: value}, "recipe override")
    return key, value
