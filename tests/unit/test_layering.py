"""The shape of the tree, as DESIGN.md draws it, checked from the code's own imports (every import, also those
inside functions: a lazy import is still a dependency).

- models/, schemas/ and topics/ import nothing from agents/;
- agents/core (the kernel) imports no flow and no operation;
- a flow (ingest, inference, audit_chain) imports the kernel and itself, never another flow or an operation;
- no module imports another that imports it back, directly or around a longer loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agents", "models", "schemas", "topics")
FLOWS = ("agents.ingest", "agents.inference", "agents.audit_chain")
KERNEL = "agents.core"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules a file imports; `from package import module` counts as importing that module."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            submodules = {f"{module}.{alias.name}" for alias in node.names} & known
            # `from package import module` depends on that module; the package's own face only when a name
            # is taken from it (every submodule import runs the package __init__, which is Python, not design)
            if len(submodules) < len(node.names):
                found.add(module)
            found.update(submodules)
    return {m for m in found if m in known}


def _files(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = _files(root)
    known = set(files)
    return {name: imported_modules(path, name, known) - {name} for name, path in files.items()}


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_violations(graph: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for module, imports in sorted(graph.items()):
        for target in sorted(imports):
            if not within(module, "agents") and within(target, "agents"):
                problems.append(f"{module} imports {target}: models/, schemas/, topics/ never import agents/")
            elif within(module, KERNEL) and within(target, "agents") and not within(target, KERNEL):
                problems.append(f"{module} imports {target}: the kernel imports no flow and no operation")
            else:
                flow = next((f for f in FLOWS if within(module, f)), None)
                if flow and within(target, "agents") and not (within(target, KERNEL) or within(target, flow)):
                    problems.append(f"{module} imports {target}: a flow imports only the kernel and itself")
    return problems


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each a loop of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> Iterator[None]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                yield from visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))
        yield None

    for node in sorted(graph):
        if node not in index:
            for _ in visit(node):
                pass
    return found


def package_graph(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The same imports between folders: a loop between two packages is a loop even when no two of their
    modules import each other (ingest → audit → ingest ran through different modules of each)."""
    packages = {name for name, path in _files().items() if path.name == "__init__.py"}

    def folder(module: str) -> str:
        return module if module in packages else module.rpartition(".")[0]

    folders: dict[str, set[str]] = {}
    for module, imports in graph.items():
        here = folder(module)
        folders.setdefault(here, set()).update(folder(t) for t in imports if folder(t) != here)
    return folders


def test_the_tree_keeps_its_layers() -> None:
    assert layer_violations(import_graph()) == []


def test_no_modules_import_each_other_in_a_loop() -> None:
    assert cycles(import_graph()) == []


def test_no_folders_import_each_other_in_a_loop() -> None:
    assert cycles(package_graph(import_graph())) == []


def test_the_graph_sees_the_imports_it_checks() -> None:
    # A checker that read no imports would pass everything: it must see the flows standing on the kernel.
    graph = import_graph()
    assert "agents.core.runner" in graph["agents.ingest.flow"]
    assert "agents.core.runner" in graph["agents.inference.flow"]
    assert any(within(target, "schemas") for target in graph["models.store"] | graph.get("models.store.filters", set()))


@pytest.mark.parametrize(
    ("module", "target", "rule"),
    [
        ("models.store", "agents.core.settings", "never import agents"),
        ("agents.core.runner", "agents.ingest.flow", "kernel imports no flow"),
        ("agents.inference.flow", "agents.ingest.decode", "a flow imports only the kernel"),
        ("agents.audit_chain.chainer", "agents.processes.roles", "a flow imports only the kernel"),
    ],
)
def test_each_rule_fails_when_broken(module: str, target: str, rule: str) -> None:
    graph = {name: set(imports) for name, imports in import_graph().items()}
    graph[module].add(target)
    assert any(rule in problem for problem in layer_violations(graph))


def test_a_loop_is_found() -> None:
    graph = {name: set(imports) for name, imports in import_graph().items()}
    graph["agents.core.settings"].add("agents.core.app")  # app imports settings: now they import each other
    assert ["agents.core.app", "agents.core.settings"] in cycles(graph)


def test_a_loop_between_folders_is_found() -> None:
    graph = {name: set(imports) for name, imports in import_graph().items()}
    graph["agents.core.metrics"].add("agents.ingest.normalise")  # the ingest flow stands on the kernel: a loop
    assert ["agents.core", "agents.ingest"] in cycles(package_graph(graph))
