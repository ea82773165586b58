"""Optimizers that trained models carry in their ``.keras`` files.

Imported by ``import keras_vit`` (through :mod:`keras_vit.models`), so a ``model.keras``
written by ``keras-vit train`` loads with ``keras.saving.load_model`` after ``import
keras_vit``, optimizer included, without importing the training package.
"""
import keras


@keras.saving.register_keras_serializable(package="keras_vit")
class AdamW(keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` whose weights EMA can warm up.

    Keras' EMA copies the weights at the first step and then averages with a fixed
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
