"""1-D QBO host and its wave sources: numerics against closed forms, the drag contract, diagnostics, reference runs.

Reference values are docs/REFERENCE.md section 4 (qbo1d): two-wave Plumb forcing, period 26-27 months
and σ(u) at 25 km ≈ 23.5 m/s; stochastic forcing ≈ 26 months; AD99 column ≈ 27 months.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from subgrid.core.contract import Guarded, Parameterization, Variable
from subgrid.core.errors import InputError
from subgrid.hosts.qbo import model as qbo
from subgrid.hosts.qbo.model import QBOConfig, blew_up
from subgrid.physics.qbo_waves import (
    QBO_DRAG_OUTPUTS,
    AD99Column,
    PlumbTwoWave,
    QBOState,
    StochasticWaves,
    plumb_dissipation_rate_per_s,
)

from conftest import PhysicsAsEmulator


def _state(u: np.ndarray, config: QBOConfig = QBOConfig(), step: int = 0, seed: int = 0) -> QBOState:
    return config.state(u, step=step, seed=seed)


class WindDrag:
    """A drag ``f(u)`` of the wind alone, for closed-form tests of the host."""

    inputs = {"u_m_per_s": Variable(("level",), "m s-1", "zonal-mean zonal wind")}
    outputs = QBO_DRAG_OUTPUTS

    def __init__(self, of_wind) -> None:
        self.of_wind = of_wind

    def tendencies(self, state: QBOState) -> dict:
        return {"drag": self.of_wind(state.u_m_per_s)}


def _synthetic_run(period_months: float, years: float = 40.0) -> xr.Dataset:
    time = np.arange(0.0, years * 360.0 + 1.0)
    height = QBOConfig().height_m
    phase = 2 * np.pi * time[:, None] / (period_months * 30.0) - (height[None, :] - 17e3) / 4e3
    return xr.Dataset(
        {"u": (("time", "height"), 20.0 * np.sin(phase) + 3.0, {"units": "m s-1"})},
        coords={"time": time, "height": height},
    )


# --------------------------------------------------------------------------------------------
# Configuration and numerics


def test_config_grid_and_isothermal_background():
    config = QBOConfig()
    z = config.height_m
    assert z.size == 73 and z[0] == 17e3 and z[-1] == 35e3
    assert config.scale_height_m == pytest.approx(5975.0, abs=1.0)
    rho = config.density_kg_per_m3
    np.testing.assert_allclose(rho[1:] / rho[:-1], np.exp(-250.0 / config.scale_height_m))
    assert rho[0] == pytest.approx(0.1006, rel=1e-3)  # qbo1d's ρ(17 km)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"level_spacing_m": 700.0}, "level_spacing_m"), ({"diffusivity_m2_per_s": -0.1}, "diffusivity_m2_per_s")],
)
def test_config_rejects_bad_values(change, field):
    with pytest.raises(InputError, match=field):
        QBOConfig(**change)


def test_diffusion_damps_the_gravest_mode_at_the_analytic_rate():
    """No drag, no upwelling: u = sin(π(z - z0)/D) decays as exp(-κ λ t), with the grid's
    eigenvalue λ = (2 - 2 cos(π Δz/D)) / Δz²."""
    config = QBOConfig(upwelling_m_per_s=0.0)
    depth = config.top_height_m - config.bottom_height_m
    u0 = 10.0 * np.sin(np.pi * (config.height_m - config.bottom_height_m) / depth)
    u0[[0, -1]] = 0.0
    run = qbo.run_qbo(config, WindDrag(np.zeros_like), years=1.0, u0=u0)
    dz = config.level_spacing_m
    rate = config.diffusivity_m2_per_s * (2.0 - 2.0 * np.cos(np.pi * dz / depth)) / dz**2
    expected = u0 * np.exp(-rate * 360.0 * 86400.0)
    np.testing.assert_allclose(run["u"].values[-1], expected, rtol=1e-5, atol=1e-12)


def test_boundaries_stay_at_zero_and_drag_accelerates_the_interior():
    config = QBOConfig()
    run = qbo.run_qbo(config, WindDrag(np.ones_like), years=10 / 360, u0=np.zeros(73))
    u = run["u"].values
    assert (u[:, 0] == 0.0).all() and (u[:, -1] == 0.0).all()
    assert u[-1, 36] == pytest.approx(10.0, rel=1e-3)  # 1 m/s/day for 10 days, far from the walls
    np.testing.assert_array_equal(run["drag"].values[:, [0, -1]], 0.0)
    np.testing.assert_array_equal(run["drag"].values[:, 1:-1], 1.0)


def test_drag_contract_and_initial_state_are_checked():
    config = QBOConfig()
    with pytest.raises(InputError, match=r"drag: returned shape \(72,\)"):
        qbo.run_qbo(config, WindDrag(lambda u: u[1:]), years=1.0)
    with pytest.raises(InputError, match="not a Parameterization"):
        qbo.run_qbo(config, lambda u, state: u, years=1.0)
    with pytest.raises(InputError, match="u0: must be 0 at both boundaries"):
        qbo.run_qbo(config, PlumbTwoWave(), years=1.0, u0=np.ones(73))
    with pytest.raises(InputError, match="u0: shape"):
        qbo.run_qbo(config, PlumbTwoWave(), years=1.0, u0=np.zeros(10))


# --------------------------------------------------------------------------------------------
# Drag sources


def test_plumb_drag_deposits_the_absorbed_flux_eastward():
    """One eastward wave: drag >= 0 and Σ ρ·drag·Δz = A - F(top), F = A exp(-∫ α N/(k (c-u)²) dz)."""
    config = QBOConfig()
    z, rho = config.height_m, config.density_kg_per_m3
    u = 15.0 * np.sin(np.pi * (z - 17e3) / 18e3)
    amplitude, speed = 6e-4, 32.0
    drag = PlumbTwoWave((amplitude,), (speed,), (1,)).tendencies(_state(u, config))["drag"]
    assert (drag >= 0.0).all()
    k = 2 * np.pi / 4e7
    alpha = plumb_dissipation_rate_per_s(z)
    depth = np.trapezoid(config.buoyancy_frequency_per_s * alpha / (k * (speed - u) ** 2), z)
    # Centred differences lose half of the first layer's absorption: ~1 % here.
    absorbed = amplitude * (1.0 - np.exp(-depth))
    deposited = (rho * drag / 86400.0).sum() * config.level_spacing_m
    assert deposited == pytest.approx(absorbed, rel=0.02)


@pytest.mark.parametrize("source", [PlumbTwoWave(), StochasticWaves(), AD99Column()], ids=type)
def test_sources_are_parameterizations_reading_only_what_they_declare(source):
    assert isinstance(source, Parameterization)
    assert set(source.inputs) <= {f.name for f in dataclasses.fields(QBOState)}
    assert set(source.outputs) == {"drag"} and source.outputs["drag"].units == "m s-1 day-1"
    state = _state(np.linspace(-20.0, 20.0, 73), step=4, seed=1)
    before = state.u_m_per_s.copy()
    first = source.tendencies(state)["drag"]
    np.testing.assert_array_equal(source.tendencies(state)["drag"], first)  # pure
    np.testing.assert_array_equal(state.u_m_per_s, before)


def test_symmetric_spectra_exert_no_drag_on_calm_air():
    state = _state(np.zeros(73))
    for source in (PlumbTwoWave(), StochasticWaves(), AD99Column()):
        np.testing.assert_allclose(source.tendencies(state)["drag"], 0.0, atol=1e-12)


def test_sources_accept_a_batch_of_profiles():
    z = QBOConfig().height_m
    batch = np.stack([10.0 * np.sin(np.pi * (z - 17e3) / 18e3 * m) for m in (1, 2, 3)])
    batch[:, [0, -1]] = 0.0
    for source in (PlumbTwoWave(), StochasticWaves(), AD99Column()):
        together = source.tendencies(_state(batch, step=3))["drag"]
        assert together.shape == batch.shape
        for member in range(3):
            alone = source.tendencies(_state(batch[member], step=3))["drag"]
            np.testing.assert_allclose(together[member], alone, rtol=1e-12, atol=1e-15)


def test_stochastic_draws_are_reproducible_with_the_stated_moments():
    source = StochasticWaves()
    assert source.sample(seed=5, step=10) == source.sample(seed=5, step=10)
    assert source.sample(seed=5, step=10) != source.sample(seed=6, step=10)
    draws = np.array([source.sample(seed=1, step=step) for step in range(20000)])
    flux, width = draws.T
    assert flux.mean() == pytest.approx(3.7e-3, rel=0.01)
    assert width.mean() == pytest.approx(32.0, rel=0.02)
    assert flux.var() == pytest.approx(1e-8, rel=0.05)
    assert width.var() == pytest.approx(225.0, rel=0.08)
    assert np.corrcoef(np.log(flux), np.log(width))[0, 1] == pytest.approx(0.75, abs=0.02)


# --------------------------------------------------------------------------------------------
# Diagnostics


@pytest.mark.parametrize("method", ["fourier", "transitions"])
def test_period_diagnostics_recover_a_synthetic_sine(method):
    run = _synthetic_run(period_months=28.0)
    assert qbo.qbo_period_months(run, spinup_years=3.0, method=method) == pytest.approx(28.0, rel=5e-3)


def test_amplitude_is_the_standard_deviation():
    run = _synthetic_run(period_months=24.0, years=24.0)  # a whole number of periods
    assert qbo.qbo_amplitude(run, spinup_years=0.0) == pytest.approx(20.0 / np.sqrt(2.0), rel=1e-3)
    assert qbo.qbo_amplitude(run, spinup_years=0.0, height_m=20e3) == pytest.approx(20.0 / np.sqrt(2.0), rel=1e-3)


def test_diagnostics_reject_short_or_broken_runs():
    run = _synthetic_run(period_months=28.0, years=5.0)
    with pytest.raises(InputError, match="spinup_years"):
        qbo.qbo_period_months(run, spinup_years=6.0)
    with pytest.raises(InputError, match="method"):
        qbo.qbo_period_months(run, spinup_years=1.0, method="wavelet")
    broken = run.copy(deep=True)
    broken["u"][500, :] = np.nan
    with pytest.raises(InputError, match="u: non-finite"):
        qbo.qbo_amplitude(broken, spinup_years=1.0)
    calm = run.assign(u=run["u"] * 0.0 + 5.0)
    assert np.isnan(qbo.qbo_period_months(calm, spinup_years=1.0, method="transitions"))


def test_hovmoller_plot_draws_time_height_axes():
    import matplotlib

    matplotlib.use("Agg")
    run = _synthetic_run(period_months=28.0, years=2.0)
    ax = qbo.plot_hovmoller(run)
    assert ax.get_ylabel() == "height (km)" and ax.get_xlabel() == "time (years)"
    assert ax.get_xlim()[1] == pytest.approx(2.0, rel=0.01)
    import matplotlib.pyplot as plt

    plt.close(ax.figure)  # a pyplot figure (the notebook case): closed, so later tests in this process see none


# --------------------------------------------------------------------------------------------
# Runs


def test_run_layout_attrs_and_seeding():
    config = QBOConfig(upwelling_m_per_s=3e-4)
    run = qbo.run_qbo(config, StochasticWaves(), years=0.5, seed=3)
    assert run["u"].dims == ("time", "height") and run.sizes == {"time": 181, "height": 73}
    assert run["u"].attrs["units"] == "m s-1" and run["drag"].attrs["units"] == "m s-1 day-1"
    assert json.loads(run.attrs["qbo_settings"])["upwelling_m_per_s"] == 3e-4
    assert "StochasticWaves" in run.attrs["drag_source"] and run.attrs["seed"] == 3
    again = qbo.run_qbo(config, StochasticWaves(), years=0.5, seed=3)
    other = qbo.run_qbo(config, StochasticWaves(), years=0.5, seed=4)
    np.testing.assert_array_equal(run["u"].values, again["u"].values)
    assert not np.array_equal(run["u"].values, other["u"].values)


def test_plumb_two_wave_reproduces_the_reference_qbo():
    """qbo1d's two-wave case (w = 1e-5 m/s): measured 26.5 months both ways, σ25 23.5, σ20 20.0 m/s."""
    run = qbo.run_qbo(QBOConfig(upwelling_m_per_s=1e-5), PlumbTwoWave(), years=48.0)
    fourier = qbo.qbo_period_months(run, spinup_years=12.0, method="fourier")
    transitions = qbo.qbo_period_months(run, spinup_years=12.0, method="transitions")
    sigma25 = qbo.qbo_amplitude(run, spinup_years=12.0, height_m=25e3)
    assert 26.0 * 0.95 <= fourier <= 27.0 * 1.05, fourier
    assert 26.0 * 0.95 <= transitions <= 27.0 * 1.05, transitions
    assert sigma25 == pytest.approx(23.5, rel=0.05)


@pytest.mark.slow
def test_stochastic_waves_give_a_26_month_qbo():
    """qbo1d's control run (w = 3e-4 m/s, 96 years, 12 spin-up): measured 25.8 months, σ25 33.7 m/s."""
    run = qbo.run_qbo(QBOConfig(upwelling_m_per_s=3e-4), StochasticWaves(), years=96.0, seed=0)
    for method in ("fourier", "transitions"):
        period = qbo.qbo_period_months(run, spinup_years=12.0, method=method)
        assert period == pytest.approx(26.0, rel=0.10), (method, period)
    assert qbo.qbo_amplitude(run, spinup_years=12.0) > 15.0


@pytest.mark.slow
def test_ad99_column_gives_a_27_month_qbo():
    """AD99 at 17 km, B_t = 3 mPa, c_w = 35 m/s, w = 4.5e-4 m/s: measured 29.0 months (27.1 with
    B_t = 3.3 mPa, 26.7 with w = 4e-4), σ25 24.0 m/s; docs/REFERENCE.md quotes ≈ 27."""
    run = qbo.run_qbo(QBOConfig(upwelling_m_per_s=4.5e-4), AD99Column(), years=40.0)
    for method in ("fourier", "transitions"):
        period = qbo.qbo_period_months(run, spinup_years=6.0, method=method)
        assert period == pytest.approx(27.0, rel=0.10), (method, period)
    assert qbo.qbo_amplitude(run, spinup_years=6.0) > 15.0


@pytest.mark.parametrize(("source", "upwelling"), [(StochasticWaves(), 3e-4), (AD99Column(), 4.5e-4)], ids=["stochastic", "ad99"])
def test_physics_wrapped_as_a_guarded_emulator_reproduces_the_physics_run_bit_for_bit(source, upwelling):
    """One contract: the host cannot tell a physics source from an "emulator" that is the physics,
    even through the blow-up guard compare_online puts around emulators."""
    config = QBOConfig(upwelling_m_per_s=upwelling)
    physics = qbo.run_qbo(config, source, years=0.5, seed=2)
    guarded = Guarded(PhysicsAsEmulator(source), fallback=None, out_of_distribution=None, blow_up=blew_up)
    emulated = qbo.run_qbo(config, guarded, years=0.5, seed=2)
    assert np.array_equal(emulated["u"].values, physics["u"].values)
    assert np.array_equal(emulated["drag"].values, physics["drag"].values)
    assert guarded.counts.calls == physics.sizes["time"] and guarded.counts.blow_up_call is None
