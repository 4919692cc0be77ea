"""Radiation emulators online: fine-tuning on replayed states, the experience-replay loop, the online CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.core.errors import InputError
from subgrid.hosts.rce.config import RCEConfig
from subgrid.hosts.rce.replay import label_with_rrtmg, write_replay_dataset
from subgrid.physics.rrtmg import radiative_transfer_arrays
from subgrid.physics.schema import RADIATION_INPUTS
from subgrid.radiation.training import RadiationTrainingConfig, load_emulator, train_radiation

N_LEVELS = 12
TINY = RadiationTrainingConfig(epochs=2, model="rescnn", model_options={"width": 8, "depth": 2}, batch_size=64,
                               statistics_columns=200)  # fmt: skip
#: The normalisation buffers of the emulator (statistics, not learned).
STATISTICS = ("level_mean", "level_std", "column_mean", "column_std", "heating_mean", "heating_std", "anchor_mean",
              "anchor_std")  # fmt: skip


def _labelled(n_columns: int, seed: int, n_levels: int = N_LEVELS) -> xr.Dataset:
    return label_with_rrtmg(sample_columns(n_columns, np.random.default_rng(seed), ColumnSamplerConfig(n_levels=n_levels)))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """480 RRTMG-labelled columns in 8 chunks, written as training reads them."""
    return write_replay_dataset(_labelled(480, 4), tmp_path_factory.mktemp("rce_online") / "rad.zarr", chunk_size=60)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """A small 'replay set': warmer columns than the training data."""
    labelled = _labelled(40, 8)
    warm = labelled.assign(air_temperature=labelled["air_temperature"] + 10.0)
    return write_replay_dataset(label_with_rrtmg(warm[list(RADIATION_INPUTS)]), tmp_path_factory.mktemp("replayed") / "replay.zarr",
                                chunk_size=20)  # fmt: skip


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    train_radiation(data, run, TINY, progress=False)
    return run


# --------------------------------------------------------------------------------------------
# Fine-tuning


def test_fine_tuning_keeps_the_statistics_changes_the_weights_and_records_its_data(data, replayed, trained, tmp_path):
    config = replace(TINY, epochs=1, extra_data_repeats=3)
    train_radiation(data, tmp_path / "tuned", config, init_from=trained, extra_data=[replayed], progress=False)
    start, started = load_emulator(trained)
    tuned, description = load_emulator(tmp_path / "tuned")

    before, after = start.state_dict(), tuned.state_dict()
    for name in STATISTICS:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0, msg=name)
    learned = [name for name, _ in start.named_parameters()]
    assert any(not torch.equal(after[name], before[name]) for name in learned)
    assert description["loss_scales"] == started["loss_scales"]

    assert description["init_from"] == str(trained.resolve()) and description["statistics_from"] == str(trained.resolve())
    assert [e["path"] for e in description["extra_data"]] == [str(replayed.resolve())]
    assert description["extra_data"][0]["columns"] == 40 and description["extra_data"][0]["origin"] == "online_replay"
    # Training: 7 of the 8 main chunks (one held out) plus the replay set three times.
    assert description["training_columns_per_epoch"] == 7 * 60 + 3 * 40
    assert started["init_from"] is None and started["extra_data"] == []


def test_fine_tuning_refuses_an_incompatible_run(data, trained, tmp_path):
    for change, key in (({"model_options": {"width": 16, "depth": 2}}, "model_options"),
                        ({"model": "mlp", "model_options": {}}, "model"),
                        ({"seed": 3}, "seed")):  # fmt: skip
        with pytest.raises(InputError, match=f"init_from: .* {key}="):
            train_radiation(data, tmp_path / "x", replace(TINY, **change), init_from=trained, progress=False)
    other_levels = write_replay_dataset(_labelled(120, 2, n_levels=10), tmp_path / "levels.zarr", chunk_size=60)
    with pytest.raises(InputError, match="init_from: .* n_levels=12, this run 10"):
        train_radiation(other_levels, tmp_path / "x", TINY, init_from=trained, progress=False)
    with pytest.raises(InputError, match="10 levels but the model was trained on 12"):
        train_radiation(data, tmp_path / "x", TINY, extra_data=[other_levels], progress=False)
    with pytest.raises(InputError, match="not a trained radiation emulator run"):
        train_radiation(data, tmp_path / "x", TINY, init_from=tmp_path / "nothing", progress=False)
    assert not (tmp_path / "x" / "model.safetensors").exists()


# --------------------------------------------------------------------------------------------
# The replay loop


class WarmRunaway:
    """A planted failure: columns with a surface above ``threshold_K`` get +200 K/day of heating, until
    the emulator has been fine-tuned on replayed states (its model.json lists extra data)."""

    def __init__(self, emulator, radiation, threshold_K: float) -> None:
        self.fine_tuned = bool(emulator.sidecar["model"]["extra_data"])
        self.radiation, self.threshold_K = radiation, threshold_K
        self.inputs, self.outputs = radiation.inputs, radiation.outputs

    def tendencies(self, arrays):
        outputs = dict(self.radiation.tendencies(arrays))
        if not self.fine_tuned:
            warm = arrays["surface_temperature"] > self.threshold_K
            outputs["sw_heating_rate"] = outputs["sw_heating_rate"] + 200.0 * warm[:, None]
        return outputs


def test_replay_relabels_the_states_before_planted_crashes_fine_tunes_and_reruns(data, trained, tmp_path):
    from subgrid.hosts.rce.online import online_cases, replay_radiation
    from subgrid.radiation.training_data import open_radiation_dataset

    cases = online_cases(4, ColumnSamplerConfig(n_levels=N_LEVELS), extreme_fraction=0.5, seed=11)
    surface = cases["surface_temperature"].values
    threshold = float(np.sort(surface)[-3:-1].mean())  # the two warmest cases fail (seed 11: 20 K apart)
    failing = set(np.flatnonzero(surface > threshold).tolist())
    config = RCEConfig(days=1.0, precrash_states=3)
    fine_tune = replace(TINY, epochs=1, learning_rate=2e-4, extra_data_repeats=2)
    out = tmp_path / "replay"

    def couple(emulator, radiation):
        return WarmRunaway(emulator, radiation, threshold)

    report = replay_radiation(data, trained, cases, out, config=config, rounds=2, fine_tune=fine_tune, couple=couple,
                              progress=False)  # fmt: skip

    first, second = report.rounds
    assert set(first["failed_cases"]) == failing and first["emulator_survived"] == 2 and first["physics_survived"] == 4
    assert first["fine_tune"] is None and first["run"] == str(trained.resolve())
    assert second["failed_cases"] == [] and second["survivors"] == "4/4"
    assert report.all_survived and report.final_run == out / "round_1" / "run"

    # Harvested: the last 3 radiation inputs of each failed case (and the columns the OOD guard
    # flagged: the extreme cases), labelled by RRTMG.
    harvested = first["harvested"]
    assert harvested["precrash"] == 3 * len(failing) and harvested["out_of_distribution"] > 0
    replay = open_radiation_dataset(harvested["dataset"], n_levels=N_LEVELS).load()
    precrash = replay["replay_origin"].values == 0
    assert precrash.sum() == harvested["precrash"] and (~precrash).sum() == harvested["out_of_distribution"]
    assert set(replay["source_column"].values[precrash].tolist()) == failing
    assert (replay["surface_temperature"].values[precrash] > threshold).all()
    inputs = {name: replay[name].values for name in RADIATION_INPUTS}
    expected = radiative_transfer_arrays(inputs, seed=0)
    for name in ("lw_heating_rate", "sw_heating_rate", "lw_flux_up", "sw_flux_down"):
        np.testing.assert_allclose(replay[name].values, expected[name], rtol=1e-12, err_msg=name)

    # Fine-tuned from round 0's run on the training data plus the replay set, statistics kept.
    tuned = json.loads((out / "round_1" / "run" / "model.json").read_text())
    assert tuned["init_from"] == str(trained.resolve())
    assert [e["path"] for e in tuned["extra_data"]] == [first["harvested"]["dataset"]]
    n_harvested = harvested["precrash"] + harvested["out_of_distribution"]
    assert tuned["extra_data"][0]["replay_round"] == 0 and tuned["extra_data"][0]["columns"] == n_harvested
    assert tuned["training_columns_per_epoch"] == 7 * 60 + 2 * n_harvested  # the replay set twice
    assert second["fine_tune"]["extra_data"] == [{"path": harvested["dataset"], "columns": n_harvested}]
    start, _ = load_emulator(trained)
    after, _ = load_emulator(out / "round_1" / "run")
    torch.testing.assert_close(after.state_dict()["level_std"], start.state_dict()["level_std"], rtol=0, atol=0)

    written = json.loads((out / "replay.json").read_text())
    assert written["stop_reason"] == "all_survived" and len(written["rounds"]) == 2
    assert written["before"]["survivors"] == "2/4" and written["after"]["survivors"] == "4/4"
    for entry in written["rounds"]:
        assert entry["radiation_wall_s"]["emulator"] > 0 and entry["radiation_wall_s"]["physics"] > 0
        assert entry["temperature_rmse_last_K"]["mean"] is not None
        assert (out / f"round_{entry['round']}" / "drift.png").read_bytes()[:4] == b"\x89PNG"
        assert xr.open_zarr(out / f"round_{entry['round']}" / "metrics.zarr").sizes["column"] == 4
    # The physics run is computed once and reused: the same trajectory timing in both rounds.
    assert written["rounds"][1]["radiation_wall_s"]["physics"] == written["rounds"][0]["radiation_wall_s"]["physics"]

    # Called again with the same arguments, the finished rounds are kept; other settings are refused.
    again = replay_radiation(data, trained, cases, out, config=config, rounds=2, fine_tune=fine_tune, couple=couple,
                             progress=False)  # fmt: skip
    assert again.rounds == report.rounds
    with pytest.raises(InputError, match="holds a replay with other rce_settings"):
        replay_radiation(data, trained, cases, out, config=RCEConfig(days=2.0), rounds=2, fine_tune=fine_tune,
                         progress=False)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Command line


def test_online_radiation_cli_writes_its_report_and_plot(trained, tmp_path):
    from subgrid.radiation.export import export_run

    artifact = export_run(trained, tmp_path / "artifact", "torchscript")
    out = tmp_path / "online"
    args = ["online", "radiation", "--emulator", str(artifact), "--cases", "3", "--days", "1", "--extreme-fraction",
            "0.34", "--out", str(out), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "online.json").read_text())
    assert report["cases"] == 3 and report["days"] == 1.0 and len(report["per_case"]) == 3
    assert [case["kind"] for case in report["per_case"]][:2] == ["sampled", "sampled"]
    assert report["per_case"][2]["kind"] != "sampled" and report["physics_survived"] == 3
    assert report["radiation_wall_s"]["emulator"] > 0 and report["emulator_fallback_columns"] is not None
    assert (out / "drift.png").read_bytes()[:4] == b"\x89PNG" and (out / "checkpoints" / "emulator.npz").exists()
    assert "survived" in result.output and f"wrote {out}/online.json" in result.output
    # the same --out with the guard off would resume the guarded run's checkpoints: refused, nothing changed
    before = (out / "online.json").read_bytes()
    other = CliRunner().invoke(app, [*args, "--no-ood-guard"])
    assert other.exit_code == 2 and "holds an online test of another emulator, guard or --ood-guard" in other.output
    assert (out / "online.json").read_bytes() == before

    bad = CliRunner().invoke(app, ["online", "radiation", "--emulator", str(tmp_path / "nothing"), "--cases", "2",
                                   "--days", "1", "--out", str(tmp_path / "x")])  # fmt: skip
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [f"error: {tmp_path / 'nothing'}: not an exported emulator (missing emulator.json)"]


def test_replay_radiation_cli_reports_each_round(trained, data, tmp_path):
    out = tmp_path / "replay"
    args = ["replay", "radiation", "--run", str(trained), "--data", str(data), "--cases", "2", "--days", "1",
            "--rounds", "0", "--extreme-fraction", "0", "--out", str(out), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "replay.json").read_text())
    assert report["rounds_limit"] == 0 and len(report["rounds"]) == 1 and report["rounds"][0]["cases"] == 2
    assert report["stop_reason"] in ("all_survived", "round_limit")
    assert "survived" in result.output.splitlines()[0] and f"wrote {out / 'replay.json'}" in result.output

    bad = CliRunner().invoke(app, ["replay", "radiation", "--run", str(tmp_path / "nothing"), "--data", str(data),
                                   "--out", str(tmp_path / "x")])  # fmt: skip
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [f"error: {tmp_path / 'nothing'}: not a trained radiation emulator run (missing model.json)"]


def test_online_and_replay_commands_document_every_option():
    runner = CliRunner()
    for command, options in (
        ("online", ("--emulator", "--cases", "--days", "--extreme-fraction", "--out", "--ood-guard", "--threads")),
        ("replay", ("--run", "--data", "--cases", "--days", "--rounds", "--out", "--fine-tune-epochs", "--replay-repeats")),
    ):  # fmt: skip
        result = runner.invoke(app, [command, "radiation", "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        for option in options:
            assert option in result.output, (command, option)


def test_rce_states_command_writes_the_hosts_columns_as_a_labellable_file(tmp_path):
    """Two cases, two days, a state a day: four columns of the host's radiation inputs, surface first."""
    from subgrid.radiation.dataset import open_columns_file

    out = tmp_path / "rce_states.nc"
    result = CliRunner().invoke(app, ["generate", "rce-states", "--out", str(out), "--cases", "2", "--days", "2",
                                      "--every-hours", "24", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    states = open_columns_file(out)
    assert states.sizes["column"] == 4 and states.attrs["vertical_order"] == "surface_first"
    assert (states["air_pressure"].diff("level") < 0).all()
    again = CliRunner().invoke(app, ["generate", "rce-states", "--out", str(out), "--cases", "1", "--days", "2"])
    assert again.exit_code != 0 and "already exists" in again.output and open_columns_file(out).sizes["column"] == 4
    assert 150.0 < float(states["air_temperature"].min()) and float(states["air_temperature"].max()) < 330.0
    bad = CliRunner().invoke(app, ["generate", "rce-states", "--out", str(tmp_path / "x.nc"), "--cases", "1", "--days",
                                   "2", "--every-hours", "0.7"])  # fmt: skip
    assert bad.exit_code != 0 and "every_hours: must be a whole number of radiation steps" in bad.output
    assert not (tmp_path / "x.nc").exists()
