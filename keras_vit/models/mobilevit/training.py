"""Training facts of MobileViT (timm's ``ByobNet.group_matcher``; no ``no_weight_decay``).

Only 1-D tensors (batch-norm and layer-norm scales and offsets) and biases are exempt from
weight decay. Layers: the stem is layer 0, then each block of each stage in order (a
MobileViT block, with its transformer, is one layer), the final 1x1 convolution joins the
last block and the head is the last layer.
"""
NO_WEIGHT_DECAY = ()

GROUP_MATCHER = {
    "stem": r"^stem_",
    "blocks": [(r"^stages_(\d+)_(\d+)_", None), (r"^final_conv_", (99999,))],
}
