"""Imports point down: utils ← layers ← weights ← registry ← models ← training → tflite ← cli.

A module may import its own subsystem and anything below it, never above: ``tflite`` must not
import ``training`` (training exports through tflite), nothing below the command line imports
``keras_vit.cli``, and the layers know nothing of models. The repository folders ``training/``
and ``tflite/`` are the installed ``keras_vit.training`` and ``keras_vit.tflite``. The graph is
read from the source (``ast``), so lazy imports inside functions count too.
"""
import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = {"keras_vit": "keras_vit", "training": "keras_vit.training", "tflite": "keras_vit.tflite"}

#: subsystem -> level; a module may import subsystems at its own level or below.
LEVELS = {
    "keras_vit.utils": 0, "keras_vit.data": 0, "keras_vit.datasets": 0,
    "keras_vit.layers": 1,
    "keras_vit.weights": 2,
    # create_model(dir or "hf://...") and save_pretrained: the registry's own file format.
    "keras_vit.registry": 3, "keras_vit.pretrained": 3,
    "keras_vit.models": 4, "keras_vit.optimizers": 4, "keras_vit.visualize": 4,
    "keras_vit.__version__": 0,  # a constant of the root package
    "keras_vit.tflite": 5,
    "keras_vit.training": 6,
    "keras_vit.cli": 7,
}
#: ``import keras_vit`` (the public API: create_model, list_models, ...) resolves to the
#: registry and the models, so it is allowed from the models' level up.
ROOT_PACKAGE_LEVEL = 4


def _modules():
    for folder, package in FOLDERS.items():
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for file in files:
                if file.endswith(".py"):
                    path = os.path.join(dirpath, file)
                    rel = os.path.relpath(path, os.path.join(ROOT, folder))[:-3].replace(os.sep, ".")
                    name = package if rel == "__init__" else f"{package}.{rel}".removesuffix(".__init__")
                    yield name, path


def _level(module):
    """The level of ``module`` (its longest prefix in LEVELS); None for the root package."""
    parts = module.split(".")
    for i in range(len(parts), 1, -1):
        if ".".join(parts[:i]) in LEVELS:
            return LEVELS[".".join(parts[:i])]
    return None


def _imports(name, path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    base = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                anchor = base
                for _ in range(node.level - 1):
                    anchor = anchor.rsplit(".", 1)[0]
                module = f"{anchor}.{module}" if module else anchor
            for alias in node.names:
                # `from keras_vit import models` imports a subsystem, `from keras_vit import create_model` the API.
                yield node.lineno, f"{module}.{alias.name}" if module == "keras_vit" else module
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def upward_imports():
    found = []
    for name, path in _modules():
        own = _level(name)
        if own is None:
            continue  # the root package's __init__ sits on top
        for line, target in _imports(name, path):
            if not target.startswith("keras_vit"):
                continue
            level = _level(target)
            if level is None:  # the root package or one of its public names
                level = ROOT_PACKAGE_LEVEL
            if level > own:
                found.append(f"{os.path.relpath(path, ROOT)}:{line}: {name} (level {own}) imports {target} (level {level})")
    return found


def test_every_import_points_down():
    assert upward_imports() == []


def test_the_check_finds_an_upward_import(tmp_path, monkeypatch):
    # A layer importing a model must be caught: the check itself can fail.
    fake = tmp_path / "keras_vit" / "layers"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from keras_vit.models.vit import model\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    monkeypatch.setattr(sys.modules[__name__], "FOLDERS", {"keras_vit": "keras_vit"})
    assert len(upward_imports()) == 1 and "keras_vit.layers.bad (level 1)" in upward_imports()[0]


def test_import_reads_no_command_line():
    with open(os.path.join(ROOT, "keras_vit", "__init__.py"), encoding="utf-8") as f:
        source = f.read()
    assert "sys.argv" not in source and "orig_argv" not in source


@pytest.mark.parametrize("order", ["keras_vit first", "keras first"])
def test_layers_are_registered_whichever_is_imported_first(order):
    first, second = ("keras_vit", "keras") if order == "keras_vit first" else ("keras", "keras_vit")
    code = (f"import sys, {first}\n"
            f"assert ('keras' in sys.modules) == ({first!r} == 'keras'), 'import keras_vit loaded keras'\n"
            f"import {second}\n"
            "import keras\n"
            "assert keras.saving.get_registered_object('keras_vit>Attention') is not None\n"
            "assert keras.saving.get_registered_object('keras_vit>Preprocessing') is not None\n"
            "print('ok')\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_registration_waits_when_a_keras_vit_module_loads_keras():
    # Keras first imported from inside keras_vit.layers (half executed): registering there would
    # import keras_vit.layers again. It happens at the next import that starts afterwards.
    code = ("import keras_vit.layers\n"
            "import keras, wave\n"
            "assert keras.saving.get_registered_object('keras_vit>Unfold') is not None\n"
            "print('ok')\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]

