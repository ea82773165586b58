"""Input normalization inside the model, so that apps feed raw RGB pixels."""
import keras
from keras import layers, ops

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@keras.saving.register_keras_serializable(package="keras_vit")
class Preprocessing(layers.Layer):
    """Maps raw pixels in [0, 255] (uint8 or float) to the normalization of a checkpoint.

    ``y = (x * scale - mean) / std`` per channel, computed as one multiply-add. With
    ``channel_order="bgr"`` the channels are flipped first (transformers' MobileViT takes
    BGR).

    Args:
        mean: per-channel mean in units of ``x * scale``.
        std: per-channel std in the same units.
        scale: multiplier applied to the raw pixels (``1/255`` for [0, 255] inputs).
        channel_order: ``"rgb"`` or ``"bgr"``: the order the network expects.

    Example:
        >>> x = Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3)(uint8_images)
    """

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, scale=1.0 / 255.0, channel_order="rgb", **kwargs):
        super().__init__(**kwargs)
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}.")
        if len(mean) != len(std):
            raise ValueError(f"mean and std need one value per channel, got {len(mean)} and {len(std)}.")
        if any(not float(s) > 0 for s in std):
            raise ValueError(f"std must be positive for every channel (it divides the pixels), got {tuple(std)}.")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.scale = float(scale)
        self.channel_order = channel_order

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != len(self.mean):
            raise ValueError(
                f"{self.name}: images have {input_shape[-1]} channels, but the normalization is defined "
                f"for {len(self.mean)} channels (mean={self.mean})."
            )

    def call(self, x):
        # A batch of another channel count would broadcast against the per-channel constants
        # (one gray channel read as RGB) instead of failing.
        if x.shape[-1] is not None and x.shape[-1] != len(self.mean):
            raise ValueError(
                f"{self.name}: images have {x.shape[-1]} channel(s), the model takes {len(self.mean)} (RGB). "
                "Convert grayscale first, e.g. np.repeat(images, 3, axis=-1)."
            )
        x = ops.cast(x, self.compute_dtype)
        if self.channel_order == "bgr":
            x = ops.flip(x, axis=-1)
        mean, std = self.mean, self.std
        if self.channel_order == "bgr":
            mean, std = mean[::-1], std[::-1]
        multiplier = ops.convert_to_tensor([self.scale / s for s in std], dtype=self.compute_dtype)
        offset = ops.convert_to_tensor([-m / s for m, s in zip(mean, std)], dtype=self.compute_dtype)
        return x * multiplier + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mean": self.mean, "std": self.std, "scale": self.scale, "channel_order": self.channel_order})
        return config
