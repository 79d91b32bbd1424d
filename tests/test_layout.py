"""The package is grouped by pipeline stage and imports only flow downward: a stage may
use the stages below it, never one above (the analysis never trains, the presentation
never computes a test, nothing below the study imports the study)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "attnlib"
STAGES = [  # lowest first
    ("core", {"_version", "errors", "paths", "atomic", "registry", "provenance", "integrity"}),
    ("data and run configuration", {"data", "config", "plan"}),
    ("models", {"models"}),
    ("training", {"training"}),
    ("tests at the attention layer", {"layer"}),
    ("input-level tests", {"inputs"}),
    ("analysis", {"analysis"}),
    ("presentation", {"presentation"}),
    ("orchestration", {"study", "publish", "grid", "cli", "__main__", "__init__"}),
]


def _level(module: str) -> int:
    head = module.split(".")[0] or "__init__"
    for i, (_name, members) in enumerate(STAGES):
        if head in members:
            return i
    raise AssertionError(f"attnlib.{module} belongs to no stage: add it to STAGES")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _runtime_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported attnlib module) of every import outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    package = list(path.relative_to(PKG).parts[:-1])
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package[: len(package) - node.level + 1]
        if node.module:
            out.append((node.lineno, ".".join(base + node.module.split("."))))
        else:
            out += [(node.lineno, ".".join(base + [a.name])) for a in node.names]
    return out


def test_every_module_belongs_to_a_stage_and_imports_only_downward():
    violations = []
    for path in sorted(PKG.rglob("*.py")):
        module = _module(path)
        level = _level(module)
        for line, target in _runtime_imports(path):
            if _level(target) > level:
                violations.append(f"attnlib/{path.relative_to(PKG)}:{line} ({STAGES[level][0]}) "
                                  f"imports attnlib.{target} ({STAGES[_level(target)][0]})")
    assert not violations, "\n".join(violations)


def test_the_stage_folders_hold_the_pipeline():
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {"data", "models", "training", "layer", "inputs", "analysis",
            "presentation"} <= folders
    top = {p.stem for p in PKG.glob("*.py")}
    core_and_orchestration = set().union(STAGES[0][1], STAGES[-1][1], {"config", "plan"})
    assert top <= core_and_orchestration, sorted(top - core_and_orchestration)


def _module_graph() -> dict[str, set[str]]:
    """attnlib module -> the attnlib modules it imports at run time (a package's
    ``__init__`` stands for the package)."""
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for _line, target in _runtime_imports(path):
            # `from .x import name` names module x.name when that is a module
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    """No module imports, directly or through others, a module that imports it back (a
    package's ``__init__`` counts as the package)."""
    cycles = _cycles(_module_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
