"""The package's shape: three parts, layered, no import circles, a light front door."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import chainorder as co

PACKAGE = Path(co.__file__).parent
#: each part may import from the parts listed (and from itself and the top-level helpers)
LAYERS = {"algebra": set(), "networks": {"algebra"}, "lab": {"algebra", "networks"}}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every chainorder import in ``path``, function-level ones included."""
    tree = ast.parse(path.read_text())
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "chainorder":
                out.append((mod, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "chainorder"]
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for target, names in _imports(path):
            for name in names or [""]:
                full = f"{target}.{name}" if name else target
                graph[mod].add(full if full in modules else target)
    return graph


def _part(module: str) -> str | None:
    bits = module.split(".")
    return bits[1] if len(bits) > 1 and bits[1] in LAYERS else None


def test_no_import_circles() -> None:
    graph = _graph()
    # a package __init__ re-exports its children: an edge child -> parent package is
    # not a circle unless the child imports the package's re-exported names, which it must not
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join([*stack[stack.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])


def test_parts_import_only_down_the_layering() -> None:
    for mod, targets in _graph().items():
        part = _part(mod)
        if part is None:
            continue
        for target in targets:
            other = _part(target)
            if other is not None and other != part:
                assert other in LAYERS[part], f"{mod} imports {target}: {part} must not use {other}"
            assert target != "chainorder", f"{mod} imports the package front door"


def test_no_private_name_crosses_modules() -> None:
    for path in PACKAGE.rglob("*.py"):
        for target, names in _imports(path):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            assert not private, f"{_module_name(path)} imports {private} from {target}"
            assert not any(b.startswith("_") for b in target.split(".")), (path, target)


@pytest.mark.parametrize(
    "modules",
    ["chainorder", "chainorder.algebra", "chainorder.networks",
     "chainorder.lab, chainorder.lab.cases, chainorder.cli"],
)
def test_front_door_imports_neither_pandas_nor_matplotlib(modules: str) -> None:
    code = (f"import sys, {modules}; "
            "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_curated_and_resolves() -> None:
    assert 20 <= len(co.__all__) <= 32
    for name in co.__all__:
        assert getattr(co, name) is not None


def test_moved_names_warn_and_resolve() -> None:
    with pytest.warns(DeprecationWarning, match="chainorder.loss_first_cost moved to"):
        f = co.loss_first_cost
    assert f([1, 10, 100, 100, 1000]) == 111000
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        co.nonsense  # noqa: B018
