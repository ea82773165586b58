"""MobileViT's unfold and fold (a feature map to per-pixel patch sequences and back), and
the transformer block the model uses, which works on the map and regroups it only inside
attention.

The MobileViT block runs its transformer over sequences made of the same pixel of every
``ph`` x ``pw`` patch: a ``(B, H, W, C)`` map becomes ``(B * P, N, C)`` with
``P = ph * pw`` pixels per patch and ``N = (H / ph) * (W / pw)`` patches. Both the
sequence index (``b * P + i * pw + j`` for pixel ``(i, j)`` of a patch) and the token
index (``r * (W / pw) + c`` for patch ``(r, c)``) follow the reference implementations
(apple/ml-cvnets, timm, transformers), so that intermediate tensors can be compared with
theirs. Everything is reshapes and transposes, channels-last, which TFLite converts to
builtin operators: at most 5 dimensions in Unfold and Fold, 6 in the block (the most that
TFLite's TRANSPOSE and XNNPACK take).

A map whose size is not a multiple of the patch is resized bilinearly (half-pixel
centres, no antialiasing: PyTorch's ``align_corners=False``) to the next multiple before
unfolding, and back after folding, as the references do.

A model built for any input size (``input_shape=(None, None, 3)``, for the multi-scale
training of the paper) knows its maps' sizes only when it runs: the block then reads the
patch grid from ``ops.shape`` and :class:`ResizeToPatch`/:class:`ResizeLike` do the resize
at call time. A model of fixed size keeps its static grid and layers.
"""

import keras
from keras import layers, ops

from ...layers import TransformerBlock
from ...layers.fusion import layer_norm


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _next_multiple(size, patch):
    # ints for static sizes, scalar tensors for sizes known only at call time
    return (size + patch - 1) // patch * patch


def _grid(size, patch_size):
    """Patches per side and the padded size, for a (height, width) map."""
    (h, w), (ph, pw) = size, patch_size
    new_h, new_w = _next_multiple(h, ph), _next_multiple(w, pw)
    return new_h // ph, new_w // pw, new_h, new_w


def patch_grid_size(size, patch_size):
    """The (height, width) a map is resized to before unfolding: the next multiples of the patch."""
    _, _, new_h, new_w = _grid(size, _pair(patch_size))
    return new_h, new_w


def _resize(x, size):
    return ops.image.resize(x, size, interpolation="bilinear", antialias=False)


@keras.saving.register_keras_serializable(package="keras_vit")
class Unfold(layers.Layer):
    """``(B, H, W, C)`` feature map -> ``(B * P, N, C)`` patch-pixel sequences.

    Needs a static height and width (one model per input size, as for TFLite).

    Args:
        patch_size: int or (height, width) of a patch.

    Example:
        >>> tokens = Unfold(2)(feature_map)  # (B, 32, 32, 64) -> (B * 4, 256, 64)
    """

    def __init__(self, patch_size=2, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _pair(patch_size)

    def build(self, input_shape):
        if input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"{self.name}: MobileViT needs a fixed input height and width, got {input_shape}.")

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        (ph, pw) = self.patch_size
        nh, nw, new_h, new_w = _grid((h, w), self.patch_size)
        if (new_h, new_w) != (h, w):
            x = _resize(x, (new_h, new_w))
        # (B, nh, ph, nw, pw*C) -> (B, ph, nh, nw, pw*C) = (B*ph, N, pw, C) -> (B*ph, pw, N, C)
        x = ops.reshape(x, (-1, nh, ph, nw, pw * c))
        x = ops.transpose(x, (0, 2, 1, 3, 4))
        x = ops.reshape(x, (-1, nh * nw, pw, c))
        x = ops.transpose(x, (0, 2, 1, 3))
        return ops.reshape(x, (-1, nh * nw, c))

    def compute_output_shape(self, input_shape):
        nh, nw, _, _ = _grid(input_shape[1:3], self.patch_size)
        batch = None if input_shape[0] is None else input_shape[0] * self.patch_size[0] * self.patch_size[1]
        return (batch, nh * nw, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class Fold(layers.Layer):
    """``(B * P, N, C)`` patch-pixel sequences -> ``(B, H, W, C)``: the inverse of :class:`Unfold`.

    Args:
        patch_size: int or (height, width) of a patch.
        output_size: (height, width) of the map that was unfolded.

    Example:
        >>> feature_map = Fold(2, output_size=(32, 32))(tokens)
    """

    def __init__(self, patch_size=2, output_size=None, **kwargs):
        super().__init__(**kwargs)
        if output_size is None:
            raise ValueError("Fold needs the output_size (height, width) of the map that was unfolded.")
        self.patch_size = _pair(patch_size)
        self.output_size = tuple(int(s) for s in output_size)

    def call(self, x):
        c = x.shape[-1]
        (ph, pw) = self.patch_size
        nh, nw, new_h, new_w = _grid(self.output_size, self.patch_size)
        x = ops.reshape(x, (-1, pw, nh * nw, c))
        x = ops.transpose(x, (0, 2, 1, 3))
        x = ops.reshape(x, (-1, ph, nh, nw, pw * c))
        x = ops.transpose(x, (0, 2, 1, 3, 4))
        x = ops.reshape(x, (-1, new_h, new_w, c))
        if (new_h, new_w) != self.output_size:
            x = _resize(x, self.output_size)
        return x

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] // (self.patch_size[0] * self.patch_size[1])
        return (batch,) + self.output_size + (input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "output_size": self.output_size})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class Resize(layers.Layer):
    """Bilinear resize of a ``(B, H, W, C)`` map as the references do (PyTorch's
    ``align_corners=False``, no antialiasing), for maps that are not a multiple of the patch.

    Args:
        size: (height, width) of the output.

    Example:
        >>> x = Resize((6, 6))(feature_map)  # (B, 5, 5, C) -> (B, 6, 6, C)
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(int(s) for s in size)

    def call(self, x):
        return _resize(x, self.size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.size + (input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size})
        return config


def _source_pixels(in_size, out_size):
    """Rows (or columns) that bilinear resizing with half-pixel centres reads, and the weight of the second."""
    scale = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
    position = ops.maximum((ops.cast(ops.arange(out_size), "float32") + 0.5) * scale - 0.5, 0.0)
    low = ops.floor(position)
    low_index = ops.cast(low, "int32")
    return low_index, ops.minimum(low_index + 1, in_size - 1), position - low


def _resize_any(x, size):
    """:func:`_resize` for sizes that may be tensors (keras' resize wants Python ints): the same
    interpolation as two gathers and a lerp per axis, width first as TensorFlow's kernel does."""
    if all(isinstance(v, int) for v in (*ops.shape(x)[1:3], *size)):
        return _resize(x, size)
    for axis, out_size in ((2, size[1]), (1, size[0])):
        low, high, frac = _source_pixels(ops.shape(x)[axis], out_size)
        frac = ops.cast(ops.reshape(frac, (-1, 1) if axis == 2 else (-1, 1, 1)), x.dtype)
        first = ops.take(x, low, axis=axis)
        x = first + (ops.take(x, high, axis=axis) - first) * frac
    return x


@keras.saving.register_keras_serializable(package="keras_vit")
class ResizeToPatch(layers.Layer):
    """Bilinear resize of a ``(B, H, W, C)`` map to the next multiples of the patch, sized at
    call time: :class:`Resize` for models built for any input size (``None`` height or width).

    Same interpolation as :class:`Resize`; a map that is already a multiple is returned as it is
    when its size is static, and resized to its own size (an exact identity) otherwise.

    Args:
        patch_size: int or (height, width) of a patch.

    Example:
        >>> x = ResizeToPatch(2)(feature_map)  # (B, 5, 5, C) -> (B, 6, 6, C); (B, 6, 6, C) unchanged
    """

    def __init__(self, patch_size=2, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = _pair(patch_size)

    def call(self, x):
        shape = ops.shape(x)
        h, w = shape[1], shape[2]
        size = (_next_multiple(h, self.patch_size[0]), _next_multiple(w, self.patch_size[1]))
        if all(isinstance(v, int) for v in (h, w)) and size == (h, w):
            return x
        return _resize_any(x, size)

    def compute_output_shape(self, input_shape):
        size = [None if s is None else _next_multiple(s, p) for s, p in zip(input_shape[1:3], self.patch_size)]
        return (input_shape[0], *size, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size})
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class ResizeLike(layers.Layer):
    """Bilinear resize of a map to the height and width of a second one, read at call time:
    the way back of :class:`ResizeToPatch` (``ResizeLike()([x, before])``).

    Example:
        >>> y = ResizeLike()([transformed, feature_map])  # transformed resized to feature_map's size
    """

    def call(self, inputs):
        x, reference = inputs
        (h, w), (rh, rw) = ops.shape(x)[1:3], ops.shape(reference)[1:3]
        if all(isinstance(v, int) for v in (h, w, rh, rw)) and (h, w) == (rh, rw):
            return x
        return _resize_any(x, (rh, rw))

    def compute_output_shape(self, input_shape):
        x, reference = input_shape
        return (x[0], reference[1], reference[2], x[3])


@keras.saving.register_keras_serializable(package="keras_vit")
class MobileViTTransformerBlock(TransformerBlock):
    """:class:`TransformerBlock` over a whole ``(B, H, W, C)`` map, attention within patch pixels.

    Computes exactly ``Fold(TransformerBlock(Unfold(x)))``: every token-wise operation (norms,
    qkv, projection, MLP) runs on the map as it is, and only attention regroups its inputs,
    the same pixel of every ``ph`` x ``pw`` patch forming one sequence. That regrouping and
    the split into heads are one 6-D transpose of the fused qkv tensor, and one more puts the
    heads' outputs back, so the block needs two transposes instead of the four of
    :class:`MultiHeadSelfAttention` plus unfold and fold around the transformer. Sublayers
    and weights are the parent's (``norm1``, ``attn/qkv``, ``attn/proj``, ``norm2``,
    ``mlp/fc1``, ``mlp/fc2``), so checkpoints convert the same way.

    Args:
        patch_size: int or (height, width) of a patch; height and width of the map must be
            multiples of it (resize first, as :class:`Unfold` does). They may be ``None`` (a
            model for any input size): the patch grid is then read at call time.
        **kwargs: the arguments of :class:`TransformerBlock`.

    Example:
        >>> y = MobileViTTransformerBlock(num_heads=4, patch_size=2, mlp_ratio=2.0)(feature_map)
    """

    def __init__(self, num_heads, patch_size=2, **kwargs):
        super().__init__(num_heads, **kwargs)
        self.patch_size = _pair(patch_size)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: needs a (batch, height, width, channels) map, got {input_shape}.")
        self._check_grid(input_shape[1:3])
        super().build(input_shape)

    def _check_grid(self, size):
        if any(s is not None and s % p for s, p in zip(size, self.patch_size)):
            raise ValueError(
                f"{self.name}: map size {tuple(size)} is not a multiple of the patch {self.patch_size}; "
                "resize it to the next multiple first (ResizeToPatch), as the MobileViT block does.")

    def call(self, x, training=None, return_attention_scores=False, **attention_kwargs):
        # The parent's computation; the norms through fusion.layer_norm, whose inference form
        # TFLite folds into qkv and fc1 (two full-size ops per norm instead of five).
        attn_out = self._attention(layer_norm(self.norm1, x, training), training, return_attention_scores,
                                   **attention_kwargs)
        if return_attention_scores:
            attn_out, scores = attn_out
        x = self._residual(x, attn_out, self.ls1, training)
        x = self._residual(x, self.mlp(layer_norm(self.norm2, x, training), training=training), self.ls2, training)
        return (x, scores) if return_attention_scores else x

    def _attention(self, x, training, return_attention_scores, **attention_kwargs):
        """Attention within patch pixels; scores are ``(B * P, heads, N, N)`` in Unfold's order."""
        attn = self.attn
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        (ph, pw), heads, d = self.patch_size, attn.num_heads, attn.head_dim
        batch = -1
        # A block built for any size checks a static size here; a size known only at run time
        # that is not a multiple fails in the reshape, whose explicit batch leaves no -1 to
        # absorb a wrong grid.
        self._check_grid((h, w))
        if h is None or w is None:
            # Built for any size: the grid comes from the call-time shape.
            batch, h, w = ops.shape(x)[:3]
        nh, nw = h // ph, w // pw
        # (B, nh, ph, nw, pw * 3 * heads, D) -> (B, ph, pw * 3 * heads, nh, nw, D): the qkv
        # columns are (3, heads, D) as in timm, so this is (B * P, 3 * heads, N, D).
        qkv = ops.reshape(attn.qkv(x), (batch, nh, ph, nw, pw * 3 * heads, d))
        qkv = ops.reshape(ops.transpose(qkv, (0, 2, 4, 1, 3, 5)), (-1, 3 * heads, nh * nw, d))
        q, k, v = ops.split(qkv, 3, axis=1)
        out, scores = attn.attend(q, k, v, training=training, **attention_kwargs)
        out = ops.reshape(out, (-1, ph, pw * heads, nh, nw, d))
        out = ops.reshape(ops.transpose(out, (0, 3, 1, 4, 2, 5)), (-1, h, w, c))
        out = attn.proj_drop(attn.proj(out), training=training)
        return (out, scores) if return_attention_scores else out

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size})
        return config
