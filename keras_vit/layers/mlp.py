"""The transformer feed-forward block."""
import keras
from keras import layers

from .fusion import tokenwise


@keras.saving.register_keras_serializable(package="keras_vit")
class MLP(layers.Layer):
    """Two Dense layers with an activation between them: ``fc2(act(fc1(x)))``.

    Args:
        hidden_dim: width of the hidden layer.
        output_dim: width of the output; ``None`` keeps the input width.
        activation: activation name; ``"gelu"`` is the exact (erf) GELU of the papers.
        drop_rate: dropout after the activation and after ``fc2``.

    Example:
        >>> y = MLP(hidden_dim=4 * 192)(tokens)
    """

    def __init__(self, hidden_dim, output_dim=None, activation="gelu", drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        self.activation = activation
        self.drop_rate = drop_rate

    def build(self, input_shape):
        out_dim = self.output_dim or input_shape[-1]
        self.fc1 = layers.Dense(self.hidden_dim, name="fc1", dtype=self.dtype_policy)
        self.fc1.build(input_shape)
        self.act = layers.Activation(self._activation_fn(), dtype=self.dtype_policy)
        self.fc2 = layers.Dense(out_dim, name="fc2", dtype=self.dtype_policy)
        self.fc2.build(tuple(input_shape[:-1]) + (self.hidden_dim,))
        self.drop = layers.Dropout(self.drop_rate, dtype=self.dtype_policy)

    def _activation_fn(self):
        if self.activation == "gelu":
            # Keras' default GELU is exact, but say so: the references use erf.
            return lambda x: keras.activations.gelu(x, approximate=False)
        return keras.activations.get(self.activation)

    def call(self, x, training=None):
        # On (-1, C): TensorFlow then fuses fc1's MatMul, bias and GELU into one kernel (layers.fusion).
        return tokenwise(lambda t: self._mlp(t, training), x, training=training)

    def _mlp(self, x, training):
        x = self.drop(self.act(self.fc1(x)), training=training)
        return self.drop(self.fc2(x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim or input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "output_dim": self.output_dim,
                "activation": self.activation,
                "drop_rate": self.drop_rate,
            }
        )
        return config
