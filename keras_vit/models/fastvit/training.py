"""Training facts of FastViT (timm's ``FastVit``).

timm's ``no_weight_decay()`` is empty: 1-D tensors (BatchNorm scales and offsets) and biases
are exempt. One known difference: timm stores the layer scales as ``(C, 1, 1)``, so its 1-D
rule misses them and it decays them (as the official ml-fastvit training, which uses timm's
optimizer factory, did); ours are ``(C,)`` and exempt, as in every other family.
``NO_WEIGHT_DECAY`` can only exempt more, so matching timm there needs a declaration of
variables to decay although 1-D (tests/training/test_param_groups.py, ``DIFFERENT_DECAY``).
Its fine ``group_matcher``: the stem is layer 0; stage ``i``'s downsampling and position
encoding join its first block, each block is a layer; the final MobileOne convolution, which
no rule matches, joins the head as the last layer.
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
