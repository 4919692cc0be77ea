"""The forecast experiment in the GCM host: physics reused from the control only where it is bit-identical,
perturbed physics as the yardstick, scores per lead, resumption, one-line errors.

A tiny setting: T21 with 10 levels, a control of 8 hours, forecasts of 4 hours scored every 2 hours.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from subgrid.core.errors import InputError
from subgrid.hosts.gcm.config import GCMConfig
from subgrid.hosts.gcm.forecast import ForecastConfig, run_forecasts, score_forecast
from subgrid.hosts.gcm.perturbed import perturb_restart
from subgrid.hosts.gcm.model import GCM
from subgrid.hosts.gcm.restart import load_restart
from subgrid.hosts.gcm.run import RunSettings, open_history, run_gcm
from subgrid.physics.rrtmg import RRTMG

pytestmark = pytest.mark.slow

CONFIG = GCMConfig(levels=10, radiation_every_steps=3)
LEAD = 1.0 / 12.0  # days: 2 hours, 6 steps of 20 minutes (radiation every 3)


@pytest.fixture(scope="module")
def control_and_emulator(tmp_path_factory):
    """An 8-hour control run with 2-hourly restarts, and an MLP exported for its 10 levels."""
    from subgrid.hosts.rce.replay import label_with_rrtmg, write_replay_dataset
    from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
    from subgrid.radiation.export import export_run
    from subgrid.radiation.training import RadiationTrainingConfig, train_radiation

    root = tmp_path_factory.mktemp("forecast")
    control = root / "control"
    run_gcm(control, 4 * LEAD, RRTMG(), CONFIG, progress=False,
            settings=RunSettings(output_every_hours=1.0, restart_every_days=LEAD))  # fmt: skip
    labelled = label_with_rrtmg(sample_columns(200, np.random.default_rng(3), ColumnSamplerConfig(n_levels=10)))
    data = write_replay_dataset(labelled, root / "rad.zarr", chunk_size=100)
    training = RadiationTrainingConfig(epochs=2, model="mlp", batch_size=64, statistics_columns=150)
    train_radiation(data, root / "train", training, progress=False)
    return control, export_run(root / "train", root / "artifact", "onnx")


SMALL = ForecastConfig(starts=2, days=2 * LEAD, spacing_days=LEAD, first_day=LEAD, perturbed_starts=1,
                       perturbation_K=0.1, timed_starts=1, lead_step_days=LEAD, output_every_hours=1.0)  # fmt: skip


def test_forecasts_score_against_the_physics_and_resume(control_and_emulator, tmp_path):
    control, artifact = control_and_emulator
    results = tmp_path / "results.jsonl"
    experiment = run_forecasts(control, artifact, tmp_path / "fc", SMALL, workers=2, results=results, progress=False)
    records = experiment.records
    # the restarts' days (to 1e-6 d: 2 hours is no binary fraction of a day, and a start is found all the same)
    assert [r["start_day"] for r in records] == [round(LEAD, 6), round(2 * LEAD, 6)]
    first, second = records
    # the physics forecast rerun from the control's restart is the control, to the bit: reuse is sound
    assert first["reference_max_abs_difference_from_control"] == 0.0
    assert "physics" not in second or "wall_s_per_day" not in second.get("physics", {})
    assert set(first) >= {"emulator", "perturbed", "physics"} and "perturbed" not in second
    for record in records:
        assert record["emulator"]["completed"] and len(record["emulator"]["T850_rmse"]) == 2
        guard = record["emulator"]["guard"]
        assert guard["columns"] > 0 and 0 <= guard["fallback_columns"] <= guard["columns"]
    perturbed = first["perturbed"]
    # 0.1 K of noise: the perturbed forecast differs from the physics, by a fraction of a kelvin after 2 hours
    assert 0.0 < perturbed["T850_rmse"][0] < 0.5 and 0.0 < perturbed["Z500_rmse"][0] < 5.0
    assert perturbed["T850_acc"][0] > 0.95

    summary = experiment.summary
    assert summary["emulator_completed"] == 2 and summary["perturbed_completed"] == 1
    assert summary["speed"]["timed_starts"] == 1 and summary["speed"]["physics"]["radiation_s_per_day"] > 0
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["record"] for line in lines] == ["forecast", "forecast", "summary"]
    assert (tmp_path / "fc" / "starts" / f"day_{LEAD:07.2f}" / "differences.nc").is_file()

    # a second call finds every start scored: nothing reruns, nothing is appended
    again = run_forecasts(control, artifact, tmp_path / "fc", SMALL, workers=1, results=results, progress=False)
    assert again.records == records and len(results.read_text().splitlines()) == 3

    # another emulator's experiment (here: unguarded) copies the perturbed forecast instead of rerunning it
    unguarded = replace(SMALL, guard=False)
    other = run_forecasts(control, artifact, tmp_path / "fc2", unguarded, workers=1, perturbed_from=tmp_path / "fc",
                          progress=False)  # fmt: skip
    copied = tmp_path / "fc2" / "starts" / f"day_{LEAD:07.2f}" / "perturbed" / "run.json"
    assert copied.read_text() == (tmp_path / "fc" / "starts" / f"day_{LEAD:07.2f}" / "perturbed" / "run.json").read_text()
    assert other.records[0]["perturbed"]["T850_rmse"] == first["perturbed"]["T850_rmse"]
    assert json.loads((tmp_path / "fc2" / "perturbed_from.json").read_text())[0]["copied"] == 1
    with pytest.raises(InputError, match="another perturbation_K"):
        run_forecasts(control, artifact, tmp_path / "fc3", replace(SMALL, perturbation_K=0.2), workers=1,
                      perturbed_from=tmp_path / "fc", progress=False)  # fmt: skip

    # the figures and the CLI table read the experiment
    from subgrid.cli.main import app

    shown = CliRunner().invoke(app, ["gcm", "forecasts-report", str(tmp_path / "fc"), "--plots", str(tmp_path / "figs")])
    assert shown.exit_code == 0, shown.output
    assert "T850_rmse" in shown.output and len(list((tmp_path / "figs").glob("*.png"))) == 3


def test_score_forecast_is_zero_for_the_reference_and_one_for_anomaly_correlation():
    lat = xr.DataArray(np.linspace(-80, 80, 9), dims="lat")
    rng = np.random.default_rng(0)
    fields = {name: (("lead_day", "lat", "lon"), rng.normal(size=(2, 9, 12))) for name in ("Z500", "T850", "u250", "precipitation")}
    reference = xr.Dataset(fields, coords={"lat": lat, "lead_day": [1.0, 2.0]})
    climatology = reference.mean(("lead_day", "lon"))
    same = score_forecast(reference, reference, climatology)
    assert same["T850_rmse"] == [0.0, 0.0] and np.allclose(same["Z500_acc"], 1.0)
    shifted = score_forecast(reference + 2.0, reference, climatology)
    assert np.allclose(shifted["u250_rmse"], 2.0)
    crashed = score_forecast(reference.where(reference["lead_day"] < 2), reference, climatology)
    assert np.isnan(crashed["precipitation_rmse"][1]) and np.isfinite(crashed["precipitation_rmse"][0])


def test_perturbed_start_has_the_asked_noise(control_and_emulator, tmp_path):
    control, _ = control_and_emulator
    source = sorted((control / "restarts").glob("*.pt"))[0]
    perturb_restart(source, tmp_path / "p.pt", 0.05, seed=1)
    a, b = GCM(CONFIG, RRTMG()), GCM(CONFIG, RRTMG())
    load_restart(a, source)
    load_restart(b, tmp_path / "p.pt")
    difference = b.column_state()["air_temperature"] - a.column_state()["air_temperature"]
    assert difference.std() == pytest.approx(0.05, rel=0.02) and abs(difference.mean()) < 0.005
    np.testing.assert_array_equal(a.column_state()["eastward_wind"], b.column_state()["eastward_wind"])


def test_bad_forecast_inputs_are_refused_in_one_line(control_and_emulator, tmp_path):
    control, artifact = control_and_emulator
    with pytest.raises(InputError, match="history ends at day"):
        run_forecasts(control, artifact, tmp_path / "a", ForecastConfig(starts=3, days=2 * LEAD, spacing_days=LEAD,
                                                                        first_day=LEAD, timed_starts=1, perturbed_starts=0,
                                                                        lead_step_days=LEAD), progress=False)  # fmt: skip
    with pytest.raises(InputError, match="no restart at day"):
        run_forecasts(control, artifact, tmp_path / "a", ForecastConfig(starts=1, days=LEAD, first_day=0.3,
                                                                        timed_starts=1, perturbed_starts=0,
                                                                        lead_step_days=LEAD), progress=False)  # fmt: skip
    with pytest.raises(InputError, match="not an exported emulator"):
        run_forecasts(control, tmp_path, tmp_path / "a", SMALL, progress=False)
    with pytest.raises(InputError, match="lead_step_days"):
        ForecastConfig(days=1.0, lead_step_days=0.3)
    with pytest.raises(InputError, match="spacing_days: at least 0.01 d"):
        ForecastConfig(starts=2, spacing_days=0.005)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="not a forecast experiment"):
        run_forecasts(control, artifact, tmp_path / "mine", SMALL, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    assert not (tmp_path / "a").exists()
    assert open_history(control).sizes["time"] == 8


def test_replay_relabels_the_states_of_failed_forecasts_fine_tunes_and_reruns(control_and_emulator, tmp_path):
    from subgrid.hosts.gcm.replay import ReplaySettings, replay_gcm

    control, artifact = control_and_emulator
    run, data = artifact.parent / "train", artifact.parent / "rad.zarr"
    # unguarded (the guard sends this MLP's out-of-range columns to RRTMG, which would match the physics), and a
    # tolerance no emulator meets: every round fails, so both rounds run and the second is a fine-tune
    forecast = ForecastConfig(starts=1, days=2 * LEAD, first_day=LEAD, perturbed_starts=0, timed_starts=1,
                              lead_step_days=LEAD, output_every_hours=1.0, drift_tolerance_K=1e-9, guard=False,
                              harvest_every_hours=1.0, harvest_fraction=0.05)  # fmt: skip
    report = replay_gcm(data, run, control, tmp_path / "replay", forecast, ReplaySettings(rounds=1, epochs=1),
                        workers=1, progress=False)  # fmt: skip
    before, after = report["rounds"]
    assert before["emulator_failed"] == 1 and before["failed_starts"] == [round(LEAD, 6)]
    # 4 harvests of 5 % of 2 048 columns from the failed forecast, relabelled by RRTMG
    replayed = xr.open_zarr(tmp_path / "replay" / "round_0" / "replay.zarr")
    assert before["replayed_states"] == replayed.sizes["column"] == 4 * round(0.05 * 2048)
    assert replayed.attrs["origin"] == "online_replay" and float(replayed["lw_flux_up"].min()) > 0
    tuned = json.loads((tmp_path / "replay" / "round_1" / "run" / "model.json").read_text())
    assert tuned["init_from"] == str(run.resolve())
    assert [Path(e["path"]).name for e in tuned["extra_data"]] == ["replay.zarr"]
    assert after["round"] == 1 and after["artifact"] != before["artifact"] and report["rounds_run"] == 1
    assert "replayed_states" not in after  # the last round harvests nothing: there is no round to train on it
    weights = tmp_path / "replay" / "round_1" / "run" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = replay_gcm(data, run, control, tmp_path / "replay", forecast, ReplaySettings(rounds=1, epochs=1),
                       workers=1, results=tmp_path / "results.jsonl", progress=False)  # fmt: skip
    assert again["rounds"] == report["rounds"] and weights.stat().st_mtime_ns == stamp  # resumed, nothing redone
    (line,) = [json.loads(text) for text in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert line["record"] == "replay" and line["before"]["emulator_failed"] == 1 and line["rounds_run"] == 1
