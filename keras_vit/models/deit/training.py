"""Training facts of DeiT: ViT's (timm's ``deit.py`` adds the distillation token to the stem,
which ViT's declaration already covers; ``head_dist`` joins the head's layer)."""
from ..vit.training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401
