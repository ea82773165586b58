"""DeiT: parameter counts, distillation heads, parity with timm and transformers."""
import numpy as np
import pytest

import keras_vit
from tests.model_checks import check_keras_round_trip
from tests.references import normalize, random_images, randomize_torch_model, require, torch_forward

NAME = "deit_tiny_distilled_patch16_224"
IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def test_distillation_view_shares_layers_and_averages(tmp_path):
    model = keras_vit.create_model(NAME, input_shape=(32, 32, 3), patch_size=8, depth=1, num_classes=4)
    view = keras_vit.distillation_outputs(model)
    x = random_images(size=32)
    cls_logits, dist_logits = view.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), (cls_logits + dist_logits) / 2, atol=1e-5)
    assert model.get_layer("cls_token").dist_token is not None
    assert keras_vit.create_model(NAME, input_shape=(32, 32, 3), patch_size=8, depth=1, include_top=False, pooling="token").output_shape == (None, 192)
    check_keras_round_trip(model, x, tmp_path)
    with pytest.raises(ValueError, match="no distillation head"):
        keras_vit.distillation_outputs(keras_vit.create_model("deit_tiny_patch16_224", input_shape=(32, 32, 3), patch_size=8, depth=1))


@pytest.mark.parametrize("size", [224, 160])
def test_timm_parity(tmp_path, size):
    timm = require("timm")
    from safetensors.torch import save_file
    from timm.models.vision_transformer import checkpoint_filter_fn

    src = randomize_torch_model(timm.create_model(NAME, pretrained=False))
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "deit.safetensors"))
    ref = timm.create_model(NAME, pretrained=False, img_size=size).eval()
    ref.load_state_dict(checkpoint_filter_fn(src.state_dict(), ref))
    raw = random_images(size=size)
    ours = keras_vit.create_model(NAME, weights=str(tmp_path / "deit.safetensors"), input_shape=(size, size, 3))
    diff = np.abs(ours.predict(raw, verbose=0) - torch_forward(ref, normalize(raw, **IMAGENET))).max()
    assert diff < 1e-4, diff


def test_transformers_parity_with_teacher_heads(tmp_path):
    transformers = require("transformers")
    config = transformers.DeiTConfig(
        hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768,
        image_size=224, patch_size=16, num_labels=1000, layer_norm_eps=1e-6,
    )
    ref = randomize_torch_model(transformers.DeiTForImageClassificationWithTeacher(config))
    ref.save_pretrained(str(tmp_path))
    x = normalize(random_images(), **IMAGENET)
    ours = keras_vit.create_model(NAME, weights=str(tmp_path), include_preprocessing=False)
    diff = np.abs(ours.predict(x, verbose=0) - torch_forward(ref, x)).max()
    assert diff < 1e-4, diff
