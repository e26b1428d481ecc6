"""The layer rule: a module imports only from its own layer or lower ones, with no circles.

`LAYERS` below lists the packages from the lowest layer (0) to the highest. Each module of
`toolkit/` and `baselines/` belongs to the layer of the longest entry that is its name or a
dotted prefix of it. The tests parse every file with `ast` (nothing is imported) and check:

  (a) every module has a layer;
  (b) no module imports from a higher layer;
  (c) there is no circle among the modules, even inside one layer (in-function imports count);
  (d) no internal import (toolkit or baselines) sits inside a function; third-party imports
      inside functions, e.g. to keep a heavy library off the import path, are fine;
  (e) the checker itself finds a backward import and a circle in a small made-up package.

Imports under `if TYPE_CHECKING:` are not run, so they are no edges and are skipped.
`from pkg import name` counts as an import of `pkg.name` when that module's file exists,
otherwise of `pkg`. The root package `toolkit` (its `__init__` holds only the docstring and
`__version__`) runs before any `toolkit.*` module, so it sits at layer 0 (`ROOT_LAYERS`).

Why each package sits where it does: docs/architecture.md.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

LAYERS: list[tuple[str, ...]] = [
    ("toolkit.errors", "toolkit.io"),  # L0
    ("toolkit.config",),  # L1
    ("toolkit.runtime", "toolkit.hub"),  # L2
    ("toolkit.tasks",),  # L3
    ("toolkit.models",),  # L4
    ("toolkit.families",),  # L5
    ("toolkit.data",),  # L6
    ("toolkit.evaluation",),  # L7
    ("toolkit.engine",),  # L8
    ("baselines",),  # L9
    ("toolkit.approaches",),  # L10
    ("toolkit.pipeline",),  # L11
    ("toolkit.reporting",),  # L12
    ("toolkit.grid",),  # L13
    ("toolkit.cli", "toolkit.demo", "toolkit.__main__"),  # L14
]

# Exact names (not prefixes) outside the table: the root package itself.
ROOT_LAYERS = {"toolkit": 0}

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("toolkit", "baselines")


class Source(NamedTuple):
    path: str  # shown in messages
    is_package: bool  # an __init__.py
    text: str


class Import(NamedTuple):
    line: int
    target: str  # dotted module name, resolved
    in_function: bool


class Edge(NamedTuple):
    path: str
    line: int
    source: str
    target: str
    in_function: bool


def module_name(path: Path, root: Path = REPO) -> str:
    """toolkit/tasks/nli.py -> toolkit.tasks.nli; toolkit/tasks/__init__.py -> toolkit.tasks."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_internal(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str, known: set[str]) -> str:
    """The longest known module that is `name` or a dotted prefix of it (else `name`)."""
    probe = name
    while probe:
        if probe in known:
            return probe
        probe = probe.rpartition(".")[0]
    return name


def imports(tree: ast.AST, module: str, is_package: bool, known: set[str] | None = None) -> list[Import]:
    """Internal imports of one parsed module, relative ones resolved, TYPE_CHECKING ones left out.

    `known` is the set of existing module names; with it `from pkg import sub` resolves to
    `pkg.sub` when that module exists, and `import a.b.C` to the longest existing prefix.
    """
    known = known if known is not None else set()
    found: list[Import] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            here = module.split(".") if is_package else module.split(".")[:-1]
            here = here[: len(here) - (node.level - 1)]
            base = ".".join(here + ([base] if base else []))
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the `else:` branch does run
                visit(child, in_function)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in targets(node):
                if is_internal(name):
                    target = _resolve(name, known)
                    imp = Import(node.lineno, target, in_function)
                    if target != module and imp not in found:  # `from a import b, c`: one edge
                        found.append(imp)
            return
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def layer_of(module: str) -> int | None:
    """Layer of the longest LAYERS entry equal to `module` or a dotted prefix of it."""
    if module in ROOT_LAYERS:
        return ROOT_LAYERS[module]
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for layer, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), layer)
    return None if best is None else best[1]


def repo_sources(root: Path = REPO) -> dict[str, Source]:
    sources = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            sources[module_name(path, root)] = Source(
                str(path.relative_to(root)), path.name == "__init__.py", path.read_text(encoding="utf-8")
            )
    return sources


def edges(sources: dict[str, Source]) -> list[Edge]:
    known = set(sources)
    found = []
    for module, src in sources.items():
        tree = ast.parse(src.text, src.path)
        for imp in imports(tree, module, src.is_package, known):
            found.append(Edge(src.path, imp.line, module, imp.target, imp.in_function))
    return found


def unmapped(sources: dict[str, Source]) -> list[str]:
    return sorted(m for m in sources if layer_of(m) is None)


def backward_imports(all_edges: list[Edge]) -> list[str]:
    """`path:line: a imports b (layer N imports layer M)` for each import of a higher layer."""
    problems = []
    for e in all_edges:
        low, high = layer_of(e.source), layer_of(e.target)
        if low is not None and high is not None and high > low:
            problems.append(f"{e.path}:{e.line}: {e.source} imports {e.target} (layer {low} imports layer {high})")
    return problems


def circles(all_edges: list[Edge], modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for e in all_edges:
        if e.source in graph and e.target in graph and e.source != e.target:
            graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def function_imports(all_edges: list[Edge]) -> list[str]:
    return [f"{e.path}:{e.line}: {e.source} imports {e.target} inside a function" for e in all_edges if e.in_function]


# ---------------------------------------------------------------- the repository

SOURCES = repo_sources()
EDGES = edges(SOURCES)


def test_every_module_has_a_layer():
    missing = unmapped(SOURCES)
    assert not missing, "modules in no layer of LAYERS (tests/unit/test_layers.py):\n  " + "\n  ".join(missing)


def test_no_import_from_a_higher_layer():
    problems = backward_imports(EDGES)
    assert not problems, f"{len(problems)} imports from a higher layer:\n" + "\n".join(problems)


def test_no_circles():
    found = circles(EDGES, set(SOURCES))
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_internal_imports_inside_functions():
    problems = function_imports(EDGES)
    assert not problems, f"{len(problems)} internal imports inside functions (move them to the top):\n" + "\n".join(
        problems
    )


# ---------------------------------------------------------------- the checker itself


def test_checker_reports_a_backward_import_and_a_circle():
    made_up = {
        "toolkit": Source("toolkit/__init__.py", True, '"""root."""\n'),
        "toolkit.errors": Source("toolkit/errors.py", False, "import os\n"),
        "toolkit.config": Source("toolkit/config/__init__.py", True, "from . import schema\n"),
        # backward: L1 imports L8
        "toolkit.config.schema": Source(
            "toolkit/config/schema.py", False, "from toolkit.errors import X\nfrom toolkit.engine import trainer\n"
        ),
        # circle inside L8, one side in a function; plus a TYPE_CHECKING import that must not count
        "toolkit.engine": Source("toolkit/engine/__init__.py", True, ""),
        "toolkit.engine.trainer": Source(
            "toolkit/engine/trainer.py",
            False,
            "from typing import TYPE_CHECKING\nfrom .checkpoint import save\n"
            "if TYPE_CHECKING:\n    from toolkit.cli import main\n",
        ),
        "toolkit.engine.checkpoint": Source(
            "toolkit/engine/checkpoint.py", False, "def save():\n    from toolkit.engine import trainer\n    import torch\n"
        ),
        "toolkit.nowhere": Source("toolkit/nowhere.py", False, ""),
    }
    found = edges(made_up)
    assert unmapped(made_up) == ["toolkit.nowhere"]
    assert backward_imports(found) == [
        "toolkit/config/schema.py:2: toolkit.config.schema imports toolkit.engine.trainer (layer 1 imports layer 8)"
    ]
    assert circles(found, set(made_up)) == [["toolkit.engine.checkpoint", "toolkit.engine.trainer"]]
    assert function_imports(found) == [
        "toolkit/engine/checkpoint.py:2: toolkit.engine.checkpoint imports toolkit.engine.trainer inside a function"
    ]
    assert not any(e.target == "toolkit.cli" for e in found)  # TYPE_CHECKING-only
    assert ("toolkit.config", "toolkit.config.schema") in {(e.source, e.target) for e in found}  # from . import sub
