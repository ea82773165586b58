"""Patch embedding, class/distillation tokens and learned position embeddings."""
import keras
from keras import layers, ops


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchEmbedding(layers.Layer):
    """Splits an image into non-overlapping patches and projects each to ``embed_dim``.

    A ``patch_size`` x ``patch_size`` convolution with the same stride, then the grid is
    flattened row-major into a token sequence (the order of every reference ViT).

    Args:
        patch_size: int or (height, width) of a patch.
        embed_dim: output token dim.
        flatten: return ``(B, H*W, C)`` tokens; ``False`` keeps the ``(B, H, W, C)`` grid.

    Example:
        >>> tokens = PatchEmbedding(16, 768)(images)  # (B, 196, 768) for 224x224 images
    """

    def __init__(self, patch_size, embed_dim, flatten=True, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _pair(patch_size)
        self.embed_dim = embed_dim
        self.flatten = flatten

    @staticmethod
    def grid_size(image_size, patch_size):
        """(rows, cols) of patches of an ``(H, W, ...)`` image (floor division)."""
        ph, pw = _pair(patch_size)
        return image_size[0] // ph, image_size[1] // pw

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        for size, patch, what in ((height, self.patch_size[0], "height"), (width, self.patch_size[1], "width")):
            if size is not None and size % patch:
                raise ValueError(
                    f"{self.name}: image {what} {size} is not a multiple of the patch size {patch}. "
                    f"Use an input size divisible by {patch}."
                )
        self.proj = layers.Conv2D(
            self.embed_dim, self.patch_size, strides=self.patch_size, name="proj", dtype=self.dtype_policy
        )
        self.proj.build(input_shape)

    def call(self, images):
        x = self.proj(images)
        if not self.flatten:
            return x
        grid = x.shape[1] * x.shape[2] if x.shape[1] is not None else -1
        return ops.reshape(x, (-1, grid, self.embed_dim))

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        gh = h // self.patch_size[0] if h is not None else None
        gw = w // self.patch_size[1] if w is not None else None
        if not self.flatten:
            return (input_shape[0], gh, gw, self.embed_dim)
        return (input_shape[0], gh * gw if gh is not None and gw is not None else None, self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "embed_dim": self.embed_dim, "flatten": self.flatten})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class ClassToken(layers.Layer):
    """Prepends a learned class token, and optionally DeiT's distillation token.

    Output: ``(B, num_prefix + N, C)`` with the class token first, then the distillation
    token (if any), then the input tokens.

    Args:
        use_distillation_token: also prepend DeiT's distillation token.

    Example:
        >>> tokens = ClassToken()(patch_tokens)  # (B, 1 + N, C)
    """

    def __init__(self, use_distillation_token=False, **kwargs):
        super().__init__(**kwargs)
        self.use_distillation_token = use_distillation_token

    @property
    def num_tokens(self):
        return 2 if self.use_distillation_token else 1

    def build(self, input_shape):
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.cls_token = self.add_weight(name="cls_token", shape=(1, 1, input_shape[-1]), initializer=init)
        self.dist_token = None
        if self.use_distillation_token:
            self.dist_token = self.add_weight(name="dist_token", shape=(1, 1, input_shape[-1]), initializer=init)

    def call(self, x):
        batch = ops.shape(x)[0]
        tokens = [self.cls_token] + ([self.dist_token] if self.dist_token is not None else [])
        tokens = [ops.broadcast_to(ops.cast(t, x.dtype), (batch, 1, x.shape[-1])) for t in tokens]
        return ops.concatenate(tokens + [x], axis=1)

    def compute_output_shape(self, input_shape):
        n = input_shape[1] + self.num_tokens if input_shape[1] is not None else None
        return (input_shape[0], n, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"use_distillation_token": self.use_distillation_token})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class PositionEmbedding(layers.Layer):
    """Adds a learned absolute position embedding of shape ``(1, tokens, dim)``.

    The table's size is fixed by the input; loading a checkpoint made for another
    resolution resamples it (see :func:`keras_vit.layers.resample_position_embedding`).

    Args:
        grid_size: (rows, cols) of the patch tokens, for resampling at load time; ``None``:
            the model's patch grid (one per model, as ViT). Families with several tables
            (PVT's per-stage embeddings) give each its grid.
        num_prefix_tokens: class/distillation tokens before the patch tokens.

    Example:
        >>> tokens = PositionEmbedding(grid_size=(14, 14), num_prefix_tokens=1)(tokens)
    """

    def __init__(self, grid_size=None, num_prefix_tokens=None, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = None if grid_size is None else tuple(int(s) for s in grid_size)
        self.num_prefix_tokens = num_prefix_tokens

    def build(self, input_shape):
        if input_shape[1] is None:
            raise ValueError(f"{self.name}: learned position embeddings need a fixed number of tokens (a fixed input size).")
        self.pos_embed = self.add_weight(
            name="pos_embed",
            shape=(1, input_shape[1], input_shape[2]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )

    def call(self, x):
        return x + ops.cast(self.pos_embed, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"grid_size": self.grid_size, "num_prefix_tokens": self.num_prefix_tokens})
        return config
