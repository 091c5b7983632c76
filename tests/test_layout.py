"""The package's shape: subpackages by concern, each importing only what its docstring
allows, without cycles between modules or between packages; the transform free of numba."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "blockloop"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str], typing: bool = False) -> set[str]:
    """Modules of the package that ``path`` imports anywhere (also inside functions),
    except under ``if TYPE_CHECKING:``, which never runs (unless ``typing``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node) and not typing:
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            root = f"{base}.{node.module}" if node.level and node.module else base
            root = node.module if not node.level else root
            # ``from . import config`` imports the module ``config``
            subs = [f"{root}.{a.name}" for a in node.names if f"{root}.{a.name}" in modules]
            targets = subs if len(subs) == len(node.names) else [root, *subs]
        else:
            stack.extend(ast.iter_child_nodes(node))
            continue
        out |= {t for t in targets if t in modules and t != name}
    return out


def import_graph(typing: bool = False) -> dict[str, set[str]]:
    """Each module of the package and the package's modules it imports."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(files), typing) for name, path in files.items()}


def _external(path: Path) -> set[str]:
    """The top-level names of what ``path`` imports from outside the package (anywhere)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out - {"blockloop"}


SUBPACKAGES = (
    "numerics",
    "parallel",
    "runtime",
    "scheduling",
    "storage",
    "testing",
    "tools",
    "transform",
    "view",
)
BASE = {"blockloop._errors", "blockloop._version", "blockloop.config", "blockloop.operators"}
"""Top-level modules every package may import: errors, version, configuration and the
names shared by the renderer and the compiled helpers."""
MAY_IMPORT = {
    "transform": set(),
    "storage": set(),
    "scheduling": set(),
    "numerics": {"storage"},  # the digest that names a generated module's file
    "runtime": {"numerics", "scheduling", "storage", "transform", "blockloop.report"},
    "parallel": {"runtime", "scheduling", "storage", "blockloop.report"},
    "view": {"storage", "transform"},
    "tools": {"*"},
    "testing": {"*"},
}
"""What each subpackage may import besides itself and ``BASE`` (a package, or a top-level
module by its full name; ``*``: anything). Each package's docstring says the same."""


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else module


def _package_graph(typing: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, imported in import_graph(typing).items():
        edges = graph.setdefault(_package(module), set())
        edges |= {_package(m) for m in imported} - {_package(module)}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    cycle = _cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_packages_import_only_what_their_rules_allow():
    wrong = []
    for module, imported in import_graph(typing=True).items():
        package = _package(module)
        if package not in MAY_IMPORT or "*" in MAY_IMPORT[package]:
            continue
        allowed = MAY_IMPORT[package] | BASE | {package}
        wrong += [f"{module} -> {m}" for m in imported if _package(m) not in allowed]
    assert wrong == []


def test_packages_import_one_another_without_cycles_type_only_imports_included():
    cycle = _cycle(_package_graph(typing=True))
    assert cycle is None, " -> ".join(cycle or [])


def test_the_transform_imports_no_numba_directly_or_through_another_module():
    graph = import_graph()
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    reached = {m for m in graph if m.startswith("blockloop.transform")}
    todo = list(reached)
    while todo:
        for nxt in graph[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    heavy = {m: _external(files[m]) & {"numba", "llvmlite", "mpi4py"} for m in reached}
    assert {m: found for m, found in heavy.items() if found} == {}


def test_nothing_in_the_library_imports_its_test_helpers():
    for module, imported in import_graph(typing=True).items():
        if _package(module) != "testing":
            assert "testing" not in {_package(m) for m in imported}, module


def test_storage_never_imports_the_runtime_nor_the_transform():
    for module, imported in import_graph(typing=True).items():
        if _package(module) == "storage":
            assert not {_package(m) for m in imported} & {"runtime", "transform", "numerics"}


def test_the_top_of_the_package_holds_at_most_twelve_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top


def test_every_subpackage_says_what_it_holds_and_may_import():
    for name in SUBPACKAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc, name
        if name != "runtime":
            assert "import" in doc, name


def test_the_rule_checks_find_what_they_look_for():
    assert _cycle({"storage": {"runtime"}, "runtime": {"storage"}}) is not None
    assert _package("blockloop.storage.store") == "storage"
    assert _package("blockloop.kernel") == "blockloop.kernel"
    assert "numba" in _external(PACKAGE / "numerics" / "tiles.py")


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def _code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines, its docstring left out (a docstring is not code to split)."""
    body = fn.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:] or body
    return (fn.end_lineno or fn.lineno) - body[0].lineno + 1


def test_no_function_is_over_80_lines():
    long = {
        f"{p.relative_to(PACKAGE.parent)}::{node.name}": n
        for p in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if (n := _code_lines(node)) > 80
    }
    assert long == {}


def test_the_drivers_run_is_short():
    import inspect

    from blockloop.runtime.driver import Driver

    assert len(inspect.getsource(Driver.run).splitlines()) <= 40


def test_the_library_leaves_logging_to_the_application():
    import logging

    import blockloop

    logger = logging.getLogger(blockloop.__name__)
    assert [type(h) for h in logger.handlers] == [logging.NullHandler]
    assert logger.level == logging.NOTSET and logger.propagate


def test_every_decorator_option_is_an_options_field():
    import dataclasses
    import inspect

    from blockloop import checkpointed_loop
    from blockloop.kernel import Options

    params = [p for p in inspect.signature(checkpointed_loop).parameters if p != "func"]
    assert params == [f.name for f in dataclasses.fields(Options)]
