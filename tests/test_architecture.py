"""The house rules of ``asrt/`` (docs/architecture.md): its packages stand on floors, and a module imports
only from its own floor or those below (no import runs back up, no circle); every default lives in
``asrt/conf/*.yaml``, not in a ``.get(key, default)`` of the code; no function is longer than a screen."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "asrt"
MAX_FUNCTION_LINES = 60

# Floors, bottom first: the modules (or packages) on each. The recipe and the command line are on top.
FLOORS = [
    ("asrt.names", "asrt.fileio", "asrt.config", "asrt.version", "asrt.audio"),
    ("asrt.text",),
    ("asrt.corpora",),
    ("asrt.lang",),
    ("asrt.features",),
    ("asrt.lm",),
    ("asrt.models",),
    ("asrt.decode",),
    ("asrt.train",),
    ("asrt.packaged",),
    ("asrt.serving",),
    ("asrt.recipe", "asrt.cli"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def imports(tree: ast.Module, package: str, known: set[str]) -> set[str]:
    """Every asrt module a module imports, at the top or inside a function (``from asrt.x import y`` imports
    the module ``asrt.x.y`` where that is one of ``known``, else ``asrt.x``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("asrt")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("asrt"):
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return found


def floor(module: str) -> int:
    for i, members in enumerate(FLOORS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return i
    raise AssertionError(f"{module} stands on no floor of FLOORS: add it there and to docs/architecture.md")


def import_graph() -> dict[str, set[str]]:
    trees = modules()
    graph = {}
    for name, tree in trees.items():
        package = name if (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").exists() else name.rpartition(".")[0]
        graph[name] = {m for m in imports(tree, package, set(trees)) if m in trees and m != name}
    return graph


def test_every_module_stands_on_a_floor_and_imports_nothing_above_it():
    upward = [f"{a} (floor {floor(a)}) imports {b} (floor {floor(b)})"
              for a, deps in import_graph().items() for b in deps if floor(b) > floor(a)]
    assert upward == []


def test_the_imports_have_no_circle():
    graph = import_graph()
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join(path[path.index(nxt):] + [node, nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    # a package's __init__ importing its own submodules is not a circle of the house
    circles = [c for c in circles if not re.fullmatch(r"(asrt(\.\w+)*) -> \1\.\w+ -> \1", c)]
    assert circles == []


def test_names_imports_nothing_of_asrt_and_the_graph_sees_imports():
    graph = import_graph()
    assert graph["asrt.names"] == set()
    assert {"asrt.decode.search", "asrt.models.checkpoint", "asrt.packaged.package"} <= graph["asrt.packaged.recognizer"]


INFERENCE = ("asrt.decode", "asrt.packaged", "asrt.serving")


def test_inference_never_imports_training():
    """A packaged model decodes, exports and serves without the training code (nor its dependencies)."""
    found = [f"{a} imports {b}" for a, deps in import_graph().items() for b in deps
             if a.startswith(INFERENCE) and b.startswith("asrt.train")]
    assert found == []


def test_no_function_is_longer_than_a_screen():
    long = [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for name, tree in modules().items() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def _yaml_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _yaml_keys(v)}
    return set()


def test_no_code_default_for_a_key_the_yaml_defines():
    keys = set().union(*(_yaml_keys(yaml.safe_load(p.read_text())) for p in (PACKAGE / "conf").rglob("*.yaml")))
    fallback = re.compile(r"""\.get\(\s*["'](\w+)["']\s*,""")
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
             for p in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")])
             for i, line in enumerate(p.read_text().splitlines(), 1)
             for m in fallback.finditer(line) if m.group(1) in keys]
    assert found == []
