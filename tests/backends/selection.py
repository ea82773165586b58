"""What the backend runs (``test_backends.py``) run on JAX and PyTorch, and the pytest plugin that
selects it inside the child process.

Chosen from the registry, so a family is covered as soon as it is registered:

* ``tests/test_registry.py``: ``test_tiny_round_trips`` (build, forward, layer configs,
  ``.keras`` save/load), ``test_tiny_mixed_precision`` and ``test_features_only`` for one tiny
  configuration per family (the first name of the family in ``TINY``; CI's time pays for one:
  a JAX compile costs seconds per model). The TFLite tests stay on TensorFlow, the export
  backend.
* ``tests/backends/test_fit_step.py``: one ``model.fit`` step per family.
* One parity test per family from ``tests/models/test_<family>*.py``: the first whose name
  says it compares with a reference (``parity``, ``logits``, ``matches_timm``...), TFLite and
  quantization tests excluded. A family without one fails the backend run.

The plugin writes the node ids it kept, with each one's family, to the JSON file named by
``KERAS_VIT_BACKEND_SELECTION`` so that the parent can check every family was covered.
"""
import json
import os
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL_TESTS = ROOT / "tests" / "models"
REGISTRY_TESTS = ROOT / "tests" / "test_registry.py"
FIT_TESTS = ROOT / "tests" / "backends" / "test_fit_step.py"

ONE_TINY_PER_FAMILY = {"test_tiny_round_trips", "test_tiny_mixed_precision", "test_features_only", "test_fit_step"}
PARITY_NAME = re.compile(r"parity|logits|match(es)?_(timm|transformers|official|reference)")
NOT_PARITY = re.compile(r"tflite|export|int8|float16|quantiz")


def families():
    """Every registered family, sorted."""
    import keras_vit

    return sorted({keras_vit.get_model_spec(n).family for n in keras_vit.list_models()})


def family_of_test_file(path, known):
    """The family a ``tests/models/test_<family>[_<topic>].py`` file tests (the longest name
    that fits: ``test_pvt_v2.py`` is pvt_v2's, not pvt's), or ``None``."""
    stem = pathlib.Path(path).stem
    fits = [f for f in known if stem == f"test_{f}" or stem.startswith(f"test_{f}_")]
    return max(fits, key=len) if fits else None


def test_files():
    """The files to hand to the child pytest (paths relative to the repository root)."""
    known = families()
    model_files = sorted(p for p in MODEL_TESTS.glob("test_*.py") if family_of_test_file(p, known))
    return [str(p.relative_to(ROOT)) for p in [REGISTRY_TESTS, FIT_TESTS, *model_files]]


def one_tiny_per_family():
    """The first (sorted) name of ``tests.test_registry.TINY`` in every family."""
    import keras_vit
    from tests.test_registry import TINY

    chosen = {}
    for name in TINY:
        chosen.setdefault(keras_vit.get_model_spec(name).family, name)
    return chosen


def _param(item, key):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(key) if callspec else None


def pytest_collection_modifyitems(config, items):
    import keras_vit

    known = families()
    per_family = set(one_tiny_per_family().values())
    keep, parity, record = [], {}, []
    for item in items:
        name = getattr(item, "originalname", item.name)
        path = pathlib.Path(str(item.fspath))
        family = None
        if path.name in (REGISTRY_TESTS.name, FIT_TESTS.name):
            model = _param(item, "name")
            if model is None or name not in ONE_TINY_PER_FAMILY or model not in per_family:
                continue
            family = keras_vit.get_model_spec(model).family
        else:
            family = family_of_test_file(path, known)
            if family is None or family in parity:
                continue
            if not PARITY_NAME.search(name) or NOT_PARITY.search(name):
                continue
            parity[family] = item.nodeid
        keep.append(item)
        record.append({"nodeid": item.nodeid, "family": family, "test": name})
    kept = {id(item) for item in keep}
    deselected = [item for item in items if id(item) not in kept]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = keep
    out = os.environ.get("KERAS_VIT_BACKEND_SELECTION")
    if out:
        pathlib.Path(out).write_text(json.dumps({"families": known, "parity": parity, "items": record}, indent=1))


_EXIT_STATUS = {}


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["status"] = int(exitstatus)


def pytest_unconfigure(config):
    # With KERAS_BACKEND=torch the interpreter's teardown segfaults after every test has run
    # and pytest has printed its summary (PyTorch 2.14 and TensorFlow 2.21 native modules
    # unloading; signal 11 seen on the 70-test run): leave with pytest's own status instead.
    if "status" in _EXIT_STATUS:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS["status"])
