"""Bilinear sampling (keras_vit.layers.sampling) against a NumPy grid_sample and PyTorch's,
and its TFLite conversion (builtin ops, all on XNNPACK)."""
import numpy as np
import pytest

from keras_vit.layers.sampling import grid_sample
from tests.references import require


def numpy_grid_sample(fmap, grid, align_corners=True):
    """PyTorch's bilinear ``grid_sample`` with zero padding, written out per point: the four
    corner pixels, each weighted by the opposite area, skipped when outside the map."""
    n, h, w, c = fmap.shape
    out = np.zeros((n, grid.shape[1], c), np.float64)
    for b in range(n):
        for p, (gx, gy) in enumerate(grid[b].astype(np.float64)):
            if align_corners:
                x, y = (gx + 1) / 2 * (w - 1), (gy + 1) / 2 * (h - 1)
            else:
                x, y = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                if 0 <= yy < h and 0 <= xx < w:
                    out[b, p] += (1 - abs(x - xx)) * (1 - abs(y - yy)) * fmap[b, yy, xx]
    return out


def _case(seed=0, n=2, h=5, w=7, c=3, points=40):
    rng = np.random.default_rng(seed)
    fmap = rng.normal(size=(n, h, w, c)).astype("float32")
    # Beyond [-1, 1] on purpose (zero padding), plus exact pixel centres and corners.
    grid = rng.uniform(-1.4, 1.4, size=(n, points, 2)).astype("float32")
    grid[:, :4] = [[-1, -1], [1, 1], [-1, 1], [0, 0]]
    return fmap, grid


@pytest.mark.parametrize("align_corners", [True, False])
def test_matches_numpy(align_corners):
    fmap, grid = _case()
    ours = np.asarray(grid_sample(fmap, grid, align_corners=align_corners))
    np.testing.assert_allclose(ours, numpy_grid_sample(fmap, grid, align_corners), atol=1e-5)


def test_outside_reads_zero_and_corners_read_pixels():
    fmap, _ = _case()
    grid = np.array([[[-1, -1], [1, 1], [3, 0], [0, -3]]] * 2, "float32")
    ours = np.asarray(grid_sample(fmap, grid))
    np.testing.assert_allclose(ours[:, 0], fmap[:, 0, 0], atol=1e-6)
    np.testing.assert_allclose(ours[:, 1], fmap[:, -1, -1], atol=1e-6)
    assert np.all(ours[:, 2:] == 0)


@pytest.mark.parametrize("align_corners", [True, False])
def test_matches_torch(align_corners):
    torch = require("torch")
    fmap, grid = _case(seed=1, h=6, w=4)
    ref = torch.nn.functional.grid_sample(
        torch.from_numpy(fmap.transpose(0, 3, 1, 2)), torch.from_numpy(grid[:, None]),
        mode="bilinear", padding_mode="zeros", align_corners=align_corners,
    )[:, :, 0].numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(np.asarray(grid_sample(fmap, grid, align_corners=align_corners)), ref, atol=1e-5)


@pytest.mark.slow
def test_tflite_builtin_and_delegated():
    import keras

    from tests.model_checks import check_tflite

    fmap_in = keras.Input((6, 8, 3), name="images")
    # Data-dependent points, as DAT makes them: from the map itself.
    points = keras.layers.Dense(2 * 10, activation="tanh")(keras.layers.Flatten()(fmap_in))
    points = keras.layers.Reshape((10, 2))(keras.layers.Rescaling(1.2)(points))
    out = keras.layers.Lambda(lambda t: grid_sample(t[0], t[1]))([fmap_in, points])
    model = keras.Model(fmap_in, keras.layers.Flatten()(out))
    images = np.random.default_rng(0).normal(size=(2, 6, 8, 3)).astype("float32")
    report = check_tflite(model, images)
    assert report.fully_delegated, f"ops outside XNNPACK: {report.outside}"
