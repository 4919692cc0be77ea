"""AD99 gravity-wave drag (MiMA cg_drag.f90): budgets, removal criteria, symmetry, input errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.physics import ad99, ad99_scheme
from subgrid.physics.ad99 import AD99Config

SCALE_HEIGHT_M = 7000.0
#: A weak packet amplitude: waves then break only within ~0.1 m/s of a critical level, which
#: isolates the critical-level and reflection criteria. ε rescales the flux to B_t regardless.
WEAK = dict(source_flux_amplitude_m2_per_s2=1e-9)


def _isothermal(n_levels: int = 80, dz_m: float = 500.0) -> dict[str, np.ndarray]:
    """Height (m, from 0) and density (kg m-3) with a 7 km scale height."""
    height = dz_m * np.arange(n_levels)
    return {"height_m": height, "density_kg_per_m3": 1.2 * np.exp(-height / SCALE_HEIGHT_M)}


def _gcm_state(n_columns: int = 6, n_levels: int = 60) -> dict[str, np.ndarray]:
    """Hydrostatic columns: 6.5 K/km troposphere, 2 K/km stratosphere, 1000 hPa to 0.1 hPa."""
    pressure = np.exp(np.linspace(np.log(1e5), np.log(10.0), n_levels))
    temperature = np.empty(n_levels)
    height = np.zeros(n_levels)
    temperature[0] = 300.0
    for i in range(1, n_levels):
        # Two passes of the hypsometric equation with the layer-mean temperature.
        guess = temperature[i - 1]
        for _ in range(2):
            dz = 287.04 / 9.8 * 0.5 * (temperature[i - 1] + guess) * np.log(pressure[i - 1] / pressure[i])
            z = height[i - 1] + dz
            guess = 300.0 - 6.5e-3 * z if z < 16e3 else 196.0 + 2e-3 * (z - 16e3)
        height[i], temperature[i] = z, guess
    rng = np.random.default_rng(7)
    u = 25.0 * np.sin(height / 9e3)[None, :] + rng.normal(0.0, 8.0, (n_columns, 1))
    v = 10.0 * np.cos(height / 6e3)[None, :] + rng.normal(0.0, 3.0, (n_columns, 1))
    return {
        "u_m_per_s": u,
        "v_m_per_s": v,
        "temperature_K": np.broadcast_to(temperature, u.shape).copy(),
        "pressure_Pa": np.broadcast_to(pressure, u.shape).copy(),
        "height_m": np.broadcast_to(height, u.shape).copy(),
        "latitude_deg": np.linspace(-60.0, 60.0, n_columns),
    }


def _layer_masses(height: np.ndarray, density: np.ndarray) -> np.ndarray:
    """ρ_half Δz (kg m-2) of the layers between levels, ghost layer above the top included."""
    z = np.append(height, 2 * height[-1] - height[-2])
    rho = np.append(density, density[-1] ** 2 / density[-2])
    return np.sqrt(rho[1:] * rho[:-1]) * np.diff(z)


def _column_momentum_Pa(drag_m_per_s_per_day: np.ndarray, height: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Σ m_i X_i (Pa): level i weighs half of each adjacent layer, as MiMA splits each layer's
    deposit between its two levels; the end levels weigh their one whole layer (the top level's
    upper layer is the ghost's, and MiMA spreads the ghost deposit with layer-below masses)."""
    layer = _layer_masses(height, density)[:-1]
    level_mass = np.concatenate([[layer[0]], 0.5 * (layer[:-1] + layer[1:]), [layer[-1]]])
    return (drag_m_per_s_per_day / 86400.0 * level_mass).sum(axis=-1)


# --------------------------------------------------------------------------------------------
# Configuration


def test_config_defaults_are_mimas():
    config = AD99Config()
    c = config.phase_speeds_m_per_s
    assert c.size == 167
    assert c[0] == pytest.approx(-99.6) and c[-1] == pytest.approx(99.6)
    np.testing.assert_allclose(np.diff(c), 1.2)
    assert config.wavenumber_per_m == pytest.approx(2 * np.pi / 300e3)
    assert (config.source_flux_amplitude_m2_per_s2, config.spectral_half_width_m_per_s) == (0.4, 35.0)
    assert config.source_stress_Pa == 4.3e-3
    assert config.min_buoyancy_frequency_squared_per_s2 == 2.5e-5
    assert (config.source_pressure_Pa, config.damp_pressure_Pa) == (31500.0, 85.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"spectral_half_width_m_per_s": -35.0}, "spectral_half_width_m_per_s"),
        ({"source_stress_Pa": float("nan")}, "source_stress_Pa"),
        ({"phase_speed_step_m_per_s": 1.3}, "phase_speed_step_m_per_s"),
        ({"damp_pressure_Pa": 5e4}, "damp_pressure_Pa"),
    ],
)
def test_config_rejects_bad_values(change, field):
    with pytest.raises(InputError, match=field):
        AD99Config(**change)


def test_source_level_is_315_hPa_at_the_equator_and_descends_poleward():
    state = _gcm_state(n_columns=7)
    pressure = state["pressure_Pa"]
    latitude = np.array([0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0])
    source = ad99.source_level_index(pressure, latitude)
    equator = source[0]
    assert pressure[0, equator] > 31500.0 > pressure[0, equator + 1]
    assert (np.diff(source) <= 0).all() and source[-1] == 1
    damp = ad99.damp_level_index(pressure)
    assert (pressure[0, damp] < 85.0).all() and (pressure[0, damp - 1] >= 85.0).all()


# --------------------------------------------------------------------------------------------
# Momentum budget


def test_drag_is_the_flux_divergence_at_half_levels():
    """X = (ρ_s/ρ_half) ε Σ B0 / Δz: each layer's deposit is the drop of the flux across it."""
    profile = _isothermal()
    height, density = profile["height_m"], profile["density_kg_per_m3"]
    wind = 30.0 * np.sin(height / 6e3) + 5.0
    source = 4
    result = ad99.gw_drag_component(wind, 0.02, density, height, source)
    assert result.removed_flux_Pa == 0.0  # nothing reflects with N = 0.02 s-1
    flux = result.flux_Pa
    layer = _layer_masses(height, density)
    deposit = flux[1:-1] - flux[2:]  # layer j (levels j, j+1): flux above level j minus above j+1
    x_half = deposit / layer[:-1] * 86400.0
    expected = 0.5 * (np.concatenate([[0.0], x_half[:-1]]) + x_half)
    drag = result.drag_m_per_s_per_day
    np.testing.assert_allclose(drag[source + 1 : -1], expected[source + 1 :], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(drag[source], 0.5 * x_half[source], rtol=1e-10)
    assert np.abs(drag).max() > 1.0  # the profile does drive the flow


def test_column_momentum_equals_launched_minus_removed_flux():
    """Σ ρ X Δz = launched flux - flux removed without deposition; nothing escapes the lid.

    A low-N westerly layer aloft reflects the westward waves (|c - u| large), so the net deposit
    is eastward, the size of the reflected flux (to O((Δz/H)²) from MiMA's level averaging).
    """
    profile = _isothermal(n_levels=100, dz_m=400.0)
    height, density = profile["height_m"], profile["density_kg_per_m3"]
    layer = (height > 15e3) & (height < 20e3)
    wind = np.where(height > 15e3, 30.0, 30.0 * height / 15e3)
    frequency = np.where(layer, 0.005, 0.02)
    config = AD99Config()
    result = ad99.gw_drag_component(wind, frequency, density, height, source_index=5, config=config)
    integral = _column_momentum_Pa(result.drag_m_per_s_per_day, height, density)
    assert result.removed_flux_Pa < -0.05 * config.source_stress_Pa
    assert result.flux_Pa[-1] != 0.0  # some flux reaches the lid and is deposited below it
    expected = result.launched_flux_Pa - result.removed_flux_Pa
    assert integral == pytest.approx(expected, abs=5e-4 * config.source_stress_Pa)
    assert integral > 0.05 * config.source_stress_Pa


def test_momentum_is_conserved_in_gcm_columns_for_both_components():
    state = _gcm_state()
    result = ad99.gw_drag_from_state(**state)
    density = ad99.air_density(state["pressure_Pa"][0], state["temperature_K"][0])  # same in all columns
    for component in (result.eastward, result.northward):
        integral = _column_momentum_Pa(component.drag_m_per_s_per_day, state["height_m"][0], density)
        expected = component.launched_flux_Pa - component.removed_flux_Pa
        np.testing.assert_allclose(integral, expected, atol=2e-3 * AD99Config().source_stress_Pa)


# --------------------------------------------------------------------------------------------
# Removal criteria


def test_wave_is_removed_at_its_critical_level():
    """c = ±20 m/s; u rises through 20 m/s between levels 39 and 40: the eastward wave deposits
    all of its B_t/2 there; the westward one passes on."""
    profile = _isothermal()
    height, density = profile["height_m"], profile["density_kg_per_m3"]
    wind = 0.5 * np.arange(height.size) + 0.25 - 0.25 * (np.arange(height.size) < 1)
    config = AD99Config(max_phase_speed_m_per_s=20.0, phase_speed_step_m_per_s=40.0, **WEAK)
    result = ad99.gw_drag_component(wind, 0.02, density, height, source_index=0, config=config)
    half = config.source_stress_Pa / 2
    flux = result.flux_Pa
    assert flux[40] == pytest.approx(0.0, abs=1e-15)  # above level 39: both waves, net zero
    assert flux[41] == pytest.approx(-half)  # above level 40: only the westward wave
    drag = result.drag_m_per_s_per_day
    assert drag[39] > 0 and drag[40] > 0
    others = np.delete(drag[:-1], [39, 40])
    assert np.abs(others).max() == 0.0
    layer = _layer_masses(height, density)[39]
    assert (drag[39] + drag[40]) / 86400.0 * layer == pytest.approx(half, rel=1e-12)


def test_reflection_removes_the_wave_without_deposition():
    """c = ±90 m/s; where N is small (0.004 s-1, floored to 0.005) and u = -30 m/s, |c - u| = 120
    exceeds the reflection speed N/sqrt(k² + 1/4H²) ≈ 67 m/s for the eastward wave only (the
    westward wave's 60 m/s would reflect too without the N² floor)."""
    profile = _isothermal()
    height, density = profile["height_m"], profile["density_kg_per_m3"]
    wind = np.where(height > 10e3, -30.0, 0.0)
    frequency = np.where(height > 12e3, 0.004, 0.02)
    config = AD99Config(max_phase_speed_m_per_s=90.0, phase_speed_step_m_per_s=180.0, **WEAK)
    result = ad99.gw_drag_component(wind, frequency, density, height, source_index=0, config=config)
    half = config.source_stress_Pa / 2
    assert result.removed_flux_Pa == pytest.approx(half)
    assert result.drag_m_per_s_per_day.max() <= 0.0  # no eastward momentum deposited anywhere
    reflecting = np.flatnonzero(height > 12e3)[0]
    assert result.flux_Pa[reflecting] == pytest.approx(0.0, abs=1e-15)
    assert result.flux_Pa[reflecting + 1] == pytest.approx(-half)
    integral = _column_momentum_Pa(result.drag_m_per_s_per_day, height, density)
    assert integral == pytest.approx(-half, rel=1e-3)


def test_symmetric_spectrum_in_zero_wind_gives_zero_drag():
    state = _gcm_state()
    calm = np.zeros_like(state["u_m_per_s"])
    result = ad99.gw_drag_from_state(**{**state, "u_m_per_s": calm, "v_m_per_s": calm})
    for component in (result.eastward, result.northward):
        np.testing.assert_allclose(component.drag_m_per_s_per_day, 0.0, atol=1e-12)
        np.testing.assert_allclose(component.flux_Pa, 0.0, atol=1e-15)
    windy = ad99.gw_drag_from_state(**state)
    assert np.abs(windy.eastward.drag_m_per_s_per_day).max() > 0.1  # the zero above is not vacuous


def test_components_are_independent_projections():
    state = _gcm_state()
    both = ad99.gw_drag_from_state(**state)
    swapped = ad99.gw_drag_from_state(**{**state, "u_m_per_s": state["v_m_per_s"], "v_m_per_s": state["u_m_per_s"]})
    np.testing.assert_array_equal(both.northward.drag_m_per_s_per_day, swapped.eastward.drag_m_per_s_per_day)
    np.testing.assert_array_equal(both.eastward.flux_Pa, swapped.northward.flux_Pa)


def test_leading_axes_are_columns():
    state = _gcm_state(n_columns=6)
    flat = ad99.gw_drag_from_state(**state)
    shaped = ad99.gw_drag_from_state(
        **{name: value.reshape(2, 3, *value.shape[1:]) for name, value in state.items()}
    )
    assert shaped.eastward.drag_m_per_s_per_day.shape == (2, 3, 60)
    assert shaped.eastward.flux_Pa.shape == (2, 3, 61)
    np.testing.assert_array_equal(
        shaped.eastward.drag_m_per_s_per_day.reshape(6, 60), flat.eastward.drag_m_per_s_per_day
    )


# --------------------------------------------------------------------------------------------
# Bad input


def test_nan_wind_is_rejected_naming_variable_and_column():
    state = _gcm_state()
    state["v_m_per_s"][2, 10] = np.nan
    with pytest.raises(InputError, match=r"v_m_per_s: .*NaN.*column 2, level 10"):
        ad99.gw_drag_from_state(**state)


def test_non_monotonic_height_is_rejected():
    profile = _isothermal()
    height = np.tile(profile["height_m"], (3, 1))
    height[1, 20] = height[1, 19]
    with pytest.raises(InputError, match=r"height_m: not strictly increasing.*column 1, level 19"):
        ad99.gw_drag_component(np.zeros((3, 80)), 0.02, profile["density_kg_per_m3"], height, 0)


def test_non_monotonic_pressure_is_rejected():
    state = _gcm_state()
    state["pressure_Pa"][4, 30] = state["pressure_Pa"][4, 28]
    with pytest.raises(InputError, match=r"pressure_Pa: not strictly decreasing.*column 4"):
        ad99.gw_drag_from_state(**state)


def test_wrong_shapes_are_rejected():
    profile = _isothermal()
    with pytest.raises(InputError, match="density_kg_per_m3: shape"):
        ad99.gw_drag_component(np.zeros((3, 80)), 0.02, profile["density_kg_per_m3"][:50], profile["height_m"], 0)
    with pytest.raises(InputError, match="v_m_per_s: shape"):
        ad99.gw_drag(np.zeros((3, 80)), np.zeros((2, 80)), 0.02, profile["density_kg_per_m3"], profile["height_m"], 0)
    with pytest.raises(InputError, match="source_index: 80 outside"):
        ad99.gw_drag_component(np.zeros(80), 0.02, profile["density_kg_per_m3"], profile["height_m"], 80)


def test_density_increasing_upward_is_rejected():
    profile = _isothermal()
    with pytest.raises(InputError, match="density_kg_per_m3: not strictly decreasing"):
        ad99.gw_drag_component(np.zeros(80), 0.02, profile["density_kg_per_m3"][::-1], profile["height_m"], 0)


# --------------------------------------------------------------------------------------------
# xarray interface


def _dataset(state: dict[str, np.ndarray]) -> xr.Dataset:
    return xr.Dataset(
        {
            "eastward_wind": (("column", "level"), state["u_m_per_s"], {"units": "m s-1"}),
            "northward_wind": (("column", "level"), state["v_m_per_s"], {"units": "m/s"}),
            "air_temperature": (("column", "level"), state["temperature_K"], {"units": "K"}),
            "latitude": (("column",), state["latitude_deg"], {"units": "degrees_north"}),
        },
        coords={"air_pressure": (("level",), state["pressure_Pa"][0] / 100.0, {"units": "hPa"})},
        attrs={"vertical_order": "surface_first"},
    )


def test_dataset_wrapper_matches_array_api_and_converts_units():
    state = _gcm_state()
    ds = _dataset(state).assign(height=(("level",), state["height_m"][0] / 1e3, {"units": "km"}))
    out = ad99_scheme.gw_drag_dataset(ds)
    arrays = ad99.gw_drag_from_state(**state)
    np.testing.assert_allclose(
        out["eastward_gravity_wave_drag"].values, arrays.eastward.drag_m_per_s_per_day, rtol=1e-12
    )
    np.testing.assert_allclose(
        out["northward_gravity_wave_momentum_flux"].values, arrays.northward.flux_Pa, rtol=1e-12, atol=1e-18
    )
    assert out["eastward_gravity_wave_drag"].attrs["units"] == "m s-1 day-1"
    assert out["eastward_gravity_wave_momentum_flux"].dims == ("column", "interface")
    assert "source_stress_Pa" in out.attrs["ad99_settings"]


def test_dataset_wrapper_integrates_height_hydrostatically():
    state = _gcm_state()
    height = (("level",), state["height_m"][0], {"units": "m"})
    with_height = ad99_scheme.gw_drag_dataset(_dataset(state).assign(height=height))
    without = ad99_scheme.gw_drag_dataset(_dataset(state))
    # The fixture's heights come from the same hypsometric equation (different temperature averaging).
    np.testing.assert_allclose(
        without["eastward_gravity_wave_drag"].values, with_height["eastward_gravity_wave_drag"].values, atol=0.05
    )


def test_dataset_wrapper_keeps_top_first_order():
    state = _gcm_state()
    ds = _dataset(state)
    flipped = ds.isel(level=slice(None, None, -1)).assign_attrs(vertical_order="top_first")
    out = ad99_scheme.gw_drag_dataset(ds)
    out_flipped = ad99_scheme.gw_drag_dataset(flipped)
    assert out_flipped.attrs["vertical_order"] == "top_first"
    np.testing.assert_array_equal(
        out_flipped["eastward_gravity_wave_drag"].values[:, ::-1], out["eastward_gravity_wave_drag"].values
    )
    np.testing.assert_array_equal(
        out_flipped["eastward_gravity_wave_momentum_flux"].values[:, ::-1],
        out["eastward_gravity_wave_momentum_flux"].values,
    )


def test_dataset_wrapper_rejects_bad_input_by_name():
    state = _gcm_state()
    ds = _dataset(state)
    with pytest.raises(InputError, match="northward_wind: no 'units'"):
        ad99_scheme.gw_drag_dataset(ds.assign(northward_wind=(("column", "level"), state["v_m_per_s"])))
    with pytest.raises(InputError, match="air_temperature: units 'degF'"):
        ad99_scheme.gw_drag_dataset(ds.assign(air_temperature=ds["air_temperature"].assign_attrs(units="degF")))
    with pytest.raises(InputError, match="missing variable.*latitude"):
        ad99_scheme.gw_drag_dataset(ds.drop_vars("latitude"))
    bad = ds.copy(deep=True)
    bad["air_temperature"][3, 5] = np.nan
    with pytest.raises(InputError, match=r"air_temperature: .*NaN.*column 3, level 5"):
        ad99_scheme.gw_drag_dataset(bad)
    with pytest.raises(InputError, match="vertical_order attribute"):
        ad99_scheme.gw_drag_dataset(ds.assign_attrs(vertical_order="top_first"))


def test_ad99_parameterization_equals_the_dataset_and_array_paths():
    from subgrid.core.contract import Parameterization

    state = _gcm_state()
    scheme = ad99_scheme.AD99()
    assert isinstance(scheme, Parameterization)
    ds = _dataset(state).assign(height=(("level",), state["height_m"][0], {"units": "m"}))
    from_dataset = scheme.tendencies(ds)
    xr.testing.assert_identical(from_dataset, ad99_scheme.gw_drag_dataset(ds))
    arrays = {
        "eastward_wind": state["u_m_per_s"], "northward_wind": state["v_m_per_s"],
        "air_temperature": state["temperature_K"], "air_pressure": state["pressure_Pa"],
        "latitude": state["latitude_deg"], "height": state["height_m"],
    }  # fmt: skip
    before = {name: np.array(value) for name, value in arrays.items()}
    out = scheme.tendencies(arrays)
    assert set(out) == set(scheme.outputs)
    # The dataset's pressures are in hPa: converted back to Pa they differ from the arrays' by an ulp.
    np.testing.assert_allclose(
        out["eastward_gravity_wave_drag"], from_dataset["eastward_gravity_wave_drag"].values, rtol=1e-12, atol=1e-15
    )
    np.testing.assert_array_equal(out["eastward_gravity_wave_drag"], ad99.gw_drag_from_state(
        **state).eastward.drag_m_per_s_per_day)  # fmt: skip
    for name, value in before.items():  # pure: the state is not changed
        np.testing.assert_array_equal(arrays[name], value)
    with pytest.raises(InputError, match="missing latitude"):
        scheme.tendencies({k: v for k, v in arrays.items() if k != "latitude"})
