"""Lazy front doors for svccakit's packages (in the manner of Scientific Python's SPEC 1).

A package's ``__init__`` lists which module defines each public name; the module is
imported the first time the name is used. ``import svccakit`` therefore loads neither
torch nor h5py, ``from svccakit import svcca`` loads only numpy and scipy, and a
submodule and a function of the same name can never shadow each other.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def attach(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable, list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> the module (absolute name) that defines it.
    """
    names = sorted(exports)

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip this
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__, names
