"""CvT: parity with transformers (random weights, random BatchNorm statistics) at the native
and another input size, the official microsoft/CvT key names, and the feature pyramid.

The reference is a reduced CvtForImageClassification (narrower, fewer blocks; the code paths
are those of CvT-13: strided conv embeddings, convolutional q/k/v projections, class token in
the last stage only).
"""
import numpy as np
import pytest

import keras_vit
from tests.references import normalize, random_images, randomize_torch_model, require, torch_forward

NAME = "cvt_13_224"
IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
# transformers' CvtStage indexes its drop-path list by stage, so stage s needs > s blocks.
REDUCED = dict(embed_dim=[16, 32, 64], depth=[1, 2, 3], num_heads=[1, 2, 4])
OURS = dict(embed_dims=(16, 32, 64), depths=(1, 2, 3), num_heads=(1, 2, 4))


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    transformers = require("transformers")
    model = randomize_torch_model(transformers.CvtForImageClassification(transformers.CvtConfig(num_labels=1000, **REDUCED)))
    directory = tmp_path_factory.mktemp("cvt_hf")
    model.save_pretrained(str(directory))
    return directory, model


def assert_close(ours, ref):
    diff = float(np.abs(ours - ref).max())
    assert diff < 1e-4, f"max abs diff {diff:.2e} (logits std {ref.std():.2f})"
    assert np.array_equal(ours.argmax(-1), ref.argmax(-1))


# 224 is CvT-13's native size; 160 gives other grids (40, 20, 10) and odd strided k/v maps (5x5).
@pytest.mark.parametrize("size", [224, 160])
def test_transformers_parity(hf_checkpoint, size):
    directory, ref = hf_checkpoint
    raw = random_images(size=size)
    ours = keras_vit.create_model(NAME, weights=str(directory), input_shape=(size, size, 3), **OURS)
    assert_close(ours.predict(raw, verbose=0), torch_forward(ref, normalize(raw, **IMAGENET)))


def _official_from_hf(state):
    """The same weights under microsoft/CvT's key names (lib/models/cls_cvt.py), written from
    the official module tree: stage{i}.patch_embed.{proj,norm}, stage{i}.blocks.{j}.attn.
    {conv_proj_q,k,v}.{conv,bn}, attn.proj_{q,k,v}, attn.proj, norm1/2, mlp.fc1/2, norm, head."""
    pairs = [
        ("embedding.convolution_embeddings.projection", "patch_embed.proj"),
        ("embedding.convolution_embeddings.normalization", "patch_embed.norm"),
        ("layernorm_before", "norm1"), ("layernorm_after", "norm2"),
        ("attention.output.dense", "attn.proj"), ("intermediate.dense", "mlp.fc1"), ("output.dense", "mlp.fc2"),
    ]
    for word, letter in (("query", "q"), ("key", "k"), ("value", "v")):
        pairs += [
            (f"attention.attention.convolution_projection_{word}.convolution_projection.convolution", f"attn.conv_proj_{letter}.conv"),
            (f"attention.attention.convolution_projection_{word}.convolution_projection.normalization", f"attn.conv_proj_{letter}.bn"),
            (f"attention.attention.projection_{word}", f"attn.proj_{letter}"),
        ]
    out = {}
    for key, value in state.items():
        if key.startswith("cvt.encoder.stages."):
            stage, rest = key[len("cvt.encoder.stages."):].split(".", 1)
            rest = rest.replace("layers.", "blocks.", 1)
            for theirs, official in pairs:
                rest = rest.replace(theirs + ".", official + ".")
            out[f"module.stage{stage}.{rest}"] = value
        else:
            out["module." + key.replace("layernorm.", "norm.").replace("classifier.", "head.")] = value
    return out


def test_official_layout(hf_checkpoint, tmp_path):
    torch = require("torch")
    directory, ref = hf_checkpoint
    state = _official_from_hf(ref.state_dict())
    assert any(k == "module.stage2.blocks.2.attn.conv_proj_v.bn.running_var" for k in state)
    torch.save(state, str(tmp_path / "CvT-13-224x224-IN-1k.pth"))
    raw = random_images(size=192, seed=3)
    ours = keras_vit.create_model(NAME, weights=str(tmp_path / "CvT-13-224x224-IN-1k.pth"), input_shape=(192, 192, 3), **OURS)
    assert_close(ours.predict(raw, verbose=0), torch_forward(ref, normalize(raw, **IMAGENET)))


def test_features_match_reference_stages(hf_checkpoint):
    """P2..P4 equal transformers' stage outputs (hidden_states), last stage without the class token."""
    torch = require("torch")
    directory, ref = hf_checkpoint
    raw = random_images(size=96)
    features = keras_vit.create_model(NAME, weights=str(directory), input_shape=(96, 96, 3), features_only=True, **OURS)
    ours = features.predict(raw, verbose=0)
    assert [info["name"] for info in features.feature_info] == ["P2", "P3", "P4"]
    with torch.no_grad():
        x = torch.from_numpy(normalize(raw, **IMAGENET).transpose(0, 3, 1, 2).copy())
        hidden = ref.cvt(x, output_hidden_states=True).hidden_states
    for info, expected in zip(features.feature_info, hidden):
        np.testing.assert_allclose(ours[info["name"]], expected.numpy().transpose(0, 2, 3, 1), atol=1e-4)
