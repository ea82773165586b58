"""Attention maps: where a ViT's class token looks, as arrays and as PNG overlays.

Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", 2020):
average the heads of each block, add the identity for the residual path, renormalize, and
multiply the blocks' matrices; the class token's row is its attention to every patch.
"""
import numpy as np

from .layers import PatchEmbedding, TransformerBlock


def _call_arguments(block):
    """A block's token input and the tensors it takes as keywords (BEiT's shared
    ``attention_bias``), as the functional graph recorded them."""
    import keras

    arguments = block._inbound_nodes[0].arguments
    extra = {k: v for k, v in arguments.kwargs.items() if isinstance(v, keras.KerasTensor)}
    return arguments.args[0], extra


def _blocks(model):
    blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
    consecutive = all(_call_arguments(b)[0] is a.output for a, b in zip(blocks, blocks[1:]))
    if not blocks or not consecutive or not any(isinstance(layer, PatchEmbedding) for layer in model.layers):
        raise ValueError(
            f"Model '{model.name}' is not a plain stack of transformer blocks over patch tokens; "
            "attention maps support the ViT and DeiT families."
        )
    return blocks


def attention_scores(model, images):
    """Runs ``images`` through ``model`` and returns each block's attention probabilities.

    Returns:
        list of arrays ``(batch, heads, tokens, tokens)``, one per block, in order.
    """
    import keras

    blocks = _blocks(model)
    arguments = [_call_arguments(block) for block in blocks]
    keywords = [k for _, kw in arguments for k in kw.values()]
    stem = keras.Model(model.inputs, [arguments[0][0]] + keywords)
    x, *values = keras.tree.flatten(stem(np.asarray(images), training=False))
    computed = {id(k): v for k, v in zip(keywords, values)}
    scores = []
    for block, (_, kw) in zip(blocks, arguments):
        x, attn = block(x, training=False, return_attention_scores=True, **{k: computed[id(v)] for k, v in kw.items()})
        scores.append(np.asarray(attn))
    return scores


def attention_rollout(model, images, num_prefix_tokens=None):
    """Attention rollout of the class token over the patch grid.

    Returns:
        array ``(batch, grid_h, grid_w)`` in [0, 1] (each map scaled to its max).
    """
    scores = attention_scores(model, images)
    tokens = scores[0].shape[-1]
    patch = next(layer for layer in model.layers if isinstance(layer, PatchEmbedding))
    h, w = patch.input.shape[1] // patch.patch_size[0], patch.input.shape[2] // patch.patch_size[1]
    prefix = tokens - h * w if num_prefix_tokens is None else num_prefix_tokens
    if prefix < 1:
        raise ValueError("Attention rollout needs a class token; this model has none.")
    rollout = np.eye(tokens)[None]
    for attn in scores:
        a = attn.mean(axis=1) + np.eye(tokens)[None]
        a = a / a.sum(axis=-1, keepdims=True)
        rollout = a @ rollout
    maps = rollout[:, 0, prefix:].reshape(-1, h, w)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def save_attention_maps(model, images, path, titles=None):
    """Saves a PNG of each image beside its attention-rollout overlay.

    Args:
        model: a ViT-style keras_vit model.
        images: raw RGB images ``(batch, H, W, 3)`` in [0, 255], as the model takes them.
        path: output ``.png``; written atomically.
        titles: optional caption per image (e.g. predicted labels).
    """
    import os
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    maps = attention_rollout(model, images)
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(5, 2.5 * n), squeeze=False)
    for i in range(n):
        shown = np.clip(images[i], 0, 255).astype("uint8")
        if shown.shape[-1] == 1:
            shown = shown[..., 0]
        axes[i, 0].imshow(shown)
        axes[i, 0].set_title(titles[i] if titles else "image", fontsize=8)
        axes[i, 1].imshow(shown)
        axes[i, 1].imshow(maps[i], cmap="jet", alpha=0.5, extent=(-0.5, shown.shape[1] - 0.5, shown.shape[0] - 0.5, -0.5), interpolation="bilinear")
        axes[i, 1].set_title("attention rollout", fontsize=8)
        for ax in axes[i]:
            ax.axis("off")
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def deformable_points(model, images):
    """Where a DAT model's deformable attention samples keys and values, in image pixels.

    Returns:
        ``{block_name: array (batch, groups, points, 2)}`` of (x, y) image coordinates, one
        entry per deformable block, in order. Points may lie outside the image (those samples
        read zeros).
    """
    import keras

    from .models.dat import DeformableAttention

    blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock) and isinstance(layer.attn, DeformableAttention)]
    if not blocks:
        raise ValueError(f"Model '{model.name}' has no deformable attention; sampled points exist for the DAT family.")
    images = np.asarray(images, dtype="float32")
    inputs = keras.Model(model.inputs, [_call_arguments(b)[0] for b in blocks]).predict(images, verbose=0)
    inputs = inputs if isinstance(inputs, list) else [inputs]
    out = {}
    for block, tokens in zip(blocks, inputs):
        attn = block.attn
        h, w = attn.grid_size
        pos = np.asarray(attn.sampling_positions(attn.q(block.norm1(tokens))))  # (B*G, P, 2) normalized (y, x)
        pos = pos.reshape(len(images), attn.groups, -1, 2)
        # Normalized -> map pixels (align_corners=True) -> image pixels (map pixel centres).
        sy, sx = images.shape[1] / h, images.shape[2] / w
        y = ((pos[..., 0] + 1) / 2 * (h - 1) + 0.5) * sy - 0.5
        x = ((pos[..., 1] + 1) / 2 * (w - 1) + 0.5) * sx - 0.5
        out[block.name] = np.stack([x, y], -1)
    return out


def save_deformable_points(model, images, path, block=None):
    """Saves a PNG of each image with the points a DAT block samples, one colour per group.

    Args:
        model: a DAT model.
        images: raw RGB images ``(batch, H, W, 3)`` in [0, 255], as the model takes them.
        path: output ``.png``; written atomically.
        block: name of the deformable block to draw (default: the last one).
    """
    import os
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    points = deformable_points(model, images)
    name = block or list(points)[-1]
    if name not in points:
        raise ValueError(f"{name!r} is not a deformable block of '{model.name}'; blocks: {', '.join(points)}.")
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(3 * n, 3), squeeze=False)
    for i in range(n):
        ax = axes[0, i]
        ax.imshow(np.clip(images[i], 0, 255).astype("uint8"))
        for g, group in enumerate(points[name][i]):
            ax.scatter(group[:, 0], group[:, 1], s=4, color=plt.cm.tab10(g % 10), alpha=0.8)
        ax.set_xlim(-0.5, images.shape[2] - 0.5)
        ax.set_ylim(images.shape[1] - 0.5, -0.5)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
