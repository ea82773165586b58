"""The pre-norm transformer encoder block used by ViT, DeiT and most of their descendants."""
import keras
from keras import layers

from .attention import Attention, _deserialize, _serialize
from .mlp import MLP
from .regularization import DropPath, LayerScale


@keras.saving.register_keras_serializable(package="keras_vit")
class TransformerBlock(layers.Layer):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``.

    Sublayers are named like timm's (``norm1``, ``attn``, ``ls1``, ``norm2``, ``mlp``, ``ls2``)
    so that checkpoint key maps stay one-to-one.

    Args:
        num_heads: attention heads.
        mlp_ratio: MLP hidden width as a multiple of the token dim.
        qkv_bias: bias in the qkv projection.
        qk_scale: attention scale override (``None``: ``head_dim ** -0.5``).
        drop_rate: dropout after the attention projection and in the MLP.
        attn_drop_rate: dropout on attention probabilities.
        drop_path_rate: stochastic depth rate of both residual branches.
        layer_scale_init: initial LayerScale value, or ``None`` for no layer scale.
        layer_norm_epsilon: LayerNorm epsilon (1e-6 in the ViT/DeiT references).
        activation: MLP activation.
        attention: the attention layer the block uses (an unbuilt :class:`Attention` or
            subclass, renamed ``attn``); ``None`` builds a plain one from the arguments above.
            Its call arguments (``attention_bias``, ``attention_mask``) pass through the block.

    Example:
        >>> y = TransformerBlock(num_heads=3)(tokens)
        >>> bias = RelativePositionBias((14, 14), 3, num_prefix_tokens=1)
        >>> y = TransformerBlock(3, attention=Attention(3, qkv_bias=(True, False, True), position_bias=bias))(tokens)
    """

    def __init__(
        self,
        num_heads,
        mlp_ratio=4.0,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        layer_scale_init=None,
        layer_norm_epsilon=1e-6,
        activation="gelu",
        attention=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.custom_attention = _deserialize(attention)
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.qk_scale = qk_scale
        self.drop_rate = drop_rate
        self.attn_drop_rate = attn_drop_rate
        self.drop_path_rate = drop_path_rate
        self.layer_scale_init = layer_scale_init
        self.layer_norm_epsilon = layer_norm_epsilon
        self.activation = activation

    def build(self, input_shape):
        dim = input_shape[-1]
        policy = self.dtype_policy
        self.norm1 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm1", dtype=policy)
        if self.custom_attention is not None:
            # Variable paths (blocks_i/attn/...) are what the weight converters map to.
            self.custom_attention.name = "attn"
            self.attn = self.custom_attention
        else:
            self.attn = Attention(
                self.num_heads,
                qkv_bias=self.qkv_bias,
                qk_scale=self.qk_scale,
                attn_drop_rate=self.attn_drop_rate,
                proj_drop_rate=self.drop_rate,
                name="attn",
                dtype=policy,
            )
        self.norm2 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm2", dtype=policy)
        self.mlp = MLP(int(dim * self.mlp_ratio), activation=self.activation, drop_rate=self.drop_rate, name="mlp", dtype=policy)
        self.ls1 = self.ls2 = None
        if self.layer_scale_init is not None:
            self.ls1 = LayerScale(self.layer_scale_init, name="ls1", dtype=policy)
            self.ls2 = LayerScale(self.layer_scale_init, name="ls2", dtype=policy)
        self.drop_path = DropPath(self.drop_path_rate, dtype=policy)
        for layer in (self.norm1, self.attn, self.norm2, self.mlp, self.ls1, self.ls2):
            if layer is not None:
                layer.build(input_shape)

    def _residual(self, x, branch, scale, training):
        if scale is not None:
            branch = scale(branch)
        return x + self.drop_path(branch, training=training)

    def _attention(self, x, training, return_attention_scores, **attention_kwargs):
        """The attention branch; blocks that regroup tokens around attention override it."""
        return self.attn(x, training=training, return_attention_scores=return_attention_scores, **attention_kwargs)

    def call(self, x, training=None, return_attention_scores=False, **attention_kwargs):
        attn_out = self._attention(self.norm1(x), training, return_attention_scores, **attention_kwargs)
        if return_attention_scores:
            attn_out, scores = attn_out
        x = self._residual(x, attn_out, self.ls1, training)
        x = self._residual(x, self.mlp(self.norm2(x), training=training), self.ls2, training)
        if return_attention_scores:
            return x, scores
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio,
                "qkv_bias": self.qkv_bias,
                "qk_scale": self.qk_scale,
                "drop_rate": self.drop_rate,
                "attn_drop_rate": self.attn_drop_rate,
                "drop_path_rate": self.drop_path_rate,
                "layer_scale_init": self.layer_scale_init,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "activation": self.activation,
                "attention": _serialize(self.custom_attention),
            }
        )
        return config
