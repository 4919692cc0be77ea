"""RRTMG longwave + shortwave radiation (Mlawer et al. 1997; Iacono et al. 2008) through climt's compiled wheel.

Batched over columns: the climt components are built once per process and fed ``(level, column)``
numpy arrays through ``array_call``, skipping sympl's per-call state building and unit parsing
(results equal sympl's ``__call__``; see docs/REFERENCE.md section 3).

Pitfalls handled here (all seen on these machines):

* **SW without McICA kills the process** (a Fortran ``STOP``) on any cloud fraction strictly
  between 0 and 1. McICA is the default; with ``mcica=False`` partial clouds are rejected with an
  :class:`~subgrid.core.errors.InputError` before Fortran sees them. Out-of-range particle sizes also
  ``STOP`` inside RRTMG's cloud optics, so they are checked first too. Dataset generation runs the
  scheme in worker processes so an abort that still happens cannot take the caller down.
* **McICA is random on every call** (climt draws its permutation seed from numpy's global RNG):
  every call here is seeded, and numpy's global RNG state is restored afterwards.
* **All instances in one process share the Fortran module state**: one configuration is active
  per process; asking for another rebuilds both components, which re-initialises the Fortran side.
* **Night columns cost full time**: only columns with cos(zenith) > 0 go through SW; SW fluxes and
  heating are exactly 0 for the others.
* **climt caches McICA work arrays per (levels, columns) shape, without bound** (~90 MB per
  shape for 1000 columns at 60 levels). The SW column count is the day count, different in every
  chunk, so a long generation grew each worker by ~180 MB per chunk until it stalled. The cache is
  trimmed to the shapes of the latest call after each call (:func:`_trim_mcica_cache`).
* **Earth-Sun distance**: climt takes one scalar factor per call. SW transfer is linear in the
  incident flux (no thermal source in the SW), so fluxes are computed at factor 1 and scaled per
  column; ``tests/test_rrtmg.py`` checks this against the scalar path of the Fortran code.

Heating rates come from RRTMG itself and equal (g/cp)·ΔF_net/Δp with sympl's ``g`` and ``c_p``
(:data:`subgrid.physics.constants.RRTMG`), in K/day.

:class:`RRTMG` is the scheme as a :class:`~subgrid.core.contract.Parameterization`: what hosts
call (``RRTMG().tendencies(state)``), with McICA seeded per call from the state.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import xarray as xr

from subgrid.core import validation
from subgrid.core.contract import Variable
from subgrid.core.errors import InputError
from subgrid.core.units import dataset_in_units
from subgrid.physics.constants import SECONDS_PER_DAY  # noqa: F401  (importable from here, as before)
from subgrid.physics.constants import STANDARD_GRAVITY_M_PER_S2 as GRAVITY_M_PER_S2  # noqa: F401  (sympl's g)
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER

N_LW_BANDS = 16
N_SW_BANDS = 14
N_ECMWF_AEROSOLS = 6

#: Valid effective-size ranges (µm) of RRTMG's cloud optics; outside them RRTMG STOPs.
ICE_RADIUS_BOUNDS_UM = {
    "ebert_curry_one": (10.0, np.inf),
    "ebert_curry_two": (13.0, 130.0),
    "key_streamer_manual": (5.0, 131.0),
    "fu": (5.0, 140.0),
}
LIQUID_RADIUS_BOUNDS_UM = (2.5, 60.0)
#: Plausible surface pressure: above Everest's summit (~330 hPa), below any observed sea-level high.
SURFACE_PRESSURE_BOUNDS_PA = (30000.0, 110000.0)
#: Ozone peaks near 1e-5 mol/mol in the stratosphere; 1e-4 is past any atmosphere (ppmv taken as mol/mol is not).
OZONE_MOLE_FRACTION_MAX = 1e-4
#: In-cloud water path of one layer: 5 kg m-2 exceeds the deepest convective cores (kg m-2 read as g m-2 is not caught).
LAYER_WATER_PATH_MAX_G_M2 = 5000.0

CloudOverlap = Literal["random", "maximum_random", "maximum"]
IceOptics = Literal["ebert_curry_one", "ebert_curry_two", "key_streamer_manual", "fu"]


@dataclass(frozen=True)
class RRTMGConfig:
    """Settings of the reference scheme; recorded in every dataset generated with it.

    Trace gases other than CO2 and ozone are well mixed and fixed here (present-day values),
    because the sampler does not vary them.
    """

    mcica: bool = True
    cloud_overlap: CloudOverlap = "maximum_random"
    cloud_ice_properties: IceOptics = "ebert_curry_two"
    solar_constant_W_per_m2: float = 1367.0
    ch4_mole_fraction: float = 1.8e-6
    n2o_mole_fraction: float = 3.2e-7
    o2_mole_fraction: float = 0.209
    cfc11_mole_fraction: float = 2.3e-10
    cfc12_mole_fraction: float = 5.0e-10
    cfc22_mole_fraction: float = 2.5e-10
    ccl4_mole_fraction: float = 8.0e-11

    def __post_init__(self) -> None:
        if self.cloud_overlap not in ("random", "maximum_random", "maximum"):
            raise ValueError(f"cloud_overlap: unknown method {self.cloud_overlap!r}")
        if self.cloud_ice_properties not in ICE_RADIUS_BOUNDS_UM:
            raise ValueError(f"cloud_ice_properties: unknown option {self.cloud_ice_properties!r}")
        if not 1000.0 < self.solar_constant_W_per_m2 < 2000.0:
            raise ValueError(
                f"solar_constant_W_per_m2: {self.solar_constant_W_per_m2} outside (1000, 2000) W m-2"
            )
        for name, value in asdict(self).items():
            if name.endswith("_mole_fraction") and not 0.0 <= value < 1.0:
                raise ValueError(f"{name}: {value} is not a mole fraction in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Process-wide component state (the Fortran modules are process-global; see module docstring)

_active: tuple[RRTMGConfig, object, object] | None = None


def _components(config: RRTMGConfig) -> tuple[object, object]:
    """The (LW, SW) climt components for ``config``, rebuilt when the active configuration changes."""
    global _active
    if _active is None or _active[0] != config:
        import sympl
        from climt import RRTMGLongwave, RRTMGShortwave

        # Must precede building the SW component, which reads it once at construction.
        sympl.set_constant("stellar_irradiance", config.solar_constant_W_per_m2, "W/m^2")
        options = dict(
            cloud_overlap_method=config.cloud_overlap,
            cloud_optical_properties="liquid_and_ice_clouds",
            cloud_ice_properties=config.cloud_ice_properties,
            cloud_liquid_water_properties="radius_dependent_absorption",
            mcica=config.mcica,
        )
        longwave = RRTMGLongwave(**options)
        shortwave = RRTMGShortwave(ignore_day_of_year=True, **options)
        _active = (config, longwave, shortwave)
    return _active[1], _active[2]


def _trim_mcica_cache(component: object, keep: int = 1) -> None:
    """Drop all but the ``keep`` most recent McICA work-array shapes climt cached on ``component``."""
    cache = getattr(component, "_mcica_cache", None)
    while cache is not None and len(cache) > keep:
        del cache[next(iter(cache))]  # dicts keep insertion order: the oldest shape goes first


@contextlib.contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (climt draws McICA's permutation seed from it), then restore it."""
    saved = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(saved)


# --------------------------------------------------------------------------------------------
# Array interface: (column, level) row-major arrays in physical units, surface first


def _check_shortwave_clouds(arrays: Mapping[str, np.ndarray], day: np.ndarray, config: RRTMGConfig) -> None:
    if config.mcica:
        return
    cloud = np.asarray(arrays["cloud_fraction"])[day]
    partial = (cloud > 0.0) & (cloud < 1.0)
    if partial.any():
        column = int(np.flatnonzero(day)[np.argwhere(partial)[0, 0]])
        raise InputError(
            "cloud_fraction: partial cloud (strictly between 0 and 1) in a daytime column "
            f"(first at column {column}); RRTMG SW without McICA aborts the process on it. "
            "Use mcica=True or binary clouds."
        )


def _common_state(arrays: Mapping[str, np.ndarray], config: RRTMGConfig) -> dict[str, np.ndarray]:
    """climt's array_call state shared by LW and SW, in climt's units and (level, column) layout."""
    level_first = {
        "air_pressure": arrays["air_pressure"] / 100.0,  # climt's array_call wants mbar
        "air_pressure_on_interface_levels": arrays["air_pressure_on_interface"] / 100.0,
        "air_temperature": arrays["air_temperature"],
        "specific_humidity": arrays["specific_humidity"],
        "mole_fraction_of_ozone_in_air": arrays["ozone_mole_fraction"],
        "cloud_area_fraction_in_atmosphere_layer": arrays["cloud_fraction"],
        "mass_content_of_cloud_liquid_water_in_atmosphere_layer": arrays["cloud_liquid_water_path"],
        "mass_content_of_cloud_ice_in_atmosphere_layer": arrays["cloud_ice_water_path"],
        "cloud_water_droplet_radius": arrays["cloud_droplet_radius"],
        "cloud_ice_particle_size": arrays["cloud_ice_radius"],
    }
    state = {name: np.ascontiguousarray(np.asarray(a, dtype=float).T) for name, a in level_first.items()}
    shape = state["air_temperature"].shape
    co2 = np.asarray(arrays["co2_mole_fraction"], dtype=float)
    state["mole_fraction_of_carbon_dioxide_in_air"] = np.broadcast_to(co2, shape).copy()
    state["mole_fraction_of_methane_in_air"] = np.full(shape, config.ch4_mole_fraction)
    state["mole_fraction_of_nitrous_oxide_in_air"] = np.full(shape, config.n2o_mole_fraction)
    state["mole_fraction_of_oxygen_in_air"] = np.full(shape, config.o2_mole_fraction)
    state["surface_temperature"] = np.asarray(arrays["surface_temperature"], dtype=float)
    return state


def _longwave_state(common: dict, arrays: Mapping[str, np.ndarray], config: RRTMGConfig) -> dict:
    n_levels, n_columns = common["air_temperature"].shape
    state = dict(common)
    state.update(
        {
            "mole_fraction_of_cfc11_in_air": np.full((n_levels, n_columns), config.cfc11_mole_fraction),
            "mole_fraction_of_cfc12_in_air": np.full((n_levels, n_columns), config.cfc12_mole_fraction),
            "mole_fraction_of_cfc22_in_air": np.full((n_levels, n_columns), config.cfc22_mole_fraction),
            "mole_fraction_of_carbon_tetrachloride_in_air": np.full(
                (n_levels, n_columns), config.ccl4_mole_fraction
            ),
            "surface_longwave_emissivity": np.broadcast_to(
                np.asarray(arrays["surface_emissivity"], dtype=float), (N_LW_BANDS, n_columns)
            ).copy(),
            # Cloud optical depths are derived from water paths and sizes
            # (liquid_and_ice_clouds); aerosol arrays are required even with no aerosol.
            "longwave_optical_thickness_due_to_cloud": np.zeros((n_levels, n_columns, N_LW_BANDS)),
            "longwave_optical_thickness_due_to_aerosol": np.zeros((N_LW_BANDS, n_levels, n_columns)),
        }
    )
    return state


def _shortwave_state(common: dict, arrays: Mapping[str, np.ndarray]) -> dict:
    n_levels, n_columns = common["air_temperature"].shape
    albedo_vis = np.asarray(arrays["surface_albedo_visible"], dtype=float)
    albedo_nir = np.asarray(arrays["surface_albedo_near_infrared"], dtype=float)
    cloud_optics = np.zeros((n_levels, n_columns, N_SW_BANDS))
    aerosol_optics = np.zeros((N_SW_BANDS, n_levels, n_columns))
    state = dict(common)
    state.update(
        {
            "zenith_angle": np.arccos(np.asarray(arrays["cos_solar_zenith_angle"], dtype=float)),
            "surface_albedo_for_direct_shortwave": albedo_vis,
            "surface_albedo_for_diffuse_shortwave": albedo_vis.copy(),
            "surface_albedo_for_direct_near_infrared": albedo_nir,
            "surface_albedo_for_diffuse_near_infrared": albedo_nir.copy(),
            "shortwave_optical_thickness_due_to_cloud": cloud_optics,
            "single_scattering_albedo_due_to_cloud": cloud_optics.copy(),
            "cloud_asymmetry_parameter": cloud_optics.copy(),
            "cloud_forward_scattering_fraction": cloud_optics.copy(),
            "shortwave_optical_thickness_due_to_aerosol": aerosol_optics,
            "single_scattering_albedo_due_to_aerosol": aerosol_optics.copy(),
            "aerosol_asymmetry_parameter": aerosol_optics.copy(),
            "aerosol_optical_depth_at_55_micron": np.zeros((N_ECMWF_AEROSOLS, n_levels, n_columns)),
            "solar_cycle_fraction": np.array(0.0),
            # The per-column distance factor is applied afterwards (SW is linear in it).
            "flux_adjustment_for_earth_sun_distance": np.array(1.0),
            # Read by climt but unused with ignore_day_of_year=True.
            "time": _dt.datetime(2000, 1, 1),
        }
    )
    return state


def radiative_transfer_arrays(
    arrays: Mapping[str, np.ndarray], config: RRTMGConfig = RRTMGConfig(), seed: int = 0
) -> dict[str, np.ndarray]:
    """Run RRTMG LW + SW on row-major ``(column, level|interface)`` arrays, surface first.

    ``arrays`` holds the variables of :data:`subgrid.physics.schema.RADIATION_INPUTS` in their
    schema units (``earth_sun_distance_factor`` optional, default 1). No validation is done here
    beyond the checks that keep Fortran from aborting; use :func:`radiative_transfer` for user data.
    Returns the variables of :data:`~subgrid.physics.schema.RADIATION_OUTPUTS` with the same layout:
    fluxes in W m⁻² on interfaces, heating rates in K/day on levels. ``seed`` makes McICA's
    cloud sampling reproducible.
    """
    n_columns, n_levels = np.shape(arrays["air_temperature"])
    cos_zenith = np.asarray(arrays["cos_solar_zenith_angle"], dtype=float)
    day = cos_zenith > 0.0
    _check_shortwave_clouds(arrays, day, config)
    longwave, shortwave = _components(config)
    common = _common_state(arrays, config)

    outputs: dict[str, np.ndarray] = {}
    with _seeded_global_numpy(seed):
        tendencies, diagnostics = longwave.array_call(_longwave_state(common, arrays, config))
        _trim_mcica_cache(longwave)
        lw_names = {
            "lw_flux_up": "upwelling_longwave_flux_in_air",
            "lw_flux_down": "downwelling_longwave_flux_in_air",
            "lw_flux_up_clear": "upwelling_longwave_flux_in_air_assuming_clear_sky",
            "lw_flux_down_clear": "downwelling_longwave_flux_in_air_assuming_clear_sky",
            "lw_heating_rate_clear": "air_temperature_tendency_from_longwave_assuming_clear_sky",
        }
        for ours, theirs in lw_names.items():
            outputs[ours] = np.ascontiguousarray(diagnostics[theirs].T)
        outputs["lw_heating_rate"] = np.ascontiguousarray(tendencies["air_temperature"].T)

        sw_names = {
            "sw_flux_up": "upwelling_shortwave_flux_in_air",
            "sw_flux_down": "downwelling_shortwave_flux_in_air",
            "sw_flux_up_clear": "upwelling_shortwave_flux_in_air_assuming_clear_sky",
            "sw_flux_down_clear": "downwelling_shortwave_flux_in_air_assuming_clear_sky",
            "sw_heating_rate_clear": "air_temperature_tendency_from_shortwave_assuming_clear_sky",
            "sw_heating_rate": "air_temperature_tendency_from_shortwave",
        }
        for ours in sw_names:
            width = n_levels if "heating" in ours else n_levels + 1
            outputs[ours] = np.zeros((n_columns, width))
        if day.any():
            day_common = {
                name: (value[:, day] if value.ndim == 2 else value[day]) for name, value in common.items()
            }
            day_arrays = {name: np.asarray(value)[day] for name, value in arrays.items()}
            _, diagnostics = shortwave.array_call(_shortwave_state(day_common, day_arrays))
            _trim_mcica_cache(shortwave)
            factor = np.asarray(arrays.get("earth_sun_distance_factor", np.ones(n_columns)), dtype=float)
            for ours, theirs in sw_names.items():
                outputs[ours][day] = diagnostics[theirs].T * factor[day, None]
    return outputs


# --------------------------------------------------------------------------------------------
# xarray interface


def validate_radiation_inputs(columns: xr.Dataset, config: RRTMGConfig = RRTMGConfig()) -> None:
    """Raise :class:`~subgrid.core.errors.InputError` naming the variable, problem and column.

    Checks presence, dims, interface = level + 1, NaN/Inf, physical ranges, strictly decreasing
    pressure (surface first), level pressures inside their layer, and the particle-size ranges
    outside which RRTMG's cloud optics abort.
    """
    optional = {"earth_sun_distance_factor"}
    validation.require_variables(
        columns, [n for n in RADIATION_INPUTS if n not in optional], what="radiation input dataset"
    )
    validation.check_dims(columns, {name: var.dims for name, var in RADIATION_INPUTS.items()})
    if columns.sizes["interface"] != columns.sizes["level"] + 1:
        raise InputError(
            f"air_pressure_on_interface: {columns.sizes['interface']} interfaces for "
            f"{columns.sizes['level']} levels (need level + 1)"
        )
    present = [name for name in RADIATION_INPUTS if name in columns]
    validation.check_finite(columns, present)
    for name in ("air_temperature", "surface_temperature"):
        validation.check_range(columns, name, 100.0, 400.0, units="K")
    validation.check_range(columns, "air_pressure_on_interface", 0.0, 120000.0, units="Pa", low_inclusive=False)
    for name in ("specific_humidity", "ozone_mole_fraction", "cloud_liquid_water_path", "cloud_ice_water_path"):
        validation.check_range(columns, name, 0.0, units=RADIATION_INPUTS[name].units)
    validation.check_range(columns, "specific_humidity", high=0.1, units="kg kg-1")
    # Plausibility: what a wrong unit taken as the schema's gives (hPa, ppmv, water paths per kg).
    surface = xr.Dataset({"air_pressure_on_interface (surface)": columns["air_pressure_on_interface"].isel(interface=0)})
    validation.check_range(surface, "air_pressure_on_interface (surface)", *SURFACE_PRESSURE_BOUNDS_PA, units="Pa")
    validation.check_range(columns, "ozone_mole_fraction", high=OZONE_MOLE_FRACTION_MAX, units="mol mol-1")
    for name in ("cloud_liquid_water_path", "cloud_ice_water_path"):
        validation.check_range(columns, name, high=LAYER_WATER_PATH_MAX_G_M2, units="g m-2")
    validation.check_range(columns, "co2_mole_fraction", 0.0, 0.1, units="mol mol-1", low_inclusive=False)
    for name in ("cloud_fraction", "surface_albedo_visible", "surface_albedo_near_infrared"):
        validation.check_range(columns, name, 0.0, 1.0)
    validation.check_range(columns, "surface_emissivity", 0.0, 1.0, low_inclusive=False)
    validation.check_range(columns, "cos_solar_zenith_angle", -1.0, 1.0)
    if "earth_sun_distance_factor" in columns:
        validation.check_range(columns, "earth_sun_distance_factor", 0.9, 1.1)
    validation.check_monotonic(columns, "air_pressure_on_interface", "interface", decreasing=True)
    p_int = columns["air_pressure_on_interface"].values
    p_mid = columns["air_pressure"].values
    outside = (p_mid >= p_int[:, :-1]) | (p_mid <= p_int[:, 1:])
    if outside.any():
        column, level = np.argwhere(outside)[0]
        raise InputError(
            f"air_pressure: level pressure not between its interfaces (surface first), first at "
            f"column {column}, level {level}"
        )
    cloudy = columns.assign(
        _liquid=columns["cloud_droplet_radius"].where(columns["cloud_liquid_water_path"] > 0),
        _ice=columns["cloud_ice_radius"].where(columns["cloud_ice_water_path"] > 0),
    )
    for name, (low, high) in (
        ("_liquid", LIQUID_RADIUS_BOUNDS_UM),
        ("_ice", ICE_RADIUS_BOUNDS_UM[config.cloud_ice_properties]),
    ):
        values = cloudy[name].fillna((low + min(high, 1e3)) / 2)
        target = "cloud_droplet_radius" if name == "_liquid" else "cloud_ice_radius"
        validation.check_range(xr.Dataset({target: values}), target, low, high, units="um")


def in_schema_units(
    columns: xr.Dataset, units: Mapping[str, str] | None = None, *, require: bool = False, where: str = ""
) -> xr.Dataset:
    """``columns`` with every radiation input converted once to its schema unit (:mod:`subgrid.core.units`).

    ``units`` states units that take precedence over ``units`` attributes. A variable with unknown
    units is refused; one without units is refused when ``require`` (files) and taken as the
    schema's unit otherwise (in-memory states), left to the plausibility ranges of
    :func:`validate_radiation_inputs`.
    """
    expected = {name: var.units for name, var in RADIATION_INPUTS.items()}
    return dataset_in_units(columns, expected, stated=units, require=require, where=where)


def to_surface_first(columns: xr.Dataset) -> tuple[xr.Dataset, bool]:
    """``columns`` surface first, and whether it was flipped (from ``vertical_order`` or, if absent, the pressures)."""
    order = columns.attrs.get("vertical_order")
    if order is None:
        p = columns["air_pressure_on_interface"].isel(column=0).values
        order = "surface_first" if p[0] > p[-1] else "top_first"
    if order not in ("surface_first", "top_first"):
        raise InputError(f"vertical_order attribute: {order!r} is neither 'surface_first' nor 'top_first'")
    if order == "top_first":
        return columns.isel(level=slice(None, None, -1), interface=slice(None, None, -1)), True
    return columns, False


def radiative_transfer(columns: xr.Dataset, config: RRTMGConfig = RRTMGConfig(), seed: int = 0) -> xr.Dataset:
    """RRTMG LW + SW fluxes (W m⁻², interfaces) and heating rates (K/day, levels) for a Dataset of columns.

    ``columns`` holds :data:`~subgrid.physics.schema.RADIATION_INPUTS` with dims ``column``,
    ``level``, ``interface``; its ``vertical_order`` attribute (or, if absent, the order of
    its pressures) says whether index 0 is the surface or the top, and the result comes back in
    the same order. Variables with a ``units`` attribute are converted to the schema's units
    (:func:`in_schema_units`; unknown units are refused), then validated: see :func:`validate_radiation_inputs`.
    """
    return _transfer(*_checked_surface_first(columns, config), config, seed)


def _checked_surface_first(columns: xr.Dataset, config: RRTMGConfig) -> tuple[xr.Dataset, bool]:
    """``columns`` in schema units, surface first and validated; and whether they were flipped."""
    ordered, flipped = to_surface_first(in_schema_units(columns))
    validate_radiation_inputs(ordered, config)
    return ordered, flipped


def _transfer(ordered: xr.Dataset, flipped: bool, config: RRTMGConfig, seed: int) -> xr.Dataset:
    arrays = {name: ordered[name].values for name in RADIATION_INPUTS if name in ordered}
    outputs = radiative_transfer_arrays(arrays, config, seed)
    result = xr.Dataset(
        {name: (var.dims, outputs[name], var.attrs()) for name, var in RADIATION_OUTPUTS.items()},
        attrs={
            "vertical_order": VERTICAL_ORDER,
            "rrtmg_settings": json.dumps(config.to_dict()),
            "rrtmg_seed": seed,
        },
    )
    if flipped:
        result = result.isel(level=slice(None, None, -1), interface=slice(None, None, -1))
        result.attrs["vertical_order"] = "top_first"
    return result


def sympl_state(arrays: Mapping[str, np.ndarray], config: RRTMGConfig = RRTMGConfig()) -> dict:
    """The same columns as a sympl state for climt's own ``__call__`` path (one latitude row, one column per lon).

    For checking that the batched ``array_call`` path equals climt's documented interface, and for
    benchmarking against it. All columns are treated as daytime columns here.
    """
    import climt
    import sympl

    longwave, shortwave = _components(config)
    n_columns, n_levels = np.shape(arrays["air_temperature"])
    grid = climt.get_grid(nx=n_columns, ny=1, nz=n_levels)
    state = climt.get_default_state([longwave, shortwave], grid_state=grid)
    common = _common_state(arrays, config)
    array_call_state = {**_longwave_state(common, arrays, config), **_shortwave_state(common, arrays)}
    for name, value in array_call_state.items():
        if name == "time":
            continue
        properties = longwave.input_properties.get(name) or shortwave.input_properties[name]
        target = state[name]
        # climt's column axis '*' is (lat=1, lon=column) in the state: same order, one more axis.
        state[name] = sympl.DataArray(
            np.asarray(value, dtype=float).reshape(target.shape), dims=target.dims, attrs={"units": properties["units"]}
        )
    return state


# --------------------------------------------------------------------------------------------
# The scheme as a parameterization


@dataclass(frozen=True)
class RRTMG:
    """RRTMG LW + SW as a :class:`~subgrid.core.contract.Parameterization`, McICA seeded per call from the state.

    ``tendencies(state)`` takes a mapping of ``(column, level|interface)`` arrays, surface first
    (:func:`radiative_transfer_arrays`), or an xarray Dataset of columns in either vertical order
    (:func:`radiative_transfer`, which validates it), and returns all of
    :data:`~subgrid.physics.schema.RADIATION_OUTPUTS` in the same form.

    A fixed McICA seed would sample the same sub-grid clouds on every call, a bias frozen in
    time; seeding from the bytes of the temperature field (``zlib.crc32``, started at ``seed``)
    varies the draw from call to call yet keeps a run reproducible (and a resumed run identical
    to an uninterrupted one). Equal temperatures give equal clouds.

    Attributes:
        config: the scheme's settings.
        seed: start value of the per-call McICA seed, in [0, 2**32).
        validate: check mappings of arrays as :func:`radiative_transfer` checks a Dataset (errors name
            variable and column); off by default, as in a host's hot loop. Datasets are always checked.
    """

    config: RRTMGConfig = field(default_factory=RRTMGConfig)
    seed: int = 0
    validate: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise InputError(f"RRTMG.seed: must be in [0, 2**32), got {self.seed!r}")

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return RADIATION_INPUTS

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return RADIATION_OUTPUTS

    def mcica_seed(self, air_temperature_K: np.ndarray) -> int:
        """The McICA seed of a call on this temperature field (as float64, C order)."""
        temperature = np.ascontiguousarray(air_temperature_K, dtype=np.float64)
        return zlib.crc32(temperature.tobytes(), self.seed)

    def tendencies(self, state: xr.Dataset | Mapping[str, np.ndarray]) -> xr.Dataset | dict[str, np.ndarray]:
        """Fluxes (W m⁻², interfaces) and heating rates (K/day, levels) of ``state``; ``state`` is not changed."""
        if isinstance(state, xr.Dataset):  # checked before the seed is read from its temperatures
            ordered, flipped = _checked_surface_first(state, self.config)
            return _transfer(ordered, flipped, self.config, self.mcica_seed(ordered["air_temperature"].values))
        if self.validate:
            validate_radiation_inputs(inputs_as_dataset(state), self.config)
        return radiative_transfer_arrays(state, self.config, seed=self.mcica_seed(state["air_temperature"]))


def inputs_as_dataset(arrays: Mapping[str, np.ndarray]) -> xr.Dataset:
    """Radiation inputs given as ``(column, level|interface)`` arrays, as a Dataset (to validate them)."""
    unknown = set(arrays) - set(RADIATION_INPUTS)
    if unknown:
        raise InputError(f"radiation inputs: unknown variable(s) {', '.join(sorted(unknown))}")
    try:
        return xr.Dataset({name: (RADIATION_INPUTS[name].dims, np.asarray(v)) for name, v in arrays.items()})
    except ValueError as error:  # xarray names the dimension whose sizes disagree
        raise InputError(f"radiation inputs: inconsistent shapes ({error})") from error
