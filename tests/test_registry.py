"""The registry-wide test: every registered name and every family, through the same checks.

Registering a family is enough to test it here:
- every named variant's parameter count equals the reference implementation's, counted in
  this test (timm or transformers on PyTorch's meta device, or the official code's counts in
  ``tests/fixtures/official/full_models_*.json``), and the count the registry publishes;
- every family's tiny configuration builds, round-trips through its layer configs and
  ``.keras``, runs under mixed precision, and converts to TFLite with builtin ops only, with
  outputs equal to Keras'; so does its feature pyramid.

Counting builds the full-size model inside ``keras.StatelessScope(initialize_variables=False)``:
variables get their shapes but no memory, so the 632M-parameter ViT-H costs a fraction of a
second. (The default scope initializes every variable on exit: 4 s and 1.3 GB for a ViT-L.)
"""
import json

import keras
import numpy as np
import pytest

import keras_vit
from tests.model_checks import (check_keras_round_trip, check_layer_configs, check_mixed_precision,
                                check_no_strided_pointwise_conv, check_tflite)
from tests.references import OFFICIAL_FIXTURES, require, require_fixture

FIXTURES = OFFICIAL_FIXTURES
NAMES = keras_vit.list_models()


def reference_count(reference):
    kind = reference[0]
    if kind == "timm":
        torch, timm = require("torch"), require("timm")
        with torch.device("meta"):
            model = timm.create_model(reference[1], pretrained=False, num_classes=1000)
        return sum(p.numel() for p in model.parameters())
    if kind == "transformers":
        torch, transformers = require("torch"), require("transformers")
        _, model_class, config_class, kwargs = reference
        config = getattr(transformers, config_class)(num_labels=1000, **kwargs)
        with torch.device("meta"):
            model = getattr(transformers, model_class)(config)
        return sum(p.numel() for p in model.parameters())
    if kind == "official":
        # The official code run on the full-size model (fixtures/official/make_fixtures.py): every nn.Parameter,
        # frozen ones included (T2T's sinusoid table and performer features).
        _, file_name, key = reference
        return json.loads(require_fixture(FIXTURES / file_name).read_text())[key]["counts"]["params"]
    if kind == "counted":
        # ("counted", count, how, classes): the official code run on PyTorch where neither a
        # fixture nor a published count exists.
        return reference[1]
    raise AssertionError(f"unknown reference {reference}")


def reference_classes(reference):
    """The head size a reference count was made with (CCT's CIFAR models: 10 classes)."""
    if reference[0] == "official":
        _, file_name, key = reference
        return json.loads(require_fixture(FIXTURES / file_name).read_text())[key]["output_shape"][-1]
    if reference[0] in ("published", "counted") and len(reference) > 3:
        return reference[3]
    return 1000


def our_count(name, num_classes=1000):
    """Every variable except BatchNorm running statistics (PyTorch buffers, not parameters)."""
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = keras_vit.create_model(name, num_classes=num_classes)
        return sum(
            int(np.prod(w.shape))
            for w in model.weights
            if not w.path.endswith(("moving_mean", "moving_variance")) and "seed_generator" not in w.path
        )
    finally:
        # Keras keeps the uninitialized variables in its global state, and the next scope to
        # close (any symbolic call) would initialize them: drop them with that state.
        keras.backend.clear_session(free_memory=False)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_against_reference(name):
    spec = keras_vit.get_model_spec(name)
    classes = reference_classes(spec.reference)
    # The registry publishes the count with a 1000-class head; a reference made with another
    # head is compared at its own class count.
    published = our_count(name) if classes != 1000 else None
    if spec.reference[0] == "published":
        # No runnable reference and no fixture for this size: the count the authors publish
        # (paper or official README), at the precision they give it in millions.
        millions, source = spec.reference[1:3]
        decimals = len(str(millions).split(".")[1]) if "." in str(millions) else 0
        assert round(our_count(name, classes) / 1e6, decimals) == float(millions), source
        if published is None:
            assert round(spec.parameters / 1e6, decimals) == float(millions)
        else:
            assert spec.parameters == published
        return
    expected = reference_count(spec.reference)
    assert our_count(name, classes) == expected
    expected = expected if published is None else published
    assert spec.parameters == expected, f"the registry publishes {spec.parameters:,} for {name}"


# Config keys that change only a value, never the graph's ops or its saved config's shape
# (BEiT-L's layer-scale init, PVT v2-b5's MLP ratios): variants differing in nothing else
# share one tiny test.
VALUE_ONLY_KEYS = {"layer_scale_init", "mlp_ratios"}


def _tiny_models():
    """One tiny configuration per distinct (family, variant config): a test each."""
    seen = {}
    for name in NAMES:
        spec = keras_vit.get_model_spec(name)
        config = {k: v for k, v in {**spec.config, **spec.tiny}.items() if k not in VALUE_ONLY_KEYS}
        key = (spec.family, json.dumps(config, sort_keys=True, default=str))
        seen.setdefault(key, name)
    return sorted(seen.values())


TINY = _tiny_models()


def tiny(name, **kwargs):
    return keras_vit.create_model(name, **{**keras_vit.get_model_spec(name).tiny, **kwargs})


def tiny_images(name, n=2, seed=0):
    shape = keras_vit.get_model_spec(name).tiny["input_shape"]
    return np.random.default_rng(seed).uniform(0, 255, (n,) + tuple(shape)).astype("float32")


def test_every_family_has_a_tiny_config():
    families = {keras_vit.get_model_spec(n).family for n in NAMES}
    assert families == {keras_vit.get_model_spec(n).family for n in TINY}
    for name in NAMES:
        assert "input_shape" in keras_vit.get_model_spec(name).tiny, name


@pytest.mark.parametrize("name", TINY)
def test_tiny_round_trips(name, tmp_path):
    model = tiny(name, drop_path_rate=0.1)
    x = tiny_images(name)
    assert model.predict(x, verbose=0).shape == (2, model.output_shape[-1])
    check_layer_configs(model)
    check_no_strided_pointwise_conv(model)
    check_keras_round_trip(model, x, tmp_path)


@pytest.mark.parametrize("name", TINY)
def test_tiny_mixed_precision(name):
    check_mixed_precision(lambda: tiny(name), tiny_images(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_tiny_tflite_builtin_and_equal(name):
    report = check_tflite(tiny(name), tiny_images(name))
    assert report.fully_delegated, f"ops outside XNNPACK: {report.outside}"


@pytest.mark.parametrize("name", TINY)
def test_features_only(name):
    spec = keras_vit.get_model_spec(name)
    if spec.features is None:
        pytest.skip(f"{spec.family} has no feature pyramid")
    features = tiny(name, features_only=True)
    x = tiny_images(name)
    out = features.predict(x, verbose=0)
    assert isinstance(out, dict) and out
    size = x.shape[1]
    for info in features.feature_info:
        level = out[info["name"]]
        assert info["name"] == f"P{int(np.log2(info['reduction']))}"
        assert level.shape == (2, size // info["reduction"], size // info["reduction"], info["num_chs"]), info
    # Another input size works too: twice the size, a multiple of 64, since MobileViT v2 (as
    # its references) rounds an odd stride-32 map up to its 2x2 patch.
    other = tiny(name, features_only=True, input_shape=(2 * size, 2 * size, 3))
    for info in other.feature_info:
        assert other.output[info["name"]].shape[1] == 2 * size // info["reduction"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_features_only_tflite(name):
    spec = keras_vit.get_model_spec(name)
    if spec.features is None:
        pytest.skip(f"{spec.family} has no feature pyramid")
    report = check_tflite(tiny(name, features_only=True), tiny_images(name, n=1))
    assert report.fully_delegated, f"ops outside XNNPACK: {report.outside}"
