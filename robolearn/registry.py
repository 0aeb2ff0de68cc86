"""One registry style for every family of methods (objectives, heads), as LeRobot's `register_subclass`.

A method registers itself beside its class with `@REGISTRY.register("name")`; nothing else lists it.
A family's package finds its built-in methods by importing its own modules once (`discover`), so a
new method is a new file in that package; a method defined anywhere else (a plugin, a test) is
registered as soon as its module is imported.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, Iterable, Optional, TypeVar

from robolearn.errors import RobolearnError

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    def __init__(self, kind: str, package: Optional[str], skip: Iterable[str] = ()):
        """kind: what the family is called in messages; package: where its built-in methods live
        (None: they are all defined beside the registry, nothing to discover); skip: modules of that package that hold no method (helpers, the package's higher layers)."""
        self.kind, self.package, self.skip = kind, package, frozenset(skip)
        self._classes: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        def deco(cls: T) -> T:
            old = self._classes.get(name)
            # Reimporting the same module (importlib.reload, a test) replaces the class; two different
            # methods under one name are a mistake.
            if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
                raise RobolearnError(f"{self.kind} '{name}' is registered twice ({old.__module__}, {cls.__module__})")
            cls.name = name
            self._classes[name] = cls
            return cls

        return deco

    def discover(self) -> None:
        if self._discovered or self.package is None:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name not in self.skip and not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")

    def names(self) -> tuple[str, ...]:
        self.discover()
        return tuple(self._classes)

    def items(self) -> list[tuple[str, T]]:
        self.discover()
        return list(self._classes.items())

    def get(self, name: str) -> T:
        self.discover()
        if name not in self._classes:
            raise RobolearnError(f"unknown {self.kind} '{name}'; known: {', '.join(self._classes)}")
        return self._classes[name]

    def __contains__(self, name: str) -> bool:
        self.discover()
        return name in self._classes

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
