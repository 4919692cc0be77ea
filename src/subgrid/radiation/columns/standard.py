"""Standard columns: clear-sky approximations of the AFGL / McClatchey et al. (1972) atmospheres."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from subgrid.radiation.columns.config import ColumnSamplerConfig
from subgrid.radiation.columns.grid import log_pressure_height_km, pressure_grid
from subgrid.radiation.columns.parameters import REGIME_CODE, SURFACE_CODE, ColumnParameters
from subgrid.radiation.columns.profiles import manabe_relative_humidity, temperature_profile_K
from subgrid.radiation.columns.sampler import to_dataset

StandardColumnName = Literal["tropical", "midlatitude_summer", "subarctic_winter"]

#: Parameters fitted to the AFGL profiles (Anderson et al. 1986, the tabulation of McClatchey et
#: al. 1972): surface air temperature, tropopause (cold point) temperature and pressure,
#: stratopause temperature and pressure and mesospheric lapse rate read off the tables; the
#: stratospheric exponent fitted at 25 and 35 km; ozone peak and widths fitted at ~100 hPa and
#: ~1 hPa; surface RH from the tabulated surface water vapour.
_STANDARD_COLUMNS: dict[str, dict[str, float]] = {
    "tropical": dict(
        latitude_deg=15.0, day_of_year=80.0, surface_type=SURFACE_CODE["ocean"],
        surface_air_temperature_K=299.7, inversion_K=0.0,
        tropopause_temperature_K=194.8, tropopause_pressure_Pa=9370.0,
        stratosphere_exponent=0.8, stratopause_pressure_Pa=85.4, stratopause_temperature_K=270.2,
        mesosphere_lapse_rate_K_per_km=1.57, surface_relative_humidity=0.76,
        stratospheric_water_mol_per_mol=3e-6, ozone_peak_mol_per_mol=9.85e-6, ozone_peak_pressure_Pa=852.0,
        ozone_width_below=0.88, ozone_width_above=1.45, ozone_troposphere_mol_per_mol=2.87e-8,
        albedo_visible=0.07, albedo_near_infrared=0.07, emissivity=0.99,
    ),
    "midlatitude_summer": dict(
        latitude_deg=45.0, day_of_year=196.0, surface_type=SURFACE_CODE["land"],
        surface_air_temperature_K=294.2, inversion_K=0.0,
        tropopause_temperature_K=215.7, tropopause_pressure_Pa=17900.0,
        stratosphere_exponent=1.7, stratopause_pressure_Pa=95.1, stratopause_temperature_K=275.7,
        mesosphere_lapse_rate_K_per_km=2.13, surface_relative_humidity=0.76,
        stratospheric_water_mol_per_mol=4e-6, ozone_peak_mol_per_mol=8.9e-6, ozone_peak_pressure_Pa=652.0,
        ozone_width_below=1.25, ozone_width_above=1.27, ozone_troposphere_mol_per_mol=3.0e-8,
        albedo_visible=0.10, albedo_near_infrared=0.25, emissivity=0.96,
    ),
    "subarctic_winter": dict(
        latitude_deg=60.0, day_of_year=15.0, surface_type=SURFACE_CODE["snow_covered_land"],
        surface_air_temperature_K=257.2, inversion_K=8.5,
        tropopause_temperature_K=217.2, tropopause_pressure_Pa=28290.0,
        stratosphere_exponent=3.5, stratopause_pressure_Pa=57.2, stratopause_temperature_K=259.3,
        mesosphere_lapse_rate_K_per_km=0.93, surface_relative_humidity=0.94,
        stratospheric_water_mol_per_mol=4.5e-6, ozone_peak_mol_per_mol=6.25e-6, ozone_peak_pressure_Pa=320.0,
        ozone_width_below=1.8, ozone_width_above=1.3, ozone_troposphere_mol_per_mol=1.8e-8,
        albedo_visible=0.80, albedo_near_infrared=0.60, emissivity=0.99,
    ),
}
_STANDARD_SURFACE_PRESSURE_PA = 101300.0  # 1013 hPa, the AFGL surface
_STANDARD_CO2_MOL_PER_MOL = 420e-6


def standard_column(name: StandardColumnName, n_levels: int = 60) -> xr.Dataset:
    """One clear-sky column approximating an AFGL / McClatchey et al. (1972) standard atmosphere.

    Built with the sampler's parametric profiles (:mod:`subgrid.radiation.columns`) and these fixed parameters,
    read off or fitted to the AFGL tables (Anderson et al. 1986, which tabulate the McClatchey et
    al. 1972 profiles):

    ======================  ===========  ==================  ==================
    parameter               tropical     midlatitude_summer  subarctic_winter
    ======================  ===========  ==================  ==================
    latitude, day of year   15 N, 80     45 N, 196 (July)    60 N, 15 (January)
    surface                 ocean        land                snow_covered_land
    surface air / skin T    299.7 K      294.2 K             257.2 K
    surface inversion       none         none                8.5 K over 1.2 km
    tropopause              194.8 K at   215.7 K at          217.2 K at
                            93.7 hPa     179 hPa             282.9 hPa
    stratopause             270.2 K at   275.7 K at          259.3 K at
                            0.854 hPa    0.951 hPa           0.572 hPa
    surface RH              0.76         0.76                0.94 (over ice)
    stratospheric H2O       3 ppmv       4 ppmv              4.5 ppmv
    ozone peak              9.85 ppmv    8.9 ppmv            6.25 ppmv
                            at 8.5 hPa   at 6.5 hPa          at 3.2 hPa
    albedo vis / NIR        0.07 / 0.07  0.10 / 0.25         0.80 / 0.60
    emissivity              0.99         0.96                0.99
    ======================  ===========  ==================  ==================

    Common to all: surface pressure 1013 hPa, CO2 420e-6 mol/mol, no cloud, droplet radius 10 um,
    ice radius from the sampler's temperature law; the sun is a fixed reference geometry:
    ``cos_solar_zenith_angle = 0.5`` and ``earth_sun_distance_factor = 1`` (mean distance), not
    derived from the nominal latitude, day of year and local solar time (12 h).

    Args:
        name: which standard atmosphere.
        n_levels: number of layers of the default sampler grid.

    Returns:
        A one-column Dataset in the same format as :func:`sample_columns`.
    """
    if name not in _STANDARD_COLUMNS:
        raise ValueError(f"standard_column name must be one of {sorted(_STANDARD_COLUMNS)}, got {name!r}")
    config = ColumnSamplerConfig(n_levels=n_levels)
    p = _STANDARD_COLUMNS[name]

    def one(value: float) -> np.ndarray:
        return np.array([value], dtype=float)

    surface_height_km = log_pressure_height_km(_STANDARD_SURFACE_PRESSURE_PA)
    tropopause_height_km = log_pressure_height_km(p["tropopause_pressure_Pa"])
    lapse_rate = (p["surface_air_temperature_K"] + p["inversion_K"] - p["tropopause_temperature_K"]) / (
        tropopause_height_km - surface_height_km
    )
    c = ColumnParameters(
        latitude_deg=one(p["latitude_deg"]),
        day_of_year=one(p["day_of_year"]),
        local_solar_time_h=one(12.0),
        cos_zenith=one(0.5),
        distance_factor=one(1.0),
        surface_type=np.array([p["surface_type"]], dtype=np.int8),
        cloud_regime=np.array([REGIME_CODE["clear"]], dtype=np.int8),
        surface_pressure_Pa=one(_STANDARD_SURFACE_PRESSURE_PA),
        surface_air_temperature_K=one(p["surface_air_temperature_K"]),
        inversion_K=one(p["inversion_K"]),
        inversion_depth_km=one(1.2),
        lapse_rate_K_per_km=one(lapse_rate),
        tropopause_height_km=one(tropopause_height_km),
        stratosphere_exponent=one(p["stratosphere_exponent"]),
        stratopause_pressure_Pa=one(p["stratopause_pressure_Pa"]),
        stratopause_temperature_K=one(p["stratopause_temperature_K"]),
        mesosphere_lapse_rate_K_per_km=one(p["mesosphere_lapse_rate_K_per_km"]),
        surface_relative_humidity=one(p["surface_relative_humidity"]),
        stratospheric_water_mol_per_mol=one(p["stratospheric_water_mol_per_mol"]),
        ozone_peak_mol_per_mol=one(p["ozone_peak_mol_per_mol"]),
        ozone_peak_pressure_Pa=one(p["ozone_peak_pressure_Pa"]),
        ozone_width_below=one(p["ozone_width_below"]),
        ozone_width_above=one(p["ozone_width_above"]),
        ozone_troposphere_mol_per_mol=one(p["ozone_troposphere_mol_per_mol"]),
        co2_mol_per_mol=one(_STANDARD_CO2_MOL_PER_MOL),
        albedo_visible=one(p["albedo_visible"]),
        albedo_near_infrared=one(p["albedo_near_infrared"]),
        emissivity=one(p["emissivity"]),
        skin_temperature_K=one(p["surface_air_temperature_K"]),
        droplet_radius_um=one(10.0),
        ice_radius_factor=one(1.0),
    )
    p_interface, p_level = pressure_grid(
        c.surface_pressure_Pa, config.n_levels, config.top_pressure_Pa, config.bottom_layer_thickness_Pa
    )
    temperature = temperature_profile_K(log_pressure_height_km(p_level), c)
    clear = np.zeros_like(p_level)
    ds = to_dataset(
        c, config, p_interface, p_level, temperature, manabe_relative_humidity(p_level, c), clear, clear, clear
    )
    ds.attrs["standard_column"] = name
    return ds
