"""PVT's spatial-reduction attention step, shared by PVT v1 and PVT v2.

"Pyramid Vision Transformer", Wang et al., ICCV 2021 (https://arxiv.org/abs/2102.12122):
keys and values come from the token map shrunk by a strided convolution and normalized;
PVT v2's "linear" SRA pools the map to a fixed size instead. It plugs into
:class:`~keras_vit.layers.Attention` as its ``key_value_step``.
"""
import keras
import numpy as np
from keras import layers, ops


def _gelu(x):
    return keras.activations.gelu(x, approximate=False)


def adaptive_pool_matrix(in_size, out_size):
    """``(out, in)`` averaging weights of PyTorch's ``AdaptiveAvgPool`` along one axis."""
    m = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        start, end = (i * in_size) // out_size, -(-(i + 1) * in_size // out_size)
        m[i, start:end] = 1.0 / (end - start)
    return m


@keras.saving.register_keras_serializable(package="keras_vit")
class SpatialReduction(layers.Layer):
    """PVT's key/value step: ``(B, H*W, C)`` tokens -> fewer ``(B, M, C)`` tokens.

    ``sr_ratio`` > 1: a ``sr_ratio`` x ``sr_ratio`` convolution with that stride, LayerNorm.
    ``linear=True``: adaptive average pooling to ``pool_size`` x ``pool_size``, a 1x1
    convolution, LayerNorm and GELU. Plugs into :class:`~keras_vit.layers.Attention` as its
    ``key_value_step``; sublayers ``sr`` and ``norm`` as timm's attention modules.

    Args:
        sr_ratio: reduction factor (ignored with ``linear``).
        grid_size: (H, W) of the token grid.
        linear: linear SRA (PVT v2 ``*_li``).
        pool_size: output side of the pooling of linear SRA.
        layer_norm_epsilon: epsilon of its LayerNorm (1e-5 in timm, 1e-6 in transformers).

    Example:
        >>> attn = Attention(2, projection="q_kv", key_value_step=SpatialReduction(4, grid_size=(28, 28)))
    """

    def __init__(self, sr_ratio=1, grid_size=None, linear=False, pool_size=7, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if grid_size is None:
            raise ValueError("SpatialReduction needs the grid_size (H, W) of its tokens.")
        self.sr_ratio = sr_ratio
        self.grid_size = tuple(int(s) for s in grid_size)
        self.linear = linear
        self.pool_size = pool_size
        self.layer_norm_epsilon = layer_norm_epsilon

    def _output_grid(self):
        h, w = self.grid_size
        if self.linear:
            return self.pool_size, self.pool_size
        return (h - self.sr_ratio) // self.sr_ratio + 1, (w - self.sr_ratio) // self.sr_ratio + 1

    def build(self, input_shape):
        dim = input_shape[-1]
        h, w = self.grid_size
        policy = self.dtype_policy
        kernel = 1 if self.linear else self.sr_ratio
        self.sr = layers.Conv2D(dim, kernel, strides=kernel, name="sr", dtype=policy)
        self.sr.build((None, h, w, dim) if not self.linear else (None, self.pool_size, self.pool_size, dim))
        self.norm = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="norm", dtype=policy)
        self.norm.build((None, None, dim))
        self.pool_matrix = None
        if self.linear and (h % self.pool_size or w % self.pool_size):
            # Uneven adaptive pooling: one constant (pool*pool, H*W) averaging matrix.
            self.pool_matrix = np.kron(adaptive_pool_matrix(h, self.pool_size), adaptive_pool_matrix(w, self.pool_size))

    def call(self, x):
        h, w = self.grid_size
        c = x.shape[-1]
        if self.linear:
            if self.pool_matrix is not None:
                x = ops.reshape(ops.matmul(ops.cast(self.pool_matrix, x.dtype), x), (-1, self.pool_size, self.pool_size, c))
            else:
                x = ops.reshape(x, (-1, h, w, c))
                x = ops.average_pool(x, (h // self.pool_size, w // self.pool_size), strides=(h // self.pool_size, w // self.pool_size))
        else:
            x = ops.reshape(x, (-1, h, w, c))
        x = self.sr(x)
        gh, gw = self._output_grid()
        x = self.norm(ops.reshape(x, (-1, gh * gw, c)))
        return _gelu(x) if self.linear else x

    def compute_output_shape(self, input_shape):
        gh, gw = self._output_grid()
        return (input_shape[0], gh * gw, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({
            "sr_ratio": self.sr_ratio, "grid_size": self.grid_size, "linear": self.linear,
            "pool_size": self.pool_size, "layer_norm_epsilon": self.layer_norm_epsilon,
        })
        return config
