"""The package's rooms import downwards only, so no two modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

from stack import config

PACKAGE = config.ROOT / "stack"
# Lower layers first; a module may import from its own layer or any earlier one.
LAYERS = [
    {"stack.errors", "stack.config", "stack.http", "stack.tokens", "stack.postgrest_compat"},
    {"stack.services"},
    {"stack.db", "stack.ports", "stack.secret"},
    {"stack.recipes"},
    {"stack.course", "stack.harness"},
    {"stack.cli", "stack"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(config.ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] in ("__init__", "__main__") else parts)


def layer_of(module: str) -> int:
    for depth in range(module.count(".") + 1, 0, -1):
        prefix = ".".join(module.split(".")[:depth])
        for index, layer in enumerate(LAYERS):
            if prefix in layer:
                return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")


def imported_modules(path: Path) -> set[str]:
    own = module_name(path)
    package = own if path.name in ("__init__.py", "__main__.py") else own.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
                # `from . import x` names submodules: judge each one.
                found |= {f"{target}.{alias.name}" for alias in node.names} if not node.module else {target}
            elif node.module and node.module.startswith("stack"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("stack")}
    return found


def test_every_module_imports_only_its_own_layer_or_lower():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = module_name(path)
        for target in imported_modules(path):
            if target.startswith(own + ".") or own.startswith(target + "."):
                continue  # a package and its own modules
            if layer_of(target) > layer_of(own):
                upward.append(f"{path.relative_to(config.ROOT)} imports {target}")
    assert not upward, "upward imports (they make circles possible):\n" + "\n".join(upward)
