"""Open a zarr store or netCDF file lazily so that every later read that fails names the store and the variable.

A truncated or corrupt chunk only shows when it is read (a blosc or HDF5 error deep inside dask,
long after the file was opened). :func:`open_store` puts each variable's reads behind a wrapper
that turns such a failure into an :class:`~subgrid.core.errors.InputError` naming the file and the
variable, wherever the read happens (``.values``, ``.load()``, a dask computation, a worker).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
import os
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from subgrid.core.errors import InputError


class _GuardedReads:
    """Array-like over one lazily opened variable: reads that fail raise an InputError naming file and variable."""

    def __init__(self, variable: xr.Variable, path: Path, name: str) -> None:
        self._variable, self._path, self._name = variable, path, name
        self.shape, self.dtype, self.ndim = variable.shape, variable.dtype, variable.ndim

    def __getitem__(self, key) -> np.ndarray:
        try:
            return np.asarray(self._variable[key].values)
        except Exception as error:  # the codecs and backends raise many types for one cause: bad bytes
            raise InputError(
                f"{self._path}: variable {self._name} cannot be read, the file is damaged or truncated "
                f"({_first_line(error)})"
            ) from error


def _first_line(error: BaseException) -> str:
    """``Type: message`` of a library's error, its first line only (xarray appends help on later lines)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _chunks(variable: xr.Variable, chunks: Mapping[str, int]) -> tuple[int, ...]:
    preferred = {**variable.encoding.get("preferred_chunks", {}), **chunks}
    return tuple(min(int(preferred.get(dim, size)), size) or 1 for dim, size in zip(variable.dims, variable.shape, strict=True))


def open_store(path: str | Path, *, what: str = "dataset", chunks: Mapping[str, int] | None = None) -> xr.Dataset:
    """``path`` (a zarr directory, else a netCDF file) as a dask-backed Dataset whose reads fail in one line.

    ``chunks`` overrides the stored chunk size along the dims it names. Raises
    :class:`~subgrid.core.errors.InputError` when ``path`` does not exist or is neither format (``what``
    names it in the message), and on every later read of a damaged chunk.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such {what}")
    try:
        ds = xr.open_zarr(path, chunks=None) if path.is_dir() else xr.open_dataset(path, chunks=None)
    except Exception as error:  # zarr, h5py and netCDF4 raise many types for a file that is not theirs
        kind = "zarr store" if path.is_dir() else "netCDF file"
        raise InputError(f"{path}: not a readable {kind} ({_first_line(error)})") from error
    guarded = {}
    for name, variable in ds.variables.items():
        if name in ds.indexes:
            continue  # index coordinates are read at open, so a bad one already failed above
        array = da.from_array(
            _GuardedReads(variable, path, str(name)), chunks=_chunks(variable, chunks or {}), name=False,
            meta=np.empty((0,) * variable.ndim, dtype=variable.dtype),
        )  # fmt: skip
        guarded[name] = xr.Variable(variable.dims, array, variable.attrs, variable.encoding)
    return ds.assign_coords({n: v for n, v in guarded.items() if n in ds.coords}).assign(
        {n: v for n, v in guarded.items() if n not in ds.coords}
    )


def expand_dataset_directories(paths: Sequence[str | Path]) -> list[Path]:
    """Each path as given, except a directory that is not itself a zarr store (a grid family of
    ``subgrid generate grids``): its ``*.zarr`` datasets, sorted."""
    expanded = []
    for path in map(Path, paths):
        is_store = any((path / name).exists() for name in (".zgroup", ".zattrs", "zarr.json"))
        children = sorted(path.glob("*.zarr")) if path.is_dir() and not is_store else []
        expanded.extend(children or [path])
    return expanded


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it: never a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_netcdf_atomic(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` as netCDF (h5netcdf) to a hidden temporary file beside ``path`` and rename it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    ds.to_netcdf(tmp, engine="h5netcdf")
    os.replace(tmp, path)
    return path


def append_json_line(path: str | Path, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path`` (created with its folder), flushed to disk.

    Results files of long experiments grow a line per finished part; a crash loses at most the
    line being written, never the earlier ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_json_lines(path: str | Path) -> list[dict]:
    """The records of a JSON-lines file (blank lines skipped); an empty list if it does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
