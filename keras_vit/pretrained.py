"""A trained model as a shareable folder: ``save_pretrained`` writes it, ``create_model`` reads it.

The folder (a training run's output folder holds the same files) is what a Hugging Face Hub
repository would hold:

- ``config.json``: registered model name, family, classes, input shape, the architecture
  overrides, class names and preprocessing, and the format version;
- ``model.json``: the Keras architecture (exact, whatever was overridden);
- ``model.safetensors``: the weights, keyed by variable path;
- ``preprocessing.json`` and ``labels.txt``: what a deployment needs without Keras;
- ``README.md``: a model card generated from the recipe, the data and the metrics (with
  ``confusion_matrix.png`` when the folder has one); ``recipe.json``, ``metrics.json``.

``create_model(folder)`` and ``create_model("hf://user/repo")`` load it (the latter through
``huggingface_hub``, from its cache when ``HF_HUB_OFFLINE=1``).
"""
import inspect
import json
import os

import numpy as np

from .utils.io import atomic_write, write_json

FORMAT = "keras-vit-pretrained"
FORMAT_VERSION = 1
#: The files ``create_model`` needs; the rest are for people and other runtimes.
REQUIRED_FILES = ("config.json", "model.json", "model.safetensors")


class PretrainedFolderError(ValueError):
    """A pretrained folder or Hub repository is missing files or is not in our format."""


def _preprocessing_of(model):
    from .layers.preprocessing import Preprocessing

    for layer in model.layers:
        if isinstance(layer, Preprocessing):
            config = layer.get_config()
            return {"mean": [float(m) for m in np.ravel(config["mean"])],
                    "std": [float(s) for s in np.ravel(config["std"])],
                    "scale": float(config["scale"]), "channel_order": config["channel_order"]}
    return None


def _write_text(path, text):
    with atomic_write(path) as f:
        f.write(text)


def save_pretrained(model, directory, *, class_names=None, recipe=None, metrics=None,
                    model_name=None, model_overrides=None):
    """Write ``model`` as a folder that ``create_model(directory)`` loads, with a model card.

    Args:
        model: a model built by ``create_model`` (its name is the registered name) or any
            functional Keras model of registered layers.
        directory: the folder to write (made if missing; files in it are replaced).
        class_names: one name per output class (``labels.txt``, the card, ``config.json``).
        recipe: the :class:`~keras_vit.training.recipe.Recipe` (or its dict) that trained it.
        metrics: a dict of results (``test_accuracy``, ``num_train`` …), as ``metrics.json``.
        model_name: the registered name, when ``model.name`` is not one.
        model_overrides: constructor arguments the model was built with (default: the
            recipe's ``model_overrides``); used when a later ``create_model(directory,
            num_classes=...)`` rebuilds it with another head.

    Returns:
        ``directory``.

    Example:
        >>> keras_vit.save_pretrained(model, "my_vit", class_names=["cat", "dog"])
        >>> model = keras_vit.create_model("my_vit")
    """
    from . import __version__
    from .registry import _REGISTRY, save_weights

    if len(model.outputs) != 1:
        raise ValueError(f"save_pretrained needs a model with one output, {model.name!r} has "
                         f"{len(model.outputs)}")
    recipe = recipe.to_dict() if hasattr(recipe, "to_dict") else (dict(recipe) if recipe else None)
    name = model_name or model.name
    spec = _REGISTRY.get(name)
    if model_overrides is None:
        model_overrides = dict(recipe.get("model_overrides") or {}) if recipe else {}
    output_shape = tuple(model.outputs[0].shape[1:])
    num_classes = int(output_shape[-1]) if len(output_shape) == 1 else None
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if num_classes is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names and the model "
                             f"{num_classes} outputs")
    input_shape = [int(d) for d in model.inputs[0].shape[1:]]
    preprocessing = _preprocessing_of(model)
    os.makedirs(directory, exist_ok=True)
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "keras_vit_version": __version__,
        "model": name, "family": spec.family if spec else None, "num_classes": num_classes,
        "input_shape": input_shape, "model_overrides": model_overrides,
        "class_names": class_names, "preprocessing": preprocessing,
    }
    write_json(os.path.join(directory, "config.json"), config)
    _write_text(os.path.join(directory, "model.json"), model.to_json(indent=1))
    save_weights(model, os.path.join(directory, "model.safetensors"))
    write_json(os.path.join(directory, "preprocessing.json"), {
        "image_size": input_shape[:2], "input": "RGB pixels in [0, 255]",
        "normalization_in_model": preprocessing is not None,
        **(preprocessing or {}),
    })
    if class_names is not None:
        _write_text(os.path.join(directory, "labels.txt"), "".join(c + "\n" for c in class_names))
    if recipe is not None:
        write_json(os.path.join(directory, "recipe.json"), recipe)
    if metrics is not None:
        write_json(os.path.join(directory, "metrics.json"), metrics)
    _write_text(os.path.join(directory, "README.md"),
                model_card(config, recipe, metrics, spec,
                           os.path.exists(os.path.join(directory, "confusion_matrix.png"))))
    return directory


def model_card(config, recipe=None, metrics=None, spec=None, confusion_matrix=False):
    """The ``README.md`` of a pretrained folder: Hub metadata, model, data, recipe, results."""
    metrics = metrics or {}
    data = (recipe or {}).get("data") or metrics.get("data")
    lines = ["---", "library_name: keras-vit", "pipeline_tag: image-classification",
             "tags:", "- keras", "- vision-transformer", f"- {config.get('family') or 'custom'}"]
    if "test_accuracy" in metrics:
        lines += ["model-index:", f"- name: {config['model']}", "  results:",
                  "  - task: {type: image-classification}",
                  f"    dataset: {{name: {json.dumps(str(data))}, type: {json.dumps(str(data))}}}",
                  f"    metrics: [{{type: accuracy, value: {float(metrics['test_accuracy']):.6f}}}]"]
    lines += ["---", "", f"# {config['model']}", ""]
    what = f"A `{config['model']}`"
    if spec is not None:
        what += f" ({spec.family} family; {spec.paper})"
    classes = config.get("class_names")
    what += (f" classifying {config['num_classes']} classes"
             + (f" ({', '.join(classes[:20])}{', ...' if len(classes) > 20 else ''})" if classes else "")
             + f" from {config['input_shape'][0]}x{config['input_shape'][1]} RGB images.")
    lines += [what, "", "```python", "import keras_vit", "",
              "model = keras_vit.create_model(\"hf://USER/REPO\")  # or the folder's path",
              "logits = model.predict(images)  # RGB pixels in [0, 255], "
              f"shape (batch, {config['input_shape'][0]}, {config['input_shape'][1]}, 3)",
              "```", ""]
    if config.get("model_overrides"):
        lines += [f"Architecture overrides: `{json.dumps(config['model_overrides'], sort_keys=True)}`.", ""]
    if data is not None or metrics:
        lines += ["## Data", ""]
        if data is not None:
            lines.append(f"- Source: `{data}`")
        for key, label in (("num_train", "training"), ("num_val", "validation"), ("num_test", "test")):
            if key in metrics:
                lines.append(f"- {label.capitalize()} images: {metrics[key]}")
        lines.append("")
    if recipe:
        lines += ["## Training recipe", ""]
        if recipe.get("description"):
            lines += [recipe["description"], ""]
        keys = ("epochs", "batch_size", "optimizer", "learning_rate", "lr_base_batch_size",
                "min_learning_rate", "warmup_epochs", "weight_decay", "layer_decay",
                "drop_path_rate", "label_smoothing", "randaugment_ops", "mixup_alpha",
                "cutmix_alpha", "random_erasing", "repeated_augmentation", "ema",
                "clip_global_norm", "seed", "weights")
        lines += ["| key | value |", "|---|---|"]
        lines += [f"| {k} | {json.dumps(recipe[k])} |" for k in keys if k in recipe]
        lines += ["", "The full recipe is `recipe.json`; rerun it with "
                  "`keras-vit train --recipe recipe.json`.", ""]
    results = [(k, v) for k, v in metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k.startswith(("test_", "final_", "selected_"))]
    if results or confusion_matrix:
        lines += ["## Results", ""]
        lines += [f"- {k.replace('_', ' ')}: {v:.4f}" if isinstance(v, float) else
                  f"- {k.replace('_', ' ')}: {v}" for k, v in results]
        if confusion_matrix:
            lines += ["", "![Confusion matrix on the test split](confusion_matrix.png)"]
        lines.append("")
    lines += ["## Files", "",
              "`config.json` (model, classes, preprocessing), `model.json` (Keras architecture), "
              "`model.safetensors` (weights by variable path), `preprocessing.json`, "
              "`labels.txt`. Made with keras-vit " + str(config.get("keras_vit_version")) + ".", ""]
    return "\n".join(lines)


def is_pretrained_source(source):
    """Whether ``create_model`` should read ``source`` as a pretrained folder or Hub repo."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    source = os.fspath(source)
    return source.startswith("hf://") or os.path.isfile(os.path.join(source, "config.json"))


def _hub_folder(source):
    """The local snapshot folder of ``hf://user/repo[@revision]``, downloaded if allowed."""
    repo = source[len("hf://"):]
    repo_id, _, revision = repo.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"{source!r} must look like hf://user/repo (optionally @revision)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ImportError(f"Loading {source} needs huggingface_hub: pip install huggingface_hub") from None
    # Read at call time: huggingface_hub reads these variables once, when it is imported.
    cache_dir = os.environ.get("HF_HUB_CACHE") or None
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    where = cache_dir or "the Hugging Face cache (~/.cache/huggingface/hub, or HF_HUB_CACHE)"
    page = f"https://huggingface.co/{repo_id}/tree/{revision or 'main'}"
    try:
        folder = snapshot_download(repo_id, revision=revision or None, cache_dir=cache_dir,
                                   local_files_only=offline)
    except Exception as e:  # huggingface_hub's errors: not cached, not found, no network
        why = "downloads are off (HF_HUB_OFFLINE=1)" if offline else f"the download failed ({e})"
        raise PretrainedFolderError(
            f"{source} is not in {where} and {why}. Fetch {', '.join(REQUIRED_FILES)} from {page} "
            f"(on a machine with internet: huggingface-cli download {repo_id} --cache-dir "
            f"{cache_dir or '<cache>'}), then copy that cache here, or put the files in a folder and "
            "call create_model('<folder>').") from None
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise PretrainedFolderError(
            f"{source} (cached in {folder}) lacks {', '.join(missing)}: fetch "
            + ", ".join(f"https://huggingface.co/{repo_id}/resolve/{revision or 'main'}/{f}" for f in missing)
            + f" and put {'them' if len(missing) > 1 else 'it'} in {folder}.")
    return folder


def read_config(source):
    """``config.json`` of a pretrained folder or ``hf://`` repository, checked."""
    folder = _hub_folder(source) if str(source).startswith("hf://") else os.fspath(source)
    return _read_config(folder)


def _read_config(folder):
    path = os.path.join(folder, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise PretrainedFolderError(f"{path} cannot be read as JSON: {e}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise PretrainedFolderError(
            f"{folder} is not a keras-vit pretrained folder ({path} has no \"format\": \"{FORMAT}\"); "
            "write one with keras_vit.save_pretrained(model, folder)")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise PretrainedFolderError(f"{folder} has format version {config['format_version']}; this "
                                    f"keras-vit reads up to {FORMAT_VERSION}: upgrade keras-vit")
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise PretrainedFolderError(f"{folder} lacks {', '.join(missing)}; save it again with "
                                    "keras_vit.save_pretrained")
    return config


def load_pretrained(source, arguments=None, overrides=None):
    """The model of a pretrained folder or ``hf://user/repo`` (what ``create_model`` calls).

    Args:
        source: a folder written by :func:`save_pretrained` (or a training run), or
            ``hf://user/repo[@revision]``.
        arguments: ``create_model`` keyword arguments as called; those different from its
            defaults rebuild the model through the registry (a new head with
            ``num_classes``, another ``input_shape`` …) and load the saved weights into it.
        overrides: constructor overrides passed to ``create_model``.

    Returns:
        The ``keras.Model`` with its weights.
    """
    import keras

    from .registry import create_model
    from .weights.loading import assign_weights

    folder = _hub_folder(source) if os.fspath(source).startswith("hf://") else os.fspath(source)
    config = _read_config(folder)
    weights = os.path.join(folder, "model.safetensors")
    defaults = {k: p.default for k, p in inspect.signature(create_model).parameters.items()
                if p.default is not inspect.Parameter.empty}
    changed = {k: v for k, v in (arguments or {}).items() if k in defaults and v != defaults[k]}
    if changed.get("weights") is not None:
        raise ValueError(f"{source} holds its own weights; weights={changed['weights']!r} cannot "
                         "be combined with it")
    changed.pop("weights", None)
    if not changed and not overrides:
        with open(os.path.join(folder, "model.json"), encoding="utf-8") as f:
            model = keras.models.model_from_json(f.read())
        from safetensors.numpy import load_file

        assign_weights(model, load_file(weights), source=f"pretrained folder {folder}")
        return model
    build = dict(num_classes=config["num_classes"], input_shape=tuple(config["input_shape"]))
    build.update(config.get("model_overrides") or {})
    if config.get("preprocessing"):
        build.update(mean=tuple(config["preprocessing"]["mean"]), std=tuple(config["preprocessing"]["std"]))
    build.update(changed)
    build.update(overrides or {})
    return create_model(config["model"], weights=weights, **build)
