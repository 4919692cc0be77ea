"""Turbulent surface fluxes by bulk aerodynamic formulae.

``SH = ρ₁ c_p C U (T_s − T₁)`` and ``LH = ρ₁ L_v C U (q*(T_s, p_s) − q₁)`` with ``ρ₁ = p₁ / (R_d T₁)``
on the lowest layer's temperature, humidity and pressure; one transfer coefficient ``C`` for heat
and moisture, wind speed ``U``; ``q*`` over water above 273.15 K and over ice below
(:func:`~subgrid.physics.thermodynamics.saturation_specific_humidity_kg_per_kg`). Constants are
RRTMG's ``c_p`` and ``R_d`` (:data:`subgrid.physics.constants.RRTMG`), so the heat the surface gives
the air closes the host's energy budget with the radiation's own heating.
"""

from __future__ import annotations

import numpy as np

from subgrid.physics.constants import LATENT_HEAT_VAPORIZATION_J_PER_KG, RRTMG
from subgrid.physics.thermodynamics import saturation_specific_humidity_kg_per_kg


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
    density = pressure_Pa / (RRTMG.dry_air_gas_constant_J_per_kg_K * air_temperature_K)
    conductance = density * exchange_coefficient * wind_speed_m_per_s
    saturation = saturation_specific_humidity_kg_per_kg(surface_temperature_K, surface_pressure_Pa)
    sensible = conductance * RRTMG.cp_dry_air_J_per_kg_K * (surface_temperature_K - air_temperature_K)
    latent = conductance * LATENT_HEAT_VAPORIZATION_J_PER_KG * (saturation - specific_humidity)
    return sensible, latent
