"""Optimizer and learning-rate schedule of the DeiT recipe: AdamW, linear warmup, cosine decay."""
import keras

from keras_vit.optimizers import AdamW  # noqa: F401  (registered on `import keras_vit`)

# Never decayed: 1-D parameters (norm scales/offsets, biases, layer-scale) and the learned
# embeddings that act as inputs (position embedding, class/distillation/register tokens),
# as in DeiT/timm. Patterns are matched against variable names with re.search.
NO_DECAY_NAME_PATTERNS = (
    r"^bias$", r"^gamma$", r"^beta$", r"pos_embed", r"cls_token", r"dist_token",
    r"reg_token", r"_token$",
)


def no_weight_decay_variables(model):
    """Trainable variables of ``model`` that AdamW must not decay (see module docstring)."""
    import re

    pattern = re.compile("|".join(NO_DECAY_NAME_PATTERNS))
    return [v for v in model.trainable_variables
            if len(v.shape) <= 1 or pattern.search(v.name) is not None]


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

    Args:
        recipe: a :class:`~keras_vit.training.recipe.Recipe` (learning rates, warmup, weight
            decay, betas, ``clip_global_norm``, ``ema``).
        model: the model whose variables are excluded from weight decay where they should be.
        steps_per_epoch: optimizer steps per epoch, to place warmup and decay.

    Returns:
        An :class:`AdamW` (``keras.optimizers.AdamW`` with an optional EMA warmup).
    """
    total = int(recipe.epochs * steps_per_epoch)
    schedule = warmup_cosine_schedule(recipe.learning_rate, total,
                                      int(recipe.warmup_epochs * steps_per_epoch),
                                      recipe.min_learning_rate)
    optimizer = AdamW(
        learning_rate=schedule, weight_decay=recipe.weight_decay, beta_1=recipe.beta_1,
        beta_2=recipe.beta_2, global_clipnorm=recipe.clip_global_norm,
        use_ema=bool(recipe.ema), ema_momentum=recipe.ema_momentum,
        ema_warmup=recipe.ema_warmup)
    optimizer.exclude_from_weight_decay(var_list=no_weight_decay_variables(model),
                                        var_names=list(NO_DECAY_NAME_PATTERNS))
    return optimizer
