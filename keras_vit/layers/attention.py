"""Multi-head self-attention over a token sequence."""
import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_vit")
class MultiHeadSelfAttention(layers.Layer):
    """Multi-head self-attention with a fused qkv projection (Vaswani et al., 2017).

    Input and output are ``(batch, tokens, dim)``. The fused ``qkv`` Dense layer matches the
    layout of timm checkpoints (q, k, v stacked along the output axis), so converters copy
    weights without reshuffling.

    Args:
        num_heads: number of attention heads; ``dim`` must be divisible by it.
        qkv_bias: whether the qkv projection has a bias.
        qk_scale: scale of the dot products; ``None`` means ``head_dim ** -0.5``.
        attn_drop_rate: dropout on the attention probabilities.
        proj_drop_rate: dropout after the output projection.

    Example:
        >>> y = MultiHeadSelfAttention(num_heads=3)(tokens)
        >>> y, scores = MultiHeadSelfAttention(num_heads=3)(tokens, return_attention_scores=True)
    """

    def __init__(
        self,
        num_heads,
        qkv_bias=True,
        qk_scale=None,
        attn_drop_rate=0.0,
        proj_drop_rate=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.qkv_bias = qkv_bias
        self.qk_scale = qk_scale
        self.attn_drop_rate = attn_drop_rate
        self.proj_drop_rate = proj_drop_rate

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(
                f"{self.name}: token dim {dim} is not divisible by num_heads={self.num_heads}."
            )
        self.head_dim = dim // self.num_heads
        self.scale = self.qk_scale if self.qk_scale is not None else self.head_dim**-0.5
        self.qkv = layers.Dense(3 * dim, use_bias=self.qkv_bias, name="qkv", dtype=self.dtype_policy)
        self.qkv.build(input_shape)
        self.proj = layers.Dense(dim, name="proj", dtype=self.dtype_policy)
        self.proj.build(input_shape)
        self.attn_drop = layers.Dropout(self.attn_drop_rate, dtype=self.dtype_policy)
        self.proj_drop = layers.Dropout(self.proj_drop_rate, dtype=self.dtype_policy)

    def _split_heads(self, x, num_tokens):
        # (B, N, C) -> (B, H, N, D); 4-D transposes stay on TFLite's fast kernels.
        x = ops.reshape(x, (-1, num_tokens, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, training=None, return_attention_scores=False):
        num_tokens = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        dim = self.num_heads * self.head_dim
        q, k, v = ops.split(self.qkv(x), 3, axis=-1)
        q = self._split_heads(q * ops.cast(self.scale, q.dtype), num_tokens)
        k = self._split_heads(k, num_tokens)
        v = self._split_heads(v, num_tokens)
        if num_tokens == 1:
            # One token attends only to itself: softmax over one score is exactly 1, so the
            # output is v (MobileViT's last stage at small inputs); skip the degenerate ops.
            attn = ops.ones_like(q[..., :1])
            out = v
        else:
            attn = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), axis=-1)
            out = ops.matmul(self.attn_drop(attn, training=training), v)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, num_tokens, dim))
        out = self.proj_drop(self.proj(out), training=training)
        if return_attention_scores:
            return out, attn
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "qkv_bias": self.qkv_bias,
                "qk_scale": self.qk_scale,
                "attn_drop_rate": self.attn_drop_rate,
                "proj_drop_rate": self.proj_drop_rate,
            }
        )
        return config
