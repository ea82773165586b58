"""Training facts of PVT v2 (timm's ``PyramidVisionTransformerV2``).

timm's ``no_weight_decay()`` is empty: only 1-D tensors and biases are exempt. Its
``group_matcher`` groups by stage even when fine (``^stages\\.(\\d+)``): the patch embedding
is layer 0, stage ``i`` (its downsampling, blocks and norm) is layer ``i + 1``, the head is last.
"""
NO_WEIGHT_DECAY = ()

GROUP_MATCHER = {
    "stem": r"^patch_embed_",
    "blocks": r"^stages_(\d+)_",
}
