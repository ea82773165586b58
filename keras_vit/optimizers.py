"""Optimizers that trained models carry in their ``.keras`` files.

Imported by ``import keras_vit`` (through :mod:`keras_vit.models`), so a ``model.keras``
written by ``keras-vit train`` loads with ``keras.saving.load_model`` after ``import
keras_vit``, optimizer included, without importing the training package.
"""
import keras


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
    ``benchmarks/optimizer_trace.py`` measures the first-epoch and per-step times.

    **EMA warmup.** Keras' EMA copies the weights at the first step and then averages with a fixed
    ``ema_momentum``: with 0.995 the average still carries the random initialisation for
    hundreds of steps, which is most of a short run. With ``ema_warmup`` the momentum at
    step ``t`` is ``min(ema_momentum, (1 + t) / (10 + t))`` (the rule of TensorFlow's
    ``ExponentialMovingAverage(num_updates=t)``), so early on the average weighs roughly the
    last ``t / 9`` steps, and the full momentum takes over after ``~10 / (1 - momentum)``
    steps.
    """

    def __init__(self, *args, ema_warmup=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.ema_warmup = bool(ema_warmup)

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
            distribution.extended.update(var, apply_adam, args=(grad, learning_rate),
                                         group=False)

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None or not self._fused():
            return super()._apply_weight_decay(variables)
        import tensorflow as tf

        def decay_all(distribution, variables):
            # The schedule is evaluated once here, not once per variable.
            rate = tf.cast(self.learning_rate, "float32") * tf.cast(self.weight_decay, "float32")

            def decay(variable):
                # Which variables decay is decided as in Keras (on the tf.Variable).
                if self._use_weight_decay(variable):
                    variable.assign_sub(variable * tf.cast(rate, variable.dtype))

            for variable in variables:
                variable = variable.value if isinstance(variable, keras.Variable) else variable
                distribution.extended.update(variable, decay, group=False)

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
        return config
