"""The tree is the architecture: stages import only the stages above them, and nothing imports
a module that imports it back (function-level imports included; ``TYPE_CHECKING`` ones not)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import themekit

SRC = Path(themekit.__file__).parent
#: the flow of data; a module may import its own stage, the shared bottom, and earlier stages
ORDER = ["types", "_version", "common", "io", "embed", "codebook", "discover", "mapping", "audit", "report", "scale",
         "pipeline", "cli", "_compat", "__init__", "__main__"]
SHARED = {"types", "_version", "common"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = ["themekit", *rel.parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(path: Path) -> set[str]:
    """themekit modules that ``path`` imports, anywhere in the file except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if _is_package(path) else here.rpartition(".")[0]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("themekit"):
                continue
            for alias in node.names:      # `from . import plots` imports the submodule
                sub = f"{mod}.{alias.name}"
                if (SRC / Path(*sub.split(".")[1:])).with_suffix(".py").exists() or \
                        (SRC / Path(*sub.split(".")[1:]) / "__init__.py").exists():
                    found.add(sub)
                else:
                    found.add(mod)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("themekit"))
    found.discard(here)
    return found


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _stage(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_no_import_cycles():
    # Tarjan-free check: depth-first search for a back edge
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH.get(m, ())):
            if n not in GRAPH:
                continue
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_stages_import_only_stages_above_them():
    bad = []
    for m, deps in GRAPH.items():
        s = _stage(m)
        for d in deps:
            t = _stage(d)
            if t == s or t in SHARED:
                continue
            if s in SHARED or ORDER.index(t) > ORDER.index(s):
                bad.append(f"{m} imports {d}")
    assert not bad, "\n".join(sorted(bad))


def test_tree_has_stage_packages_and_few_top_level_modules():
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert len(top) <= 10, top
    stages = [d.name for d in SRC.iterdir() if (d / "__init__.py").is_file() and d.name not in ("cli", "common")]
    assert len(stages) >= 6, stages


@pytest.mark.parametrize("old, new", [
    ("themekit.mapping_model", "themekit.mapping.model"), ("themekit.coding", "themekit.codebook.coding"),
    ("themekit.ingest", "themekit.io.readers"), ("themekit.drift", "themekit.audit.drift"),
    ("themekit.study_report", "themekit.report.study"), ("themekit.finetune", "themekit.embed.finetune"),
])
def test_old_module_paths_are_the_new_modules(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_public_names_import_from_the_top():
    for name in themekit.__all__:
        assert getattr(themekit, name) is not None, name
