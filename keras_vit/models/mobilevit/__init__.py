"""The MobileViT family: model builder, named variants and their weights."""
from ...registry import ModelSpec, model_shortcut, register_model
from .convert import convert, detect_layout
from .layers import Fold, Unfold
from .model import MobileViT
from .presets import DEFAULT_TAG, INPUT_SIZE, LAYOUT_PREPROCESSING, MEAN, PARAMETER_COUNTS, STD, VARIANTS, weights_for

for _name, _config in VARIANTS.items():
    register_model(
        ModelSpec(
            name=_name,
            family="mobilevit",
            builder=MobileViT,
            config=dict(_config),
            convert=convert,
            detect=detect_layout,
            weights=weights_for(_name),
            default_weights=DEFAULT_TAG,
            input_size=INPUT_SIZE,
            mean=MEAN,
            std=STD,
            layout_preprocessing=LAYOUT_PREPROCESSING,
            parameters=PARAMETER_COUNTS[_name],
            paper="Mehta & Rastegari, MobileViT: Light-weight, General-purpose, and Mobile-friendly Vision Transformer, ICLR 2022",
        )
    )


MobileViTXXS = model_shortcut("mobilevit_xxs", "MobileViTXXS")
MobileViTXS = model_shortcut("mobilevit_xs", "MobileViTXS")
MobileViTS = model_shortcut("mobilevit_s", "MobileViTS")

__all__ = ["Fold", "MobileViT", "MobileViTS", "MobileViTXS", "MobileViTXXS", "Unfold"]
