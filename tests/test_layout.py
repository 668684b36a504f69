"""The package's shape: stage folders on a ladder, each with a docstring, no import cycles, small modules,
functions and classes.

The import graph counts every import of a ``movie_gender`` module, at module level or inside a function (a lazy
import that breaks a cycle is still a cycle); only ``if TYPE_CHECKING:`` blocks are left out, since they never run.

The ladder, bottom to top: core (the modules beside the folders: errors, atomic, configuration, presets, labels) ->
data -> model -> inference -> evaluation -> training -> hub -> commands -> cli. A module imports only from its own
floor and the floors below it; the package itself (``movie_gender``: ``__version__`` and the lazy exports, which
import nothing when it loads) is above and below them all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import movie_gender

PACKAGE = Path(movie_gender.__file__).parent
STAGES = ("data", "model", "inference", "training", "evaluation", "hub", "commands")
LADDER = ("core", "data", "model", "inference", "evaluation", "training", "hub", "commands", "cli")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 300
# Imports of package modules inside functions, outside commands/ and cli: only for optional heavy dependencies and
# start-up time, never to dodge a cycle.
MAX_LAZY_IMPORTS = 4


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                skipped.update(id(n) for n in ast.walk(statement))
    return skipped


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (a package counts as its __init__)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def floor(module: str) -> str:
    """The ladder floor of a package module: its stage folder, "cli", or "core" for the modules beside the folders."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in LADDER):
        return parts[1] if parts[1] in LADDER else "core"
    return "core"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module on a higher floor of the ladder than the importer's."""
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            outside = PACKAGE.name in (module, target)
            if not outside and LADDER.index(floor(target)) > LADDER.index(floor(module)):
                found.append(f"{module} ({floor(module)}) -> {target} ({floor(target)})")
    return found


def lazy_imports(name: str, path: Path) -> list[str]:
    """The imports of package modules inside the functions of a module (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    found = []
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if id(node) in skipped or not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                targets = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if getattr(node, "level", 0) or any(
                    t == PACKAGE.name or t.startswith(PACKAGE.name + ".") for t in targets
                ):
                    found.append(f"{name}.{function.name}:{node.lineno}")
    return sorted(set(found))


def private_imports(path: Path) -> list[str]:
    """The ``_private`` names a module imports from another package module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(PACKAGE.name)):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_") and a.name[:2] != "__"]
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    stack = list(graph[start])
    while stack:
        module = stack.pop()
        if module not in seen:
            seen.add(module)
            stack.extend(graph[module])
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others, each sorted."""
    reach = {module: reachable(graph, module) for module in graph}
    groups: list[list[str]] = []
    for module in sorted(graph):
        if module in reach[module] and not any(module in group for group in groups):
            groups.append(sorted(m for m in graph if m == module or (m in reach[module] and module in reach[m])))
    return groups


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_lazy_imports_count_and_type_checking_imports_do_not(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from movie_gender.model.modeling import BiLSTMClassifier\n"
        "def f():\n    from movie_gender.hub import publish\n",
        encoding="utf-8",
    )
    known = {"movie_gender.model.modeling", "movie_gender.hub", "movie_gender.hub.publish"}
    assert imports_of("movie_gender.x", source, known) == {"movie_gender.hub.publish"}


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_floor_finder_reads_the_ladder() -> None:
    assert floor("movie_gender.configuration") == floor("movie_gender.labels") == "core"
    assert floor("movie_gender.data.corpus") == "data" and floor("movie_gender.hub") == "hub"
    assert floor("movie_gender.cli") == "cli"
    graph = {"movie_gender.model.x": {"movie_gender.hub.y", "movie_gender.data.z"}, "movie_gender.hub.y": set()}
    assert upward_imports(graph) == ["movie_gender.model.x (model) -> movie_gender.hub.y (hub)"]


def test_each_floor_imports_only_from_the_floors_below() -> None:
    # configuration (core) imports no stage folder either: core imports only core
    assert upward_imports(import_graph()) == []


def test_the_folders_import_one_way() -> None:
    folders: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        folders.setdefault(floor(module), set()).update(floor(t) for t in imported if t != PACKAGE.name)
    assert cycles({name: targets - {name} for name, targets in folders.items()}) == []


def test_lazy_imports_of_the_package_are_few(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nimport json\ndef f():\n    import os\n    from movie_gender import x\n"
        "    if TYPE_CHECKING:\n        from movie_gender.hub import y\n",
        encoding="utf-8",
    )
    assert lazy_imports("m", source) == ["m.f:5"]
    below_commands = {n: p for n, p in modules().items() if floor(n) not in ("commands", "cli")}
    lazy = [found for name, path in below_commands.items() for found in lazy_imports(name, path)]
    assert len(lazy) <= MAX_LAZY_IMPORTS, f"imports of package modules inside functions: {lazy}"


def test_no_private_name_crosses_a_module() -> None:
    private = {name: found for name, path in modules().items() if (found := private_imports(path))}
    assert not private, f"private names imported from other modules: {private}"


def test_classes_are_small() -> None:
    long = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and (length := node.end_lineno - node.lineno + 1) > MAX_CLASS_LINES:
                long[f"{name}.{node.name}"] = length
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {long}"


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_is_a_folder_that_says_what_lives_there(stage: str) -> None:
    init = PACKAGE / stage / "__init__.py"
    assert init.is_file(), f"{stage}/ is not a package"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert docstring and len(docstring) > 40, f"{stage}/__init__.py has no docstring saying what lives there"


def test_the_installed_package_holds_no_benchmarks() -> None:
    assert not [name for name in modules() if "bench" in name.rpartition(".")[2] and "commands" not in name]


def test_modules_are_small() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_functions_are_short() -> None:
    long = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{name}.{node.name}"] = length
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
