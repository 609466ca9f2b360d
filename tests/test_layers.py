"""Imports point down the layers (README, "Project layout"): a module that reaches up makes the
flow climb back and ties pure protocol code to the database."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fedgroup"

# layer -> the fedgroup subpackages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "activitypub": {"storage", "service", "pipeline", "web", "cli", "app", "runtime"},
    "storage": {"activitypub", "service", "pipeline", "web", "cli", "app", "runtime"},
    "service": {"pipeline", "web", "cli", "app"},
    "pipeline": {"web", "cli", "app"},
    "policy": {"storage", "service", "pipeline", "web", "cli", "app", "activitypub"},
}


def _fedgroup_imports(path: Path) -> set[str]:
    """The top-level fedgroup subpackages a module imports, relative imports resolved."""
    module_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package_parts = module_parts[:-1] if path.name != "__init__.py" else module_parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
                if not node.module:
                    names = [f"{target}.{alias.name}" for alias in node.names]
                else:
                    names = [target]
            elif node.module:
                names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "fedgroup" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules_of(layer: str) -> list[Path]:
    target = PACKAGE / layer
    return sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_point_down(layer: str) -> None:
    offences = [
        f"{path.relative_to(PACKAGE.parent)} imports fedgroup.{name}"
        for path in _modules_of(layer)
        for name in sorted(_fedgroup_imports(path) & FORBIDDEN[layer])
    ]
    assert offences == []


def test_the_layer_check_sees_relative_imports() -> None:
    """The checker itself must catch an upward import, or the test above proves nothing."""
    handler = PACKAGE / "pipeline" / "handlers" / "follow.py"
    assert "service" in _fedgroup_imports(handler)
