"""The column physics a host steps (convective adjustment, bulk surface fluxes) through the contract."""

from __future__ import annotations

import numpy as np
import pytest

from subgrid.core.contract import Parameterization
from subgrid.core.errors import InputError
from subgrid.physics.constants import RRTMG
from subgrid.physics.convection import ConvectiveAdjustment, convective_adjustment
from subgrid.physics.surface import BulkSurfaceFluxes, bulk_surface_fluxes_W_per_m2
from subgrid.physics.thermodynamics import column_enthalpy_J_per_m2

from conftest import make_columns


def _state(n_columns: int = 3) -> dict[str, np.ndarray]:
    columns = make_columns(n_columns, 30)
    state = {name: columns[name].values.copy() for name in
             ("air_temperature", "air_pressure", "air_pressure_on_interface", "specific_humidity", "surface_temperature")}
    state["air_temperature"][:, :4] += np.array([8.0, 4.0, 2.0, 0.0])  # a superadiabatic bottom to adjust
    return state


def test_convective_adjustment_tendency_reaches_the_adjusted_state_and_conserves_enthalpy():
    state = _state()
    before = {name: value.copy() for name, value in state.items()}
    scheme = ConvectiveAdjustment(lapse_rate_K_per_km=6.5, time_step_s=600.0)
    assert isinstance(scheme, Parameterization) and set(scheme.inputs) <= set(state)
    tendency = scheme.tendencies(state)["air_temperature_tendency"]
    for name, value in before.items():  # pure
        np.testing.assert_array_equal(state[name], value)
    adjusted = convective_adjustment(state["air_temperature"], state["air_pressure"], state["air_pressure_on_interface"])
    np.testing.assert_allclose(state["air_temperature"] + 600.0 * tendency, adjusted, rtol=0, atol=1e-10)
    assert (tendency[:, 0] < 0).all() and (tendency[:, -1] == 0).all()  # the bottom cools, the stratosphere is untouched
    heating_W_m2 = column_enthalpy_J_per_m2(tendency, state["air_pressure_on_interface"])
    enthalpy = column_enthalpy_J_per_m2(state["air_temperature"], state["air_pressure_on_interface"])
    assert np.all(np.abs(heating_W_m2 * 600.0) <= 1e-12 * enthalpy)
    with pytest.raises(InputError, match="must be > 0"):
        ConvectiveAdjustment(time_step_s=0.0)


def test_bulk_surface_fluxes_equal_the_formula_on_the_lowest_layer():
    state = _state()
    scheme = BulkSurfaceFluxes(exchange_coefficient=1.2e-3, wind_speed_m_per_s=5.0)
    assert isinstance(scheme, Parameterization)
    out = scheme.tendencies(state)
    sensible, latent = bulk_surface_fluxes_W_per_m2(
        state["surface_temperature"], state["air_temperature"][:, 0], state["specific_humidity"][:, 0],
        state["air_pressure"][:, 0], state["air_pressure_on_interface"][:, 0], 1.2e-3, 5.0,
    )  # fmt: skip
    np.testing.assert_array_equal(out["surface_upward_sensible_heat_flux"], sensible)
    np.testing.assert_array_equal(out["surface_upward_latent_heat_flux"], latent)
    # The adjusted-to-be bottom layer is ~8 K warmer than the 295 K surface: heat goes down, SH = rho c_p C U dT < 0.
    rho = state["air_pressure"][:, 0] / (RRTMG.dry_air_gas_constant_J_per_kg_K * state["air_temperature"][:, 0])
    dT = state["surface_temperature"] - state["air_temperature"][:, 0]
    np.testing.assert_allclose(sensible, rho * RRTMG.cp_dry_air_J_per_kg_K * 1.2e-3 * 5.0 * dT, rtol=1e-12)
    assert (sensible < 0).all()
    assert set(out) == set(scheme.outputs)
    assert np.all(BulkSurfaceFluxes(0.0).tendencies(state)["surface_upward_latent_heat_flux"] == 0.0)
