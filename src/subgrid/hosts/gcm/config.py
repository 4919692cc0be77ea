"""Settings of the 3-D moist GCM host (:class:`GCMConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from subgrid.core.config import StrictConfig
from subgrid.physics.clouds import CloudConfig
from subgrid.physics.constants import MELTING_POINT_K, SECONDS_PER_DAY
from subgrid.physics.dycore import RESOLUTIONS

#: Radiation outputs the host reads (all-sky; emulators predict no clear-sky diagnostics).
REQUIRED_RADIATION_OUTPUTS = ("lw_heating_rate", "sw_heating_rate", "lw_flux_up", "sw_flux_up", "sw_flux_down")


@dataclass(frozen=True)
class GCMConfig(StrictConfig):
    """Settings of :class:`subgrid.hosts.gcm.model.GCM`.

    Attributes:
        resolution: spectral truncation (T21: 32 x 64 Gaussian grid, 2 048 columns).
        levels: sigma levels (layer thicknesses graded as the prototype's: 13 hPa at the top,
            ~70 hPa in the mid-troposphere, 40 hPa at the bottom).
        time_step_s: dynamics and physics step.
        radiation_every_steps: radiation is called every this many steps; its heating is held between calls.
        insolation: ``equinox`` (perpetual, with a diurnal cycle) or ``seasonal`` (from ``start_day_of_year``).
        start_day_of_year: the calendar day at time 0 of a ``seasonal`` run (``equinox`` is always day 80).
        co2_ppmv: well-mixed CO2.
        sst_max_K: the peak of the APE "Qobs" SST, ``T = 273.15 + (sst_max − 273.15)(1 − sin²(3φ/2))`` within ±60°, 0 °C poleward.
        gustiness_m_per_s: added to the wind speed of the surface exchange.
        surface_albedo: ocean albedo (visible and near infrared).
        initial_base_temperature_K: Jablonowski-Williamson's surface temperature T₀ (275 K: its 288 K start
            is warmer than the SST near the equator and suppresses convection).
        sponge_top_levels: Rayleigh friction on the winds of the top this many levels (the sponge that
            keeps waves from reflecting off the lid), timescale ``sponge_timescale_days`` at the top
            level, doubling per level down.
        seed: the initial temperature perturbation (distinct members per seed).
        clouds: the cloud scheme's settings (:class:`~subgrid.physics.clouds.CloudConfig`).
        radiation_seed: start of RRTMG's per-call McICA seed.
    """

    config_name: ClassVar[str] = "gcm config"

    resolution: str = "T21"
    levels: int = 20
    time_step_s: float = 1200.0
    radiation_every_steps: int = 3
    insolation: Literal["equinox", "seasonal"] = "equinox"
    start_day_of_year: float = 80.0
    co2_ppmv: float = 400.0
    sst_max_K: float = 300.15
    gustiness_m_per_s: float = 3.0
    surface_albedo: float = 0.07
    initial_base_temperature_K: float = 275.0
    sponge_top_levels: int = 2
    sponge_timescale_days: float = 1.0
    seed: int = 0
    clouds: CloudConfig = field(default_factory=CloudConfig)
    radiation_seed: int = 0

    def __post_init__(self) -> None:
        self._require({
            "resolution": self.resolution in RESOLUTIONS,
            "levels": 8 <= self.levels <= 100,
            "time_step_s": 60.0 <= self.time_step_s <= 3600.0,
            "radiation_every_steps": self.radiation_every_steps >= 1,
            "start_day_of_year": 1.0 <= self.start_day_of_year <= 366.0,
            "co2_ppmv": 0.0 <= self.co2_ppmv <= 5000.0,
            "sst_max_K": MELTING_POINT_K <= self.sst_max_K <= 320.0,
            "gustiness_m_per_s": self.gustiness_m_per_s >= 0.0,
            "surface_albedo": 0.0 <= self.surface_albedo <= 1.0,
            "initial_base_temperature_K": 200.0 <= self.initial_base_temperature_K <= 320.0,
            "sponge_top_levels": 0 <= self.sponge_top_levels < self.levels,
            "sponge_timescale_days": self.sponge_timescale_days > 0.0,
            "seed": self.seed >= 0,
            "radiation_seed": 0 <= self.radiation_seed < 2**32,
        })  # fmt: skip

    @property
    def steps_per_day(self) -> float:
        return SECONDS_PER_DAY / self.time_step_s
