"""Swin: parity with timm (224, padded windows at 256, shrunk windows and resized position
tables at 192) and transformers (both key namings; its pad-then-shift order at 256),
features against timm's ``features_only``, and the window helpers.

Reference models are reduced Swin-T (narrow, two blocks per stage so that every stage has a
shifted block) with random weights, saved in their own format and loaded through
``create_model(name, weights=path)``.
"""
import re

import numpy as np
import pytest

import keras_vit
from keras_vit.models.swin.model import shift_mask, window_and_shift
from tests.references import normalize, random_images, randomize_torch_model, require, torch_forward

NAME = "swin_tiny_patch4_window7_224"
IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
REDUCED = dict(embed_dim=24, depths=(2, 2, 2, 2), num_heads=(1, 2, 3, 4))
ATOL = 1e-4


def assert_close(actual, expected):
    diff = np.abs(actual - expected).max()
    assert diff < ATOL, f"max abs diff {diff:.2e} (range {expected.min():.2f}..{expected.max():.2f})"


@pytest.fixture(scope="module")
def timm_checkpoint(tmp_path_factory):
    timm = require("timm")
    from safetensors.torch import save_file

    model = randomize_torch_model(timm.create_model(NAME, pretrained=False, **REDUCED))
    path = tmp_path_factory.mktemp("timm") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path, model


def timm_reference(src, size):
    """timm at another input size, loaded as timm loads a checkpoint (tables resized)."""
    timm = require("timm")
    from timm.models.swin_transformer import checkpoint_filter_fn

    ref = timm.create_model(NAME, pretrained=False, img_size=size, **REDUCED).eval()
    ref.load_state_dict(checkpoint_filter_fn(src.state_dict(), ref))
    return ref


# 256: 64/32/16/8 maps, none a multiple of 7 (padding; the 8x8 stage shifts on a padded
# 14x14); 192: the last stage is 6x6, so its window shrinks to 6 and its table is resized.
@pytest.mark.parametrize("size", [224, 256, 192])
def test_timm_parity(timm_checkpoint, size):
    path, src = timm_checkpoint
    ref = src if size == 224 else timm_reference(src, size)
    raw = random_images(size=size)
    ours = keras_vit.create_model(NAME, weights=str(path), input_shape=(size, size, 3), **REDUCED)
    assert_close(ours.predict(raw, verbose=0), torch_forward(ref, normalize(raw, **IMAGENET)))


def test_features_match_timm(timm_checkpoint):
    timm = require("timm")
    torch = require("torch")
    path, src = timm_checkpoint
    ref = timm.create_model(NAME, pretrained=False, features_only=True, **REDUCED).eval()
    # The feature wrapper flattens ``layers.i`` to ``layers_i`` and has no final norm or head.
    state = {re.sub(r"^layers\.(\d+)", r"layers_\1", k): v for k, v in src.state_dict().items() if not k.startswith(("head", "norm."))}
    ref.load_state_dict(state)
    x = normalize(random_images(size=224))
    with torch.no_grad():
        expected = ref(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    features = keras_vit.create_model(NAME, weights=str(path), features_only=True, include_preprocessing=False, **REDUCED)
    out = features.predict(x, verbose=0)
    assert [i["name"] for i in features.feature_info] == ["P2", "P3", "P4", "P5"]
    assert [i["num_chs"] for i in features.feature_info] == ref.feature_info.channels()
    for level, want in zip(("P2", "P3", "P4", "P5"), expected):
        # timm's Swin features are NHWC already.
        assert_close(out[level], want.numpy())
    other = keras_vit.create_model(NAME, features_only=True, input_shape=(256, 256, 3), **REDUCED)
    assert [other.output[k].shape[1] for k in ("P2", "P3", "P4", "P5")] == [64, 32, 16, 8]


# With 1000 classes this checkpoint's safetensors header length starts with byte 0x80 (the
# reader once took that for a legacy torch pickle): kept as a regression case.
HF_CLASSES = 1000


def _hf_model(seed=1):
    transformers = require("transformers")
    config = transformers.SwinConfig(
        image_size=224, patch_size=4, window_size=7, embed_dim=REDUCED["embed_dim"], depths=list(REDUCED["depths"]),
        num_heads=list(REDUCED["num_heads"]), num_labels=HF_CLASSES,
    )
    return randomize_torch_model(transformers.SwinForImageClassification(config), seed=seed)


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf")
    _hf_model().save_pretrained(str(directory))
    return directory


# transformers mutates a layer's shift when it runs at a size where the window covers the
# map, so each size gets a freshly loaded reference.
@pytest.mark.parametrize("size", [224, 256])
def test_transformers_parity(hf_checkpoint, size):
    transformers = require("transformers")
    ref = transformers.SwinForImageClassification.from_pretrained(str(hf_checkpoint)).eval()
    x = normalize(random_images(size=size), **IMAGENET)
    ours = keras_vit.create_model(NAME, weights=str(hf_checkpoint), input_shape=(size, size, 3), include_preprocessing=False,
                                   num_classes=HF_CLASSES, **REDUCED)
    assert ours.get_layer("layers_0_blocks_1").pad_before_shift
    assert_close(ours.predict(x, verbose=0), torch_forward(ref, x))


def _hf_v4_names(key):
    """Module names of transformers 4 (the hub's Swin checkpoints), from its modeling_swin."""
    for new, old in (
        ("attention.q_proj", "attention.self.query"), ("attention.k_proj", "attention.self.key"),
        ("attention.v_proj", "attention.self.value"), ("attention.o_proj", "attention.output.dense"),
        ("attention.relative_position_bias.relative_position_bias_table", "attention.self.relative_position_bias_table"),
        ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense"),
    ):
        key = key.replace(new, old)
    return key


def test_transformers_v4_key_names(tmp_path):
    from safetensors.torch import save_file

    ref = _hf_model(seed=2)
    state = {_hf_v4_names(k): v.contiguous() for k, v in ref.state_dict().items()}
    assert any("attention.self.query" in k for k in state)
    save_file(state, str(tmp_path / "model.safetensors"))
    x = normalize(random_images(), **IMAGENET)
    ours = keras_vit.create_model(NAME, weights=str(tmp_path / "model.safetensors"), include_preprocessing=False,
                                   num_classes=HF_CLASSES, **REDUCED)
    assert_close(ours.predict(x, verbose=0), torch_forward(ref, x))


def test_window_and_shift_follow_timm():
    assert window_and_shift((56, 56), (7, 7)) == ((7, 7), (3, 3))
    assert window_and_shift((7, 7), (7, 7)) == ((7, 7), (0, 0))
    assert window_and_shift((6, 6), (7, 7)) == ((6, 6), (0, 0))
    mask = shift_mask((14, 14), (7, 7), (3, 3))
    assert mask.shape == (4, 49, 49)
    assert not mask[0].any() and mask[3].min() == -100.0
