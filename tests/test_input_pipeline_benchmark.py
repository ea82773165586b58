"""benchmarks/input_pipeline.py: its folder, its pipelines (ours in-process, timm's in a child) and its timing."""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.references import require_installed

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "input_pipeline.py"


def _script():
    spec = importlib.util.spec_from_file_location("input_pipeline_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_folder_of_jpegs_with_varied_sizes(tmp_path):
    from PIL import Image

    bench = _script()
    root = bench.make_image_folder(str(tmp_path), num_classes=2, num_images=10, min_side=40, max_side=64)
    files = sorted(tmp_path.rglob("*.jpg"))
    assert len(files) == 10 and sorted(os.listdir(root)) == ["class_0000", "class_0001"]
    sizes = {Image.open(f).size for f in files}
    assert len(sizes) > 1 and all(40 <= s <= 64 for size in sizes for s in size)
    assert Image.open(files[0]).format == "JPEG"


@pytest.mark.slow
def test_our_pipelines_yield_batches_at_every_stage(tmp_path):
    bench = _script()
    root = bench.make_image_folder(str(tmp_path), num_classes=2, num_images=10, min_side=40, max_side=64)
    recipe = bench.our_recipe("deit_imagenet", image_size=32)
    variants = ("private threadpool", "whole-image resize")  # deterministic=False differs from the first in one line
    made = bench.our_pipelines(root, recipe, 4, variants=variants)
    assert list(made) == list(bench.STAGES) + list(variants)
    assert next(made.pop("decode")).shape == (4, 8, 8, 3)
    for label, it in made.items():
        x, y = next(it)
        assert x.shape == (4, 32, 32, 3) and y.shape == (4, 2), label
        np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, atol=1e-5)
    rounds, loads = bench.time_rounds({"a": iter(range(10**6)), "b": iter(range(10**6))}, batch_size=4,
                                      rounds=2, block_seconds=0.01, settle=1, gap=0.0, warmup=2, min_settle=1,
                                      log=lambda _: None)
    assert set(rounds) == {"a", "b"} and all(len(v) == 2 and min(v) > 0 for v in rounds.values())
    assert len(loads) == 2 and bench.ratio([2.0, 9.0], [1.0, 3.0]) == 2.5
    bench.wait_idle(0.5)


@pytest.mark.slow
def test_timm_pipelines_yield_batches_at_every_stage(tmp_path):
    require_installed("timm")
    bench = _script()
    root = bench.make_image_folder(str(tmp_path), num_classes=2, num_images=10, min_side=40, max_side=64)
    # torch in a child: this is a TensorFlow test process.
    code = f"""
import importlib.util, json, types
spec = importlib.util.spec_from_file_location("b", {str(SCRIPT)!r}); b = importlib.util.module_from_spec(spec)
spec.loader.exec_module(b)
recipe = types.SimpleNamespace(image_size=32, randaugment_ops=2, randaugment_magnitude=0.9, random_erasing=0.25,
                               hflip=True, mixup_alpha=0.8, cutmix_alpha=1.0, mix_prob=1.0, mix_switch_prob=0.5,
                               label_smoothing=0.1)
made = b.timm_pipelines({root!r}, recipe, 4, workers=0)
print(json.dumps({{k: [list(t.shape) for t in next(it)] for k, it in made.items()}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=str(ROOT))
    assert result.returncode == 0, result.stderr[-3000:]
    shapes = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(shapes) == list(bench.STAGES)
    assert shapes["decode"][0] == [4, 8, 8, 3]
    assert shapes["crop/resize"] == [[4, 3, 32, 32], [4]]
    # timm's Mixup turns labels into smoothed one-hot rows over 1000 classes.
    assert shapes["erasing + MixUp/CutMix"] == [[4, 3, 32, 32], [4, 1000]]
