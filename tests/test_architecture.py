"""The layering rule of STYLE.md, enforced: physics -> data -> training -> evaluation -> coupling -> hosts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency (pip install -e '.[dev]')"
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


MAX_MODULE_LINES = 600


def _lint_imports() -> str:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency (pip install -e '.[dev]')"
    return lint_imports


def test_a_planted_import_cycle_breaks_the_contracts(tmp_path):
    """The acyclic contract is live: two modules importing each other in a copy of the package fail lint-imports."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src" / "subgrid", tmp_path / "src" / "subgrid",
                    ignore=shutil.ignore_patterns("__pycache__", "fortran_sources"))  # fmt: skip
    core = tmp_path / "src" / "subgrid" / "core"
    (core / "_planted_a.py").write_text("from subgrid.core import _planted_b\n")
    (core / "_planted_b.py").write_text("from subgrid.core import _planted_a\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    result = subprocess.run([_lint_imports(), "--no-cache", "--config", str(tmp_path / "pyproject.toml")],
                            cwd=tmp_path, env=env, capture_output=True, text=True)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "No import cycles in subgrid BROKEN" in output
    assert "_planted_a" in output and "_planted_b" in output


def test_no_module_is_longer_than_600_lines():
    root = ROOT / "src" / "subgrid"
    lengths = {path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines()) for path in root.rglob("*.py")}
    too_long = [f"{path}: {n} lines" for path, n in sorted(lengths.items()) if n > MAX_MODULE_LINES]
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them along physical lines):\n" + "\n".join(too_long)


def test_the_fortran_sources_are_package_data():
    """Found through importlib.resources (no path relative to the repository), and shipped in the wheel."""
    sources = resources.files("subgrid.radiation") / "fortran_sources"
    assert (sources / "CMakeLists.txt").is_file() and (sources / "src" / "subgrid_emulator.f90").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "fortran_sources/**/*" in package_data["subgrid.radiation"]
