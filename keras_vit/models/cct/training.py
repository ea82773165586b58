"""Training facts of CCT (no timm model; SHI-Labs' ``no_weight_decay``).

The official CCT exempts the learned positional embedding besides 1-D tensors and biases.
Layers, in timm's manner: the convolutional tokenizer and the positional embedding are
layer 0, block ``i`` is ``i + 1``, the final norm joins the last block, and the sequence
pooling and head are the last layer.
"""
NO_WEIGHT_DECAY = (r"(^|/)pos_embed$",)

GROUP_MATCHER = {
    "stem": r"^(?:tokenizer_|positional_emb/)",
    "blocks": [(r"^blocks_(\d+)/", None), (r"^norm/", (99999,))],
}
