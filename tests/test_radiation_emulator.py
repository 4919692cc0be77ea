"""The radiation emulator: constraints that hold exactly, energy consistency, training, resume, safe loading."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import xarray as xr

from subgrid.radiation.columns import ColumnSamplerConfig
from subgrid.radiation.dataset import RadiationDatasetConfig, generate_radiation_dataset
from subgrid.core.errors import InputError
from subgrid.models.radiation import HEATING_FACTOR
from subgrid.radiation.training import (
    RadiationTrainingConfig,
    build_emulator,
    load_emulator,
    predict_radiation,
    train_radiation,
)
from subgrid.radiation.training_data import open_radiation_dataset, to_tensors

N_LEVELS = 12
TINY = {"model": "rescnn", "model_options": {"width": 8, "depth": 2}, "batch_size": 64, "statistics_columns": 200}


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("emu") / "rad.zarr"
    config = RadiationDatasetConfig(n_columns=480, seed=4, chunk_size=60, sampler=ColumnSamplerConfig(n_levels=N_LEVELS))
    generate_radiation_dataset(path, config, workers=2, progress=False)
    return path


@pytest.fixture(scope="module")
def batch(dataset_path):
    return to_tensors(xr.open_zarr(dataset_path).isel(column=slice(0, 240)).load())


def _scrambled_emulator(seed: int):
    """An untrained emulator with large random statistics, to drive outputs anywhere."""
    torch.manual_seed(seed)
    emulator = build_emulator("rescnn", {"width": 8, "depth": 1}, N_LEVELS)
    with torch.no_grad():
        emulator.heating_std.uniform_(0.5, 30.0)
        emulator.heating_mean.normal_(0.0, 20.0)
        emulator.anchor_mean[:] = torch.tensor([240.0, 0.3])
        emulator.anchor_std[:] = torch.tensor([300.0, 2.0])
    return emulator.eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constraints_hold_exactly_for_any_network_output(batch, seed):
    emulator = _scrambled_emulator(seed)
    with torch.no_grad():
        fluxes, heating = emulator(batch["level_inputs"], batch["column_inputs"], batch["pressure_interface_Pa"])
    assert (fluxes >= 0).all()
    cos_zenith = batch["column_inputs"][:, 5]
    night = cos_zenith <= 0
    assert night.any() and (~night).any()
    assert (fluxes[night][:, 2:] == 0).all() and (heating[night][:, 1] == 0).all()
    insolation = 1367.0 * torch.clamp(cos_zenith, min=0) * batch["column_inputs"][:, 6]
    assert torch.equal(fluxes[:, 3, -1], insolation)
    assert (fluxes[:, 1, -1] == 0).all()  # no LW comes in from space


def test_heating_equals_flux_divergence_of_the_returned_fluxes(batch):
    emulator = _scrambled_emulator(3)
    with torch.no_grad():
        fluxes, heating = emulator(batch["level_inputs"], batch["column_inputs"], batch["pressure_interface_Pa"])
    f = fluxes.double().numpy()
    p = batch["pressure_interface_Pa"].double().numpy()
    g_over_cp_per_day = 9.80665 / 1004.64 * 86400.0
    for band, (up, down) in enumerate([(0, 1), (2, 3)]):
        net = f[:, up] - f[:, down]
        expected = g_over_cp_per_day * np.diff(net, axis=1) / np.diff(p, axis=1)
        np.testing.assert_allclose(heating[:, band].double().numpy(), expected, rtol=1e-4, atol=1e-3)
    assert HEATING_FACTOR == pytest.approx(g_over_cp_per_day)


def test_heating_contributions_integrate_back_to_the_rrtmg_fluxes(batch):
    """The emulator's parameterisation is exact: true contributions + anchors give back true fluxes."""
    emulator = build_emulator("mlp", {"hidden": 4, "layers": 1}, N_LEVELS).double()
    double = {k: v.double() for k, v in batch.items()}
    contributions, anchors = emulator.heating_contributions(double["fluxes"], double["pressure_interface_Pa"], double["column_inputs"])
    fluxes = emulator.fluxes_from_contributions(contributions, anchors, double["column_inputs"], double["pressure_interface_Pa"])
    # RRTMG's TOA SW down is S·(1 - 2e-6) (its band sum); the emulator sets S exactly.
    np.testing.assert_allclose(fluxes.numpy(), double["fluxes"].numpy(), rtol=1e-5, atol=5e-3)


def test_derived_path_features_sum_the_layers_above_and_below(batch):
    from subgrid.models.radiation import DERIVED_LEVEL_FEATURES, derived_level_features

    level, p = batch["level_inputs"].double(), batch["pressure_interface_Pa"].double()
    derived = derived_level_features(level, p)
    assert derived.shape == (level.shape[0], len(DERIVED_LEVEL_FEATURES), N_LEVELS)
    named = dict(zip(DERIVED_LEVEL_FEATURES, derived.unbind(1), strict=True))
    layer_vapour = level[:, 2] * (p[:, :-1] - p[:, 1:]) / 9.80665  # q dp / g, kg m-2
    above, below = torch.expm1(named["water_vapour_path_above"]), torch.expm1(named["water_vapour_path_below"])
    torch.testing.assert_close(above + below + layer_vapour, layer_vapour.sum(-1, keepdim=True).expand_as(above))
    assert (above[:, -1] == 0).all() and (below[:, 0] == 0).all()  # nothing above the top, nothing below the surface
    assert (torch.diff(above, dim=-1) <= 1e-12).all()  # the path above shrinks going up
    assert (derived[:, 1:] >= 0).all()  # log1p of optical depths and paths, never negative
    cloud_free = level[:, 4] == 0
    assert (named["cloud_opacity"][cloud_free] == 0).all()
    assert (named["cloud_optical_depth"][~cloud_free] > 0).all()
    torch.testing.assert_close(named["log_layer_thickness"], torch.log(p[:, :-1] - p[:, 1:]))


def test_training_reduces_the_loss_and_writes_a_loadable_run(dataset_path, tmp_path):
    config = RadiationTrainingConfig(epochs=4, **TINY)
    report = train_radiation(dataset_path, tmp_path / "run", config, progress=False)
    metrics = np.genfromtxt(tmp_path / "run" / "metrics.csv", delimiter=",", names=True)
    assert len(metrics) == 4
    assert metrics["val_loss"][-1] < 0.9 * metrics["val_loss"][0]
    assert metrics["train_loss"][-1] < metrics["train_loss"][0]
    emulator, description = load_emulator(tmp_path / "run")
    assert description["n_levels"] == N_LEVELS and description["model"] == "rescnn"
    assert report.best_val_loss == pytest.approx(metrics["val_loss"].min(), rel=1e-5)
    predicted = predict_radiation(emulator, xr.open_zarr(dataset_path).isel(column=slice(0, 50)))
    assert predicted["lw_heating_rate"].attrs["units"] == "K day-1" and predicted.sizes["interface"] == N_LEVELS + 1
    with pytest.raises(InputError, match="already holds a trained model"):
        train_radiation(dataset_path, tmp_path / "run", config, progress=False)


def test_loading_refuses_pickles(tmp_path):
    """model.safetensors is read with safetensors; a pickle planted in its place is never executed."""
    run = tmp_path / "run"
    run.mkdir()
    from subgrid.models.radiation import DERIVED_LEVEL_FEATURES

    description = {"model": "mlp", "model_options": {"hidden": 4, "layers": 1}, "n_levels": 3}
    (run / "model.json").write_text(json.dumps(description))  # a run of an older subgrid: other features
    (run / "model.safetensors").write_bytes(b"")
    with pytest.raises(InputError, match="trained with derived input features"):
        load_emulator(run)
    (run / "model.json").write_text(json.dumps({**description, "derived_level_features": list(DERIVED_LEVEL_FEATURES)}))
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (run / "model.safetensors").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(InputError, match="not a valid safetensors file"):
        load_emulator(run)
    assert not marker.exists()
    # Checkpoints are read with weights_only=True, which refuses arbitrary objects too.
    (tmp_path / "checkpoint.ckpt").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "checkpoint.ckpt", weights_only=True)
    assert not marker.exists()


def test_bad_datasets_are_rejected_clearly(dataset_path, tmp_path):
    with pytest.raises(InputError, match="the model was trained on 60"):
        open_radiation_dataset(dataset_path, n_levels=60)
    broken = tmp_path / "broken.zarr"
    xr.open_zarr(dataset_path).drop_vars(["ozone_mole_fraction", "lw_flux_up"]).to_zarr(broken, zarr_format=2)
    with pytest.raises(InputError, match="missing variable.*ozone_mole_fraction"):
        open_radiation_dataset(broken)
    with pytest.raises(InputError, match="no such dataset"):
        open_radiation_dataset(tmp_path / "nothing.zarr")


def test_config_is_parsed_strictly(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("epochs: 3\nlearnig_rate: 0.1\n")
    with pytest.raises(InputError, match="unknown key.*learnig_rate"):
        RadiationTrainingConfig.from_yaml(path)
    with pytest.raises(InputError, match="optimizer"):
        RadiationTrainingConfig(optimizer="adam")


@pytest.mark.slow
def test_a_killed_training_run_resumes_to_the_same_weights(dataset_path, tmp_path):
    config = RadiationTrainingConfig(epochs=4, **TINY)
    reference = tmp_path / "reference"
    train_radiation(dataset_path, reference, config, progress=False)

    run = tmp_path / "killed"
    script = (
        "import sys, json; from subgrid.radiation.training import RadiationTrainingConfig, train_radiation; "
        f"train_radiation({str(dataset_path)!r}, {str(run)!r}, RadiationTrainingConfig(**json.loads(sys.argv[1])), progress=False)"
    )
    process = subprocess.Popen([sys.executable, "-c", script, json.dumps(config.to_dict())], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not last.exists():
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert last.exists() and not (run / "model.safetensors").exists(), "killed before finishing"
    epoch_at_kill = torch.load(last, weights_only=True)["epoch"]
    assert epoch_at_kill < 3

    report = train_radiation(dataset_path, run, config, progress=False)
    assert report.resumed
    resumed, _ = load_emulator(run)
    uninterrupted, _ = load_emulator(reference)
    for (name, a), (_, b) in zip(resumed.state_dict().items(), uninterrupted.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


@pytest.fixture(scope="module")
def trained_run(dataset_path, tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    train_radiation(dataset_path, run, RadiationTrainingConfig(epochs=2, **TINY), progress=False)
    return run


def test_evaluate_writes_metrics_and_plots(trained_run, dataset_path, tmp_path):
    from subgrid.radiation.evaluation import evaluate_radiation_run

    metrics = evaluate_radiation_run(trained_run, dataset_path, tmp_path / "eval")
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written["overall"]["flux_mae_percent"] == pytest.approx(metrics["overall"]["flux_mae_percent"])
    assert written["overall"]["flux_mae_percent"] > 0
    assert len(written["heating_rates"]["lw_heating_rate"]["rmse_by_level_K_day"]) == N_LEVELS
    for name in ("heating_profiles.png", "flux_scatter.png", "regime_errors.png"):
        assert (tmp_path / "eval" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_replaces_its_own_output_and_refuses_a_users_directory(trained_run, dataset_path, tmp_path):
    from subgrid.radiation.evaluation import evaluate_radiation_run

    out = tmp_path / "eval"
    evaluate_radiation_run(trained_run, dataset_path, out, noise_floor_columns=0)
    (out / "metrics.json").write_text("{}")  # a stale result of an earlier evaluation
    evaluate_radiation_run(trained_run, dataset_path, out, noise_floor_columns=0)
    assert json.loads((out / "metrics.json").read_text())["overall"]["flux_mae_percent"] > 0

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("my notes")
    with pytest.raises(InputError, match="was not written by subgrid"):
        evaluate_radiation_run(trained_run, dataset_path, mine, noise_floor_columns=0)
    assert [p.name for p in mine.iterdir()] == ["metrics.json"] and (mine / "metrics.json").read_text() == "my notes"


def test_an_exported_artifact_is_evaluated_like_its_run_and_reports_its_guard(trained_run, dataset_path, tmp_path):
    from typer.testing import CliRunner

    from subgrid.cli.main import app
    from subgrid.radiation.evaluation import evaluate_radiation_run
    from subgrid.radiation.export import export_run

    artifact = export_run(trained_run, tmp_path / "artifact", "onnx")
    before = sorted(p.name for p in artifact.iterdir())
    with pytest.raises(InputError, match=r"out \(--out\): needed for an exported artifact"):
        evaluate_radiation_run(artifact, dataset_path, noise_floor_columns=0)
    from_run = evaluate_radiation_run(trained_run, dataset_path, tmp_path / "run_eval", noise_floor_columns=0)
    shifted = tmp_path / "warm.zarr"
    warm = xr.open_zarr(dataset_path).compute()
    warm["air_temperature"] = warm["air_temperature"] + 30.0  # far outside the training range at every level
    warm.to_zarr(shifted, zarr_format=2)

    result = CliRunner().invoke(app, ["evaluate", "--run", str(artifact), "--data", str(dataset_path),
                                      "--out", str(tmp_path / "art_eval")])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "art_eval" / "metrics.json").read_text())
    assert metrics["emulator"]["kind"] == "onnx artifact"
    for key in ("flux_mae_percent", "lw_heating_rmse_K_day", "sw_heating_rmse_K_day"):
        assert metrics["overall"][key] == pytest.approx(from_run["overall"][key], rel=1e-3), key
    assert metrics["guard"]["guard"] == "training range" and metrics["guard"]["sent_to_physics_fraction"] < 0.5
    assert "sent to RRTMG" in result.output
    warm_metrics = evaluate_radiation_run(artifact, shifted, tmp_path / "warm_eval", noise_floor_columns=0)
    assert warm_metrics["guard"]["sent_to_physics_fraction"] > 0.9
    assert sorted(p.name for p in artifact.iterdir()) == before  # nothing written into the artifact


def test_evaluate_cli_rejects_bad_datasets_in_one_line(trained_run, dataset_path, tmp_path):
    from typer.testing import CliRunner

    from subgrid.cli.main import app

    other_levels = tmp_path / "levels.zarr"
    config = RadiationDatasetConfig(n_columns=20, seed=1, chunk_size=20, sampler=ColumnSamplerConfig(n_levels=10))
    generate_radiation_dataset(other_levels, config, workers=1, progress=False)
    result = CliRunner().invoke(app, ["evaluate", "--run", str(trained_run), "--data", str(other_levels)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: dataset {other_levels}: 10 levels but the model was trained on {N_LEVELS}"

    missing = tmp_path / "missing.zarr"
    xr.open_zarr(dataset_path).drop_vars("cloud_fraction").to_zarr(missing, zarr_format=2)
    result = CliRunner().invoke(app, ["evaluate", "--run", str(trained_run), "--data", str(missing)])
    assert result.exit_code == 2 and "missing variable(s) cloud_fraction" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_mcica_noise_floor_of_the_reference(dataset_path):
    from subgrid.radiation.evaluation import mcica_noise_floor

    truth = xr.open_zarr(dataset_path)
    floor = mcica_noise_floor(truth, n_columns=200)
    # Cloudy columns make two McICA draws differ; clear ones do not, so the floor is small but > 0.
    assert 0 < floor["lw_heating_rmse_K_day"] < 2 and 0 < floor["sw_heating_rmse_K_day"] < 2
    assert 0 < floor["flux_mae_percent"] < 3
    assert mcica_noise_floor(truth, n_columns=0) is None
    deterministic = truth.assign_attrs(rrtmg_settings=json.dumps({**json.loads(truth.attrs["rrtmg_settings"]), "mcica": False}))
    assert mcica_noise_floor(deterministic) is None
    # Targets averaging K draws have a floor smaller by sqrt(K).
    averaged = mcica_noise_floor(truth.assign_attrs(mcica_samples=4), n_columns=200)
    assert averaged["lw_heating_rmse_K_day"] == pytest.approx(floor["lw_heating_rmse_K_day"] / 2)


def test_skill_against_the_mcica_mean_separates_the_reference_noise(dataset_path):
    """The dataset's own single draw, used as a 'prediction', is exact against itself, not against the mean."""
    from subgrid.radiation.evaluation import skill_against_mcica_mean

    truth = xr.open_zarr(dataset_path).load()
    skill = skill_against_mcica_mean(truth, truth, n_columns=120, draws=4)
    assert skill["columns"] == 120 and skill["draws"] == 4
    assert skill["against_dataset_same_columns"]["lw_heating_rmse_K_day"] == 0
    assert skill["against_mcica_mean"]["lw_heating_rmse_K_day"] > 0.01
    assert skill["against_mcica_mean"]["flux_mae_percent"] > 0.01


def test_export_cli_writes_an_artifact_and_refuses_to_overwrite(trained_run, tmp_path):
    from typer.testing import CliRunner

    from subgrid.cli.main import app

    out = tmp_path / "artifact"
    result = CliRunner().invoke(app, ["export", "--run", str(trained_run), "--out", str(out), "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    sidecar = json.loads((out / "emulator.json").read_text())
    assert (out / "emulator.pt").exists() and sidecar["n_levels"] == N_LEVELS
    again = CliRunner().invoke(app, ["export", "--run", str(trained_run), "--out", str(out)])
    assert again.exit_code == 2 and len(again.output.strip().splitlines()) == 1
