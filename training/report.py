"""What the user sees after training: ``metrics.json``, curve plots and a confusion matrix."""
import os

import numpy as np

from .callbacks import atomic_write_json


def _figure(figsize):
    """A figure drawn off-screen, without pyplot: works on headless machines and leaves the
    backend of a notebook (inline plots) alone."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _save_figure(fig, path):
    tmp = os.path.join(os.path.dirname(path) or ".", f".tmp{os.getpid()}-{os.path.basename(path)}")
    fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    os.replace(tmp, path)


def plot_history(history, output_dir):
    """Write ``loss.png`` and ``accuracy.png`` (train and validation per epoch).

    Args:
        history: ``{"epoch": [...], "loss": [...], "val_loss": [...], ...}``.
        output_dir: destination folder.

    Returns:
        The paths written.
    """
    paths = []
    for metric in ("loss", "accuracy"):
        fig, ax = _figure((6, 4))
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            values = history.get(key)
            if values and any(v is not None for v in values):
                ax.plot(history["epoch"], values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        path = os.path.join(output_dir, f"{metric}.png")
        _save_figure(fig, path)
        paths.append(path)
    return paths


def confusion_matrix(labels, predictions, num_classes):
    """Counts ``[true, predicted]`` as an int array of shape ``(num_classes, num_classes)``."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def plot_confusion_matrix(matrix, class_names, path, title="Confusion matrix (test)"):
    """Write the confusion matrix as a PNG heat map with counts."""
    n = len(class_names)
    size = min(max(4, 0.45 * n + 2), 20)
    fig, ax = _figure((size, size))
    ax.imshow(matrix, cmap="Blues")
    if n <= 30:
        ax.set_xticks(range(n), class_names, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), class_names)
        limit = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] > limit else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    _save_figure(fig, path)
    return path


def write_metrics(path, metrics):
    """Write ``metrics.json`` atomically."""
    atomic_write_json(path, metrics)
