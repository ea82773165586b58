"""Explicit key maps from foreign checkpoints to our variable paths.

A family's converter is a list of :class:`Rule`: a regular expression over the checkpoint's
keys, the variable path it becomes (``{0}``, ``{1}`` … are the regex groups) and the array
transform. Keys that no rule matches are an error that lists them. Several source keys that
make one variable (q, k and v of transformers checkpoints) map to the same path with a
``part`` and are joined by :func:`join_parts`.
"""
import re
from dataclasses import dataclass

import numpy as np

from .errors import WeightsMismatchError


@dataclass(frozen=True)
class Rule:
    pattern: str
    target: str
    transform: object = None
    part: int = None  # position of this piece when several keys make one variable


def identity(x):
    return x


def linear(x):
    """PyTorch Linear (out, in) -> Keras Dense (in, out)."""
    _require_rank(x, 2, "Linear weight (out, in)")
    return np.transpose(x)


def batch_norm(src, dst):
    """Rules for a PyTorch BatchNorm ``src`` (a regex of its module path) into Keras' ``dst``:
    scale, shift and running statistics."""
    return [
        Rule(src + r"\.weight", dst + "/gamma"),
        Rule(src + r"\.bias", dst + "/beta"),
        Rule(src + r"\.running_mean", dst + "/moving_mean"),
        Rule(src + r"\.running_var", dst + "/moving_variance"),
    ]


def _require_rank(x, rank, what):
    if np.ndim(x) != rank:
        raise ValueError(f"a {what} needs a {rank}-D array, got shape {np.shape(x)}")


def conv2d(x):
    """PyTorch Conv2d (out, in, kh, kw) -> Keras Conv2D (kh, kw, in, out)."""
    _require_rank(x, 4, "Conv2d kernel (out, in, kh, kw)")
    return np.transpose(x, (2, 3, 1, 0))


def depthwise_conv2d(x):
    """PyTorch depthwise Conv2d (C, 1, kh, kw) -> Keras DepthwiseConv2D (kh, kw, C, 1)."""
    _require_rank(x, 4, "depthwise Conv2d kernel (C, 1, kh, kw)")
    return np.transpose(x, (2, 3, 0, 1))


def apply_rules(state, rules, ignore=(), strict=True):
    """Maps ``state`` through ``rules``; returns ``{our_path: array}``.

    Args:
        state: checkpoint arrays by key.
        rules: ordered :class:`Rule` list; the first match wins.
        ignore: regexes of keys that are dropped on purpose (buffers, unused heads).
        strict: raise on keys no rule matches.
    """
    compiled = [(re.compile(r.pattern + r"$"), r) for r in rules]
    ignored = [re.compile(p + r"$") for p in ignore]
    out, parts, part_keys, unmatched = {}, {}, {}, []
    for key, value in state.items():
        if any(p.match(key) for p in ignored):
            continue
        for regex, rule in compiled:
            m = regex.match(key)
            if m:
                target = rule.target.format(*m.groups())
                try:
                    array = (rule.transform or identity)(np.asarray(value))
                except ValueError as exc:
                    raise WeightsMismatchError(
                        f"Checkpoint key {key} {tuple(np.shape(value))} cannot become {target}: {exc}"
                    ) from None
                if rule.part is None:
                    out[target] = array
                else:
                    parts.setdefault(target, {})[rule.part] = array
                    part_keys.setdefault(target, {})[rule.part] = key
                break
        else:
            unmatched.append(key)
    if unmatched and strict:
        shown = "\n  ".join(f"{k} {tuple(np.shape(state[k]))}" for k in sorted(unmatched)[:40])
        more = f"\n  ... and {len(unmatched) - 40} more" if len(unmatched) > 40 else ""
        raise WeightsMismatchError(f"{len(unmatched)} checkpoint keys match no variable of this model:\n  {shown}{more}")
    out.update(join_parts(parts, keys=part_keys))
    return out


def join_parts(parts, axis=-1, keys=None):
    """Concatenates the pieces of each variable in ``part`` order (e.g. q, k, v -> qkv).

    The pieces must have one shape (q, k and v of a layer do); otherwise
    :class:`WeightsMismatchError` lists them, named by ``keys`` (``{target: {part: key}}``).
    """
    joined = {}
    for target, pieces in parts.items():
        order = sorted(pieces)
        if order != list(range(len(order))):
            raise WeightsMismatchError(f"{target}: the checkpoint holds only pieces {order} of it.")
        shapes = [np.shape(pieces[i]) for i in order]
        if len(set(shapes)) > 1:  # q, k and v of one layer always share a shape
            names = (keys or {}).get(target, {})
            listed = ", ".join(f"{names.get(i, f'part {i}')} {shape}" for i, shape in zip(order, shapes))
            raise WeightsMismatchError(f"{target}: the checkpoint's pieces of it have different shapes: {listed}.")
        joined[target] = np.concatenate([pieces[i] for i in order], axis=axis)
    return joined


def strip_prefix(state, prefixes, every=True):
    """Removes a wrapper prefix (``module.``, ``params/`` …) from the keys.

    With ``every=True`` only a prefix that every key has is removed (the first such in
    ``prefixes``); otherwise each key loses whichever of ``prefixes`` it starts with
    (transformers keeps the head outside the ``vit.`` backbone).
    """
    if not every:
        out = {}
        for key, value in state.items():
            prefix = next((p for p in prefixes if key.startswith(p)), "")
            out[key[len(prefix):]] = value
        return out
    for prefix in prefixes:
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items()}
    return state


def unknown_layout(family, layouts, state):
    """The error for a checkpoint in none of a family's layouts, showing its first keys."""
    sample = ", ".join(sorted(state)[:8])
    return WeightsMismatchError(
        f"Not a {family} checkpoint in any layout we know ({', '.join(layouts)}, keras_vit). First keys: {sample}"
    )


@dataclass(frozen=True)
class Layout:
    """One checkpoint layout of a family: how to recognise it and how its keys map.

    Attributes:
        name: the layout (``"timm"``, ``"transformers"``, ``"google"`` …): it picks the input
            normalization of a file given as a path and the resampling hook.
        detect: ``detect(keys) -> bool`` on the checkpoint's key list.
        rules: the :class:`Rule` list, or ``rules(state) -> list`` where the numbering
            depends on the file (Google's two ViT namings).
        strip: wrapper prefixes removed when every key has one (``module.``, ``model.``).
        strip_each: prefixes removed from each key that has one (transformers' backbone
            prefix, which its head does not have).
        ignore: regexes of keys dropped on purpose (buffers, unused heads).
        prepare: ``prepare(state) -> state`` after stripping (e.g. un-stacking scanned blocks).
    """

    name: str
    detect: object
    rules: object
    strip: tuple = ("module.", "model.")
    strip_each: tuple = ()
    ignore: tuple = ()
    prepare: object = None


def layout_converter(family, layouts):
    """``(convert, detect)`` for a family's table of :class:`Layout`.

    ``detect(state)`` names the first layout whose ``detect`` accepts the keys, or ``None``;
    ``convert(state)`` returns ``(arrays, layout)`` or raises :class:`WeightsMismatchError`.
    """

    def detect(state):
        keys = list(state)
        return next((layout.name for layout in layouts if layout.detect(keys)), None)

    def convert(state):
        name = detect(state)
        if name is None:
            raise unknown_layout(family, [layout.name for layout in layouts], state)
        layout = next(layout for layout in layouts if layout.name == name)
        state = strip_prefix(state, layout.strip)
        if layout.strip_each:
            state = strip_prefix(state, layout.strip_each, every=False)
        if layout.prepare is not None:
            state = layout.prepare(state)
        rules = layout.rules(state) if callable(layout.rules) else layout.rules
        return apply_rules(state, rules, ignore=layout.ignore), name

    return convert, detect
