"""Units at the boundary: the one table of accepted ``units`` spellings and their factors, for every reader.

Each canonical unit (the one a schema states, e.g. ``Pa``) has the spellings that mean it and the
other units that convert to it by a factor (``hPa`` -> ``Pa`` x 100). Spellings are compared after
:func:`canonical` (spaces, ``**``, ``^`` and ``.`` removed; ``/s`` -> ``s-1``), so ``m s**-1``,
``m/s`` and ``m s-1`` are one unit.

Policy (issue 20): data is converted once, where it enters. A variable whose ``units`` attribute is
known is converted to the schema's unit; one whose units are unknown or of another quantity is
refused with an :class:`~subgrid.core.errors.InputError` naming it; one without a ``units``
attribute is refused where ``require=True`` (files: the user states them, ``--units NAME=UNITS``)
and taken as the schema's unit otherwise (in-memory states a host builds), where the plausibility
ranges of the scheme's validation catch the gross mistakes (hPa, ppmv).
"""

from __future__ import annotations

from collections.abc import Mapping

import xarray as xr

from subgrid.core.errors import InputError


def canonical(units: str) -> str:
    """'m s**-1', 'm/s', 'm s^-1' -> 'ms-1'; 'Pa s**-1', 'Pa/s' -> 'Pas-1'; 'm**2 s**-2' -> 'm2s-2'."""
    text = str(units).strip().replace(" ", "").replace("**", "").replace("^", "").replace(".", "")
    return text.replace("/s2", "s-2").replace("/s", "s-1")


#: Canonical unit -> {spelling or other unit: factor to the canonical unit}.
_TABLE: dict[str, dict[str, float]] = {
    "Pa": {"Pa": 1.0, "pascal": 1.0, "hPa": 100.0, "mbar": 100.0, "millibar": 100.0, "millibars": 100.0,
           "mb": 100.0, "kPa": 1000.0},
    "Pa s-1": {"Pa s-1": 1.0, "Pa/s": 1.0},
    "K": {"K": 1.0, "kelvin": 1.0, "degK": 1.0},
    "kg kg-1": {"kg kg-1": 1.0, "kg/kg": 1.0, "1": 1.0, "g kg-1": 1e-3, "g/kg": 1e-3},
    "mol mol-1": {"mol mol-1": 1.0, "mol/mol": 1.0, "1": 1.0, "ppmv": 1e-6, "ppm": 1e-6, "ppbv": 1e-9,
                  "ppb": 1e-9},
    "g m-2": {"g m-2": 1.0, "g/m2": 1.0, "kg m-2": 1000.0, "kg/m2": 1000.0},
    "um": {"um": 1.0, "micron": 1.0, "microns": 1.0, "micrometre": 1.0, "micrometer": 1.0, "µm": 1.0,
           "μm": 1.0, "m": 1e6},
    "1": {"1": 1.0, "": 1.0, "fraction": 1.0, "0-1": 1.0, "%": 0.01, "percent": 0.01},
    "m s-1": {"m s-1": 1.0, "m/s": 1.0},
    "m2 s-2": {"m2 s-2": 1.0},
    "m": {"m": 1.0, "metre": 1.0, "meter": 1.0, "km": 1000.0},
    "degrees_north": {"degrees_north": 1.0, "degree_north": 1.0, "degrees_N": 1.0, "degree_N": 1.0,
                      "degrees": 1.0},
}  # fmt: skip
_FACTORS = {canonical(unit): {canonical(k): f for k, f in spellings.items()} for unit, spellings in _TABLE.items()}


def accepted(unit: str) -> list[str]:
    """The spellings accepted for the canonical ``unit`` (for messages)."""
    return list(_TABLE.get(unit, {unit: 1.0}))


def factor(given: str, expected: str) -> float | None:
    """The factor from ``given`` to ``expected`` units, or ``None`` when ``given`` is not a unit of that quantity."""
    spellings = _FACTORS.get(canonical(expected), {canonical(expected): 1.0})
    return spellings.get(canonical(given))


def to_units(values: xr.DataArray, given: str, expected: str, *, name: str, where: str = "") -> xr.DataArray:
    """``values`` in ``given`` units as ``expected`` units (``units`` attribute set); an InputError naming ``name`` if not convertible."""
    scale = factor(given, expected)
    place = f" in {where}" if where else ""
    if scale is None:
        raise InputError(f"{name}: units {given!r}{place}; expected {expected}")
    if values.dtype.kind not in "biuf":  # strings, objects, dates: no unit makes them numbers
        raise InputError(f"{name}{place}: expected numbers in {expected}, got dtype {values.dtype}")
    converted = values if scale == 1.0 else values.astype(float) * scale
    return converted.assign_attrs({**values.attrs, "units": expected})


def dataset_in_units(
    ds: xr.Dataset,
    expected: Mapping[str, str],
    *,
    stated: Mapping[str, str] | None = None,
    require: bool = False,
    where: str = "",
) -> xr.Dataset:
    """``ds`` with every variable of ``expected`` (name -> unit) present in it converted to that unit, once.

    ``stated`` gives units for variables (names of ``expected``) that take precedence over their
    ``units`` attributes (the user's word for a file without them). Without either, a variable is
    refused when ``require`` and taken as already in ``expected`` units otherwise.
    """
    stated = dict(stated or {})
    unknown = sorted(set(stated) - set(expected))
    if unknown:
        raise InputError(f"units: unknown variable(s) {', '.join(unknown)}; expected some of {', '.join(expected)}")
    converted = {}
    for name, unit in expected.items():
        if name not in ds.variables:
            continue
        given = stated.get(name, ds[name].attrs.get("units"))
        if given is None:
            if require:
                place = f" in {where}" if where else ""
                raise InputError(f"{name}: no 'units' attribute{place} (expected {unit!r}); add the attribute or "
                                 f"state the units (units={{{name!r}: ...}}, --units {name}=...)")  # fmt: skip
            continue
        if factor(str(given), unit) == 1.0 and ds[name].attrs.get("units") == unit:
            continue
        converted[name] = to_units(ds[name], str(given), unit, name=name, where=where)
    return ds.assign(converted) if converted else ds
