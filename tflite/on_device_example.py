"""Classify a photo with a keras_vit ``.tflite`` as an app does: RGB pixels in, labels out.

The exported model normalizes inside (including the BGR flip that ml-cvnets/transformers
weights need), so the only work on the device is preparing the pixels, defined once in
:func:`keras_vit.data.prepare_image` and spelled out in ``docs/guides/on-device.md``: decode to
8-bit RGB, then resize the whole image to the model input (``--crop 1``, the default: what
``keras-vit train`` and ``keras-vit predict --resize`` do), or resize the shorter side to
``size / crop`` and cut the central ``size`` x ``size`` (``--crop 0.875``: the ImageNet
evaluation crop, for pretrained ImageNet models); then feed the pixels as they are (float32
0..255, or uint8 bytes for a full-int8 file with uint8 input).

Every file also carries TFLite metadata (``keras_vit.tflite.metadata``): the class names and
the input normalization. The LiteRT classifier below reads the names from it; ``--mediapipe``
runs the same file through MediaPipe Tasks' ``ImageClassifier`` as well (the client Android,
iOS and web apps call), which needs nothing but the file, and prints both results.

Usage:
    # once, on a computer: write a float32 file (any weights create_model accepts)
    python -m keras_vit.tflite.on_device_example --export mobilevit_xxs.tflite --model mobilevit_xxs --weights cvnets_in1k
    # like on the device:
    python -m keras_vit.tflite.on_device_example mobilevit_xxs.tflite photo.jpg --crop 0.875 --labels imagenet_labels.txt
    python -m keras_vit.tflite.on_device_example outputs/demo/model_int8.tflite digit.png
    python -m keras_vit.tflite.on_device_example outputs/demo/model_float32.tflite digit.png --mediapipe

Only ``numpy``, ``Pillow`` and ``ai-edge-litert`` are needed to classify (no Keras, no
TensorFlow); ``--export`` needs the full package, ``--mediapipe`` needs ``pip install mediapipe``.
"""
import argparse

import numpy as np

from keras_vit.data import prepare_image


def load_rgb(path, size, crop_fraction=1.0):
    """The model input for ``path``: ``(size, size, 3)`` uint8 RGB (keras_vit.data.prepare_image)."""
    return prepare_image(path, (size, size), crop_fraction=crop_fraction)


class Classifier:
    """A ``.tflite`` classifier on raw RGB pixels (float32 or quantized input).

    ``labels``: class names in output order; default: those in the file's metadata.
    """

    def __init__(self, model_path, labels=None, num_threads=2):
        from ai_edge_litert.interpreter import Interpreter

        from keras_vit.tflite.metadata import read_metadata

        self.interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.size = int(self.input["shape"][1])
        self.labels = labels if labels is not None else (read_metadata(model_path) or {}).get("class_names")

    def logits(self, rgb):
        """``rgb``: (size, size, 3) uint8 pixels; returns float logits."""
        x = rgb[None].astype(np.float32)
        scale, zero_point = self.input["quantization"]
        if self.input["dtype"] != np.float32:
            # Full-int8 exports take uint8 with scale 1 and zero point 0: the bytes as they are.
            info = np.iinfo(self.input["dtype"])
            x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
        self.interpreter.set_tensor(self.input["index"], x.astype(self.input["dtype"]))
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])[0].astype(np.float32)
        scale, zero_point = self.output["quantization"]
        return (y - zero_point) * scale if self.output["dtype"] != np.float32 else y

    def top_k(self, rgb, k=5):
        logits = self.logits(rgb)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = np.argsort(-probs)[:k]
        return [(int(i), self.labels[i] if self.labels else str(i), float(probs[i])) for i in best]


def mediapipe_top_k(model_path, rgb, k=5):
    """The same file through MediaPipe Tasks' ``ImageClassifier``: ``[(index, name, score)]``.

    MediaPipe reads the normalization and the class names from the file's metadata; its scores
    are the model's outputs as they are (logits for keras_vit classifiers, not probabilities).
    """
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model_path), max_results=k)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb, dtype=np.uint8))
        categories = classifier.classify(image).classifications[0].categories
    return [(c.index, c.category_name, c.score) for c in categories]


def export(path, model_name="mobilevit_xxs", weights=None, size=256):
    """Writes a verified, builtin-only float32 ``.tflite`` taking (1, size, size, 3) RGB pixels 0..255."""
    import keras_vit
    from keras_vit.tflite import export_model

    model = keras_vit.create_model(model_name, weights=weights, input_shape=(size, size, 3))
    result = export_model(model, path, format="tflite")
    print(result.summary())


def main():
    parser = argparse.ArgumentParser(description="keras_vit TFLite classification example.")
    parser.add_argument("model_path", nargs="?")
    parser.add_argument("image", nargs="?")
    parser.add_argument("--labels", help="text file, one class name per line, in class-index order "
                        "(default: the names in the file's metadata)")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--crop", type=float, default=1.0,
                        help="1: resize the whole image (models trained with keras-vit "
                             "train); 0.875: ImageNet center crop (pretrained models)")
    parser.add_argument("--export", metavar="TFLITE", help="write a float32 .tflite and exit")
    parser.add_argument("--model", default="mobilevit_xxs")
    parser.add_argument("--weights", default=None, help="weights tag or checkpoint path for --export")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--mediapipe", action="store_true",
                        help="also classify with MediaPipe Tasks' ImageClassifier (pip install mediapipe)")
    args = parser.parse_args()
    if args.export:
        export(args.export, args.model, args.weights, args.size)
        print(f"wrote {args.export}")
        return
    if not args.model_path:
        parser.error("give a .tflite file (or --export one)")
    labels = None
    if args.labels:
        with open(args.labels) as f:
            labels = [line.strip() for line in f]
    classifier = Classifier(args.model_path, labels)
    if args.image:
        rgb = load_rgb(args.image, classifier.size, args.crop)
    else:  # no photo at hand: a synthetic one, so that the example always runs
        rgb = np.random.default_rng(0).integers(0, 256, (classifier.size, classifier.size, 3), dtype=np.uint8)
    if args.mediapipe:
        print("LiteRT Interpreter (softmax of the logits):")
    for index, label, prob in classifier.top_k(rgb, args.top):
        print(f"{prob:7.2%}  {index:4d}  {label}")
    if args.mediapipe:
        print("MediaPipe ImageClassifier (the model's scores: logits):")
        for index, label, score in mediapipe_top_k(args.model_path, rgb, args.top):
            print(f"{score:7.3f}  {index:4d}  {label}")


if __name__ == "__main__":
    main()
