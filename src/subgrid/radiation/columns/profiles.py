"""Smooth profiles built from the per-column parameters: temperature, humidity, ozone, ice radius.

Temperature: a lapse-rate troposphere with a surface inversion, a power-law warming stratosphere and
a linear mesosphere. Humidity: Manabe & Wetherald (1967) relative humidity in the troposphere,
a few ppmv above it (Brewer 1949), saturation over water or ice from
:func:`subgrid.physics.thermodynamics.saturation_vapor_pressure_Pa`. Ozone: an AFGL-like Gaussian in
log-pressure. Ice radius: growing with temperature, within RRTMG's valid range.
"""

from __future__ import annotations

import numpy as np

from subgrid.physics.constants import MELTING_POINT_K
from subgrid.physics.rrtmg import ICE_RADIUS_BOUNDS_UM as _RRTMG_ICE_RADIUS_BOUNDS_UM
from subgrid.physics.thermodynamics import saturation_vapor_pressure_Pa, specific_humidity_kg_per_kg
from subgrid.radiation.columns.grid import log_pressure_height_km
from subgrid.radiation.columns.parameters import ColumnParameters

MIN_SPECIFIC_HUMIDITY_KG_PER_KG = 1e-7
OZONE_TAPER_DEPTH_KM = 1.0
#: RRTMG's valid ice effective radius for the default ``ebert_curry_two`` optics (outside it RRTMG stops).
ICE_RADIUS_BOUNDS_UM = _RRTMG_ICE_RADIUS_BOUNDS_UM["ebert_curry_two"]


def temperature_profile_K(z_km: np.ndarray, c: ColumnParameters) -> np.ndarray:
    """Troposphere (lapse rate + surface inversion), stratosphere (power-law warming), mesosphere."""
    z_s, z_t = c.surface_height_km[:, None], c.tropopause_height_km[:, None]
    z_sp = log_pressure_height_km(c.stratopause_pressure_Pa)[:, None]
    above_surface = z_km - z_s
    inversion = c.inversion_K[:, None] * np.clip(1.0 - above_surface / c.inversion_depth_km[:, None], 0.0, 1.0)
    troposphere = (
        (c.surface_air_temperature_K + c.inversion_K)[:, None] - c.lapse_rate_K_per_km[:, None] * above_surface
    ) - inversion
    t_trop, t_sp = c.tropopause_temperature_K[:, None], c.stratopause_temperature_K[:, None]
    way_up = np.clip((z_km - z_t) / (z_sp - z_t), 0.0, 1.0)
    stratosphere = t_trop + (t_sp - t_trop) * way_up ** c.stratosphere_exponent[:, None]
    mesosphere = t_sp - c.mesosphere_lapse_rate_K_per_km[:, None] * (z_km - z_sp)
    return np.where(z_km <= z_t, troposphere, np.where(z_km <= z_sp, stratosphere, mesosphere))


def manabe_relative_humidity(p_level_Pa: np.ndarray, c: ColumnParameters) -> np.ndarray:
    """Manabe & Wetherald (1967): RH falls linearly with sigma = p / p_s to 0 at sigma = 0.02."""
    sigma = p_level_Pa / c.surface_pressure_Pa[:, None]
    return c.surface_relative_humidity[:, None] * np.clip((sigma - 0.02) / 0.98, 0.0, 1.0)


def specific_humidity_profile_kg_per_kg(
    relative_humidity: np.ndarray, temperature_K: np.ndarray, p_level_Pa: np.ndarray, c: ColumnParameters
) -> np.ndarray:
    """Specific humidity from RH in the troposphere and a fixed mole fraction above it.

    Stratospheric air is dried to a few ppmv at the tropical cold point (Brewer 1949) and spreads
    poleward, so its water does not follow the local tropopause; the cap at saturation only binds
    next to the coldest tropopauses.
    """
    saturation = saturation_vapor_pressure_Pa(temperature_K) / p_level_Pa
    stratosphere = c.stratospheric_water_mol_per_mol[:, None]
    in_troposphere = log_pressure_height_km(p_level_Pa) <= c.tropopause_height_km[:, None]
    vapour = np.where(in_troposphere, relative_humidity * saturation, stratosphere)
    vapour = np.minimum(vapour, saturation)
    return np.maximum(specific_humidity_kg_per_kg(vapour), MIN_SPECIFIC_HUMIDITY_KG_PER_KG)


def ozone_profile_mol_per_mol(p_level_Pa: np.ndarray, c: ColumnParameters) -> np.ndarray:
    """Gaussian in log-pressure around the peak (wider below it) on a tropospheric background.

    Below the tropopause the stratospheric part decays with an e-folding depth of 1 km: the
    tropopause is a barrier to mixing, and without the taper the wide high-latitude wing would
    put ppmv of ozone at the surface of elevated polar columns.
    """
    log_ratio = np.log(p_level_Pa / c.ozone_peak_pressure_Pa[:, None])
    width = np.where(log_ratio > 0.0, c.ozone_width_below[:, None], c.ozone_width_above[:, None])
    below_tropopause_km = np.maximum(c.tropopause_height_km[:, None] - log_pressure_height_km(p_level_Pa), 0.0)
    stratospheric = np.exp(-0.5 * (log_ratio / width) ** 2 - below_tropopause_km / OZONE_TAPER_DEPTH_KM)
    background = c.ozone_troposphere_mol_per_mol[:, None]
    return background + (c.ozone_peak_mol_per_mol[:, None] - background) * stratospheric


def ice_radius_um(temperature_K: np.ndarray, c: ColumnParameters) -> np.ndarray:
    """Ice crystals grow with temperature: 15 um at 200 K to 75 um at 273 K, times a column factor."""
    warmth = np.clip((temperature_K - 200.0) / (MELTING_POINT_K - 200.0), 0.0, 1.0)
    return np.clip(c.ice_radius_factor[:, None] * (15.0 + 60.0 * warmth), *ICE_RADIUS_BOUNDS_UM)
