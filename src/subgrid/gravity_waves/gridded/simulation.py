"""The embedded default gravity-wave dataset: our own high-resolution simulation, through the ERA5 recipe.

:func:`run_gw_simulation` runs :class:`subgrid.physics.dycore.GravityWaveAtmosphere` (dinosaur-torch
primitive equations, Held-Suarez forcing, Gaussian mountain ranges and a pulsed tropical heating)
for ``spinup_days`` and then records ``record_days`` every ``output_interval_hours``. It writes the
fields under the ERA5-like names :func:`subgrid.gravity_waves.gridded.fluxes.gw_fluxes_from_fields` reads:
``u``, ``v`` (m s-1), ``w`` (omega, Pa s-1), ``t`` (K), ``p`` (Pa) on ``(time, level, latitude,
longitude)`` (``level`` = sigma, top first; Gaussian latitudes north to south) and ``z`` (surface
geopotential, m2 s-2). :func:`generate_gw_simulation_dataset` runs it and applies the recipe:
coarse inputs plus ``uw_flux``/``vw_flux`` (Pa), the dataset ``subgrid train gw-gridded`` reads.

Both write zarr under a temporary name and rename it when complete (nothing half-written on error).
Cost on one CPU thread (``benchmarks/results/gw_simulation_cpu.jsonl``): about 3 CPU-minutes per
model day at T85 with 20 levels, so the default 5 model days take about 15 minutes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import xarray as xr

import subgrid
from subgrid.core.chunked import write_zarr_atomic
from subgrid.gravity_waves.gridded.fluxes import gw_fluxes_from_fields
from subgrid.gravity_waves.gridded.spinup import start_from_spinup
from subgrid.core.errors import InputError
from subgrid.core.ownership import DATASET, check_replaceable
from subgrid.physics.dycore import (DEFAULT_MOUNTAINS, RESOLUTIONS, Convection, GravityWaveAtmosphere, Heating, Mountain,
                                    nodal_grid_shape, random_hills)
from subgrid.physics.constants import STANDARD_GRAVITY_M_PER_S2
from subgrid.physics.gw_fluxes import DEFAULT_TRUNCATION, LatLonGrid

GENERATOR = "subgrid.gravity_waves.gridded.simulation"
#: Nominal start of the model calendar (the simulation has no seasons; time is model time).
START = np.datetime64("2000-01-01T00:00", "ns")


@dataclass(frozen=True)
class GWSimulationConfig:
    """What to simulate and how to reduce it.

    ``resolution`` a triangular truncation of :data:`subgrid.physics.dycore.RESOLUTIONS`;
    ``levels`` equidistant sigma layers; ``time_step_minutes`` (5 at T85, 10 at T42 are stable);
    ``spinup_days`` discarded before ``record_days`` recorded every ``output_interval_hours``;
    ``jet_m_per_s`` the initial solid-body-rotation wind; ``mountain_scale`` multiplies the
    heights of ``mountains`` (0: flat planet); ``heating_K_per_day`` the peak of the daily-pulsed
    heating at (``heating_lat_deg``, ``heating_lon_deg``) (0: none); ``convective_cells`` stochastic
    convective heating cells (0: none; :class:`~subgrid.physics.dycore.Convection`, seeded by
    ``seed``, with ``convective_peak_K_per_day``, ``convective_radius_deg``,
    ``convective_lifetime_hours``, ``convective_tilt_hours`` (plumes leaning with the shear; 0:
    upright); the output then holds their heating); ``held_suarez`` the
    Held-Suarez relaxation and friction; ``target`` and ``truncation`` those of the recipe
    (:func:`~subgrid.gravity_waves.gridded.fluxes.gw_fluxes_from_fields`); ``seed`` the initial perturbation.
    """

    resolution: str = "T85"
    levels: int = 20
    time_step_minutes: float = 5.0
    spinup_days: float = 2.0
    record_days: float = 3.0
    output_interval_hours: float = 6.0
    jet_m_per_s: float = 25.0
    mountains: tuple[Mountain, ...] = DEFAULT_MOUNTAINS
    mountain_scale: float = 1.0
    #: Rough ground (:func:`subgrid.physics.dycore.random_hills`): this many round hills of peak
    #: ``hill_height_m`` (0.5-1.5x) and half-width ``hill_width_deg`` over the mid-latitudes, the same
    #: ground in every run (scaled by ``mountain_scale`` like the ranges).
    hills: int = 0
    hill_height_m: float = 1500.0
    hill_width_deg: float = 4.0
    heating_K_per_day: float = 10.0
    heating_lat_deg: float = 0.0
    heating_lon_deg: float = 150.0
    heating_radius_deg: float = 5.0
    convective_cells: int = 0
    convective_peak_K_per_day: float = 30.0
    convective_radius_deg: float = 4.0
    convective_lifetime_hours: float = 36.0
    convective_tilt_hours: float = 0.0
    held_suarez: bool = True
    target: str = "gaussian:64x128"
    truncation: int = DEFAULT_TRUNCATION
    seed: int = 0
    #: A spin-up directory (:func:`subgrid.gravity_waves.gridded.spinup.spin_up`) to branch from:
    #: its stationary state plus this config's seeded perturbation; ``spinup_days`` then decorrelates.
    #: The spin-up may have another resolution and time step (the state is spectrally truncated or
    #: padded; the output's ``branched_from`` attribute says so): spin up cheaply, branch finer.
    initial_state: str | None = None

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise InputError(f"resolution {self.resolution!r}: expected one of {', '.join(RESOLUTIONS)}")
        if int(self.levels) != self.levels or self.levels < 3:
            raise InputError(f"levels {self.levels}: expected an integer >= 3")
        positive = {"time_step_minutes": self.time_step_minutes, "record_days": self.record_days,
                    "output_interval_hours": self.output_interval_hours, "heating_radius_deg": self.heating_radius_deg}
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} {value}: expected a number > 0")
        for name in ("spinup_days", "mountain_scale", "heating_K_per_day", "jet_m_per_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"{name} {value}: expected a number >= 0")
        if self.steps_per_output * self.time_step_minutes != self.output_interval_hours * 60:
            raise InputError(f"output_interval_hours {self.output_interval_hours}: expected a multiple of "
                             f"time_step_minutes {self.time_step_minutes}")
        if self.outputs < 1:
            raise InputError(f"record_days {self.record_days}: shorter than one output interval")
        if self.truncation < 0:
            raise InputError(f"truncation {self.truncation}: expected a degree >= 0")
        self.convection()  # checks the convection settings
        self.all_mountains()  # checks the hills
        target = LatLonGrid.parse(self.target)
        nlat, nlon = nodal_grid_shape(self.resolution)
        if target.nlat >= nlat or target.nlon >= nlon:
            raise InputError(f"target {self.target}: not coarser than the {self.resolution} simulation grid "
                             f"({nlat} x {nlon})")

    @property
    def steps_per_output(self) -> int:
        return max(1, round(self.output_interval_hours * 60 / self.time_step_minutes))

    @property
    def outputs(self) -> int:
        return int(self.record_days * 24 / self.output_interval_hours + 1e-9)

    @property
    def spinup_steps(self) -> int:
        return round(self.spinup_days * 1440 / self.time_step_minutes)

    def convection(self) -> Convection:
        return Convection(self.convective_cells, self.convective_peak_K_per_day, self.convective_radius_deg,
                          self.convective_lifetime_hours, tilt_hours=self.convective_tilt_hours, seed=self.seed)

    def all_mountains(self) -> tuple[Mountain, ...]:
        """The ranges and the hills, scaled by ``mountain_scale`` (none on a flat planet)."""
        hills = random_hills(self.hills, self.hill_height_m, self.hill_width_deg) if self.hills else ()
        return tuple(Mountain(m.name, m.lat_deg, m.lon_deg, m.height_m * self.mountain_scale, m.lat_width_deg,
                              m.lon_width_deg) for m in (*self.mountains, *hills) if self.mountain_scale > 0)

    def build(self) -> GravityWaveAtmosphere:
        mountains = self.all_mountains()
        heating = Heating(self.heating_K_per_day, self.heating_lat_deg, self.heating_lon_deg, self.heating_radius_deg)
        return GravityWaveAtmosphere(self.resolution, self.levels, self.time_step_minutes * 60.0, mountains, heating,
                                     self.jet_m_per_s, self.held_suarez, self.seed, self.convection())

    def describe(self) -> dict:
        """JSON-able settings, stored in the output's attrs."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "mountains"}
        out["mountains"] = [asdict(m) for m in self.mountains]
        return out


def simulate_fields(config: GWSimulationConfig, progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """Run ``config`` and return the recorded high-resolution fields (ERA5-like names and units), in memory."""
    atmosphere = config.build()
    branched_from = None
    if config.initial_state is not None:
        report = start_from_spinup(atmosphere, config, config.initial_state, regrid=True)
        branched_from = report["dynamics"]["resolution"]
        atmosphere.perturb(config.seed)
    total = config.spinup_steps + config.outputs * config.steps_per_output
    done = 0

    def advance(index: int, _: int) -> None:
        if progress is not None:
            progress(done + index, total)

    for _ in atmosphere.run(config.spinup_steps, config.spinup_steps + 1, advance):
        pass
    done = config.spinup_steps
    snapshots = list(atmosphere.run(config.outputs * config.steps_per_output, config.steps_per_output, advance))
    times = START + np.array([round(s.time_s) for s in snapshots], dtype="timedelta64[s]").astype("timedelta64[ns]")
    dims = ("time", "level", "latitude", "longitude")
    stack = lambda name: np.stack([getattr(s, name) for s in snapshots]).astype(np.float32)  # noqa: E731
    data_vars = {
        "u": (dims, stack("u"), {"units": "m s-1", "long_name": "zonal wind"}),
        "v": (dims, stack("v"), {"units": "m s-1", "long_name": "meridional wind"}),
        "w": (dims, stack("omega"), {"units": "Pa s-1", "long_name": "vertical velocity (omega)"}),
        "t": (dims, stack("temperature"), {"units": "K", "long_name": "temperature"}),
        "p": (dims, stack("pressure"), {"units": "Pa", "long_name": "pressure"}),
        "z": (("latitude", "longitude"), (atmosphere.surface_height_m * STANDARD_GRAVITY_M_PER_S2).astype(np.float32),
              {"units": "m2 s-2", "long_name": "surface geopotential"}),
    }
    if atmosphere.convection.cells:
        data_vars["convective_heating"] = (
            ("time", "latitude", "longitude"), np.stack([s.convective_heating for s in snapshots]).astype(np.float32),
            {"units": "K day-1", "long_name": "convective heating rate at the peak level (sigma = 0.5)"})
    coords = {
        "time": ("time", times, {"long_name": "model time (nominal calendar start 2000-01-01)"}),
        "level": ("level", atmosphere.sigma, {"units": "1", "long_name": "sigma (pressure / surface pressure)"}),
        "latitude": ("latitude", atmosphere.lat_deg, {"units": "degrees_north"}),
        "longitude": ("longitude", atmosphere.lon_deg, {"units": "degrees_east"}),
    }
    attrs = {"generator": GENERATOR, "subgrid_version": subgrid.__version__,
             "dycore": "dinosaur-torch primitive equations (sigma), SIL3, exponential filter",
             "simulation": repr(config.describe())}
    if branched_from is not None and branched_from != config.resolution:
        how = "padded" if _degree(config.resolution) > _degree(branched_from) else "truncated"
        attrs["branched_from"] = (f"a {branched_from} spin-up, spectrally {how} to {config.resolution}; "
                                  f"{config.spinup_days:g} days of adjustment before the record")
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _degree(resolution: str) -> int:
    return int(resolution.lstrip("T"))


def _check_out(out: Path, overwrite: bool) -> Path:
    out = Path(out)
    check_replaceable(out, DATASET, overwrite=overwrite)
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such directory")
    return out


def run_gw_simulation(config: GWSimulationConfig, out: str | Path, overwrite: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> Path:
    """Simulate ``config`` and write its high-resolution fields as zarr at ``out`` (temp store + rename)."""
    out = _check_out(Path(out), overwrite)
    return write_zarr_atomic(simulate_fields(config, progress), out, __name__)


def generate_gw_simulation_dataset(config: GWSimulationConfig, out: str | Path, overwrite: bool = False,
                                   fields_out: str | Path | None = None,
                                   progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Simulate, apply the recipe, and write the coarse inputs and ``uw_flux``/``vw_flux`` targets at ``out``.

    ``fields_out`` also keeps the high-resolution fields. ``progress(stage, done, total)`` reports
    the stages ``"simulate"`` (model steps) and ``"fluxes"`` (recorded times).
    """
    out = _check_out(Path(out), overwrite)
    if fields_out is not None:
        fields_out = _check_out(Path(fields_out), overwrite)
    report = (lambda stage: (lambda done, total: progress(stage, done, total))) if progress else (lambda stage: None)
    fields_ds = simulate_fields(config, report("simulate"))
    if progress is not None:
        progress("fluxes", 0, fields_ds.sizes["time"])
    coarse = gw_fluxes_from_fields(fields_ds, config.target, config.truncation, progress=report("fluxes"))
    coarse.attrs.update(generator=GENERATOR, simulation=fields_ds.attrs["simulation"],
                        source="own simulation: " + fields_ds.attrs["dycore"])
    if fields_out is not None:
        write_zarr_atomic(fields_ds, fields_out, __name__)
    return write_zarr_atomic(coarse, out, __name__)

