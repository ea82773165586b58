"""Putting converted arrays into a model: all of them or none.

Every array is checked against the model before the first assignment, so a checkpoint that
does not fit raises and leaves the model exactly as it was.
"""
import warnings

import numpy as np

from .errors import WeightsMismatchError

HEAD_PREFIXES = ("head/", "head_dist/")


def _is_head(path):
    return path.startswith(HEAD_PREFIXES)


def assign_weights(model, arrays, *, resample=None, source="checkpoint", headless=False):
    """Assigns ``{variable path: array}`` to ``model``, all or nothing.

    - An array of another shape goes through ``resample(path, array, target_shape, model)``
      (the family's hook: position embeddings of another grid, relative position tables of
      another window), which returns the resized array or ``None`` where it does not apply.
    - A head of another size (or a model without a head) keeps its own initialisation, and a
      warning says so; every other variable must be present with its exact shape.
    - ``headless=True`` (a model built without its top, or as a feature pyramid): the
      checkpoint's head layers the model lacks (every array under a ``head`` prefix, such as
      EfficientViT's ``head_in_conv`` before its classifier) are left out, not an error.

    Returns:
        The list of variable paths that were not loaded (the head, if skipped).

    Raises:
        WeightsMismatchError: missing, unexpected or mis-shaped arrays; the message lists them.
    """
    variables = {v.path: v for v in model.weights if "seed_generator" not in v.path}
    missing, mismatched, updates, head_skipped = [], [], {}, False
    not_numbers, not_finite = [], []
    for path, var in variables.items():
        target_shape = tuple(var.shape)
        if path not in arrays:
            head_skipped |= _is_head(path)
            if not _is_head(path):
                missing.append(f"{path} {target_shape}")
            continue
        array = np.asarray(arrays[path])
        if array.shape != target_shape and resample is not None:
            resampled = resample(path, array, target_shape, model)
            array = resampled if resampled is not None else array
        if array.shape != target_shape:
            if _is_head(path):
                head_skipped = True
                continue
            mismatched.append(f"{path}: checkpoint {array.shape}, model {target_shape}")
            continue
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            not_numbers.append(f"{path}: checkpoint dtype {array.dtype}")
            continue
        # Every cast happens here, in the checking pass, before the first assignment.
        updates[path] = array.astype(var.dtype)
        if not np.isfinite(updates[path]).all():
            not_finite.append(path)
    unexpected = [f"{k} {tuple(np.shape(v))}" for k, v in arrays.items()
                  if k not in variables and not _is_head(k) and not (headless and k.startswith("head"))]
    if missing or mismatched or unexpected or not_numbers:
        sections = []
        for title, items in (("shape mismatches", mismatched), ("arrays that are not real numbers", not_numbers),
                             ("missing from the checkpoint", missing), ("not in the model", unexpected)):
            if items:
                shown = "\n  ".join(items[:30]) + (f"\n  ... and {len(items) - 30} more" if len(items) > 30 else "")
                sections.append(f"{len(items)} {title}:\n  {shown}")
        raise WeightsMismatchError(
            f"The {source} does not fit model '{model.name}' (is it a checkpoint of another architecture or size?)\n"
            + "\n".join(sections)
        )
    skipped = []
    if head_skipped:
        skipped = [p for p in variables if _is_head(p)]
        for p in skipped:
            updates.pop(p, None)
        if skipped:
            warnings.warn(
                f"Loaded every weight of the {source} except the classifier head ({', '.join(skipped)}): "
                "its number of classes differs from the model's, so the head keeps its fresh initialisation.",
                stacklevel=3,
            )
    not_finite = [p for p in not_finite if p in updates]
    if not_finite:
        shown = ", ".join(not_finite[:10]) + (f" and {len(not_finite) - 10} more" if len(not_finite) > 10 else "")
        warnings.warn(f"The {source} holds NaN or infinite values in {len(not_finite)} tensors: {shown}.", stacklevel=3)
    for path, array in updates.items():
        variables[path].assign(array)
    return skipped
