"""Per-column parameters of the sampler (latitude, season, surface, tropopause, ...) and their draws.

The distributions are the table of :mod:`subgrid.radiation.columns`; the order of the draws is
fixed (the same seed gives the same columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subgrid.physics.constants import MELTING_POINT_K, SEAWATER_FREEZING_POINT_K
from subgrid.physics.insolation import solar_geometry
from subgrid.physics.schema import CLOUD_REGIMES, SURFACE_TYPES
from subgrid.radiation.columns.config import ColumnSamplerConfig
from subgrid.radiation.columns.grid import log_pressure_height_km

SURFACE_PRESSURE_SCALE_HEIGHT_M = 8000.0
#: Air over open water can be well below freezing (cold-air outbreaks); sea ice becomes likely below this.
SEA_ICE_AIR_TEMPERATURE_K = 268.15
MIN_TROPOPAUSE_TEMPERATURE_K = 185.0

SURFACE_CODE = {name: code for code, name in enumerate(SURFACE_TYPES)}
REGIME_CODE = {name: code for code, name in enumerate(CLOUD_REGIMES)}


@dataclass(frozen=True)
class ColumnParameters:
    """Per-column scalars (arrays of shape (column,)) that determine the smooth profiles."""

    latitude_deg: np.ndarray
    day_of_year: np.ndarray
    local_solar_time_h: np.ndarray
    cos_zenith: np.ndarray
    distance_factor: np.ndarray
    surface_type: np.ndarray
    cloud_regime: np.ndarray
    surface_pressure_Pa: np.ndarray
    surface_air_temperature_K: np.ndarray
    inversion_K: np.ndarray
    inversion_depth_km: np.ndarray
    lapse_rate_K_per_km: np.ndarray
    tropopause_height_km: np.ndarray
    stratosphere_exponent: np.ndarray
    stratopause_pressure_Pa: np.ndarray
    stratopause_temperature_K: np.ndarray
    mesosphere_lapse_rate_K_per_km: np.ndarray
    surface_relative_humidity: np.ndarray
    stratospheric_water_mol_per_mol: np.ndarray
    ozone_peak_mol_per_mol: np.ndarray
    ozone_peak_pressure_Pa: np.ndarray
    ozone_width_below: np.ndarray
    ozone_width_above: np.ndarray
    ozone_troposphere_mol_per_mol: np.ndarray
    co2_mol_per_mol: np.ndarray
    albedo_visible: np.ndarray
    albedo_near_infrared: np.ndarray
    emissivity: np.ndarray
    skin_temperature_K: np.ndarray
    droplet_radius_um: np.ndarray
    ice_radius_factor: np.ndarray

    @property
    def surface_height_km(self) -> np.ndarray:
        return log_pressure_height_km(self.surface_pressure_Pa)

    @property
    def tropopause_temperature_K(self) -> np.ndarray:
        depth = self.tropopause_height_km - self.surface_height_km
        return self.surface_air_temperature_K + self.inversion_K - self.lapse_rate_K_per_km * depth


def sample_parameters(n: int, rng: np.random.Generator, config: ColumnSamplerConfig) -> ColumnParameters:
    """Draw the per-column parameters (the table of :mod:`subgrid.radiation.columns`), in a fixed order of draws."""

    def u(low: float = 0.0, high: float = 1.0) -> np.ndarray:
        return rng.uniform(low, high, n)

    latitude_deg = np.rad2deg(np.arcsin(u(-1.0, 1.0)))
    s2 = np.sin(np.deg2rad(latitude_deg)) ** 2
    day_of_year = rng.integers(1, 366, n).astype(float)
    local_solar_time_h = u(0.0, 24.0)
    cos_zenith, distance_factor = solar_geometry(latitude_deg, day_of_year, local_solar_time_h)
    day = cos_zenith > 0.0

    ocean = u() < config.ocean_fraction
    elevation_m = np.where(
        ocean,
        0.0,
        # Inverse CDF of the exponential truncated at the maximum elevation (no pile-up at the cap).
        -config.land_elevation_mean_m
        * np.log1p(-u() * -np.expm1(-config.land_elevation_max_m / config.land_elevation_mean_m)),
    )
    sea_level_pressure = np.clip(rng.normal(101300.0, 800.0, n), 98100.0, 104500.0)
    surface_pressure_Pa = sea_level_pressure * np.exp(-elevation_m / SURFACE_PRESSURE_SCALE_HEIGHT_M)

    # Coldest a month after the solstice; continents have larger seasonal cycles than oceans.
    season = -np.cos(2.0 * np.pi * (day_of_year - 20.0) / 365.0) * np.sign(latitude_deg)
    amplitude = 15.0 * s2 * np.where(ocean, 0.6, 1.4)
    # Polar oceans are kept warmer than polar land by the heat the ocean carries poleward.
    climate = 300.0 - 20.0 * s2 - 30.0 * s2**2 + np.where(ocean, 6.0 * s2**2, 0.0)
    noise = rng.normal(0.0, 1.0, n) * (1.5 + 3.5 * s2)
    surface_air_temperature_K = np.clip(climate + amplitude * season - 6.5e-3 * elevation_m + noise, 205.0, 315.0)
    sea_ice = ocean & (surface_air_temperature_K < SEA_ICE_AIR_TEMPERATURE_K - 6.0 * u())
    snow = ~ocean & (surface_air_temperature_K < MELTING_POINT_K - 10.0 * u())
    surface_type = np.select(
        [sea_ice, ocean, snow], [SURFACE_CODE["sea_ice"], SURFACE_CODE["ocean"], SURFACE_CODE["snow_covered_land"]],
        SURFACE_CODE["land"],
    ).astype(np.int8)
    bare_land = surface_type == SURFACE_CODE["land"]
    desert = u() < 0.1 + 0.5 * np.exp(-(((np.abs(latitude_deg) - 25.0) / 10.0) ** 2))
    aridity = np.where(bare_land, np.where(desert, u(0.6, 1.0), u(0.0, 0.4)), 0.0)

    polar = (np.abs(latitude_deg) > 60.0) | sea_ice | snow
    inversion_probability = np.where(polar, 0.7, np.where(~ocean & ~day, 0.5, 0.0))
    inversion_K = np.where(u() < inversion_probability, u(0.0, config.surface_inversion_max_K), 0.0)
    inversion_depth_km = u(0.2, 1.5)

    surface_height_km = log_pressure_height_km(surface_pressure_Pa)
    tropopause_noise_km = np.clip(rng.normal(0.0, 0.7, n), -2.1, 2.1)
    tropopause_height_km = np.maximum(
        9.0 + 8.0 / (1.0 + np.exp((np.abs(latitude_deg) - 35.0) / 7.0)) + tropopause_noise_km,
        surface_height_km + 4.0,
    )
    troposphere_depth_km = tropopause_height_km - surface_height_km
    tropopause_target_K = 194.0 + 50.0 * s2 - 28.0 * s2**2 + rng.normal(0.0, 4.0, n)
    base_K = surface_air_temperature_K + inversion_K
    lapse_rate = np.clip((base_K - tropopause_target_K) / troposphere_depth_km, 4.0, 8.0)
    lapse_rate = np.minimum(lapse_rate, (base_K - MIN_TROPOPAUSE_TEMPERATURE_K) / troposphere_depth_km)
    tropopause_K = base_K - lapse_rate * troposphere_depth_km

    surface_relative_humidity = np.where(bare_land, u(0.6, 0.9) * (1.0 - 0.6 * aridity), u(0.7, 0.95))

    log_co2 = rng.uniform(np.log(config.co2_min_mol_per_mol), np.log(config.co2_max_mol_per_mol), n)
    co2 = np.where(
        u() < config.co2_present_day_fraction,
        rng.normal(config.co2_present_day_mean_mol_per_mol, config.co2_present_day_std_mol_per_mol, n),
        np.exp(log_co2),
    )

    vis = np.select(
        [surface_type == SURFACE_CODE["ocean"], bare_land, sea_ice],
        [u(0.04, 0.10), 0.07 + 0.25 * aridity + u(-0.02, 0.03), u(0.5, 0.8)],
        u(0.6, 0.9),
    )
    nir = np.select(
        [surface_type == SURFACE_CODE["ocean"], bare_land, sea_ice],
        [vis * u(0.9, 1.1), 0.25 + 0.17 * aridity + u(-0.03, 0.03), vis * u(0.6, 0.85)],
        vis * u(0.55, 0.8),
    )
    emissivity = np.select(
        [surface_type == SURFACE_CODE["ocean"], bare_land],
        [u(0.98, 0.99), 0.97 - 0.06 * aridity + u(-0.01, 0.01)],
        u(0.97, 0.99),
    )
    diurnal = np.where(day, (3.0 + 12.0 * aridity) * cos_zenith, -u(0.0, 3.0))
    land_skin = surface_air_temperature_K + diurnal + rng.normal(0.0, 1.0, n)
    frozen_skin = np.minimum(surface_air_temperature_K + rng.normal(-1.0, 1.5, n), MELTING_POINT_K)
    ocean_skin = np.maximum(surface_air_temperature_K + rng.normal(0.5, 0.7, n), SEAWATER_FREEZING_POINT_K)
    skin_temperature_K = np.clip(
        np.select([surface_type == SURFACE_CODE["ocean"], bare_land], [ocean_skin, land_skin], frozen_skin),
        200.0,
        320.0,
    )

    weights = np.array(config.cloudy_regime_weights, dtype=float)
    cloudy = weights / weights.sum() if weights.sum() > 0.0 else weights  # all 0 only if clear_fraction = 1
    probabilities = np.concatenate([[config.clear_fraction], (1.0 - config.clear_fraction) * cloudy])
    cloud_regime = rng.choice(len(CLOUD_REGIMES), size=n, p=probabilities / probabilities.sum())
    # Deep convection needs a warm, moist boundary layer.
    cold_convection = (cloud_regime == REGIME_CODE["deep_convective"]) & (surface_air_temperature_K < 280.0)
    cloud_regime = np.where(cold_convection, REGIME_CODE["multi_layer"], cloud_regime).astype(np.int8)

    return ColumnParameters(
        latitude_deg=latitude_deg,
        day_of_year=day_of_year,
        local_solar_time_h=local_solar_time_h,
        cos_zenith=cos_zenith,
        distance_factor=distance_factor,
        surface_type=surface_type,
        cloud_regime=cloud_regime,
        surface_pressure_Pa=surface_pressure_Pa,
        surface_air_temperature_K=surface_air_temperature_K,
        inversion_K=inversion_K,
        inversion_depth_km=inversion_depth_km,
        lapse_rate_K_per_km=lapse_rate,
        tropopause_height_km=tropopause_height_km,
        stratosphere_exponent=(0.8 + 1.8 * s2) * np.exp(rng.normal(0.0, 0.2, n)),
        stratopause_pressure_Pa=np.exp(u(np.log(50.0), np.log(150.0))),
        # The stratosphere must warm above the tropopause.
        stratopause_temperature_K=np.maximum(u(*config.stratopause_temperature_K), tropopause_K + 10.0),
        mesosphere_lapse_rate_K_per_km=u(0.8, 2.5),
        surface_relative_humidity=surface_relative_humidity,
        stratospheric_water_mol_per_mol=u(*config.stratospheric_water_mol_per_mol),
        ozone_peak_mol_per_mol=u(*config.ozone_peak_mol_per_mol),
        ozone_peak_pressure_Pa=np.exp(u(np.log(500.0), np.log(2000.0))),
        ozone_width_below=(0.9 + 0.9 * s2) * u(0.85, 1.15),
        ozone_width_above=u(1.2, 1.6),
        ozone_troposphere_mol_per_mol=u(2e-8, 8e-8),
        co2_mol_per_mol=np.clip(co2, config.co2_min_mol_per_mol, config.co2_max_mol_per_mol),
        albedo_visible=vis,
        albedo_near_infrared=nir,
        emissivity=emissivity,
        skin_temperature_K=skin_temperature_K,
        droplet_radius_um=np.where(ocean, u(8.0, 20.0), u(4.0, 12.0)),
        ice_radius_factor=u(*config.ice_radius_factor),
    )

