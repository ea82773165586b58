"""Names a package imports on first use (PEP 562), so that importing it stays light."""
import importlib
import importlib.util
import sys


def lazy_exports(package, exports, prepare=None):
    """``(__getattr__, __dir__)`` for ``package`` whose public names live in submodules.

    Args:
        package: the package's ``__name__``.
        exports: ``{name: module}``; a module without a dot is a submodule of ``package``,
            ``None`` means the name is itself a submodule.
        prepare: called before the first import of any name (e.g. registering families).

    Example (a package's ``__init__.py``):
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"train": "trainer"})
    """

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if prepare is not None:
            prepare()
        module = exports[name]
        if module is None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(module if "." in module else f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(exports))

    return __getattr__, __dir__


class _AfterImport:
    """A ``sys.meta_path`` finder that runs ``callback`` once module ``name`` has been imported."""

    def __init__(self, name, callback):
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once; and the lookup below must not find us again
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _CallbackLoader(spec.loader, self.callback)
        return spec


class _CallbackLoader:
    """Delegates to the real loader, then calls ``callback`` after the module has run."""

    def __init__(self, loader, callback):
        self._loader, self._callback = loader, callback

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.__spec__.loader = self._loader  # the module keeps the real loader
        self._callback()

    def __getattr__(self, name):
        return getattr(self._loader, name)


def after_import(name, callback):
    """Call ``callback()`` now if module ``name`` is imported, else right after its first import.

    ``import keras_vit`` uses it to register its layers with Keras as soon as Keras is loaded,
    without loading Keras itself: ``keras-vit --help`` stays fast, and a ``.keras`` file still
    loads with ``keras.saving.load_model`` whichever of the two a program imports first.

    Example:
        >>> after_import("keras", lambda: importlib.import_module("keras_vit.models"))
    """
    if name in sys.modules:
        callback()
    elif importlib.util.find_spec(name) is not None:
        sys.meta_path.insert(0, _AfterImport(name, callback))
