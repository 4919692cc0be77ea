"""The column sampler: :func:`sample_columns` and the dataset it writes."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from subgrid.physics.schema import CLOUD_REGIMES, COLUMN_DESCRIPTORS, RADIATION_INPUTS, SURFACE_TYPES, VERTICAL_ORDER
from subgrid.radiation.columns.clouds import sample_clouds
from subgrid.radiation.columns.config import ColumnSamplerConfig
from subgrid.radiation.columns.grid import log_pressure_height_km, pressure_grid
from subgrid.radiation.columns.parameters import ColumnParameters, sample_parameters
from subgrid.radiation.columns.profiles import (
    ice_radius_um,
    manabe_relative_humidity,
    ozone_profile_mol_per_mol,
    specific_humidity_profile_kg_per_kg,
    temperature_profile_K,
)


def smooth_bumps(
    rng: np.random.Generator,
    z_km: np.ndarray,
    n_bumps: int,
    amplitude: tuple[float, float],
    width_km: tuple[float, float],
) -> np.ndarray:
    """Sum of ``n_bumps`` Gaussians in log-pressure height per column, centred anywhere in 0..60 km."""
    shape = (z_km.shape[0], n_bumps, 1)
    centre = rng.uniform(0.0, 60.0, shape)
    width = rng.uniform(*width_km, shape)
    height = rng.uniform(*amplitude, shape)
    return (height * np.exp(-0.5 * ((z_km[:, None, :] - centre) / width) ** 2)).sum(axis=1)


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an integer seed, got {type(rng).__name__}")


def sample_columns(
    n_columns: int, rng: np.random.Generator | int, config: ColumnSamplerConfig = ColumnSamplerConfig()
) -> xr.Dataset:
    """Sample ``n_columns`` independent atmospheric columns (distributions: :mod:`subgrid.radiation.columns`).

    Args:
        n_columns: number of columns (>= 1).
        rng: a numpy Generator (advanced in place) or an integer seed; the same seed and config give
            an identical dataset.
        config: sampler settings, recorded as JSON in the ``sampler_settings`` attribute.

    Returns:
        Dataset with exactly the variables of ``RADIATION_INPUTS`` and ``COLUMN_DESCRIPTORS``,
        surface first (``vertical_order`` attribute).
    """
    if isinstance(n_columns, bool) or not isinstance(n_columns, int | np.integer) or n_columns < 1:
        raise ValueError(f"n_columns must be an integer >= 1, got {n_columns!r}")
    generator = _as_generator(rng)
    c = sample_parameters(int(n_columns), generator, config)
    p_interface, p_level = pressure_grid(
        c.surface_pressure_Pa, config.n_levels, config.top_pressure_Pa, config.bottom_layer_thickness_Pa
    )
    z_km = log_pressure_height_km(p_level)
    temperature = temperature_profile_K(z_km, c) + smooth_bumps(generator, z_km, 3, (-1.5, 1.5), (1.0, 5.0))
    fraction, liquid_path, ice_path = sample_clouds(generator, c, config, z_km, temperature, p_interface)
    dry_moist_layers = 1.0 + smooth_bumps(generator, z_km, 2, (-0.5, 0.5), (0.5, 2.0))
    relative_humidity = np.clip(manabe_relative_humidity(p_level, c) * dry_moist_layers, 0.0, 1.0)
    # Cloudy layers are close to saturation.
    relative_humidity = np.where(fraction > 0.0, np.maximum(relative_humidity, 0.9 + 0.1 * fraction), relative_humidity)
    return to_dataset(c, config, p_interface, p_level, temperature, relative_humidity, fraction, liquid_path, ice_path)


def to_dataset(
    c: ColumnParameters,
    config: ColumnSamplerConfig,
    p_interface: np.ndarray,
    p_level: np.ndarray,
    temperature: np.ndarray,
    relative_humidity: np.ndarray,
    cloud_fraction: np.ndarray,
    liquid_path: np.ndarray,
    ice_path: np.ndarray,
) -> xr.Dataset:
    data = {
        "air_pressure": p_level,
        "air_pressure_on_interface": p_interface,
        "air_temperature": temperature,
        "surface_temperature": c.skin_temperature_K,
        "specific_humidity": specific_humidity_profile_kg_per_kg(relative_humidity, temperature, p_level, c),
        "ozone_mole_fraction": ozone_profile_mol_per_mol(p_level, c),
        "co2_mole_fraction": c.co2_mol_per_mol,
        "cloud_fraction": cloud_fraction,
        "cloud_liquid_water_path": liquid_path,
        "cloud_ice_water_path": ice_path,
        "cloud_droplet_radius": np.broadcast_to(c.droplet_radius_um[:, None], p_level.shape),
        "cloud_ice_radius": ice_radius_um(temperature, c),
        "surface_albedo_visible": c.albedo_visible,
        "surface_albedo_near_infrared": c.albedo_near_infrared,
        "surface_emissivity": c.emissivity,
        "cos_solar_zenith_angle": c.cos_zenith,
        "earth_sun_distance_factor": c.distance_factor,
        "latitude": c.latitude_deg,
        "day_of_year": c.day_of_year,
        "local_solar_time": c.local_solar_time_h,
    }
    variables = {
        name: (RADIATION_INPUTS[name].dims, np.array(value, dtype=np.float64), RADIATION_INPUTS[name].attrs())
        for name, value in data.items()
        if name in RADIATION_INPUTS
    }
    for name in COLUMN_DESCRIPTORS:
        attrs = COLUMN_DESCRIPTORS[name].attrs()
        if name == "surface_type":
            value, meanings = c.surface_type.astype(np.int8), SURFACE_TYPES
        elif name == "cloud_regime":
            value, meanings = c.cloud_regime.astype(np.int8), CLOUD_REGIMES
        else:
            value, meanings = np.array(data[name], dtype=np.float64), None
        if meanings is not None:
            attrs |= {"flag_values": np.arange(len(meanings), dtype=np.int8), "flag_meanings": " ".join(meanings)}
        variables[name] = (COLUMN_DESCRIPTORS[name].dims, value, attrs)
    return xr.Dataset(
        variables,
        attrs={"vertical_order": VERTICAL_ORDER, "sampler_settings": json.dumps(config.to_dict(), sort_keys=True)},
    )
