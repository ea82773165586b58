"""Training facts of MobileViT v2 (timm's ``ByobNet.group_matcher``; no ``no_weight_decay``).

Only 1-D tensors (batch-norm and GroupNorm scales and offsets) and biases are exempt from
weight decay. Layers: the stem is layer 0, then each block of each stage in order (a
MobileViT v2 block, with its transformer, is one layer), and the head is the last layer.
"""
NO_WEIGHT_DECAY = ()

GROUP_MATCHER = {
    "stem": r"^stem_",
    "blocks": [(r"^stages_(\d+)_(\d+)_", None)],
}
