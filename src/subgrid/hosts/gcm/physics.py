"""The GCM's column physics, one step at a time, with radiation as any Parameterization.

Sequential process splitting on ``(column, level)`` arrays (surface first), each process seeing
the state the previous one left, in this order:

1. **humidity filling**: spectral transport leaves small negative humidities; they are filled
   conservatively (:func:`subgrid.physics.water.fill_negative_humidity`);
2. **radiation** every ``radiation_every_steps`` steps (``radiation.tendencies``: RRTMG, an emulator,
   or a guarded emulator), its heating held in between; clouds from the cloud scheme's condensate;
3. **moist convection** (Emanuel, climt) with detrained condensate kept as cloud;
4. **surface exchange** (implicit bulk formulae with gustiness, fixed SST);
5. **boundary layer** (Frierson 2006, climt);
6. **large-scale condensation and clouds** (:mod:`subgrid.physics.clouds`);
7. **sponge**: Rayleigh friction on the winds of the top levels.

The step returns tendencies (held over the dynamics' RK stages) and the per-column memory the
next step needs (cloud condensate, Emanuel's cloud-base mass flux, the held radiation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from subgrid.core.contract import Parameterization
from subgrid.hosts.gcm.config import REQUIRED_RADIATION_OUTPUTS, GCMConfig
from subgrid.physics import clouds
from subgrid.physics.climt_columns import EmanuelConvection, FriersonBoundaryLayer
from subgrid.physics.constants import LATENT_HEAT_VAPORIZATION_J_PER_KG, MELTING_POINT_K, SECONDS_PER_DAY
from subgrid.physics.insolation import solar_geometry
from subgrid.physics.surface import implicit_bulk_exchange
from subgrid.physics.water import fill_negative_humidity, layer_mass_kg_per_m2

#: The perpetual-equinox day (Spencer's declination is ~0 on day 80, 21 March).
EQUINOX_DAY_OF_YEAR = 80.0
#: Floor of the humidity RRTMG sees (its gas optics dislike exact zeros).
RADIATION_MIN_HUMIDITY = 1e-8
#: The top interface is at p = 0 in sigma coordinates; RRTMG gets this instead (Pa).
RADIATION_TOP_PRESSURE_PA = 1.0


def aquaplanet_sst_K(latitude_deg: np.ndarray, peak_K: float) -> np.ndarray:
    """APE "Qobs" SST (Neale & Hoskins 2000): ``0 °C + (peak − 0 °C)(1 − sin²(3φ/2))`` within ±60°, 0 °C poleward."""
    lat = np.radians(latitude_deg)
    shape = np.where(np.abs(latitude_deg) < 60.0, 1.0 - np.sin(1.5 * lat) ** 2, 0.0)
    return MELTING_POINT_K + (peak_K - MELTING_POINT_K) * shape


def ozone_mole_fraction(pressure_Pa: np.ndarray) -> np.ndarray:
    """An analytic ozone profile: log-normal in pressure, peak 9.85 ppmv at 8.52 hPa, 0.029 ppmv floor."""
    scale = np.where(pressure_Pa > 852.0, 0.88, 1.45)
    return 2.87e-8 + (9.85e-6 - 2.87e-8) * np.exp(-0.5 * (np.log(pressure_Pa / 852.0) / scale) ** 2)


def total_cloud_cover(cover: np.ndarray) -> np.ndarray:
    """Maximum-random overlap (Geleyn & Hollingsworth 1979) of ``(column, level)`` cloud fractions."""
    clear = np.ones(cover.shape[0])
    previous = np.zeros(cover.shape[0])
    for k in range(cover.shape[1] - 1, -1, -1):  # top down
        c = cover[:, k]
        clear = clear * (1.0 - np.maximum(c, previous)) / np.maximum(1.0 - previous, 1e-12)
        previous = c
    return 1.0 - clear


@dataclass
class PhysicsMemory:
    """What the column physics carries from one step to the next (part of a restart)."""

    cloud_condensate: np.ndarray
    cloud_base_mass_flux: np.ndarray
    radiative_heating_K_per_s: np.ndarray | None = None
    radiation_diagnostics: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, columns: int, levels: int) -> PhysicsMemory:
        return cls(np.zeros((columns, levels)), np.zeros(columns))


class ColumnPhysics:
    """All column processes of the GCM (module docstring) for ``config``'s grid, radiation = any Parameterization."""

    def __init__(self, config: GCMConfig, latitude_deg: np.ndarray, longitude_deg: np.ndarray,
                 radiation: Parameterization) -> None:  # fmt: skip
        self.config = config
        self.dt = config.time_step_s
        self.latitude_deg, self.longitude_deg = latitude_deg, longitude_deg
        self.sst_K = aquaplanet_sst_K(latitude_deg, config.sst_max_K)
        self.radiation = radiation
        self.convection = EmanuelConvection(self.dt)
        self.boundary_layer = FriersonBoundaryLayer(self.dt)
        top = np.arange(config.levels)[None, :] >= config.levels - config.sponge_top_levels
        depth = (config.levels - 1 - np.arange(config.levels))[None, :]
        self.sponge_rate_per_s = np.where(top, 1.0 / (config.sponge_timescale_days * SECONDS_PER_DAY * 2.0**depth), 0.0)

    # ---- radiation ---------------------------------------------------------------------------
    def sun(self, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """cos(zenith) and distance factor at the middle of the radiation interval starting at ``time_s``."""
        config = self.config
        middle_h = (time_s + 0.5 * config.radiation_every_steps * self.dt) / 3600.0
        day = config.start_day_of_year + middle_h // 24.0 if config.insolation == "seasonal" else EQUINOX_DAY_OF_YEAR
        local_time = (middle_h + self.longitude_deg / 15.0) % 24.0
        cos_zenith, distance = solar_geometry(self.latitude_deg, np.full_like(self.latitude_deg, (day - 1) % 365 + 1),
                                              local_time)  # fmt: skip
        return cos_zenith, distance

    def radiation_inputs(self, columns: dict[str, np.ndarray], condensate: np.ndarray, time_s: float) -> dict[str, np.ndarray]:
        """The radiation scheme's inputs (:data:`subgrid.physics.schema.RADIATION_INPUTS`) for the current state."""
        config = self.config
        t, q, p = columns["air_temperature"], columns["specific_humidity"], columns["air_pressure"]
        interfaces = columns["air_pressure_on_interface"].copy()
        interfaces[:, -1] = np.maximum(interfaces[:, -1], RADIATION_TOP_PRESSURE_PA)
        cover = clouds.cloud_fraction(t, q, condensate, p, config.clouds)
        cloud = clouds.cloud_radiative_properties(t, condensate, cover, interfaces, config.clouds)
        cos_zenith, distance = self.sun(time_s)
        n = t.shape[0]
        return {
            "air_pressure": p, "air_pressure_on_interface": interfaces, "air_temperature": t,
            "surface_temperature": self.sst_K, "specific_humidity": np.maximum(q, RADIATION_MIN_HUMIDITY),
            "ozone_mole_fraction": ozone_mole_fraction(p), "co2_mole_fraction": np.full(n, config.co2_ppmv * 1e-6),
            **cloud,
            "surface_albedo_visible": np.full(n, config.surface_albedo),
            "surface_albedo_near_infrared": np.full(n, config.surface_albedo),
            "surface_emissivity": np.full(n, 0.98),
            "cos_solar_zenith_angle": cos_zenith, "earth_sun_distance_factor": distance,
        }  # fmt: skip

    def call_radiation(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Heating (K/s) and TOA/cloud diagnostics from ``radiation.tendencies``."""
        out = self.radiation.tendencies(inputs)
        missing = [name for name in REQUIRED_RADIATION_OUTPUTS if name not in out]
        if missing:
            raise KeyError(f"radiation scheme returned no {', '.join(missing)}")
        heating = (np.asarray(out["lw_heating_rate"]) + np.asarray(out["sw_heating_rate"])) / SECONDS_PER_DAY
        top = -1
        diagnostics = {
            "olr": np.asarray(out["lw_flux_up"])[:, top],
            "asr": np.asarray(out["sw_flux_down"])[:, top] - np.asarray(out["sw_flux_up"])[:, top],
            "surface_net_sw": np.asarray(out["sw_flux_down"])[:, 0] - np.asarray(out["sw_flux_up"])[:, 0],
            "cloud_cover": total_cloud_cover(inputs["cloud_fraction"]),
        }
        return heating, diagnostics

    # ---- one step ------------------------------------------------------------------------------
    def step(self, columns: dict[str, np.ndarray], memory: PhysicsMemory, step: int, area_weight: np.ndarray):
        """Tendencies (K/s, 1/s, m/s²) for the dynamics, the new memory, and this step's diagnostics."""
        config, dt = self.config, self.dt
        interfaces = columns["air_pressure_on_interface"]
        p = columns["air_pressure"]
        mass = layer_mass_kg_per_m2(interfaces)
        q_raw = columns["specific_humidity"]
        q, filled_fraction = fill_negative_humidity(q_raw, interfaces, area_weight)
        t0, u0, v0 = columns["air_temperature"], columns["eastward_wind"], columns["northward_wind"]
        state = {**columns, "specific_humidity": q}
        memory = PhysicsMemory(memory.cloud_condensate.copy(), memory.cloud_base_mass_flux.copy(),
                               memory.radiative_heating_K_per_s, dict(memory.radiation_diagnostics))  # fmt: skip
        radiation_inputs = None
        if memory.radiative_heating_K_per_s is None or step % config.radiation_every_steps == 0:
            radiation_inputs = self.radiation_inputs(state, memory.cloud_condensate, step * dt)
            memory.radiative_heating_K_per_s, memory.radiation_diagnostics = self.call_radiation(radiation_inputs)

        convective = self.convection.tendencies({**state, "cloud_base_mass_flux": memory.cloud_base_mass_flux})
        memory.cloud_base_mass_flux = convective["cloud_base_mass_flux"]
        t = t0 + dt * convective["air_temperature_tendency"]
        moistening = dt * convective["specific_humidity_tendency"]
        u = u0 + dt * convective["eastward_wind_tendency"]
        v = v0 + dt * convective["northward_wind_tendency"]
        t, q, condensate = clouds.detrain_convective_condensate(t, q + moistening, memory.cloud_condensate,
                                                                moistening, config.clouds)  # fmt: skip

        t1, q1, u1, v1, sensible, latent = implicit_bulk_exchange(
            self.sst_K, interfaces[:, 0], t[:, 0], q[:, 0], u[:, 0], v[:, 0], p[:, 0], interfaces[:, 0] - interfaces[:, 1],
            dt, config.gustiness_m_per_s)  # fmt: skip
        t[:, 0], q[:, 0], u[:, 0], v[:, 0] = t1, q1, u1, v1

        mixed = self.boundary_layer.tendencies({**state, "air_temperature": t, "specific_humidity": q,
                                                "eastward_wind": u, "northward_wind": v,
                                                "surface_temperature": self.sst_K})  # fmt: skip
        t = t + dt * mixed["air_temperature_tendency"]
        q = q + dt * mixed["specific_humidity_tendency"]
        u = u + dt * mixed["eastward_wind_tendency"]
        v = v + dt * mixed["northward_wind_tendency"]

        t, q, condensate, large_scale = clouds.large_scale_condensation(t, q, condensate, p, interfaces, dt, config.clouds)
        q, refilled = fill_negative_humidity(q, interfaces, area_weight)
        memory.cloud_condensate = condensate
        damping = 1.0 / (1.0 + dt * self.sponge_rate_per_s)
        u, v = u * damping, v * damping

        tendencies = {
            "air_temperature": (t - t0) / dt + memory.radiative_heating_K_per_s,
            "specific_humidity": (q - q_raw) / dt,
            "eastward_wind": (u - u0) / dt,
            "northward_wind": (v - v0) / dt,
        }
        diagnostics = {
            "convective_precipitation": convective["convective_precipitation_flux"],
            "large_scale_precipitation": large_scale,
            "surface_latent_heat_flux": latent,
            "surface_sensible_heat_flux": sensible,
            "evaporation": latent / LATENT_HEAT_VAPORIZATION_J_PER_KG,
            "boundary_layer_height": mixed["boundary_layer_height"],
            "filled_water_fraction": np.array(filled_fraction + refilled),
            "column_condensate": np.sum(condensate * mass, axis=1),
            **memory.radiation_diagnostics,
        }
        return tendencies, memory, diagnostics, radiation_inputs
