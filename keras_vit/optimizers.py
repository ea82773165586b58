"""Optimizers that trained models carry in their ``.keras`` files, and their parameter groups.

Imported by ``import keras_vit`` (through :mod:`keras_vit.models`), so a ``model.keras``
written by ``keras-vit train`` loads with ``keras.saving.load_model`` after ``import
keras_vit``, optimizer included, without importing the training package.

Parameter groups follow timm (``timm/optim/_param_groups.py``): every family declares, in its
``training.py``, which variables are never weight-decayed (``NO_WEIGHT_DECAY``, timm's
``no_weight_decay()``) and how its variables group into layers (``GROUP_MATCHER``, timm's
``group_matcher()``); :func:`param_groups` turns them into a weight-decay flag and a
learning-rate scale per variable, which :class:`AdamW` applies.
"""
import dataclasses
import math
import re

import keras

#: timm's default rule, used for every family: 1-D tensors (norm scales and offsets,
#: layer-scale, biases) and variables named ``bias`` are never decayed.
_BIAS = re.compile(r"(^|/)bias$")

#: The ordinal suffix that joins a group to the layer before it (timm's ``MATCH_PREV_GROUP``):
#: ``(r"^norm/", (99999,))`` puts the final norm in the last block's layer.
MATCH_PREVIOUS = 99999


@dataclasses.dataclass(frozen=True)
class ParamGroup:
    """Optimisation facts of one variable: ``decay`` (weight decay applies), ``layer`` (its
    layer id for layer-wise decay, ``None`` without one) and ``lr_scale`` (learning-rate
    multiplier)."""

    decay: bool
    layer: object = None
    lr_scale: float = 1.0


def layer_ids(paths, group_matcher):
    r"""Layer id of every variable path under a timm-style ``group_matcher``.

    The matcher is an ordered dict ``{group name: spec}``; a spec is one regex, or a list of
    ``(regex, suffix)``. A path gets the ordinal ``(index of its group, *integers captured by
    the first regex that matches at its start, *suffix)``; paths no regex matches (the head)
    get the largest ordinal. The distinct ordinals, sorted, are numbered 0, 1, 2 …, except
    that an ordinal ending in :data:`MATCH_PREVIOUS` takes the number of the one before it.
    This is timm's ``group_with_matcher`` (``timm/models/_manipulate.py``): for a ViT the
    embeddings are layer 0, block ``i`` is layer ``i + 1``, the final norm joins the last
    block and the head is layer ``depth + 1``.

    Args:
        paths: variable paths (``blocks_0/attn/qkv/kernel`` …).
        group_matcher: e.g. ``{"stem": r"^(cls_token|pos_embed|patch_embed)/",
            "blocks": [(r"^blocks_(\d+)/", None), (r"^norm/", (99999,))]}``.

    Returns:
        ``{path: layer id}``.
    """
    rules = []
    for index, spec in enumerate(group_matcher.values()):
        if spec is None:
            continue
        for pattern, suffix in (spec if isinstance(spec, (list, tuple)) else [(spec, None)]):
            rules.append((re.compile(pattern), index, tuple(suffix or ())))

    def ordinal(path):
        for regex, index, suffix in rules:
            found = regex.match(path)
            if found:
                captured = tuple(float(g) for g in found.groups() if g is not None)
                return (float(index),) + captured + tuple(float(s) for s in suffix)
        return (math.inf,)

    ordinals = {path: ordinal(path) for path in paths}
    numbers, layer = {}, -1
    for key in sorted(set(ordinals.values())):
        if layer < 0 or key[-1] != MATCH_PREVIOUS:
            layer += 1
        numbers[key] = layer
    return {path: numbers[key] for path, key in ordinals.items()}


def _spec(name):
    """The registered spec of ``name``, or ``None``."""
    from .registry import _REGISTRY

    return _REGISTRY.get(name)


def training_facts(name):
    """``(no_weight_decay, group_matcher)`` declared by the family of registered model ``name``.

    A name that is not registered, or a family that declares nothing, gets ``((), None)``:
    timm's default rule only, and no layer groups.
    """
    spec = _spec(name)
    if spec is None:
        return (), None
    return tuple(spec.no_weight_decay), spec.group_matcher


def _any_of(patterns):
    """One regex matching any of ``patterns``, or ``None`` for none."""
    return re.compile("|".join(patterns)) if patterns else None


def param_groups(model, name=None, layer_decay=None):
    """Weight-decay flag and learning-rate scale of every trainable variable, as timm's.

    timm's ``param_groups_weight_decay`` and ``param_groups_layer_decay``: 1-D tensors and
    biases are never decayed, nor what the family declares in ``NO_WEIGHT_DECAY`` (position
    embeddings, class/distillation/mask tokens, relative-position tables); what it declares in
    ``WEIGHT_DECAY`` is decayed although 1-D here, because timm's tensor is not (FastViT's
    ``(C, 1, 1)`` layer scales). With
    ``layer_decay`` the variables of layer ``i`` (see :func:`layer_ids`) learn at
    ``layer_decay ** (L - i)`` times the rate, ``L`` being the last layer (the head), so the
    head learns at the full rate and the embeddings at ``layer_decay ** L``.

    Args:
        model: a Keras model.
        name: registered model name whose family's declarations apply (default:
            ``model.name``, which ``create_model`` sets to the registered name).
        layer_decay: ``None`` or a factor in (0, 1].

    Returns:
        ``{variable path: ParamGroup}`` over ``model.trainable_variables``.

    Example:
        >>> model = keras_vit.create_model("beit_base_patch16_224")
        >>> groups = param_groups(model, layer_decay=0.65)
        >>> groups["head/kernel"].lr_scale, groups["cls_token/cls_token"].decay
        (1.0, False)
    """
    name = model.name if name is None else name
    no_decay, matcher = training_facts(name)
    no_decay = _any_of(no_decay)
    # WEIGHT_DECAY: 1-D variables that timm decays (its tensor is not 1-D).
    decay_anyway = _any_of(tuple(getattr(_spec(name), "weight_decay", ())))
    variables = model.trainable_variables
    layers = {}
    if layer_decay is not None:
        if not 0.0 < float(layer_decay) <= 1.0:
            raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay!r}")
        if matcher is None:
            raise ValueError(
                f"layer_decay needs the layer groups of {name!r}, and its family declares none "
                "(GROUP_MATCHER in keras_vit/models/<family>/training.py); "
                "registered model names have them, see keras_vit.list_models()")
        layers = layer_ids([v.path for v in variables], matcher)
    last = max(layers.values(), default=0)
    groups = {}
    for v in variables:
        one_d = len(v.shape) <= 1 and not (decay_anyway is not None and decay_anyway.search(v.path))
        exempt = (one_d or _BIAS.search(v.path) is not None
                  or (no_decay is not None and no_decay.search(v.path) is not None))
        layer = layers.get(v.path)
        scale = 1.0 if layer is None else float(layer_decay) ** (last - layer)
        groups[v.path] = ParamGroup(decay=not exempt, layer=layer, lr_scale=scale)
    return groups


@keras.saving.register_keras_serializable(package="keras_vit")
class AdamW(keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` whose weights EMA can warm up, with a cheaper update graph.

    **Update graph.** With the TensorFlow backend each variable's Adam step is one fused
    ``ResourceApplyAdam`` kernel (the formula of ``keras.optimizers.Adam``, with the bias
    corrections computed once per step instead of once per variable), and weight decay
    evaluates the learning-rate schedule once per step instead of once per decayed
    variable. Keras' own graph re-evaluates the schedule for every variable; for
    MobileViT-XXS (215 variables) that made the first training step take about 2.6 times
    longer to trace. The results equal ``keras.optimizers.AdamW``'s to float rounding
    (``tests/training/test_fused_adamw.py``); ``amsgrad`` and other backends use Keras' path.

    **EMA warmup.** Keras' EMA copies the weights at the first step and then averages with a fixed
    ``ema_momentum``: with 0.995 the average still carries the random initialisation for
    hundreds of steps, which is most of a short run. With ``ema_warmup`` the momentum at
    step ``t`` is ``min(ema_momentum, (1 + t) / (10 + t))`` (the rule of TensorFlow's
    ``ExponentialMovingAverage(num_updates=t)``), so early on the average weighs roughly the
    last ``t / 9`` steps, and the full momentum takes over after ``~10 / (1 - momentum)``
    steps.

    **Per-variable learning rates.** ``lr_multipliers`` maps variable paths to a factor on the
    learning rate (layer-wise decay, :func:`param_groups`); the decoupled weight decay of
    that variable is scaled with it, as in timm's AdamW where a parameter group's ``lr``
    drives both. Paths it names must all be among the variables the optimizer is built for.

    Example:
        >>> groups = param_groups(model, layer_decay=0.65)
        >>> optimizer = AdamW(1e-3, weight_decay=0.05, lr_multipliers={
        ...     path: g.lr_scale for path, g in groups.items() if g.lr_scale != 1.0})
    """

    def __init__(self, *args, ema_warmup=False, lr_multipliers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ema_warmup = bool(ema_warmup)
        self.lr_multipliers = {str(k): float(v) for k, v in (lr_multipliers or {}).items()}
        self._lr_scales = []

    def build(self, variables):
        super().build(variables)
        if self.lr_multipliers:
            paths = [v.path for v in variables]
            unknown = sorted(set(self.lr_multipliers) - set(paths))
            if unknown:
                raise ValueError(
                    f"lr_multipliers names {len(unknown)} variable(s) this optimizer does not "
                    f"train: {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
            self._lr_scales = [self.lr_multipliers.get(p, 1.0) for p in paths]

    def _lr_scale(self, variable):
        """The learning-rate factor of ``variable`` (1.0 without ``lr_multipliers``)."""
        if not self.lr_multipliers:
            return 1.0
        return self._lr_scales[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        # Keras' own step (other backends, amsgrad), at this variable's rate.
        scale = self._lr_scale(variable)
        if scale != 1.0:
            learning_rate = learning_rate * scale
        return super().update_step(gradient, variable, learning_rate)

    def _fused(self):
        return keras.backend.backend() == "tensorflow" and not self.amsgrad

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        # Called by Keras' TensorFlow optimizer in cross-replica context (a merge_call);
        # ``learning_rate`` may be per-replica, the step count is not.
        if not self._fused():
            return super()._distributed_tf_update_step(distribution, grads_and_vars,
                                                       learning_rate)
        import tensorflow as tf

        step = tf.cast(self.iterations + 1, "float32")
        beta_1_power = tf.pow(tf.constant(self.beta_1, "float32"), step)
        beta_2_power = tf.pow(tf.constant(self.beta_2, "float32"), step)

        def apply_adam(var, grad, lr):
            index = self._get_variable_index(var)
            m, v = self._momentums[index].value, self._velocities[index].value
            if isinstance(grad, tf.IndexedSlices):
                grad = tf.convert_to_tensor(grad)

            def cast(x):
                return tf.cast(x, var.dtype)

            # var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m_t / (sqrt(v_t) + eps), with
            # m_t = m + (g - m)(1 - b1) and v_t = v + (g^2 - v)(1 - b2): keras.optimizers.Adam.
            return tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=m.handle, v=v.handle, beta1_power=cast(beta_1_power),
                beta2_power=cast(beta_2_power), lr=cast(lr), beta1=cast(self.beta_1),
                beta2=cast(self.beta_2), epsilon=cast(self.epsilon), grad=cast(grad),
                use_locking=False)

        for grad, var in grads_and_vars:
            scale = self._lr_scale(var)
            rate = learning_rate * scale if scale != 1.0 else learning_rate
            distribution.extended.update(var, apply_adam, args=(grad, rate), group=False)

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return None
        if not self._fused():
            if not self.lr_multipliers:
                return super()._apply_weight_decay(variables)
            if keras.backend.backend() != "tensorflow":
                for variable in variables:
                    if self._use_weight_decay(variable):
                        rate = (keras.ops.cast(self.learning_rate, variable.dtype)
                                * keras.ops.cast(self.weight_decay * self._lr_scale(variable),
                                                 variable.dtype))
                        variable.assign(variable - variable * rate)
                return None
        import tensorflow as tf

        def decay_all(distribution, variables):
            # The schedule is evaluated once here, not once per variable.
            rate = tf.cast(self.learning_rate, "float32") * tf.cast(self.weight_decay, "float32")

            def decay(variable, scale):
                # Which variables decay is decided as in Keras (on the tf.Variable).
                if self._use_weight_decay(variable):
                    scaled = rate * scale if scale != 1.0 else rate
                    variable.assign_sub(variable * tf.cast(scaled, variable.dtype))

            for variable in variables:
                variable = variable.value if isinstance(variable, keras.Variable) else variable
                distribution.extended.update(variable, decay, args=(self._lr_scale(variable),),
                                             group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(
            decay_all, self._distribution_strategy, variables)

    def _update_model_variables_moving_average(self, trainable_variables):
        if not (self.use_ema and self.ema_warmup):
            return super()._update_model_variables_moving_average(trainable_variables)
        from keras import ops

        step = ops.cast(self.iterations, "float32")
        # 0 at the first step: the average starts as a copy of the weights, as in Keras.
        momentum = ops.where(ops.equal(step, 0.0), 0.0,
                             ops.minimum(self.ema_momentum, (1.0 + step) / (10.0 + step)))
        for var, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                m = ops.cast(momentum, var.dtype)
                average.assign(ops.add(ops.multiply(m, average), ops.multiply(1 - m, var)))

    def get_config(self):
        config = super().get_config()
        config["ema_warmup"] = self.ema_warmup
        config["lr_multipliers"] = dict(self.lr_multipliers)
        return config
