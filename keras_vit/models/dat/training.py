"""Training facts of DAT (no timm model; the official code's ``no_weight_decay`` and
``no_weight_decay_keywords``).

The official DAT exempts ``absolute_pos_embed`` and every variable named like
``relative_position_bias_table`` or ``rpe_table`` besides 1-D tensors and biases. Layers, in
timm's manner: the patch projection is layer 0, then every block of every stage in order;
the down-projection after stage ``i`` joins that stage's last block (ordinal 99999), the
final norm joins the last block and the head is the last layer.
"""
NO_WEIGHT_DECAY = (r"relative_position_bias_table$", r"rpe_table$", r"(^|/)absolute_pos_embed$")

GROUP_MATCHER = {
    "stem": r"^patch_proj_",
    "blocks": [
        (r"^stages_(\d+)_(\d+)/", None),
        (r"^down_projs_(\d+)_", (99999,)),
        (r"^cls_norm/", (99999,)),
    ],
}
