"""Names a package imports on first use (PEP 562), so that importing it stays light."""
import importlib


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
