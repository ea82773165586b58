"""Attention maps: where a ViT's class token looks, as arrays and as PNG overlays.

Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", 2020):
average the heads of each block, add the identity for the residual path, renormalize, and
multiply the blocks' matrices; the class token's row is its attention to every patch.
"""
import numpy as np

from .layers import ClassToken, TransformerBlock

SUPPORTED = "plain token-sequence transformers (ViT and DeiT, BEiT, CCT, T2T-ViT)"


def _figure(figsize):
    """A matplotlib figure drawn without pyplot: no backend switch, so a notebook's inline
    plots keep working, and nothing stays open after saving."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _save_png(fig, path):
    """Writes ``fig`` to ``path`` atomically; returns ``path``."""
    from .utils.io import atomic_path

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path


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
    if not blocks or not consecutive or len(_call_arguments(blocks[0])[0].shape) != 3:
        raise ValueError(
            f"Model '{model.name}' is not a plain stack of transformer blocks over patch tokens; "
            f"attention maps support {SUPPORTED}."
        )
    return blocks


def _single_input(model):
    # The model's one input as itself, not a one-element list: Keras warns on the mismatch.
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def attention_scores(model, images):
    """Runs ``images`` through ``model`` and returns each block's attention probabilities.

    Returns:
        list of arrays ``(batch, heads, tokens, tokens)``, one per block, in order.
    """
    import keras

    blocks = _blocks(model)
    arguments = [_call_arguments(block) for block in blocks]
    keywords = [k for _, kw in arguments for k in kw.values()]
    stem = keras.Model(_single_input(model), [arguments[0][0]] + keywords)
    x, *values = keras.tree.flatten(stem(np.asarray(images), training=False))
    computed = {id(k): v for k, v in zip(keywords, values)}
    scores = []
    for block, (_, kw) in zip(blocks, arguments):
        x, attn = block(x, training=False, return_attention_scores=True, **{k: computed[id(v)] for k, v in kw.items()})
        scores.append(np.asarray(attn))
    return scores


def _pooling_weights(model, images):
    """``(B, N)`` weights of a sequence-pooling layer (CCT), or ``None`` without one."""
    import keras

    pool = next((layer for layer in model.layers if hasattr(layer, "attention_pool")), None)
    if pool is None:
        return None
    tokens = keras.Model(_single_input(model), pool.input)(np.asarray(images), training=False)
    return np.asarray(pool(tokens, return_weights=True)[1])


def _grid(model, num_tokens):
    """(rows, cols) of ``num_tokens`` patch tokens, with the input image's aspect ratio."""
    height, width = model.inputs[0].shape[1:3]
    rows = int(round(np.sqrt(num_tokens * height / width)))
    if rows < 1 or num_tokens % rows:
        raise ValueError(f"Cannot lay {num_tokens} tokens out as a grid for a {height}x{width} input.")
    return rows, num_tokens // rows


def attention_rollout(model, images, num_prefix_tokens=None):
    """Attention rollout over the patch grid, from the class token, or from the sequence
    pooling weights of a model without one (CCT).

    Returns:
        array ``(batch, grid_h, grid_w)`` in [0, 1] (each map scaled to its max).
    """
    scores = attention_scores(model, images)
    tokens = scores[0].shape[-1]
    if num_prefix_tokens is None:
        cls = next((layer for layer in model.layers if isinstance(layer, ClassToken)), None)
        num_prefix_tokens = cls.num_tokens if cls is not None else 0
    h, w = _grid(model, tokens - num_prefix_tokens)
    rollout = np.eye(tokens)[None]
    for attn in scores:
        a = attn.mean(axis=1) + np.eye(tokens)[None]
        a = a / a.sum(axis=-1, keepdims=True)
        rollout = a @ rollout
    if num_prefix_tokens >= 1:
        maps = rollout[:, 0, num_prefix_tokens:]
    else:
        weights = _pooling_weights(model, images)
        if weights is None:
            raise ValueError("Attention rollout needs a class token or sequence pooling; this model has neither.")
        # The pooled feature is a weighted sum of the last tokens: its attention flow is the
        # same weighted sum of their rollout rows.
        maps = np.einsum("bn,bnm->bm", weights, rollout)
    maps = maps.reshape(-1, h, w)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def attention_received(model, images):
    """How much attention each position of a hybrid model's last attention layer receives.

    For models whose attention runs over a feature map rather than a class-token sequence:
    FastViT's attention stages (:class:`keras_vit.layers.Attention` over the map's positions;
    the probabilities are averaged over heads and queries) and MobileViT v2 (the context scores
    of its last separable-attention block, averaged over the pixel positions of a patch).

    Returns:
        array ``(batch, grid_h, grid_w)`` in [0, 1] (each map scaled to its max).

    Raises:
        ValueError: the model has neither kind of attention.
    """
    import keras

    from .layers import Attention

    images = np.asarray(images)
    layers = [layer for layer in model.layers if isinstance(layer, Attention) and len(layer.input.shape) == 3]
    if layers:
        layer = layers[-1]
        tokens = keras.Model(_single_input(model), layer.input)(images, training=False)
        _, probs = layer(tokens, training=False, return_attention_scores=True)
        received = np.asarray(probs, dtype="float32").mean(axis=(1, 2))  # (B, N keys)
        source = layer.input._keras_history.operation.input  # the map the tokens were reshaped from
        h, w = source.shape[1:3] if len(source.shape) == 4 else _grid(model, received.shape[-1])
        maps = received.reshape(-1, h, w)
    else:
        from .models.mobilevitv2 import context_scores
        from .models.mobilevitv2.layers import LinearTransformerBlock

        if not any(isinstance(layer, LinearTransformerBlock) for layer in model.layers):
            raise ValueError(
                f"Model '{model.name}' has no attention over a feature map (FastViT's attention stages, "
                f"MobileViT v2's separable attention) and is not one of {SUPPORTED}."
            )
        maps = list(context_scores(model, images).values())[-1].mean(axis=1)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def save_attention_maps(model, images, path, titles=None):
    """Saves a PNG of each image beside its attention-rollout overlay.

    Plain token-sequence transformers show the attention rollout (:func:`attention_rollout`);
    FastViT and MobileViT v2 show the attention their last attention layer receives
    (:func:`attention_received`).

    Args:
        model: a keras_vit model with attention probabilities.
        images: raw RGB images ``(batch, H, W, 3)`` in [0, 255], as the model takes them.
        path: output ``.png``; written atomically.
        titles: optional caption per image (e.g. predicted labels).
    """
    images = np.asarray(images)
    try:
        maps, what = attention_rollout(model, images), "attention rollout"
    except ValueError as rollout_error:
        try:
            maps, what = attention_received(model, images), "attention received"
        except ValueError:
            raise rollout_error from None
    n = len(images)
    fig = _figure((5, 2.5 * n))
    axes = fig.subplots(n, 2, squeeze=False)
    for i in range(n):
        shown = np.clip(images[i], 0, 255).astype("uint8")
        if shown.shape[-1] == 1:
            shown = shown[..., 0]
        axes[i, 0].imshow(shown)
        axes[i, 0].set_title(titles[i] if titles else "image", fontsize=8)
        axes[i, 1].imshow(shown)
        axes[i, 1].imshow(maps[i], cmap="jet", alpha=0.5, extent=(-0.5, shown.shape[1] - 0.5, shown.shape[0] - 0.5, -0.5), interpolation="bilinear")
        axes[i, 1].set_title(what, fontsize=8)
        for ax in axes[i]:
            ax.axis("off")
    return _save_png(fig, path)


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
    from matplotlib import colormaps

    images = np.asarray(images)
    points = deformable_points(model, images)
    name = block or list(points)[-1]
    if name not in points:
        raise ValueError(f"{name!r} is not a deformable block of '{model.name}'; blocks: {', '.join(points)}.")
    n = len(images)
    fig = _figure((3 * n, 3))
    axes = fig.subplots(1, n, squeeze=False)
    for i in range(n):
        ax = axes[0, i]
        ax.imshow(np.clip(images[i], 0, 255).astype("uint8"))
        for g, group in enumerate(points[name][i]):
            ax.scatter(group[:, 0], group[:, 1], s=4, color=colormaps["tab10"](g % 10), alpha=0.8)
        ax.set_xlim(-0.5, images.shape[2] - 0.5)
        ax.set_ylim(images.shape[1] - 0.5, -0.5)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    return _save_png(fig, path)
