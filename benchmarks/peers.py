"""Keras peers of our models, fed raw pixels like ours: keras-cv-attention-models and keras-hub,
and the call-by-call TFLite timing the side-by-side scripts share.

Kept apart from ``perf.py`` so that scripts without PyTorch can import them (``perf.py`` must
import torch before TensorFlow; importing it later kills the process).
"""
import os
import sys


def import_kecam():
    """kecam on its Keras 3 backend, or an ImportError saying how to get it.

    kecam reads ``KECAM_BACKEND`` once, at its first import: its default TF backend fails
    under Keras 3, so the variable (and ``keras`` standing in for ``keras_core``) must be set
    before that.
    """
    import keras

    os.environ["KECAM_BACKEND"] = "keras_core"
    sys.modules.setdefault("keras_core", keras)
    import keras_cv_attention_models

    return keras_cv_attention_models


def time_alternating(runners, images, rounds, runs, warmup=2):
    """``{name: [per-round latencies ms]}``, the runners invoked in turn one call at a time.

    On a shared machine, load comes in bursts longer than one call: alternating call by
    call puts every model under the same load, where blocks of ``runs`` calls per model
    (the older pattern) let one burst land on one model and skew the ratio.
    """
    import numpy as np

    for name, runner in runners.items():
        runner.time_invoke(runs=1, warmup=warmup, images=images[name])
    times = {name: [] for name in runners}
    for _ in range(rounds):
        this_round = {name: [] for name in runners}
        for _ in range(runs):
            for name, runner in runners.items():
                this_round[name].append(runner.time_invoke(runs=1, warmup=0, images=images[name])[0])
        for name in runners:
            times[name].append(np.asarray(this_round[name]))
    return times


def kecam_model(name, size):
    import keras

    import_kecam()
    if name == "mobilevit_xxs":
        from keras_cv_attention_models import mobilevit

        inner = mobilevit.MobileViT_XXS(input_shape=(size, size, 3), pretrained=None, classifier_activation=None)
    elif name == "pvt_v2_b0":
        from keras_cv_attention_models import pvt

        inner = pvt.PVT_V2B0(input_shape=(size, size, 3), pretrained=None, classifier_activation=None)
    elif name == "vit_tiny_patch16_224":
        from keras_cv_attention_models import beit

        inner = beit.ViT(depth=12, embed_dim=192, num_heads=3, patch_size=16, input_shape=(size, size, 3),
                         num_classes=1000, classifier_activation=None, pretrained=None)
    else:
        raise ImportError(f"no kecam peer for {name} here")
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
