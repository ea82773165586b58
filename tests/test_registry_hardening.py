"""Issue 24, registry: arguments the builders would take wrongly, or fail on deep inside,
get one clear ValueError naming the argument."""
import numpy as np
import pytest

import keras_vit

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(drop_path_rate=2.0), "drop_path_rate"),
    (dict(drop_path_rate=-1), "drop_path_rate"),
    (dict(num_classes="10"), "num_classes must be an integer"),
    (dict(input_shape=(None, None, 3)), "positive integer sides"),
    (dict(depth=1e308), "depth must be an integer"),
    (dict(bogus_key=1), "unknown argument 'bogus_key'.*depth"),
    (dict(num_heads=0), "num_heads must be an integer >= 1"),
    (dict(patch_size="8"), "patch_size must be an integer"),
])
def test_bad_arguments_are_one_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_vit.create_model("vit_tiny_patch16_224", **{**TINY, **kwargs})


def test_list_models_of_an_unknown_family_names_the_known_ones():
    with pytest.raises(ValueError, match="Unknown family 'bogus'.*vit"):
        keras_vit.list_models("bogus")
    assert "vit_tiny_patch16_224" in keras_vit.list_models("vit")


def test_a_one_channel_batch_is_not_taken_as_rgb():
    model = keras_vit.create_model("vit_tiny_patch16_224", **TINY)
    gray = np.zeros((2, 32, 32, 1), np.float32)
    for run in (lambda: model(gray), lambda: model.predict(gray, verbose=0)):
        with pytest.raises(ValueError, match="1 channel"):
            run()
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 3)


def test_none_is_accepted_where_it_is_the_builders_default():
    # T2T-ViT's named variants carry a numeric qk_scale; None asks for the official head_dim ** -0.5.
    import keras

    with keras.StatelessScope(initialize_variables=False):
        keras_vit.create_model("t2t_vit_7", qk_scale=None)
    with pytest.raises(ValueError, match="qk_scale"):
        keras_vit.create_model("t2t_vit_7", qk_scale="half")
