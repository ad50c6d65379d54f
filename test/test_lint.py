"""Linters run as tests (like ament_flake8): ruff, the package's import graph, ROS-free core."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / "depthnet_nano_ros"
CORE = ("model", "inference", "geometry", "kitti", "evaluation", "training")


def test_ruff_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    exe = str(ruff) if ruff.exists() else shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (it is in requirements.txt)")
    result = subprocess.run([exe, "check", "--output-format", "concise", "depthnet_nano_ros",
                             "test", "launch"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_does_not_import_rclpy() -> None:
    files = [p for d in CORE for p in (PKG / d).rglob("*.py")]
    offenders = [str(p.relative_to(REPO)) for p in files
                 if "import rclpy" in p.read_text() or "from rclpy" in p.read_text()]
    assert not offenders, f"the ROS-free core imports rclpy: {offenders}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return getattr(t, "id", None) == "TYPE_CHECKING" or getattr(t, "attr", None) == "TYPE_CHECKING"


def _imports(module: str, path: Path, modules: set[str]) -> set[str]:
    """Package modules `module` imports anywhere (functions too; not under TYPE_CHECKING)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)  # type-only imports do not run
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:  # `from pkg import submodule` imports the submodule
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
        stack.extend(ast.iter_child_nodes(node))
    return {m for m in found if m in modules and m != module}


def _import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    return {m: _imports(m, p, set(files)) for m, p in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    graph = _import_graph()
    assert len(graph) > 50 and "depthnet_nano_ros.inference.loaders" in graph
    assert not _cycles(graph), f"import cycles in the package: {_cycles(graph)}"


def test_core_never_imports_ros_modules() -> None:
    graph = _import_graph()
    core = tuple(f"depthnet_nano_ros.{d}" for d in CORE)
    offenders = {m: sorted(d for d in deps if d.startswith("depthnet_nano_ros.ros"))
                 for m, deps in graph.items() if m.startswith(core)}
    assert not {m: d for m, d in offenders.items() if d}, "the ROS-free core imports ros/"


def test_importing_evaluation_loads_no_rclpy() -> None:
    code = ("import pkgutil, sys, importlib, depthnet_nano_ros.evaluation as ev\n"
            "for m in pkgutil.iter_modules(ev.__path__):\n"
            "    importlib.import_module(f'depthnet_nano_ros.evaluation.{m.name}')\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('rclpy', 'rosidl_parser')"
            " or k.startswith('depthnet_nano_ros.ros')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


#: what `inference/` keeps at its top: the public API; everything else lives in a sub-package
INFERENCE_TOP = {"__init__", "errors", "estimator", "loaders", "availability", "predict_command"}
INFERENCE_ROLES = {"backends", "export", "cpu", "bench"}


def test_inference_keeps_the_public_api_on_top_and_the_rest_by_role() -> None:
    inference = PKG / "inference"
    top = {p.stem for p in inference.glob("*.py")}
    subs = {p.name for p in inference.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top == INFERENCE_TOP, f"inference/ top level: unexpected {sorted(top - INFERENCE_TOP)}"
    assert subs == INFERENCE_ROLES, f"inference/ sub-packages: {sorted(subs)}"
    assert all((inference / s / "__init__.py").is_file() for s in subs)
    assert not list(PKG.glob("demo*.py")), "the demo lives in depthnet_nano_ros/demo/"
