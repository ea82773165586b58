"""Training facts of EfficientViT (MIT), as timm's ``EfficientVit.group_matcher`` (no ``no_weight_decay``).

Only 1-D tensors (batch-norm and layer-norm scales and offsets) and biases are exempt from
weight decay. Layers: the stem is layer 0, then each block of each stage in order (an
EfficientViT block, context and local module, is one layer); the head (1x1 convolution,
MLP and classifier) is the last layer.
"""
NO_WEIGHT_DECAY = ()

GROUP_MATCHER = {
    "stem": r"^stem_",
    "blocks": [(r"^stages_(\d+)_(\d+)_", None)],
}
