"""Imports point one way: no module imports from a higher layer of docs/DESIGN.md's layer table.

The table is read from the document, so the doc and the code cannot drift apart: a module that no
row of the table names fails too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DESIGN = REPO / "docs" / "DESIGN.md"
ROOTS = ("src", "tfrecords_tools")  # packages, plus the entry script demo.py
OUR_PACKAGES = ("src", "tfrecords_tools")
_HEADER = re.compile(r"^\|\s*layer\s*\|\s*package\s*\|", re.IGNORECASE)
_TOKEN = re.compile(r"`([^`]+)`")


def read_layer_table(text: str) -> dict[str, int]:
    """``path -> layer`` of the table's package column: ``src/x.py`` (a module), ``src/pkg/``
    or ``tfrecords_tools/*`` (every module under the folder), ``demo.py``."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _HEADER.match(line)), None)
    if start is None:
        raise ValueError(f"{DESIGN}: no '| layer | package | holds |' table")
    table: dict[str, int] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        layer = int(cells[0])
        for token in _TOKEN.findall(cells[1]):
            entry = token.rstrip("*")
            if entry in table:
                raise ValueError(f"{DESIGN}: {entry} is in two rows")
            table[entry] = layer
    return table


def module_files() -> list[Path]:
    files = [REPO / "demo.py"]
    for root in ROOTS:
        files.extend(sorted((REPO / root).rglob("*.py")))
    return [f for f in files if "__pycache__" not in f.parts]


def layer_of(path: Path, table: dict[str, int]) -> int | None:
    """The layer of a module file: its own row, else the deepest folder row above it."""
    rel = path.relative_to(REPO).as_posix()
    if rel in table:
        return table[rel]
    folders = [entry for entry in table if entry.endswith("/") and rel.startswith(entry)]
    return table[max(folders, key=len)] if folders else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def module_path(name: str) -> Path | None:
    """The file of a module of ours (``src.smpl`` -> ``src/smpl/__init__.py``), or None."""
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import of our packages in a file (function-local included;
    ``from pkg import name`` counts ``pkg.name`` when that is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            for alias in node.names:
                if module_path(f"{base}.{alias.name}"):
                    found.append((node.lineno, f"{base}.{alias.name}"))
    return [(line, name) for line, name in found if name.split(".")[0] in OUR_PACKAGES]


@pytest.fixture(scope="module")
def table() -> dict[str, int]:
    return read_layer_table(DESIGN.read_text())


def test_the_table_names_every_module(table):
    missing = [f.relative_to(REPO).as_posix() for f in module_files() if layer_of(f, table) is None]
    assert not missing, f"modules missing from the layer table of {DESIGN.name}: {missing}"


def test_every_table_entry_exists(table):
    absent = [entry for entry in table if not (REPO / entry).exists()]
    assert not absent, f"{DESIGN.name} names paths that do not exist: {absent}"


def test_no_module_imports_from_a_higher_layer(table):
    violations = []
    for path in module_files():
        own = layer_of(path, table)
        for line, name in imported_modules(path):
            target = module_path(name)
            if target is None or own is None:
                continue
            their = layer_of(target, table)
            if their is not None and their > own:
                rel = path.relative_to(REPO).as_posix()
                violations.append(f"{rel}:{line} (layer {own}) imports {name} (layer {their})")
    assert not violations, "imports against the layers of DESIGN.md:\n" + "\n".join(violations)


def test_a_higher_import_is_caught():
    table = read_layer_table(
        "| layer | package | holds |\n|---|---|---|\n| 0 | `src/constants.py` | x |\n"
        "| 2 | `src/networks/` | y |\n"
    )
    assert layer_of(REPO / "src" / "networks" / "hmmr.py", table) == 2
    assert layer_of(REPO / "src" / "constants.py", table) == 0
    assert layer_of(REPO / "src" / "smpl" / "lbs.py", table) is None
