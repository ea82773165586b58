"""Checking an export against the Keras model it came from.

float32 exports are held to ``max|diff| / logit range``; quantized ones to top-1 agreement
with Keras on the verification images (held-out data, or seeded noise without data).
"""
import dataclasses

import numpy as np

#: Default parity thresholds: float32 uses ``max|diff| / logit range``; the quantized
#: formats use top-1 agreement with the Keras model on the verification images.
FLOAT32_TOLERANCE = 1e-4
MIN_TOP1_AGREEMENT = {"float16": 0.99, "dynamic": 0.9, "int8": 0.8}


@dataclasses.dataclass
class Verification:
    """Result of running the exported file against the Keras model.

    Attributes:
        passed: whether the metric met its threshold.
        metric: ``"max_abs_diff/range"`` (float32) or ``"top1_agreement"``.
        value: the measured value of ``metric``.
        threshold: the bound it was held to.
        max_abs_diff: largest absolute output difference.
        logit_range: ``max - min`` of the Keras outputs.
        top1_agreement: fraction of samples whose argmax matches Keras.
        num_samples: verification images used.
        accuracy / keras_accuracy: accuracy of the export and of Keras when labels exist.
        on_noise: the images were seeded uniform noise (no data was given): a weaker check,
            since real images exercise the model differently.
    """

    passed: bool
    metric: str
    value: float
    threshold: float
    max_abs_diff: float
    logit_range: float
    top1_agreement: float
    num_samples: int
    accuracy: float = None
    keras_accuracy: float = None
    on_noise: bool = False

    def summary(self):
        cmp = "<=" if self.metric.startswith("max_abs") else ">="
        text = (
            f"{'PASSED' if self.passed else 'FAILED'}: {self.metric} = {self.value:.3g} "
            f"({cmp} {self.threshold:g} required) on {self.num_samples} "
            f"{'noise images (no --data given)' if self.on_noise else 'samples'}; "
            f"max|diff| {self.max_abs_diff:.3g}, top-1 agreement {self.top1_agreement:.3f}"
        )
        if self.accuracy is not None:
            text += f"; accuracy {self.accuracy:.4f} (Keras {self.keras_accuracy:.4f})"
        return text


def verification_images(model_image_shape, sample_images, representative_data, num_samples, seed=0):
    """The images an export is checked on: given ones, held-out data, or seeded noise."""
    if sample_images is not None:  # given explicitly: use them all (labels match them)
        return sample_images
    if representative_data is not None:
        # Samples the calibration did not see when there are enough of them.
        data = representative_data
        return data[-num_samples:] if len(data) > num_samples else data
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (num_samples,) + tuple(model_image_shape)).astype(np.float32)


def compare(reference, candidate, quantize, labels, tolerance, min_agreement):
    """A :class:`Verification` of ``candidate`` outputs against the Keras ``reference``."""
    reference = reference.reshape(len(reference), -1).astype(np.float64)
    candidate = candidate.reshape(len(candidate), -1).astype(np.float64)
    max_abs = float(np.abs(reference - candidate).max())
    logit_range = float(reference.max() - reference.min()) or 1.0
    agreement = float((reference.argmax(-1) == candidate.argmax(-1)).mean())
    if quantize == "none":
        metric, value, threshold = "max_abs_diff/range", max_abs / logit_range, tolerance
        passed = value <= threshold
    else:
        metric, value = "top1_agreement", agreement
        threshold = min_agreement if min_agreement is not None else MIN_TOP1_AGREEMENT[quantize]
        passed = value >= threshold
    result = Verification(passed, metric, value, threshold, max_abs, logit_range, agreement, len(reference))
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)[: len(reference)]
        result.accuracy = float((candidate.argmax(-1) == labels).mean())
        result.keras_accuracy = float((reference.argmax(-1) == labels).mean())
    return result


def keras_predict(model, images, batch_size=32):
    """The model's first output on ``images`` as one array, in batches."""
    outs = []
    for start in range(0, len(images), batch_size):
        out = model(images[start : start + batch_size], training=False)
        if isinstance(out, (list, tuple)):
            out = out[0]
        outs.append(np.asarray(out))
    return np.concatenate(outs)


def saved_model_runner(path, batch_size):
    """A function running the SavedModel's ``serving_default`` on any number of images."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    fn = loaded.signatures["serving_default"]

    def run(images):
        outs = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            n = len(chunk)
            if n < batch_size:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
            outs.append(fn(images=tf.constant(chunk))["predictions"].numpy()[:n])
        return np.concatenate(outs)

    return run
