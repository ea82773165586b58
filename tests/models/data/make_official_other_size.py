"""Writes ``official_other_size.npz``: the official CCT and T2T-ViT code's outputs for the
``../shared/fixtures`` checkpoints at an input size other than the one they were made for.

Not a test. Run it with the official sources importable (SHI-Labs/Compact-Transformers at
cd11f0912749d376f7465cb83534e768b6701d7d as ``src``, yitu-opensource/T2T-ViT at
0f63dc9558f4d192de926504dbddfa1b3f5db6ca as ``models`` and ``utils``), e.g.

    PYTHONPATH=/path/to/official python tests/models/data/make_official_other_size.py

Each model is built by the official constructor at the new size and loads the fixture's
state dict the way the official code does for a new resolution: CCT through ``pe_check``
(bilinear), T2T through ``utils.resize_pos_embed`` (bicubic, class token kept). Inputs follow
the fixtures' recipe, ``np.random.default_rng(12345).standard_normal((2, 3, S, S))``.
"""
import json
import math
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

FIXTURES = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
SIZES = {"cct_7_3x1_32": 48, "cct_14_7x2_224_reduced": 160, "t2t_vit_7": 160, "t2t_vit_14_reduced": 160, "t2t_vit_t_14_reduced": 160}


def _inputs(size):
    return np.random.default_rng(12345).standard_normal((2, 3, size, size)).astype(np.float32)


def _kwargs(meta):
    return {k: v for k, v in meta["constructor_kwargs"].items() if not k.startswith("_")}


def cct(name, size):
    import src.cct as official
    from src.utils.helpers import pe_check

    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    kwargs = dict(_kwargs(meta), img_size=size)
    model = official._cct(**kwargs) if "arch" in kwargs else getattr(official, name)(**kwargs)
    state = pe_check(model, load_file(str(FIXTURES / f"{name}.safetensors")))
    model.load_state_dict(state)
    return {"": model.eval()}


def t2t(name, size):
    import utils
    from models import t2t_vit

    utils.math, utils.F = math, F  # utils.py uses both without importing them
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    kwargs = dict(_kwargs(meta), img_size=size)
    embed_dim = meta["constructor_kwargs"].get("embed_dim") or meta["constructor_kwargs"]["_resolved_T2T_ViT_kwargs"]["embed_dim"]
    models = {}
    for suffix, scale in (("", None), ("_qk_scale_pretrained", embed_dim**-0.5)):
        build = t2t_vit.T2T_ViT if "embed_dim" in kwargs else getattr(t2t_vit, name)
        model = build(**dict(kwargs, qk_scale=scale))
        state = load_file(str(FIXTURES / f"{name}.safetensors"))
        state["pos_embed"] = utils.resize_pos_embed(state["pos_embed"], model.pos_embed)
        model.load_state_dict(state)
        models[suffix] = model.eval()
    return models


def main():
    out = {}
    for name, size in SIZES.items():
        x = torch.from_numpy(_inputs(size))
        for suffix, model in (cct if name.startswith("cct") else t2t)(name, size).items():
            with torch.no_grad():
                out[f"{name}/{size}/logits{suffix}"] = model(x).numpy()
        print(name, size, file=sys.stderr)
    np.savez(pathlib.Path(__file__).with_name("official_other_size.npz"), **out)


if __name__ == "__main__":
    main()
