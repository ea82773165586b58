"""Training facts of Swin (timm's ``SwinTransformer.no_weight_decay`` and ``group_matcher``).

Never weight-decayed besides 1-D tensors and biases: the relative-position bias tables (and
an absolute position embedding where one is used). Layers: the patch embedding is layer 0,
then every block in order across stages; a stage's patch merging (``layers_{i}_downsample``)
shares the layer of the stage's first block (both get the ordinal ``(i, 0)``, as in timm),
the final norm joins the last block and the head is the last layer.
"""
NO_WEIGHT_DECAY = (r"relative_position_bias_table$", r"(^|/)absolute_pos_embed$")

GROUP_MATCHER = {
    "stem": r"^patch_embed",
    "blocks": [
        (r"^layers_(\d+)_downsample/", (0,)),
        (r"^layers_(\d+)_blocks_(\d+)/", None),
        (r"^norm/", (99999,)),
    ],
}
