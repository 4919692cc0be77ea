"""The gravity-wave study: spin-up to stationarity, branches, label fractions, the study's lines and its verdict.

The dycore runs at T21 with 6 sigma levels and hour-long steps (a few seconds a model day); the
study's networks are one epoch deep. What is tested is behaviour: the criterion's decisions,
resuming, branches that differ by seed, the data split, every run's line, the verdict's logic.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import torch
import pytest
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.gravity_waves.gridded.simulation import GWSimulationConfig, simulate_fields
from subgrid.gravity_waves.gridded.spinup import StationarityCriterion, read_spinup, spin_up
from subgrid.gravity_waves.gridded.study import (
    CLIMATOLOGY,
    FINE_TUNED,
    FROZEN_CONV,
    LORA,
    RANDOM,
    UNET,
    GWStudyConfig,
    label_subset,
    pretraining_verdict,
    run_gw_study,
    summarise_gw_study,
)

DYNAMICS = dict(resolution="T21", levels=6, time_step_minutes=60.0, target="gaussian:16x32", truncation=8)


def test_the_criterion_rejects_a_drift_and_accepts_noise_around_a_level():
    rng = np.random.default_rng(0)
    days = np.arange(60)
    flat = {"kinetic_energy_J_per_kg": list(100 + rng.normal(0, 1, 60)), "temperature_K": list(250 + rng.normal(0, 0.1, 60))}
    drifting = dict(flat, temperature_K=list(250 + 0.05 * days))  # 2.5 K over the 50-day window
    criterion = StationarityCriterion(window_days=50, tolerance=0.05, tolerance_K=0.5)
    assert criterion.check(flat)["stationary"]
    verdict = criterion.check(drifting)
    assert not verdict["stationary"]
    assert not verdict["series"]["temperature_K"]["passed"] and verdict["series"]["kinetic_energy_J_per_kg"]["passed"]
    assert verdict["series"]["temperature_K"]["trend_over_window"] == pytest.approx(2.5, rel=0.01)
    assert not criterion.check({k: v[:30] for k, v in flat.items()})["stationary"]  # shorter than the window


def test_spin_up_resumes_and_branches_differ_by_seed_only(tmp_path):
    config = GWSimulationConfig(**DYNAMICS, seed=0)
    criterion = StationarityCriterion(window_days=2)
    first = spin_up(config, tmp_path / "spin", min_days=2, max_days=3, criterion=criterion, save_every_days=1)
    report = read_spinup(tmp_path / "spin")
    assert first.days == report["days"] in (2, 3) and len(report["series"]["kinetic_energy_J_per_kg"]) == first.days
    assert report["series"]["kinetic_energy_J_per_kg"][-1] > 0 and 150 < report["series"]["temperature_K"][-1] < 320
    if not first.stationary:  # more days continue the same run, from its saved state
        more = spin_up(config, tmp_path / "spin", min_days=2, max_days=4, criterion=criterion)
        assert more.days > first.days
        assert read_spinup(tmp_path / "spin")["series"]["temperature_K"][: first.days] == report["series"]["temperature_K"]

    branch = dict(DYNAMICS, initial_state=str(tmp_path / "spin"), spinup_days=0.0, record_days=0.25,
                  output_interval_hours=6.0)  # fmt: skip
    a, b, a_again = (simulate_fields(GWSimulationConfig(**branch, seed=s)) for s in (1, 2, 1))
    start = read_spinup(tmp_path / "spin")["days"] * 86400
    assert float((a["time"][0] - np.datetime64("2000-01-01")) / np.timedelta64(1, "s")) == start + 6 * 3600
    assert np.array_equal(a["u"].values, a_again["u"].values)
    assert not np.array_equal(a["t"].values, b["t"].values)
    assert float(np.abs(a["t"] - b["t"]).max()) < 2.0  # a 0.1 K branch perturbation, 6 hours on

    with pytest.raises(InputError, match="spun up with other dynamics .*levels"):
        simulate_fields(GWSimulationConfig(**{**branch, "levels": 8}, seed=1))
    with pytest.raises(InputError, match="spun up with other dynamics .hills"):
        simulate_fields(GWSimulationConfig(**{**branch, "hills": 10}, seed=1))
    # a spin-up written before the hills existed ran without them, and still branches
    report_file = tmp_path / "spin" / "spinup.json"
    old = json.loads(report_file.read_text())
    for name in ("hills", "hill_height_m", "hill_width_deg"):
        del old["dynamics"][name]
    report_file.write_text(json.dumps(old))
    assert np.array_equal(simulate_fields(GWSimulationConfig(**branch, seed=1))["u"].values, a["u"].values)
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "state.safetensors").write_text("mine")
    with pytest.raises(InputError, match="not a spin-up"):
        spin_up(config, foreign, min_days=2, max_days=2, criterion=criterion)
    assert (foreign / "state.safetensors").read_text() == "mine"
    with pytest.raises(InputError, match="not a spin-up directory"):
        simulate_fields(GWSimulationConfig(**{**branch, "initial_state": str(tmp_path)}, seed=1))


def test_a_branch_may_run_finer_than_its_spin_up(tmp_path):
    """Spin up cheaply, branch at a higher truncation: the state is zero-padded spectrally, so its large scales
    are the spin-up's; padding then truncating gives back the same coefficients; resuming must still match."""
    from safetensors.torch import load_file

    config = GWSimulationConfig(**DYNAMICS, seed=0)
    spin_up(config, tmp_path / "spin", min_days=2, max_days=2, criterion=StationarityCriterion(window_days=2))
    saved = load_file(str(tmp_path / "spin" / "state.safetensors"))
    coarse = config.build()
    coarse.load_state_tensors(saved)
    finer = GWSimulationConfig(**{**DYNAMICS, "resolution": "T31", "time_step_minutes": 20.0}, seed=0).build()
    finer.load_state_tensors(saved, regrid=True)
    back = config.build()
    back.load_state_tensors(finer.state_tensors(), regrid=True)
    for name in ("vorticity", "divergence", "temperature_variation", "log_surface_pressure"):
        assert torch.equal(back.state_tensors()[name], saved[name])
    a, b = coarse.snapshot(), finer.snapshot()
    weights = lambda atm: np.cos(np.radians(atm.lat_deg))[:, None]  # noqa: E731
    mean_t = [float((s.temperature * weights(m)).sum() / (weights(m).sum() * s.temperature.shape[-1] * s.temperature.shape[0]))
              for s, m in ((a, coarse), (b, finer))]  # fmt: skip
    assert mean_t[0] == pytest.approx(mean_t[1], abs=0.05)
    jet = [float(np.abs(s.u.mean(axis=-1)).max()) for s in (a, b)]
    assert jet[0] == pytest.approx(jet[1], rel=0.05)

    branch = dict(DYNAMICS, resolution="T31", time_step_minutes=20.0, initial_state=str(tmp_path / "spin"), spinup_days=0.0,
                  record_days=0.25, output_interval_hours=6.0)  # fmt: skip
    fields = simulate_fields(GWSimulationConfig(**branch, seed=1))
    assert fields.sizes["latitude"] == 48 and "T21 spin-up, spectrally padded to T31" in fields.attrs["branched_from"]
    with pytest.raises(InputError, match="spun up with other dynamics .*resolution"):  # resuming is not branching
        spin_up(GWSimulationConfig(**{**DYNAMICS, "resolution": "T31", "time_step_minutes": 20.0}, seed=0), tmp_path / "spin",
                min_days=2, max_days=3, criterion=StationarityCriterion(window_days=2))  # fmt: skip


def test_the_cli_spins_up_and_branches(tmp_path):
    from typer.testing import CliRunner

    from subgrid.cli.main import app

    runner, spin = CliRunner(), tmp_path / "spin"
    result = runner.invoke(app, ["generate", "gw-spinup", "--out", str(spin), "--resolution", "T21", "--levels", "6",
                                 "--time-step-minutes", "60", "--min-days", "2", "--max-days", "2", "--window-days", "2",
                                 "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 model days" in result.output and read_spinup(spin)["days"] == 2
    branch = ["generate", "gw-simulation", "--resolution", "T21", "--time-step-minutes", "60", "--initial-state",
              str(spin), "--spinup-days", "0", "--days", "0.25", "--target-grid", "gaussian:16x32", "--no-progress"]
    result = runner.invoke(app, [*branch, "--levels", "6", "--out", str(tmp_path / "b.zarr")])
    assert result.exit_code == 0, result.output
    assert xr.open_zarr(tmp_path / "b.zarr").sizes["time"] == 1
    result = runner.invoke(app, [*branch, "--levels", "8", "--out", str(tmp_path / "c.zarr")])
    assert result.exit_code != 0 and "other dynamics (levels" in result.output and not (tmp_path / "c.zarr").exists()


TINY_STUDY = GWStudyConfig(
    **DYNAMICS, output_interval_hours=6.0, spinup_min_days=2, spinup_max_days=2, stationary_window_days=2,
    decorrelation_days=0.5, train_days=3.0, gap_days=0.5, test_days=1.0, unlabelled_days=2.0, validation_days=0.5,
    seeds=(1, 2), label_fractions=(0.4, 1.0), models=(CLIMATOLOGY, UNET, RANDOM, FROZEN_CONV, LORA),
    backbone={"embed_dim": 16, "n_heads": 2, "n_blocks_encoder": 1, "n_blocks_decoder": 1, "patch": 2, "window": [4, 8]},
    unet_width=4, conv_width=4, lora_rank=2, epochs=1, patience=1, batch_size=4, max_minutes=None, pretrain_epochs=1,
    pretrain_max_minutes=None, region=(-50.0, 0.0, 270.0, 330.0), convective_cells=8, convective_tilt_hours=6.0,
)  # fmt: skip


def test_label_subsets_keep_the_validation_block_and_spread_the_labels(tmp_path):
    times = np.datetime64("2000-01-01") + np.arange(40) * np.timedelta64(6, "h")
    ds = xr.Dataset({"uw_flux": (("time",), np.arange(40.0))}, coords={"time": times})
    from subgrid.core.chunked import write_zarr_atomic

    train = write_zarr_atomic(ds, tmp_path / "train.zarr")
    config = replace(TINY_STUDY, validation_days=2.0)  # 8 validation times; pool 32
    path, labelled, validation_fraction = label_subset(train, 0.25, config, tmp_path / "f.zarr")
    values = xr.open_zarr(path)["uw_flux"].values
    assert labelled == 8 and validation_fraction == pytest.approx(8 / 16)
    assert list(values[-8:]) == list(range(32, 40))  # the shared validation block, last
    assert values[0] == 0 and values[7] == 31 and np.all(np.diff(values[:8]) >= 4)  # spread through the pool


@pytest.mark.slow
def test_the_study_writes_one_line_per_run_resumes_and_summarises(tmp_path):
    results = tmp_path / "study.jsonl"
    messages: list[str] = []
    lines = run_gw_study(TINY_STUDY, tmp_path / "work", results, workers=2, log=messages.append)  # branches in 2 processes
    trained = 2 * 2 * 4  # fractions x seeds x trained models
    assert len(lines) == trained + 2  # climatology once per fraction
    data = lines[0]["data"]
    assert data["spinup_days"] == 2 and data["labelled_times"] == {"train": 12, "gap": 2, "test": 4}
    assert data["excluded_levels_sigma"] == [pytest.approx(11 / 12)] and data["target_levels"] == [0, 1, 2, 3, 4]
    measured = data["predictability"]  # measured before training, on the train and test periods
    assert measured["lag_hours"] == 6.0 and -1 <= measured["uw_flux"]["lag_autocorrelation"] <= 1
    assert any(m.startswith("target predictability (before training): uw_flux") for m in messages)
    for line in lines:
        assert {"model", "seed", "label_fraction", "global", "region", "study"} <= set(line)
        for scope in ("global", "region"):
            assert 0 <= line[scope]["hellinger"] <= 1 and line[scope]["rmse_uw_flux_Pa"] > 0
            assert set(line[scope]["bands"]) and all(0 <= b["hellinger"] <= 1 for b in line[scope]["bands"].values())
    by_model = {line["model"]: line for line in lines if line["label_fraction"] == 1.0 and line["seed"] == 1}
    assert by_model[LORA]["trainable_parameters"] < by_model[RANDOM]["trainable_parameters"]
    assert by_model[FROZEN_CONV]["trainable_parameters"] < by_model[FROZEN_CONV]["parameters"]
    assert {line["labelled_times"] for line in lines} == {4, 10}  # 40 % and 100 % of the 10-time pool
    assert (tmp_path / "work" / "pretrain" / "backbone.pt").exists()
    # the convective cells' heating is an input of every trained model and of the pre-training
    assert "convective_heating" in json.loads((tmp_path / "work" / "pretrain" / "model.json").read_text())["inputs"]
    runs = list((tmp_path / "work" / "runs").glob("*/*/model.json"))
    assert runs and all("convective_heating" in json.loads(run.read_text())["inputs"] for run in runs)

    # again: nothing is retrained and no line is added
    again = run_gw_study(TINY_STUDY, tmp_path / "work", results, workers=1, log=messages.append)
    assert len(again) == len(lines) and len(results.read_text().splitlines()) == len(lines)
    # another study's lines do not mix in
    other = replace(TINY_STUDY, epochs=2, label_fractions=(1.0,), seeds=(1,), models=(CLIMATOLOGY,))
    assert len(run_gw_study(other, tmp_path / "work", results, workers=1, log=messages.append)) == 1

    # the AD99 scheme's fluxes on the same states: the branches are reused, its own files and lines
    simulated = {p: p.stat().st_mtime for p in (tmp_path / "work").glob("*labelled.zarr")}
    ad99 = replace(TINY_STUDY, flux_target="ad99", label_fractions=(1.0,), seeds=(1,), models=(CLIMATOLOGY, UNET))
    ad99_lines = run_gw_study(ad99, tmp_path / "work", results, workers=1, log=messages.append)
    assert len(ad99_lines) == 2 and {line["study"] for line in ad99_lines} == {ad99.identity()} != {lines[0]["study"]}
    assert {p: p.stat().st_mtime for p in (tmp_path / "work").glob("*labelled.zarr")} == simulated
    test_ad99 = xr.open_zarr(tmp_path / "work" / "test_ad99.zarr")
    assert test_ad99.attrs["flux_target"] == "ad99" and ad99_lines[0]["data"]["flux_target"] == "ad99"
    resolved = xr.open_zarr(tmp_path / "work" / "test.zarr")
    np.testing.assert_array_equal(test_ad99["u"].values, resolved["u"].values)  # the same states, another target
    targets = ad99_lines[0]["data"]["target_levels"]
    flux = test_ad99["uw_flux"].values
    assert targets and set(targets) <= {0, 1, 2, 3, 4} and all(np.abs(flux[:, k]).max() > 0 for k in targets)
    assert "Flux target: the AD99 scheme's" in summarise_gw_study(ad99_lines)

    text = summarise_gw_study(lines)
    assert "Flux target: the simulation's resolved waves" in text
    assert "±" in text and "climatology" in text and "Does pre-training help?" in text
    assert "Target predictability" in text and "linear probe R²" in text
    assert sum("vs random init" in line for line in text.splitlines()) == 2 * 2 * 2  # fractions x scopes x variants


def _line(model: str, seed: int, r2: float, hellinger: float) -> dict:
    scores = {"hellinger": hellinger, "r2": r2, "rmse_uw_flux_Pa": 1e-3, "bands": {}}
    return {"model": model, "seed": seed, "label_fraction": 0.05, "global": scores, "region": scores}


def test_the_verdict_needs_intervals_that_do_not_overlap():
    random = [_line(RANDOM, s, r2, h) for s, r2, h in ((1, 0.30, 0.10), (2, 0.32, 0.11), (3, 0.31, 0.12))]
    better = [_line(FINE_TUNED, s, r2, h) for s, r2, h in ((1, 0.40, 0.07), (2, 0.42, 0.06), (3, 0.41, 0.07))]
    overlapping = [_line(FINE_TUNED, s, r2, h) for s, r2, h in ((1, 0.29, 0.07), (2, 0.45, 0.06), (3, 0.41, 0.07))]
    worse = [_line(FINE_TUNED, s, r2, h) for s, r2, h in ((1, 0.20, 0.20), (2, 0.21, 0.21), (3, 0.22, 0.20))]
    assert all(": helps" in v for v in pretraining_verdict(random + better))
    assert all("no clear difference" in v for v in pretraining_verdict(random + overlapping))
    assert all(": hurts" in v for v in pretraining_verdict(random + worse))
    assert len(pretraining_verdict(random + better)) == 2  # global and region


def test_bad_study_settings_are_refused():
    with pytest.raises(InputError, match="models: unknown"):
        GWStudyConfig(models=("transformer",))
    with pytest.raises(InputError, match="label_fractions"):
        GWStudyConfig(label_fractions=(0.0, 1.0))
    with pytest.raises(InputError, match="validation_days"):
        GWStudyConfig(train_days=4.0, validation_days=4.0)
    assert json.dumps(GWStudyConfig().identity()) and GWStudyConfig().identity() == GWStudyConfig(seeds=(7,)).identity()
    assert GWStudyConfig().identity() != GWStudyConfig(epochs=5).identity()
    # settings added later leave the identity of a study without them (its recorded lines still resume)
    assert GWStudyConfig(convective_tilt_hours=5.0).identity() == GWStudyConfig().identity()
    assert GWStudyConfig(convective_cells=10).identity() != GWStudyConfig().identity()
    assert GWStudyConfig(convective_cells=10, source_input=False).identity() != GWStudyConfig(convective_cells=10).identity()
    assert GWStudyConfig(flux_target="ad99").identity() != GWStudyConfig().identity()
    with pytest.raises(InputError, match="flux_target 'era5'"):
        GWStudyConfig(flux_target="era5")
    assert GWStudyConfig(convective_cells=10).inputs[-1] == "convective_heating" and "convective_heating" not in GWStudyConfig().inputs
