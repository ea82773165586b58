"""Training for keras_vit models: recipes, data pipelines, tf.distribute, distillation.

Example (notebook):
    >>> from keras_vit.training import train
    >>> result = train(output_dir="runs/digits")      # the tuned digits recipe
    >>> result.metrics["test_accuracy"]

Command line: ``keras-vit train --data digits --output runs/digits``.

Names are imported on first use (PEP 562), so reading recipes and ``keras-vit train --help``
do not load TensorFlow.
"""
from keras_vit.utils.lazy import lazy_exports

# public name -> submodule that defines it
_EXPORTS = {
    "Augmenter": "augment",
    "EpochCheckpoint": "callbacks", "HistoryFile": "callbacks", "ResumableBackup": "callbacks",
    "DataSplits": "data", "RandomResizedCrop": "data", "load_dataset": "data", "make_pipeline": "data",
    "Distiller": "distill", "distillation_loss": "distill", "load_teacher": "distill",
    "get_strategy": "distribute", "tf_config_from_workers": "distribute",
    "worker_info": "distribute",
    "apply_multi_worker_fix": "keras_fixes",
    "build_optimizer": "optim", "no_weight_decay_variables": "optim",
    "warmup_cosine_schedule": "optim",
    "Recipe": "recipe", "list_recipes": "recipe", "load_recipe": "recipe",
    "default_recipe": "defaults",
    "TrainResult": "trainer", "build_model": "trainer", "compile_for_recipe": "trainer",
    "train": "trainer",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
