"""``torch_conv``: PyTorch's padding, and strided 1 x 1 convolutions that train without
corrupting the heap."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_vit.layers.conv import Subsample2D, torch_conv


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("depthwise", [False, True])
def test_strided_pointwise_equals_strided_conv(size, depthwise):
    inputs = keras.Input((size, size, 4))
    out = torch_conv(inputs, 4 if depthwise else 6, 1, stride=2, depthwise=depthwise, use_bias=True, name="conv",
                     pad_name="pad")
    model = keras.Model(inputs, out)
    assert isinstance(model.get_layer("conv_subsample"), Subsample2D)
    conv = model.get_layer("conv")
    rng = np.random.default_rng(0)
    conv.set_weights([rng.normal(size=w.shape).astype("float32") for w in conv.get_weights()])
    x = rng.normal(size=(2, size, size, 4)).astype("float32")
    kind = keras.layers.DepthwiseConv2D(1, strides=2) if depthwise else keras.layers.Conv2D(6, 1, strides=2)
    kind.build(x.shape)
    kind.set_weights(conv.get_weights())
    expected = keras.ops.convert_to_numpy(kind(x))
    actual = model.predict(x, verbose=0)
    assert actual.shape == expected.shape == (2, (size + 1) // 2, (size + 1) // 2, kind.compute_output_shape(x.shape)[-1])
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    assert Subsample2D.from_config(model.get_layer("conv_subsample").get_config()).stride == 2


TRAIN = """
import keras, numpy as np
from keras_vit.layers.conv import Subsample2D, torch_conv
inputs = keras.Input((64, 64, 3))
x = torch_conv(inputs, 8, 1, stride=2, name="a", pad_name="a_pad")
x = torch_conv(x, 8, 1, stride=2, depthwise=True, name="b", pad_name="b_pad")
model = keras.Model(inputs, x)
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
images = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
for _ in range(5):
    model.fit(images, np.zeros((2, 16, 16, 8), "float32"), batch_size=2, verbose=0)
print("trained")
"""


@pytest.mark.slow
def test_strided_pointwise_trains_with_heap_checks(tmp_path):
    """TensorFlow 2.21's oneDNN gradient of a strided 1 x 1 ``Conv2D`` wrote outside its buffers:
    with glibc's heap checks this script aborted on every run before ``torch_conv`` subsampled
    first (``corrupted size vs. prev_size``, or a segmentation fault)."""
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.check=3", MALLOC_PERTURB_="165", TF_CPP_MIN_LOG_LEVEL="3")
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0 and "trained" in result.stdout, (result.returncode, result.stderr[-3000:])
