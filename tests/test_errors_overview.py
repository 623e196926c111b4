"""The error hierarchy drawn in ``duis/errors.py``'s docstring is the real one:
every subclass of DuisError is there, under its real parent, and nothing else."""

from __future__ import annotations

import importlib
import pkgutil
import re

import duis
from duis import errors
from duis.errors import DuisError

_NAME = re.compile(r"[A-Z][A-Za-z0-9]+")


def _every_error() -> dict[str, type]:
    for module in pkgutil.walk_packages(duis.__path__, "duis."):
        importlib.import_module(module.name)
    found: dict[str, type] = {}
    pending = [DuisError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def _drawn() -> dict[str, str | None]:
    """Class name -> the parent the drawing puts it under (None for the root)."""
    text = errors.__doc__.split("::", 1)[1]
    parents: dict[str, str | None] = {}
    last_at: dict[int, str] = {}
    continued: tuple[int, str | None] | None = None
    for line in text.splitlines():
        match = _NAME.search(line)
        if not match:
            continue
        column = match.start()
        names_part = re.split(r" {2,}", line[column:], maxsplit=1)[0]
        names = [n.strip() for n in names_part.split(",") if n.strip()]
        if continued is not None:
            column, parent = continued
        else:
            parent = last_at.get(column - 4) if column else None
        for name in names:
            assert _NAME.fullmatch(name), f"not a class name in the drawing: {name!r}"
            assert name not in parents, f"{name} drawn twice"
            parents[name] = parent
        last_at[column] = names[-1]
        continued = (column, parent) if names_part.rstrip().endswith(",") else None
    return parents


def test_the_drawing_names_every_error_class_and_only_those():
    real = _every_error()
    drawn = _drawn()
    assert sorted(set(real) - set(drawn)) == [], "add these to duis/errors.py's overview"
    assert sorted(set(drawn) - set(real)) == [], "the overview names classes that do not exist"


def test_each_class_is_drawn_under_its_parent():
    real = _every_error()
    for name, parent in _drawn().items():
        cls = real[name]
        base = next((b for b in cls.__bases__ if issubclass(b, DuisError)), None)
        assert (base.__name__ if base else None) == parent, name


def test_the_drawing_is_not_trivially_empty():
    drawn = _drawn()
    assert len(drawn) >= 60 and drawn["DuisError"] is None
    assert drawn["TooManyNodes"] == "UnsafeXML"
