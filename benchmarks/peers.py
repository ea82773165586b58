"""Keras peers of our models, fed raw pixels like ours: keras-cv-attention-models and keras-hub.

Kept apart from ``perf.py`` so that scripts without PyTorch can import them (``perf.py`` must
import torch before TensorFlow; importing it later kills the process).
"""
import os
import sys


def kecam_model(name, size):
    import keras

    os.environ["KECAM_BACKEND"] = "keras_core"
    sys.modules.setdefault("keras_core", keras)
    if name == "mobilevit_xxs":
        from keras_cv_attention_models import mobilevit

        inner = mobilevit.MobileViT_XXS(input_shape=(size, size, 3), pretrained=None, classifier_activation=None)
    else:
        from keras_cv_attention_models import beit

        inner = beit.ViT(depth=12, embed_dim=192, num_heads=3, patch_size=16, input_shape=(size, size, 3),
                         num_classes=1000, classifier_activation=None, pretrained=None)
    inputs = keras.Input((size, size, 3))
    return keras.Model(inputs, inner(keras.layers.Rescaling(1 / 255.0)(inputs)))


def keras_hub_model(name, size):
    import keras
    import keras_hub

    if name != "vit_tiny_patch16_224":
        raise ImportError("keras-hub has no MobileViT")
    backbone = keras_hub.models.ViTBackbone(image_shape=(size, size, 3), patch_size=16, num_layers=12, num_heads=3,
                                            hidden_dim=192, mlp_dim=768)
    inputs = keras.Input((size, size, 3))
    tokens = backbone(keras.layers.Rescaling(1 / 255.0)(inputs))
    return keras.Model(inputs, keras.layers.Dense(1000)(tokens[:, 0]))
