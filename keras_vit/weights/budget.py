"""A memory budget for reading one checkpoint: refuse before allocating, not after.

A small file can declare gigabytes: a compressed ``.npz`` of zeros, a torch tensor with a
stride of 0 over a one-element storage, many tensors viewing one storage. The readers charge
every allocation they are about to make to the budget of the current read, which comes from
what the model declares (its weight shapes, see :func:`checkpoint_budget`), and stop with
:class:`CheckpointTooLargeError` before the allocation that would go over it.
"""
import contextlib
import contextvars

from .errors import CheckpointReadError

#: A checkpoint may hold more than the model's weights: an EMA copy, a larger head, the
#: optimizer's moments of a training checkpoint (the torch reader decodes every storage).
BUDGET_WEIGHT_COPIES = 4
#: Room for small models, whose checkpoints carry metadata and buffers of their own.
BUDGET_SLACK_BYTES = 64 << 20

_current = contextvars.ContextVar("keras_vit_checkpoint_budget", default=None)


class CheckpointTooLargeError(CheckpointReadError):
    """Reading the checkpoint would allocate more than the model it is for can need."""


class _Budget:
    def __init__(self, max_bytes, reason):
        self.max_bytes, self.reason, self.used = int(max_bytes), reason, 0


def checkpoint_budget(model):
    """Bytes a checkpoint for ``model`` may take once read: its float32 weights, a few times over."""
    import numpy as np

    weights = sum(int(np.prod(v.shape)) for v in model.weights) * 4
    return BUDGET_WEIGHT_COPIES * weights + BUDGET_SLACK_BYTES, (
        f"model '{model.name}' has {weights:,} bytes of float32 weights")


@contextlib.contextmanager
def limit(max_bytes, reason="the limit given"):
    """Every :func:`charge` inside the block counts against ``max_bytes`` (``None``: no limit)."""
    token = _current.set(None if max_bytes is None else _Budget(max_bytes, reason))
    try:
        yield
    finally:
        _current.reset(token)


def charge(nbytes, what):
    """Counts ``nbytes`` about to be allocated for ``what``; raises before going over the budget."""
    budget = _current.get()
    if budget is None:
        return
    budget.used += int(nbytes)
    if budget.used > budget.max_bytes:
        raise CheckpointTooLargeError(
            f"reading {what} would bring the checkpoint to {budget.used:,} bytes in memory, over the "
            f"{budget.max_bytes:,} bytes it can need ({budget.reason}); refusing before allocating it "
            "(a file declaring more data than it holds, or the checkpoint of a much larger model)."
        )
