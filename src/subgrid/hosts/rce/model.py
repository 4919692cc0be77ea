"""Multi-column radiative-convective (RCE) host for radiation schemes and emulators.

Every column is an independent single-column model in the tradition of Manabe & Strickler (1964)
and Manabe & Wetherald (1967), vectorised over columns so that radiation dominates the cost, as
in a GCM. State: air temperature ``T`` on the radiation levels and the surface temperature
``T_s``; pressure, ozone, CO2, clouds (prescribed: held at the initial state), surface albedo
and emissivity are fixed. Levels are surface first (:mod:`subgrid.physics.schema`).

One step of length Δt, for every live column:

1. **Radiation** (every ``radiation_every_steps`` steps, on the state at the start of the step,
   the sun at the middle of the interval it covers): heating ``Q`` (K/day, LW + SW), net
   downward fluxes at the top ``F_top`` and at the surface ``F_rad`` (W m⁻²); held fixed until
   the next call. Any callable with the contract of
   :func:`~subgrid.physics.rrtmg.radiative_transfer_arrays` plugs in (``dict`` of row-major
   ``(column, level|interface)`` arrays in, ``dict`` out): :class:`RRTMGRadiation`,
   ``functools.partial(radiative_transfer_arrays, ...)`` or
   :meth:`subgrid.radiation.emulator.Emulator.tendencies`.
2. **Surface turbulent fluxes** (bulk formulae, explicit): ``SH = ρ₁ c_p C U (T_s − T₁)``,
   ``LH = ρ₁ L_v C U (q*(T_s, p_s) − q₁)``, ``ρ₁ = p₁ / (R_d T₁)``; ``C = 0`` switches them off.
3. **Heating**: ``T ← T + Δt Q``; the lowest layer gains ``SH + LH``
   (``ΔT₁ = Δt g (SH + LH) / (c_p Δp₁)``). Moisture is diagnostic (step 5), so the latent heat
   the surface gives up is released at once in the lowest layer, as if it condensed there, and
   the convective adjustment carries it up; no energy is created or lost. A slab surface
   (``surface="slab"``, mixed layer of ``h`` metres of water) takes
   ``ΔT_s = Δt (F_rad − SH − LH) / (ρ_w c_w h)``; ``surface="fixed"`` holds ``T_s``.
   **Large-scale heat transport** (``large_scale_relaxation_days`` τ > 0): a single column has
   no circulation to export the tropics' surplus or to warm the polar night, so pure RCE runs
   away there within months (measured: a 1-year run of 64 sampled columns lost 35 to
   temperatures outside [150, 350] K with RRTMG itself: tropical columns warmed past 325 K at
   the surface, polar-night ones cooled below 150 K). The host stands in for the circulation
   as GCM-coupling studies of single columns do (weak-temperature-gradient relaxation; the
   Q-flux of slab-ocean models): air and slab temperatures relax to the column's initial
   state, ``T ← T − Δt (T − T₀)/τ``, ``T_s ← T_s − Δt (T_s − T_s0)/τ`` (slab only). The heat
   this brings in, ``H = (c_p/g) Σ ΔT Δp / Δt + ρ_w c_w h ΔT_s / Δt``, is recorded; τ = 0 is
   pure RCE.
4. **Convective adjustment** to the critical lapse rate Γ (6.5 K/km; Manabe & Strickler 1964).
   With hydrostatic balance a lapse rate Γ is ``d ln T / d ln p = R_d Γ / g =: κ_Γ``, so a
   column is stable where ``θ_Γ = T (p₀/p)^κ_Γ`` does not decrease upward. The adjusted state is
   the enthalpy-weighted isotonic regression of ``θ_Γ`` (pool adjacent violators, weights
   ``(p/p₀)^κ_Γ Δp``): unstable runs of layers are mixed to a neutral profile (lapse rate Γ)
   whose enthalpy ``Σ c_p T Δp / g`` equals theirs, and the mixed blocks end up stably stacked,
   the state a hard convective adjustment seeks. It is exact in one sweep (no iteration to a
   tolerance), conserves column enthalpy to round-off and leaves stable layers untouched.
5. **Fixed relative humidity**: below the initial state's cold point (the coldest level with
   ``p ≥ cold_point_min_pressure_Pa``, inclusive) each level keeps its initial relative humidity
   (saturation over water above 273.15 K, over ice below, as the column sampler); above it ``q``
   keeps its initial value (stratospheric water is set at the tropical cold point, not locally).
   Everywhere ``q ≤ q*`` and ``q ≤ max_specific_humidity_kg_per_kg``.
6. **Crash detection** per column: a non-finite radiation output, a non-finite state, or any air
   or surface temperature outside [150, 350] K marks the column crashed. It is frozen at its last
   good state (masked as NaN in the trajectory from then on) and the radiation inputs of its
   last ``precrash_states`` radiation calls are kept for experience replay; the other columns
   continue.

**Energy.** With ``E = (c_p/g) Σ T_k Δp_k (+ ρ_w c_w h T_s for a slab)``, a step changes ``E``
by ``Δt (F_top + H)`` (slab) or ``Δt (F_top + H − F_s)`` with ``F_s = F_rad − SH − LH`` into the
surface (fixed surface), to round-off whenever the scheme's heating equals its flux divergence
``(g/c_p) ΔF_net/Δp`` (RRTMG's does, to 1e-12). Constants are RRTMG's (sympl's ``g``, ``c_p``).

**Insolation**: cosine of the solar zenith angle and Earth-Sun distance from each column's
``latitude``, ``day_of_year`` and ``local_solar_time`` (variables of
:func:`~subgrid.radiation.columns.sample_columns`), advanced with model time (diurnal and seasonal
cycles; Spencer 1971).

**Checkpoints** hold the full model state and the trajectory so far; they are written
atomically (temporary file + rename) at every ``checkpoint_interval_days``. A run killed, or
stopped at day ``d``, resumes from its checkpoint and gives the same trajectory, bit for bit, as
an uninterrupted run; a longer ``days`` extends a finished run.

References: Manabe, S. & Strickler, R. F. (1964), J. Atmos. Sci. 21, 361-385; Manabe, S. &
Wetherald, R. T. (1967), J. Atmos. Sci. 24, 241-259; Spencer, J. W. (1971), Search 2(5), 172.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from subgrid.radiation.columns import EPSILON, saturation_vapor_pressure_Pa
from subgrid.radiation.columns import solar_geometry as _cos_zenith_and_distance
from subgrid.core.errors import InputError
from subgrid.physics.rrtmg import (
    CP_DRY_AIR_J_PER_KG_K,
    GRAVITY_M_PER_S2,
    SECONDS_PER_DAY,
    RRTMGConfig,
    radiative_transfer_arrays,
    to_surface_first,
    validate_radiation_inputs,
)
from subgrid.physics.schema import RADIATION_INPUTS, VERTICAL_ORDER

DRY_AIR_GAS_CONSTANT_J_PER_KG_K = 287.04
LATENT_HEAT_VAPORIZATION_J_PER_KG = 2.501e6
SEAWATER_DENSITY_KG_PER_M3 = 1025.0
SEAWATER_HEAT_CAPACITY_J_PER_KG_K = 3985.0
#: Reference pressure of the lapse-rate potential temperature θ_Γ (any value would do).
REFERENCE_PRESSURE_PA = 100000.0
DAYS_PER_YEAR = 365.0
#: Relative θ_Γ decrease below which two blocks count as neutral, not unstable (mixed blocks
#: come out of T = θ_Γ (p/p₀)^κ_Γ with a few ulps of noise).
_ROUNDOFF = 1e-12

#: Column descriptors the host reads for the sun, besides the radiation inputs.
SOLAR_DESCRIPTORS = ("latitude", "day_of_year", "local_solar_time")
#: Radiation inputs that change during a run; the others are held at the initial state.
EVOLVING_INPUTS = ("air_temperature", "specific_humidity", "surface_temperature",
                   "cos_solar_zenith_angle", "earth_sun_distance_factor")  # fmt: skip
#: Radiation outputs the host needs (all-sky; an emulator predicts no clear-sky diagnostics).
REQUIRED_OUTPUTS = ("lw_heating_rate", "sw_heating_rate", "lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down")
#: ``crash_reason`` codes (index = code).
CRASH_REASONS = ("none", "radiation_not_finite", "state_not_finite", "temperature_out_of_range")

#: The radiation contract: radiation inputs (schema units, surface first) -> outputs.
Radiation = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class RCEConfig:
    """Settings of the RCE host (module docstring for the equations).

    Attributes:
        time_step_s: Δt of the host (heating, surface, adjustment, humidity, checks).
        radiation_every_steps: radiation is called every this many steps (hourly by default).
        days: length of the run; a whole number of output intervals.
        output_interval_days: the trajectory holds means over intervals of this length.
        checkpoint_interval_days: checkpoints (if asked for) are written this often; a whole
            number of output intervals.
        surface: ``"slab"`` (mixed layer of ``mixed_layer_depth_m`` of sea water) or ``"fixed"``.
        mixed_layer_depth_m: slab depth; 1 m equilibrates in weeks (DESIGN.md section 7). At least
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
        if not 0.0 < self.critical_lapse_rate_K_per_km < 9.8:
            fail("critical_lapse_rate_K_per_km", "in (0, 9.8) K/km (below the dry adiabat)")
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


@dataclass(frozen=True)
class RRTMGRadiation:
    """RRTMG LW + SW as a host radiation callable, with McICA seeded per call from the state.

    A fixed McICA seed would sample the same sub-grid clouds on every call, a bias frozen in
    time; seeding from the bytes of the temperature field varies the draw from call to call yet
    keeps a run reproducible (and a resumed run identical to an uninterrupted one).
    """

    config: RRTMGConfig = field(default_factory=RRTMGConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise InputError(f"RRTMGRadiation.seed: must be in [0, 2**32), got {self.seed!r}")

    def __call__(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        temperature = np.ascontiguousarray(arrays["air_temperature"], dtype=np.float64)
        return radiative_transfer_arrays(arrays, self.config, seed=zlib.crc32(temperature.tobytes(), self.seed))


# --------------------------------------------------------------------------------------------
# Column physics: pure functions, vectorised over columns


def column_enthalpy_J_per_m2(temperature_K: np.ndarray, pressure_interface_Pa: np.ndarray) -> np.ndarray:
    """Dry enthalpy of each column, ``(c_p/g) Σ_k T_k (p_k − p_k+1)`` (surface first), J m⁻²."""
    thickness_Pa = pressure_interface_Pa[..., :-1] - pressure_interface_Pa[..., 1:]
    return CP_DRY_AIR_J_PER_KG_K / GRAVITY_M_PER_S2 * np.sum(temperature_K * thickness_Pa, axis=-1)


def convective_adjustment(
    temperature_K: np.ndarray,
    pressure_Pa: np.ndarray,
    pressure_interface_Pa: np.ndarray,
    lapse_rate_K_per_km: float = 6.5,
) -> np.ndarray:
    """Adjust ``(column, level)`` temperatures (surface first) to lapse rates of at most Γ, conserving enthalpy.

    The weighted isotonic regression of ``θ_Γ = T (p₀/p)^κ_Γ``, ``κ_Γ = R_d Γ / g``, upward, by
    pool-adjacent-violators with weights ``(p/p₀)^κ_Γ Δp`` (so each mixed block keeps its
    enthalpy ``Σ c_p T Δp / g``). The stack sweep runs over levels; each pass is vectorised over
    columns. Levels in no mixed block are returned unchanged, bit for bit; θ_Γ decreasing by less
    than 1e-12 relative is round-off, not instability (so adjusting twice changes nothing).
    """
    temperature_K = np.asarray(temperature_K, dtype=float)
    n_columns, n_levels = temperature_K.shape
    kappa = DRY_AIR_GAS_CONSTANT_J_PER_KG_K * lapse_rate_K_per_km * 1e-3 / GRAVITY_M_PER_S2
    exner = (pressure_Pa / REFERENCE_PRESSURE_PA) ** kappa
    theta = temperature_K / exner
    weight = exner * (pressure_interface_Pa[:, :-1] - pressure_interface_Pa[:, 1:])

    # The stack of blocks of each column: Σwθ, Σw and first level; unused entries start at n_levels.
    weighted_sum = np.zeros((n_columns, n_levels))
    weight_sum = np.ones((n_columns, n_levels))
    start = np.full((n_columns, n_levels), n_levels)
    top = np.full(n_columns, -1)
    rows = np.arange(n_columns)
    for level in range(n_levels):
        top += 1
        weighted_sum[rows, top] = weight[:, level] * theta[:, level]
        weight_sum[rows, top] = weight[:, level]
        start[rows, top] = level
        while True:
            below = np.maximum(top - 1, 0)
            unstable = (top > 0) & (
                weighted_sum[rows, top] / weight_sum[rows, top]
                < (1.0 - _ROUNDOFF) * weighted_sum[rows, below] / weight_sum[rows, below]
            )
            if not unstable.any():
                break
            r, t = rows[unstable], top[unstable]
            weighted_sum[r, t - 1] += weighted_sum[r, t]
            weight_sum[r, t - 1] += weight_sum[r, t]
            start[r, t] = n_levels
            top[unstable] -= 1

    levels = np.arange(n_levels)
    block = (start[:, :, None] <= levels[None, None, :]).sum(axis=1) - 1
    block_size = np.diff(np.concatenate([start, np.full((n_columns, 1), n_levels)], axis=1), axis=1)
    mixed = np.take_along_axis(block_size, block, axis=1) > 1
    adjusted_theta = np.take_along_axis(weighted_sum / weight_sum, block, axis=1)
    return np.where(mixed, adjusted_theta * exner, temperature_K)


def large_scale_relaxation(
    temperature_K: np.ndarray,
    surface_temperature_K: np.ndarray,
    reference_temperature_K: np.ndarray,
    reference_surface_temperature_K: np.ndarray,
    pressure_interface_Pa: np.ndarray,
    dt_s: float,
    config: RCEConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One explicit step of the large-scale heat transport (relaxation to the reference state, time scale τ).

    Returns the relaxed air and surface temperatures (K) and the heat brought in, W m⁻² (column
    enthalpy plus, for a slab, its heat content). τ = 0 changes nothing and brings in nothing.
    """
    if config.large_scale_relaxation_days == 0.0:
        return temperature_K, surface_temperature_K, np.zeros(temperature_K.shape[0])
    rate = dt_s / (config.large_scale_relaxation_days * SECONDS_PER_DAY)
    relaxed = temperature_K - rate * (temperature_K - reference_temperature_K)
    heat = column_enthalpy_J_per_m2(relaxed - temperature_K, pressure_interface_Pa)
    if config.surface == "slab":
        relaxed_surface = surface_temperature_K - rate * (surface_temperature_K - reference_surface_temperature_K)
        heat = heat + config.slab_heat_capacity_J_per_m2_K * (relaxed_surface - surface_temperature_K)
        surface_temperature_K = relaxed_surface
    return relaxed, surface_temperature_K, heat / dt_s


def saturation_mole_fraction(temperature_K: np.ndarray, pressure_Pa: np.ndarray) -> np.ndarray:
    """``e*(T) / p`` (over water above 273.15 K, ice below; Alduchov & Eskridge 1996)."""
    return saturation_vapor_pressure_Pa(temperature_K) / pressure_Pa


def specific_humidity_kg_per_kg(vapour_mole_fraction: np.ndarray) -> np.ndarray:
    """``q = ε x / (1 − (1 − ε) x)`` for a vapour mole fraction ``x = e / p``."""
    return EPSILON * vapour_mole_fraction / (1.0 - (1.0 - EPSILON) * vapour_mole_fraction)


def vapour_mole_fraction(specific_humidity: np.ndarray) -> np.ndarray:
    """Inverse of :func:`specific_humidity_kg_per_kg`: ``x = q / (ε + (1 − ε) q)``."""
    return specific_humidity / (EPSILON + (1.0 - EPSILON) * specific_humidity)


def fixed_relative_humidity(
    temperature_K: np.ndarray,
    pressure_Pa: np.ndarray,
    relative_humidity: np.ndarray,
    fixed_specific_humidity: np.ndarray,
    troposphere: np.ndarray,
    max_specific_humidity_kg_per_kg: float,
) -> np.ndarray:
    """Specific humidity: ``relative_humidity`` kept where ``troposphere``, ``fixed_specific_humidity`` above;
    capped at saturation and at ``max_specific_humidity_kg_per_kg`` everywhere."""
    saturation = specific_humidity_kg_per_kg(np.minimum(saturation_mole_fraction(temperature_K, pressure_Pa), 1.0))
    moist = np.where(troposphere, relative_humidity * saturation, fixed_specific_humidity)
    return np.minimum(np.minimum(moist, saturation), max_specific_humidity_kg_per_kg)


def bulk_surface_fluxes_W_per_m2(
    surface_temperature_K: np.ndarray,
    air_temperature_K: np.ndarray,
    specific_humidity: np.ndarray,
    pressure_Pa: np.ndarray,
    surface_pressure_Pa: np.ndarray,
    exchange_coefficient: float,
    wind_speed_m_per_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Sensible and latent heat fluxes (upward, W m⁻²), bulk formulae on the lowest layer's ``T₁``, ``q₁``, ``p₁``."""
    density = pressure_Pa / (DRY_AIR_GAS_CONSTANT_J_PER_KG_K * air_temperature_K)
    conductance = density * exchange_coefficient * wind_speed_m_per_s
    saturation = specific_humidity_kg_per_kg(
        np.minimum(saturation_mole_fraction(surface_temperature_K, surface_pressure_Pa), 1.0)
    )
    sensible = conductance * CP_DRY_AIR_J_PER_KG_K * (surface_temperature_K - air_temperature_K)
    latent = conductance * LATENT_HEAT_VAPORIZATION_J_PER_KG * (saturation - specific_humidity)
    return sensible, latent


def solar_geometry(
    latitude_deg: np.ndarray, day_of_year: np.ndarray, local_solar_time_h: np.ndarray, elapsed_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of the solar zenith angle and Earth-Sun distance factor ``elapsed_s`` after the initial time."""
    hours = local_solar_time_h + elapsed_s / 3600.0
    days = day_of_year + np.floor(hours / 24.0)
    return _cos_zenith_and_distance(latitude_deg, (days - 1.0) % DAYS_PER_YEAR + 1.0, hours % 24.0)


# --------------------------------------------------------------------------------------------
# Initial state


@dataclass(frozen=True)
class _Columns:
    """The prepared initial state: fixed radiation inputs and what the humidity and sun need."""

    fixed: dict[str, np.ndarray]
    temperature_K: np.ndarray
    surface_temperature_K: np.ndarray
    relative_humidity: np.ndarray
    specific_humidity: np.ndarray
    troposphere: np.ndarray
    latitude_deg: np.ndarray
    day_of_year: np.ndarray
    local_solar_time_h: np.ndarray
    coords: dict

    @property
    def pressure_Pa(self) -> np.ndarray:
        return self.fixed["air_pressure"]

    @property
    def pressure_interface_Pa(self) -> np.ndarray:
        return self.fixed["air_pressure_on_interface"]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.fixed):
            digest.update(name.encode() + np.ascontiguousarray(self.fixed[name], dtype=float).tobytes())
        for value in (self.temperature_K, self.surface_temperature_K, self.specific_humidity, self.latitude_deg,
                      self.day_of_year, self.local_solar_time_h):
            digest.update(np.ascontiguousarray(value, dtype=float).tobytes())  # fmt: skip
        return digest.hexdigest()


def _prepare(initial_state: xr.Dataset, config: RCEConfig) -> _Columns:
    if not isinstance(initial_state, xr.Dataset):
        raise InputError(f"initial_state: expected an xarray Dataset of columns, got {type(initial_state).__name__}")
    missing = [name for name in SOLAR_DESCRIPTORS if name not in initial_state]
    if missing:
        raise InputError(
            f"initial_state: missing {', '.join(missing)} (the host's sun needs them; "
            "subgrid.radiation.columns.sample_columns provides them)"
        )
    ordered, _ = to_surface_first(initial_state)
    validate_radiation_inputs(ordered)
    for name in SOLAR_DESCRIPTORS:
        values = ordered[name].values
        if ordered[name].dims != ("column",) or not np.isfinite(values).all():
            raise InputError(f"{name}: must be finite, on dims ('column',)")
    latitude = ordered["latitude"].values.astype(float)
    if np.abs(latitude).max() > 90.0:
        raise InputError(f"latitude: outside [-90, 90] degrees at column {int(np.argmax(np.abs(latitude) > 90))}")
    for name, value in (("air_temperature", ordered["air_temperature"].values),
                        ("surface_temperature", ordered["surface_temperature"].values)):  # fmt: skip
        outside = (value < config.min_temperature_K) | (value > config.max_temperature_K)
        if outside.any():
            column = int(np.argwhere(outside)[0][0])
            raise InputError(
                f"{name}: outside the host's [{config.min_temperature_K:g}, {config.max_temperature_K:g}] K "
                f"(a run would start crashed), first at column {column}"
            )
    arrays = {name: ordered[name].values.astype(float) for name in RADIATION_INPUTS if name in ordered}
    n_columns = arrays["air_temperature"].shape[0]
    arrays.setdefault("earth_sun_distance_factor", np.ones(n_columns))
    temperature, pressure, q = arrays["air_temperature"], arrays["air_pressure"], arrays["specific_humidity"]

    searched = pressure >= config.cold_point_min_pressure_Pa
    if not searched[:, 0].all():
        column = int(np.flatnonzero(~searched[:, 0])[0])
        raise InputError(
            f"cold_point_min_pressure_Pa: {config.cold_point_min_pressure_Pa:g} Pa is above the lowest level of "
            f"column {column}"
        )
    cold_point = np.argmin(np.where(searched, temperature, np.inf), axis=1)
    troposphere = np.arange(temperature.shape[1])[None, :] <= cold_point[:, None]
    saturation = np.minimum(saturation_mole_fraction(temperature, pressure), 1.0)
    relative_humidity = np.minimum(vapour_mole_fraction(q) / saturation, 1.0)
    fixed = {name: value for name, value in arrays.items() if name not in EVOLVING_INPUTS}
    humidity = fixed_relative_humidity(
        temperature, pressure, relative_humidity, q, troposphere, config.max_specific_humidity_kg_per_kg
    )
    coords = {"column": ordered["column"].values} if "column" in ordered.coords else {}
    return _Columns(
        fixed=fixed,
        temperature_K=temperature,
        surface_temperature_K=arrays["surface_temperature"],
        relative_humidity=relative_humidity,
        specific_humidity=humidity,
        troposphere=troposphere,
        latitude_deg=latitude,
        day_of_year=ordered["day_of_year"].values.astype(float),
        local_solar_time_h=ordered["local_solar_time"].values.astype(float),
        coords=coords,
    )


# --------------------------------------------------------------------------------------------
# Model state, stepping and checkpoints

_RECORDS = ("air_temperature", "surface_temperature", "toa_net_downward_flux", "outgoing_longwave_radiation",
            "surface_net_downward_flux", "large_scale_heat_flux", "column_energy")  # fmt: skip
_PRECRASH = ("precrash_column", "precrash_time_days", *(f"precrash_{name}" for name in EVOLVING_INPUTS))
_STATE_ARRAYS = ("temperature_K", "surface_temperature_K", "specific_humidity", "heating_K_per_day",
                 "toa_net_W_per_m2", "olr_W_per_m2", "surface_radiation_W_per_m2", "crashed", "crash_step",
                 "crash_reason", "ring_step")  # fmt: skip


@dataclass
class _State:
    """Everything that evolves, as plain arrays (what a checkpoint holds)."""

    step: int
    temperature_K: np.ndarray
    surface_temperature_K: np.ndarray
    specific_humidity: np.ndarray
    heating_K_per_day: np.ndarray
    toa_net_W_per_m2: np.ndarray
    olr_W_per_m2: np.ndarray
    surface_radiation_W_per_m2: np.ndarray
    crashed: np.ndarray
    crash_step: np.ndarray
    crash_reason: np.ndarray
    radiation_calls: int
    ring: dict[str, np.ndarray]
    ring_step: np.ndarray
    precrash: dict[str, list]
    records: dict[str, list]
    timing: dict[str, float]

    @classmethod
    def initial(cls, columns: _Columns, config: RCEConfig) -> _State:
        n_columns, n_levels = columns.temperature_K.shape
        depth = config.precrash_states
        return cls(
            step=0,
            temperature_K=columns.temperature_K.copy(),
            surface_temperature_K=columns.surface_temperature_K.copy(),
            specific_humidity=columns.specific_humidity.copy(),
            heating_K_per_day=np.zeros((n_columns, n_levels)),
            toa_net_W_per_m2=np.zeros(n_columns),
            olr_W_per_m2=np.zeros(n_columns),
            surface_radiation_W_per_m2=np.zeros(n_columns),
            crashed=np.zeros(n_columns, dtype=bool),
            crash_step=np.full(n_columns, -1),
            crash_reason=np.zeros(n_columns, dtype=np.int8),
            radiation_calls=0,
            ring={
                "air_temperature": np.zeros((depth, n_columns, n_levels)),
                "specific_humidity": np.zeros((depth, n_columns, n_levels)),
                "surface_temperature": np.zeros((depth, n_columns)),
                "cos_solar_zenith_angle": np.zeros((depth, n_columns)),
                "earth_sun_distance_factor": np.zeros((depth, n_columns)),
            },
            ring_step=np.full((depth, n_columns), -1),
            precrash={name: [] for name in _PRECRASH},
            records={name: [] for name in _RECORDS},
            timing=dict.fromkeys(("radiation_wall_s", "radiation_cpu_s", "radiation_first_call_wall_s", "total_wall_s",
                                  "total_cpu_s", "radiation_columns"), 0.0),  # fmt: skip
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in _STATE_ARRAYS}
        arrays.update({f"ring/{name}": value for name, value in self.ring.items()})
        arrays.update({f"precrash/{name}": np.asarray(value) for name, value in self.precrash.items()})
        arrays.update({f"records/{name}": np.asarray(value) for name, value in self.records.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: dict) -> _State:
        def group(prefix: str, as_list: bool) -> dict:
            return {k[len(prefix):]: list(v) if as_list else v for k, v in arrays.items() if k.startswith(prefix)}

        plain = {k: v for k, v in arrays.items() if "/" not in k}
        return cls(
            step=int(meta["step"]),
            radiation_calls=int(meta["radiation_calls"]),
            timing=dict(meta["timing"]),
            ring=group("ring/", False),
            precrash=group("precrash/", True),
            records=group("records/", True),
            **plain,
        )


@dataclass(frozen=True)
class _Model:
    columns: _Columns
    config: RCEConfig
    radiation: Radiation

    @property
    def dt_s(self) -> float:
        return self.config.time_step_s

    def radiation_inputs(self, state: _State, live: np.ndarray) -> dict[str, np.ndarray]:
        """Inputs of the call at ``state.step``, for the ``live`` columns; the sun at the interval's middle."""
        c = self.columns
        middle_s = (state.step + 0.5 * self.config.radiation_every_steps) * self.dt_s
        cos_zenith, distance = solar_geometry(c.latitude_deg, c.day_of_year, c.local_solar_time_h, middle_s)
        evolving = {
            "air_temperature": state.temperature_K,
            "specific_humidity": state.specific_humidity,
            "surface_temperature": state.surface_temperature_K,
            "cos_solar_zenith_angle": cos_zenith,
            "earth_sun_distance_factor": distance,
        }
        return {name: np.ascontiguousarray(value[live]) for name, value in {**c.fixed, **evolving}.items()}

    def call_radiation(self, state: _State, live: np.ndarray) -> None:
        """Radiation for the live columns: held heating and fluxes; columns with non-finite output crash."""
        inputs = self.radiation_inputs(state, live)
        slot = state.radiation_calls % self.config.precrash_states
        for name, ring in state.ring.items():
            ring[slot][live] = inputs[name]
        state.ring_step[slot] = np.where(live, state.step, state.ring_step[slot])
        state.radiation_calls += 1

        wall, cpu = time.perf_counter(), time.process_time()
        outputs = self.radiation(inputs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        state.timing["radiation_wall_s"] += wall
        state.timing["radiation_cpu_s"] += cpu
        if state.radiation_calls == 1:  # RRTMG builds its Fortran components on a process's first call
            state.timing["radiation_first_call_wall_s"] = wall
        state.timing["radiation_columns"] += float(live.sum())

        missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
        if missing:
            raise InputError(
                f"radiation: returned no {', '.join(missing)} (needs the radiative_transfer_arrays contract)"
            )
        out = {name: np.asarray(outputs[name], dtype=float) for name in REQUIRED_OUTPUTS}
        heating = out["lw_heating_rate"] + out["sw_heating_rate"]
        if heating.shape != (int(live.sum()), state.temperature_K.shape[1]):
            raise InputError(f"radiation: heating rates of shape {heating.shape} for {int(live.sum())} live columns")
        net = out["lw_flux_down"] + out["sw_flux_down"] - out["lw_flux_up"] - out["sw_flux_up"]
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(heating).all(axis=1) & np.isfinite(net).all(axis=1)
            finite &= np.isfinite(out["lw_flux_up"][:, -1])
        state.heating_K_per_day[live] = np.where(finite[:, None], heating, 0.0)
        state.toa_net_W_per_m2[live] = np.where(finite, net[:, -1], 0.0)
        state.surface_radiation_W_per_m2[live] = np.where(finite, net[:, 0], 0.0)
        state.olr_W_per_m2[live] = np.where(finite, out["lw_flux_up"][:, -1], 0.0)
        failed = np.zeros_like(live)
        failed[live] = ~finite
        self.crash(state, failed, CRASH_REASONS.index("radiation_not_finite"))

    def crash(self, state: _State, failed: np.ndarray, reason: int) -> None:
        """Freeze ``failed`` columns in the step now running; keep the inputs of their last radiation calls."""
        for column in np.flatnonzero(failed):
            state.crashed[column] = True
            state.crash_step[column] = state.step + 1
            state.crash_reason[column] = reason
            steps = state.ring_step[:, column]
            for slot in np.argsort(steps):
                if steps[slot] < 0:
                    continue
                state.precrash["precrash_column"].append(column)
                state.precrash["precrash_time_days"].append(steps[slot] * self.dt_s / SECONDS_PER_DAY)
                for name in EVOLVING_INPUTS:
                    state.precrash[f"precrash_{name}"].append(state.ring[name][slot, column].copy())

    def step(self, state: _State, totals: dict[str, np.ndarray]) -> None:
        if state.step % self.config.radiation_every_steps == 0 and not state.crashed.all():
            self.call_radiation(state, ~state.crashed)
        live = ~state.crashed
        if live.any():
            self._advance(state, live, totals)
        state.step += 1

    def _advance(self, state: _State, live: np.ndarray, totals: dict[str, np.ndarray]) -> None:
        config, c, dt = self.config, self.columns, self.dt_s
        p, p_int = c.pressure_Pa[live], c.pressure_interface_Pa[live]
        temperature = state.temperature_K[live]
        surface = state.surface_temperature_K[live]
        with np.errstate(all="ignore"):  # a blown-up column is caught below, not warned about
            sensible, latent = bulk_surface_fluxes_W_per_m2(
                surface, temperature[:, 0], state.specific_humidity[live, 0], p[:, 0], p_int[:, 0],
                config.surface_exchange_coefficient, config.surface_wind_speed_m_per_s,
            )  # fmt: skip
            into_surface = state.surface_radiation_W_per_m2[live] - sensible - latent
            temperature = temperature + dt / SECONDS_PER_DAY * state.heating_K_per_day[live]
            temperature[:, 0] += (
                dt * GRAVITY_M_PER_S2 * (sensible + latent) / (CP_DRY_AIR_J_PER_KG_K * (p_int[:, 0] - p_int[:, 1]))
            )
            if config.surface == "slab":
                surface = surface + dt * into_surface / config.slab_heat_capacity_J_per_m2_K
            temperature, surface, transported = large_scale_relaxation(
                temperature, surface, c.temperature_K[live], c.surface_temperature_K[live], p_int, dt, config
            )
            temperature = convective_adjustment(temperature, p, p_int, config.critical_lapse_rate_K_per_km)
            humidity = fixed_relative_humidity(
                temperature, p, c.relative_humidity[live], c.specific_humidity[live], c.troposphere[live],
                config.max_specific_humidity_kg_per_kg,
            )  # fmt: skip
            finite = np.isfinite(temperature).all(axis=1) & np.isfinite(surface) & np.isfinite(humidity).all(axis=1)
            low, high = config.min_temperature_K, config.max_temperature_K
            in_range = ((temperature >= low) & (temperature <= high)).all(axis=1) & (surface >= low) & (surface <= high)
        for reason, bad in (("state_not_finite", ~finite), ("temperature_out_of_range", finite & ~in_range)):
            failed = np.zeros_like(live)
            failed[live] = bad
            self.crash(state, failed, CRASH_REASONS.index(reason))
        good = finite & in_range
        kept = np.flatnonzero(live)[good]
        state.temperature_K[kept] = temperature[good]
        state.surface_temperature_K[kept] = surface[good]
        state.specific_humidity[kept] = humidity[good]

        totals["count"][kept] += 1
        totals["air_temperature"][kept] += temperature[good]
        totals["surface_temperature"][kept] += surface[good]
        totals["toa_net_downward_flux"][kept] += state.toa_net_W_per_m2[kept]
        totals["outgoing_longwave_radiation"][kept] += state.olr_W_per_m2[kept]
        totals["surface_net_downward_flux"][kept] += into_surface[good]
        totals["large_scale_heat_flux"][kept] += transported[good]

    def energy_J_per_m2(self, temperature_K: np.ndarray, surface_temperature_K: np.ndarray) -> np.ndarray:
        """Column enthalpy plus the slab's heat content (relative to 0 K), J m⁻²."""
        atmosphere = column_enthalpy_J_per_m2(temperature_K, self.columns.pressure_interface_Pa)
        return atmosphere + self.config.slab_heat_capacity_J_per_m2_K * surface_temperature_K


def _fingerprint(columns: _Columns, config: RCEConfig) -> str:
    """What a checkpoint must match to be resumed: the initial state and every setting but the run length."""
    settings = {k: v for k, v in config.to_dict().items() if k not in ("days", "checkpoint_interval_days")}
    return hashlib.sha256((json.dumps(settings, sort_keys=True) + columns.fingerprint()).encode()).hexdigest()


def _write_checkpoint(path: Path, state: _State, fingerprint: str) -> None:
    meta = {"fingerprint": fingerprint, "step": state.step, "radiation_calls": state.radiation_calls,
            "timing": state.timing}  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as file:
        np.savez(file, meta=np.array(json.dumps(meta)), **state.to_arrays())
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


def _read_checkpoint(path: Path, fingerprint: str) -> _State:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta["fingerprint"] != fingerprint:
            raise InputError(
                f"checkpoint {path}: written by a run with another initial state or settings "
                "(only days and checkpoint_interval_days may change); use another checkpoint path"
            )
        return _State.from_arrays({name: data[name] for name in data.files if name != "meta"}, meta)


# --------------------------------------------------------------------------------------------
# Running


def run_rce(
    initial_state: xr.Dataset,
    radiation: Radiation,
    config: RCEConfig = RCEConfig(),
    *,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """Run the RCE host from ``initial_state`` with ``radiation`` for ``config.days``.

    Args:
        initial_state: columns with the :data:`~subgrid.physics.schema.RADIATION_INPUTS` and
            ``latitude``, ``day_of_year``, ``local_solar_time`` (as
            :func:`~subgrid.radiation.columns.sample_columns` gives), surface or top first.
        radiation: the radiation contract (module docstring).
        config: host settings.
        checkpoint: a file; if it exists (from a run with the same initial state and settings) the
            run resumes from it, and it is rewritten every ``checkpoint_interval_days``.
        progress: show a progress bar over output intervals.

    Returns:
        The trajectory, surface first, ``time`` = end of each output interval (days):
        interval means of ``air_temperature`` (column, time, level), ``surface_temperature``,
        ``toa_net_downward_flux``, ``outgoing_longwave_radiation``, ``surface_net_downward_flux``
        (radiative minus turbulent, into the surface), ``large_scale_heat_flux`` (into column and
        slab by the large-scale relaxation) and end-of-interval ``column_energy``
        (enthalpy + slab heat content), all NaN once a column has crashed; per column
        ``crashed``, ``crash_time_days`` (end of the step that failed; NaN if none),
        ``crash_reason``; ``initial_column_energy``; ``final_air_temperature`` /
        ``final_surface_temperature`` (the last good state); the radiation inputs before each
        crash as ``precrash_*`` on dim ``precrash`` (:func:`precrash_states` turns them into
        columns); timings (wall and CPU seconds, in radiation and in total) in attrs.
    """
    if not callable(radiation):
        raise InputError(f"radiation: must be callable with the radiative_transfer_arrays contract, got {radiation!r}")
    columns = _prepare(initial_state, config)
    model = _Model(columns, config, radiation)
    fingerprint = _fingerprint(columns, config)
    path = None if checkpoint is None else Path(checkpoint)
    resuming = path is not None and path.exists()
    state = _read_checkpoint(path, fingerprint) if resuming else _State.initial(columns, config)
    done = len(state.records["air_temperature"])
    if done > config.n_outputs:
        raise InputError(
            f"checkpoint {path}: already holds {done} output intervals, more than days={config.days:g} gives"
        )

    n_columns, n_levels = columns.temperature_K.shape
    wall, cpu = time.perf_counter(), time.process_time()
    with tqdm(total=config.n_outputs, initial=done, desc="RCE", unit="interval", disable=not progress) as bar:
        for index in range(done, config.n_outputs):
            totals = {name: np.zeros((n_columns, n_levels) if name == "air_temperature" else n_columns)
                      for name in ("count", *_RECORDS[:-1])}  # fmt: skip
            for _ in range(config.steps_per_output):
                model.step(state, totals)
            count = totals.pop("count")
            with np.errstate(invalid="ignore", divide="ignore"):
                for name, total in totals.items():
                    mean = total / (count[:, None] if total.ndim == 2 else count)
                    state.records[name].append(np.where((count > 0).reshape(-1, *[1] * (total.ndim - 1)), mean, np.nan))
            energy = model.energy_J_per_m2(state.temperature_K, state.surface_temperature_K)
            state.records["column_energy"].append(np.where(state.crashed, np.nan, energy))
            bar.update(1)
            last = index + 1 == config.n_outputs
            if path is not None and ((index + 1) % config.outputs_per_checkpoint == 0 or last):
                state.timing["total_wall_s"] += time.perf_counter() - wall
                state.timing["total_cpu_s"] += time.process_time() - cpu
                wall, cpu = time.perf_counter(), time.process_time()
                _write_checkpoint(path, state, fingerprint)
    state.timing["total_wall_s"] += time.perf_counter() - wall
    state.timing["total_cpu_s"] += time.process_time() - cpu
    return _trajectory(model, state)


#: Units and long names of the trajectory's per-interval records (dims column, time[, level]).
_RECORD_ATTRS = {
    "air_temperature": ("K", "air temperature, interval mean"),
    "surface_temperature": ("K", "surface temperature, interval mean"),
    "toa_net_downward_flux": ("W m-2", "net downward radiative flux at the top, interval mean"),
    "outgoing_longwave_radiation": ("W m-2", "upward LW flux at the top, interval mean"),
    "surface_net_downward_flux": ("W m-2", "net energy flux into the surface (radiative - sensible - latent), "
                                  "interval mean"),
    "large_scale_heat_flux": ("W m-2", "heat brought into the column and slab by the large-scale relaxation, "
                              "interval mean"),
    "column_energy": ("J m-2", "column enthalpy (c_p/g) sum T dp plus slab heat content, end of interval"),
}  # fmt: skip


def _timing(state: _State) -> dict:
    timing = dict(state.timing)
    total = timing["total_wall_s"]
    timing.update(
        host_wall_s=total - timing["radiation_wall_s"],
        host_cpu_s=timing["total_cpu_s"] - timing["radiation_cpu_s"],
        radiation_wall_fraction=timing["radiation_wall_s"] / total if total else None,
        radiation_calls=state.radiation_calls,
        radiation_wall_s_after_first_call=timing["radiation_wall_s"] - timing["radiation_first_call_wall_s"],
    )
    return timing


def _precrash_variables(state: _State, n_levels: int) -> dict:
    variables = {}
    for name in _PRECRASH:
        base = name.removeprefix("precrash_")
        if base == "column":
            dims, attrs, dtype = ("precrash",), {"long_name": "column the state belongs to"}, int
        elif base == "time_days":
            attrs = {"units": "days", "long_name": "model time of the radiation call"}
            dims, dtype = ("precrash",), float
        else:
            dims, attrs, dtype = ("precrash", *RADIATION_INPUTS[base].dims[1:]), RADIATION_INPUTS[base].attrs(), float
        values = np.asarray(state.precrash[name], dtype=dtype)
        if values.size == 0:
            values = np.zeros((0, n_levels)[: len(dims)], dtype=dtype)
        variables[name] = (dims, values, attrs)
    return variables


def _trajectory(model: _Model, state: _State) -> xr.Dataset:
    config, c = model.config, model.columns
    n_outputs = len(state.records["air_temperature"])
    n_levels = c.temperature_K.shape[1]
    crash_time = np.where(state.crashed, state.crash_step * config.time_step_s / SECONDS_PER_DAY, np.nan)
    variables = {
        name: (("column", "time", "level")[: np.ndim(state.records[name][0]) + 1],
               np.stack(state.records[name], axis=1), {"units": units, "long_name": long_name})
        for name, (units, long_name) in _RECORD_ATTRS.items()
    }  # fmt: skip
    final = "at the end (the last good state if crashed)"
    variables.update(
        initial_column_energy=("column", model.energy_J_per_m2(c.temperature_K, c.surface_temperature_K),
                               {"units": "J m-2", "long_name": "column_energy of the initial state"}),
        final_air_temperature=(("column", "level"), state.temperature_K.copy(),
                               {"units": "K", "long_name": f"air temperature {final}"}),
        final_surface_temperature=("column", state.surface_temperature_K.copy(),
                                   {"units": "K", "long_name": f"surface temperature {final}"}),
        air_pressure=(("column", "level"), c.pressure_Pa, RADIATION_INPUTS["air_pressure"].attrs()),
        air_pressure_on_interface=(("column", "interface"), c.pressure_interface_Pa,
                                   RADIATION_INPUTS["air_pressure_on_interface"].attrs()),
        latitude=("column", c.latitude_deg, {"units": "degrees_north", "long_name": "latitude"}),
        crashed=("column", state.crashed.copy(), {"long_name": "the column crashed"}),
        crash_time_days=("column", crash_time,
                         {"units": "days", "long_name": "end of the step in which the column failed (NaN: none)"}),
        crash_reason=("column", state.crash_reason.copy(),
                      {"flag_values": np.arange(len(CRASH_REASONS), dtype=np.int8),
                       "flag_meanings": " ".join(CRASH_REASONS)}),
        **_precrash_variables(state, n_levels),
    )  # fmt: skip
    time_days = config.output_interval_days * np.arange(1, n_outputs + 1)
    return xr.Dataset(
        variables,
        coords={"time": ("time", time_days, {"units": "days", "long_name": "end of the output interval"}), **c.coords},
        attrs={
            "model": "multi-column radiative-convective host (subgrid.hosts.rce.model)",
            "vertical_order": VERTICAL_ORDER,
            "rce_settings": json.dumps(config.to_dict()),
            "radiation": repr(model.radiation),
            "model_days": state.step * config.time_step_s / SECONDS_PER_DAY,
            "timing": json.dumps(_timing(state)),
        },
    )


def run_timing(run: xr.Dataset) -> dict:
    """Wall and CPU seconds of a run: radiation, host (the rest), total, radiation's share, calls.

    ``radiation_wall_s_after_first_call`` leaves out one-off set-up inside the scheme (RRTMG
    builds its components on a process's first call): compare schemes on it.
    """
    return json.loads(run.attrs["timing"])


def precrash_states(run: xr.Dataset, initial_state: xr.Dataset) -> xr.Dataset:
    """The radiation inputs of the calls before each crash of ``run``, as a column dataset.

    The fixed inputs come from ``initial_state`` (the one the run started from); one column per
    harvested state, with ``source_column`` and ``time_days`` (of the radiation call) added.
    """
    ordered, _ = to_surface_first(initial_state)
    source = run["precrash_column"].values.astype(int)
    states = {}
    for name, var in RADIATION_INPUTS.items():
        if f"precrash_{name}" in run:
            values = run[f"precrash_{name}"].values
        elif name in ordered:
            values = ordered[name].values[source]
        else:
            continue
        states[name] = (var.dims, np.asarray(values, dtype=float), var.attrs())
    states["source_column"] = (("column",), source, {"long_name": "column of the run the state comes from"})
    states["time_days"] = (("column",), run["precrash_time_days"].values, {"units": "days"})
    return xr.Dataset(states, attrs={"vertical_order": VERTICAL_ORDER})


# --------------------------------------------------------------------------------------------
# Harder cases

EXTREME_KINDS = ("warm", "cold", "moist", "dry", "polar_night")


def extreme_initial_states(
    columns: xr.Dataset,
    rng: np.random.Generator | int,
    kinds: Sequence[str] = EXTREME_KINDS,
    config: RCEConfig = RCEConfig(),
) -> xr.Dataset:
    """Columns pushed to the edges of (or out of) an emulator's training range, kinds assigned cyclically.

    * ``warm`` / ``cold``: air and surface temperatures shifted by ±U(15, 30) K, relative
      humidity kept (so a warm column is moister);
    * ``moist``: saturated below the cold point; ``dry``: a tenth of the humidity there;
    * ``polar_night``: moved to latitude ±U(75, 89)° at its winter solstice, 10-20 K colder.

    Temperatures are clipped to [160, 340] K, humidity capped as the host caps it (``config``).
    Adds ``extreme_kind`` (column; flag meanings) and returns a surface-first Dataset.
    """
    unknown = [kind for kind in kinds if kind not in EXTREME_KINDS]
    if unknown or not kinds:
        raise InputError(f"kinds: {unknown or 'none'} not among {', '.join(EXTREME_KINDS)}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ordered, _ = to_surface_first(columns)
    ds = ordered.copy(deep=True)
    prepared = _prepare(ds, config)
    n_columns = ds.sizes["column"]
    codes = np.array([EXTREME_KINDS.index(kinds[i % len(kinds)]) for i in range(n_columns)], dtype=np.int8)
    kind = np.array(EXTREME_KINDS)[codes]

    sign = np.where(kind == "warm", 1.0, np.where(kind == "cold", -1.0, 0.0))
    shift = sign * generator.uniform(15.0, 30.0, n_columns)
    polar = kind == "polar_night"
    north = generator.random(n_columns) < 0.5
    shift = np.where(polar, -generator.uniform(10.0, 20.0, n_columns), shift)
    latitude = np.where(north, 1.0, -1.0) * generator.uniform(75.0, 89.0, n_columns)
    ds["latitude"] = ds["latitude"].copy(data=np.where(polar, latitude, ds["latitude"].values))
    solstice = np.where(north, 355.0, 172.0)  # the winter solstice of each hemisphere
    ds["day_of_year"] = ds["day_of_year"].copy(data=np.where(polar, solstice, ds["day_of_year"].values))
    temperature = np.clip(ds["air_temperature"].values + shift[:, None], 160.0, 340.0)
    surface = np.clip(ds["surface_temperature"].values + shift, 160.0, 340.0)
    cos_zenith, _ = solar_geometry(ds["latitude"].values, ds["day_of_year"].values, ds["local_solar_time"].values, 0.0)

    relative_humidity = prepared.relative_humidity.copy()
    relative_humidity[kind == "moist"] = 1.0
    relative_humidity[kind == "dry"] *= 0.1
    humidity = fixed_relative_humidity(
        temperature, prepared.pressure_Pa, relative_humidity, prepared.specific_humidity, prepared.troposphere,
        config.max_specific_humidity_kg_per_kg,
    )  # fmt: skip
    ds["air_temperature"] = ds["air_temperature"].copy(data=temperature)
    ds["surface_temperature"] = ds["surface_temperature"].copy(data=surface)
    ds["specific_humidity"] = ds["specific_humidity"].copy(data=np.maximum(humidity, 1e-7))
    ds["cos_solar_zenith_angle"] = ds["cos_solar_zenith_angle"].copy(data=cos_zenith)
    ds["extreme_kind"] = (("column",), codes, {"flag_values": np.arange(len(EXTREME_KINDS), dtype=np.int8),
                                               "flag_meanings": " ".join(EXTREME_KINDS)})  # fmt: skip
    return ds


# --------------------------------------------------------------------------------------------
# Online comparison: emulator vs physics, side by side


@dataclass
class OnlineComparison:
    """Physics and emulator trajectories from the same initial states, and their comparison.

    ``metrics`` is per case (dim ``column``: every column is a case); ``summary`` is JSON-ready.
    """

    physics: xr.Dataset
    emulator: xr.Dataset
    metrics: xr.Dataset
    summary: dict


def _fallback_count(radiation: Radiation) -> int | None:
    """Columns an :class:`~subgrid.radiation.emulator.Emulator` (or its bound method) sent to RRTMG so far."""
    owner = getattr(radiation, "__self__", radiation)
    count = getattr(owner, "fallback_count", None)
    return int(count) if count is not None else None


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _mean_and_max(values: np.ndarray) -> dict:
    """``{"mean", "max"}`` of per-case values (``None`` for no cases)."""
    if not values.size:
        return {"mean": None, "max": None}
    return {"mean": _finite_or_none(values.mean()), "max": _finite_or_none(values.max())}


def compare_online(
    initial_states: xr.Dataset,
    emulator_radiation: Radiation,
    physics_radiation: Radiation,
    config: RCEConfig = RCEConfig(),
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> OnlineComparison:
    """Run every column of ``initial_states`` (a case each) with the emulator and with the physics.

    Metrics per case: survival of both runs and the emulator's crash time; the mass-weighted
    RMSE of interval-mean temperature, ``sqrt(Σ Δp (T_emu − T_phys)² / Σ Δp)`` (K), at every
    output time and at the last; the surface-temperature difference (emulator − physics) at every
    output time and at the last. NaN once either run of a case has crashed. The summary gives their
    mean and max over the cases both runs survive, the RMSE at day 10 over the cases both runs
    carried that far, and the surface-temperature difference averaged over the last 30 days (the
    equilibrium difference of a long run); it adds the
    wall and CPU seconds spent in radiation by each run, the physics/emulator ratio (after each
    run's first call, which may hold one-off set-up), and (for an
    :class:`~subgrid.radiation.emulator.Emulator`) the columns its OOD guard sent to RRTMG. With
    ``checkpoint_dir``, each run checkpoints to ``physics.npz`` / ``emulator.npz`` there and
    resumes from them.
    """
    paths = {"physics": None, "emulator": None}
    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        paths = {name: Path(checkpoint_dir) / f"{name}.npz" for name in paths}
    fallback_before = _fallback_count(emulator_radiation)
    physics = run_rce(initial_states, physics_radiation, config, checkpoint=paths["physics"], progress=progress)
    emulator = run_rce(initial_states, emulator_radiation, config, checkpoint=paths["emulator"], progress=progress)
    fallback_after = _fallback_count(emulator_radiation)

    thickness = physics["air_pressure_on_interface"].values[:, :-1] - physics["air_pressure_on_interface"].values[:, 1:]
    weights = (thickness / thickness.sum(axis=1, keepdims=True))[:, None, :]
    difference = emulator["air_temperature"].values - physics["air_temperature"].values
    rmse = np.sqrt(np.sum(weights * difference * difference, axis=2))
    surface_difference = emulator["surface_temperature"].values - physics["surface_temperature"].values
    metrics = xr.Dataset(
        {
            "emulator_survived": (("column",), ~emulator["crashed"].values),
            "physics_survived": (("column",), ~physics["crashed"].values),
            "emulator_crash_time_days": (("column",), emulator["crash_time_days"].values, {"units": "days"}),
            "temperature_rmse_K": (("column", "time"), rmse, {
                "units": "K", "long_name": "mass-weighted RMSE of interval-mean temperature, emulator vs physics"}),
            "temperature_rmse_last_K": (("column",), rmse[:, -1], {"units": "K"}),
            "surface_temperature_difference_K": (("column", "time"), surface_difference, {
                "units": "K", "long_name": "interval-mean surface temperature, emulator - physics"}),
            "surface_temperature_difference_last_K": (("column",), surface_difference[:, -1], {"units": "K"}),
        },  # fmt: skip
        coords={"time": physics["time"]},
    )
    timing = {name: run_timing(run) for name, run in (("physics", physics), ("emulator", emulator))}
    both = metrics["emulator_survived"].values & metrics["physics_survived"].values
    time_days = physics["time"].values
    # Day 10 (the seed study's forecast length), for the cases both runs carried that far.
    day_10 = int(np.searchsorted(time_days, 10.0 - 1e-9))
    rmse_day_10 = rmse[:, day_10] if day_10 < time_days.size else np.array([])
    # The equilibrium difference: the surface-temperature difference averaged over the last 30 days.
    final_month = time_days > time_days[-1] - 30.0
    summary = {
        "cases": int(initial_states.sizes["column"]),
        "days": config.days,
        "emulator_survived": int(metrics["emulator_survived"].sum()),
        "physics_survived": int(metrics["physics_survived"].sum()),
        "temperature_rmse_last_K": _mean_and_max(rmse[both, -1]),
        "temperature_rmse_day_10_K": _mean_and_max(rmse_day_10[np.isfinite(rmse_day_10)]),
        "surface_temperature_abs_difference_last_K": _mean_and_max(np.abs(surface_difference[both, -1])),
        "surface_temperature_abs_difference_final_30_days_K": _mean_and_max(
            np.abs(surface_difference[both][:, final_month].mean(axis=1))
        ),
        "radiation_wall_s": {name: t["radiation_wall_s"] for name, t in timing.items()},
        "radiation_wall_s_after_first_call": {
            name: t["radiation_wall_s_after_first_call"] for name, t in timing.items()
        },
        "radiation_cpu_s": {name: t["radiation_cpu_s"] for name, t in timing.items()},
        "radiation_fraction_of_wall": {name: t["radiation_wall_fraction"] for name, t in timing.items()},
        "radiation_speedup_wall": timing["physics"]["radiation_wall_s_after_first_call"]
        / timing["emulator"]["radiation_wall_s_after_first_call"]
        if timing["emulator"]["radiation_wall_s_after_first_call"] > 0 else None,
        "emulator_fallback_columns": None if fallback_before is None else fallback_after - fallback_before,
    }  # fmt: skip
    return OnlineComparison(physics, emulator, metrics, summary)


def plot_online_drift(comparison: OnlineComparison, *, title: str = ""):
    """Drift curves as a matplotlib Figure (the caller saves it, e.g. ``fig.savefig("drift.png")``).

    Left: temperature RMSE (emulator vs physics) against time, one line per case, an ``x`` where
    the emulator run crashed. Right: surface temperature against time, physics solid and emulator
    dashed in the same colour per case. The Figure is not registered with pyplot (no backend
    needed, nothing to close).
    """
    import matplotlib
    from matplotlib.figure import Figure

    metrics, physics, emulator = comparison.metrics, comparison.physics, comparison.emulator
    time_days = metrics["time"].values
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    drift, surface = fig.subplots(1, 2)
    colours = matplotlib.colormaps["tab10"]
    for case in range(metrics.sizes["column"]):
        colour = colours(case % 10)
        drift.plot(time_days, metrics["temperature_rmse_K"].values[case], color=colour, lw=1)
        crash = metrics["emulator_crash_time_days"].values[case]
        if np.isfinite(crash):
            good = metrics["temperature_rmse_K"].values[case]
            last = good[np.isfinite(good)]
            drift.plot([crash], [last[-1] if last.size else 0.0], "x", color=colour, ms=8)
        surface.plot(time_days, physics["surface_temperature"].values[case], "-", color=colour, lw=1)
        surface.plot(time_days, emulator["surface_temperature"].values[case], "--", color=colour, lw=1)
    drift.set_xlabel("time (days)")
    drift.set_ylabel("temperature RMSE vs physics (K, mass-weighted)")
    drift.set_title("drift (x: emulator run crashed)")
    surface.set_xlabel("time (days)")
    surface.set_ylabel("surface temperature (K)")
    surface.set_title("physics (solid) and emulator (dashed)")
    summary = comparison.summary
    survived = f"{summary['emulator_survived']}/{summary['cases']} emulator runs survived {summary['days']:g} days"
    fig.suptitle(title or survived)
    return fig
