"""The code's layout (README, "Layout"): a package per concern, no import cycles, the server
independent of training, and each app service reached through its own class."""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("game", "training")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
            if "migrations" not in p.parts}


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, (ast.Name, ast.Attribute)) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules that `path` imports, wherever the import is (a function's
    too: it runs as surely, only later), but those under `if TYPE_CHECKING`, which never run."""
    found = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                # `from game import i18n`: the module i18n, not only the package
                found.update(f"{child.module}.{a.name}" for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    known = modules()
    names = set(known)
    g = {name: imports(path, names) - {name} for name, path in known.items()}
    # Importing a module runs its package's __init__ first.
    for name in list(g):
        for i in range(1, name.count(".") + 1):
            parent = name.rsplit(".", i)[0]
            if parent in g and parent != name:
                g[name].add(parent)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            strong(v)
    return out


def test_the_walker_finds_a_cycle_it_is_shown():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back():
    g = graph()
    assert len(g) > 40  # the walk found the project
    assert cycles(g) == []


def test_the_game_never_imports_training():
    """The server (and the replay clients) run without training's torch: `game` imports
    nothing from `training`; training imports the game's model, words and dataset."""
    g = graph()
    assert {m: sorted(d for d in deps if d.startswith("training")) for m, deps in g.items()
            if m.startswith("game") and any(d.startswith("training") for d in deps)} == {}
    assert any(d.startswith("game.model") for d in g["training.data"])


def test_no_test_module_imports_another():
    """What several test modules (or a benchmark) share lives in conftest.py or a helper
    module (fakes, live_server, browser, vision_models, vision_photos), not in a test module."""
    found = {}
    for path in [*(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found.update({f"{path.name}: {n}": n for n in names if n.split(".")[0].startswith("test_")})
    assert found == {}


def test_every_package_says_what_it_is_for():
    for name, path in modules().items():
        if path.name == "__init__.py":
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            assert doc and len(doc) > 40, f"{name} has no docstring saying what it holds"


def test_each_service_is_reached_through_its_own_class():
    """`app.extensions["x"]` is written in one module only, the one whose service it holds
    (its `of(app)`); every other module asks that class, so the import graph shows who
    uses whom."""
    where = defaultdict(set)
    for name, path in modules().items():
        for key in re.findall(r"""extensions\[["'](\w+)["']\]""", path.read_text(encoding="utf-8")):
            where[key].add(name)
    assert where, "no service found: has the pattern changed?"
    assert {key: sorted(names) for key, names in where.items() if len(names) > 1} == {}


def test_the_layout_doc_names_files_that_exist():
    """docs/layout.md's lists of what a change touches: every file, folder and test it
    names is there."""
    text = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w./<>-]+/[\w./<>-]*(?:\.\w+|/)(?:::\w+)?)`", text))
    assert len(named) > 15
    for name in sorted(named):
        path, _, test = name.partition("::")
        if "<" in path:  # a pattern: data/categories_<locale>.txt
            assert list(ROOT.glob(re.sub(r"<\w+>", "*", path))), name
            continue
        assert (ROOT / path).exists(), name
        if test:
            assert f"def {test}(" in (ROOT / path).read_text(encoding="utf-8"), name
