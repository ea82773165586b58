"""Turning a token sequence into one feature vector."""
import keras
from keras import layers, ops

POOLING_MODES = ("token", "avg")


@keras.saving.register_keras_serializable(package="keras_vit")
class TokenPooling(layers.Layer):
    """Pools ``(B, N, C)`` tokens to ``(B, C)``.

    Args:
        mode: ``"token"`` takes one prefix token; ``"avg"`` averages the patch tokens.
        num_prefix_tokens: number of class/distillation tokens excluded from ``"avg"``.
        token_index: which prefix token ``"token"`` takes (0: class, 1: DeiT distillation).

    Example:
        >>> features = TokenPooling("avg", num_prefix_tokens=1)(tokens)
    """

    def __init__(self, mode="token", num_prefix_tokens=1, token_index=0, **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"Unknown pooling {mode!r}; expected one of {POOLING_MODES}.")
        if mode == "token" and num_prefix_tokens < 1:
            raise ValueError("pooling='token' needs a class token; this model has none. Use pooling='avg'.")
        if mode == "token" and not 0 <= token_index < num_prefix_tokens:
            raise ValueError(f"token_index {token_index} is not one of the {num_prefix_tokens} prefix tokens.")
        self.mode = mode
        self.num_prefix_tokens = num_prefix_tokens
        self.token_index = token_index

    def call(self, x):
        if self.mode == "token":
            # A kept axis then a squeeze, not x[:, i]: TFLite turns the axis-dropping slice into
            # a STRIDED_SLICE that XNNPACK does not take, splitting the graph in two partitions.
            i = self.token_index
            return ops.squeeze(x[:, i : i + 1], axis=1)
        return ops.mean(x[:, self.num_prefix_tokens :], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "num_prefix_tokens": self.num_prefix_tokens, "token_index": self.token_index})
        return config
