"""ViT parity with the references, for every checkpoint layout we load.

Each test makes a checkpoint with random values in a reference's own format, loads it into
the reference and into keras_vit, and compares logits at the native and at changed
resolutions (the position embedding is resampled as that reference does).
"""
import numpy as np
import pytest

import keras_vit
from tests.references import make_google_vit_npz, normalize, random_images, randomize_torch_model, require, torch_forward

NAME = "vit_tiny_patch16_224"
ATOL = 1e-4


def _ours(path, size, **kwargs):
    return keras_vit.create_model(NAME, weights=str(path), input_shape=(size, size, 3), include_preprocessing=False, **kwargs)


def _assert_close(ours, ref):
    diff = np.abs(ours - ref).max()
    assert diff < ATOL, f"max abs diff {diff:.2e} (logit range {ref.min():.2f}..{ref.max():.2f})"
    assert np.array_equal(ours.argmax(-1), ref.argmax(-1))


@pytest.fixture(scope="module")
def timm_checkpoint(tmp_path_factory):
    timm = require("timm")
    torch = require("torch")
    from safetensors.torch import save_file

    model = randomize_torch_model(timm.create_model(NAME, pretrained=False))
    state = model.state_dict()
    directory = tmp_path_factory.mktemp("timm")
    save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"))
    torch.save(state, str(directory / "pytorch_model.pth"))
    return directory, state


@pytest.mark.parametrize("size", [224, 160, 288])
@pytest.mark.parametrize("file_name", ["model.safetensors", "pytorch_model.pth"])
def test_timm_parity(timm_checkpoint, size, file_name):
    timm = require("timm")
    from timm.models.vision_transformer import checkpoint_filter_fn

    directory, state = timm_checkpoint
    ref = timm.create_model(NAME, pretrained=False, img_size=size).eval()
    ref.load_state_dict(checkpoint_filter_fn(dict(state), ref))
    x = normalize(random_images(size=size))
    _assert_close(_ours(directory / file_name, size).predict(x, verbose=0), torch_forward(ref, x))


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    transformers = require("transformers")
    config = transformers.ViTConfig(
        hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768,
        image_size=224, patch_size=16, num_labels=1000, layer_norm_eps=1e-6,
    )
    model = randomize_torch_model(transformers.ViTForImageClassification(config))
    directory = tmp_path_factory.mktemp("hf")
    model.save_pretrained(str(directory))
    return directory, model


@pytest.mark.parametrize("size", [224, 160, 288])
def test_transformers_parity(hf_checkpoint, size):
    directory, ref = hf_checkpoint
    x = normalize(random_images(size=size))
    expected = torch_forward(ref, x, interpolate_pos_encoding=size != 224)
    _assert_close(_ours(directory, size).predict(x, verbose=0), expected)


@pytest.mark.parametrize("big_vision", [False, True])
@pytest.mark.parametrize("size", [224, 160, 288])
def test_google_npz_parity(tmp_path, size, big_vision):
    timm = require("timm")
    require("torch")
    from timm.models.vision_transformer import _load_weights

    path = make_google_vit_npz(
        tmp_path / "ViT-Ti_16.npz", depth=12, dim=192, heads=3, mlp_dim=768, patch=16, grid=14,
        num_classes=1000, big_vision=big_vision,
    )
    ref = timm.create_model(NAME, pretrained=False, img_size=size).eval()
    _load_weights(ref, str(path))
    x = normalize(random_images(size=size))
    _assert_close(_ours(path, size).predict(x, verbose=0), torch_forward(ref, x))


def test_preprocessing_matches_reference_normalization(timm_checkpoint):
    """include_preprocessing=True on raw [0, 255] pixels == the reference on normalized input."""
    timm = require("timm")
    directory, state = timm_checkpoint
    ref = timm.create_model(NAME, pretrained=False).eval()
    ref.load_state_dict(state)
    raw = random_images()
    model = keras_vit.create_model(NAME, weights=str(directory / "model.safetensors"))
    _assert_close(model.predict(raw.astype(np.uint8).astype(np.float32), verbose=0), torch_forward(ref, normalize(raw.astype(np.uint8).astype(np.float32))))
    uint8_out = model.predict(raw.astype(np.uint8), verbose=0)
    _assert_close(uint8_out, torch_forward(ref, normalize(raw.astype(np.uint8).astype(np.float32))))
