import keras
import numpy as np
import pytest

from keras_vit.training import (
    Recipe, build_optimizer, distillation_loss, no_weight_decay_variables,
    warmup_cosine_schedule)
from keras_vit.training.distill import Distiller, merge_student_outputs


def _tiny_vit():
    import keras_vit

    return keras_vit.create_model("vit_tiny_patch16_224", input_shape=(16, 16, 3),
                                  num_classes=4, patch_size=8, embed_dim=16, depth=1,
                                  num_heads=2)


def test_no_weight_decay_for_norms_biases_tokens_and_pos_embed():
    model = _tiny_vit()
    excluded = {v.path for v in no_weight_decay_variables(model)}
    decayed = {v.path for v in model.trainable_variables} - excluded
    assert decayed and all(p.endswith("kernel") for p in decayed)
    names = {p.rsplit("/", 1)[-1] for p in excluded}
    assert {"pos_embed", "cls_token", "gamma", "beta", "bias"} <= names
    optimizer = build_optimizer(Recipe(epochs=2, warmup_epochs=1), model, steps_per_epoch=5)
    optimizer.build(model.trainable_variables)
    for v in model.trainable_variables:
        assert optimizer._use_weight_decay(v) == (v.path in decayed), v.path


def test_weight_decay_leaves_excluded_variables_unchanged():
    model = _tiny_vit()
    recipe = Recipe(epochs=1, warmup_epochs=0, learning_rate=0.1, weight_decay=0.5)
    optimizer = build_optimizer(recipe, model, steps_per_epoch=1)
    before = {v.path: np.array(v) for v in model.trainable_variables}
    optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_variables],
                    model.trainable_variables)
    for v in model.trainable_variables:
        changed = not np.allclose(before[v.path], np.array(v))
        is_kernel = v.path.endswith("kernel") and np.any(before[v.path])
        assert changed == is_kernel, v.path


def test_warmup_then_cosine():
    schedule = warmup_cosine_schedule(1e-3, total_steps=110, warmup_steps=10,
                                      min_learning_rate=1e-5)
    lr = [float(schedule(s)) for s in (0, 5, 10, 60, 110)]
    assert lr[0] == pytest.approx(0.0, abs=1e-9)
    assert lr[1] == pytest.approx(5e-4, rel=1e-3)
    assert lr[2] == pytest.approx(1e-3, rel=1e-3)
    assert lr[3] == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-2)
    assert lr[4] == pytest.approx(1e-5, rel=1e-2)


def _np_ce(labels, logits):
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return float(-(labels * logp).sum(-1).mean())


def test_distillation_losses_match_numpy():
    rng = np.random.default_rng(0)
    y = np.eye(5, dtype="float32")[rng.integers(0, 5, 6)]
    s, d, t = (rng.normal(size=(6, 5)).astype("float32") for _ in range(3))
    hard_t = np.eye(5, dtype="float32")[t.argmax(-1)]
    # DeiT hard distillation through a distillation token.
    got = float(distillation_loss(y, [s, d], t, mode="hard"))
    assert got == pytest.approx(0.5 * _np_ce(y, s) + 0.5 * _np_ce(hard_t, d), rel=1e-5)
    # Single-output hard distillation.
    got = float(distillation_loss(y, s, t, mode="hard"))
    assert got == pytest.approx(0.5 * _np_ce(y, s) + 0.5 * _np_ce(hard_t, s), rel=1e-5)
    # Soft distillation with temperature.
    temp, alpha = 3.0, 0.3
    pt = np.exp(t / temp) / np.exp(t / temp).sum(-1, keepdims=True)
    ls = s / temp - np.log(np.exp(s / temp).sum(-1, keepdims=True))
    kl = (pt * (np.log(pt) - ls)).sum(-1).mean() * temp ** 2
    got = float(distillation_loss(y, s, t, mode="soft", alpha=alpha, temperature=temp))
    assert got == pytest.approx((1 - alpha) * _np_ce(y, s) + alpha * kl, rel=1e-5)
    np.testing.assert_allclose(np.asarray(merge_student_outputs([s, d])), (s + d) / 2)


def test_distiller_trains_a_two_output_student(tmp_path):
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Flatten()(inputs)
    two_head = keras.Model(inputs, [keras.layers.Dense(4, name="cls")(h),
                                    keras.layers.Dense(4, name="dist")(h)])
    teacher = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                keras.layers.Dense(4, activation="softmax")])
    teacher_path = str(tmp_path / "teacher.keras")
    teacher.save(teacher_path)
    distiller = Distiller(two_head, teacher_path, mode="hard")
    distiller.compile(optimizer="adam", metrics=[keras.metrics.CategoricalAccuracy()])
    x = np.random.default_rng(0).uniform(0, 1, (32, 16, 16, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[np.arange(32) % 4]
    before = [np.array(w) for w in distiller.teacher.weights]
    history = distiller.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    for a, w in zip(before, distiller.teacher.weights):
        np.testing.assert_array_equal(a, np.array(w))  # the teacher stays frozen
    with pytest.raises(ValueError, match="mode"):
        Distiller(two_head, teacher, mode="medium")


def test_deit_student_trains_both_heads_against_the_teacher(tmp_path):
    import keras_vit
    from keras_vit.training.recipe import load_recipe
    from keras_vit.training import compile_for_recipe

    student = keras_vit.create_model("deit_tiny_distilled_patch16_224", input_shape=(16, 16, 3),
                                     patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=4)
    teacher = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    recipe = load_recipe("vit_digits", distillation="hard", ema=False)
    fitted = compile_for_recipe(student, recipe, steps_per_epoch=4, teacher=teacher)
    assert [o.shape[-1] for o in fitted.student.outputs] == [4, 4]  # [cls, dist] view of the DeiT model
    heads = {name: np.array(student.get_layer(name).kernel) for name in ("head", "head_dist")}
    x = np.random.default_rng(0).uniform(0, 255, (16, 16, 16, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[np.arange(16) % 4]
    fitted.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for name, before in heads.items():
        assert not np.allclose(before, np.array(student.get_layer(name).kernel)), name
