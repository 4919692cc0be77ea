"""The radiative-convective host: energy budget, exact convective adjustment, crash handling, restart, drift."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from subgrid.core.contract import Parameterization
from subgrid.core.errors import InputError
from subgrid.hosts.rce.comparison import compare_online, plot_online_drift
from subgrid.hosts.rce.config import CRASH_REASONS, RCEConfig
from subgrid.hosts.rce.initial_state import EXTREME_KINDS, extreme_initial_states
from subgrid.hosts.rce.model import precrash_states, run_rce
from subgrid.physics.constants import RRTMG as RRTMG_CONSTANTS
from subgrid.physics.convection import convective_adjustment
from subgrid.physics.rrtmg import RRTMG, radiative_transfer_arrays
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS
from subgrid.physics.thermodynamics import column_enthalpy_J_per_m2
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns

N_LEVELS = 16
STEPS_PER_DAY = 48  # default time step, 30 min
CALLS_PER_DAY = 24  # radiation every 2 steps
#: c_p / g of RRTMG's constants: column enthalpy per kelvin and pascal, J m-2 K-1 Pa-1.
CP_OVER_G = RRTMG_CONSTANTS.cp_dry_air_J_per_kg_K / RRTMG_CONSTANTS.gravity_m_per_s2


@pytest.fixture(scope="module")
def columns() -> xr.Dataset:
    return sample_columns(4, np.random.default_rng(5), ColumnSamplerConfig(n_levels=N_LEVELS))


@pytest.fixture(scope="module")
def clear_columns(columns) -> xr.Dataset:
    """Cloud-free columns: RRTMG is then deterministic per column, whatever else is in the batch."""
    ds = columns.copy(deep=True)
    for name in ("cloud_fraction", "cloud_liquid_water_path", "cloud_ice_water_path"):
        ds[name] = xr.zeros_like(ds[name])
    return ds


def _mass_mean(temperature: np.ndarray, pressure_interface: np.ndarray) -> np.ndarray:
    thickness = pressure_interface[..., :-1] - pressure_interface[..., 1:]
    return (temperature * thickness).sum(-1) / thickness.sum(-1)


# --------------------------------------------------------------------------------------------
# Convective adjustment


def _lapse_rate_theta(temperature, pressure, lapse_rate_K_per_km=6.5):
    kappa = 287.04 * lapse_rate_K_per_km * 1e-3 / RRTMG_CONSTANTS.gravity_m_per_s2
    return temperature * (1e5 / pressure) ** kappa


def test_convective_adjustment_conserves_enthalpy_and_leaves_a_stable_column(columns):
    rng = np.random.default_rng(0)
    p, p_int = columns["air_pressure"].values, columns["air_pressure_on_interface"].values
    p, p_int = np.repeat(p, 50, axis=0), np.repeat(p_int, 50, axis=0)
    noisy = np.repeat(columns["air_temperature"].values, 50, axis=0) + rng.normal(0.0, 8.0, p.shape)
    adjusted = convective_adjustment(noisy, p, p_int, 6.5)

    before, after = column_enthalpy_J_per_m2(noisy, p_int), column_enthalpy_J_per_m2(adjusted, p_int)
    np.testing.assert_allclose(after, before, rtol=1e-14, atol=0)
    theta = _lapse_rate_theta(adjusted, p)
    assert np.all(np.diff(theta, axis=1) >= -1e-9 * theta[:, 1:])  # lapse rate <= 6.5 K/km everywhere
    assert (adjusted != noisy).any(axis=1).all()  # every noisy column needed adjusting
    # Stable columns, and the adjusted ones, are left exactly as they are.
    np.testing.assert_array_equal(convective_adjustment(adjusted, p, p_int, 6.5), adjusted)


def test_an_entirely_unstable_column_becomes_one_neutral_block():
    p_int = np.array([[100000.0, 90000.0, 75000.0, 60000.0, 45000.0]])
    p = np.sqrt(p_int[:, :-1] * p_int[:, 1:])
    temperature = np.array([[300.0, 295.0, 280.0, 260.0]])  # far steeper than 6.5 K/km
    adjusted = convective_adjustment(temperature, p, p_int, 6.5)
    theta = _lapse_rate_theta(adjusted, p)
    np.testing.assert_allclose(theta, np.repeat(theta[:, :1], 4, axis=1), rtol=1e-14)  # one neutral block: T ∝ p^κ
    np.testing.assert_allclose(column_enthalpy_J_per_m2(adjusted, p_int), column_enthalpy_J_per_m2(temperature, p_int),
                               rtol=1e-15)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Energy


@pytest.mark.parametrize(("surface", "relaxation_days"), [("slab", 0.0), ("fixed", 0.0), ("slab", 2.0), ("fixed", 2.0)])
def test_energy_change_equals_the_net_boundary_fluxes(columns, surface, relaxation_days):
    """Slab: Δ(enthalpy + slab heat) = ∫ (F_top + H) dt. Fixed surface: Δ enthalpy = ∫ (F_top + H − F_into_surface) dt.

    ``H`` is the large-scale heat transport (0 for pure RCE)."""
    config = RCEConfig(days=1.0, output_interval_days=0.5, checkpoint_interval_days=0.5, surface=surface,
                       large_scale_relaxation_days=relaxation_days)  # fmt: skip
    run = run_rce(columns, RRTMG(), config, progress=False)
    p_int = columns["air_pressure_on_interface"].values
    thickness = p_int[:, :-1] - p_int[:, 1:]

    def energy(temperature, surface_temperature):
        atmosphere = CP_OVER_G * (temperature * thickness).sum(axis=1)
        return atmosphere + config.slab_heat_capacity_J_per_m2_K * surface_temperature

    change = energy(run["final_air_temperature"].values, run["final_surface_temperature"].values) - energy(
        columns["air_temperature"].values, columns["surface_temperature"].values
    )
    interval_s = config.output_interval_days * 86400.0
    transported = run["large_scale_heat_flux"].values
    if relaxation_days == 0.0:
        assert np.all(transported == 0.0)
    else:  # the columns start out of balance, so the relaxation does work
        assert np.all(np.abs(transported[:, -1]) > 0.1)
    boundary = run["toa_net_downward_flux"].values + transported
    if surface == "fixed":
        boundary = boundary - run["surface_net_downward_flux"].values
    expected = (boundary * interval_s).sum(axis=1)
    assert not run["crashed"].any()
    assert np.all(np.abs(change) / 86400.0 > 1.0)  # the budget is not trivially zero
    np.testing.assert_allclose(change / 86400.0, expected / 86400.0, rtol=0, atol=1e-6)  # W m-2
    # The host's own energy record says the same, interval by interval.
    energy_record = np.concatenate([run["initial_column_energy"].values[:, None], run["column_energy"].values], axis=1)
    recorded = np.diff(energy_record, axis=1)
    np.testing.assert_allclose(recorded / interval_s, boundary, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Crashes


class Scheme:
    """A test scheme of the radiation contract (RRTMG's inputs and outputs); ``tendencies`` comes with each."""

    inputs = RADIATION_INPUTS
    outputs = RADIATION_OUTPUTS


class PlantedFailure(Scheme):
    """RRTMG, except that on call ``call`` the column in row ``row`` gets ``heating`` K/day (or NaN)."""

    def __init__(self, call: int, row: int, heating: float) -> None:
        self.call, self.row, self.heating = call, row, heating
        self.calls = 0
        self.seen: dict[str, np.ndarray] | None = None

    def tendencies(self, arrays):
        outputs = radiative_transfer_arrays(arrays)
        if self.calls == self.call:
            self.seen = {name: np.array(value[self.row]) for name, value in arrays.items()}
            outputs["lw_heating_rate"][self.row] = self.heating
        self.calls += 1
        return outputs


@pytest.mark.parametrize(("heating", "reason"), [(1e6, "temperature_out_of_range"), (np.nan, "radiation_not_finite")])
def test_a_failing_column_is_frozen_and_its_precrash_states_kept(clear_columns, heating, reason):
    config = RCEConfig(days=2.0, precrash_states=3)
    failing = PlantedFailure(call=20, row=1, heating=heating)  # on day 0, at step 40
    run = run_rce(clear_columns, failing, config, progress=False)
    reference = run_rce(clear_columns, RRTMG(), config, progress=False)

    np.testing.assert_array_equal(run["crashed"].values, [False, True, False, False])
    crash_step = 20 * config.radiation_every_steps + 1  # the step that started with the failing call
    assert run["crash_time_days"].values[1] == pytest.approx(crash_step / STEPS_PER_DAY)
    assert run["crash_reason"].values[1] == CRASH_REASONS.index(reason)
    # Masked from the failure on (day 0's mean is that of its good steps); the last good state is
    # the one the failing call saw.
    assert np.isfinite(run["air_temperature"].values[1, 0]).all()
    assert np.isnan(run["air_temperature"].values[1, 1]).all() and np.isnan(run["column_energy"].values[1, 1])
    np.testing.assert_array_equal(run["final_air_temperature"].values[1], failing.seen["air_temperature"])

    # The inputs of the last 3 radiation calls before the failure, oldest first, the failing one last.
    np.testing.assert_array_equal(run["precrash_column"].values, [1, 1, 1])
    np.testing.assert_allclose(run["precrash_time_days"].values, np.array([18, 19, 20]) / CALLS_PER_DAY)
    states = precrash_states(run, clear_columns)
    for name in RADIATION_INPUTS:
        np.testing.assert_array_equal(states[name].values[-1], failing.seen[name], err_msg=name)
    relabelled = radiative_transfer_arrays({name: states[name].values for name in RADIATION_INPUTS})
    assert np.isfinite(relabelled["lw_heating_rate"]).all()

    # The other columns ran on, unaffected.
    others = [0, 2, 3]
    for name in ("air_temperature", "surface_temperature", "toa_net_downward_flux"):
        np.testing.assert_allclose(run[name].values[others], reference[name].values[others], rtol=1e-12, err_msg=name)


# --------------------------------------------------------------------------------------------
# Checkpoint and restart


class Interrupted(Exception):
    """Stands for the run being killed."""


class InterruptAt(Scheme):
    def __init__(self, radiation, call: int) -> None:
        self.radiation, self.call, self.calls = radiation, call, 0

    def tendencies(self, arrays):
        self.calls += 1
        if self.calls > self.call:
            raise Interrupted
        return self.radiation.tendencies(arrays)


def test_a_killed_run_resumes_from_its_checkpoint_with_the_same_result(columns, tmp_path):
    config = RCEConfig(days=3.0, checkpoint_interval_days=1.0)
    # A crash on day 1 puts pre-crash states into the checkpoint too.
    planted = functools.partial(PlantedFailure, call=5, row=2, heating=1e6)
    uninterrupted = run_rce(columns, planted(), config, progress=False)
    assert uninterrupted["crashed"].values[2]

    checkpoint = tmp_path / "rce.npz"
    radiation = planted()
    with pytest.raises(Interrupted):
        run_rce(columns, InterruptAt(radiation, call=40), config, checkpoint=checkpoint, progress=False)
    assert checkpoint.exists() and not list(tmp_path.glob(".rce.npz.tmp*"))  # written whole, then renamed
    radiation.calls = CALLS_PER_DAY  # the planted failure counts calls; the resumed run starts at day 1
    resumed = run_rce(columns, radiation, config, checkpoint=checkpoint, progress=False)
    xr.testing.assert_equal(resumed, uninterrupted)

    # A finished run stopped at day 3 is extended to day 4 as if it had run 4 days at once.
    longer = RCEConfig(days=4.0, checkpoint_interval_days=1.0)
    radiation.calls = 3 * CALLS_PER_DAY
    extended = run_rce(columns, radiation, longer, checkpoint=checkpoint, progress=False)
    xr.testing.assert_equal(extended, run_rce(columns, planted(), longer, progress=False))


def test_a_checkpoint_of_another_run_is_refused(columns, tmp_path):
    checkpoint = tmp_path / "rce.npz"
    run_rce(columns, RRTMG(), RCEConfig(days=1.0), checkpoint=checkpoint, progress=False)
    with pytest.raises(InputError, match="checkpoint.*another initial state or settings"):
        run_rce(columns, RRTMG(), RCEConfig(days=1.0, mixed_layer_depth_m=2.0), checkpoint=checkpoint,
                progress=False)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Physics that could fail


def test_an_atmosphere_started_20K_too_warm_cools_toward_its_surface(columns):
    """Over a fixed sea surface a too-warm atmosphere sheds heat (more OLR, heat into the sea) faster than a control."""
    warm = columns.copy(deep=True)
    warm["air_temperature"] = columns["air_temperature"] + 20.0
    both = xr.concat([columns, warm], "column")
    run = run_rce(both, RRTMG(), RCEConfig(days=3.0, surface="fixed", large_scale_relaxation_days=0.0),
                  progress=False)  # fmt: skip
    p_int = both["air_pressure_on_interface"].values
    mean = _mass_mean(run["air_temperature"].values, p_int[:, None, :])
    start = _mass_mean(both["air_temperature"].values, p_int)
    control, perturbed = slice(0, 4), slice(4, 8)
    assert np.all(np.diff(mean[perturbed], axis=1) < 0.0)  # cools every day
    assert np.all(mean[perturbed, -1] - start[perturbed] < -3.0)
    gap = mean[perturbed] - mean[control]
    assert np.all(gap[:, -1] < 20.0 - 2.0) and np.all(np.diff(gap, axis=1) < 0.0)  # the gap closes
    olr = run["outgoing_longwave_radiation"].values
    assert np.all(olr[perturbed, 0] > olr[control, 0] + 40.0)


def test_the_large_scale_relaxation_holds_a_drifting_column_near_its_initial_state(columns):
    """Pure RCE drifts (the columns start out of radiative-convective balance); the relaxation (τ = 3 d) holds
    every column closer to its start, and the heat it brings in opposes the drift."""
    config = RCEConfig(days=12.0, output_interval_days=4.0, checkpoint_interval_days=4.0)
    pure = run_rce(columns, RRTMG(), replace(config, large_scale_relaxation_days=0.0), progress=False)
    held = run_rce(columns, RRTMG(), replace(config, large_scale_relaxation_days=3.0), progress=False)
    p_int = columns["air_pressure_on_interface"].values
    start = _mass_mean(columns["air_temperature"].values, p_int)
    drift = {name: _mass_mean(run["final_air_temperature"].values, p_int) - start for name, run in
             (("pure", pure), ("held", held))}  # fmt: skip
    assert np.all(np.abs(drift["pure"]) > 1.0)  # the test has something to hold back
    assert np.all(np.abs(drift["held"]) < 0.6 * np.abs(drift["pure"]))
    surface_drift = held["final_surface_temperature"].values - columns["surface_temperature"].values
    # Heat brought in over the last interval has the sign opposite to the column's (air + slab) drift.
    column_drift = drift["held"] * (p_int[:, 0] - p_int[:, -1]) * CP_OVER_G
    column_drift = column_drift + config.slab_heat_capacity_J_per_m2_K * surface_drift
    assert np.all(np.sign(held["large_scale_heat_flux"].values[:, -1]) == -np.sign(column_drift))
    assert np.all(pure["large_scale_heat_flux"].values == 0.0)


def test_extreme_initial_states_are_valid_and_run(columns):
    states = extreme_initial_states(xr.concat([columns, columns], "column"), 3)
    kinds = np.array(EXTREME_KINDS)[states["extreme_kind"].values]
    assert set(kinds) == set(EXTREME_KINDS)
    shift = states["surface_temperature"].values - np.tile(columns["surface_temperature"].values, 2)
    assert np.all((shift[kinds == "warm"] >= 15.0) & (shift[kinds == "warm"] <= 30.0))
    assert np.all((shift[kinds == "cold"] <= -15.0) & (shift[kinds == "cold"] >= -30.0))
    assert np.all(np.abs(states["latitude"].values[kinds == "polar_night"]) >= 75.0)
    assert np.all(states["cos_solar_zenith_angle"].values[kinds == "polar_night"] <= 0.0)  # winter solstice
    run = run_rce(states, RRTMG(), RCEConfig(days=1.0), progress=False)
    assert not run["crashed"].any()


# --------------------------------------------------------------------------------------------
# Online comparison


class Scaled(Scheme):
    """``radiation`` with its LW heating scaled by ``factor``."""

    def __init__(self, radiation, factor: float) -> None:
        self.radiation, self.factor = radiation, factor

    def tendencies(self, arrays):
        outputs = dict(self.radiation.tendencies(arrays))
        outputs["lw_heating_rate"] = self.factor * outputs["lw_heating_rate"]
        return outputs


def test_compare_online_reports_survival_drift_and_timing(clear_columns, tmp_path):
    config = RCEConfig(days=2.0)
    same = compare_online(clear_columns, RRTMG(), RRTMG(), config, progress=False)
    assert same.summary["emulator_survived"] == same.summary["physics_survived"] == 4
    np.testing.assert_array_equal(same.metrics["temperature_rmse_K"].values, 0.0)

    biased = compare_online(clear_columns, Scaled(RRTMG(), 1.3), RRTMG(), config, progress=False)
    rmse = biased.metrics["temperature_rmse_K"].values
    assert np.all(rmse > 0.05) and np.all(rmse[:, -1] > rmse[:, 0])  # LW cooling 30 % too strong: drifts cold
    assert np.all(biased.metrics["surface_temperature_difference_last_K"].values < 0.0)
    assert biased.summary["radiation_wall_s"]["emulator"] > 0.0 and biased.summary["emulator_fallback_columns"] is None

    failing = compare_online(clear_columns, PlantedFailure(call=3, row=0, heating=np.nan), RRTMG(), config,
                             progress=False)  # fmt: skip
    np.testing.assert_array_equal(failing.metrics["emulator_survived"].values, [False, True, True, True])
    assert failing.summary["emulator_survived"] == 3
    assert np.isnan(failing.metrics["temperature_rmse_last_K"].values[0])

    figure = plot_online_drift(failing)
    figure.savefig(tmp_path / "drift.png")
    assert (tmp_path / "drift.png").stat().st_size > 1000


# --------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"time_step_s": 0.0}, "time_step_s"),
        ({"time_step_s": 1000.0}, "time_step_s"),  # does not divide a day
        ({"radiation_every_steps": 0}, "radiation_every_steps"),
        ({"radiation_every_steps": 1.5}, "radiation_every_steps"),
        ({"days": 2.5}, "days"),
        ({"surface": "ocean"}, "surface"),
        ({"mixed_layer_depth_m": 0.01}, "mixed_layer_depth_m"),
        ({"critical_lapse_rate_K_per_km": 12.0}, "critical_lapse_rate_K_per_km"),
        ({"surface_exchange_coefficient": float("nan")}, "surface_exchange_coefficient"),
        ({"checkpoint_interval_days": 0.3}, "checkpoint_interval_days"),
        ({"large_scale_relaxation_days": -5.0}, "large_scale_relaxation_days"),
        ({"large_scale_relaxation_days": 0.1}, "large_scale_relaxation_days"),  # under 10 steps
    ],
)
def test_bad_settings_are_named(settings, field):
    with pytest.raises(ValueError, match=f"RCEConfig.{field}"):
        RCEConfig(**settings)


def test_bad_initial_states_and_radiation_are_named(columns):
    config = RCEConfig(days=1.0)
    with pytest.raises(InputError, match="latitude"):
        run_rce(columns.drop_vars("latitude"), RRTMG(), config, progress=False)
    hot = columns.copy(deep=True)
    hot["air_temperature"][2, 5] = 360.0
    with pytest.raises(InputError, match="air_temperature.*column 2"):
        run_rce(hot, RRTMG(), config, progress=False)
    wet = columns.copy(deep=True)
    wet["specific_humidity"][1, 3] = np.nan
    with pytest.raises(InputError, match="specific_humidity"):
        run_rce(wet, RRTMG(), config, progress=False)
    with pytest.raises(InputError, match="radiation"):
        run_rce(columns, "rrtmg", config, progress=False)
    with pytest.raises(InputError, match="radiation: must be a Parameterization"):
        run_rce(columns, RRTMG().tendencies, config, progress=False)  # a function, not a scheme

    class HeatingOnly(Scheme):
        def tendencies(self, arrays):
            return {"lw_heating_rate": np.zeros_like(arrays["air_temperature"])}

    with pytest.raises(InputError, match="radiation: returned no .*sw_flux_up"):
        run_rce(columns, HeatingOnly(), config, progress=False)


# --------------------------------------------------------------------------------------------
# Experience replay


def test_replay_harvests_and_relabels_the_states_before_a_planted_failure(clear_columns, tmp_path):
    from subgrid.hosts.rce.replay import REPLAY_ORIGINS, harvest_replay_states, replay_radiation_dataset
    from subgrid.radiation.training_data import open_radiation_dataset, to_tensors

    config = RCEConfig(days=1.0, precrash_states=4)
    emulator = PlantedFailure(call=6, row=3, heating=np.nan)
    comparison = compare_online(clear_columns, emulator, RRTMG(), config, progress=False)
    states = harvest_replay_states(comparison, clear_columns)
    assert states.sizes["column"] == 4
    assert (states["source_column"].values == 3).all() and (states["replay_origin"].values == 0).all()
    np.testing.assert_array_equal(states["air_temperature"].values[-1], emulator.seen["air_temperature"])

    path = replay_radiation_dataset(comparison, clear_columns, tmp_path / "replay.zarr", chunk_size=2)
    ds = open_radiation_dataset(path, n_levels=N_LEVELS)  # what training opens
    assert ds.attrs["origin"] == "online_replay" and ds.attrs[f"{REPLAY_ORIGINS[0]}_states"] == 4
    assert ds["air_temperature"].chunks[0] == (2, 2)
    reference = radiative_transfer_arrays({name: states[name].values for name in RADIATION_INPUTS})
    for name in ("lw_heating_rate", "sw_heating_rate", "lw_flux_up", "sw_flux_down"):
        assert np.isfinite(ds[name].values).all()
        np.testing.assert_allclose(ds[name].values, reference[name], rtol=1e-12, err_msg=name)
    tensors = to_tensors(ds.load())
    assert tensors["heating"].shape == (4, 2, N_LEVELS) and bool(tensors["heating"].isfinite().all())

    with pytest.raises(InputError, match="already exists"):
        replay_radiation_dataset(comparison, clear_columns, path)
    calm = compare_online(clear_columns, RRTMG(), RRTMG(), config, progress=False)
    with pytest.raises(InputError, match="nothing to replay"):
        harvest_replay_states(calm, clear_columns)


@pytest.mark.slow
def test_an_exported_emulator_runs_online_and_its_ood_states_are_replayed(tmp_path):
    """End to end on a tiny trained artifact: extreme cases, the OOD guard's columns recorded and relabelled."""
    from subgrid.radiation.emulator import Emulator
    from subgrid.radiation.export import export_run
    from subgrid.hosts.rce.replay import OODRecorder, label_with_rrtmg, replay_radiation_dataset, write_replay_dataset
    from subgrid.radiation.training import RadiationTrainingConfig, train_radiation
    from subgrid.radiation.training_data import open_radiation_dataset

    levels = 12
    sampler = ColumnSamplerConfig(n_levels=levels)
    # Training data written by the replay writer itself: training must read what replay writes.
    labelled = label_with_rrtmg(sample_columns(240, np.random.default_rng(4), sampler))
    data = write_replay_dataset(labelled, tmp_path / "rad.zarr", chunk_size=60)
    training = RadiationTrainingConfig(epochs=2, model="rescnn", model_options={"width": 8, "depth": 2}, batch_size=64,
                                       statistics_columns=120)  # fmt: skip
    train_radiation(data, tmp_path / "run", training, progress=False)
    artifact = export_run(tmp_path / "run", tmp_path / "artifact", "onnx")
    emulator = Emulator.load(artifact, threads=1)
    assert isinstance(emulator, Parameterization) and isinstance(emulator.guarded(), Parameterization)

    cases = extreme_initial_states(sample_columns(5, np.random.default_rng(9), sampler), 1)
    recorder = OODRecorder(emulator.guarded(), every_calls=6)
    comparison = compare_online(cases, recorder, RRTMG(), RCEConfig(days=2.0), progress=False)
    summary = comparison.summary
    assert summary["physics_survived"] == 5
    assert summary["emulator_fallback_columns"] > 0 and recorder.n_states > 0  # extremes leave the training range
    assert summary["emulator_out_of_distribution_columns"] == recorder.counts.out_of_distribution_columns > 0
    assert summary["radiation_wall_s"]["emulator"] > 0.0
    survived = comparison.metrics["emulator_survived"].values
    assert np.isfinite(comparison.metrics["temperature_rmse_last_K"].values[survived]).all()
    # Stopped after a day and resumed with a new guarded emulator (as a rerun does): the whole run's counts, not the
    # resumed part's (a finished run resumed used to report 0 columns sent).
    split = tmp_path / "split"
    compare_online(cases, emulator.guarded(), RRTMG(), RCEConfig(days=1.0), checkpoint_dir=split, progress=False)
    resumed = compare_online(cases, emulator.guarded(), RRTMG(), RCEConfig(days=2.0), checkpoint_dir=split, progress=False)
    again = compare_online(cases, emulator.guarded(), RRTMG(), RCEConfig(days=2.0), checkpoint_dir=split, progress=False)
    for key in ("emulator_fallback_columns", "emulator_out_of_distribution_columns", "emulator_non_finite_columns"):
        assert resumed.summary[key] == again.summary[key] == summary[key]

    path = replay_radiation_dataset(
        comparison, cases, tmp_path / "replay.zarr", rrtmg=emulator.rrtmg_config, ood=recorder
    )
    ds = open_radiation_dataset(path, n_levels=levels)
    assert ds.attrs["out_of_distribution_states"] == recorder.n_states
    assert np.isfinite(ds["lw_heating_rate"].values).all()
