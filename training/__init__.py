"""Training for keras_vit models: recipes, data pipelines, tf.distribute, distillation.

Example (notebook):
    >>> from keras_vit.training import train
    >>> result = train("vit_digits", output_dir="runs/digits")
    >>> result.metrics["test_accuracy"]

Command line: ``keras-vit train --recipe vit_digits --output runs/digits``.
"""
from .augment import Augmenter
from .callbacks import EpochCheckpoint, HistoryFile, ResumableBackup
from .data import DataSplits, load_dataset, make_pipeline
from .distill import Distiller, distillation_loss, load_teacher
from .distribute import get_strategy, tf_config_from_workers, worker_info
from .keras_fixes import apply_multi_worker_fix
from .optim import build_optimizer, no_weight_decay_variables, warmup_cosine_schedule
from .recipe import Recipe, list_recipes, load_recipe
from .train import TrainResult, build_model, compile_for_recipe, train

__all__ = [
    "Augmenter", "DataSplits", "Distiller", "EpochCheckpoint", "HistoryFile", "Recipe",
    "ResumableBackup", "TrainResult", "apply_multi_worker_fix", "build_model",
    "build_optimizer", "compile_for_recipe", "distillation_loss", "get_strategy",
    "list_recipes", "load_dataset", "load_recipe", "load_teacher", "make_pipeline",
    "no_weight_decay_variables", "tf_config_from_workers", "train", "warmup_cosine_schedule",
    "worker_info",
]
