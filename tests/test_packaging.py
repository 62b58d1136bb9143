"""Packaging and layering: one import package, dependencies pointing one way."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _top_level_imports(path: Path) -> set[str]:
    """Imports at module level (not inside functions): what loading the module pulls in."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "kernels").glob("*.py")), ids=lambda p: p.name)
def test_kernels_import_only_numpy_numba_and_math(path: Path) -> None:
    allowed = ("numpy", "numba", "math", "covgap.kernels", "__future__")
    bad = sorted(n for n in _imports(path) if not n.startswith(allowed))
    assert not bad, f"kernels/{path.name} imports {bad}; kernels may import only numpy, numba and math"


@pytest.mark.parametrize("path", sorted((ROOT / "datasets").glob("*.py")), ids=lambda p: p.name)
def test_datasets_do_not_import_the_domain(path: Path) -> None:
    bad = sorted(n for n in _imports(path) if n.startswith("covgap") and not n.startswith("covgap.datasets"))
    assert not bad, f"datasets/{path.name} imports {bad}; datasets may not depend on covgap's domain"


@pytest.mark.parametrize("path", sorted((ROOT / "tileserver").glob("*.py")), ids=lambda p: p.name)
def test_tileserver_reads_results_and_never_runs_propagation(path: Path) -> None:
    forbidden = ("covgap.kernels", "covgap.propagation", "covgap.analysis", "covgap.itm", "numba")
    bad = sorted(n for n in _imports(path) if n.startswith(forbidden))
    assert not bad, f"tileserver/{path.name} imports {bad}; the tile server only reads finished results"


@pytest.mark.parametrize("path", sorted((ROOT / "coverage").glob("*.py")), ids=lambda p: p.name)
def test_domain_never_loads_the_tileserver_at_import(path: Path) -> None:
    bad = sorted(n for n in _top_level_imports(path) if n.startswith(("covgap.tileserver", "flask")))
    assert not bad, f"coverage/{path.name} imports {bad} at module level"


@pytest.mark.slow
def test_wheel_holds_one_top_level_package_with_its_data(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("covgap-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"covgap"}
    for expected in (
        "covgap/cli.py",
        "covgap/kernels/jit.py",
        "covgap/datasets/README.md",
        "covgap/tileserver/static/vendor/leaflet/leaflet.js",
        "covgap/py.typed",
    ):
        assert expected in names, f"{expected} missing from the wheel"
    sample = [n for n in names if n.startswith("covgap/datasets/sample/")]
    assert any(n.endswith(".tif") for n in sample) and any(n.endswith(".toml") for n in sample)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "covgap = covgap.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
