"""FastViT: parity with timm in both forms, the fold to the inference form, and its export."""
import copy
from functools import partial

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.fastvit import FastViT, reparameterize
from keras_vit.models.fastvit.reparam import model_config
from tests.model_checks import check_keras_round_trip, check_layer_configs
from tests.references import normalize, random_images, randomize_torch_model, require, torch_forward

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TINY = keras_vit.get_model_spec("fastvit_sa12").tiny


def _timm_tiny():
    """timm's FastVit with the registry's tiny configuration, random weights and BN statistics."""
    require("torch")
    fastvit = require("timm.models.fastvit")
    model = fastvit.FastVit(
        layers=TINY["depths"], embed_dims=TINY["embed_dims"], mlp_ratios=TINY["mlp_ratios"],
        token_mixers=TINY["token_mixers"], num_classes=TINY["num_classes"],
        pos_embs=tuple(None if k is None else partial(fastvit.RepConditionalPosEnc, spatial_shape=(k, k)) for k in TINY["pos_embs"]),
    )
    return randomize_torch_model(model)


def _save_state(model, path):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return str(path)


def _relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.slow
def test_training_form_matches_timm_and_folds(tmp_path):
    reference = _timm_tiny()
    images = random_images(2, TINY["input_shape"][0])
    expected = torch_forward(reference, normalize(images, MEAN, STD))
    model = keras_vit.create_model("fastvit_sa12", weights=_save_state(reference, tmp_path / "timm.safetensors"), **TINY)
    logits = model.predict(images, verbose=0)
    assert _relative(logits, expected) < 1e-5
    folded = reparameterize(model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert not any(type(layer).__name__ == "LayerScale" for layer in folded.layers)
    assert _relative(folded.predict(images, verbose=0), logits) < 1e-4
    assert reparameterize(folded) is folded


def test_timm_reparameterized_checkpoint_loads_into_the_inference_form(tmp_path):
    reparameterize_model = require("timm.utils.model").reparameterize_model

    reference = _timm_tiny()
    deployed = reparameterize_model(copy.deepcopy(reference))
    assert any(k.endswith("reparam_conv.weight") for k in deployed.state_dict())
    images = random_images(2, TINY["input_shape"][0], seed=1)
    expected = torch_forward(deployed, normalize(images, MEAN, STD))
    path = _save_state(deployed, tmp_path / "deploy.safetensors")
    folded = keras_vit.create_model("fastvit_sa12", weights=path, inference_mode=True, **TINY)
    assert _relative(folded.predict(images, verbose=0), expected) < 1e-5
    # A checkpoint of the other form does not load silently into the wrong graph.
    with pytest.raises(keras_vit.WeightsMismatchError):
        keras_vit.create_model("fastvit_sa12", weights=path, **TINY)


@pytest.mark.slow
def test_fastvit_t8_matches_timm_at_64px():
    timm = require("timm")
    reference = randomize_torch_model(timm.create_model("fastvit_t8", pretrained=False))
    images = random_images(1, 64)
    expected = torch_forward(reference, normalize(images, MEAN, STD))
    model = keras_vit.create_model("fastvit_t8", input_shape=(64, 64, 3))
    arrays, layout = keras_vit.get_model_spec("fastvit_t8").convert({k: v.numpy() for k, v in reference.state_dict().items()})
    assert layout == "timm"
    from keras_vit.weights.loading import assign_weights

    assign_weights(model, arrays)
    logits = model.predict(images, verbose=0)
    assert _relative(logits, expected) < 1e-5
    assert _relative(reparameterize(model).predict(images, verbose=0), logits) < 1e-4


@pytest.mark.slow
def test_inference_form_round_trips_and_reads_its_config(tmp_path):
    model = keras_vit.create_model("fastvit_sa12", inference_mode=True, drop_path_rate=0.1, **TINY)
    images = random_images(2, TINY["input_shape"][0])
    check_layer_configs(model)
    check_keras_round_trip(model, images, tmp_path)
    config = model_config(keras.saving.load_model(str(tmp_path / "model.keras")))
    assert config["embed_dims"] == TINY["embed_dims"] and config["token_mixers"] == TINY["token_mixers"]
    assert config["pos_embs"] == TINY["pos_embs"] and config["num_classes"] == TINY["num_classes"]
    assert config["drop_path_rate"] == pytest.approx(0.1)
    pyramid = keras_vit.create_model("fastvit_sa12", inference_mode=True, features_only=True, **TINY)
    assert [info["reduction"] for info in pyramid.feature_info] == [4, 8, 16, 32]


def test_headless_and_bad_arguments():
    model = keras_vit.create_model("fastvit_sa12", include_top=False, pooling="avg", **TINY)
    assert reparameterize(model).output_shape == (None, 2 * TINY["embed_dims"][-1])
    with pytest.raises(ValueError, match="token mixer"):
        FastViT(token_mixers=("repmixer", "repmixer", "repmixer", "pooling"))
    with pytest.raises(ValueError, match="head_dim"):
        FastViT(embed_dims=(8, 16, 32, 48), token_mixers=("repmixer",) * 3 + ("attention",))
    with pytest.raises(ValueError, match="not a FastViT"):
        reparameterize(keras_vit.create_model("mobilevit_xxs", **keras_vit.get_model_spec("mobilevit_xxs").tiny))


@pytest.mark.slow
def test_exports_fold_by_default_and_quantize(tmp_path):
    """TFLite exports fold (no RepMixer subtraction left, one XNNPACK partition) and verify
    against the training form; float16, dynamic and full int8 convert and verify too."""
    from keras_vit.tflite import export_model

    keras.utils.set_random_seed(0)  # the quantized files' agreement depends on the weights
    model = keras_vit.create_model("fastvit_sa12", **TINY)
    images = random_images(8, TINY["input_shape"][0], seed=3)
    folded = export_model(model, str(tmp_path / "folded.tflite"), sample_images=images[:2])
    assert folded.passed, folded.summary()
    assert folded.delegate_partitions == 1 and not folded.ops_outside_delegate, folded.summary()
    assert "SUB" not in folded.ops, folded.ops  # the training form's RepMixer is x + g * (mixer - norm)
    for quantize in ("float16", "dynamic", "int8"):
        result = export_model(model, str(tmp_path / f"{quantize}.tflite"), quantize=quantize, representative_data=images,
                              sample_images=images[:4], min_top1_agreement=0.5)
        assert result.passed, result.summary()
