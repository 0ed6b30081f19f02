"""The package's import graph: no cycles, and inference never needs the training code.

The graph is read from the source (an AST walk), not from a running interpreter, so
function-local imports count too: a cycle hidden inside a function is still a cycle,
it just fails later, on the first call. A second test imports every module alone in a
fresh interpreter, so that a module which only works after another one was imported
shows up.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "cardiolab"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# Serving code: what answers a user's study. None of it may pull in cardiolab.train.
INFERENCE_SIDE = ("cardiolab.inference", "cardiolab.predict", "cardiolab.analyze", "cardiolab.clinical",
                  "cardiolab.data", "cardiolab.models")
TRAINING = "cardiolab.train"


def module_files() -> dict[str, Path]:
    """``{"cardiolab.data.study": path, ...}``; a package is named by its ``__init__.py``."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imported_base(module: str, node: ast.ImportFrom) -> str:
    """The module a ``from X import ...`` reads from, relative imports resolved."""
    if node.level == 0:
        return node.module or ""
    package = module if is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def known_module(name: str) -> str | None:
    """The longest prefix of ``name`` that is a cardiolab module (``import a.b.c`` binds a.b.c)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """Every cardiolab module ``module`` imports, at module level or inside a function."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(known_module(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = imported_base(module, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"  # `from cardiolab.train import recipes` imports a module
                targets.add(submodule if submodule in MODULES else known_module(base))
    targets.discard(None)
    targets.discard(module)
    return targets


def import_graph() -> dict[str, set[str]]:
    return {module: imports_of(module) for module in MODULES}


def parents(module: str) -> list[str]:
    """The packages Python runs before ``module``: importing a.b.c runs a and a.b first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other (size > 1 = a cycle)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [group for group in groups if len(group) > 1]


def cycle_in(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One closed path through a strongly connected group, for the failure message."""
    path, members = [group[0]], set(group)
    while True:
        step = next(target for target in sorted(graph[path[-1]]) if target in members)
        if step in path:
            return path[path.index(step):] + [step]
        path.append(step)


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """``{module: the module that imported it}`` for everything importing ``start`` can run."""
    seen, todo = {start: ""}, [start]
    while todo:
        module = todo.pop()
        for target in sorted(graph[module] | set(parents(module))):
            if target not in seen:
                seen[target] = module
                todo.append(target)
    return seen


def chain(came_from: dict[str, str], end: str) -> str:
    steps = [end]
    while came_from[steps[-1]]:
        steps.append(came_from[steps[-1]])
    return " -> ".join(reversed(steps))


def test_the_walk_sees_the_package():
    graph = import_graph()
    assert "cardiolab.train.recipes" in graph and "cardiolab.models.unet4d" in graph["cardiolab.models"]
    assert "cardiolab.data.study" in graph["cardiolab.data.loader"]


def test_no_import_cycles():
    graph = import_graph()
    cycles = [" -> ".join(cycle_in(group, graph)) for group in strongly_connected(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("side", INFERENCE_SIDE)
def test_inference_never_imports_training(side):
    graph = import_graph()
    offenders = []
    for module in (m for m in MODULES if m == side or m.startswith(side + ".")):
        came_from = reachable(graph, module)
        trained = sorted(m for m in came_from if m == TRAINING or m.startswith(TRAINING + "."))
        if trained:
            offenders.append(chain(came_from, trained[0]))
    assert not offenders, "imports cardiolab.train:\n" + "\n".join(offenders)


# --- every module imports alone ---------------------------------------------------------------
IMPORT_ALONE = """
import importlib, sys
failures = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "cardiolab" or m.startswith("cardiolab.")]:
        del sys.modules[loaded]  # a fresh start for each module; torch and numpy stay loaded
    try:
        importlib.import_module(name)
    except Exception as error:
        failures.append(f"{name}: {type(error).__name__}: {error}")
        continue
    serving = any(name == side or name.startswith(side + ".") for side in SIDES)
    if serving and "cardiolab.train" in sys.modules:
        failures.append(f"{name}: importing it loaded cardiolab.train")
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""

GROUPS = sorted({module.split(".")[1] if "." in module else module for module in MODULES})


@pytest.mark.parametrize("group", GROUPS)
def test_each_module_imports_alone(group):
    """One interpreter per top-level piece, each module imported after forgetting the others."""
    names = [m for m in MODULES if m == f"{PACKAGE}.{group}" or m.startswith(f"{PACKAGE}.{group}.")] or [group]
    script = f"SIDES = {INFERENCE_SIDE!r}\n" + IMPORT_ALONE
    result = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True,
                            cwd=PACKAGE_DIR.parent, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
