"""The import contracts (pyproject.toml, [tool.importlinter], run by `lint-imports`)
must cover every package of src/medhub: a new domain is placed in them (DESIGN.md,
"Layout and layering") before it can be merged, or these tests fail."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "medhub"

# A package holding any of these modules is a domain and follows the domain layers.
DOMAIN_MODULES = ("router.py", "service.py", "repository.py")


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def _packages() -> list[str]:
    return sorted(init.parent.name for init in SRC.glob("*/__init__.py"))


def _domains() -> list[str]:
    return [
        name
        for name in _packages()
        if name != "kit" and any((SRC / name / module).exists() for module in DOMAIN_MODULES)
    ]


def _layer_names(layers: list[str]) -> set[str]:
    names = (name.strip() for layer in layers for name in re.split(r"[|:]", layer))
    return {name.strip("()") for name in names if name}


def test_every_package_has_a_place_in_the_package_layers() -> None:
    placed = _layer_names(_contracts()["packages"]["layers"])
    assert sorted(set(_packages()) - placed) == []


def test_every_domain_follows_the_domain_layers() -> None:
    containers = {c.removeprefix("medhub.") for c in _contracts()["domain-layers"]["containers"]}
    assert sorted(set(_domains()) - containers) == []
    assert sorted(containers - set(_domains())) == []


def test_every_domain_repository_is_protected() -> None:
    contracts = _contracts()
    for domain in _domains():
        if not (SRC / domain / "repository.py").exists():
            continue
        contract = contracts.get(f"{domain}-repository")
        assert contract is not None, f"no `{domain}-repository` contract in pyproject.toml"
        assert contract["type"] == "protected"
        assert contract["protected_modules"] == [f"medhub.{domain}.repository"]
        assert contract["allowed_importers"] == [f"medhub.{domain}"]
