"""The layers hold: the training side never loads the renderer, and synth/ and train/ import without cycles.

DESIGN §2 and §6: heavy libraries (moderngl, bpy, ray) are imported only where they are needed and
never by the training side; ``synth.render`` is the renderer and ``synth.pipeline`` the per-sample
path, and training, which reads shards, needs neither. The import graph is read statically (``ast``)
from every ``.py`` file under synth/ and train/, counting every import statement, those inside
functions too: a lazy import is still a dependency (train.engine and train.distributed once imported
each other that way).
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("synth", "train")

#: never in sys.modules after importing every module of train/ and synth.shards
NOT_ON_THE_TRAINING_SIDE = ("moderngl", "bpy", "ray", "synth.render", "synth.pipeline")

#: (importer, imported): no module in the first may reach one in the second through any chain of imports
FORBIDDEN = (
    ("synth.sampling", "synth.render"),   # sampling is pure: config + rng -> SceneSpec
    ("synth.pose", "synth.render"),       # the pose convention is plain numpy
    ("synth.render", "synth.shards"),     # renderers return arrays; storing them is the runner's job
    ("synth.shards", "synth.render"),     # shards are read where nothing renders
    ("train.data", "synth.render"),
    ("train.models", "synth.render"),
    ("train.models", "train.data"),       # models see tensors, not datasets
    ("synth.effects", "synth.render"),    # effects also degrade real photos (train.data.corruptions)
)

_IMPORT_EVERYTHING = f"""
import importlib, pkgutil, sys
import train
names = [m.name for m in pkgutil.walk_packages(train.__path__, "train.")] + ["synth.shards"]
for name in names:
    importlib.import_module(name)
print(len(names), *[m for m in {NOT_ON_THE_TRAINING_SIDE!r} if m in sys.modules])
"""


def test_training_side_loads_neither_renderer_nor_heavy_libraries():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", _IMPORT_EVERYTHING], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    count, *loaded = done.stdout.split()
    assert int(count) > 30, done.stdout       # the walk found the training modules
    assert loaded == [], f"importing train.* and synth.shards loaded {loaded}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of synth/ and train/ it imports (anywhere in the file).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``; imports of
    other packages are left out.
    """
    files = {_module_name(p): p for top in PACKAGES for p in sorted((REPO / top).rglob("*.py"))}

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:   # relative: from .x / from ..x
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for a in node.names:
                    full = f"{base}.{a.name}"
                    targets.add(full if full in files else known(base))
        graph[module] = targets - {None, module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_import_graph_has_no_cycles():
    graph = import_graph()
    assert "train.checkpoints" in graph["train.engine"] and "synth.pose" in graph["synth.pipeline"]  # it reads edges
    assert _cycles(graph) == []


def test_import_graph_keeps_the_forbidden_directions_out():
    graph = import_graph()
    bad = []
    for source, target in FORBIDDEN:
        for module in (m for m in graph if _within(m, source)):
            path, seen, todo = {module: [module]}, {module}, [module]
            while todo:   # breadth first: report the shortest chain
                v = todo.pop(0)
                for w in sorted(graph[v]):
                    if w not in seen:
                        seen.add(w)
                        path[w] = path[v] + [w]
                        todo.append(w)
            reached = sorted(w for w in seen if _within(w, target))
            if reached:
                bad.append(" -> ".join(path[reached[0]]))
    assert bad == [], "forbidden imports:\n" + "\n".join(bad)
