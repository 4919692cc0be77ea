"""Checks on column data that fail with one clear line naming the variable, the problem and the column.

Pure numpy/xarray; used at every boundary where user data enters (physics schemes, dataset
generation, evaluation, export). Each check raises :class:`subgrid.core.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import xarray as xr

from subgrid.core.errors import InputError


def _first_bad(mask: np.ndarray, dims: tuple[str, ...]) -> str:
    """Describe the first True entry of ``mask`` as 'column 3, level 7'."""
    index = np.unravel_index(int(np.flatnonzero(mask)[0]), mask.shape)
    return ", ".join(f"{dim} {i}" for dim, i in zip(dims, index, strict=True))


def require_variables(ds: xr.Dataset, names: Iterable[str], *, what: str = "dataset") -> None:
    """Raise if any of ``names`` is missing from ``ds``."""
    missing = [name for name in names if name not in ds.variables]
    if missing:
        raise InputError(f"{what} is missing variable(s) {', '.join(missing)}")


def check_dims(ds: xr.Dataset, expected: Mapping[str, tuple[str, ...]]) -> None:
    """Raise if a variable's dims differ from ``expected[name]`` (order included)."""
    for name, dims in expected.items():
        if name in ds.variables and tuple(ds[name].dims) != tuple(dims):
            raise InputError(
                f"{name}: dims {tuple(ds[name].dims)} but expected {tuple(dims)}"
            )


def check_numeric(ds: xr.Dataset, names: Iterable[str], *, where: str = "") -> None:
    """Raise if a variable holds something other than numbers (strings, objects, dates; booleans and integers pass)."""
    for name in names:
        kind = ds[name].dtype.kind
        if kind not in "biuf":
            place = f" in {where}" if where else ""
            raise InputError(f"{name}{place}: expected numbers, got dtype {ds[name].dtype}")


def check_data(ds: xr.Dataset, dims: Mapping[str, tuple[str, ...]], *, where: str = "", any_order: bool = False) -> None:
    """Raise unless each variable ``name`` of ``dims`` has exactly the dims ``dims[name]`` (in that order unless
    ``any_order``), at least one value along each, and numbers (:func:`check_numeric`).

    Reads nothing (dims, sizes and dtypes only), so it suits lazily opened stores: the check every
    reader makes before its arithmetic, where a string array or a dim of length 0 would otherwise
    fail deep in numpy.
    """
    place = f" in {where}" if where else ""
    for name, expected in dims.items():
        given = tuple(ds[name].dims)
        if (sorted(given) != sorted(expected)) if any_order else (given != tuple(expected)):
            raise InputError(f"{name}{place}: dims {given}, expected {tuple(expected)}")
        check_has_values(ds[name], name, where=where)
    check_numeric(ds, dims, where=where)


def check_has_values(array: xr.DataArray, name: str, *, where: str = "") -> None:
    """Raise if ``array`` has a dim of length 0 (nothing to compute on; numpy's reductions would fail on it)."""
    empty = [dim for dim, size in array.sizes.items() if size == 0]
    if empty:
        place = f" in {where}" if where else ""
        raise InputError(f"{name}{place}: no values (dim {empty[0]!r} has length 0)")


def check_finite(ds: xr.Dataset, names: Iterable[str]) -> None:
    """Raise on the first NaN or Inf, naming variable and position."""
    names = list(names)
    check_numeric(ds, names)
    for name in names:
        values = np.asarray(ds[name].values, dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            kind = "NaN" if np.isnan(values[bad]).any() else "Inf"
            raise InputError(
                f"{name}: {int(bad.sum())} non-finite value(s) ({kind}), first at "
                f"{_first_bad(bad, ds[name].dims)}"
            )


def check_range(
    ds: xr.Dataset,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    units: str = "",
    low_inclusive: bool = True,
) -> None:
    """Raise if any value of ``ds[name]`` lies outside [low, high] (or (low, high] if not inclusive)."""
    values = np.asarray(ds[name].values, dtype=float)
    bad = np.zeros(values.shape, dtype=bool)
    if low is not None:
        bad |= values < low if low_inclusive else values <= low
    if high is not None:
        bad |= values > high
    if bad.any():
        first = values[bad].flat[0]
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        bracket = "[" if low_inclusive else "("
        unit = f" {units}" if units else ""
        raise InputError(
            f"{name}: {int(bad.sum())} value(s) outside {bracket}{lo}, {hi}]{unit}, first at "
            f"{_first_bad(bad, ds[name].dims)} (value {first:g}{unit})"
        )


def check_monotonic(ds: xr.Dataset, name: str, dim: str, *, decreasing: bool) -> None:
    """Raise if ``ds[name]`` is not strictly monotonic along ``dim`` in every column."""
    da = ds[name].transpose(..., dim)
    step = np.diff(np.asarray(da.values, dtype=float), axis=-1)
    bad = step >= 0 if decreasing else step <= 0
    if bad.any():
        direction = "decreasing" if decreasing else "increasing"
        raise InputError(
            f"{name}: not strictly {direction} along {dim}, first break at "
            f"{_first_bad(bad, da.dims)}"
        )


def check_finite_lazy(ds: xr.Dataset, names: Iterable[str], *, where: str) -> None:
    """:func:`check_finite` for lazily opened (dask) data, read chunk by chunk, never whole.

    Raises naming ``where`` (the file), the variable, the count and the first entry along the
    variable's first dim (e.g. the column) that holds a NaN or Inf.
    """
    names = list(names)
    check_numeric(ds, names, where=where)
    for name in names:
        bad = ~np.isfinite(ds[name])
        count = int(bad.sum().compute())
        if count:
            first_dim = bad.dims[0]
            per_entry = np.asarray(bad.any(dim=bad.dims[1:]).compute()) if bad.ndim > 1 else np.asarray(bad.compute())
            raise InputError(
                f"{where}: {name} has {count} non-finite value(s) (NaN or Inf), first at {first_dim} "
                f"{int(np.flatnonzero(per_entry)[0])}"
            )
