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
LAYERS = {
    "algebra": set(),
    "networks": {"algebra"},
    "ad": {"algebra"},
    "lab": {"algebra", "networks", "ad"},
}
#: libraries that differentiate programs; the chain algebra must know none of them
AD_ENGINES = ("jax", "jaxlib", "torch", "tensorflow", "autograd")


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


def test_the_algebra_imports_no_ad_engine() -> None:
    for path in (PACKAGE / "algebra").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in AD_ENGINES, f"{path} imports {name}"


def test_no_private_name_crosses_modules() -> None:
    for path in PACKAGE.rglob("*.py"):
        for target, names in _imports(path):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            assert not private, f"{_module_name(path)} imports {private} from {target}"
            assert not any(b.startswith("_") for b in target.split(".")), (path, target)


@pytest.mark.parametrize(
    "modules",
    ["chainorder", "chainorder.algebra", "chainorder.networks", "chainorder.ad",
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


REPO = PACKAGE.parent
#: where machine facts and timing may be read directly: their one home each
FACTS, TIMING = PACKAGE / "hardware.py", PACKAGE / "timing.py"
#: modules whose own timing loop is still to move onto chainorder.timing (each must still
#: have one: a module that moved is taken off this list)
NOT_YET_ON_THE_RUNNER: set[Path] = set()


def _sources() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *(REPO / "benchmarks").glob("*.py")])


def _strings(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def _names(tree: ast.AST) -> set[str]:
    """Every name a module uses or imports (``threadpool_limits``, ``x.threadpool_info``)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update(a.name.split(".")[-1] for a in n.names)
    return out


def _where(found: dict[Path, ast.AST], pick) -> list[str]:  # noqa: ANN001
    return [str(p.relative_to(REPO)) for p, tree in found.items() if pick(tree)]


def test_one_home_for_the_cpu_model_the_blas_probe_and_the_thread_pinning() -> None:
    trees = {p: ast.parse(p.read_text()) for p in _sources()}
    probes = _where(trees, lambda t: {"/proc/cpuinfo", "machdep.cpu.brand_string"} & _strings(t))
    assert probes == ["chainorder/hardware.py"], f"the CPU is read in {probes}"
    blas = _where(trees, lambda t: {"threadpool_info", "threadpool_limits",
                                    "ThreadpoolController"} & _names(t))
    assert blas == ["chainorder/hardware.py"], f"threadpoolctl is called in {blas}"
    pinning = [f"{p.relative_to(REPO)}:{n.name}" for p, t in trees.items() for n in ast.walk(t)
               if isinstance(n, ast.FunctionDef) and "threads" in n.name
               and "threadpool_limits" in _names(n)]
    assert pinning == ["chainorder/hardware.py:blas_threads"]


def _timing_loops(tree: ast.AST) -> list[int]:
    """Lines of loops that read ``perf_counter`` more than once per pass: a timing loop."""
    def reads(node: ast.AST) -> int:
        return sum(isinstance(n, (ast.Name, ast.Attribute))
                   and (n.id if isinstance(n, ast.Name) else n.attr) == "perf_counter"
                   for n in ast.walk(node))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))
            and reads(n) >= 2]


def test_every_timing_loop_is_the_runners() -> None:
    loops = {p: _timing_loops(ast.parse(p.read_text())) for p in _sources() if p != TIMING}
    found = {p for p, lines in loops.items() if lines}
    unexpected = sorted(str(p.relative_to(REPO)) for p in found - NOT_YET_ON_THE_RUNNER)
    assert not unexpected, f"time calls through chainorder.timing, not a loop of its own: " \
                           f"{unexpected}"
    moved = sorted(str(p.relative_to(REPO)) for p in NOT_YET_ON_THE_RUNNER - found)
    assert not moved, f"take {moved} off NOT_YET_ON_THE_RUNNER: it has no timing loop now"


def test_the_top_level_helpers_import_no_part() -> None:
    for path in (FACTS, TIMING, PACKAGE / "validation.py", PACKAGE / "version.py"):
        parts = {_part(t) for t, _ in _imports(path)} - {None}
        assert not parts, f"{path.name} imports from {parts}: the parts build on it, not back"
