"""The package's import graph: no import circle and no upward import, read from the source with ``ast``.

Every ``import`` and ``from ... import`` of every module counts, wherever it stands: at the top, inside a
function (lazy), under ``if TYPE_CHECKING:``. An edge goes from a module to the module it names
(``from forgrad_viz.results import paired`` names the submodule ``forgrad_viz.results.paired``;
``from forgrad_viz.results import CutoffSweep`` names the package ``forgrad_viz.results``). Python also runs the
parent packages' ``__init__`` of a module it imports; those implicit edges are not counted (every package with
an eager ``__init__`` would otherwise be a circle with its own submodules). The package's facade,
``forgrad_viz/__init__.py``, imports its public names lazily by ``importlib`` from the tables ``_EXPORTS`` and
``_SUBMODULES``: those count as its edges.

One exception is allowed, as DESIGN.md states: a result container's ``.plot()`` method (a method named ``plot``
of a class in a module of ``forgrad_viz.results``) imports its figure from ``forgrad_viz.plot`` inside the
method, the way pandas does. That edge is left out of both checks; nothing else may point upward, lazily or not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import forgrad_viz

PACKAGE = "forgrad_viz"
ROOT = Path(forgrad_viz.__file__).parent

#: The layers of the package, lowest first: a module may import from its own top-level package (without a
#: circle) and from the layers below its own, never from its layer's other packages or from a layer above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_cpu_load", "_utils", "palette", "image_files"),  # helpers that import nothing of the package
    ("image_folder",),  # the image files as a torch Dataset (image_files)
    ("_wait_policy", "_threads"),  # thread counts and wait policy from the machine's load (_cpu_load)
    ("scoring", "_memory"),  # the scoring model (precision, backend); activation memory of a model (_utils)
    ("filters",),  # masks, lowpass, forgrad, cutoff units
    ("spectra",),  # radial power spectra (filters' radius grid)
    ("attribution", "data"),  # explain() and its methods; sample images and the shapes set
    ("models",),  # torchvision, pretrained and demo models (data's transforms)
    ("results",),  # result containers: FaithfulnessResult, CutoffSweep, comparisons, paired statistics
    ("metrics",),  # Deletion, Insertion, MuFidelity (they return results' FaithfulnessResult)
    ("sweep", "downsampling"),  # cutoff sweeps (metrics, results); aliasing analysis (attribution, spectra)
    ("export", "plot"),  # paper styles and export; figures (results, downsampling, spectra)
    ("widgets",),  # ipywidgets explorers (plot's views, export)
    ("benchmarks",),  # forgrad-viz bench targets (sweep, widgets, models)
    (PACKAGE,),  # the facade: lazy re-exports of every public module
    ("cli",),  # forgrad-viz demo | sweep | compare | merge | bench
    ("__main__",),  # python -m forgrad_viz / torchrun
)

#: The one sanctioned upward edge: (importing package, imported package, enclosing method name).
LAZY_PLOT = ("results", "plot", "plot")


# ------------------------------------------------------------------------------------------------ the graph


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every ``.py`` file under ``root`` (a package's ``__init__`` is
    the package itself)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _resolve(name: str, modules: Mapping[str, Path]) -> str:
    """The longest known module that ``name`` (a module or a module's attribute) starts with."""
    while name not in modules:
        name = name.rpartition(".")[0]
    return name


class _Imports(ast.NodeVisitor):
    """Collects (imported name, enclosing class, enclosing function) for every import of a module."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.scope: list[tuple[str, str]] = []
        self.found: list[tuple[str, str | None, str | None]] = []

    def _enclosing(self) -> tuple[str | None, str | None]:
        """The innermost function and the class it is a method of (None when not a method)."""
        for i in range(len(self.scope) - 1, -1, -1):
            kind, name = self.scope[i]
            if kind == "function":
                owner = self.scope[i - 1] if i else None
                return (owner[1] if owner and owner[0] == "class" else None), name
        return None, None

    def _nested(self, kind: str, node: ast.AST) -> None:
        self.scope.append((kind, node.name))
        self.generic_visit(node)
        self.scope.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._nested("class", node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested("function", node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        self.found.extend((alias.name, *self._enclosing()) for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        self.found.extend((f"{module}.{alias.name}", *self._enclosing()) for alias in node.names)


def import_edges(root: Path, package: str) -> dict[str, set[tuple[str, str | None, str | None]]]:
    """Module -> the package's modules it imports, each as (module, enclosing class, enclosing function)."""
    modules = module_names(root, package)
    edges: dict[str, set[tuple[str, str | None, str | None]]] = {name: set() for name in modules}
    for name, path in modules.items():
        visitor = _Imports(name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for imported, owner, function in visitor.found:
            if imported == package or imported.startswith(package + "."):
                target = _resolve(imported, modules)
                if target != name:
                    edges[name].add((target, owner, function))
    return edges


def _top(module: str) -> str:
    """The top-level package of a module (the package itself for ``forgrad_viz``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def is_sanctioned(source: str, target: str, owner: str | None, function: str | None) -> bool:
    """Whether an edge is the lazy import of a result container's ``.plot()`` (see :data:`LAZY_PLOT`)."""
    package, imported, method = LAZY_PLOT
    return _top(source) == package and _top(target) == imported and owner is not None and function == method


def package_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> imported modules, the sanctioned edges left out and the facade's lazy exports added."""
    graph = {
        source: {
            target for target, owner, function in found if not is_sanctioned(source, target, owner, function)
        }
        for source, found in import_edges(root, package).items()
    }
    if package == PACKAGE:
        lazy = {*forgrad_viz._EXPORTS.values(), *forgrad_viz._SUBMODULES.values()}
        graph[PACKAGE] |= {f"{PACKAGE}.{name}" for name in lazy}
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import circles of ``graph``: its strongly connected components with more than one module (or a
    module importing itself), each sorted, found by Tarjan's algorithm (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(sorted(component))
    return found


def upward_imports(graph: Mapping[str, Iterable[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Edges ``a -> b`` between different top-level packages where b's layer is not below a's."""
    rank = {name: level for level, names in enumerate(layers) for name in names}
    bad = []
    for source, targets in graph.items():
        for target in targets:
            top_source, top_target = _top(source), _top(target)
            if top_source != top_target and rank[top_target] >= rank[top_source]:
                bad.append(f"{source} -> {target}")
    return sorted(bad)


# ------------------------------------------------------------------------------------------------ the package


def test_every_top_level_module_has_a_layer() -> None:
    tops = {_top(name) for name in module_names(ROOT, PACKAGE)}
    placed = [name for names in LAYERS for name in names]
    assert len(placed) == len(set(placed))
    assert tops == set(placed)


def test_no_import_circle() -> None:
    assert cycles(package_graph()) == []


def test_no_upward_import() -> None:
    assert upward_imports(package_graph(), LAYERS) == []


def test_the_sanctioned_edges_are_the_containers_plot_methods() -> None:
    """The only edges left out are results -> plot inside ``.plot()`` methods, and they exist (a rename of the
    method or of the packages must be seen here)."""
    left_out = sorted(
        (source, target, owner)
        for source, found in import_edges(ROOT, PACKAGE).items()
        for target, owner, function in found
        if is_sanctioned(source, target, owner, function)
    )
    assert {owner for _, _, owner in left_out} >= {
        "CutoffSweep",
        "ArchitectureComparison",
        "FaithfulnessResult",
    }
    assert all(
        source.startswith("forgrad_viz.results.") and target == "forgrad_viz.plot"
        for source, target, _ in left_out
    )


# ------------------------------------------------------------------------------------------------ the checks


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_cycles_of_synthetic_graphs() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    two = cycles({"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}})
    assert sorted(two) == [["a", "b"], ["c", "d"]]
    chain = {str(i): {str(i + 1)} for i in range(3000)}  # deep: no recursion limit
    chain["3000"] = {"0"}
    assert len(cycles(chain)[0]) == 3001


def test_upward_imports_of_a_synthetic_graph() -> None:
    layers = (("low",), ("mid", "side"), ("high",))
    graph = {"p.mid.a": {"p.low", "p.mid.b"}, "p.high": {"p.mid.a"}, "p.low": set()}
    assert upward_imports(graph, layers) == []
    graph["p.low"] = {"p.high"}  # upward
    graph["p.side"] = {"p.mid.a"}  # sideways, within a layer
    assert upward_imports(graph, layers) == ["p.low -> p.high", "p.side -> p.mid.a"]


def test_collector_sees_lazy_type_checking_and_relative_imports(tmp_path) -> None:
    root = _write(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "def f():\n    from pkg.b import g\n    return g\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n",
            "c.py": "import pkg.sub.d as d\n",
            "sub/__init__.py": "from .d import x\n",
            "sub/d.py": "from ..a import f\nx = 1\n",
        },
    )
    edges = {
        source: {target for target, _, _ in found} for source, found in import_edges(root, "pkg").items()
    }
    assert edges == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.c"},
        "pkg.c": {"pkg.sub.d"},
        "pkg.sub": {"pkg.sub.d"},
        "pkg.sub.d": {"pkg.a"},
    }
    assert cycles(edges) == [["pkg.a", "pkg.b", "pkg.c", "pkg.sub.d"]]


def test_only_a_plot_method_in_results_is_sanctioned(tmp_path) -> None:
    """A lazy results -> plot import outside a class's ``plot`` method counts as an upward edge."""
    method = "class R:\n    def plot(self):\n        from pkg.plot import f\n        return f\n"
    helper = "def plot():\n    from pkg.plot import f\n    return f\n"  # a module function, not a method
    other = "class R:\n    def show(self):\n        from pkg.plot import f\n        return f\n"
    for i, (text, sanctioned) in enumerate(((method, True), (helper, False), (other, False))):
        files = {"__init__.py": "", "results/__init__.py": text, "plot.py": "f = 1\n"}
        root = _write(tmp_path / str(i), files)
        found = import_edges(root, "pkg")["pkg.results"]
        assert [is_sanctioned("pkg.results", *edge) for edge in found] == [sanctioned]
