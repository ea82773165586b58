"""MobileViT's multi-scale sampler (recipe key ``multi_scale``): batch sizes and shapes, the
pipeline with augmentations and resuming, recipe errors, and a fit under MirroredStrategy."""
import json

import numpy as np
import pytest

from tests.training.helpers import start_python, stop
from training.multiscale import MultiScaleSampler

PAPER_SIZES = [160, 192, 224, 256, 288, 320]


def test_batch_sizes_keep_pixels_per_batch_and_divide_replicas():
    sampler = MultiScaleSampler(PAPER_SIZES, base_size=256, batch_size=128, num_replicas=8)
    assert sampler.batch_sizes[PAPER_SIZES.index(256)] == 128
    for size, batch in zip(sampler.sizes, sampler.batch_sizes):
        assert batch % 8 == 0
        # Rounded down to a multiple of the replicas: within one replica-step of equal pixels.
        assert 0 <= 128 * 256 ** 2 - batch * size ** 2 < 8 * size ** 2
    assert sampler.batch_sizes == tuple(sorted(sampler.batch_sizes, reverse=True))
    # An epoch draws about the split once.
    assert sampler.steps_per_epoch(10_000) == round(10_000 / np.mean(sampler.batch_sizes))
    # Never an empty batch: at least one image per replica.
    assert MultiScaleSampler([64, 512], base_size=64, batch_size=4, num_replicas=2).batch_sizes == (4, 2)


def test_batches_follow_the_seeded_schedule():
    import tensorflow as tf

    sampler = MultiScaleSampler([8, 12, 16], base_size=12, batch_size=6, num_replicas=2, seed=5)
    steps = 12
    schedule = sampler.schedule(steps)
    assert schedule == MultiScaleSampler([8, 12, 16], 12, 6, num_replicas=2, seed=5).schedule(steps)
    assert schedule != MultiScaleSampler([8, 12, 16], 12, 6, num_replicas=2, seed=6).schedule(steps)
    assert len({size for size, _ in schedule}) == 3
    images = tf.data.Dataset.range(1000).map(lambda i: (tf.fill([12, 12, 3], tf.cast(i % 250, tf.uint8)), i))
    batches = list(sampler.batch(images).take(steps))
    assert [(x.shape[0], x.shape[1], x.shape[2]) for x, _ in batches] == [(b, s, s) for s, b in schedule]
    # Every image once, in order: no image dropped or repeated at a batch boundary.
    labels = np.concatenate([y.numpy() for _, y in batches])
    np.testing.assert_array_equal(labels, np.arange(len(labels)))
    x, y = batches[0]
    np.testing.assert_allclose(x.numpy(), np.broadcast_to((y.numpy() % 250)[:, None, None, None], x.shape), atol=1e-3)


def test_pipeline_with_augmentations_and_resume():
    import tensorflow as tf

    from training.augment import Augmenter
    from training.data import make_pipeline

    rng = np.random.default_rng(0)
    split = tf.data.Dataset.from_tensor_slices(
        (rng.integers(0, 256, (200, 16, 16, 3)).astype("uint8"), rng.integers(0, 4, 200)))
    sampler = MultiScaleSampler([12, 16, 20], base_size=16, batch_size=8)
    augment = Augmenter(4, randaugment_ops=0, hflip=True, random_translate=0.1, mixup_alpha=0.2, mix_prob=0.5)

    def batches(skip):
        ds = make_pipeline(split, 4, 8, training=True, augment=augment, seed=1, skip_batches=skip, multi_scale=sampler)
        return [(x.numpy(), y.numpy()) for x, y in ds.take(6 - skip)]

    run, resumed = batches(0), batches(2)
    assert [x.shape for x, _ in run] == [(b, s, s, 3) for s, b in sampler.schedule(6)]
    for x, y in run:
        assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
        np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    # Resuming after two steps gives the same sizes and images (before the random augmentations).
    assert [x.shape for x, _ in resumed] == [x.shape for x, _ in run[2:]]


@pytest.mark.parametrize("value,message", [
    ([40, 64], "must be a JSON object"),
    ({"sizes": []}, "non-empty list of positive integers"),
    ({"sizes": [40, 40.5]}, "non-empty list of positive integers"),
    ({"sizes": [40, 40]}, "lists a size twice"),
    ({"sizes": [40], "base_size": 64}, "takes the key 'sizes' only"),
    ({"sizes": [64, 4096]}, "less than one image per batch"),
])
def test_recipe_errors(value, message):
    from training.recipe import load_recipe

    with pytest.raises(ValueError, match=message):
        load_recipe("mobilevit_digits", multi_scale=value)


def test_recipe_needs_a_model_of_any_size():
    from training.recipe import load_recipe

    assert load_recipe("mobilevit_digits", multi_scale={"sizes": [48, 64, 80]}).multi_scale == {"sizes": [48, 64, 80]}
    with pytest.raises(ValueError, match="needs a model that takes any input size"):
        load_recipe("vit_digits", multi_scale={"sizes": [48, 64]})


_MIRRORED = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_vit.training import get_strategy
from keras_vit.training.recipe import Recipe
from keras_vit.training.trainer import finish, prepare

out, recipe = sys.argv[1], Recipe(**json.loads(sys.argv[2])).validated()
strategy = get_strategy("mirrored")
run = prepare(recipe, out, strategy=strategy, verbose=0)
history = run.fitted.fit(run.train_data(0), steps_per_epoch=3, epochs=1, verbose=0)
run.train_seconds = 0.0
result = finish(run)
json.dump({"replicas": strategy.num_replicas_in_sync, "loss": history.history["loss"],
           "batches": [list(x.shape) for x, _ in run.train_data(0).take(3)],
           "trained_input": list(run.student.input_shape), "kept_input": list(result.model.input_shape),
           "test_accuracy": result.metrics["test_accuracy"]}, open(out + "/result.json", "w"))
"""

TINY_MOBILEVIT = {
    "model": "mobilevit_xxs",
    "model_overrides": {"stem_channels": 8, "channels": [8, 8, 16, 16, 16], "block_depths": [1, 1],
                        "transformer_dims": [16, 16, 16], "transformer_depths": [1, 1, 1], "expand_ratio": 2.0,
                        "num_features": 16, "num_heads": 2},
    "image_size": 32, "data": "digits", "test_fraction": 0.5, "keep": "last", "epochs": 1, "batch_size": 32,
    "learning_rate": 0.005, "warmup_epochs": 0.2, "drop_path_rate": 0.0, "randaugment_ops": 0, "mixup_alpha": 0.2,
    "cutmix_alpha": 0.0, "mix_prob": 0.5, "random_erasing": 0.0, "hflip": False, "random_translate": 0.1,
    "mixed_precision": "float32", "multi_scale": {"sizes": [24, 32, 40]},
}


@pytest.mark.slow
def test_fit_under_mirrored_strategy_over_two_logical_cpus(tmp_path):
    proc = start_python(["-c", _MIRRORED, str(tmp_path), json.dumps(TINY_MOBILEVIT)], tmp_path / "log.txt")
    try:
        assert proc.wait(timeout=300) == 0, (tmp_path / "log.txt").read_text()[-3000:]
    finally:
        stop([proc])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["replicas"] == 2
    assert np.isfinite(result["loss"]).all()
    sampler = MultiScaleSampler([24, 32, 40], base_size=32, batch_size=32, num_replicas=2, seed=0)
    assert result["batches"] == [[b, s, s, 3] for s, b in sampler.schedule(3)]
    # Trained for any size; kept, tested and saved at image_size.
    assert result["trained_input"] == [None, None, None, 3] and result["kept_input"] == [None, 32, 32, 3]
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert (tmp_path / "model.keras").is_file()
