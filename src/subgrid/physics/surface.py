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

from subgrid.core.contract import Variable
from subgrid.core.errors import InputError
from subgrid.physics.constants import LATENT_HEAT_VAPORIZATION_J_PER_KG, RRTMG
from subgrid.physics.schema import RADIATION_INPUTS
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


class BulkSurfaceFluxes:
    """:func:`bulk_surface_fluxes_W_per_m2` as a :class:`~subgrid.core.contract.Parameterization`.

    ``tendencies(state)`` reads ``surface_temperature`` (K, per column) and the lowest layer
    (index 0, surface first) of the ``(column, level)`` arrays ``air_temperature`` (K),
    ``specific_humidity`` (kg/kg) and ``air_pressure`` (Pa), with the surface pressure
    ``air_pressure_on_interface[:, 0]``; it returns the upward sensible and latent heat fluxes
    (W m⁻², per column).
    """

    def __init__(self, exchange_coefficient: float = 1.2e-3, wind_speed_m_per_s: float = 5.0) -> None:
        if exchange_coefficient < 0.0 or wind_speed_m_per_s < 0.0:
            raise InputError(f"BulkSurfaceFluxes: exchange coefficient and wind speed must be >= 0, got "
                             f"{exchange_coefficient!r} and {wind_speed_m_per_s!r} m/s")  # fmt: skip
        self.exchange_coefficient = exchange_coefficient
        self.wind_speed_m_per_s = wind_speed_m_per_s

    def __repr__(self) -> str:
        return f"BulkSurfaceFluxes(C={self.exchange_coefficient}, U={self.wind_speed_m_per_s} m/s)"

    @property
    def inputs(self) -> dict[str, Variable]:
        names = ("surface_temperature", "air_temperature", "specific_humidity", "air_pressure", "air_pressure_on_interface")
        return {name: RADIATION_INPUTS[name] for name in names}

    @property
    def outputs(self) -> dict[str, Variable]:
        return {
            "surface_upward_sensible_heat_flux": Variable(("column",), "W m-2", "upward sensible heat flux at the surface"),
            "surface_upward_latent_heat_flux": Variable(("column",), "W m-2", "upward latent heat flux at the surface"),
        }

    def tendencies(self, state) -> dict[str, np.ndarray]:
        lowest = {name: np.asarray(state[name], dtype=float)[:, 0]
                  for name in ("air_temperature", "specific_humidity", "air_pressure", "air_pressure_on_interface")}  # fmt: skip
        sensible, latent = bulk_surface_fluxes_W_per_m2(
            np.asarray(state["surface_temperature"], dtype=float), lowest["air_temperature"],
            lowest["specific_humidity"], lowest["air_pressure"], lowest["air_pressure_on_interface"],
            self.exchange_coefficient, self.wind_speed_m_per_s,
        )  # fmt: skip
        return {"surface_upward_sensible_heat_flux": sensible, "surface_upward_latent_heat_flux": latent}


def implicit_bulk_exchange(surface_temperature_K, surface_pressure_Pa, air_temperature_K, specific_humidity,
                           eastward_wind_m_per_s, northward_wind_m_per_s, pressure_Pa, layer_thickness_Pa,
                           dt_s: float, gustiness_m_per_s: float = 3.0, heat_exchange_coefficient: float = 1.1e-3):  # fmt: skip
    """One implicit step of bulk surface exchange into the lowest layer (per column arrays).

    Heat and moisture relax the lowest layer's potential temperature and humidity towards the
    surface's (``θ_s = T_s (p_s/p₁)^κ``-scaled, ``q*(T_s, p_s)``) with conductance
    ``ρ₁ C U``, ``U = √(u² + v² + gustiness²)`` (gustiness keeps fluxes alive in calm air), the
    wind decays with drag coefficient ``C_d = min(7e-4 + 6.5e-5 U, 2e-3)`` (Large & Pond-like);
    backward Euler over ``dt_s`` in the layer of mass ``Δp / g``, so a long step cannot overshoot.

    Returns ``(T₁, q₁, u₁, v₁, sensible, latent)``: the new lowest-layer values and the upward
    fluxes (W m⁻²) the step implies (they close the layer's enthalpy and water budgets exactly).
    """
    g, cp, rd = RRTMG.gravity_m_per_s2, RRTMG.cp_dry_air_J_per_kg_K, RRTMG.dry_air_gas_constant_J_per_kg_K
    density = pressure_Pa / (rd * air_temperature_K * (1.0 + 0.608 * specific_humidity))
    speed = np.sqrt(eastward_wind_m_per_s**2 + northward_wind_m_per_s**2 + gustiness_m_per_s**2)
    drag = np.minimum(7e-4 + 6.5e-5 * speed, 2e-3)
    a_heat = density * heat_exchange_coefficient * speed * g * dt_s / layer_thickness_Pa
    a_momentum = density * drag * speed * g * dt_s / layer_thickness_Pa
    exner = (surface_pressure_Pa / pressure_Pa) ** (rd / cp)
    theta = air_temperature_K * exner
    theta_new = (theta + a_heat * surface_temperature_K) / (1.0 + a_heat)
    saturation = saturation_specific_humidity_kg_per_kg(surface_temperature_K, surface_pressure_Pa)
    q_new = (specific_humidity + a_heat * saturation) / (1.0 + a_heat)
    temperature_new = theta_new / exner
    sensible = (temperature_new - air_temperature_K) * cp * layer_thickness_Pa / (g * dt_s)
    latent = (q_new - specific_humidity) * LATENT_HEAT_VAPORIZATION_J_PER_KG * layer_thickness_Pa / (g * dt_s)
    damping = 1.0 / (1.0 + a_momentum)
    return (temperature_new, q_new, eastward_wind_m_per_s * damping, northward_wind_m_per_s * damping,
            sensible, latent)  # fmt: skip
