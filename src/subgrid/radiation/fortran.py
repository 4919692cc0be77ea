"""Build the Fortran coupling layer (package data ``fortran_sources/``) and exchange columns with its programs.

``build_fortran`` configures and builds, with CMake, the C ABI over the torch wheel's own LibTorch
(``torch.utils.cmake_prefix_path``, so the C++ ABI always matches; TorchScript and AOTInductor
backends), the Fortran modules (``subgrid_emulator`` re-exporting ``subgrid_radiation`` and
``subgrid_gw_drag``), the numbered example hosts and the error-code test program (and, on
request, the call-overhead benchmarks). ``install_fortran`` installs the library with its CMake
package config, and ``run_installed_examples`` builds the examples against the installed package
(``find_package(subgrid)``) and runs them under CTest. ``write_columns``/``read_outputs`` are the
Python side of example 01's binary files (format in its source header).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from subgrid.core.errors import InputError, SubgridError

#: The C++ adapter, Fortran module, example host, tests and benchmarks with their CMakeLists.txt: package
#: data of ``subgrid.radiation`` (``src/subgrid/radiation/fortran_sources`` in the repository), installed
#: with the package as plain files, so CMake can read them where they are.
FORTRAN_SOURCE = Path(str(resources.files("subgrid.radiation") / "fortran_sources"))


class BuildError(SubgridError, RuntimeError):
    """A tool is missing, or CMake or the compilers failed."""


@dataclass(frozen=True)
class FortranBuild:
    """Paths of what :func:`build_fortran` built."""

    build_dir: Path
    library: Path
    radiation_columns: Path
    gw_drag_columns: Path
    error_codes: Path
    bench_fortran: Path | None = None
    bench_libtorch: Path | None = None


def _require_tools() -> None:
    missing = []
    if shutil.which("cmake") is None:
        missing.append("cmake")
    fortran = os.environ.get("FC", "gfortran")
    if shutil.which(fortran) is None:
        missing.append(f"a Fortran compiler ({fortran}; apt-get install -y gfortran, or make system-deps)")
    if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
        missing.append("a C++ compiler (g++)")
    if missing:
        raise BuildError(f"cannot build the Fortran coupling layer: missing {'; '.join(missing)}")


def _run(command: list[str], what: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise BuildError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def build_fortran(
    build_dir: str | Path, *, benchmarks: bool = False, source_dir: str | Path = FORTRAN_SOURCE, jobs: int | None = None
) -> FortranBuild:
    """Configure and build ``source_dir`` into ``build_dir`` (incremental when it exists); return the built paths."""
    source_dir, build_dir = Path(source_dir), Path(build_dir)
    if not (source_dir / "CMakeLists.txt").exists():
        raise BuildError(f"{source_dir}: no CMakeLists.txt (the Fortran sources are package data of subgrid.radiation)")
    _require_tools()
    _run(
        [
            "cmake", "-S", str(source_dir), "-B", str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
            f"-DSUBGRID_BUILD_BENCHMARKS={'ON' if benchmarks else 'OFF'}",
        ],
        "cmake configure",
    )  # fmt: skip
    _run(["cmake", "--build", str(build_dir), "-j", str(jobs or os.cpu_count() or 1)], "cmake build")
    return FortranBuild(
        build_dir=build_dir,
        library=build_dir / "libsubgrid_emulator.so",
        radiation_columns=build_dir / "examples" / "radiation_columns",
        gw_drag_columns=build_dir / "examples" / "gw_drag_columns",
        error_codes=build_dir / "examples" / "error_codes",
        bench_fortran=build_dir / "bench_fortran" if benchmarks else None,
        bench_libtorch=build_dir / "bench_libtorch" if benchmarks else None,
    )


def install_fortran(build: FortranBuild, prefix: str | Path) -> Path:
    """``cmake --install`` a :func:`build_fortran` build into ``prefix`` (library, header, Fortran modules,
    ``lib/cmake/subgrid/subgridConfig.cmake``); returns ``prefix``."""
    prefix = Path(prefix)
    _run(["cmake", "--install", str(build.build_dir), "--prefix", str(prefix)], "cmake install")
    return prefix


def run_installed_examples(
    prefix: str | Path, build_dir: str | Path, test_data: str | Path, *, source_dir: str | Path = FORTRAN_SOURCE
) -> str:
    """Build ``examples/`` against the subgrid installed in ``prefix`` (``find_package(subgrid)``) and run CTest
    on the artifacts and columns in ``test_data`` (layout in ``examples/CMakeLists.txt``); returns CTest's output.

    Raises :class:`BuildError` with CTest's output when an example fails.
    """
    build_dir = Path(build_dir)
    _run(
        [
            "cmake", "-S", str(Path(source_dir) / "examples"), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={prefix}", f"-DSUBGRID_TEST_DATA={test_data}",
        ],
        "cmake configure of the examples against the installed package",
    )  # fmt: skip
    _run(["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 1)], "cmake build of the examples")
    return _run(["ctest", "--test-dir", str(build_dir), "--output-on-failure"], "ctest")


def write_columns(
    path: str | Path, level_inputs: np.ndarray, column_inputs: np.ndarray, pressure_interface_Pa: np.ndarray
) -> Path:
    """Write ``[column, feature, level]``, ``[column, feature]``, ``[column, interface]`` inputs for the example host.

    Row-major arrays are written as they lie in memory, which is the Fortran layout
    ``(level, feature, column)`` the host reads them into.
    """
    level = np.ascontiguousarray(level_inputs, dtype=np.float32)
    column = np.ascontiguousarray(column_inputs, dtype=np.float32)
    pressure = np.ascontiguousarray(pressure_interface_Pa, dtype=np.float32)
    n_columns, n_features, n_levels = level.shape
    header = np.array([n_columns, n_levels, n_features, column.shape[1]], dtype=np.int32)
    path = Path(path)
    with path.open("wb") as handle:
        for array in (header, level, column, pressure):
            handle.write(array.tobytes())
    return path


def read_outputs(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Fluxes ``[column, 4, interface]`` (W m⁻²) and heating ``[column, 2, level]`` (K/day) written by the host."""
    raw = Path(path).read_bytes()
    n_columns, n_levels = np.frombuffer(raw[:8], dtype=np.int32)
    values = np.frombuffer(raw[8:], dtype=np.float32).copy()  # a writable array, not a view of the bytes
    n_fluxes = n_columns * 4 * (n_levels + 1)
    if values.size != n_fluxes + n_columns * 2 * n_levels:
        raise InputError(f"{path}: {values.size} values, expected {n_fluxes + n_columns * 2 * n_levels}")
    return values[:n_fluxes].reshape(n_columns, 4, n_levels + 1), values[n_fluxes:].reshape(n_columns, 2, n_levels)
