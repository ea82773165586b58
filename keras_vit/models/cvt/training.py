"""Training facts of CvT (no timm model; the official code's ``no_weight_decay``).

Microsoft's CvT exempts ``stage{i}.pos_embed`` and ``stage{i}.cls_token`` besides its
``WITHOUT_WD_LIST`` of norms and biases (all 1-D). Layers, in timm's manner: the first
convolutional token embedding is layer 0, then every block in order; a later stage's token
embedding and class token share the layer of the stage's first block (as Swin's patch
merging does), the final norm joins the last block and the head is the last layer.
"""
NO_WEIGHT_DECAY = (r"(^|/)(pos_embed|cls_token)$",)

GROUP_MATCHER = {
    "stem": r"^stage0_patch_embed_",
    "blocks": [
        (r"^stage(\d+)_(?:patch_embed_\w+|cls_token)/", (0,)),
        (r"^stage(\d+)_blocks_(\d+)/", None),
        (r"^norm/", (99999,)),
    ],
}
