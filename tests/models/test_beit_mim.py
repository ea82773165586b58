"""BEiT masked image modeling: blockwise masks, the k-means tokenizer, and a few steps of
pre-training on digits that lower the loss and hand a backbone to fine-tuning."""
import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.models.beit.mim import (
    BlockwiseMaskGenerator,
    MaskedImageData,
    MaskedTokenLoss,
    fit_kmeans_tokenizer,
    masked_image_model,
)

TINY = dict(input_shape=(32, 32, 3), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10)


def test_blockwise_masks_have_the_ratio_and_come_in_blocks():
    generator = BlockwiseMaskGenerator((14, 14), ratio=0.4, min_block=16)
    rng = np.random.default_rng(0)
    masks = [generator(rng) for _ in range(50)]
    counts = np.array([m.sum() for m in masks])
    assert counts.max() <= 78 and counts.mean() > 0.95 * 78  # round(0.4 * 196)
    # Blocks, not scattered patches: most masked patches have a masked 4-neighbour, far more
    # than the ~40% independent masking would give.
    neighbours = []
    for m in masks:
        p = np.pad(m, 1)
        has = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
        neighbours.append((has & m).sum() / m.sum())
    assert np.mean(neighbours) > 0.9
    assert len({m.tobytes() for m in masks}) == len(masks)


def digits(n=400):
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    images = data.images[:n] * (255.0 / 16.0)
    images = np.kron(images, np.ones((4, 4)))[..., None].repeat(3, axis=-1)  # 8x8 -> 32x32 RGB
    return images.astype(np.float32), data.target[:n]


def test_kmeans_tokenizer_ids_are_nearest_codewords():
    images, _ = digits(100)
    tokenizer = fit_kmeans_tokenizer(images, patch_size=8, vocab_size=16, iterations=5)
    ids = tokenizer.predict(images[:4], verbose=0)
    assert ids.shape == (4, 16) and ids.dtype == np.int32 and 0 <= ids.min() and ids.max() < 16
    codebook = tokenizer.get_layer("tokenizer").codebook.numpy()
    patch = images[0, 8:16, 16:24].reshape(-1) / 255.0  # patch (1, 2) of the 4x4 grid
    assert ids[0, 1 * 4 + 2] == np.argmin(((codebook - patch) ** 2).sum(-1))
    assert len(np.unique(tokenizer.predict(images, verbose=0))) > 4


@pytest.mark.slow
def test_pretraining_lowers_the_loss_and_gives_a_backbone(tmp_path):
    keras.utils.set_random_seed(0)
    images, _ = digits()
    tokenizer = fit_kmeans_tokenizer(images, patch_size=8, vocab_size=16, iterations=10)
    backbone = keras_vit.create_model("beit_base_patch16_224", **TINY)
    model = masked_image_model(backbone, vocab_size=16)
    assert model.output_shape == (None, 16, 16)
    model.compile(keras.optimizers.AdamW(2e-3), MaskedTokenLoss())
    data = MaskedImageData(images, tokenizer, batch_size=50, ratio=0.4, min_block=2, seed=0)
    # A fixed masked batch, scored before and after training.
    x, y = data[0]
    assert ((y >= 0) == (x["mask"] > 0)).all() and 0.25 < x["mask"].mean() <= 0.45
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(data, epochs=4, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < before - 0.3, (before, after)
    # The masked tokens matter: scoring with every patch visible but the same labels differs.
    visible = model.evaluate({"images": x["images"], "mask": np.zeros_like(x["mask"])}, y, verbose=0)
    assert not np.isclose(visible, after)
    # The pre-trained backbone loads into create_model for fine-tuning.
    path = str(tmp_path / "pretrained.safetensors")
    keras_vit.save_weights(backbone, path)
    finetune = keras_vit.create_model("beit_base_patch16_224", weights=path, **TINY)
    np.testing.assert_allclose(finetune.predict(images[:4], verbose=0), backbone.predict(images[:4], verbose=0), atol=1e-5)


def test_masked_image_model_refuses_other_backbones():
    with pytest.raises(ValueError, match="not a BEiT backbone"):
        masked_image_model(keras_vit.create_model("mobilevit_xxs", input_shape=(64, 64, 3), num_classes=3), vocab_size=8)


def test_pretrain_trains_the_backbone_in_place():
    keras.utils.set_random_seed(1)
    images, _ = digits(120)
    backbone = keras_vit.create_model("beit_base_patch16_224", **TINY)
    before = backbone.get_layer("blocks_0").attn.qkv.kernel.numpy().copy()
    history, model, tokenizer = keras_vit.models.beit.pretrain(backbone, images, vocab_size=8, epochs=1, batch_size=40, min_block=2, verbose=0)
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"]).all()
    assert model.output_shape == (None, 16, 8) and tokenizer.output_shape == (None, 16)
    assert not np.allclose(backbone.get_layer("blocks_0").attn.qkv.kernel.numpy(), before)
