"""Stochastic depth and layer scale, shared by every family."""
import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_vit")
class DropPath(layers.Layer):
    """Stochastic depth: drops a whole residual branch per sample.

    From "Deep Networks with Stochastic Depth" (Huang et al., 2016), as used by DeiT and
    later ViTs. Kept samples are rescaled by ``1 / (1 - rate)`` so that inference needs no
    correction.

    Args:
        rate: probability of dropping the branch for a sample.
        seed: optional integer seed.

    Example:
        >>> y = x + DropPath(0.1)(branch(x), training=True)
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {rate}.")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if rate > 0 else None

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = keras.random.uniform(shape, seed=self.seed_generator, dtype=x.dtype)
        mask = ops.floor(mask + ops.cast(keep, x.dtype))
        return x / ops.cast(keep, x.dtype) * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerScale(layers.Layer):
    """Per-channel learnable scale of a residual branch (CaiT, Touvron et al., 2021).

    Args:
        init_value: initial value of every scale.

    Example:
        >>> y = x + LayerScale(1e-5)(branch(x))
    """

    def __init__(self, init_value=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.init_value = init_value

    def build(self, input_shape):
        self.gamma = self.add_weight(
            name="gamma",
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init_value),
        )

    def call(self, x):
        return x * ops.cast(self.gamma, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"init_value": self.init_value})
        return config
