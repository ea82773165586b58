"""One function that trains a model from a recipe, on any ``tf.distribute`` strategy.

``train()`` is what ``keras-vit train`` runs, in three steps: :func:`prepare` (strategy, data,
model, callbacks, the backup to resume from), :func:`fit_with_resume` (``model.fit``,
finishing an interrupted epoch first) and :func:`finish` (the epoch to keep, test
metrics, saved model, plots, export). In a notebook, either call ``train()``, or use its
parts (``get_strategy``, ``load_dataset``/``make_pipeline``, ``compile_for_recipe``) around
your own ``model.fit``.
"""
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_vit import distillation_outputs

from . import callbacks as cb
from . import report
from .augment import Augmenter
from .data import RandomResizedCrop, load_dataset, make_pipeline
from .defaults import resolve_recipe
from .distill import Distiller, load_teacher, merge_student_outputs
from .backend import KerasDistribution, get_distribution, worker_info
from .distribute import default_mixed_precision_policy, get_strategy  # noqa: F401  (get_strategy: re-exported)
from .optim import build_optimizer
from .multiscale import MultiScaleSampler
from .monitor import BestOnValidation, EveryNEpochs, Progress, evaluate_logits, logits_function
from .recipe import Recipe


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, per-epoch history and final metrics."""

    model: keras.Model
    history: dict
    metrics: dict
    output_dir: str


def build_model(recipe, num_classes):
    """``keras_vit.create_model`` for the recipe's model, input size and overrides."""
    import keras_vit

    overrides = dict(recipe.model_overrides)
    if recipe.drop_rate:
        overrides.setdefault("drop_rate", recipe.drop_rate)
    side = None if recipe.multi_scale else recipe.image_size  # multi-scale: any input size
    return keras_vit.create_model(
        recipe.model, weights=recipe.weights, num_classes=num_classes,
        input_shape=(side, side, 3),
        drop_path_rate=recipe.drop_path_rate, **overrides)


def compile_for_recipe(model, recipe, steps_per_epoch, teacher=None):
    """Compile ``model`` with the recipe's optimizer, loss and metrics; call in ``strategy.scope()``.

    Args:
        model: a model producing logits (one output, or ``[cls, dist]`` for a DeiT student).
        recipe: :class:`~keras_vit.training.recipe.Recipe`.
        steps_per_epoch: optimizer steps per epoch (for warmup and cosine decay).
        teacher: ``keras.Model`` or ``.keras`` path; wraps the model in a
            :class:`~keras_vit.training.distill.Distiller`.

    Returns:
        The model to ``fit``: ``model`` itself or the distiller around it.

    Example:
        >>> with strategy.scope():
        ...     model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
        ...     trainable = compile_for_recipe(model, load_recipe(), steps_per_epoch=100)
        >>> trainable.fit(train_ds, steps_per_epoch=100, epochs=300)
    """
    metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if teacher is not None:
        # A DeiT student with a distillation token trains both heads apart (its own output is
        # their average): the view shares the model's layers and returns [cls, dist] logits.
        student = model
        if any(layer.name == "head_dist" for layer in model.layers):
            student = distillation_outputs(model)
        fitted = Distiller(student, load_teacher(teacher), mode=recipe.distillation,
                           alpha=recipe.distillation_alpha,
                           temperature=recipe.distillation_temperature,
                           label_smoothing=recipe.label_smoothing)
        loss = None
    else:
        outputs = getattr(model, "outputs", None) or []
        if len(outputs) > 1:
            raise ValueError(f"Model {model.name!r} has {len(outputs)} outputs; a model "
                             "with a distillation token needs a teacher")
        fitted = model
        loss = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                    label_smoothing=recipe.label_smoothing)
    fitted.compile(optimizer=build_optimizer(recipe, model, steps_per_epoch), loss=loss,
                   metrics=metrics, steps_per_execution=recipe.steps_per_execution)
    return fitted


def _set_precision(recipe, strategy):
    setting = recipe.mixed_precision
    if setting == "auto":
        # JAX and PyTorch ask their own devices (a JAX GPU is invisible to a CPU TensorFlow).
        policy = (strategy.default_mixed_precision_policy() if isinstance(strategy, KerasDistribution)
                  else default_mixed_precision_policy(strategy))
    elif setting in (True, "true", "on"):
        policy = ("mixed_bfloat16" if isinstance(strategy, tf.distribute.TPUStrategy)
                  else "mixed_float16")
    elif setting in (False, None, "false", "off", "float32"):
        policy = None
    elif setting in ("bfloat16", "float16"):
        policy = f"mixed_{setting}"
    else:
        policy = str(setting)
    keras.mixed_precision.set_global_policy(policy or "float32")
    return policy or "float32"


def _set_determinism(recipe, strategy):
    """Turn on TensorFlow's op determinism when the recipe asks for it.

    ``"auto"`` means on when the strategy computes on CPU only. Without it the same seed gives
    a different run every time: the augmentation layers draw their random numbers in a
    parallel ``tf.data`` map, in whatever order its threads happen to run. On the digits
    recipe (2-core CPU) the epochs took the same time with and without it.
    """
    setting = recipe.deterministic
    if setting == "auto":
        setting = (not isinstance(strategy, tf.distribute.TPUStrategy)
                   and not tf.config.list_logical_devices("GPU"))
    if setting:
        tf.config.experimental.enable_op_determinism()


def _tensorboard_available():
    try:
        import tensorboard  # noqa: F401  (tf.summary needs it since TF 2.16)
    except ImportError:
        return False
    return True


@dataclasses.dataclass
class Run:
    """Everything :func:`prepare` sets up for :func:`fit_with_resume` and :func:`finish`."""

    recipe: Recipe
    output_dir: str
    strategy: object
    splits: object
    steps_per_epoch: int
    student: keras.Model          # the model that is saved and evaluated
    fitted: keras.Model           # what fit() runs: the student or a Distiller around it
    train_data: object            # skip_batches -> training pipeline
    val_ds: object
    test_ds: object
    callbacks: list
    selector: BestOnValidation
    history_file: object
    state: object                 # the backup resumed from, or None
    initial_epoch: int
    initial_step: int
    is_chief: bool
    num_workers: int
    precision: str
    verbose: int
    model_given: bool
    train_seconds: float = 0.0


def _writable_folder(folder, what):
    """Makes ``folder`` and writes a probe file in it; raises ValueError or StorageError if it cannot."""
    from keras_vit.utils import io as atomic_io

    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{what} {folder} exists and is not a folder; give a folder (a new one, or the "
                         "--output of an earlier run to resume it).")
    probe = os.path.join(folder, ".write-test")
    try:
        os.makedirs(folder, exist_ok=True)
        atomic_io.write_bytes(probe, b"")
        os.remove(probe)
    except OSError as e:
        raise cb.storage_error(e, what) from None


def prepare(recipe=None, output_dir="runs/train", *, model=None, teacher=None,
            strategy="auto", workers=None, worker_index=None, tpu=None, verbose=1,
            **overrides):
    """Set up a run (see :func:`train` for the arguments); returns a :class:`Run`."""
    if isinstance(strategy, str):
        # First: a multi-worker strategy must exist before any other TensorFlow op runs (on
        # JAX: keras.distribution.initialize before any computation).
        strategy = get_distribution(strategy, workers=workers, worker_index=worker_index, tpu=tpu)
    recipe = resolve_recipe(recipe, **overrides)
    index, num_workers, is_chief = worker_info(strategy)
    # Non-chief workers must still run every collective, but write to a private folder.
    work_dir = output_dir if is_chief else os.path.join(output_dir, f".worker-{index}")
    # Every folder the run writes to is made and tried now, before any data or model work:
    # a file in the way, a read-only mount or a missing cache folder is one clear error.
    _writable_folder(work_dir, "the output folder")
    if is_chief:
        _writable_folder(os.path.join(output_dir, "logs"), "TensorBoard's logs folder")
    if isinstance(recipe.cache, str):
        _writable_folder(recipe.cache, "the cache folder (recipe key 'cache')")
    precision = _set_precision(recipe, strategy)
    _set_determinism(recipe, strategy)
    keras.utils.set_random_seed(recipe.seed)

    splits = load_dataset(recipe.data, recipe.image_size, data_dir=recipe.data_dir,
                          download=recipe.download, val_fraction=recipe.val_fraction,
                          test_fraction=recipe.test_fraction, seed=recipe.split_seed)
    sampler = MultiScaleSampler.from_recipe(recipe, strategy.num_replicas_in_sync)
    steps_per_epoch = (sampler.steps_per_epoch(splits.num_train) if sampler else
                       splits.num_train // recipe.batch_size)
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {recipe.batch_size} is larger than the training split "
                         f"({splits.num_train} images)")

    backup_dir = os.path.join(output_dir, "backup", f"worker-{index}")
    state = cb.read_backup_state(backup_dir)
    initial_epoch, initial_step = (state["epoch"], state["step"]) if state else (0, 0)

    cache = recipe.cache
    if isinstance(cache, str):
        cache = os.path.join(cache, f"worker-{index}")

    crop = (RandomResizedCrop(recipe.image_size, recipe.crop_scale, recipe.crop_ratio)
            if recipe.crop_scale is not None else None)
    # A random crop decodes each file or record anew (the whole image, not a resized copy).
    source = splits.train_encoded if crop is not None and splits.train_encoded is not None else splits.train

    def train_data(skip):
        return make_pipeline(source, splits.num_classes, recipe.batch_size, training=True,
                             augment=Augmenter.from_recipe(recipe, splits.num_classes), crop=crop,
                             cache=f"{cache}-train" if isinstance(cache, str) else cache,
                             seed=recipe.seed, skip_batches=skip,
                             repeats=recipe.repeated_augmentation, multi_scale=sampler)

    if splits.num_val == 0 and recipe.keep == "best":
        raise ValueError(
            "keep 'best' chooses an epoch on the validation split, and this run has none "
            f"(val_fraction={recipe.val_fraction} on {recipe.data!r}): set keep to 'last' "
            "or val_fraction above 0")
    val_ds = (make_pipeline(splits.val, splits.num_classes, recipe.batch_size, cache=bool(cache))
              if splits.num_val else None)
    test_ds = make_pipeline(splits.test, splits.num_classes, recipe.batch_size, cache=False)

    teacher = teacher if teacher is not None else recipe.teacher
    with strategy.scope():
        student = model if model is not None else build_model(recipe, splits.num_classes)
        fitted = compile_for_recipe(student, recipe, steps_per_epoch, teacher=teacher)
        # Build model and optimizer now, so a backup can be loaded into them.
        dummy = np.zeros((1, recipe.image_size, recipe.image_size, 3), "float32")
        fitted(dummy, training=False)
        fitted.optimizer.build(fitted.trainable_variables)

    backup = cb.ResumableBackup(backup_dir, steps_per_epoch,
                                save_every_steps=recipe.backup_every_steps,
                                initial_epoch=initial_epoch, initial_step=initial_step)
    if state is not None:
        backup.restore(fitted)
        if is_chief and verbose:
            print(f"Resuming from epoch {initial_epoch + 1}, step {initial_step} "
                  f"of {steps_per_epoch} ({backup_dir})" if initial_epoch < recipe.epochs else
                  f"Already trained for {initial_epoch} epochs ({backup_dir}); evaluating")
    # Validation of the weights that will be kept (EMA if on), first: it writes val_* into
    # the epoch logs that the history, TensorBoard and the progress lines read.
    selector = BestOnValidation(student, val_ds, backup_dir, output_fn=merge_student_outputs,
                                save_best=recipe.keep == "best")
    history_file = cb.HistoryFile(os.path.join(work_dir, "history.json"))
    callbacks = [selector, backup]
    if is_chief:
        # A .keras checkpoint costs a quarter of a demo epoch (0.56 s): write five per run,
        # of which the last three are kept (the backup, written every epoch, is what
        # resuming uses).
        checkpoint = cb.EpochCheckpoint(os.path.join(output_dir, "checkpoints"),
                                        model_fn=lambda: student)
        callbacks += [EveryNEpochs(checkpoint, max(1, round(recipe.epochs / 5)), recipe.epochs),
                      history_file]
        if _tensorboard_available():
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(output_dir, "logs")))
        elif verbose:
            print("TensorBoard is not installed: no logs/ (pip install 'keras-vit[train]')")
        if verbose:
            callbacks.append(Progress(recipe.epochs, steps_per_epoch,
                                      every_seconds=10.0 if verbose == 1 else 0))
    return Run(recipe, output_dir, strategy, splits, steps_per_epoch, student, fitted,
               train_data, val_ds, test_ds, callbacks, selector, history_file, state,
               initial_epoch, initial_step, is_chief, num_workers, precision, verbose,
               model is not None)


def fit_with_resume(run):
    """``model.fit`` from where the backup left off (mid-epoch too) to ``recipe.epochs``."""
    recipe, fitted = run.recipe, run.fitted
    steps = run.steps_per_epoch
    started = time.time()
    epoch = run.initial_epoch
    common = dict(callbacks=run.callbacks, verbose=0, shuffle=False)
    if run.initial_step and epoch < recipe.epochs:
        # Finish the interrupted epoch with its remaining steps; the EMA swap Keras does at
        # the end of every fit() must wait for the real end of training.
        fitted.optimizer.finalize_variable_values = lambda *args, **kwargs: None
        try:
            fitted.fit(run.train_data(epoch * steps + run.initial_step), epochs=epoch + 1,
                       initial_epoch=epoch, steps_per_epoch=steps - run.initial_step, **common)
        finally:
            del fitted.optimizer.finalize_variable_values
        epoch += 1
    if epoch < recipe.epochs:
        fitted.fit(run.train_data(epoch * steps), epochs=recipe.epochs, initial_epoch=epoch,
                   steps_per_epoch=steps, **common)
    elif recipe.ema and run.state is not None:
        # Finished earlier: the backup holds raw weights, the result is their EMA.
        fitted.optimizer.finalize_variable_values(fitted.trainable_variables)
    run.train_seconds = time.time() - started
    return run


def finish(run, export=False):
    """Keep the recipe's epoch (best on validation or last), evaluate on test, write every output file."""
    recipe, student, output_dir = run.recipe, run.student, run.output_dir
    if recipe.keep == "last":
        # The weights fit() left (EMA ones when on): the last epoch, whatever validation says.
        best = run.selector.last or _last_epoch_record(run.history_file.load())
        kept, score = "the last epoch, {}", "validation accuracy"
    else:
        best = run.selector.restore_best()
        kept, score = "epoch {}", "best validation accuracy"
    if recipe.multi_scale and not run.model_given:
        # Trained at every size; kept, tested and exported at image_size (the same weights).
        with run.strategy.scope():
            fixed = build_model(recipe.replace(multi_scale=None), run.splits.num_classes)
        fixed.set_weights(student.get_weights())
        student = fixed
    if best and run.is_chief and run.verbose:
        detail = ("no validation split" if best.get("val_accuracy") is None
                  else f"{score} {best['val_accuracy']:.4f}")
        print(f"Keeping {kept.format(best['epoch'])} ({detail}"
              f"{', EMA weights' if recipe.ema else ''})")
    test_logs, preds, labels = _evaluate(student, run.test_ds)
    history = run.history_file.load()
    metrics = {
        "model": student.name if run.model_given else recipe.model,
        "data": recipe.data,
        "test_accuracy": test_logs["accuracy"],
        "test_loss": test_logs["loss"],
        "epochs": recipe.epochs,
        "selected_epoch": best["epoch"] if best else None,
        "selected_val_accuracy": best["val_accuracy"] if best else None,
        "train_seconds_this_run": round(run.train_seconds, 2),
        "resumed_from": ({"epoch": run.initial_epoch, "step": run.initial_step}
                         if run.state else None),
        "num_train": run.splits.num_train, "num_val": run.splits.num_val,
        "num_test": run.splits.num_test,
        "num_params": int(student.count_params()), "seed": recipe.seed,
        "strategy": getattr(run.strategy, "kind", type(run.strategy).__name__), "replicas": run.strategy.num_replicas_in_sync,
        "workers": run.num_workers, "precision": run.precision,
        "keras_version": keras.__version__, "tensorflow_version": tf.__version__,
        "backend": keras.backend.backend(),
    }
    for key in ("val_accuracy", "val_loss", "accuracy", "loss"):
        if history.get(key):
            metrics[f"final_{key}"] = history[key][-1]
    if run.is_chief:
        cb.atomic_save_model(student, os.path.join(output_dir, "model.keras"))
        recipe.save(os.path.join(output_dir, "recipe.json"))
        report.plot_history(history, output_dir)
        matrix = report.confusion_matrix(labels, preds, run.splits.num_classes)
        report.plot_confusion_matrix(matrix, run.splits.class_names,
                                     os.path.join(output_dir, "confusion_matrix.png"))
        metrics["confusion_matrix"] = matrix.tolist()
        if export:
            # On JAX and PyTorch the export runs in a TensorFlow process, from model.keras.
            from .backend import export_and_compare

            started = time.time()
            test_images = np.concatenate([x.numpy() for x, _ in run.test_ds])
            # int8 calibration: the validation images, else (no validation split) about 200
            # unaugmented training images spread over the whole split (folders list images
            # class by class); never the test split.
            calibration = run.val_ds
            if calibration is None:
                every = max(1, run.splits.num_train // 200)
                calibration = make_pipeline(run.splits.train.shard(every, 0),
                                            run.splits.num_classes, recipe.batch_size,
                                            cache=False)
            rep_images = np.concatenate([x.numpy() for x, _ in calibration])
            metrics["export"] = export_and_compare(student, output_dir, test_images, labels,
                                                   representative_images=rep_images,
                                                   verbose=bool(run.verbose),
                                                   keras_accuracy=metrics["test_accuracy"],
                                                   class_names=run.splits.class_names)
            metrics["export_seconds"] = round(time.time() - started, 2)
        report.write_metrics(os.path.join(output_dir, "metrics.json"), metrics)
        if len(student.outputs) == 1:
            # The folder is also a shareable model: keras_vit.create_model(output_dir).
            from keras_vit.pretrained import save_pretrained

            save_pretrained(student, output_dir, class_names=run.splits.class_names,
                            recipe=recipe, metrics=metrics,
                            model_name=None if run.model_given else recipe.model)
        if run.verbose:
            print(f"test accuracy {metrics['test_accuracy']:.4f}  "
                  f"({output_dir}/metrics.json)")
    return TrainResult(student, history, metrics, output_dir)


def _last_epoch_record(history):
    """``{"epoch", "val_accuracy", "val_loss"}`` of the last epoch in ``history.json``, or None."""
    if not history.get("epoch"):
        return None
    return {"epoch": history["epoch"][-1],
            "val_accuracy": (history.get("val_accuracy") or [None])[-1],
            "val_loss": (history.get("val_loss") or [None])[-1]}


def _evaluate(model, dataset):
    """Test metrics of ``model``'s logits on ``dataset`` (see :func:`monitor.evaluate_logits`),
    with the predicted and true class ids, in one pass computed locally on this worker."""
    accuracy, loss, preds, labels = evaluate_logits(logits_function(model, merge_student_outputs), dataset)
    return {"accuracy": accuracy, "loss": loss}, preds, labels


def train(recipe=None, output_dir="runs/train", *, model=None, teacher=None, strategy="auto",
          workers=None, worker_index=None, tpu=None, export=False, verbose=1, **overrides):
    """Train (or resume training) a model from a recipe and leave everything in ``output_dir``.

    Args:
        recipe: a :class:`~keras_vit.training.recipe.Recipe`, a shipped recipe name, a JSON
            path, or ``None``: the tuned small-data recipe for ``overrides["data"]`` (digits
            by default) and ``overrides["model"]`` (see :func:`default_recipe`).
        output_dir: receives ``model.keras``, ``metrics.json``, ``history.json``, the plots
            (``loss.png``, ``accuracy.png``, ``confusion_matrix.png``), ``checkpoints/``,
            ``backup/`` and TensorBoard ``logs/``; with ``export`` also ``saved_model/`` and
            ``model_float32.tflite``/``model_int8.tflite``.
        model: a ``keras.Model`` to train instead of ``recipe.model`` (build it inside
            ``strategy.scope()`` if you pass a strategy object).
        teacher: teacher model or ``.keras`` path for DeiT distillation (overrides
            ``recipe.teacher``).
        strategy: a strategy name for :func:`get_strategy`, or a ``tf.distribute.Strategy``.
        workers, worker_index, tpu: see :func:`get_strategy`.
        export: also export to SavedModel and TFLite and compare accuracies.
        verbose: progress from the first step and a line per epoch (1), epoch lines only (2)
            or silent (0).
        **overrides: recipe keys to change.

    Returns:
        :class:`TrainResult`. The model is the epoch with the best validation accuracy, or
        the last epoch with the recipe's ``keep="last"`` (the default digits recipe), its EMA
        weights when the recipe uses EMA; the test split is only used at the end.

    Running the same call again after an interruption resumes from the last backup.
    """
    run = prepare(recipe, output_dir, model=model, teacher=teacher, strategy=strategy,
                  workers=workers, worker_index=worker_index, tpu=tpu, verbose=verbose,
                  **overrides)
    fit_with_resume(run)
    return finish(run, export=export)
