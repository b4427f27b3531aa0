"""The chaincode's import rules (chaincode/README.md, "What may import what").

Contract packages import ``common``, ``shim`` and ``gridledger.formats``; another contract
package only through its published ``api`` module; ``common`` and ``shim`` import no
contract package. Checked on the source, so a new module cannot slip past.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gridledger.chaincode

ROOT = Path(gridledger.chaincode.__file__).parent
PLUMBING = ("common", "shim")
CONTRACT_PACKAGES = sorted(
    p.name for p in ROOT.iterdir()
    if (p / "__init__.py").is_file() and p.name not in PLUMBING
)


def _imports(path: Path) -> list[str]:
    """Every ``gridledger.chaincode...`` module a file imports, as dotted names below it."""
    package = ["gridledger", "chaincode", *path.parent.relative_to(ROOT).parts]
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = [*base, *(node.module.split(".") if node.module else [])]
            # "from ..wattcoin import api" imports the module wattcoin.api.
            names = [".".join([*module, alias.name]) for alias in node.names]
        else:
            continue
        prefix = "gridledger.chaincode."
        found += [n[len(prefix):] for n in names if n.startswith(prefix)]
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_there_are_contract_packages_to_check() -> None:
    assert {"health", "metering", "wattcoin"} <= set(CONTRACT_PACKAGES)


@pytest.mark.parametrize("package", CONTRACT_PACKAGES)
def test_contracts_reach_each_other_only_through_api(package: str) -> None:
    for path in _sources(package):
        for name in _imports(path):
            top, _, rest = name.partition(".")
            if top in (package, *PLUMBING):
                continue
            assert top in CONTRACT_PACKAGES, (path, name)
            assert rest.split(".")[0] == "api", f"{path.name} imports {name}, not {top}.api"


@pytest.mark.parametrize("package", PLUMBING)
def test_plumbing_imports_no_contract_package(package: str) -> None:
    for path in _sources(package):
        for name in _imports(path):
            assert name.partition(".")[0] in PLUMBING, (path, name)
