"""Hard convective adjustment to a critical lapse rate (Manabe & Strickler 1964), exact and enthalpy-conserving.

With hydrostatic balance a lapse rate Γ is ``d ln T / d ln p = R_d Γ / g =: κ_Γ``, so a column is
stable where ``θ_Γ = T (p₀/p)^κ_Γ`` does not decrease upward. The adjusted state is the
enthalpy-weighted isotonic regression of ``θ_Γ`` (pool adjacent violators, weights
``(p/p₀)^κ_Γ Δp``): unstable runs of layers are mixed to a neutral profile (lapse rate Γ) whose
enthalpy ``Σ c_p T Δp / g`` equals theirs, and the mixed blocks end up stably stacked, the state a
hard convective adjustment seeks. It is exact in one sweep (no iteration to a tolerance),
conserves column enthalpy to round-off and leaves stable layers untouched. Constants are RRTMG's
(sympl's ``g`` and ``R_d``; :data:`subgrid.physics.constants.RRTMG`).

Reference: Manabe, S. & Strickler, R. F. (1964), J. Atmos. Sci. 21, 361-385.
"""

from __future__ import annotations

import numpy as np

from subgrid.core.contract import Variable
from subgrid.core.errors import InputError
from subgrid.physics.constants import RRTMG
from subgrid.physics.schema import RADIATION_INPUTS

#: Reference pressure of the lapse-rate potential temperature θ_Γ (any value would do).
REFERENCE_PRESSURE_PA = 100000.0
#: Relative θ_Γ decrease below which two blocks count as neutral, not unstable (mixed blocks
#: come out of T = θ_Γ (p/p₀)^κ_Γ with a few ulps of noise).
_ROUNDOFF = 1e-12


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
    kappa = RRTMG.dry_air_gas_constant_J_per_kg_K * lapse_rate_K_per_km * 1e-3 / RRTMG.gravity_m_per_s2
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


class ConvectiveAdjustment:
    """:func:`convective_adjustment` as a :class:`~subgrid.core.contract.Parameterization`.

    ``tendencies(state)`` takes ``(column, level)`` arrays (surface first) of ``air_temperature``
    (K), ``air_pressure`` and ``air_pressure_on_interface`` (Pa) and returns the temperature
    tendency that reaches the adjusted state in one step of ``time_step_s``:
    ``air_temperature_tendency = (T_adjusted − T) / Δt`` (K s⁻¹; zero in stable layers).
    """

    def __init__(self, lapse_rate_K_per_km: float = 6.5, time_step_s: float = 1800.0) -> None:
        if not lapse_rate_K_per_km > 0.0 or not time_step_s > 0.0:
            raise InputError(f"ConvectiveAdjustment: lapse rate and time step must be > 0, got "
                             f"{lapse_rate_K_per_km!r} K/km and {time_step_s!r} s")  # fmt: skip
        self.lapse_rate_K_per_km = lapse_rate_K_per_km
        self.time_step_s = time_step_s

    def __repr__(self) -> str:
        return f"ConvectiveAdjustment({self.lapse_rate_K_per_km} K/km, dt={self.time_step_s} s)"

    @property
    def inputs(self) -> dict[str, Variable]:
        return {name: RADIATION_INPUTS[name] for name in ("air_temperature", "air_pressure", "air_pressure_on_interface")}

    @property
    def outputs(self) -> dict[str, Variable]:
        return {"air_temperature_tendency": Variable(("column", "level"), "K s-1", "temperature tendency of convective adjustment")}

    def tendencies(self, state) -> dict[str, np.ndarray]:
        temperature = np.asarray(state["air_temperature"], dtype=float)
        adjusted = convective_adjustment(temperature, np.asarray(state["air_pressure"], dtype=float),
                                         np.asarray(state["air_pressure_on_interface"], dtype=float),
                                         self.lapse_rate_K_per_km)  # fmt: skip
        return {"air_temperature_tendency": (adjusted - temperature) / self.time_step_s}
