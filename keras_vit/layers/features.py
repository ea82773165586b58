"""Feature pyramids for dense prediction: what ``create_model(..., features_only=True)`` returns.

Two conventions users already have are followed at once:

- keras-hub's ``FeaturePyramidBackbone.pyramid_outputs``: the output is a dict keyed
  ``"P2"`` … ``"P5"``, level ``n`` at stride ``2**n``, NHWC;
- timm's ``feature_info``: per level, its channels, reduction (stride) and the layer it
  comes from.

Hierarchical families hand over their stage outputs. Plain ViTs (one stride throughout)
hand over intermediate blocks reshaped to maps and rescaled without parameters to four
strides around the patch size, as ViTDet's simple pyramid places them (ViTDet learns its
up-sampling; ours is bilinear/max-pool so that every weight stays the checkpoint's).
"""
import math

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_vit")
class TokensToMap(layers.Layer):
    """``(B, prefix + H*W, C)`` tokens -> ``(B, H, W, C)`` map, dropping the prefix tokens.

    Args:
        grid_size: (H, W) of the patch tokens.
        num_prefix_tokens: class/distillation tokens before them.

    Example:
        >>> fmap = TokensToMap((14, 14), num_prefix_tokens=1)(tokens)
    """

    def __init__(self, grid_size, num_prefix_tokens=0, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = tuple(int(s) for s in grid_size)
        self.num_prefix_tokens = num_prefix_tokens

    def call(self, x):
        h, w = self.grid_size
        if self.num_prefix_tokens:
            x = x[:, self.num_prefix_tokens :]
        return ops.reshape(x, (-1, h, w, x.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.grid_size + (input_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"grid_size": self.grid_size, "num_prefix_tokens": self.num_prefix_tokens})
        return config


def rescale_map(x, factor, name):
    """Parameter-free change of stride: bilinear up-sampling (factor > 1) or max pooling."""
    if factor == 1:
        return x
    if factor > 1:
        return layers.UpSampling2D(int(factor), interpolation="bilinear", name=name)(x)
    step = int(round(1 / factor))
    return layers.MaxPooling2D(step, strides=step, name=name)(x)


def level_name(reduction):
    """``"P{n}"`` for a stride of ``2**n``."""
    n = int(round(math.log2(reduction)))
    if 2**n != reduction:
        raise ValueError(f"A pyramid level needs a power-of-two stride, got {reduction}.")
    return f"P{n}"


def producer_name(tensor):
    """Name of the layer that produced a symbolic ``tensor`` (for a level's ``layer_name``)."""
    return tensor._keras_history.operation.name


def recorded_levels(model):
    """The pyramid levels ``[(tensor, reduction, layer_name)]`` the backbone recorded while
    ``model`` was built (see :class:`keras_vit.layers.classifier.Backbone`)."""
    levels = getattr(model, "pyramid_levels", None)
    if levels is None:
        raise ValueError(
            f"Model '{model.name}' has no recorded feature levels: build it with a keras_vit builder "
            "(e.g. create_model(name, features_only=True)); a model loaded from a file does not keep them."
        )
    return list(levels)


def pyramid(model, levels=None, out_indices=None):
    """The feature model: ``levels`` is a list of ``(tensor, reduction, layer_name)``
    (default: the levels the backbone recorded while ``model`` was built).

    ``out_indices`` picks entries of ``levels`` (default: all). Returns a functional model
    whose output is ``{"P<n>": map}`` and whose ``feature_info`` lists the chosen levels.
    """
    if levels is None:
        levels = recorded_levels(model)
    chosen = list(range(len(levels))) if out_indices is None else list(out_indices)
    for i in chosen:
        if not -len(levels) <= i < len(levels):
            raise ValueError(f"out_indices {tuple(chosen)}: this model has {len(levels)} feature levels (0..{len(levels) - 1}).")
    outputs, info = {}, []
    for i in chosen:
        tensor, reduction, layer = levels[i]
        name = level_name(reduction)
        if name in outputs:
            raise ValueError(f"out_indices {tuple(chosen)} select two features at the same stride {reduction}.")
        outputs[name] = tensor
        info.append({"name": name, "num_chs": int(tensor.shape[-1]), "reduction": reduction, "module": layer, "index": i})
    features = keras.Model(model.inputs, outputs, name=f"{model.name}_features")
    features.feature_info = info
    # keras-hub's FeaturePyramidBackbone contract: heads read `pyramid_outputs`.
    features.pyramid_outputs = dict(outputs)
    return features
