"""The files keras-vit writes, in the client phone apps use: MediaPipe Tasks' ImageClassifier.

MediaPipe loads a classifier only with the metadata keras_vit.tflite.metadata writes (float input
needs NormalizationOptions; names come from the TENSOR_AXIS_LABELS file). Its top-1 must be LiteRT's,
under the class name the data gave. TensorFlow Lite's analyzer must find every family's float32
and float16 file compatible with the GPU delegate.
"""
import numpy as np
import pytest

import keras
import keras_vit
from keras_vit.tflite import export_model
from keras_vit.tflite import metadata as md

mp = pytest.importorskip("mediapipe")

# One xdist worker runs this file: each family's files are exported once for all its tests.
pytestmark = pytest.mark.xdist_group("mediapipe")


def mediapipe_top1(path, images):
    """``[(index, name)]`` of MediaPipe's top category for each uint8 RGB image."""
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=path), max_results=1)
    out = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in images:
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image, dtype=np.uint8))
            top = classifier.classify(frame).classifications[0].categories[0]
            out.append((top.index, top.category_name))
    return out


def litert_top1(path, images):
    from keras_vit.tflite import TFLiteRunner

    return list(np.argmax(TFLiteRunner(path)(images.astype(np.float32)), -1))


def _digits(size):
    """scikit-learn's digits as uint8 RGB ``(N, size, size, 3)``, labels, and a held-out split."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images * (255.0 / 16.0)).astype(np.uint8)
    images = np.repeat(np.repeat(images, size // 8, axis=1), size // 8, axis=2)
    return np.repeat(images[..., None], 3, axis=-1), np.asarray(data.target)


def _digit_classifier():
    """A small Keras classifier on raw 8x8 RGB pixels that trains on digits in a second or two (a
    ViT needs minutes to learn them; here the subject is the file, which export_model writes the
    same way for any classifier)."""
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="images")
    x = layers.Flatten()(layers.Rescaling(1 / 255.0)(inputs))
    outputs = layers.Dense(10)(layers.Dense(64, activation="relu")(x))
    return keras.Model(inputs, outputs, name="digits_mlp")


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """A digits classifier trained on 1200 digits, exported float32 and full int8 with uint8
    input (the integer input MediaPipe takes), with the digits' class names; the 597 held-out
    digits."""
    images, labels = _digits(8)
    train, test = slice(0, 1200), slice(1200, None)
    model = _digit_classifier()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images[train].astype(np.float32), labels[train], epochs=20, batch_size=64, verbose=0)
    folder = tmp_path_factory.mktemp("digits")
    saved = str(folder / "saved_model")
    export_model(model, saved, format="saved_model", verify=False)
    names = md.class_names_for(10, data="digits")[0]
    paths = {}
    for name, kwargs in (("float32", {}), ("int8", {"quantize": "int8", "input_dtype": "uint8"})):
        paths[name] = str(folder / f"{name}.tflite")
        export_model(model, paths[name], representative_data=images[train][:100].astype(np.float32), verify=False,
                     saved_model_dir=saved, class_names=names, **kwargs)
    return paths, images[test], labels[test]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_mediapipe_names_the_digits(digits_files, variant):
    paths, images, labels = digits_files
    got = mediapipe_top1(paths[variant], images)
    expected = litert_top1(paths[variant], images)
    # MediaPipe's top-1 is LiteRT's on every held-out digit, under the name "0".."9".
    assert [name for _, name in got] == [str(i) for i in expected]
    accuracy = np.mean(np.array([int(name) for _, name in got]) == labels)
    assert accuracy >= 0.9, f"{variant}: {accuracy:.3f} on {len(labels)} held-out digits"


def _one_per_family():
    first = {}
    for name in sorted(keras_vit.list_models()):
        first.setdefault(keras_vit.get_model_spec(name).family, name)
    return sorted(first.values())


@pytest.fixture(scope="module", params=_one_per_family())
def family_files(request, tmp_path_factory):
    """A family's tiny model as float32 and dynamic int8 files, converted from one SavedModel,
    with the metadata export_model adds (``metadata.for_export``); the conversions are
    :func:`export_model`'s without its XNNPACK report, to keep this registry-wide test short.
    (float16 differs from float32 by DEQUANTIZE ops on the weights only: one family's float16
    file is checked in ``test_float16_is_gpu_compatible``.)"""
    from keras_vit.tflite.convert import convert_tflite

    name = request.param
    spec = keras_vit.get_model_spec(name)
    keras.utils.set_random_seed(0)
    model = keras_vit.create_model(name, **spec.tiny)
    folder = tmp_path_factory.mktemp(name)
    saved = str(folder / "saved_model")
    export_model(model, saved, format="saved_model", verify=False)
    shape = tuple(spec.tiny["input_shape"])
    names = [f"{name} class {i}" for i in range(int(model.outputs[0].shape[-1]))]
    paths = {}
    for quantize in ("none", "dynamic"):
        content, _ = convert_tflite(saved, shape, 1, quantize)
        paths[quantize] = folder / f"{quantize}.tflite"
        paths[quantize].write_bytes(md.for_export(content, model, names))
    images = np.random.default_rng(0).integers(0, 256, (2, *shape), dtype=np.uint8)
    return name, {q: str(p) for q, p in paths.items()}, names, images


@pytest.mark.slow
def test_every_family_loads_in_mediapipe(family_files):
    name, paths, names, images = family_files
    for quantize in ("none", "dynamic"):
        path = paths[quantize]
        assert md.read_metadata(path)["class_names"] == names
        got = mediapipe_top1(path, images)
        assert [index for index, _ in got] == litert_top1(path, images), (name, quantize)
        assert [label for _, label in got] == [names[i] for i, _ in got], (name, quantize)


@pytest.mark.slow
def test_every_family_is_gpu_compatible(family_files):
    name, paths, _, _ = family_files
    compatible, warnings = md.gpu_compatibility(paths["none"])
    assert compatible and not warnings, (name, warnings)


@pytest.mark.slow
def test_float16_is_gpu_compatible(tmp_path):
    """float16 weights (the usual GPU-delegate file) of the model phones get first."""
    name = "mobilevit_xxs"
    spec = keras_vit.get_model_spec(name)
    keras.utils.set_random_seed(0)
    model = keras_vit.create_model(name, **spec.tiny)
    path = str(tmp_path / "float16.tflite")
    export_model(model, path, quantize="float16", num_verify=1)
    compatible, warnings = md.gpu_compatibility(path)
    assert compatible and not warnings, warnings
