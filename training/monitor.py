"""Callbacks that watch a run: validation of the weights that will be kept, and progress.

:class:`BestOnValidation` evaluates the validation split at the end of every epoch with the
weights training will keep (the EMA weights when the recipe uses EMA, which Keras' own
``validation_data`` does not: it evaluates the raw weights), writes ``val_accuracy`` and
``val_loss`` into the epoch logs, and keeps the best epoch's weights on disk. The test split
is never looked at.

:class:`Progress` prints from the first step on: steps/s and the time left, then one line
per epoch.
"""
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf


def _ema_optimizer(optimizer):
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    return optimizer if getattr(optimizer, "use_ema", False) else None


def _atomic_json(path, value):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def logits_function(model, output_fn=None):
    """``model``'s logits at inference as a ``tf.function`` traced once for every batch size
    (the last batch of a split is smaller, and a trace costs seconds); on JAX and PyTorch a
    function returning NumPy logits."""
    output_fn = output_fn or (lambda y: y)
    if keras.backend.backend() != "tensorflow":
        return _backend_logits_function(model, output_fn)
    return tf.function(lambda x: output_fn(model(x, training=False)),
                       input_signature=[tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)])


def _backend_logits_function(model, output_fn):
    """JAX and PyTorch: the logits as a float32 NumPy array; on JAX one ``jax.jit`` of
    ``stateless_call`` reading the variables' current values (traced once per batch size)."""
    if keras.backend.backend() == "jax":
        import jax

        @jax.jit
        def forward(trainable, non_trainable, x):
            outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return output_fn(outputs)

        def run(x):
            return forward([v.value for v in model.trainable_variables],
                           [v.value for v in model.non_trainable_variables], np.asarray(x))
    else:
        import torch

        def run(x):
            with torch.no_grad():
                return output_fn(model(np.asarray(x), training=False))

    return lambda x: np.asarray(keras.ops.convert_to_numpy(run(x)), "float32")


def evaluate_logits(forward, dataset):
    """Score ``forward``'s logits on a batched ``(images, one-hot labels)`` dataset, locally.

    Returns ``(accuracy, mean cross-entropy without label smoothing, predicted ids, true ids)``.
    """
    loss, preds, labels = 0.0, [], []
    for x, y in dataset:
        logits = forward(x)
        if isinstance(logits, np.ndarray):  # JAX, PyTorch: the same cross-entropy in NumPy
            y = y.numpy()
            shifted = logits - logits.max(axis=-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            loss += float(-(y * log_probs).sum())
            preds.append(np.argmax(logits, axis=-1))
            labels.append(np.argmax(y, axis=-1))
            continue
        logits = tf.cast(logits, tf.float32)
        loss += float(tf.reduce_sum(keras.losses.categorical_crossentropy(y, logits, from_logits=True)))
        preds.append(np.argmax(logits.numpy(), axis=-1))
        labels.append(np.argmax(y.numpy(), axis=-1))
    preds, labels = np.concatenate(preds), np.concatenate(labels)
    total = max(len(labels), 1)
    return float(np.sum(preds == labels)) / total, loss / total, preds, labels


class BestOnValidation(keras.callbacks.Callback):
    """Validate the kept weights each epoch and remember the best epoch, resumably.

    Args:
        model: the model whose outputs are scored (the student, not a distillation wrapper).
        dataset: batched validation ``(images, one-hot labels)``, or ``None`` when the run
            has no validation split (``val_fraction=0``): then it only records each epoch
            (``last``) and its training time, and there is no best epoch.
        directory: where ``best.weights.h5`` and ``best.json`` live (the backup folder, so
            an interrupted run resumes with its best epoch known).
        output_fn: maps the model's outputs to logits (e.g. averaging DeiT heads).
        save_best: write the best epoch's weights (``False`` when the last epoch is kept
            anyway: the record is still kept, the file is not).

    Better means higher validation accuracy, then lower validation loss; ties go to the
    later epoch (its EMA has averaged more steps).
    """

    def __init__(self, model, dataset, directory, output_fn=None, save_best=True):
        super().__init__()
        self.student = model
        self.dataset = dataset
        self.directory = directory
        self.weights_path = os.path.join(directory, "best.weights.h5")
        self.state_path = os.path.join(directory, "best.json")
        self.save_best = save_best
        self._forward = None if dataset is None else logits_function(model, output_fn)
        self.best = None
        self.last = None  # this run's latest evaluation (keep="last")
        if os.path.exists(self.state_path) and os.path.exists(self.weights_path):
            with open(self.state_path, encoding="utf-8") as f:
                self.best = json.load(f)

    def _evaluate(self):
        accuracy, loss, _, _ = evaluate_logits(self._forward, self.dataset)
        return accuracy, loss

    def _swap_ema(self):
        """Exchange the trainable variables with their EMA (no-op without EMA)."""
        optimizer = _ema_optimizer(self.model.optimizer)
        if optimizer is None:
            return
        for var, average in zip(optimizer._trainable_variables,
                                optimizer._model_variables_moving_average):
            raw = var.numpy()
            var.assign(average)
            average.assign(raw)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if hasattr(self, "_epoch_started"):  # training time of the epoch, before validation
            logs["epoch_seconds"] = time.time() - self._epoch_started
        if self.dataset is None:
            self.last = {"epoch": epoch + 1, "val_accuracy": None, "val_loss": None}
            return
        self._swap_ema()
        try:
            accuracy, loss = self._evaluate()
            candidate = {"epoch": epoch + 1, "val_accuracy": accuracy, "val_loss": loss}
            self.last = candidate
            if self.best is None or (accuracy, -loss) >= (self.best["val_accuracy"],
                                                          -self.best["val_loss"]):
                os.makedirs(self.directory, exist_ok=True)
                if self.save_best:
                    tmp = os.path.join(self.directory, f"best.tmp{os.getpid()}.weights.h5")
                    self.student.save_weights(tmp)
                    os.replace(tmp, self.weights_path)
                    _atomic_json(self.state_path, candidate)
                self.best = candidate
        finally:
            self._swap_ema()
        logs.update(val_accuracy=accuracy, val_loss=loss,
                    best_epoch=self.best["epoch"], best_val_accuracy=self.best["val_accuracy"])

    def restore_best(self):
        """Load the best epoch's weights into the model; returns its record (or ``None``)."""
        if self.best is None:
            return None
        self.student.load_weights(self.weights_path)
        return self.best


def _clock(seconds):
    seconds = int(round(max(seconds, 0)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress(keras.callbacks.Callback):
    """Progress lines from the first step: step, steps/s, time left; then a line per epoch.

    Args:
        epochs: the last epoch of the run.
        steps_per_epoch: steps of a full epoch.
        every_seconds: at most one step line per this many seconds (0: only at epoch ends).
        stream: where to print (stdout).
    """

    def __init__(self, epochs, steps_per_epoch, every_seconds=10.0, stream=None):
        super().__init__()
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.every_seconds = every_seconds
        self.stream = stream or sys.stdout
        self._steps_done = 0        # steps timed so far (after the first, which compiles)
        self._timed_seconds = 0.0
        self._epoch = 0
        self._initial_epoch = None

    def _print(self, text):
        print(text, file=self.stream, flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        if self._initial_epoch is None:
            self._initial_epoch = epoch
        self._epoch = epoch
        self._epoch_started = self._last_print = time.time()
        self._step = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._step_started = time.time()

    def on_train_batch_end(self, batch, logs=None):
        now = time.time()
        self._step += 1
        first = self._steps_done == 0 and self._timed_seconds == 0.0 and self._step == 1
        if first:
            self._timed_seconds = 1e-9  # mark the compile step as seen
            self._print(f"epoch {self._epoch + 1}/{self.epochs}  step 1/{self.steps_per_epoch}"
                        f"  (first step, includes building the graph: "
                        f"{now - self._epoch_started:.1f} s)")
            self._last_print = now
            return
        self._steps_done += 1
        self._timed_seconds += now - self._step_started
        if self.every_seconds and now - self._last_print >= self.every_seconds:
            self._last_print = now
            rate = self._steps_done / self._timed_seconds
            left = ((self.epochs - self._epoch) * self.steps_per_epoch - self._step) / rate
            loss = (logs or {}).get("loss")
            loss = f"  loss {float(loss):.4f}" if loss is not None else ""
            self._print(f"epoch {self._epoch + 1}/{self.epochs}  step {self._step}/"
                        f"{self.steps_per_epoch}{loss}  {rate:.1f} steps/s  "
                        f"about {_clock(left)} left")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.time() - self._epoch_started
        parts = [f"epoch {epoch + 1}/{self.epochs}"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in logs:
                parts.append(f"{key} {float(logs[key]):.4f}")
        if "best_epoch" in logs:
            parts.append(f"(best {float(logs['best_val_accuracy']):.4f} at epoch "
                         f"{int(logs['best_epoch'])})")
        parts.append(f"{seconds:.1f} s")
        if self._timed_seconds > 1e-6 and epoch + 1 < self.epochs:
            epochs_done = epoch + 1 - self._initial_epoch
            per_epoch = (time.time() - self._run_started) / max(epochs_done, 1)
            parts.append(f"about {_clock(per_epoch * (self.epochs - epoch - 1))} left")
        self._print("  ".join(parts))

    def on_train_begin(self, logs=None):
        self._run_started = time.time()


class EveryNEpochs(keras.callbacks.Callback):
    """Forward ``on_epoch_end`` to ``callback`` every ``n`` epochs and at the last epoch.

    For callbacks whose per-epoch cost rivals a short epoch (a full ``.keras`` checkpoint).
    """

    def __init__(self, callback, n, last_epoch):
        super().__init__()
        self.callback = callback
        self.n = max(1, int(n))
        self.last_epoch = last_epoch

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.n == 0 or epoch + 1 >= self.last_epoch:
            self.callback.on_epoch_end(epoch, logs)
