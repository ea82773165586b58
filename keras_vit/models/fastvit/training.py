"""Training facts of FastViT (timm's ``FastVit``).

timm's ``no_weight_decay()`` is empty: 1-D tensors (BatchNorm scales and offsets) and biases
are exempt. timm stores the layer scales as ``(C, 1, 1)``, so its 1-D rule misses them and it
decays them (as the official ml-fastvit training, which uses timm's optimizer factory, did);
ours are ``(C,)``, so ``WEIGHT_DECAY`` declares them decayed although 1-D.
Its fine ``group_matcher``: the stem is layer 0; stage ``i``'s downsampling and position
encoding join its first block, each block is a layer; the final MobileOne convolution, which
no rule matches, joins the head as the last layer.
"""
NO_WEIGHT_DECAY = ()

# 1-D here, (C, 1, 1) in timm: decayed there, so decayed here.
WEIGHT_DECAY = (r"layer_scale(_[12])?/gamma$",)

GROUP_MATCHER = {
    "stem": r"^stem_",
    "blocks": [
        (r"^stages_(\d+)_downsample_", (0,)),
        (r"^stages_(\d+)_pos_emb_", (0,)),
        (r"^stages_(\d+)_blocks_(\d+)_", None),
    ],
}
