"""Training facts of ViT (timm's ``VisionTransformer.no_weight_decay`` and ``group_matcher``).

Both are matched against our variable paths (``blocks_3/attn/qkv/kernel``). Besides 1-D
tensors and biases, the position embedding and the class/distillation tokens are never
weight-decayed. Layers for layer-wise learning-rate decay: the embeddings are layer 0,
block ``i`` is layer ``i + 1``, the final norm joins the last block (ordinal 99999, timm's
``MATCH_PREV_GROUP``) and what nothing matches (``fc_norm``, the heads) is the last layer.
"""
NO_WEIGHT_DECAY = (r"(^|/)(pos_embed|cls_token|dist_token|reg_token)$",)

GROUP_MATCHER = {
    "stem": r"^(?:cls_token|pos_embed|patch_embed|norm_pre)/",
    "blocks": [(r"^blocks_(\d+)/", None), (r"^norm/", (99999,))],
}
