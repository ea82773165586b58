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


def _initializing(package):
    """True while a module of ``package`` is being executed (an import chain is in flight)."""
    return any(getattr(getattr(module, "__spec__", None), "_initializing", False)
               for name, module in list(sys.modules.items()) if name == package or name.startswith(package + "."))


class _WhenIdle:
    """A ``sys.meta_path`` finder that runs ``callback`` at the first import that starts once no
    module of ``package`` is being executed any more; it finds nothing itself."""

    def __init__(self, package, callback):
        self.package, self.callback = package, callback

    def find_spec(self, fullname, path=None, target=None):
        if not _initializing(self.package) and self in sys.meta_path:
            sys.meta_path.remove(self)
            self.callback()
        return None


class _AfterImport:
    """A ``sys.meta_path`` finder that runs ``callback`` once module ``name`` has been imported."""

    def __init__(self, name, callback, defer_while=None):
        self.name, self.callback, self.defer_while = name, callback, defer_while

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once; and the lookup below must not find us again
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _CallbackLoader(spec.loader, self._run)
        return spec

    def _run(self):
        if self.defer_while and _initializing(self.defer_while):
            # The module was imported from inside a half-executed module of `defer_while`: running
            # the callback now could import that module again. Run it at the next import instead.
            sys.meta_path.insert(0, _WhenIdle(self.defer_while, self.callback))
        else:
            self.callback()


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


def after_import(name, callback, defer_while=None):
    """Call ``callback()`` now if module ``name`` is imported, else right after its first import.

    ``defer_while``: a package whose modules the callback imports. When ``name`` is first imported
    from inside one of them (mid-execution), the callback waits for the next import that starts
    after that package's modules have all finished executing.

    ``import keras_vit`` uses it to register its layers with Keras as soon as Keras is loaded,
    without loading Keras itself: ``keras-vit --help`` stays fast, and a ``.keras`` file still
    loads with ``keras.saving.load_model`` whichever of the two a program imports first.

    Example:
        >>> after_import("keras", lambda: importlib.import_module("keras_vit.models"))
    """
    module = sys.modules.get(name, False)
    if module is None:
        return  # the import of `name` is blocked here (sys.modules[name] = None): nothing to wait for
    if module is not False:
        callback()
        return
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        sys.meta_path.insert(0, _AfterImport(name, callback, defer_while))
