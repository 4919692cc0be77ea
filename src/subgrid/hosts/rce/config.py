"""Settings of the RCE host (:class:`RCEConfig`) and the names its contract with radiation uses.

The equations the settings enter are in :mod:`subgrid.hosts.rce.model`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from subgrid.core.errors import InputError
from subgrid.physics.constants import (
    RRTMG,
    SEAWATER_DENSITY_KG_PER_M3,
    SEAWATER_HEAT_CAPACITY_J_PER_KG_K,
    SECONDS_PER_DAY,
)

#: Column descriptors the host reads for the sun, besides the radiation inputs.
SOLAR_DESCRIPTORS = ("latitude", "day_of_year", "local_solar_time")
#: Radiation inputs that change during a run; the others are held at the initial state.
EVOLVING_INPUTS = ("air_temperature", "specific_humidity", "surface_temperature",
                   "cos_solar_zenith_angle", "earth_sun_distance_factor")  # fmt: skip
#: Radiation outputs the host needs (all-sky; an emulator predicts no clear-sky diagnostics).
REQUIRED_OUTPUTS = ("lw_heating_rate", "sw_heating_rate", "lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down")
#: ``crash_reason`` codes (index = code).
CRASH_REASONS = ("none", "radiation_not_finite", "state_not_finite", "temperature_out_of_range")
#: The dry adiabatic lapse rate g/c_p (RRTMG's constants), the bound of the critical lapse rate.
DRY_ADIABATIC_LAPSE_RATE_K_PER_KM = 1e3 * RRTMG.gravity_m_per_s2 / RRTMG.cp_dry_air_J_per_kg_K


@dataclass(frozen=True)
class RCEConfig:
    """Settings of the RCE host (:mod:`subgrid.hosts.rce.model` for the equations).

    Attributes:
        time_step_s: Δt of the host (heating, surface, adjustment, humidity, checks).
        radiation_every_steps: radiation is called every this many steps (hourly by default).
        days: length of the run; a whole number of output intervals.
        output_interval_days: the trajectory holds means over intervals of this length.
        checkpoint_interval_days: checkpoints (if asked for) are written this often; a whole
            number of output intervals.
        surface: ``"slab"`` (mixed layer of ``mixed_layer_depth_m`` of sea water) or ``"fixed"``.
        mixed_layer_depth_m: slab depth; 1 m equilibrates in weeks (docs/REFERENCE.md section 7). At least
            0.1 m, which keeps the explicit surface step stable at Δt = 1 h.
        surface_exchange_coefficient: bulk transfer coefficient of heat and moisture (0: no
            turbulent surface fluxes).
        surface_wind_speed_m_per_s: wind speed of the bulk formulae.
        large_scale_relaxation_days: τ of the large-scale heat transport (relaxation of air and
            slab temperatures to the initial state); 0: none, pure RCE.
        critical_lapse_rate_K_per_km: Γ of the convective adjustment.
        max_specific_humidity_kg_per_kg: cap on q under fixed relative humidity.
        cold_point_min_pressure_Pa: the cold point (top of the fixed-RH region) is searched at
            pressures at least this high.
        precrash_states: radiation calls whose inputs are kept for a crashed column.
        min_temperature_K, max_temperature_K: a column with any air or surface temperature
            outside this range has crashed.
    """

    time_step_s: float = 1800.0
    radiation_every_steps: int = 2
    days: float = 10.0
    output_interval_days: float = 1.0
    checkpoint_interval_days: float = 1.0
    surface: Literal["slab", "fixed"] = "slab"
    mixed_layer_depth_m: float = 1.0
    surface_exchange_coefficient: float = 1.2e-3
    surface_wind_speed_m_per_s: float = 5.0
    large_scale_relaxation_days: float = 20.0
    critical_lapse_rate_K_per_km: float = 6.5
    max_specific_humidity_kg_per_kg: float = 0.05
    cold_point_min_pressure_Pa: float = 5000.0
    precrash_states: int = 4
    min_temperature_K: float = 150.0
    max_temperature_K: float = 350.0

    def __post_init__(self) -> None:
        def fail(name: str, requirement: str) -> None:
            raise InputError(f"RCEConfig.{name}: must be {requirement}, got {getattr(self, name)!r}")

        for name, value in asdict(self).items():
            if name == "surface":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                fail(name, "a finite number")
        for name in ("radiation_every_steps", "precrash_states"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                fail(name, "an integer >= 1")
        for name in ("time_step_s", "days", "output_interval_days", "checkpoint_interval_days",
                     "surface_wind_speed_m_per_s", "max_specific_humidity_kg_per_kg", "cold_point_min_pressure_Pa"):
            if getattr(self, name) <= 0.0:
                fail(name, "> 0")  # fmt: skip
        if self.surface not in ("slab", "fixed"):
            fail("surface", "'slab' or 'fixed'")
        if self.mixed_layer_depth_m < 0.1:
            fail("mixed_layer_depth_m", ">= 0.1 m (a thinner slab makes the explicit surface step unstable)")
        if not 0.0 <= self.surface_exchange_coefficient <= 0.01:
            fail("surface_exchange_coefficient", "in [0, 0.01]")
        relaxation = self.large_scale_relaxation_days
        if relaxation != 0.0 and relaxation * SECONDS_PER_DAY < 10.0 * self.time_step_s:
            fail("large_scale_relaxation_days", "0 (off) or at least 10 time steps (explicit relaxation)")
        if not 0.0 < self.critical_lapse_rate_K_per_km < DRY_ADIABATIC_LAPSE_RATE_K_PER_KM:
            fail("critical_lapse_rate_K_per_km",
                 f"in (0, {DRY_ADIABATIC_LAPSE_RATE_K_PER_KM:.2f}) K/km (below the dry adiabat g/c_p)")  # fmt: skip
        if not 0.0 < self.min_temperature_K < self.max_temperature_K:
            fail("min_temperature_K", "> 0 and below max_temperature_K")
        interval_s = SECONDS_PER_DAY * self.output_interval_days
        if self.time_step_s > SECONDS_PER_DAY or not _whole(interval_s, self.time_step_s):
            fail("time_step_s", f"<= 1 day and a divisor of output_interval_days ({self.output_interval_days:g} d)")
        if not _whole(self.output_interval_days * SECONDS_PER_DAY, self.radiation_every_steps * self.time_step_s):
            fail("radiation_every_steps", "such that every output interval holds whole radiation intervals")
        if not _whole(self.days, self.output_interval_days):
            fail("days", f"a whole number of output intervals ({self.output_interval_days:g} d)")
        if not _whole(self.checkpoint_interval_days, self.output_interval_days):
            fail("checkpoint_interval_days", f"a whole number of output intervals ({self.output_interval_days:g} d)")

    @property
    def steps_per_output(self) -> int:
        return round(self.output_interval_days * SECONDS_PER_DAY / self.time_step_s)

    @property
    def n_outputs(self) -> int:
        return round(self.days / self.output_interval_days)

    @property
    def outputs_per_checkpoint(self) -> int:
        return round(self.checkpoint_interval_days / self.output_interval_days)

    @property
    def slab_heat_capacity_J_per_m2_K(self) -> float:
        """``ρ_w c_w h`` of the slab (0 for a fixed surface, which takes no part in the budget)."""
        if self.surface == "fixed":
            return 0.0
        return SEAWATER_DENSITY_KG_PER_M3 * SEAWATER_HEAT_CAPACITY_J_PER_KG_K * self.mixed_layer_depth_m

    def to_dict(self) -> dict:
        return asdict(self)


def _whole(total: float, part: float) -> bool:
    ratio = total / part
    return ratio >= 1.0 - 1e-9 and abs(ratio - round(ratio)) <= 1e-9 * ratio

