"""Optimizer and learning-rate schedule of the recipes: AdamW with timm's parameter groups
(weight-decay exemptions, layer-wise learning-rate decay), linear warmup, cosine decay."""
import keras

from keras_vit.optimizers import AdamW, param_groups  # noqa: F401  (registered on `import keras_vit`)


def _registered_name(model, recipe=None):
    """The registered name whose family's training facts apply to ``model``: its own name
    (``create_model`` names models so), else the recipe's model."""
    from keras_vit.registry import _REGISTRY

    if model.name in _REGISTRY or recipe is None:
        return model.name
    return recipe.model


def no_weight_decay_variables(model, name=None):
    """Trainable variables of ``model`` that AdamW must not decay, as timm decides.

    1-D tensors and biases (timm's default rule), and what the model's family declares in its
    ``training.py`` (position embeddings, class/distillation/mask tokens, relative-position
    tables); see :func:`keras_vit.optimizers.param_groups`. ``name``: the registered name
    whose family applies (default ``model.name``).
    """
    groups = param_groups(model, name=name)
    return [v for v in model.trainable_variables if not groups[v.path].decay]


def peak_learning_rate(recipe):
    """The recipe's peak learning rate: ``learning_rate``, times ``batch_size /
    lr_base_batch_size`` when the recipe states its scaling rule."""
    if recipe.lr_base_batch_size:
        return recipe.learning_rate * recipe.batch_size / recipe.lr_base_batch_size
    return recipe.learning_rate


def warmup_cosine_schedule(peak_learning_rate, total_steps, warmup_steps, min_learning_rate=0.0):
    """Linear warmup from 0 to ``peak_learning_rate``, then cosine decay to the minimum.

    Built on ``keras.optimizers.schedules.CosineDecay`` (which has the warmup built in), so it
    serialises with the optimizer.
    """
    warmup_steps = int(min(max(warmup_steps, 0), max(total_steps - 1, 0)))
    decay_steps = max(int(total_steps) - warmup_steps, 1)
    alpha = min_learning_rate / peak_learning_rate if peak_learning_rate else 0.0
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(
            peak_learning_rate, decay_steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps, alpha=alpha, warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps)


def build_optimizer(recipe, model, steps_per_epoch):
    """AdamW for ``model`` following ``recipe``; create it inside ``strategy.scope()``.

    Weight decay skips what timm's parameter groups skip, and with ``recipe.layer_decay``
    every variable learns at its layer's scale (both from the family's ``training.py``,
    through :func:`keras_vit.optimizers.param_groups`).

    Args:
        recipe: a :class:`~keras_vit.training.recipe.Recipe` (learning rates and their
            scaling rule, warmup, weight decay, ``layer_decay``, betas, ``clip_global_norm``,
            ``ema``).
        model: the model to train (a registered model's family is found from its name,
            else from ``recipe.model``).
        steps_per_epoch: optimizer steps per epoch, to place warmup and decay.

    Returns:
        An :class:`AdamW` (``keras.optimizers.AdamW`` with an optional EMA warmup and
        per-variable learning-rate multipliers), or ``keras.optimizers.SGD`` with the
        recipe's ``optimizer`` ``"sgd"``.
    """
    total = int(recipe.epochs * steps_per_epoch)
    schedule = warmup_cosine_schedule(peak_learning_rate(recipe), total,
                                      int(recipe.warmup_epochs * steps_per_epoch),
                                      recipe.min_learning_rate)
    groups = param_groups(model, name=_registered_name(model, recipe),
                          layer_decay=recipe.layer_decay)
    exempt = [v for v in model.trainable_variables if not groups[v.path].decay]
    if recipe.optimizer == "sgd":
        # ViT's fine-tuning: SGD with momentum (Keras' own; no layer decay, no EMA warmup).
        optimizer = keras.optimizers.SGD(
            learning_rate=schedule, momentum=recipe.momentum,
            weight_decay=recipe.weight_decay or None, global_clipnorm=recipe.clip_global_norm,
            use_ema=bool(recipe.ema), ema_momentum=recipe.ema_momentum)
        optimizer.exclude_from_weight_decay(var_list=exempt)
        return optimizer
    optimizer = AdamW(
        learning_rate=schedule, weight_decay=recipe.weight_decay, beta_1=recipe.beta_1,
        beta_2=recipe.beta_2, global_clipnorm=recipe.clip_global_norm,
        use_ema=bool(recipe.ema), ema_momentum=recipe.ema_momentum,
        ema_warmup=recipe.ema_warmup,
        lr_multipliers={path: g.lr_scale for path, g in groups.items() if g.lr_scale != 1.0})
    optimizer.exclude_from_weight_decay(var_list=exempt)
    return optimizer
