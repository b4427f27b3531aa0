"""Layers import one way (ARCHITECTURE.md): a lower layer never imports a higher one.

Read from the source with ``ast``, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Folder in the repository -> the gridledger package it installs as (pyproject.toml).
PACKAGES = {
    "formats": "gridledger.formats",
    "chaincode": "gridledger.chaincode",
    "network": "gridledger.network",
    "clients": "gridledger.clients",
    "meter_bridge": "gridledger.meter_bridge",
    "webui": "gridledger.webui",
}
ERRORS = "gridledger.errors"
# What each layer may import of ours, besides itself.
ALLOWED = {
    "gridledger.formats": set(),
    "gridledger.errors": set(),
    "gridledger.chaincode": {"gridledger.formats"},
    "gridledger.network": {"gridledger.formats", ERRORS},
    "gridledger.clients": {"gridledger.formats", ERRORS, "gridledger.network"},
    "gridledger.meter_bridge": {"gridledger.formats", ERRORS, "gridledger.network",
                                "gridledger.clients"},
    "gridledger.webui": {"gridledger.formats", ERRORS, "gridledger.network",
                         "gridledger.clients"},
}


def _modules() -> list[tuple[str, Path]]:
    found = [(PACKAGES[folder], path) for folder in PACKAGES if (ROOT / folder).is_dir()
             for path in sorted((ROOT / folder).rglob("*.py"))]
    found.append((ERRORS, ROOT / "gridledger" / "errors.py"))
    return found


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    folder = next(f for f in PACKAGES if (ROOT / f) in path.parents)
    rel = path.relative_to(ROOT / folder).with_suffix("").parts
    base = [*module.split("."), *rel[:-1]]  # the package the file is in
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _ours(name: str) -> str | None:
    """The layer an imported name belongs to, or None when it is not ours."""
    if name == ERRORS or name.startswith(ERRORS + "."):
        return ERRORS
    for package in PACKAGES.values():
        if name == package or name.startswith(package + "."):
            return package
    if name == "gridledger" or name.startswith("gridledger."):
        return "gridledger"  # the top: cli, demo
    return None


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, _absolute(module, path, node)))
    return out


@pytest.mark.parametrize(("layer", "path"), _modules(),
                         ids=[str(p.relative_to(ROOT)) for _, p in _modules()])
def test_no_module_imports_a_layer_above_its_own(layer: str, path: Path) -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for line, name in _imports(layer, path)
             if (target := _ours(name)) not in (None, layer) and target not in ALLOWED[layer]]
    assert wrong == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    # The check itself: a network module importing the clients is reported.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from gridledger.clients.session import Session\n")
    [(_, name)] = _imports("gridledger.network", probe)
    assert _ours(name) == "gridledger.clients"
    assert "gridledger.clients" not in ALLOWED["gridledger.network"]
