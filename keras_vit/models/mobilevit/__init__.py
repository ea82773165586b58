"""The MobileViT family: model builder, named variants and their weights."""
from ...registry import ModelSpec, create_model, register_model
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


def _shortcut(name, doc_name):
    def builder(weights=None, **kwargs):
        return create_model(name, weights=weights, **kwargs)

    builder.__name__ = doc_name
    builder.__doc__ = (
        f"MobileViT shortcut for ``create_model('{name}', ...)``; takes the same keywords.\n\n"
        f"Example:\n    >>> model = keras_vit.models.mobilevit.{doc_name}(weights='/path/to/checkpoint', num_classes=10)\n"
    )
    return builder


MobileViTXXS = _shortcut("mobilevit_xxs", "MobileViTXXS")
MobileViTXS = _shortcut("mobilevit_xs", "MobileViTXS")
MobileViTS = _shortcut("mobilevit_s", "MobileViTS")

__all__ = ["Fold", "MobileViT", "MobileViTS", "MobileViTXS", "MobileViTXXS", "Unfold"]
