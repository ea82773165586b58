"""Training facts of BEiT (timm's ``Beit.no_weight_decay`` and ``group_matcher``).

Never weight-decayed besides 1-D tensors and biases (``q_bias``/``v_bias``, layer-scale):
the position embedding, the class token, every relative-position bias table (per block or
shared), and the mask token of masked-image-modelling pre-training (SimMIM's rule; BEiT's
own code decays it). Layers: embeddings and the shared relative-position bias are layer 0,
block ``i`` is ``i + 1``, the final norm joins the last block, ``fc_norm`` and the head are
the last layer: BEiT's fine-tuning uses ``layer_decay ** (depth + 1 - layer)``.
"""
NO_WEIGHT_DECAY = (
    r"(^|/)(pos_embed|cls_token|mask_token)$",
    r"relative_position_bias_table$",
)

GROUP_MATCHER = {
    "stem": r"^(?:cls_token|mask_token|pos_embed|patch_embed|rel_pos_bias)/",
    "blocks": [(r"^blocks_(\d+)/", None), (r"^norm/", (99999,))],
}
