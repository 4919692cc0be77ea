"""What a GCM run writes: interval means and snapshots on the lat-lon grid, with standard names.

Per output interval (default 6 h): means over the interval's steps of the surface and TOA fields
(precipitation, evaporation, heat fluxes, OLR, ASR, cloud cover, condensate path), and the state
at its end: winds, temperature, humidity and radiative heating on the model levels, surface
pressure, and the synoptic fields forecasts are scored on (Z500, T850, u250, interpolated
linearly in log pressure).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from subgrid.physics.constants import DRY_AIR_GAS_CONSTANT_J_PER_KG_K, RRTMG, SECONDS_PER_DAY
from subgrid.physics.water import fill_negative_humidity

#: Interval-mean fields: name -> (units, long name, CF standard name); from the physics diagnostics.
MEAN_FIELDS = {
    "precipitation": ("mm day-1", "precipitation rate (convective + large-scale)", "lwe_precipitation_rate"),
    "convective_precipitation": ("mm day-1", "convective precipitation rate", "lwe_convective_precipitation_rate"),
    "evaporation": ("mm day-1", "surface evaporation rate", "lwe_water_evaporation_rate"),
    "surface_latent_heat_flux": ("W m-2", "upward latent heat flux at the surface", "surface_upward_latent_heat_flux"),
    "surface_sensible_heat_flux": ("W m-2", "upward sensible heat flux at the surface", "surface_upward_sensible_heat_flux"),
    "olr": ("W m-2", "outgoing longwave radiation at the top", "toa_outgoing_longwave_flux"),
    "asr": ("W m-2", "absorbed shortwave radiation (net downward SW at the top)", "toa_net_downward_shortwave_flux"),
    "cloud_cover": ("1", "total cloud cover (maximum-random overlap)", "cloud_area_fraction"),
    "column_condensate": ("kg m-2", "cloud condensate path (liquid + ice)", "atmosphere_mass_content_of_cloud_condensed_water"),
}
_PER_DAY = {"precipitation", "convective_precipitation", "evaporation"}


class IntervalMeans:
    """Accumulates the per-column physics diagnostics of each step into interval means."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.steps = 0

    def add(self, diagnostics: dict[str, np.ndarray]) -> None:
        values = dict(diagnostics)
        values["precipitation"] = values["convective_precipitation"] + values["large_scale_precipitation"]
        for name in MEAN_FIELDS:
            self.sums[name] = self.sums.get(name, 0.0) + np.asarray(values[name], dtype=float)
        self.steps += 1

    def means(self) -> dict[str, np.ndarray]:
        return {name: total / self.steps * (SECONDS_PER_DAY if name in _PER_DAY else 1.0)
                for name, total in self.sums.items()}  # fmt: skip


def geopotential_height_m(temperature_K, specific_humidity, pressure_Pa, pressure_interface_Pa) -> np.ndarray:
    """Height (m) of the layer centres above the surface (flat planet), hydrostatic with virtual temperature."""
    tv = temperature_K * (1.0 + 0.608 * np.maximum(specific_humidity, 0.0))
    scale = DRY_AIR_GAS_CONSTANT_J_PER_KG_K / RRTMG.gravity_m_per_s2
    interfaces = np.maximum(pressure_interface_Pa, 1.0)
    thickness = scale * tv * np.log(interfaces[:, :-1] / interfaces[:, 1:])
    below = np.concatenate([np.zeros((tv.shape[0], 1)), np.cumsum(thickness, axis=1)[:, :-1]], axis=1)
    return below + scale * tv * np.log(interfaces[:, :-1] / pressure_Pa)


def on_pressure_level(field: np.ndarray, pressure_Pa: np.ndarray, target_Pa: float) -> np.ndarray:
    """``field`` (column, level; surface first) linearly in log pressure at ``target_Pa`` (nearest level outside)."""
    log_p = np.log(pressure_Pa)
    target = np.log(target_Pa)
    above = (log_p < target).argmax(axis=1)  # first level above the target (pressure decreases upward)
    above = np.clip(above, 1, pressure_Pa.shape[1] - 1)
    rows = np.arange(field.shape[0])
    lo, hi = log_p[rows, above - 1], log_p[rows, above]
    weight = np.clip((lo - target) / (lo - hi), 0.0, 1.0)
    return field[rows, above - 1] * (1.0 - weight) + field[rows, above] * weight


def interval_dataset(model, means: dict[str, np.ndarray], time_days: float) -> xr.Dataset:
    """One output time: ``means`` and the state of ``model`` on (lat, lon) and model levels."""
    dynamics = model.dynamics
    columns = model.column_state()
    nlon, nlat = dynamics.nlon, dynamics.nlat
    lat = dynamics.latitude_deg.reshape(nlon, nlat)[0]
    lon = dynamics.longitude_deg.reshape(nlon, nlat)[:, 0]

    def grid2(x):  # (column,) -> (lat, lon)
        return np.asarray(x, dtype=np.float32).reshape(nlon, nlat).T

    def grid3(x):  # (column, level) -> (level, lat, lon)
        return np.asarray(x, dtype=np.float32).T.reshape(-1, nlon, nlat).transpose(0, 2, 1)

    p, pi = columns["air_pressure"], columns["air_pressure_on_interface"]
    height = geopotential_height_m(columns["air_temperature"], columns["specific_humidity"], p, pi)
    heating = model.memory.radiative_heating_K_per_s
    fields = {
        "u": (grid3(columns["eastward_wind"]), "m s-1", "eastward wind", "eastward_wind"),
        "v": (grid3(columns["northward_wind"]), "m s-1", "northward wind", "northward_wind"),
        "T": (grid3(columns["air_temperature"]), "K", "air temperature", "air_temperature"),
        "q": (grid3(fill_negative_humidity(columns["specific_humidity"], pi, dynamics.area_weight)[0]), "kg kg-1",
              "specific humidity (spectral undershoots filled conservatively, as the physics sees it)", "specific_humidity"),
        "radiative_heating": (grid3(np.zeros_like(p) if heating is None else heating * SECONDS_PER_DAY), "K day-1",
                              "radiative heating rate (LW + SW)", "tendency_of_air_temperature_due_to_radiative_heating"),
        "ps": (grid2(pi[:, 0]), "Pa", "surface pressure", "surface_air_pressure"),
        "Z500": (grid2(on_pressure_level(height, p, 5.0e4)), "m", "geopotential height at 500 hPa", "geopotential_height"),
        "T850": (grid2(on_pressure_level(columns["air_temperature"], p, 8.5e4)), "K", "temperature at 850 hPa",
                 "air_temperature"),
        "u250": (grid2(on_pressure_level(columns["eastward_wind"], p, 2.5e4)), "m s-1", "eastward wind at 250 hPa",
                 "eastward_wind"),
        **{name: (grid2(means[name]), *MEAN_FIELDS[name]) for name in MEAN_FIELDS},
    }  # fmt: skip
    data = {}
    for name, (values, units, long_name, standard_name) in fields.items():
        dims = ("level", "lat", "lon") if values.ndim == 3 else ("lat", "lon")
        data[name] = (("time", *dims), values[None], {"units": units, "long_name": long_name, "standard_name": standard_name})
    return xr.Dataset(
        data,
        coords={
            "time": ("time", [time_days], {"units": "days", "long_name": "model time since the start"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
            "level": ("level", dynamics.sigma_centres, {"units": "1", "long_name": "sigma at layer centres (surface first)"}),
        },
    )
