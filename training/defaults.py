"""Which recipe a run gets when the user names none: the tuned small-data recipe.

``keras-vit train --data digits --output DIR`` (and ``train()`` with no recipe) runs
:data:`DEFAULT_RECIPE`, the recipe ``make demo`` runs. Naming another ``--model`` keeps that
recipe's optimisation and augmentation but sizes the rest for the model: an input that
gives a small ViT about 4x4 to 8x8 patches (MobileViT: 64x64), no architecture overrides,
fewer epochs for a big model. ImageNet-scale settings are only ever used from their own
recipe file (``deit_tiny_imagenet``).
"""
from .recipe import Recipe, load_recipe

DEFAULT_RECIPE = "digits_default"


def _image_size_for(model):
    """An input side that suits ``model`` on small images (imports the registry)."""
    import keras_vit

    spec = keras_vit.get_model_spec(model)
    if spec.family == "mobilevit":
        return 64
    patch = int(spec.config.get("patch_size", 16))
    # 4x4 patches for a patch-16 model (64x64), 8x8 for patch 4 or 8; never above native.
    return int(min(max(32, 4 * patch), spec.input_size[0]))


def _epochs_for(model):
    import keras_vit

    parameters = keras_vit.get_model_spec(model).parameters or 0
    # Tens of epochs: a few for 20M+ parameter models, whose epochs are slow on a CPU.
    return 40 if parameters < 2_000_000 else 30 if parameters < 10_000_000 else 15


def default_recipe(data=None, model=None):
    """The recipe used when none is named, for ``data`` and ``model`` (``None``: defaults).

    Args:
        data: dataset name (``"digits"`` when ``None``).
        model: registered model name; ``None`` keeps the default recipe's model and its
            architecture overrides.

    Returns:
        A validated :class:`~keras_vit.training.recipe.Recipe`.

    Example:
        >>> default_recipe(model="mobilevit_xxs").image_size
        64
    """
    recipe = load_recipe(DEFAULT_RECIPE)
    changes = {}
    if data is not None and data != recipe.data:
        changes["data"] = data
        if not str(data).startswith("digits"):
            # Digits trains on every non-test image (its recipe was chosen on development
            # splits); on a user's own data a validation curve is what shows over-fitting.
            changes["val_fraction"] = 0.1
            changes["description"] = (f"{recipe.description} Applied to {data}: 10% of the "
                                      "training images are held out to validate each epoch; "
                                      "check the input size, epochs and flips for your images.")
    if model is not None and model != recipe.model:
        changes.update(model=model, model_overrides={}, image_size=_image_size_for(model),
                       epochs=_epochs_for(model),
                       description=f"The small-data recipe {DEFAULT_RECIPE!r} sized for "
                                   f"{model}: optimisation and augmentation as tuned on "
                                   "digits, input and epochs from the model's size.")
    return recipe.replace(**changes) if changes else recipe


def resolve_recipe(recipe=None, **overrides):
    """A :class:`Recipe` from a recipe, a name or path, or ``None`` (see :func:`default_recipe`).

    ``overrides`` are recipe keys applied last; with no recipe named, ``data`` and ``model``
    among them choose the default recipe's sizing first.
    """
    if isinstance(recipe, Recipe):
        return recipe.replace(**overrides) if overrides else recipe
    if recipe is None:
        base = default_recipe(overrides.get("data"), overrides.get("model"))
        rest = {k: v for k, v in overrides.items() if k not in ("data", "model")}
        return base.replace(**rest) if rest else base
    return load_recipe(recipe, **overrides)
