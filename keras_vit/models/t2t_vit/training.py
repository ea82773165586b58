"""Training facts of T2T-ViT (no timm model; the official code's ``no_weight_decay``).

The official T2T-ViT exempts ``cls_token`` (its position embedding is a fixed sinusoid, not
trained) besides 1-D tensors and biases. Layers, in timm's manner: the tokens-to-token
module and the class token are layer 0, block ``i`` is ``i + 1``, the final norm joins the
last block and the head is the last layer.
"""
NO_WEIGHT_DECAY = (r"(^|/)(cls_token|pos_embed)$",)

GROUP_MATCHER = {
    "stem": r"^(?:tokens_to_token_|cls_token/|pos_embed/)",
    "blocks": [(r"^blocks_(\d+)/", None), (r"^norm/", (99999,))],
}
