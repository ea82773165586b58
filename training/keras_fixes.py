"""Work-arounds for upstream Keras bugs that break ``tf.distribute`` training.

Everything here is a narrowly scoped, version-gated, idempotent patch of Keras' TensorFlow
trainer. Each patch delegates to the original Keras code except in the exact situation that is
broken upstream, so removing this module is safe once Keras ships a fix: set
``FIRST_FIXED_KERAS_VERSION`` to that release and the patch switches itself off.

The bug (reproduced with Keras 3.15.1 and TF 2.21): ``model.fit`` under
``MultiWorkerMirroredStrategy`` with more than one worker fails, even for a one-layer model.

1. ``TensorFlowTrainer._maybe_symbolic_build`` (Keras >= 3.5) calls
   ``strategy.reduce("MEAN", batch, axis=None)`` on the first ``PerReplica`` data batch to
   get a batch to build the model with. Under multi-worker collectives this fails with
   "Attempt to convert a value (PerReplica...) to a Tensor". The build only needs shapes and
   dtypes, so the first local replica's shard is what we hand it instead.
2. ``reduce_per_replica`` (all Keras 3 releases) reduces every step's logs with
   ``strategy.reduce("MEAN", v, axis=0)``; logs are 0-d scalars, so the collective fails
   with "Invalid reduction dimension 0 for input with 0 dimensions". For 0-d values we
   reduce with ``axis=None`` (a plain cross-replica mean), which is what was meant.
"""
import os

import keras
from keras.src.backend.tensorflow import trainer as _tf_trainer
from keras import tree

# Set to the first Keras release that fixes both bugs upstream; the patch then does nothing.
FIRST_FIXED_KERAS_VERSION = None
# Setting this environment variable to "1" turns the patch off (used by the test that proves
# the upstream bug still exists).
DISABLE_ENV_VAR = "KERAS_VIT_DISABLE_KERAS_FIXES"

_MARK = "_keras_vit_multi_worker_fix"


def _version_tuple(version):
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def multi_worker_fix_needed(keras_version=None):
    """Whether this Keras release needs the ``MultiWorkerMirroredStrategy`` fix.

    Args:
        keras_version: Version string to check; defaults to the installed Keras.

    Returns:
        True for Keras 3 releases older than ``FIRST_FIXED_KERAS_VERSION`` (all of them while
        that is ``None``) running on the TensorFlow backend.
    """
    version = _version_tuple(keras_version or keras.__version__)
    if version < (3, 0, 0):
        return False
    if FIRST_FIXED_KERAS_VERSION is not None and version >= _version_tuple(
        FIRST_FIXED_KERAS_VERSION
    ):
        return False
    return keras.backend.backend() == "tensorflow"


def _is_multi_worker(strategy):
    import tensorflow as tf

    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and strategy.extended._in_multi_worker_mode()


def _patched_maybe_symbolic_build(original):
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None or not _is_multi_worker(strategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        import tensorflow as tf

        for _, _, it in iterator:
            batch = next(it)
            # Building needs only shapes and dtypes: one local shard is enough, and taking
            # it involves no cross-worker collective.
            data_batch = tree.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues)
                else v,
                batch,
            )
            break
        return original(self, iterator=None, data_batch=data_batch)

    setattr(_maybe_symbolic_build, _MARK, True)
    return _maybe_symbolic_build


def _patched_reduce_per_replica(original):
    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not _is_multi_worker(strategy):
            return original(values, strategy, reduction)

        def _reduce(v):
            if getattr(v, "shape", None) is not None and v.shape.rank == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return original(v, strategy, reduction)

        return tree.map_structure(_reduce, values)

    setattr(reduce_per_replica, _MARK, True)
    return reduce_per_replica


def apply_multi_worker_fix():
    """Patch Keras so ``model.fit`` works under ``MultiWorkerMirroredStrategy``.

    Safe to call any number of times: it patches once, only when
    ``multi_worker_fix_needed()`` is true and ``KERAS_VIT_DISABLE_KERAS_FIXES`` is not "1".
    Outside multi-worker training the patched functions behave exactly like the originals.
    ``keras_vit.training.get_strategy("multi_worker")`` calls it for you; call it yourself if
    you create the strategy by hand.

    Returns:
        True if the fix is active after the call.
    """
    if os.environ.get(DISABLE_ENV_VAR) == "1" or not multi_worker_fix_needed():
        return is_multi_worker_fix_applied()
    trainer_cls = _tf_trainer.TensorFlowTrainer
    if not getattr(trainer_cls._maybe_symbolic_build, _MARK, False):
        trainer_cls._maybe_symbolic_build = _patched_maybe_symbolic_build(
            trainer_cls._maybe_symbolic_build
        )
    if not getattr(_tf_trainer.reduce_per_replica, _MARK, False):
        # `_make_function` looks this name up in the module at trace time.
        _tf_trainer.reduce_per_replica = _patched_reduce_per_replica(
            _tf_trainer.reduce_per_replica
        )
    return True


def is_multi_worker_fix_applied():
    """Whether ``apply_multi_worker_fix()`` has patched Keras in this process."""
    return bool(
        getattr(_tf_trainer.TensorFlowTrainer._maybe_symbolic_build, _MARK, False)
        and getattr(_tf_trainer.reduce_per_replica, _MARK, False)
    )
