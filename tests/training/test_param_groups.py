"""Parameter groups (weight-decay exemptions, layer-wise learning-rate decay) against timm's.

For ViT, DeiT (distilled), BEiT, Swin, MobileViT v2, EfficientViT (MIT) and FastViT at one
tiny configuration, timm's own ``param_groups_weight_decay`` and ``param_groups_layer_decay``
run on timm's model; each timm parameter is mapped to our variable by the family's timm key map
(``convert.TIMM_RULES``, or its ``"timm"`` layout), and every parameter must get the same weight
decay and the same learning-rate scale, except where ``DIFFERENT_DECAY`` says why not.
"""
import re

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.optimizers import AdamW, layer_ids, param_groups
from keras_vit.training import Recipe, build_optimizer
from tests.references import require

WEIGHT_DECAY = 0.05

# (our name, timm name, timm kwargs, our overrides): the same architecture on both sides.
CASES = {
    "vit": ("vit_tiny_patch16_224", "vit_tiny_patch16_224",
            dict(img_size=32, patch_size=8, embed_dim=32, depth=4, num_heads=2),
            dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=4, num_heads=2)),
    "deit_distilled": ("deit_tiny_distilled_patch16_224", "deit_tiny_distilled_patch16_224",
                       dict(img_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=2),
                       dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=3,
                            num_heads=2)),
    "beit": ("beit_base_patch16_224", "beit_base_patch16_224",
             dict(img_size=32, patch_size=8, embed_dim=32, depth=4, num_heads=2),
             dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=4, num_heads=2)),
    "swin": ("swin_tiny_patch4_window7_224", "swin_tiny_patch4_window7_224",
             dict(img_size=64, embed_dim=16, depths=(2, 2, 2), num_heads=(1, 2, 2),
                  window_size=3),
             dict(input_shape=(64, 64, 3), embed_dim=16, depths=(2, 2, 2),
                  num_heads=(1, 2, 2), window_size=3)),
}


def _tiny(name):
    """The registry's tiny configuration of ``name`` (tests/test_registry.py's), without its head size."""
    tiny = dict(keras_vit.get_model_spec(name).tiny)
    tiny.pop("num_classes", None)
    return tiny


def _timm_mobilevitv2(num_classes, **tiny):
    """timm's ByobNet from the blocks of its ``mobilevitv2_*`` at our tiny widths (timm's
    ``create_model`` takes no block configuration for them)."""
    from timm.models.byobnet import ByobNet, ByoModelCfg
    from timm.models.mobilevit import _inverted_residual_block, _mobilevitv2_block

    c, (d0, d1), depths = tiny["channels"], tiny["block_depths"], tiny["transformer_depths"]
    blocks = (_inverted_residual_block(d=d0, c=c[0], s=1, br=2.0),
              _inverted_residual_block(d=d1, c=c[1], s=2, br=2.0),
              *(_mobilevitv2_block(d=1, c=c[k + 2], s=2, transformer_depth=depths[k]) for k in range(3)))
    cfg = ByoModelCfg(blocks=blocks, stem_chs=tiny["stem_channels"], stem_type="3x3", stem_pool="",
                      downsample="", act_layer="silu")
    return ByobNet(cfg, num_classes=num_classes)


_MV2, _EV, _FV = _tiny("mobilevitv2_050"), _tiny("efficientvit_b0"), _tiny("fastvit_sa12")
CASES.update({
    # A timm builder instead of a name: called with num_classes and the timm kwargs.
    "mobilevitv2": ("mobilevitv2_050", _timm_mobilevitv2, _MV2, _MV2),
    "efficientvit": ("efficientvit_b0", "efficientvit_b0",
                     {k: _EV[k] for k in ("widths", "depths", "head_dim", "head_widths")}, _EV),
    # timm's fastvit_sa12 has our tiny config's token mixers and 7x7 position encoding.
    "fastvit": ("fastvit_sa12", "fastvit_sa12",
                dict(layers=_FV["depths"], embed_dims=_FV["embed_dims"], mlp_ratios=_FV["mlp_ratios"],
                     token_mixers=_FV["token_mixers"]), _FV),
})

# Distinct learning-rate scales (layers) with layer decay. ViT, DeiT, BEiT: the embeddings,
# each block, the head. Swin: the embeddings, 2 + 2 + 2 blocks (each downsampling joins the
# next block), the head. MobileViT v2: the stem, 1 + 2 + 2 + 2 + 2 blocks (timm counts each
# stage's downsampling inverted residual as a block), the head. EfficientViT: the stem (with
# its residual block), 2 + 1 + 2 + 2 blocks, the head (1x1 convolution, MLP, classifier).
# FastViT: the stem, one block per stage (its downsampling and position encoding join it),
# the final convolution with the head.
LAYERS = {"swin": 8, "mobilevitv2": 11, "efficientvit": 9, "fastvit": 6}

# Where we knowingly decay differently from timm: case -> (regex on our path, why). None now:
# FastViT's layer scales, (C, 1, 1) and decayed in timm, are declared in its WEIGHT_DECAY.
DIFFERENT_DECAY = {}


def _timm_rules(name):
    import importlib

    family = keras_vit.get_model_spec(name).family
    family = "vit" if family == "deit" else family
    convert = importlib.import_module(f"keras_vit.models.{family}.convert")
    if hasattr(convert, "TIMM_RULES"):
        return convert.TIMM_RULES
    return next(layout.rules for layout in convert.LAYOUTS if layout.name == "timm")


def _our_path(timm_name, rules):
    for rule in rules:
        found = re.match(rule.pattern + "$", timm_name)
        if found:
            # FastViT's targets are timm's dotted module paths, which its convert() joins
            # with underscores; no other family's target has a dot.
            return rule.target.format(*found.groups()).replace(".", "_")
    raise AssertionError(f"no key-map rule for timm parameter {timm_name}")


def _timm_groups(model, groups):
    """``{timm parameter name: (weight decay, lr scale)}`` from timm's param groups."""
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["weight_decay"], g.get("lr_scale", 1.0))
            for g in groups for p in g["params"]}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_param_groups_equal_timm(case):
    timm = require("timm")
    from timm.optim import param_groups_layer_decay, param_groups_weight_decay

    ours_name, timm_name, timm_kwargs, overrides = CASES[case]
    if callable(timm_name):
        reference = timm_name(num_classes=5, **timm_kwargs)
    else:
        reference = timm.create_model(timm_name, pretrained=False, num_classes=5, **timm_kwargs)
    model = keras_vit.create_model(ours_name, num_classes=5, **overrides)
    # Trainable only: BatchNorm statistics are variables here and buffers in timm.
    assert (sum(int(np.prod(v.shape)) for v in model.trainable_variables)
            == sum(p.numel() for p in reference.parameters()))
    rules = _timm_rules(ours_name)
    paths = {n: _our_path(n, rules) for n, _ in reference.named_parameters()}
    assert sorted(paths.values()) == sorted(v.path for v in model.trainable_variables)

    # As timm's create_optimizer_v2: a model without no_weight_decay() declares nothing.
    no_decay = reference.no_weight_decay() if hasattr(reference, "no_weight_decay") else set()
    plain = _timm_groups(reference, param_groups_weight_decay(
        reference, WEIGHT_DECAY, no_weight_decay_list=no_decay))
    layered = _timm_groups(reference, param_groups_layer_decay(
        reference, WEIGHT_DECAY, no_weight_decay_list=no_decay, layer_decay=0.65))
    ours_plain = param_groups(model)
    ours_layered = param_groups(model, layer_decay=0.65)
    different = re.compile(DIFFERENT_DECAY[case][0]) if case in DIFFERENT_DECAY else None
    scales, differed = set(), []
    for timm_param, path in paths.items():
        timm_decays = plain[timm_param][0] > 0
        if different is not None and different.search(path):
            assert timm_decays and layered[timm_param][0] > 0, (timm_param, path)
            timm_decays = False  # DIFFERENT_DECAY: timm decays it, we do not
            differed.append(path)
        assert ours_plain[path].decay == timm_decays, (timm_param, path)
        assert ours_plain[path].lr_scale == 1.0
        wd, scale = layered[timm_param]
        assert ours_layered[path].decay == timm_decays, (timm_param, path)
        assert ours_layered[path].lr_scale == pytest.approx(scale, rel=1e-9), (timm_param, path)
        scales.add(round(scale, 12))
    assert bool(differed) == (different is not None), differed
    # Every block is its own layer, plus the embeddings and the head.
    assert len(scales) == LAYERS.get(case, overrides.get("depth", 0) + 2)

    # The trainer's AdamW gets exactly these exemptions and multipliers.
    optimizer = build_optimizer(Recipe(model=ours_name, epochs=1, layer_decay=0.65,
                                       weight_decay=WEIGHT_DECAY), model, steps_per_epoch=1)
    optimizer.build(model.trainable_variables)
    for v in model.trainable_variables:
        assert optimizer._use_weight_decay(v) == ours_layered[v.path].decay, v.path
        assert optimizer._lr_scale(v) == pytest.approx(ours_layered[v.path].lr_scale), v.path


def test_layer_ids_follow_timm_ordinals():
    matcher = {"stem": r"^(?:cls|embed)/", "blocks": [(r"^b(\d+)/", None), (r"^norm/", (99999,))]}
    paths = ["embed/k", "cls/t", "b0/k", "b10/k", "b2/k", "norm/g", "head/k", "pool/k"]
    ids = layer_ids(paths, matcher)
    # Numeric order (b2 before b10), the final norm with the last block, unmatched last.
    assert ids == {"embed/k": 0, "cls/t": 0, "b0/k": 1, "b2/k": 2, "b10/k": 3, "norm/g": 3,
                   "head/k": 4, "pool/k": 4}


def test_family_without_declarations_gets_timms_default_rule():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(x), name="my_model")
    groups = param_groups(model)
    assert {p for p, g in groups.items() if g.decay} == {"conv/kernel", "head/kernel"}
    with pytest.raises(ValueError, match="layer_decay needs the layer groups of 'my_model'"):
        param_groups(model, layer_decay=0.7)
    with pytest.raises(ValueError, match=r"layer_decay must be in \(0, 1\]"):
        param_groups(keras_vit.create_model("vit_tiny_patch16_224", **keras_vit.get_model_spec(
            "vit_tiny_patch16_224").tiny), layer_decay=1.5)


@pytest.mark.slow
def test_every_family_declares_groups_covering_blocks():
    """Each family's matcher gives the embeddings layer 0 and the head the last layer."""
    families = {}
    for name in keras_vit.list_models():
        spec = keras_vit.get_model_spec(name)
        if spec.group_matcher is not None:
            families.setdefault(spec.family, name)
    assert {"vit", "deit", "beit", "swin", "cvt", "pvt", "pvt_v2", "mobilevit", "cct",
            "t2t_vit", "dat", "mobilevitv2", "efficientvit", "fastvit"} <= set(families)
    for family, name in families.items():
        spec = keras_vit.get_model_spec(name)
        model = keras_vit.create_model(name, **spec.tiny)
        groups = param_groups(model, layer_decay=0.5)
        layers = {p: g.layer for p, g in groups.items()}
        last = max(layers.values())
        assert layers["head/kernel"] == last, family
        assert last >= 3, (family, last)
        first = [p for p, layer in layers.items() if layer == 0]
        assert first and all("head" not in p for p in first), (family, first)
        assert set(layers.values()) == set(range(last + 1)), family


def _sgd_like_first_step(model_name, overrides, layer_decay):
    """One AdamW step from ``build_optimizer``: Adam's first step moves every variable by
    ``lr * scale`` (times sign(grad)), so the steps' ratio is the scales' ratio."""
    model = keras_vit.create_model(model_name, num_classes=3, **overrides)
    recipe = Recipe(model=model_name, epochs=1, warmup_epochs=0, learning_rate=1e-2,
                    min_learning_rate=1e-2, weight_decay=0.0, layer_decay=layer_decay)
    optimizer = build_optimizer(recipe, model, steps_per_epoch=1)
    rng = np.random.default_rng(0)
    grads = [keras.ops.convert_to_tensor(rng.normal(size=v.shape).astype("float32") + 0.5)
             for v in model.trainable_variables]
    before = {v.path: np.array(v) for v in model.trainable_variables}
    optimizer.apply(grads, model.trainable_variables)
    return {v.path: np.abs(np.array(v) - before[v.path]).max() for v in model.trainable_variables}


def test_training_step_applies_layer_scales():
    overrides = dict(input_shape=(16, 16, 3), patch_size=8, embed_dim=8, depth=3, num_heads=2)
    moved = _sgd_like_first_step("vit_tiny_patch16_224", overrides, layer_decay=0.5)
    # Head: layer 4 of 0..4, full rate; patch embedding: layer 0, 0.5 ** 4; block 1: 0.5 ** 2.
    assert moved["head/kernel"] == pytest.approx(1e-2, rel=1e-3)
    assert moved["patch_embed/proj/kernel"] / moved["head/kernel"] == pytest.approx(0.5 ** 4, rel=1e-3)
    assert moved["blocks_1/mlp/fc1/kernel"] / moved["head/kernel"] == pytest.approx(0.5 ** 2, rel=1e-3)


def test_layer_scaled_weight_decay_and_serialization():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="b")(keras.layers.Dense(2, name="a")(inputs)))
    optimizer = AdamW(0.1, weight_decay=0.5, lr_multipliers={"a/kernel": 0.25})
    optimizer.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables
                                                  if len(v.shape) == 1])
    before = {v.path: np.array(v) for v in model.trainable_variables}
    optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_variables],
                    model.trainable_variables)
    # Zero gradients: only the decoupled decay moves, by lr * scale * wd.
    np.testing.assert_allclose(np.array(model.get_layer("a").kernel),
                               before["a/kernel"] * (1 - 0.1 * 0.25 * 0.5), rtol=1e-6)
    np.testing.assert_allclose(np.array(model.get_layer("b").kernel),
                               before["b/kernel"] * (1 - 0.1 * 0.5), rtol=1e-6)
    config = optimizer.get_config()
    assert AdamW.from_config(config).lr_multipliers == {"a/kernel": 0.25}
    stray = AdamW(0.1, lr_multipliers={"c/kernel": 0.5})
    with pytest.raises(ValueError, match="does not train: c/kernel"):
        stray.build(model.trainable_variables)


def test_recipe_rejects_bad_layer_decay():
    with pytest.raises(ValueError, match="layer_decay"):
        Recipe(layer_decay=0.0).validated()
    with pytest.raises(ValueError, match="layer_decay"):
        Recipe(layer_decay=True).validated()
    with pytest.raises(ValueError, match="lr_base_batch_size"):
        Recipe(lr_base_batch_size=0).validated()
    with pytest.raises(ValueError, match="repeated_augmentation"):
        Recipe(repeated_augmentation=0).validated()
