"""The ``mixed_precision: "auto"`` rule: bfloat16 only where the hardware has bf16 units."""
import keras
import pytest

from training.distribute import cpu_has_bf16, default_mixed_precision_policy
from training.recipe import Recipe
from training.trainer import _set_precision

NO_BF16 = {"AMX": False, "AVX512-BF16": False, "AVX512-VNNI": True, "AVX2": True}


@pytest.fixture
def cpu_only(monkeypatch):
    """No GPU and no TPU strategy, whatever this machine has: the CPU rule alone decides."""
    import tensorflow as tf

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("flags, expected", [
    ({**NO_BF16, "AMX": True}, "mixed_bfloat16"),
    ({**NO_BF16, "AVX512-BF16": True}, "mixed_bfloat16"),
    (NO_BF16, None),
    ({}, None),
])
def test_auto_picks_bfloat16_only_on_cpus_with_bf16_units(cpu_only, flags, expected):
    assert cpu_has_bf16(flags) is (expected is not None)
    assert default_mixed_precision_policy(None, cpu_flags=flags) == expected


@pytest.mark.parametrize("has_bf16", [True, False])
def test_auto_reads_this_cpus_flags(cpu_only, monkeypatch, has_bf16):
    from keras_vit.utils import benchmark

    monkeypatch.setattr(benchmark, "cpu_flags", lambda: {**NO_BF16, "AMX": has_bf16})
    policy = _set_precision(Recipe(mixed_precision="auto"), strategy=None)
    assert policy == ("mixed_bfloat16" if has_bf16 else "float32")
    assert keras.mixed_precision.global_policy().name == policy


@pytest.mark.parametrize("setting, policy", [("bfloat16", "mixed_bfloat16"), ("float16", "mixed_float16"),
                                             ("float32", "float32"), ("mixed_bfloat16", "mixed_bfloat16")])
def test_explicit_settings_ignore_the_cpu(cpu_only, monkeypatch, setting, policy):
    from keras_vit.utils import benchmark

    monkeypatch.setattr(benchmark, "cpu_flags", lambda: {**NO_BF16, "AMX": True})
    assert _set_precision(Recipe(mixed_precision=setting), strategy=None) == policy


def test_bad_precision_is_refused():
    with pytest.raises(ValueError, match="'mixed_precision' must be"):
        Recipe(mixed_precision="bf16").validated()


def test_default_digits_recipe_stays_float32():
    # Not compared over 3 seeds in bfloat16 yet (issue 25): the demo keeps float32 on every CPU.
    import json
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "training", "recipes", "digits_default.json")
    with open(path, encoding="utf-8") as f:
        assert json.load(f)["mixed_precision"] == "float32"
