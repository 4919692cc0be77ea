"""Gridded gravity-wave momentum fluxes: the public fine-tuning dataset, read into named variables.

The public dataset of the Prithvi WxC gravity-wave fine-tune (Hugging Face
``ibm-nasa-geospatial/gravity-wave-parameterization``, one month of 2015:
``wxc_input_u_v_t_p_output_theta_uw_vw_era5_training_data_hourly_2015_constant_mu_sigma_scaling05.nc``,
20.9 GB) holds two variables per hourly time step, on a 64 x 128 (lat x lon) grid:

* ``features[time, idim, lat, lon]``, ``idim = 3 + 4 L`` (491 for L = 122 levels): latitude,
  longitude and surface elevation (one channel each), then u, v, T and P (L channels each);
* ``output[time, odim, lat, lon]``, ``odim = 3 L`` (366): potential temperature θ, then the
  momentum fluxes u′ω′ and v′ω′ (L channels each).

Both are pre-normalised by the producer ("constant_mu_sigma_scaling05" in the name); the scaling
is not published, so values here are in the file's normalised units, not Pa. The layout follows
the dataset card and the reference loader (``NASA-IMPACT/gravity-wave-finetuning``,
``prithviwxc/gravitywave/datamodule.py``: ``features.isel(idim=slice(3, 125))`` is u, and so on;
``inference.py`` indexes ``output`` by ``odim``). The card does not say which end of the 122 ERA5
model levels comes first, so ``level`` is the file's channel order (``vertical_order`` says so).

:func:`open_gw_gridded` splits the channels into named variables with a ``level`` dim (lazily:
nothing is read until used) and checks the files; :class:`GriddedSelection` picks the input and
target channels of a training sample and :meth:`GriddedSelection.sample` reads one time step as
``x[C_in, lat, lon]``, ``y[C_out, lat, lon]`` float32 arrays. Pure numpy/xarray (no torch): the
torch dataset lives in :mod:`subgrid.gravity_waves.gridded.training`.

Files are netCDF (read through xarray's netCDF4 or h5netcdf engine, whichever is installed) or
zarr stores in the same layout.

Our own datasets (:func:`subgrid.gravity_waves.gridded.fluxes.gw_fluxes_from_fields`, ``subgrid generate
gw-fluxes`` / ``gw-simulation``) hold named variables on ``(time, level, lat, lon)`` in physical
units instead of the channel stacks; :func:`open_gw_gridded` reads them into the same named
variables (latitude/longitude features from the coordinates, potential temperature from T and p).
Their grid is whatever the recipe's target was, so ``grid`` applies to the public layout only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from subgrid.core import validation
from subgrid.core.chunked import open_finished_store
from subgrid.core.errors import InputError
from subgrid.core.stores import open_store
from subgrid.physics.constants import REFERENCE_PRESSURE_PA
from subgrid.physics.thermodynamics import potential_temperature_K

#: (lat, lon) of the public dataset: the T42 Gaussian grid of the study.
PUBLIC_GRID = (64, 128)
PUBLIC_LEVELS = 122
#: Single-channel inputs, ``features`` channels 0, 1, 2.
STATIC_INPUTS = ("latitude_feature", "longitude_feature", "surface_height")
#: Inputs with one channel per level, in their ``features`` order after the static ones.
LEVEL_INPUTS = ("u", "v", "temperature", "pressure")
#: Targets, one channel per level each, in their ``output`` order.
TARGETS = ("potential_temperature", "uw_flux", "vw_flux")
INPUTS = STATIC_INPUTS + LEVEL_INPUTS
#: Inputs only our simulations with stochastic convection have (one channel each): the sources'
#: heating, what a convective gravity-wave scheme is given. Not in the default :data:`INPUTS`.
SOURCE_INPUTS = ("convective_heating",)
#: Inputs with one channel (no level dim).
SINGLE_CHANNEL_INPUTS = STATIC_INPUTS + SOURCE_INPUTS
#: The momentum fluxes: what a gravity-wave emulator predicts by default.
FLUX_TARGETS = ("uw_flux", "vw_flux")

LONG_NAMES = {
    "latitude_feature": "latitude (features channel 0)",
    "longitude_feature": "longitude (features channel 1)",
    "surface_height": "surface elevation (features channel 2)",
    "convective_heating": "convective heating rate at its peak level",
    "u": "zonal wind",
    "v": "meridional wind",
    "temperature": "temperature",
    "pressure": "pressure",
    "potential_temperature": "potential temperature",
    "uw_flux": "zonal gravity-wave momentum flux u'omega'/(-g)",
    "vw_flux": "meridional gravity-wave momentum flux v'omega'/(-g)",
}
FEATURES_DIMS = ("time", "idim", "lat", "lon")
OUTPUT_DIMS = ("time", "odim", "lat", "lon")
NORMALISATION = "pre-normalised by the dataset producer (constant mu/sigma scaling); units are the file's"
OWN_NORMALISATION = "physical units (own dataset; the trainer standardises per channel)"
#: Named variables an own dataset must hold (``surface_height`` only when the fields had ``z``).
OWN_REQUIRED = ("u", "v", "temperature", "pressure", "uw_flux", "vw_flux")
VERTICAL_ORDER = "file channel order (ERA5 model levels; the producer does not document which end is first)"
#: Values checked for NaN/Inf per read when scanning files (about 256 MB of float32).
_SCAN_VALUES = 2**26


def levels_from_channels(n_features: int, n_output: int, where: str) -> int:
    """The level count L of ``idim = 3 + 4 L`` and ``odim = 3 L``; raise if they disagree."""
    levels, rest = divmod(n_features - len(STATIC_INPUTS), len(LEVEL_INPUTS))
    if rest or levels < 1:
        raise InputError(f"{where}: features has {n_features} channels; expected 3 + 4 x levels (491 for 122 levels)")
    if n_output != len(TARGETS) * levels:
        raise InputError(
            f"{where}: output has {n_output} channels but features has {n_features} (= 3 + 4 x {levels} levels); "
            f"expected output = 3 x {levels} = {len(TARGETS) * levels}"
        )
    return levels


def _open_file(path: Path) -> xr.Dataset:
    if path.is_dir():
        return open_finished_store(path, what="file")
    return open_store(path, what="file", chunks={"time": 1})


def is_own_dataset(raw: xr.Dataset) -> bool:
    """Whether ``raw`` holds named variables (our recipe's output) rather than the public channel stacks."""
    return "features" not in raw.variables and "uw_flux" in raw.variables


def _from_named(raw: xr.Dataset, path: Path, check_finite: bool) -> xr.Dataset:
    """The named variables of :func:`open_gw_gridded` from an own dataset (lazy; nothing read but the NaN scan)."""
    missing = [name for name in OWN_REQUIRED if name not in raw.data_vars]
    if missing:
        raise InputError(f"{path}: missing variable(s) {missing}; a gravity-wave dataset of our recipe has "
                         f"{list(OWN_REQUIRED)} (+ surface_height)")
    for name in OWN_REQUIRED:
        if tuple(raw[name].dims) != ("time", "level", "lat", "lon"):
            raise InputError(f"{path}: {name} has dims {tuple(raw[name].dims)}, expected ('time', 'level', 'lat', 'lon')")
    dims = dict.fromkeys(OWN_REQUIRED, ("time", "level", "lat", "lon"))
    if "surface_height" in raw:
        dims["surface_height"] = ("time", "lat", "lon") if "time" in raw["surface_height"].dims else ("lat", "lon")
    sources = [name for name in SOURCE_INPUTS if name in raw.data_vars]
    dims |= dict.fromkeys(sources, ("time", "lat", "lon"))
    validation.check_data(raw, dims, where=str(path))
    if check_finite:
        for name in [*OWN_REQUIRED, *(["surface_height"] if "surface_height" in raw else []), *sources]:
            bad = int((~np.isfinite(raw[name])).sum())
            if bad:
                raise InputError(f"{path}: {name} has {bad} non-finite value(s) (NaN or Inf)")
    template = raw["u"].isel(level=0, drop=True)
    lat, lon = xr.broadcast(raw["lat"], raw["lon"])
    surface = raw["surface_height"] if "surface_height" in raw else xr.zeros_like(template)
    variables = {
        "latitude_feature": (lat + xr.zeros_like(template)).transpose("time", "lat", "lon"),
        "longitude_feature": (lon + xr.zeros_like(template)).transpose("time", "lat", "lon"),
        "surface_height": (surface + xr.zeros_like(template)).transpose("time", "lat", "lon"),
        "potential_temperature": potential_temperature_K(raw["temperature"], raw["pressure"], REFERENCE_PRESSURE_PA),
    }
    variables |= {name: raw[name] for name in (*LEVEL_INPUTS, *FLUX_TARGETS, *sources)}
    ds = xr.Dataset(variables).drop_vars("level").assign_coords(level=np.arange(raw.sizes["level"]))
    units = {"latitude_feature": "degrees_north", "longitude_feature": "degrees_east", "surface_height": "m",
             "potential_temperature": "K"}
    for name in ds.data_vars:
        unit = units.get(name, raw[name].attrs.get("units", "1") if name in raw else "1")
        ds[name].attrs = {"long_name": LONG_NAMES[name], "units": unit, "normalisation": OWN_NORMALISATION}
    return ds


def _check_layout(raw: xr.Dataset, path: Path, grid: tuple[int, int] | None) -> int:
    for name, dims in (("features", FEATURES_DIMS), ("output", OUTPUT_DIMS)):
        if name not in raw.variables:
            raise InputError(
                f"{path}: missing variable {name!r} (a gravity-wave fine-tuning file has "
                f"features{list(FEATURES_DIMS)} and output{list(OUTPUT_DIMS)})"
            )
        if tuple(raw[name].dims) != dims:
            raise InputError(f"{path}: {name} has dims {tuple(raw[name].dims)}, expected {dims}")
    validation.check_data(raw, {"features": FEATURES_DIMS, "output": OUTPUT_DIMS}, where=str(path))
    shape = (raw.sizes["lat"], raw.sizes["lon"])
    if grid is not None and shape != tuple(grid):
        raise InputError(f"{path}: grid is {shape[0]} x {shape[1]} (lat x lon), expected {grid[0]} x {grid[1]}")
    return levels_from_channels(raw.sizes["idim"], raw.sizes["odim"], str(path))


def _split(raw: xr.Dataset, n_levels: int) -> xr.Dataset:
    """Named variables from the ``features``/``output`` channel stacks (lazy views, nothing read)."""
    variables = {}
    for index, name in enumerate(STATIC_INPUTS):
        variables[name] = raw["features"].isel(idim=index, drop=True)
    for source, dim, names, first in (
        ("features", "idim", LEVEL_INPUTS, len(STATIC_INPUTS)),
        ("output", "odim", TARGETS, 0),
    ):
        for k, name in enumerate(names):
            start = first + k * n_levels
            block = raw[source].isel({dim: slice(start, start + n_levels)})
            variables[name] = block.rename({dim: "level"}).drop_vars("level", errors="ignore")
    ds = xr.Dataset(variables)
    ds = ds.assign_coords(level=np.arange(n_levels))
    for name in ds.data_vars:
        ds[name].attrs = {"long_name": LONG_NAMES[name], "units": "1", "normalisation": NORMALISATION}
    return ds


def _first_non_finite(raw: xr.Dataset, name: str, n_levels: int, path: Path) -> None:
    """Scan ``raw[name]`` in blocks of time steps; raise naming the variable, level and position of the first NaN/Inf."""
    array = raw[name]
    per_step = int(np.prod([array.sizes[d] for d in array.dims[1:]]))
    step = max(1, _SCAN_VALUES // per_step)
    for start in range(0, array.sizes["time"], step):
        values = np.asarray(array.isel(time=slice(start, start + step)).values)
        bad = ~np.isfinite(values)
        if bad.any():
            t, channel, i, j = np.unravel_index(int(np.flatnonzero(bad)[0]), values.shape)
            variable, level = channel_variable(name, int(channel), n_levels)
            kind = "NaN" if np.isnan(values[bad]).any() else "Inf"
            where = f"{variable}" + (f" level {level}" if level is not None else "")
            raise InputError(
                f"{path}: {where} ({name} channel {channel}) has {int(bad.sum())} non-finite value(s) ({kind}) "
                f"in time steps {start}-{start + values.shape[0] - 1}, first at time {start + t}, lat {i}, lon {j}"
            )


def channel_variable(stack: str, channel: int, n_levels: int) -> tuple[str, int | None]:
    """The named variable and level (None for a static input) of channel ``channel`` of ``features`` or ``output``."""
    if stack == "features":
        if channel < len(STATIC_INPUTS):
            return STATIC_INPUTS[channel], None
        k, level = divmod(channel - len(STATIC_INPUTS), n_levels)
        return LEVEL_INPUTS[k], level
    k, level = divmod(channel, n_levels)
    return TARGETS[k], level


def open_gw_gridded(
    paths: str | Path | Sequence[str | Path],
    *,
    grid: tuple[int, int] | None = PUBLIC_GRID,
    check_finite: bool = True,
) -> xr.Dataset:
    """Open one or more fine-tuning files as one lazy Dataset of named variables, checked.

    Returns the inputs ``latitude_feature``, ``longitude_feature``, ``surface_height``
    ``[time, lat, lon]`` and ``u``, ``v``, ``temperature``, ``pressure`` ``[time, level, lat,
    lon]``, and the targets ``potential_temperature``, ``uw_flux``, ``vw_flux`` ``[time, level,
    lat, lon]`` (all in the file's normalised units). Several files are joined along ``time`` in
    the order given (they must share the grid and level count); the ``file`` coordinate says where
    each time step came from.

    Our own named-variable datasets (see the module docstring) are read too, in physical units,
    on their own grid (``grid`` is not checked for them); files of the two kinds cannot be mixed.

    Raises :class:`InputError` naming the file (and the variable) for a missing file or variable,
    wrong dims, a grid other than ``grid`` (``None`` accepts any), inconsistent channel counts,
    and, with ``check_finite``, the first NaN or Inf. That check reads every value once, in
    blocks of ~256 MB (a minute or so for the 20.9 GB public month); it runs before any training
    so that a bad file cannot stop a run half-way.
    """
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not paths:
        raise InputError("data: no file given")
    parts, n_levels, kinds = [], None, set()
    for path in paths:
        raw = _open_file(path)
        kinds.add(is_own_dataset(raw))
        if len(kinds) > 1:
            raise InputError(f"{path}: mixes our named-variable layout with the public features/output layout")
        if is_own_dataset(raw):
            part = _from_named(raw, path, check_finite)
            levels = part.sizes["level"]
            if n_levels is not None and levels != n_levels:
                raise InputError(f"{path}: has {levels} levels, {paths[0]} has {n_levels}; files must share them")
            if parts and (part.sizes["lat"], part.sizes["lon"]) != (parts[0].sizes["lat"], parts[0].sizes["lon"]):
                raise InputError(f"{path}: grid differs from that of {paths[0]}")
            n_levels = levels
            parts.append(part.assign_coords(file=("time", np.full(part.sizes["time"], str(path)))))
            continue
        levels = _check_layout(raw, path, grid)
        if n_levels is not None and levels != n_levels:
            raise InputError(f"{path}: has {levels} levels, {paths[0]} has {n_levels}; files must share them")
        if parts and (raw.sizes["lat"], raw.sizes["lon"]) != (parts[0].sizes["lat"], parts[0].sizes["lon"]):
            raise InputError(f"{path}: grid differs from that of {paths[0]}")
        n_levels = levels
        if check_finite:
            for name in ("features", "output"):
                _first_non_finite(raw, name, levels, path)
        part = _split(raw, levels)
        parts.append(part.assign_coords(file=("time", np.full(part.sizes["time"], str(path)))))
    ds = parts[0] if len(parts) == 1 else xr.concat(parts, dim="time", data_vars="all", coords="minimal", compat="equals", join="exact")
    ds.attrs = {
        "source_files": [str(p) for p in paths],
        "n_levels": int(n_levels),
        "normalisation": OWN_NORMALISATION if kinds == {True} else NORMALISATION,
        "vertical_order": "the file's level order" if kinds == {True} else VERTICAL_ORDER,
    }
    return ds


@dataclass(frozen=True)
class GriddedSelection:
    """Which named variables make a sample's input and target channels.

    ``inputs``: names from :data:`INPUTS` and :data:`SOURCE_INPUTS` (those of
    :data:`SINGLE_CHANNEL_INPUTS` give one channel, the others one per level); ``targets``: names from :data:`TARGETS`, at ``target_levels`` (level indices; None:
    all). Channels are stacked in the order given, levels in file order within a variable.
    """

    inputs: tuple[str, ...] = INPUTS
    targets: tuple[str, ...] = FLUX_TARGETS
    target_levels: tuple[int, ...] | None = None
    #: Levels in the data (set from the dataset by :meth:`for_dataset`).
    n_levels: int = field(default=PUBLIC_LEVELS)

    def __post_init__(self) -> None:
        unknown = [name for name in self.inputs if name not in INPUTS + SOURCE_INPUTS]
        if unknown or not self.inputs or len(set(self.inputs)) != len(self.inputs):
            raise InputError(f"inputs: {list(self.inputs)} must be distinct names from {list(INPUTS + SOURCE_INPUTS)}")
        unknown = [name for name in self.targets if name not in TARGETS]
        if unknown or not self.targets or len(set(self.targets)) != len(self.targets):
            raise InputError(f"targets: {list(self.targets)} must be distinct names from {list(TARGETS)}")
        if self.target_levels is not None:
            levels = list(self.target_levels)
            if not levels or len(set(levels)) != len(levels) or min(levels) < 0 or max(levels) >= self.n_levels:
                raise InputError(f"target_levels: {levels} must be distinct level indices in [0, {self.n_levels - 1}]")

    @classmethod
    def for_dataset(cls, ds: xr.Dataset, inputs: Sequence[str], targets: Sequence[str],
                    target_levels: Sequence[int] | None) -> GriddedSelection:
        levels = None if target_levels is None else tuple(int(k) for k in target_levels)
        return cls(tuple(inputs), tuple(targets), levels, int(ds.sizes["level"]))

    @property
    def levels(self) -> list[int]:
        """The target levels (all levels when ``target_levels`` is None)."""
        return list(range(self.n_levels)) if self.target_levels is None else list(self.target_levels)

    def input_channels(self) -> list[str]:
        """Names of the input channels, e.g. ``surface_height``, ``u[0]`` ... ``u[121]``."""
        return [n if n in SINGLE_CHANNEL_INPUTS else f"{n}[{k}]" for n in self.inputs
                for k in ([None] if n in SINGLE_CHANNEL_INPUTS else range(self.n_levels))]  # fmt: skip

    def target_channels(self) -> list[str]:
        return [f"{n}[{k}]" for n in self.targets for k in self.levels]

    def sample(self, ds: xr.Dataset, time_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Time step ``time_index`` of ``ds`` as float32 ``x[C_in, lat, lon]`` and ``y[C_out, lat, lon]``.

        One read per source chunk (the named variables are views of the same ``features`` and
        ``output`` chunks, which dask loads once). Raises :class:`InputError` on NaN/Inf, for data
        opened without the finiteness check.
        """
        step = ds[list(dict.fromkeys(self.inputs + self.targets))].isel(time=time_index).compute()
        blocks = {n: step[n].values.reshape(-1, *step[n].shape[-2:]) for n in self.inputs}
        blocks |= {n: step[n].isel(level=self.levels).values for n in self.targets}
        for name, values in blocks.items():
            if not np.isfinite(values).all():
                source = f" of {step['file'].item()}" if "file" in step.coords else ""
                raise InputError(f"{name}: non-finite value(s) (NaN or Inf) at time step {time_index}{source}")
        x = np.concatenate([blocks[n] for n in self.inputs]).astype(np.float32, copy=False)
        y = np.concatenate([blocks[n] for n in self.targets]).astype(np.float32, copy=False)
        return x, y


@dataclass(frozen=True)
class LatLonBox:
    """A latitude-longitude box ``[lat_min, lat_max] x [lon_min, lon_max]`` in degrees north and east, edges included.

    Longitudes are taken modulo 360, so ``-10, 10`` and ``350, 10`` are the same box, wrapping
    through the prime meridian; a box 360° or more wide holds every longitude. Pre-training hides
    such a box (``subgrid pretrain --exclude-region``) and evaluation scores it alone
    (``subgrid evaluate --region``), so the skill of a backbone can be measured where it never looked.
    """

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def __post_init__(self) -> None:
        values = self.as_list()
        if not all(np.isfinite(values)) or not -90 <= self.lat_min <= self.lat_max <= 90:
            raise InputError(f"region: {values} must be LAT_MIN,LAT_MAX,LON_MIN,LON_MAX in degrees with "
                             "-90 <= LAT_MIN <= LAT_MAX <= 90")

    @classmethod
    def parse(cls, value: str | Sequence[float]) -> LatLonBox:
        """A box from ``"LAT_MIN,LAT_MAX,LON_MIN,LON_MAX"`` or a sequence of four numbers."""
        parts = value.split(",") if isinstance(value, str) else list(value)
        try:
            numbers = [float(part) for part in parts]
        except (TypeError, ValueError):
            numbers = []
        if len(numbers) != 4:
            raise InputError(f"region: expected LAT_MIN,LAT_MAX,LON_MIN,LON_MAX (four numbers, degrees), got {value!r}")
        return cls(*numbers)

    def as_list(self) -> list[float]:
        return [float(self.lat_min), float(self.lat_max), float(self.lon_min), float(self.lon_max)]

    def axis_masks(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which latitudes and which longitudes (degrees) lie in the box; the box is every pair of the two."""
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        in_lat = (lat >= self.lat_min) & (lat <= self.lat_max)
        width = self.lon_max - self.lon_min
        in_lon = np.ones(lon.shape, bool) if width >= 360 else (lon - self.lon_min) % 360 <= width % 360
        return in_lat, in_lon

    def indexers(self, ds: xr.Dataset) -> dict[str, np.ndarray]:
        """``isel`` indexers of the box's rows and columns in ``ds`` (a box is every pair of its latitudes and longitudes)."""
        in_lat, in_lon = self.axis_masks(ds["lat"].values, ds["lon"].values)
        return {"lat": np.flatnonzero(in_lat), "lon": np.flatnonzero(in_lon)}

    def points(self, ds: xr.Dataset) -> np.ndarray:
        """``bool[lat, lon]``: the grid points of ``ds`` in the box (raises if ``ds`` has no coordinates or none is in it)."""
        if "lat" not in ds.coords or "lon" not in ds.coords:
            raise InputError("region: the data has no lat/lon coordinates (degrees) to place the box on")
        in_lat, in_lon = self.axis_masks(ds["lat"].values, ds["lon"].values)
        inside = in_lat[:, None] & in_lon[None, :]
        if not inside.any():
            raise InputError(f"region: the box {self.as_list()} holds no grid point of the data")
        return inside
