"""DeiT knowledge distillation (Touvron et al., 2021, "Training data-efficient image
transformers & distillation through attention").

:class:`Distiller` wraps a student and a frozen teacher into one ``keras.Model`` whose
``compute_loss`` adds the teacher term, so training stays ``model.fit`` and runs under every
``tf.distribute`` strategy (create it inside ``strategy.scope()``).

* Single-output student (logits): soft distillation, ``(1 - a) CE(s, y) + a T^2 KL(t/T || s/T)``,
  or hard distillation, ``0.5 CE(s, y) + 0.5 CE(s, argmax t)``.
* Two-output student ``[cls_logits, dist_logits]`` (distillation token): the class head learns
  the labels and the distillation head the teacher; with ``"hard"`` this is the DeiT loss
  ``0.5 CE(cls, y) + 0.5 CE(dist, argmax t)``. Predictions average the two heads' logits.
"""
import keras
from keras import ops


def _cross_entropy(targets, logits, label_smoothing=0.0):
    return ops.mean(keras.losses.categorical_crossentropy(
        targets, logits, from_logits=True, label_smoothing=label_smoothing))


def _soft_term(student_logits, teacher_logits, temperature):
    t = float(temperature)
    teacher_p = ops.softmax(teacher_logits / t, axis=-1)
    log_student = ops.log_softmax(student_logits / t, axis=-1)
    log_teacher = ops.log_softmax(teacher_logits / t, axis=-1)
    kl = ops.sum(teacher_p * (log_teacher - log_student), axis=-1)
    # T^2 keeps the gradient scale independent of the temperature (Hinton et al., 2015).
    return ops.mean(kl) * (t * t)


def distillation_loss(labels, student_outputs, teacher_logits, *, mode="hard", alpha=0.5,
                      temperature=1.0, label_smoothing=0.0):
    """Batch-mean DeiT distillation loss.

    Args:
        labels: one-hot (or mixed, soft) labels, shape ``(batch, classes)``.
        student_outputs: student logits, or a pair ``[cls_logits, dist_logits]``.
        teacher_logits: teacher logits for the same images.
        mode: ``"soft"`` (KL on tempered softmaxes) or ``"hard"`` (teacher's argmax as label).
        alpha: weight of the teacher term for single-output soft distillation; hard
            distillation and two-output students use 0.5 as in DeiT.
        temperature: softmax temperature of soft distillation.
        label_smoothing: smoothing of the ground-truth term.

    Returns:
        A scalar tensor.
    """
    teacher_logits = ops.stop_gradient(ops.cast(teacher_logits, "float32"))
    if isinstance(student_outputs, (list, tuple)):
        if len(student_outputs) != 2:
            raise ValueError("A distilled student returns [cls_logits, dist_logits]; got "
                             f"{len(student_outputs)} outputs")
        cls_logits, dist_logits = (ops.cast(o, "float32") for o in student_outputs)
        weight = 0.5
    else:
        cls_logits = dist_logits = ops.cast(student_outputs, "float32")
        weight = float(alpha) if mode == "soft" else 0.5
    base = _cross_entropy(labels, cls_logits, label_smoothing)
    if mode == "soft":
        teacher_term = _soft_term(dist_logits, teacher_logits, temperature)
    elif mode == "hard":
        num_classes = ops.shape(teacher_logits)[-1]
        hard = ops.one_hot(ops.argmax(teacher_logits, axis=-1), num_classes)
        teacher_term = _cross_entropy(hard, dist_logits)
    else:
        raise ValueError(f"mode must be 'soft' or 'hard', got {mode!r}")
    return (1.0 - weight) * base + weight * teacher_term


def merge_student_outputs(outputs):
    """One logits tensor from a student's outputs (the mean of the two DeiT heads)."""
    if isinstance(outputs, (list, tuple)):
        return (outputs[0] + outputs[1]) / 2
    return outputs


def load_teacher(teacher):
    """A frozen, logits-producing teacher from a ``keras.Model`` or a ``.keras`` file path."""
    if isinstance(teacher, str):
        import os

        if not os.path.isfile(teacher):
            raise FileNotFoundError(f"Teacher model file {teacher!r} does not exist")
        from keras_vit.weights.readers import check_keras_config

        check_keras_config(teacher)  # a config naming code (os.system, ...) is refused before Keras reads it
        teacher = keras.saving.load_model(teacher, compile=False, safe_mode=True)
    if not isinstance(teacher, keras.Model):
        raise TypeError(f"teacher must be a keras.Model or a .keras path, got {type(teacher)}")
    teacher.trainable = False
    return teacher


@keras.saving.register_keras_serializable(package="keras_vit.training")
class Distiller(keras.Model):
    """A student trained against a frozen teacher with :func:`distillation_loss`.

    Compile it with an optimizer and metrics but no loss; save ``distiller.student``.

    Args:
        student: the model being trained (one or two outputs, logits).
        teacher: frozen ``keras.Model`` taking the same images (resized if its input size
            differs). A softmax output is turned back into logits.
        mode, alpha, temperature, label_smoothing: see :func:`distillation_loss`.

    Example:
        >>> with strategy.scope():
        ...     distiller = Distiller(student, load_teacher("teacher.keras"), mode="hard")
        ...     distiller.compile(optimizer="adamw", metrics=["categorical_accuracy"])
        >>> distiller.fit(train_ds, epochs=10)
    """

    def __init__(self, student, teacher, *, mode="hard", alpha=0.5, temperature=1.0,
                 label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("soft", "hard"):
            raise ValueError(f"mode must be 'soft' or 'hard', got {mode!r}")
        self.student = student
        self.teacher = load_teacher(teacher)
        self.mode = mode
        self.alpha = alpha
        self.temperature = temperature
        self.label_smoothing = label_smoothing
        last = self.teacher.layers[-1] if self.teacher.layers else None
        self._teacher_gives_probs = getattr(last, "activation", None) is keras.activations.softmax

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def teacher_logits(self, images):
        """The teacher's logits for ``images`` (resized to the teacher's input if needed)."""
        size = tuple(self.teacher.input_shape[1:3])
        if None not in size and tuple(images.shape[1:3]) != size:
            images = ops.image.resize(images, size)
        out = self.teacher(images, training=False)
        out = merge_student_outputs(out)
        if self._teacher_gives_probs:
            out = ops.log(ops.clip(ops.cast(out, "float32"), 1e-7, 1.0))
        return out

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = distillation_loss(y, y_pred, self.teacher_logits(x), mode=self.mode,
                                 alpha=self.alpha, temperature=self.temperature,
                                 label_smoothing=self.label_smoothing)
        # Per-replica losses are summed by the strategy's gradient all-reduce, so each
        # replica contributes loss / replicas (what keras.losses.Loss does for compiled losses).
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / replicas
        for extra in self.losses:
            loss = loss + self._aggregate_additional_loss(extra)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, merge_student_outputs(y_pred), sample_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "mode": self.mode, "alpha": self.alpha, "temperature": self.temperature,
            "label_smoothing": self.label_smoothing,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
