"""Training facts of FastViT (timm's ``FastVit``).

timm's ``no_weight_decay()`` is empty: only 1-D tensors (BatchNorm scales and offsets, layer
scales) and biases are exempt. Its fine ``group_matcher``: the stem is layer 0; stage ``i``'s
downsampling and position encoding join its first block, each block is a layer; the final
MobileOne convolution, which no rule matches, joins the head as the last layer.
"""
NO_WEIGHT_DECAY = ()

GROUP_MATCHER = {
    "stem": r"^stem_",
    "blocks": [
        (r"^stages_(\d+)_downsample_", (0,)),
        (r"^stages_(\d+)_pos_emb_", (0,)),
        (r"^stages_(\d+)_blocks_(\d+)_", None),
    ],
}
