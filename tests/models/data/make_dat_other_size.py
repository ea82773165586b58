"""Writes ``dat_other_size.npz``: the official DAT (CVPR 2022) code's logits for the
``../shared/fixtures/dat_tiny_reduced`` checkpoint at 448x448, where every stage map is
twice the size the checkpoint was made for (112/56/28/14).

Not a test. Run it with LeapLabTHU/DAT at tag CVPR2022
(566a593daf96efc3df58a1542e60b847b8b6f4ff) importable as ``models``, e.g.

    PYTHONPATH=/path/to/DAT python tests/models/data/make_dat_other_size.py

The model is built by the official constructor at the new size and takes the fixture's
state dict through the official ``DAT.load_pretrained`` (deformable ``rpe_table`` resized
bicubically; index buffers and shifted-window masks of the new size kept). Inputs follow
the fixtures' recipe, ``np.random.default_rng(12345).standard_normal((2, 3, S, S))``.
"""
import json
import pathlib

import numpy as np
import torch
from safetensors.torch import load_file

FIXTURES = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
NAME, SIZE = "dat_tiny_reduced", 448


def main():
    from models.dat import DAT

    kwargs = dict(json.loads((FIXTURES / f"{NAME}.json").read_text())["constructor_kwargs"], img_size=SIZE)
    model = DAT(**kwargs).eval()
    model.load_pretrained(load_file(str(FIXTURES / f"{NAME}.safetensors")))
    x = np.random.default_rng(12345).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(x))[0].numpy()
    out = pathlib.Path(__file__).with_name("dat_other_size.npz")
    np.savez(out, **{f"{NAME}/{SIZE}/logits": logits})
    print(out, logits.shape)


if __name__ == "__main__":
    main()
