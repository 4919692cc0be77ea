"""Moist thermodynamics of the column physics: saturation, humidity conversions, enthalpy.

Pure numpy functions, vectorised over any leading axes; units in the names.
"""

from __future__ import annotations

import numpy as np

from subgrid.physics.constants import EPSILON, KAPPA_DRY_AIR, MELTING_POINT_K, RRTMG


def saturation_vapor_pressure_Pa(temperature_K: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure over liquid water above 273.15 K and over ice below, in Pa.

    Magnus forms of Alduchov & Eskridge (1996): ``610.94 exp(17.625 t / (t + 243.04))`` over water
    and ``611.21 exp(22.587 t / (t + 273.86))`` over ice, ``t`` in degrees Celsius (the two agree
    to 0.05 % at the melting point).
    """
    t = np.asarray(temperature_K, dtype=float) - MELTING_POINT_K
    over_water = 610.94 * np.exp(17.625 * t / (t + 243.04))
    over_ice = 611.21 * np.exp(22.587 * t / (t + 273.86))
    return np.where(t > 0.0, over_water, over_ice)


def saturation_mole_fraction(temperature_K: np.ndarray, pressure_Pa: np.ndarray) -> np.ndarray:
    """``e*(T) / p`` (over water above 273.15 K, ice below; Alduchov & Eskridge 1996)."""
    return saturation_vapor_pressure_Pa(temperature_K) / pressure_Pa


def specific_humidity_kg_per_kg(vapour_mole_fraction: np.ndarray) -> np.ndarray:
    """``q = ε x / (1 − (1 − ε) x)`` for a vapour mole fraction ``x = e / p`` of moist air."""
    return EPSILON * vapour_mole_fraction / (1.0 - (1.0 - EPSILON) * vapour_mole_fraction)


def vapour_mole_fraction(specific_humidity: np.ndarray) -> np.ndarray:
    """Inverse of :func:`specific_humidity_kg_per_kg`: ``x = q / (ε + (1 − ε) q)``."""
    return specific_humidity / (EPSILON + (1.0 - EPSILON) * specific_humidity)


def saturation_specific_humidity_kg_per_kg(temperature_K: np.ndarray, pressure_Pa: np.ndarray) -> np.ndarray:
    """``q*(T, p)``, the mole fraction capped at 1 (no saturation specific humidity above pure vapour)."""
    return specific_humidity_kg_per_kg(np.minimum(saturation_mole_fraction(temperature_K, pressure_Pa), 1.0))


def column_enthalpy_J_per_m2(temperature_K: np.ndarray, pressure_interface_Pa: np.ndarray) -> np.ndarray:
    """Dry enthalpy of each column, ``(c_p/g) Σ_k T_k (p_k − p_k+1)`` (surface first), J m⁻², RRTMG's constants."""
    thickness_Pa = pressure_interface_Pa[..., :-1] - pressure_interface_Pa[..., 1:]
    return RRTMG.cp_dry_air_J_per_kg_K / RRTMG.gravity_m_per_s2 * np.sum(temperature_K * thickness_Pa, axis=-1)


def potential_temperature_K(temperature_K: np.ndarray, pressure_Pa: np.ndarray,
                            reference_pressure_Pa: float = 1.0e5, kappa: float = KAPPA_DRY_AIR) -> np.ndarray:
    """``θ = T (p₀/p)^κ``."""
    return temperature_K * (reference_pressure_Pa / pressure_Pa) ** kappa
