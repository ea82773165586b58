"""Training facts of PVT v1 (no timm model; the official code's ``no_weight_decay``).

The official PVT exempts ``pos_embed1`` … ``pos_embed4`` and ``cls_token`` besides 1-D tensors
and biases. Layers, in timm's manner: stage 1's patch and position embeddings are layer 0,
then every block in order; a later stage's patch/position embedding (and stage 4's class
token) share the layer of the stage's first block, the final norm joins the last block and
the head is the last layer.
"""
NO_WEIGHT_DECAY = (r"(^|/)(pos_embed|cls_token)$",)

GROUP_MATCHER = {
    "stem": r"^(?:patch_embed1_|pos_embed1/)",
    "blocks": [
        (r"^(?:patch_embed|pos_embed)(\d+)[_/]", (0,)),
        (r"^cls_token/", (4, 0)),
        (r"^block(\d+)_(\d+)/", None),
        (r"^norm/", (99999,)),
    ],
}
