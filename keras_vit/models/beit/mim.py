"""BEiT's pre-training objective: masked image modeling (Bao et al., 2021, section 2).

About 40% of the patches are masked in blocks, replaced by a learned ``[MASK]`` embedding,
and the network predicts the visual-token id of every masked patch. The tokens come from a
tokenizer: BEiT used DALL-E's discrete VAE; here any Keras model mapping images to
``(batch, patches)`` integer ids will do, and the default is a small codebook learned by
k-means on the training images' patches, which needs no download and fits in seconds.

The pieces, in the order a training script uses them::

    backbone = keras_vit.create_model("beit_base_patch16_224", num_classes=10, input_shape=(32, 32, 3), patch_size=8, ...)
    tokenizer = fit_kmeans_tokenizer(train_images, patch_size=8, vocab_size=64)
    model = masked_image_model(backbone, vocab_size=64)
    model.compile("adamw", MaskedTokenLoss())
    model.fit(MaskedImageData(train_images, tokenizer, batch_size=64), epochs=...)
    keras_vit.save_weights(backbone, "pretrained.safetensors")   # shares the trained layers
    finetune = keras_vit.create_model("beit_base_patch16_224", weights="pretrained.safetensors", ...)
"""
import math

import keras
import numpy as np
from keras import layers, ops

from ...layers import TransformerBlock


class BlockwiseMaskGenerator:
    """Blockwise masking (BEiT, Algorithm 1): rectangles of patches until ``ratio`` is masked.

    Each block has a random area of at least ``min_block`` patches and a log-uniform aspect
    ratio in ``[1/max_aspect, max_aspect]``; blocks are placed at random and only the patches
    they newly cover count. Generation stops early if ten tries in a row add nothing.

    Args:
        grid: (rows, cols) of patches.
        ratio: fraction of patches to mask (the paper: 0.4, i.e. 75 of 196).
        min_block: smallest block area (the paper: 16; scaled down for tiny grids).
        max_aspect: largest aspect ratio of a block (the paper: 0.3 to 1/0.3).

    Example:
        >>> mask = BlockwiseMaskGenerator((14, 14))(np.random.default_rng(0))  # (14, 14) bool
    """

    def __init__(self, grid, ratio=0.4, min_block=None, max_aspect=1 / 0.3):
        self.grid = tuple(int(g) for g in grid)
        self.num_masked = int(round(ratio * self.grid[0] * self.grid[1]))
        area = self.grid[0] * self.grid[1]
        self.min_block = min_block if min_block is not None else max(1, min(16, area // 12))
        self.log_aspect = (-math.log(max_aspect), math.log(max_aspect))

    def _add_block(self, mask, budget, rng):
        rows, cols = self.grid
        for _ in range(10):
            area = rng.uniform(min(self.min_block, budget), budget)
            aspect = math.exp(rng.uniform(*self.log_aspect))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if not (0 < h <= rows and 0 < w <= cols):
                continue
            top, left = rng.integers(0, rows - h + 1), rng.integers(0, cols - w + 1)
            window = mask[top : top + h, left : left + w]
            new = int((~window).sum())
            if 0 < new <= budget:
                window[:] = True
                return new
        return 0

    def __call__(self, rng):
        mask = np.zeros(self.grid, dtype=bool)
        count = 0
        while count < self.num_masked:
            added = self._add_block(mask, self.num_masked - count, rng)
            if added == 0:
                break
            count += added
        return mask


@keras.saving.register_keras_serializable(package="keras_vit")
class MaskToken(layers.Layer):
    """Replaces the patch embeddings where ``mask`` is 1 by a learned ``[MASK]`` embedding.

    Call arguments: ``tokens (B, N, C)`` and ``mask (B, N)`` (1 = masked, float or bool).

    Example:
        >>> x = MaskToken(name="mask_token")(patch_tokens, mask)
    """

    def build(self, tokens_shape, mask_shape=None):
        self.mask_token = self.add_weight(
            name="mask_token", shape=(1, 1, tokens_shape[-1]), initializer=keras.initializers.TruncatedNormal(stddev=0.02)
        )

    def call(self, tokens, mask):
        m = ops.cast(mask, tokens.dtype)[..., None]
        return tokens * (1.0 - m) + ops.cast(self.mask_token, tokens.dtype) * m

    def compute_output_shape(self, tokens_shape, mask_shape=None):
        return tokens_shape


def _patches(images, patch_size):
    """``(B, H, W, C)`` -> ``(B, N, p * p * C)`` in row-major patch order."""
    h, w, c = images.shape[1], images.shape[2], images.shape[3]
    rows, cols = h // patch_size, w // patch_size
    x = ops.reshape(images, (-1, rows, patch_size, cols, patch_size, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, rows * cols, patch_size * patch_size * c))


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchTokenizer(layers.Layer):
    """Visual tokens by nearest codeword: each patch's pixels (in [0, 1]) to a codebook index.

    Args:
        patch_size: side of the patches (the backbone's, so that ids align with its tokens).
        vocab_size: number of codewords.

    The codebook is a non-trainable weight; :func:`fit_kmeans_tokenizer` learns it.
    """

    def __init__(self, patch_size, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.vocab_size = vocab_size

    def build(self, input_shape):
        dim = self.patch_size * self.patch_size * input_shape[-1]
        self.codebook = self.add_weight(name="codebook", shape=(self.vocab_size, dim), initializer="zeros", trainable=False)

    def call(self, images):
        x = _patches(ops.cast(images, "float32") / 255.0, self.patch_size)
        codebook = ops.cast(self.codebook, "float32")
        distances = ops.sum(codebook**2, axis=-1) - 2.0 * ops.matmul(x, ops.transpose(codebook))
        return ops.cast(ops.argmin(distances, axis=-1), "int32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], (input_shape[1] // self.patch_size) * (input_shape[2] // self.patch_size))

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "vocab_size": self.vocab_size})
        return config


def fit_kmeans_tokenizer(images, patch_size, vocab_size=64, iterations=20, max_patches=50_000, seed=0):
    """The offline default tokenizer: k-means (Lloyd's algorithm) on the images' patches.

    Args:
        images: ``(N, H, W, 3)`` raw RGB in [0, 255].
        patch_size: the backbone's patch size.
        vocab_size: codewords (visual-token vocabulary).
        iterations: Lloyd iterations.
        max_patches: patches sampled for fitting.
        seed: sampling and initialization seed.

    Returns:
        a ``keras.Model`` mapping ``(B, H, W, 3)`` images to ``(B, patches)`` int32 ids.

    Example:
        >>> tokenizer = fit_kmeans_tokenizer(train_images, patch_size=8, vocab_size=64)
        >>> ids = tokenizer.predict(train_images)
    """
    images = np.asarray(images, dtype=np.float32)
    rng = np.random.default_rng(seed)
    patches = np.asarray(_patches(images / 255.0, patch_size)).reshape(-1, patch_size * patch_size * images.shape[-1])
    if len(patches) > max_patches:
        patches = patches[rng.choice(len(patches), max_patches, replace=False)]
    # k-means++ seeding, then Lloyd steps; an emptied cluster takes the farthest patch.
    centers = [patches[rng.integers(len(patches))]]
    nearest = ((patches - centers[0]) ** 2).sum(-1)
    for _ in range(1, vocab_size):
        total = nearest.sum()
        index = rng.choice(len(patches), p=nearest / total) if total > 0 else rng.integers(len(patches))
        centers.append(patches[index])
        nearest = np.minimum(nearest, ((patches - patches[index]) ** 2).sum(-1))
    centers = np.stack(centers)
    for _ in range(iterations):
        distances = (centers**2).sum(-1)[None] - 2.0 * patches @ centers.T
        assign = distances.argmin(-1)
        for k in range(vocab_size):
            members = patches[assign == k]
            if len(members):
                centers[k] = members.mean(0)
            else:
                centers[k] = patches[(distances.min(-1) + (patches**2).sum(-1)).argmax()]
    inputs = keras.Input(images.shape[1:], name="images")
    layer = PatchTokenizer(patch_size, vocab_size, name="tokenizer")
    model = keras.Model(inputs, layer(inputs), name="kmeans_tokenizer")
    layer.codebook.assign(centers.astype(np.float32))
    return model


def masked_image_model(backbone, vocab_size, name=None):
    """The pre-training network around a BEiT ``backbone``, sharing its layers.

    Inputs ``{"images": (B, H, W, 3), "mask": (B, patches)}`` (mask 1 = masked); output the
    ``(B, patches, vocab_size)`` logits of the visual tokens. New layers: ``mask_token``,
    ``mim_norm`` and ``lm_head``. Training it trains ``backbone``'s layers, so
    ``keras_vit.save_weights(backbone, path)`` afterwards writes the pre-trained backbone.

    Example:
        >>> model = masked_image_model(keras_vit.create_model("beit_base_patch16_224"), vocab_size=8192)
    """
    names = {layer.name for layer in backbone.layers}
    blocks = [layer for layer in backbone.layers if isinstance(layer, TransformerBlock)]
    if not {"patch_embed", "cls_token", "pos_drop"} <= names or not blocks:
        raise ValueError(f"Model '{backbone.name}' is not a BEiT backbone (patch_embed, cls_token, blocks).")
    embed = backbone.get_layer("patch_embed")
    grid = (backbone.input_shape[1] // embed.patch_size[0], backbone.input_shape[2] // embed.patch_size[1])
    images = keras.Input(backbone.input_shape[1:], name="images")
    mask = keras.Input((grid[0] * grid[1],), name="mask")
    x = backbone.get_layer("preprocessing")(images) if "preprocessing" in names else images
    x = MaskToken(name="mask_token")(embed(x), mask)
    x = backbone.get_layer("cls_token")(x)
    if "pos_embed" in names:
        x = backbone.get_layer("pos_embed")(x)
    x = backbone.get_layer("pos_drop")(x)
    shared = backbone.get_layer("rel_pos_bias")(x) if "rel_pos_bias" in names else None
    for block in blocks:
        x = block(x) if shared is None else block(x, attention_bias=shared)
    x = layers.LayerNormalization(epsilon=blocks[0].layer_norm_epsilon, name="mim_norm")(x)
    x = x[:, 1:]
    logits = layers.Dense(vocab_size, name="lm_head", dtype="float32")(x)
    return keras.Model({"images": images, "mask": mask}, logits, name=name or f"{backbone.name}_mim")


@keras.saving.register_keras_serializable(package="keras_vit")
class MaskedTokenLoss(keras.losses.Loss):
    """Cross-entropy of the visual tokens at masked patches only; labels -1 are ignored.

    Per image, the mean over its masked patches; then the mean over the batch.
    """

    def __init__(self, name="masked_token_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        valid = ops.cast(y_true >= 0, y_pred.dtype)
        ce = keras.losses.sparse_categorical_crossentropy(ops.maximum(y_true, 0), y_pred, from_logits=True)
        return ops.sum(ce * valid, axis=-1) / ops.maximum(ops.sum(valid, axis=-1), 1.0)


class MaskedImageData(keras.utils.PyDataset):
    """Batches for :func:`masked_image_model`: fresh block masks every epoch.

    Yields ``({"images", "mask"}, labels)`` where labels are the tokenizer's ids at masked
    patches and -1 elsewhere (what :class:`MaskedTokenLoss` takes). Token ids are computed
    once (the images are not augmented here).

    Args:
        images: ``(N, H, W, 3)`` raw RGB.
        tokenizer: a Keras model from images to ``(N, patches)`` ids.
        batch_size: images per batch.
        ratio: masked fraction (0.4 in BEiT).
        seed: masking and shuffling seed.
        drop_remainder: yield full batches only (for ``tf.distribute`` strategies).
    """

    def __init__(self, images, tokenizer, batch_size=64, ratio=0.4, min_block=None, seed=0, shuffle=True,
                 drop_remainder=False, **kwargs):
        super().__init__(**kwargs)
        self.drop_remainder = drop_remainder
        self.images = np.asarray(images)
        self.ids = np.asarray(tokenizer.predict(self.images, batch_size=256, verbose=0)).astype(np.int32)
        patches = self.ids.shape[1]
        side = int(round(math.sqrt(patches)))
        if side * side != patches:
            raise ValueError(f"MaskedImageData needs a square patch grid, got {patches} tokens.")
        self.masking = BlockwiseMaskGenerator((side, side), ratio=ratio, min_block=min_block)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(self.images))
        self.on_epoch_end()

    def __len__(self):
        # drop_remainder: only full batches (a new random remainder is left out each epoch),
        # which tf.distribute needs to split every batch evenly across replicas.
        if self.drop_remainder:
            return max(len(self.images) // self.batch_size, 1)
        return math.ceil(len(self.images) / self.batch_size)

    def on_epoch_end(self):
        if self.shuffle:
            self.rng.shuffle(self.order)
        self.masks = np.stack([self.masking(self.rng).reshape(-1) for _ in range(len(self.images))])

    def __getitem__(self, index):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        masks = self.masks[idx]
        labels = np.where(masks, self.ids[idx], -1).astype(np.int32)
        return {"images": self.images[idx].astype(np.float32), "mask": masks.astype(np.float32)}, labels


def pretrain(backbone, images, *, tokenizer=None, vocab_size=64, epochs=10, batch_size=64, learning_rate=1e-3,
             weight_decay=0.05, ratio=0.4, min_block=None, seed=0, callbacks=None, verbose="auto"):
    """Masked-image-modeling pre-training of ``backbone`` in place; the whole recipe in one call.

    Builds the default k-means tokenizer when none is given, wraps ``backbone`` with
    :func:`masked_image_model`, and fits it on ``images`` with AdamW. Under a
    ``tf.distribute`` strategy, call it (and create ``backbone``) inside ``strategy.scope()``.

    Returns:
        ``(history, mim_model, tokenizer)``; ``backbone`` now holds the pre-trained weights
        (``keras_vit.save_weights(backbone, path)`` then ``create_model(..., weights=path)``).

    Example:
        >>> backbone = keras_vit.create_model("beit_base_patch16_224", input_shape=(32, 32, 3), patch_size=8, num_classes=10)
        >>> history, _, _ = pretrain(backbone, train_images, epochs=20)
    """
    if tokenizer is None:
        patch = backbone.get_layer("patch_embed").patch_size[0]
        tokenizer = fit_kmeans_tokenizer(images, patch, vocab_size=vocab_size, seed=seed)
    codebooks = [layer for layer in tokenizer.layers if isinstance(layer, PatchTokenizer)]
    vocab_size = codebooks[0].vocab_size if codebooks else vocab_size
    model = masked_image_model(backbone, vocab_size)
    model.compile(keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay), MaskedTokenLoss())
    data = MaskedImageData(images, tokenizer, batch_size=batch_size, ratio=ratio, min_block=min_block, seed=seed)
    history = model.fit(data, epochs=epochs, callbacks=callbacks, verbose=verbose)
    return history, model, tokenizer
