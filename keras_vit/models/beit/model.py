"""BEiT: a ViT with relative position biases and layer scale, pre-trained by masked image modeling.

"BEiT: BERT Pre-Training of Image Transformers", Bao et al., ICLR 2022
(https://arxiv.org/abs/2106.08254).

Against ViT the network differs in four places: every block's attention adds a learned
relative position bias (one table per block, or one table shared by all blocks, as in the
paper's pre-training), blocks scale their residual branches (layer scale), the q and v
projections have biases and k has none, and the head averages the patch tokens and
normalizes after pooling (``fc_norm``). Absolute position embeddings are optional (off in the
released models). Everything is built from the shared layers; the only BEiT-specific layer is
:class:`SharedRelativePositionBias`, which hands one bias to every block.
"""
import keras
from keras import layers, ops

from ...layers import Attention, ClassToken, PatchEmbedding, PositionEmbedding, RelativePositionBias, TransformerBlock
from ...layers.classifier import Backbone, image_classifier
from ..vit.model import features as vit_features
from ..vit.model import transformer_blocks


@keras.saving.register_keras_serializable(package="keras_vit")
class SharedRelativePositionBias(RelativePositionBias):
    """One relative position bias for every block (BEiT pre-training's ``rel_pos_bias``).

    Called on the token sequence, it returns the ``(1, heads, N, N)`` bias that each block
    receives as its ``attention_bias``; the tokens only anchor it in the functional graph.

    Example:
        >>> bias = SharedRelativePositionBias((14, 14), 12, num_prefix_tokens=1, name="rel_pos_bias")(tokens)
        >>> y = block(tokens, attention_bias=bias)
    """

    def call(self, tokens):
        return ops.cast(self.bias(), self.compute_dtype)[None]

    def compute_output_shape(self, input_shape):
        n = self.window_size[0] * self.window_size[1] + self.num_prefix_tokens
        return (1, self.num_heads, n, n)


@image_classifier(name="beit", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
def Beit(
    x,
    *,
    input_shape=(224, 224, 3),
    patch_size=16,
    embed_dim=768,
    depth=12,
    num_heads=12,
    mlp_ratio=4.0,
    qkv_bias=True,
    use_abs_pos_emb=False,
    use_rel_pos_bias=True,
    use_shared_rel_pos_bias=False,
    layer_scale_init=0.1,
    global_pool="avg",
    fc_norm=None,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
    layer_norm_epsilon=1e-6,
):
    """Builds a BEiT as a functional ``keras.Model``.

    Args:
        input_shape: (height, width, 3); both multiples of ``patch_size``.
        patch_size, embed_dim, depth, num_heads, mlp_ratio: as ViT.
        qkv_bias: q and v biases (BEiT never has a k bias); ``False``: no biases.
        use_abs_pos_emb: add learned absolute position embeddings (off in the released models).
        use_rel_pos_bias: a relative position bias table in every block.
        use_shared_rel_pos_bias: one table, ``rel_pos_bias``, shared by all blocks (added to
            the per-block tables if both are on, as timm and transformers do).
        layer_scale_init: initial layer-scale value (0.1 base, 1e-5 large), ``None`` for none.
        global_pool: ``"avg"`` (the released models: mean of the patch tokens, then
            ``fc_norm``) or ``"token"`` (class token after the final ``norm``).
        fc_norm: normalize after pooling (``None``: when pooling is avg).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth.
        layer_norm_epsilon: LayerNorm epsilon (1e-6, timm's; transformers' configs say 1e-12,
            which differs from it by far less than float32 parity needs).
        num_classes, include_top, pooling, classifier_activation: see ``create_model``.
        include_preprocessing, mean, std, channel_order: in-model input normalization
            (default mean and std 0.5).
        name: model name.

    The trunk, head and prologue are ViT's (:func:`keras_vit.models.vit.model.transformer_blocks`,
    the shared wrapper); BEiT gives its blocks' attention.

    Example:
        >>> model = Beit(input_shape=(32, 32, 3), patch_size=8, embed_dim=64, depth=2, num_heads=2, num_classes=10)
    """
    if global_pool not in ("token", "avg"):
        raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}.")
    x = PatchEmbedding(patch_size, embed_dim, name="patch_embed")(x)
    x = ClassToken(name="cls_token")(x)
    grid = PatchEmbedding.grid_size(input_shape, patch_size)
    if use_abs_pos_emb:
        x = PositionEmbedding(grid_size=grid, num_prefix_tokens=1, name="pos_embed")(x)
    x = layers.Dropout(drop_rate, name="pos_drop")(x)
    shared = None
    if use_shared_rel_pos_bias:
        shared = SharedRelativePositionBias(grid, num_heads, num_prefix_tokens=1, name="rel_pos_bias")(x)

    def block(i, rate):
        position_bias = RelativePositionBias(grid, num_heads, num_prefix_tokens=1, name="relative_position_bias") if use_rel_pos_bias else None
        attention = Attention(
            num_heads,
            qkv_bias=(True, False, True) if qkv_bias else False,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=drop_rate,
            position_bias=position_bias,
            name="attn",
        )
        return TransformerBlock(
            num_heads,
            mlp_ratio=mlp_ratio,
            drop_rate=drop_rate,
            drop_path_rate=rate,
            layer_scale_init=layer_scale_init,
            layer_norm_epsilon=layer_norm_epsilon,
            attention=attention,
            name=f"blocks_{i}",
        )

    x, levels = transformer_blocks(
        x,
        depth,
        grid=grid,
        patch_size=patch_size,
        num_prefix_tokens=1,
        block=block,
        drop_path_rate=drop_path_rate,
        call=None if shared is None else (lambda layer, tokens: layer(tokens, attention_bias=shared)),
    )
    return Backbone(
        x,
        levels,
        head="token",
        global_pool=global_pool,
        num_prefix_tokens=1,
        fc_norm=fc_norm,
        layer_norm_epsilon=layer_norm_epsilon,
        drop_rate=drop_rate,
    )


def features(model, out_indices=None):
    """BEiT's feature pyramid, as ViT's: four blocks as maps at strides patch/4 … patch*2.

    ``out_indices`` are block indices (default: the last block of each quarter of the depth,
    2, 5, 8, 11 of 12); the maps are raw block outputs.
    """
    return vit_features(model, out_indices)
