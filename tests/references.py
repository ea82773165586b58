"""Reference implementations (timm, transformers) and checkpoint files made from them.

The references are optional imports: without them the parity tests skip, except in CI,
which sets KERAS_VIT_REQUIRE_REFERENCES=1 so that a missing reference fails loudly. The same
holds for the official-code fixtures in ``tests/fixtures/official`` (``require_fixture``).
"""
import importlib
import importlib.util
import os
import pathlib

import numpy as np
import pytest


# CCT, T2T-ViT and DAT have no installable reference: their official code's outputs are files.
OFFICIAL_FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "official"


def require(module):
    if os.environ.get("KERAS_VIT_REQUIRE_REFERENCES") == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module)


def require_installed(module):
    """Like ``require``, but without importing ``module``: for a backend (``jax``, ``torch``)
    that only a child process runs. Importing jaxlib into a TensorFlow test process puts two
    XLA runtimes in one process for the rest of that pytest worker's life."""
    if importlib.util.find_spec(module) is not None:
        return
    if os.environ.get("KERAS_VIT_REQUIRE_REFERENCES") == "1":
        pytest.fail(f"{module} is not installed (pip install -e '.[dev]' installs it)")
    pytest.skip(f"{module} is not installed")


def require_fixture(path):
    """``path`` if the fixture file exists; otherwise a skip, or a failure under
    KERAS_VIT_REQUIRE_REFERENCES=1, naming the file and how to regenerate it."""
    path = pathlib.Path(path)
    if path.exists():
        return path
    message = (
        f"fixture {path} is missing; regenerate it with the official code: "
        "python tests/fixtures/official/make_fixtures.py --cct CCT_CHECKOUT --t2t T2T_CHECKOUT --dat DAT_CHECKOUT "
        "(commits and steps in that script's docstring)"
    )
    if os.environ.get("KERAS_VIT_REQUIRE_REFERENCES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def randomize_torch_model(model, seed=0):
    """Random weights scaled by fan-in, norm scales around 1, random running statistics.

    No layer is left an identity, and every BatchNorm gets its own mean and variance, so a
    key map that drops or swaps a tensor cannot pass. The head is scaled up so that logits
    span a few units.
    """
    torch = require("torch")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                gain = 10.0 if name.startswith(("head", "classifier", "cls_classifier", "distillation_classifier")) else 1.0
                p.copy_(gain * torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
            elif name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + 1.5 * torch.rand(b.shape, generator=gen))
    return model.eval()


def random_images(batch=2, size=224, seed=0):
    """Raw RGB images in [0, 255], float32 NHWC."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, size=(batch, size, size, 3)).astype(np.float32)


def normalize(images, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
    return ((images / 255.0 - np.array(mean, np.float32)) / np.array(std, np.float32)).astype(np.float32)


def torch_forward(model, images_nhwc, **kwargs):
    torch = require("torch")
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2))), **kwargs)
    return getattr(out, "logits", out).numpy()


def make_google_vit_npz(path, *, depth, dim, heads, mlp_dim, patch, grid, num_classes, big_vision=False, seed=0):
    """Writes a random checkpoint in the layout of Google's ViT ``.npz`` files.

    Key names and shapes follow google-research/vision_transformer (Flax): DenseGeneral
    attention kernels (dim, heads, head_dim), out (heads, head_dim, dim), HWIO patch kernel.
    ``big_vision=True`` numbers submodules per type as big_vision does.
    """
    rng = np.random.default_rng(seed)
    head_dim = dim // heads
    mha, mlp, ln2 = (0, 0, 1) if big_vision else (1, 3, 2)

    def rand(*shape, base=0.0):
        return (base + 0.05 * rng.standard_normal(shape)).astype(np.float32)

    arrays = {
        "embedding/kernel": rand(patch, patch, 3, dim),
        "embedding/bias": rand(dim),
        "cls": rand(1, 1, dim),
        "Transformer/posembed_input/pos_embedding": rand(1, grid * grid + 1, dim),
        "Transformer/encoder_norm/scale": rand(dim, base=1.0),
        "Transformer/encoder_norm/bias": rand(dim),
        "head/kernel": rand(dim, num_classes),
        "head/bias": rand(num_classes),
    }
    for i in range(depth):
        b = f"Transformer/encoderblock_{i}/"
        arrays[b + "LayerNorm_0/scale"] = rand(dim, base=1.0)
        arrays[b + "LayerNorm_0/bias"] = rand(dim)
        arrays[b + f"LayerNorm_{ln2}/scale"] = rand(dim, base=1.0)
        arrays[b + f"LayerNorm_{ln2}/bias"] = rand(dim)
        for name in ("query", "key", "value"):
            arrays[b + f"MultiHeadDotProductAttention_{mha}/{name}/kernel"] = rand(dim, heads, head_dim)
            arrays[b + f"MultiHeadDotProductAttention_{mha}/{name}/bias"] = rand(heads, head_dim)
        arrays[b + f"MultiHeadDotProductAttention_{mha}/out/kernel"] = rand(heads, head_dim, dim)
        arrays[b + f"MultiHeadDotProductAttention_{mha}/out/bias"] = rand(dim)
        arrays[b + f"MlpBlock_{mlp}/Dense_0/kernel"] = rand(dim, mlp_dim)
        arrays[b + f"MlpBlock_{mlp}/Dense_0/bias"] = rand(mlp_dim)
        arrays[b + f"MlpBlock_{mlp}/Dense_1/kernel"] = rand(mlp_dim, dim)
        arrays[b + f"MlpBlock_{mlp}/Dense_1/bias"] = rand(dim)
    if big_vision:
        arrays["pos_embedding"] = arrays.pop("Transformer/posembed_input/pos_embedding")
    np.savez(path, **arrays)
    return path
