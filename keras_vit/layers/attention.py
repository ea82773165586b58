"""Multi-head attention that every family extends instead of copying.

One layer covers what the ViT families need:

- an additive attention bias, either a sublayer (``position_bias``: a relative position bias
  table, BEiT/Swin/DAT) or a tensor passed at call time;
- an attention mask (shifted windows): additive (0 / -100 as Swin) or boolean, passed at
  call time, optionally per window group;
- per-projection bias switches (``qkv_bias=(True, False, True)``: BEiT's q and v biases
  without a k bias);
- pluggable steps that compute the inputs of the projections: ``key_value_step`` (PVT's
  spatial reduction, CvT's strided convolutional projections, DAT's sampled keys) and
  ``query_step`` (CvT's convolutional query projection);
- the projection layout of the checkpoints we load: one fused ``qkv`` Dense (timm ViT),
  ``q`` and ``kv`` (PVT), or ``q``, ``k`` and ``v`` (CvT).

The scaled-dot-product core is :meth:`Attention.attend`, which blocks that regroup tokens
themselves (MobileViT) call directly.
"""
import keras
from keras import layers, ops
from .fusion import tokenwise

PROJECTIONS = ("qkv", "q_kv", "q_k_v")
_MASK_VALUE = -1e9


def _bias_switches(qkv_bias):
    if isinstance(qkv_bias, bool):
        return (qkv_bias,) * 3
    switches = tuple(bool(b) for b in qkv_bias)
    if len(switches) != 3:
        raise ValueError(f"qkv_bias must be a bool or three bools (q, k, v), got {qkv_bias!r}.")
    return switches


def _serialize(layer):
    """A sublayer's config without its build state: the parent layer builds it."""
    if layer is None:
        return None
    config = keras.saving.serialize_keras_object(layer)
    config.pop("build_config", None)
    return config


def _deserialize(config):
    if config is None or isinstance(config, layers.Layer):
        return config
    return keras.saving.deserialize_keras_object(config)


@keras.saving.register_keras_serializable(package="keras_vit")
class Attention(layers.Layer):
    """Multi-head attention over ``(batch, tokens, dim)`` (Vaswani et al., 2017), extensible.

    Args:
        num_heads: number of attention heads; the attention width must be divisible by it.
        qkv_bias: bias of the q, k and v projections: a bool, or three bools (BEiT:
            ``(True, False, True)``). With a fused ``qkv`` projection and mixed switches the
            biases are separate variables ``q_bias``/``k_bias``/``v_bias`` (timm's BEiT layout).
        qk_scale: scale of the dot products; ``None`` means ``head_dim ** -0.5``.
        attn_drop_rate: dropout on the attention probabilities.
        proj_drop_rate: dropout after the output projection.
        projection: ``"qkv"`` (one fused Dense), ``"q_kv"`` (``q`` and fused ``kv``) or
            ``"q_k_v"`` (three Dense layers).
        dim: attention width (default: the input width). The output has this width.
        key_value_step: optional layer mapping the tokens to the tokens keys and values are
            computed from (a tensor), or to separate key and value inputs (a tuple).
        query_step: optional layer mapping the tokens to the input of the query projection.
        position_bias: optional layer adding a bias to the ``(B, heads, N, M)`` scores.
        proj_bias: bias of the output projection.

    Call arguments:
        attention_bias: additive bias broadcastable to ``(B, heads, N, M)``.
        attention_mask: additive float or boolean (``True`` = attend) mask, broadcastable to
            the scores; a rank-3 ``(G, N, M)`` mask applies to groups of ``G`` consecutive
            batch entries (the windows of one image).
        return_attention_scores: also return the probabilities ``(B, heads, N, M)``.

    Example:
        >>> y = Attention(num_heads=3)(tokens)
        >>> y, probs = Attention(num_heads=3, qkv_bias=(True, False, True))(tokens, return_attention_scores=True)
    """

    def __init__(
        self,
        num_heads,
        qkv_bias=True,
        qk_scale=None,
        attn_drop_rate=0.0,
        proj_drop_rate=0.0,
        projection="qkv",
        dim=None,
        key_value_step=None,
        query_step=None,
        position_bias=None,
        proj_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}.")
        if projection == "qkv" and (key_value_step is not None or query_step is not None):
            raise ValueError("A key_value_step or query_step needs separate projections: projection='q_kv' or 'q_k_v'.")
        self.num_heads = num_heads
        self.qkv_bias = qkv_bias if isinstance(qkv_bias, bool) else tuple(_bias_switches(qkv_bias))
        self.qk_scale = qk_scale
        self.attn_drop_rate = attn_drop_rate
        self.proj_drop_rate = proj_drop_rate
        self.projection = projection
        self.dim = dim
        self.proj_bias = proj_bias
        self.key_value_step = _deserialize(key_value_step)
        self.query_step = _deserialize(query_step)
        self.position_bias = _deserialize(position_bias)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        dim = self.dim or in_dim
        if dim % self.num_heads:
            raise ValueError(f"{self.name}: attention width {dim} is not divisible by num_heads={self.num_heads}.")
        self.head_dim = dim // self.num_heads
        self.scale = self.qk_scale if self.qk_scale is not None else self.head_dim**-0.5
        policy = self.dtype_policy
        q_in, kv_in = input_shape, input_shape
        if self.query_step is not None:
            if not self.query_step.built:
                self.query_step.build(input_shape)
            q_in = self.query_step.compute_output_shape(input_shape)
        if self.key_value_step is not None:
            if not self.key_value_step.built:
                self.key_value_step.build(input_shape)
            kv_in = self.key_value_step.compute_output_shape(input_shape)
        k_in, v_in = kv_in if isinstance(kv_in, (tuple, list)) and isinstance(kv_in[0], (tuple, list)) else (kv_in, kv_in)
        switches = _bias_switches(self.qkv_bias)
        fused_bias = switches[0] if len(set(switches)) == 1 else False
        self.q_bias = self.k_bias = self.v_bias = None
        if self.projection == "qkv":
            self.qkv = layers.Dense(3 * dim, use_bias=fused_bias, name="qkv", dtype=policy)
            self.qkv.build(input_shape)
            if len(set(switches)) > 1:
                # timm's BEiT keeps q and v biases apart and adds a zero k bias.
                for part, on in zip(("q", "k", "v"), switches):
                    if on:
                        setattr(self, f"{part}_bias", self.add_weight(name=f"{part}_bias", shape=(dim,), initializer="zeros"))
        elif self.projection == "q_kv":
            if switches[1] != switches[2]:
                raise ValueError(f"{self.name}: a fused kv projection has one bias switch for k and v, got {switches}.")
            self.q = layers.Dense(dim, use_bias=switches[0], name="q", dtype=policy)
            self.q.build(q_in)
            self.kv = layers.Dense(2 * dim, use_bias=switches[1], name="kv", dtype=policy)
            self.kv.build(k_in)
        else:
            for part, shape, on in zip(("q", "k", "v"), (q_in, k_in, v_in), switches):
                dense = layers.Dense(dim, use_bias=on, name=part, dtype=policy)
                dense.build(shape)
                setattr(self, part, dense)
        if self.position_bias is not None and not self.position_bias.built:
            self.position_bias.build(None)
        self.proj = layers.Dense(dim, use_bias=self.proj_bias, name="proj", dtype=policy)
        self.proj.build(tuple(input_shape[:-1]) + (dim,))
        self.attn_drop = layers.Dropout(self.attn_drop_rate, dtype=policy)
        self.proj_drop = layers.Dropout(self.proj_drop_rate, dtype=policy)

    def split_heads(self, x):
        """``(B, N, heads * D)`` -> ``(B, heads, N, D)``; 4-D transposes stay on TFLite's fast kernels."""
        num_tokens = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        x = ops.reshape(x, (-1, num_tokens, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def merge_heads(self, x):
        """``(B, heads, N, D)`` -> ``(B, N, heads * D)``."""
        num_tokens = x.shape[2] if x.shape[2] is not None else ops.shape(x)[2]
        return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (-1, num_tokens, self.num_heads * self.head_dim))

    def project(self, x, training=None):
        """The query, key and value tokens ``(B, N, C)``, ``(B, M, C)``, ``(B, M, C)``."""
        if self.projection == "qkv":
            qkv = tokenwise(self.qkv, x, training=training)
            biases = (self.q_bias, self.k_bias, self.v_bias)
            if any(b is not None for b in biases):
                zeros = ops.zeros((qkv.shape[-1] // 3,), dtype=qkv.dtype)
                qkv = qkv + ops.concatenate([zeros if b is None else ops.cast(b, qkv.dtype) for b in biases])
            return ops.split(qkv, 3, axis=-1)
        q_in = x if self.query_step is None else self.query_step(x, training=training)
        kv_in = x if self.key_value_step is None else self.key_value_step(x, training=training)
        k_in, v_in = kv_in if isinstance(kv_in, (tuple, list)) else (kv_in, kv_in)
        if self.projection == "q_kv":
            k, v = ops.split(tokenwise(self.kv, k_in, training=training), 2, axis=-1)
            return tokenwise(self.q, q_in, training=training), k, v
        return tokenwise(self.q, q_in, training=training), tokenwise(self.k, k_in, training=training), tokenwise(self.v, v_in, training=training)

    def attend(self, q, k, v, attention_bias=None, attention_mask=None, training=None):
        """Scaled dot-product attention of ``(B, heads, N, D)`` queries over ``(B, heads, M, D)``.

        Returns ``(output (B, heads, N, D), probabilities (B, heads, N, M))``.
        """
        if q.shape[2] == 1 and k.shape[2] == 1 and attention_bias is None and attention_mask is None and self.position_bias is None:
            # One token attends only to itself: softmax over one score is exactly 1, so the
            # output is v (MobileViT's last stage at small inputs); skip the degenerate ops.
            return v, ops.ones_like(q[..., :1])
        q = q * ops.cast(self.scale, q.dtype)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
        if self.position_bias is not None:
            scores = self.position_bias(scores)
        if attention_bias is not None:
            scores = scores + ops.cast(attention_bias, scores.dtype)
        if attention_mask is not None:
            scores = self._apply_mask(scores, attention_mask)
        probs = ops.softmax(scores, axis=-1)
        return ops.matmul(self.attn_drop(probs, training=training), v), probs

    def _apply_mask(self, scores, mask):
        if mask.dtype == "bool":
            mask = ops.where(mask, 0.0, _MASK_VALUE)
        mask = ops.cast(mask, scores.dtype)
        if len(mask.shape) != 3:
            return scores + mask
        groups, n, m = mask.shape
        grouped = ops.reshape(scores, (-1, groups, self.num_heads, n, m)) + mask[None, :, None]
        return ops.reshape(grouped, (-1, self.num_heads, n, m))

    def call(self, x, attention_bias=None, attention_mask=None, training=None, return_attention_scores=False):
        q, k, v = self.project(x, training=training)
        out, probs = self.attend(
            self.split_heads(q), self.split_heads(k), self.split_heads(v),
            attention_bias=attention_bias, attention_mask=attention_mask, training=training,
        )
        out = self.proj_drop(tokenwise(self.proj, self.merge_heads(out), training=training), training=training)
        return (out, probs) if return_attention_scores else out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.dim or input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "qkv_bias": self.qkv_bias,
                "qk_scale": self.qk_scale,
                "attn_drop_rate": self.attn_drop_rate,
                "proj_drop_rate": self.proj_drop_rate,
                "projection": self.projection,
                "dim": self.dim,
                "key_value_step": _serialize(self.key_value_step),
                "query_step": _serialize(self.query_step),
                "position_bias": _serialize(self.position_bias),
                "proj_bias": self.proj_bias,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_vit")
class MultiHeadSelfAttention(Attention):
    """Plain ViT self-attention: :class:`Attention` with one fused ``qkv`` projection.

    Kept as the name earlier releases used; ``.keras`` files that saved it still load.

    Example:
        >>> y = MultiHeadSelfAttention(num_heads=3)(tokens)
    """


@keras.saving.register_keras_serializable(package="keras_vit")
class RelativePositionBias(layers.Layer):
    """Learned relative position bias of a ``window`` of tokens, added to attention scores.

    The table has one row per relative offset, ``(2 Wh - 1) (2 Ww - 1)`` rows, and one column
    per head (Swin, Liu et al. 2021). With ``num_prefix_tokens=1`` it has three more rows for
    class-token-to-patch, patch-to-class-token and class-to-class (BEiT, Bao et al. 2021).
    The index map is a constant computed once in NumPy; the lookup is a gather of a variable
    by a constant, which TFLite folds into a constant bias.

    Args:
        window_size: (height, width) of the token grid the bias covers.
        num_heads: attention heads.
        num_prefix_tokens: 0 (Swin) or 1 (BEiT's class token).

    Example:
        >>> attn = Attention(num_heads=3, position_bias=RelativePositionBias((14, 14), 3, num_prefix_tokens=1))
    """

    def __init__(self, window_size, num_heads, num_prefix_tokens=0, **kwargs):
        super().__init__(**kwargs)
        self.window_size = tuple(int(s) for s in window_size)
        self.num_heads = num_heads
        self.num_prefix_tokens = num_prefix_tokens
        if num_prefix_tokens not in (0, 1):
            raise ValueError(f"num_prefix_tokens must be 0 or 1, got {num_prefix_tokens}.")

    def build(self, input_shape=None):
        from .resample import relative_position_index

        self.index = relative_position_index(self.window_size, self.num_prefix_tokens)
        rows = int(self.index.max()) + 1
        self.relative_position_bias_table = self.add_weight(
            name="relative_position_bias_table",
            shape=(rows, self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )

    def bias(self):
        """The ``(heads, N, N)`` bias."""
        n = self.index.shape[0]
        table = ops.take(self.relative_position_bias_table, ops.convert_to_tensor(self.index.reshape(-1)), axis=0)
        return ops.transpose(ops.reshape(table, (n, n, self.num_heads)), (2, 0, 1))

    def call(self, scores):
        return scores + ops.cast(self.bias(), scores.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"window_size": self.window_size, "num_heads": self.num_heads, "num_prefix_tokens": self.num_prefix_tokens})
        return config
