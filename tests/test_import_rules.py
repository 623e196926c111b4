"""The package's imports follow the layers drawn in docs/architecture.md.

The rules are read from that document (its table of layers, its "`a` imports
`b`" permissions and its "`x.py` never imports `y.py`" rules), so the
document is the one statement of them and this test keeps the code to it.
Imports inside functions count too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "duis"
DOC = ROOT / "docs" / "architecture.md"

_TICKED = re.compile(r"`([\w.]+)`")
_PERMISSION = re.compile(r"((?:`\w+`(?:, | and )?)+) imports? ((?:`\w+`(?:, | and )?)+)")
_NEVER = re.compile(r"`(\w+)\.py` never\s+imports\s+((?:`\w+\.py`(?: or )?)+)")


def _rules() -> tuple[dict[str, int], set[tuple[str, str]], set[tuple[str, str]]]:
    """(package -> layer, allowed same-layer edges, forbidden module edges)."""
    text = DOC.read_text("utf-8")
    section = text.split("## What each package may import", 1)[1]
    layers: dict[str, int] = {}
    allowed: set[tuple[str, str]] = set()
    rows = [line for line in section.splitlines() if re.match(r"\| \d\. ", line)]
    for row in rows:
        number, packages, may = (cell.strip() for cell in row.strip("|").split("|"))
        layer = int(number.split(".")[0])
        for name in _TICKED.findall(packages):
            layers[name] = layer
        for subjects, objects in _PERMISSION.findall(may):
            for a in _TICKED.findall(subjects):
                for b in _TICKED.findall(objects):
                    allowed.add((a, b))
    forbidden = {(a, b[:-3]) for a, objects in _NEVER.findall(" ".join(section.split()))
                 for b in _TICKED.findall(objects)}
    return layers, allowed, forbidden


def _package_of(module: str) -> str:
    """``duis.serve.engine`` -> ``serve``; ``duis.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported duis module, line) for every import in the file."""
    relative = path.relative_to(ROOT).with_suffix("")
    here = list(relative.parts)
    if here[-1] == "__init__":
        here = here[:-1]
        package = here
    else:
        package = here[:-1]
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names
                      if alias.name.startswith("duis.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "duis" or target.startswith("duis."):
                if target == "duis":  # from duis import x / from .. import x
                    found += [(f"duis.{alias.name}", node.lineno) for alias in node.names]
                else:
                    found.append((target, node.lineno))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_the_document_gives_rules():
    layers, allowed, forbidden = _rules()
    assert layers["errors"] == 0 and layers["dsp"] == 3 and layers["cli"] == 5
    assert ("messages", "schema") in allowed and ("pytest_plugin", "scenario") in allowed
    assert ("worker", "pool") in forbidden and ("hub_steps", "runner") in forbidden
    # every package and top-level module of duis has a layer
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert sorted(names - set(layers)) == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path):
    layers, allowed, forbidden = _rules()
    relative = path.relative_to(PACKAGE)
    mine = relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 \
        else relative.stem
    if mine == "__init__":
        return
    wrong = []
    for target, line in _imports(path):
        theirs = _package_of(target)
        if theirs == mine or theirs not in layers and theirs.startswith("__"):
            continue  # its own package, or duis/__init__.py's __version__
        if layers[theirs] > layers[mine]:
            wrong.append(f"line {line}: {target} (layer {layers[theirs]}) from layer "
                         f"{layers[mine]}")
        elif layers[theirs] == layers[mine] and (mine, theirs) not in allowed:
            wrong.append(f"line {line}: {target} (same layer, not allowed by the table)")
    for target, line in _imports(path):
        if (path.stem, target.rsplit(".", 1)[-1]) in forbidden \
                and _package_of(target) == mine:
            wrong.append(f"line {line}: {target} (a 'never imports' rule)")
    assert wrong == []


def test_the_import_reader_sees_imports_of_every_form():
    found = {target for target, _ in _imports(PACKAGE / "serve" / "engine.py")}
    assert {"duis.dsp", "duis.serve.pool"} <= found  # `from ..dsp import`, `from .pool import`
    # an import inside a function counts
    found = {target for target, _ in _imports(PACKAGE / "pytest_plugin.py")}
    assert "duis.scenario.golden" in found
