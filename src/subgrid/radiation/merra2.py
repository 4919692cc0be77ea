"""MERRA-2 model-level fields as radiation columns (the schema of :mod:`subgrid.physics.schema`).

MERRA-2's 3-hourly model-level assimilation collection ``inst3_3d_asm_Nv`` (M2I3NVASM) holds on
72 hybrid levels, top first (level 1 at the model top, 0.01 hPa), on dims
``(time, lev, lat, lon)``: ``DELP`` (layer pressure thickness, Pa), ``PL`` (mid-layer pressure,
Pa), ``T`` (K), ``QV`` (specific humidity, kg kg⁻¹), ``O3`` (ozone mass mixing ratio, kg kg⁻¹),
``QL`` / ``QI`` (grid-mean cloud liquid / ice mass fraction, kg kg⁻¹), ``CLOUD`` (cloud fraction
for radiation) and ``PS`` (surface pressure, Pa, on ``(time, lat, lon)``). The surface comes from
other collections, merged in beforehand (``xr.merge``): skin temperature ``TS``
(``inst1_2d_asm_Nx``), and optionally ``ALBEDO`` and ``EMIS`` (``tavg1_2d_rad_Nx``).

:func:`columns_from_merra2` turns every (time, lat, lon) into a column:

* interfaces: ``p_top = 1 Pa`` plus the running sum of ``DELP`` downward; the bottom interface
  must match ``PS`` (within 0.5 %, else the fields are not from one collection and time);
  level pressures are ``PL`` (or the interface mean when ``PL`` is absent);
* ozone mole fraction = ``O3`` × M_air / M_O3 (28.9644 / 47.9982);
* in-cloud water paths (g m⁻², what RRTMG takes) = grid-mean mass fraction × ``DELP`` / g ×
  1000 / ``CLOUD`` where ``CLOUD`` > 0.001; condensate in layers with less cloud than that is
  dropped (its amount is reported in the attrs as ``dropped_condensate_fraction``);
* effective radii (not in MERRA-2): droplets ``droplet_radius_um`` (10 µm), ice growing with
  temperature from 15 µm at 200 K to 75 µm at 273 K (the column sampler's rule, factor 1);
* surface albedo (visible = near-IR) from ``ALBEDO`` where defined, else ``albedo``; emissivity
  from ``EMIS``, else ``emissivity``; CO₂ ``co2_mole_fraction`` (well mixed);
* the sun from time, latitude and longitude (local solar time = UTC hour + longitude / 15).

The result is surface first, with the descriptors ``latitude``, ``longitude``, ``day_of_year`` and
``local_solar_time``; write it with ``to_netcdf`` and label it with ``subgrid generate radiation
--from FILE`` (:func:`subgrid.radiation.dataset.label_columns`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from subgrid.core import validation
from subgrid.core.errors import InputError
from subgrid.physics.constants import (
    MELTING_POINT_K,
    MOLAR_MASS_DRY_AIR_G_PER_MOL,
    MOLAR_MASS_OZONE_G_PER_MOL,
    SECONDS_PER_HOUR,
    STANDARD_GRAVITY_M_PER_S2,
)
from subgrid.physics.insolation import solar_geometry
from subgrid.physics.schema import COLUMN_DESCRIPTORS, RADIATION_INPUTS, VERTICAL_ORDER

#: MERRA-2's model top.
TOP_PRESSURE_PA = 1.0
#: M_air / M_O3: ozone mass mixing ratio -> mole fraction.
OZONE_MASS_TO_MOLE = MOLAR_MASS_DRY_AIR_G_PER_MOL / MOLAR_MASS_OZONE_G_PER_MOL
#: Cloud fraction below which a layer counts as clear (its condensate is dropped).
MIN_CLOUD_FRACTION = 1e-3
REQUIRED = ("DELP", "T", "QV", "O3", "QL", "QI", "CLOUD", "PS", "TS")
#: Albedo and emissivity are fractions; MERRA-2 leaves albedo undefined (fill) at night.
_MAX_VALID_FRACTION = 1.0


def _ice_radius_um(temperature_K: np.ndarray) -> np.ndarray:
    warmth = np.clip((temperature_K - 200.0) / (MELTING_POINT_K - 200.0), 0.0, 1.0)
    return 15.0 + 60.0 * warmth


def columns_from_merra2(
    fields: xr.Dataset,
    *,
    droplet_radius_um: float = 10.0,
    albedo: float = 0.07,
    emissivity: float = 0.98,
    co2_mole_fraction: float = 4.1e-4,
) -> xr.Dataset:
    """Radiation columns from MERRA-2 model-level fields (module docstring for the conversions).

    Args:
        fields: ``DELP``, ``T``, ``QV``, ``O3``, ``QL``, ``QI``, ``CLOUD`` on ``(time, lev, lat,
            lon)`` (``lev`` top first), ``PS`` and ``TS`` on ``(time, lat, lon)``; optional
            ``PL``, ``ALBEDO``, ``EMIS``. ``time`` may be a scalar coordinate (one time) instead
            of a dimension; without either it is an error.
        droplet_radius_um, albedo, emissivity, co2_mole_fraction: what MERRA-2 does not give.

    Returns:
        One column per (time, lat, lon), surface first (``column`` is a stacked index; ``time``,
        ``lat`` and ``lon`` of each column are kept as descriptors).

    Raises:
        InputError: a missing variable, wrong dims, NaN/fill values, non-positive ``DELP``, or
            interfaces that do not add up to ``PS``.
    """
    validation.require_variables(fields, REQUIRED, what="MERRA-2 fields")
    if "time" not in fields.dims:
        fields = fields.expand_dims("time") if "time" in fields.coords else None
        if fields is None:
            raise InputError("MERRA-2 fields: no time dimension or coordinate (the sun needs it)")
    level_dims, surface_dims = ("time", "lev", "lat", "lon"), ("time", "lat", "lon")
    present = REQUIRED + tuple(n for n in ("PL", "ALBEDO", "EMIS") if n in fields)
    validation.check_data(
        fields, {name: surface_dims if name in ("PS", "TS", "ALBEDO", "EMIS") else level_dims for name in present},
        any_order=True,
    )  # fmt: skip
    stacked = fields.transpose("time", "lev", "lat", "lon").stack(column=("time", "lat", "lon"))

    def levels(name: str) -> np.ndarray:  # (column, level), surface first
        return np.asarray(stacked[name].transpose("column", "lev").values, dtype=float)[:, ::-1]

    def surface(name: str) -> np.ndarray:
        return np.asarray(stacked[name].values, dtype=float)

    arrays = {name: levels(name) for name in ("DELP", "T", "QV", "O3", "QL", "QI", "CLOUD")}
    arrays.update({name: surface(name) for name in ("PS", "TS")})
    for name, values in arrays.items():
        bad = ~np.isfinite(values) | (np.abs(values) > 1e14)  # MERRA-2's fill value is 1e15
        if bad.any():
            raise InputError(f"{name}: {int(bad.sum())} missing or non-finite value(s) (NaN or the 1e15 fill)")
    delp = arrays["DELP"]
    if (delp <= 0).any():
        raise InputError("DELP: layer thicknesses must be > 0 Pa (levels not monotonic)")
    # Interfaces surface first: PS at the bottom, the model top at the end.
    from_top = TOP_PRESSURE_PA + np.cumsum(delp[:, ::-1], axis=1)
    interfaces = np.concatenate([from_top[:, ::-1], np.full((delp.shape[0], 1), TOP_PRESSURE_PA)], axis=1)
    mismatch = np.abs(interfaces[:, 0] / arrays["PS"] - 1.0)
    if mismatch.max() > 0.005:
        column = int(np.argmax(mismatch))
        raise InputError(f"PS: differs by {100 * mismatch[column]:.2g} % from 1 Pa + sum(DELP) at column {column} "
                         "(fields from different collections or times?)")  # fmt: skip
    pressure = levels("PL") if "PL" in stacked else 0.5 * (interfaces[:, :-1] + interfaces[:, 1:])

    cloud = np.clip(arrays["CLOUD"], 0.0, 1.0)
    cloudy = cloud > MIN_CLOUD_FRACTION
    mass_g_per_m2 = 1000.0 * delp / STANDARD_GRAVITY_M_PER_S2  # MERRA-2's g
    in_cloud = {name: np.where(cloudy, np.maximum(arrays[name], 0.0) * mass_g_per_m2 / np.where(cloudy, cloud, 1.0), 0.0)
                for name in ("QL", "QI")}  # fmt: skip
    total = (np.maximum(arrays["QL"], 0.0) + np.maximum(arrays["QI"], 0.0)) * mass_g_per_m2
    dropped = float(np.where(cloudy, 0.0, total).sum() / total.sum()) if total.sum() > 0 else 0.0

    n_columns = delp.shape[0]
    time = stacked["time"].values
    latitude = np.asarray(stacked["lat"].values, dtype=float)
    longitude = np.asarray(stacked["lon"].values, dtype=float)
    stamps = np.asarray(time, dtype="datetime64[s]")
    day_of_year = (stamps.astype("datetime64[D]") - stamps.astype("datetime64[Y]")).astype(int) + 1.0
    utc_hour = (stamps - stamps.astype("datetime64[D]")).astype(float) / SECONDS_PER_HOUR
    local_solar_time = np.mod(utc_hour + longitude / 15.0, 24.0)
    cos_zenith, distance = solar_geometry(latitude, day_of_year, local_solar_time)

    def surface_or(name: str, default: float, low: float) -> np.ndarray:
        if name not in stacked:
            return np.full(n_columns, default)
        values = surface(name)
        return np.where(np.isfinite(values) & (values > low) & (values <= _MAX_VALID_FRACTION), values, default)

    surface_albedo = surface_or("ALBEDO", albedo, -1e-9)
    level_vars = {
        "air_pressure": pressure,
        "air_temperature": arrays["T"],
        "specific_humidity": np.maximum(arrays["QV"], 0.0),
        "ozone_mole_fraction": np.maximum(arrays["O3"], 0.0) * OZONE_MASS_TO_MOLE,
        "cloud_fraction": np.where(cloudy, cloud, 0.0),
        "cloud_liquid_water_path": in_cloud["QL"],
        "cloud_ice_water_path": in_cloud["QI"],
        "cloud_droplet_radius": np.full_like(delp, droplet_radius_um),
        "cloud_ice_radius": _ice_radius_um(arrays["T"]),
    }
    column_vars = {
        "surface_temperature": arrays["TS"],
        "co2_mole_fraction": np.full(n_columns, co2_mole_fraction),
        "surface_albedo_visible": surface_albedo,
        "surface_albedo_near_infrared": surface_albedo,
        "surface_emissivity": surface_or("EMIS", emissivity, 0.0),
        "cos_solar_zenith_angle": cos_zenith,
        "earth_sun_distance_factor": distance,
    }
    variables = {name: (("column", "level"), value, RADIATION_INPUTS[name].attrs()) for name, value in level_vars.items()}
    variables.update({name: (("column",), value, RADIATION_INPUTS[name].attrs()) for name, value in column_vars.items()})
    variables["air_pressure_on_interface"] = (("column", "interface"), interfaces,
                                              RADIATION_INPUTS["air_pressure_on_interface"].attrs())  # fmt: skip
    descriptors = {"latitude": latitude, "day_of_year": day_of_year, "local_solar_time": local_solar_time}
    variables.update({name: (("column",), value, COLUMN_DESCRIPTORS[name].attrs()) for name, value in descriptors.items()})
    variables["longitude"] = (("column",), longitude, {"units": "degrees_east", "long_name": "longitude"})
    variables["time"] = (("column",), time, {"long_name": "valid time (UTC)"})
    return xr.Dataset(
        variables,
        attrs={
            "source": "MERRA-2 model levels (inst3_3d_asm_Nv) via subgrid.radiation.merra2.columns_from_merra2",
            "vertical_order": VERTICAL_ORDER,
            "dropped_condensate_fraction": dropped,
            "assumed": f"droplet radius {droplet_radius_um:g} um, ice radius by temperature, CO2 {co2_mole_fraction:g}"
                       + ("" if "ALBEDO" in fields else f", albedo {albedo:g}")
                       + ("" if "EMIS" in fields else f", emissivity {emissivity:g}"),
        },
    )
