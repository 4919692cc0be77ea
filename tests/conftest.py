"""Shared fixtures: small hand-built column datasets, independent of the sampler under test."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from subgrid.physics.schema import RADIATION_INPUTS


def make_columns(
    n_columns: int = 4,
    n_levels: int = 30,
    *,
    surface_temperature_K: float = 295.0,
    cloud_fraction: float = 0.0,
    cloud_pressure_Pa: float = 25000.0,
    ice_water_path_g_m2: float = 0.0,
    liquid_water_path_g_m2: float = 0.0,
    cos_zenith: float | np.ndarray = 0.5,
    distance_factor: float | np.ndarray = 1.0,
) -> xr.Dataset:
    """Columns with a 6.5 K/km troposphere over a 200 K stratosphere, exponential humidity, one cloud layer."""
    sigma = np.linspace(0.0, 1.0, n_levels + 1)
    p_int = np.tile(101300.0 * np.exp(np.log(20.0 / 101300.0) * sigma**1.3), (n_columns, 1))
    p = np.sqrt(p_int[:, :-1] * p_int[:, 1:])
    z = -7000.0 * np.log(p / 101300.0)
    temperature = np.maximum(surface_temperature_K - 6.5e-3 * z, 200.0)
    humidity = np.maximum(0.015 * np.exp(-z / 2000.0), 3e-6)
    ozone = 8e-6 * np.exp(-((np.log(p / 1000.0) / 1.2) ** 2)) + 3e-8
    cloud = np.zeros_like(p)
    level = np.argmin(np.abs(p[0] - cloud_pressure_Pa))
    cloud[:, level] = cloud_fraction
    iwp = np.where(cloud > 0, ice_water_path_g_m2, 0.0)
    lwp = np.where(cloud > 0, liquid_water_path_g_m2, 0.0)
    full = lambda value: np.broadcast_to(np.asarray(value, dtype=float), (n_columns,)).copy()  # noqa: E731
    data = {
        "air_pressure": p,
        "air_pressure_on_interface": p_int,
        "air_temperature": temperature,
        "surface_temperature": full(surface_temperature_K),
        "specific_humidity": humidity,
        "ozone_mole_fraction": ozone,
        "co2_mole_fraction": full(415e-6),
        "cloud_fraction": cloud,
        "cloud_liquid_water_path": lwp,
        "cloud_ice_water_path": iwp,
        "cloud_droplet_radius": np.full_like(p, 10.0),
        "cloud_ice_radius": np.full_like(p, 40.0),
        "surface_albedo_visible": full(0.1),
        "surface_albedo_near_infrared": full(0.2),
        "surface_emissivity": full(0.98),
        "cos_solar_zenith_angle": full(cos_zenith),
        "earth_sun_distance_factor": full(distance_factor),
    }
    assert set(data) == set(RADIATION_INPUTS)
    return xr.Dataset(
        {name: (RADIATION_INPUTS[name].dims, value, RADIATION_INPUTS[name].attrs()) for name, value in data.items()},
        attrs={"vertical_order": "surface_first"},
    )


@pytest.fixture
def columns() -> xr.Dataset:
    return make_columns()

