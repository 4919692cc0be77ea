"""Gravity-wave flux datasets from your own high-resolution fields (ERA5 model or pressure levels).

:func:`gw_fluxes_from_fields` reads ERA5-like fields, checks them, and returns the coarse
dataset an emulator trains on: the inputs u, v, temperature (and geopotential, pressure, surface
height when present) conservatively coarse-grained to the target grid, and the targets
``uw_flux``, ``vw_flux`` (Pa) of :func:`subgrid.physics.gw_fluxes.gravity_wave_fluxes_Pa`.
:func:`generate_gw_fluxes` opens files, runs it and writes zarr atomically
(``subgrid generate gw-fluxes``).

Names read (``variables=`` overrides them): ``u``, ``v`` (m s-1); ``w`` or ``omega`` (Pa s-1,
ERA5's "vertical velocity" is omega); ``t`` or ``temperature`` (K); optional ``z`` (m2 s-2: on
levels it is geopotential, without a level dim the surface geopotential, giving the surface
height z/g), optional ``p`` or ``pressure`` (Pa). Dims: ``time`` (or ``valid_time``), a level dim
(``level``, ``pressure_level``, ``model_level``, ``hybrid``, ``lev``, ``plev``), ``latitude``/``lat``
and ``longitude``/``lon``. Every variable must carry a ``units`` attribute, converted once
(spellings and factors: :mod:`subgrid.core.units`).

Latitudes may come either way (south-to-north fields are flipped); longitudes may start anywhere
(-180..180 is rolled to 0..360) but must cover the circle equally spaced without duplicates; the
source grid must be equiangular with poles or Gaussian (the spectral transforms need one of
them). Levels must be strictly monotonic. One time step is processed at a time.

:func:`ad99_flux_target` gives a coarse dataset another target on the same states: the momentum
fluxes of the Alexander-Dunkerton (1999) scheme (:mod:`subgrid.physics.ad99`) run on each coarse
column, a deterministic function of the state an emulator sees (a parameterization's output to
emulate, not waves resolved by the simulation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

import subgrid
from subgrid.core import validation
from subgrid.core.chunked import write_zarr_atomic
from subgrid.core.errors import InputError
from subgrid.core.stores import open_store
from subgrid.core.ownership import DATASET, check_replaceable
from subgrid.core.units import factor, to_units
from subgrid.physics.ad99 import AD99Config
from subgrid.physics.ad99_scheme import gw_drag_dataset
from subgrid.physics.constants import STANDARD_GRAVITY_M_PER_S2
from subgrid.physics.gw_fluxes import (
    DEFAULT_TRUNCATION,
    LatLonGrid,
    conservative_regrid,
    gravity_wave_fluxes_Pa,
)

GENERATOR = "subgrid.gravity_waves.gridded.fluxes"
#: The study's target: the T42 Gaussian grid of the public dataset.
DEFAULT_TARGET = "gaussian:64x128"
DIM_ALIASES = {
    "time": ("time", "valid_time"),
    "level": ("level", "pressure_level", "model_level", "hybrid", "lev", "plev"),
    "lat": ("latitude", "lat"),
    "lon": ("longitude", "lon"),
}
#: Our name -> (names looked for in the file, unit, required).
VARIABLES = {
    "u": (("u",), "m s-1", True),
    "v": (("v",), "m s-1", True),
    "omega": (("w", "omega"), "Pa s-1", True),
    "temperature": (("t", "temperature"), "K", True),
    "z": (("z",), "m2 s-2", False),
    "pressure": (("p", "pressure"), "Pa", False),
    "convective_heating": (("convective_heating",), "K day-1", False),
}
#: Ours that are one field per column (no level dim): the surface height and the convective heating.
_SINGLE = ("surface_height", "convective_heating")
LONG_NAMES = {
    "u": "zonal wind",
    "v": "meridional wind",
    "temperature": "temperature",
    "geopotential": "geopotential",
    "pressure": "pressure",
    "surface_height": "surface height (surface geopotential / g)",
    "convective_heating": "convective heating rate at its peak level",
    "uw_flux": "zonal gravity-wave momentum flux u'omega'/(-g)",
    "vw_flux": "meridional gravity-wave momentum flux v'omega'/(-g)",
}
UNITS = {"u": "m s-1", "v": "m s-1", "temperature": "K", "geopotential": "m2 s-2", "pressure": "Pa",
         "surface_height": "m", "convective_heating": "K day-1", "uw_flux": "Pa", "vw_flux": "Pa"}


def _rename_dims(ds: xr.Dataset) -> xr.Dataset:
    renames = {}
    for ours, aliases in DIM_ALIASES.items():
        found = [name for name in aliases if name in ds.dims]
        if len(found) > 1:
            raise InputError(f"dims {found} are all {ours} dims: expected one")
        if found and found[0] != ours:
            renames[found[0]] = ours
    ds = ds.rename(renames)
    for ours in ("lat", "lon"):
        if ours not in ds.dims:
            raise InputError(f"no {ours} dim: expected one of {', '.join(DIM_ALIASES[ours])}")
    return ds


def _pick_variables(ds: xr.Dataset, variables: Mapping[str, str]) -> dict[str, xr.DataArray]:
    unknown = set(variables) - set(VARIABLES)
    if unknown:
        raise InputError(f"variables: unknown name(s) {sorted(unknown)}; expected some of {sorted(VARIABLES)}")
    picked = {}
    for ours, (aliases, unit, required) in VARIABLES.items():
        candidates = (variables[ours],) if ours in variables else aliases
        name = next((n for n in candidates if n in ds.data_vars), None)
        if name is None:
            if required:
                raise InputError(f"{ours}: missing; expected a variable named {' or '.join(candidates)} ({unit})")
            continue
        units = ds[name].attrs.get("units")
        if units is None:
            raise InputError(f"{name}: no units attribute; expected {unit}")
        picked[ours] = to_units(ds[name], str(units), unit, name=name)
    return picked


def _orient(ds: xr.Dataset) -> xr.Dataset:
    """North-to-south latitudes, longitudes ascending from [0, 360), strictly monotonic levels."""
    lat = ds["lat"].values
    if lat.size > 1 and not (np.all(np.diff(lat) < 0) or np.all(np.diff(lat) > 0)):
        raise InputError("latitude: not strictly monotonic")
    if lat.size > 1 and lat[1] > lat[0]:
        ds = ds.isel(lat=slice(None, None, -1))
    lon = np.mod(ds["lon"].values.astype(np.float64), 360.0)
    if np.unique(np.round(lon, 6)).size != lon.size:
        raise InputError("longitude: duplicate values after wrapping to [0, 360) (e.g. both 0 and 360)")
    ds = ds.assign_coords(lon=lon).sortby("lon")
    if "level" in ds.dims:
        level = ds["level"].values
        steps = np.diff(level.astype(np.float64))
        if not (np.all(steps > 0) or np.all(steps < 0)):
            raise InputError("level: not strictly monotonic")
    return ds


def _check_finite(name: str, values: np.ndarray, dims: Sequence[str], time_index: int) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        where = ", ".join(f"{d}={i}" for d, i in zip(dims, np.argwhere(bad)[0], strict=True))
        raise InputError(f"{name}: {int(bad.sum())} NaN/Inf value(s) at time index {time_index} (first at {where})")


def _level_pressure_Pa(level: xr.DataArray) -> np.ndarray | None:
    """The level coordinate in Pa when it is a pressure (ERA5 pressure levels), else ``None`` (model levels)."""
    scale = factor(str(level.attrs.get("units", "")), "Pa")
    return None if scale is None else np.asarray(level.values, dtype=float) * scale


def gw_fluxes_from_fields(
    ds: xr.Dataset,
    target: str | LatLonGrid = DEFAULT_TARGET,
    truncation: int = DEFAULT_TRUNCATION,
    variables: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> xr.Dataset:
    """The coarse inputs and GW momentum-flux targets (Pa) of high-resolution fields ``ds``, on ``target``.

    ``target`` is a :class:`LatLonGrid` or its ``KIND:NLATxNLON`` text; ``variables`` maps our names
    (``u, v, omega, temperature, z, pressure``) to the file's where they differ from the defaults;
    ``progress(done, total)`` is called after each time step. Raises :class:`InputError` naming the
    variable and the problem for bad input.
    """
    target = LatLonGrid.parse(target) if isinstance(target, str) else target
    if truncation < 0:
        raise InputError(f"truncation {truncation}: expected a degree >= 0")
    ds = _orient(_rename_dims(ds))
    fields = _pick_variables(ds, dict(variables or {}))
    for field in fields.values():
        validation.check_has_values(field, str(field.name))
    source = LatLonGrid.from_coordinates(ds["lat"].values, ds["lon"].values)
    if not source.has_transform:
        raise InputError(f"latitude: the fields are on a {source.describe()} grid (no point on the poles); the "
                         "spectral transforms need an equiangular grid with poles or a Gaussian grid")
    if target.nlat > source.nlat or target.nlon > source.nlon:
        raise InputError(f"target grid {target.describe()} is finer than the fields' {source.describe()}")
    if "level" not in ds.dims:
        raise InputError("no level dim: expected one of " + ", ".join(DIM_ALIASES["level"]))
    names = {"u": "u", "v": "v", "temperature": "temperature", "pressure": "pressure", "omega": "omega",
             "convective_heating": "convective_heating"}
    if "z" in fields:
        names["z"] = "geopotential" if "level" in fields["z"].dims else "surface_height"
    on_levels = {}
    for ours, field in fields.items():
        expected = {"lat", "lon"} | ({"level"} if names[ours] not in _SINGLE else set())
        if not expected <= set(field.dims) or not set(field.dims) <= expected | {"time"}:
            raise InputError(f"{field.name}: dims {field.dims}; expected (time,) {', '.join(sorted(expected))}")
        order = [d for d in ("time", "level", "lat", "lon") if d in field.dims]
        on_levels[ours] = field.transpose(*order)
    times = ds["time"].values if "time" in ds.dims else None
    n_times = 1 if times is None else len(times)

    out: dict[str, list[np.ndarray]] = {}
    for index in range(n_times):
        step = {}
        for ours, field in on_levels.items():
            values = (field.isel(time=index) if "time" in field.dims else field).values.astype(np.float64)
            _check_finite(str(field.name), values, [d for d in field.dims if d != "time"], index)
            step[ours] = values
        uw, vw = gravity_wave_fluxes_Pa(step["u"], step["v"], step["omega"], source, truncation, target)
        coarse = {"uw_flux": uw, "vw_flux": vw}
        for ours, values in step.items():
            if ours == "omega":
                continue
            scale = 1.0 / STANDARD_GRAVITY_M_PER_S2 if names[ours] == "surface_height" else 1.0
            coarse[names[ours]] = conservative_regrid(values * scale, source, target)
        for name, values in coarse.items():
            out.setdefault(name, []).append(values)
        if progress is not None:
            progress(index + 1, n_times)

    coords = {"level": ds["level"], "lat": ("lat", target.lat_deg, {"units": "degrees_north"}),
              "lon": ("lon", target.lon_deg, {"units": "degrees_east"})}
    if times is not None:
        coords["time"] = ds["time"]
    data_vars = {}
    timeless = {names[ours] for ours, field in on_levels.items() if "time" not in field.dims}
    for name, values in out.items():
        dims = ("time", "level", "lat", "lon") if values[0].ndim == 3 else ("time", "lat", "lon")
        array = np.stack(values).astype(np.float32)
        if times is None or name in timeless:
            array, dims = array[0], dims[1:]
        data_vars[name] = (dims, array, {"units": UNITS[name], "long_name": LONG_NAMES[name]})
    level_pressure = _level_pressure_Pa(ds["level"])
    if "pressure" not in data_vars and level_pressure is not None:  # pressure levels: p is the level coordinate
        shape = (len(times) if times is not None else 1, len(level_pressure), target.nlat, target.nlon)
        array = np.broadcast_to(level_pressure[None, :, None, None], shape).astype(np.float32)
        dims = ("time", "level", "lat", "lon") if times is not None else ("level", "lat", "lon")
        data_vars["pressure"] = (dims, array if times is not None else array[0],
                                 {"units": UNITS["pressure"], "long_name": LONG_NAMES["pressure"]})  # fmt: skip
    attrs = {
        "generator": GENERATOR,
        "subgrid_version": subgrid.__version__,
        "recipe": "divergent wind (vector SHT), degrees l <= truncation removed; omega' = omega - zonal mean; "
        "fluxes u'omega'/(-g), v'omega'/(-g); inputs and fluxes conservatively coarse-grained",
        "truncation": int(truncation),
        "source_grid": source.describe(),
        "target_grid": target.describe(),
        "gravity_m_per_s2": STANDARD_GRAVITY_M_PER_S2,
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def open_fields(paths: Sequence[str | Path]) -> xr.Dataset:
    """netCDF files or zarr stores combined by their coordinates (split by variable or by time), lazily."""
    datasets = []
    for path in map(Path, paths):
        datasets.append(open_store(path, what="file"))
    if not datasets:
        raise InputError("no fields files given")
    try:
        return xr.combine_by_coords(datasets, combine_attrs="drop_conflicts")
    except (ValueError, xr.MergeError) as error:
        raise InputError(f"fields files do not combine by coordinates: {error}") from error


def ad99_flux_target(ds: xr.Dataset, config: AD99Config | None = None) -> xr.Dataset:
    """``ds`` with ``uw_flux`` and ``vw_flux`` replaced by AD99's momentum fluxes (Pa) on its own columns.

    ``ds`` is a coarse dataset of this module's layout (``u``, ``v``, ``temperature``, ``pressure`` on
    ``(time, level, lat, lon)`` with ``units``, ``lat`` in degrees north, either vertical order).
    The scheme gives fluxes on the interfaces between levels; each level gets the mean of the two
    around it (zero below the launch level, about 315 hPa, lower towards the poles). Everything else
    in ``ds`` is kept; ``flux_target`` and ``ad99_settings`` attributes say where the fluxes came from.
    """
    validation.require_variables(ds, ("u", "v", "temperature", "pressure"), what="AD99 flux target: the dataset")
    if "lat" not in ds.coords:
        raise InputError(f"AD99 flux target: no 'lat' coordinate (dims {tuple(ds.dims)})")
    state = xr.Dataset({"eastward_wind": ds["u"].variable, "northward_wind": ds["v"].variable,
                        "air_temperature": ds["temperature"].variable, "air_pressure": ds["pressure"].variable,
                        "latitude": ("lat", ds["lat"].values, {"units": ds["lat"].attrs.get("units", "degrees_north")})})
    drag = gw_drag_dataset(state, config or AD99Config())
    out = ds.copy()
    for ours, theirs in (("uw_flux", "eastward"), ("vw_flux", "northward")):
        flux = drag[f"{theirs}_gravity_wave_momentum_flux"]
        on_levels = 0.5 * (flux.isel(interface=slice(None, -1)) + flux.isel(interface=slice(1, None)).values)
        on_levels = on_levels.rename(interface="level").transpose(*ds["u"].dims).astype(np.float32)
        out[ours] = (ds["u"].dims, on_levels.values,
                     {"units": "Pa", "long_name": f"{theirs} momentum flux of the AD99 scheme on this state "
                      "(mean of the two interfaces around the level)"})
    out.attrs.update(flux_target="ad99", ad99_settings=drag.attrs["ad99_settings"])
    return out


def generate_gw_fluxes(
    fields: Sequence[str | Path],
    out: str | Path,
    target: str | LatLonGrid = DEFAULT_TARGET,
    truncation: int = DEFAULT_TRUNCATION,
    variables: Mapping[str, str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Read ``fields``, compute :func:`gw_fluxes_from_fields`, write zarr at ``out`` (temp store + rename).

    Nothing is written before every time step has been checked and computed.
    """
    out = Path(out)
    check_replaceable(out, DATASET, overwrite=overwrite)
    coarse = gw_fluxes_from_fields(open_fields(fields), target, truncation, variables, progress)
    return write_zarr_atomic(coarse, out, __name__)
