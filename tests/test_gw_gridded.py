"""Gridded gravity-wave fluxes: the public-dataset reader, the Attention U-Net, training, evaluation, CLI.

The files here are written by the tests in the public dataset's layout (``features[time, idim,
lat, lon]`` with ``idim = 3 + 4 L``, ``output[time, odim, lat, lon]`` with ``odim = 3 L``, on the
64 x 128 grid) with few levels and time steps, as zarr stores (the same reader opens netCDF when
netCDF4 or h5netcdf is installed). Their fields are physically shaped, and the fluxes a
learnable function of the inputs: orographic-like sources (surface height) times the wind.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.gravity_waves.gridded.dataset import GriddedSelection, open_gw_gridded
from subgrid.core.errors import InputError
from subgrid.gravity_waves.gridded.evaluation import compare_gw_gridded, evaluate_gw_gridded, gw_gridded_metrics
from subgrid.models import AttentionUNet
from subgrid.gravity_waves.gridded.training import (
    GriddedGWTrainingConfig,
    load_gw_gridded_emulator,
    split_by_time,
    train_gw_gridded,
)

LAT, LON = 64, 128
runner = CliRunner()


def fine_tuning_fields(n_times: int, n_levels: int, seed: int = 0) -> xr.Dataset:
    """A small file in the public layout: inputs (lat, lon, zs, u, v, T, P) -> (θ, u′ω′, v′ω′)."""
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(np.polynomial.legendre.leggauss(LAT)[0]))[::-1]  # Gaussian, north first
    lon = np.arange(LON) * 360.0 / LON
    phi, lam = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    mountains = sum(np.exp(-((phi - rng.uniform(-1, 1)) ** 2 + (lam - rng.uniform(0, 6)) ** 2) / 0.05) for _ in range(6))
    zs = (mountains - mountains.mean()) / mountains.std()
    level = np.arange(n_levels)[:, None, None] / max(1, n_levels - 1)
    u, v, temperature = [], [], []
    for t in range(n_times):
        phase = 2 * np.pi * t / 24.0
        u.append(np.cos(phi) ** 2 * (1 + 2 * level) + 0.5 * np.sin(3 * lam - phase + 4 * level) * np.cos(phi))
        v.append(0.5 * np.cos(2 * lam + phase - 3 * level) * np.cos(phi) ** 2)
        temperature.append(np.cos(phi) ** 2 - level + 0.1 * rng.standard_normal((n_levels, LAT, LON)))
    u, v, temperature = np.array(u), np.array(v), np.array(temperature)
    pressure = np.broadcast_to(1 - 2 * level, u.shape)
    static = np.broadcast_to(np.stack([phi / 1.6, lam / np.pi - 1, zs]), (n_times, 3, LAT, LON))
    features = np.concatenate([static, u, v, temperature, pressure], axis=1)
    source = np.exp(np.clip(zs, -2, 3))  # heavy-tailed, as fluxes over mountains are
    uw = -source * u * np.exp(-2 * level) + 0.2 * u * v
    vw = -source * v * np.exp(-2 * level)
    theta = temperature + 2 * level
    output = np.concatenate([theta, uw, vw], axis=1)
    time = np.datetime64("2015-01-01T00") + np.arange(n_times) * np.timedelta64(1, "h")
    return xr.Dataset(
        {"features": (("time", "idim", "lat", "lon"), features.astype(np.float32)),
         "output": (("time", "odim", "lat", "lon"), output.astype(np.float32))},
        coords={"time": time, "lat": lat, "lon": lon},
    )  # fmt: skip


def write(ds: xr.Dataset, path) -> str:
    ds.chunk({"time": 1}).to_zarr(path, mode="w", zarr_format=2)
    return str(path)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    return write(fine_tuning_fields(n_times=6, n_levels=4), tmp_path_factory.mktemp("gw") / "wxc_small.zarr")


# --- reader ---------------------------------------------------------------------------------


def test_reader_splits_channels_into_named_variables(small_file):
    raw = xr.open_zarr(small_file)
    ds = open_gw_gridded(small_file)
    assert ds.attrs["n_levels"] == 4 and ds.sizes == {"time": 6, "level": 4, "lat": LAT, "lon": LON}
    f, o = raw["features"].values, raw["output"].values
    np.testing.assert_array_equal(ds["surface_height"].values, f[:, 2])
    np.testing.assert_array_equal(ds["u"].values, f[:, 3:7])  # idim 3 ... 3 + L - 1: u, as in the public loader
    np.testing.assert_array_equal(ds["pressure"].values, f[:, 15:19])
    np.testing.assert_array_equal(ds["potential_temperature"].values, o[:, 0:4])
    np.testing.assert_array_equal(ds["vw_flux"].values, o[:, 8:12])
    assert ds["u"].dims == ("time", "level", "lat", "lon") and ds["latitude_feature"].dims == ("time", "lat", "lon")

    selection = GriddedSelection.for_dataset(ds, ["surface_height", "u"], ["uw_flux", "vw_flux"], [1, 3])
    x, y = selection.sample(ds, 2)
    assert x.shape == (5, LAT, LON) and y.shape == (4, LAT, LON) and x.dtype == np.float32
    np.testing.assert_array_equal(y[0], o[2, 5])  # uw_flux level 1: output channel 4 + 1
    np.testing.assert_array_equal(y[3], o[2, 11])  # vw_flux level 3: output channel 8 + 3
    assert selection.input_channels() == ["surface_height", "u[0]", "u[1]", "u[2]", "u[3]"]
    assert selection.target_channels() == ["uw_flux[1]", "uw_flux[3]", "vw_flux[1]", "vw_flux[3]"]


def test_reader_joins_files_along_time(tmp_path, small_file):
    later = fine_tuning_fields(n_times=3, n_levels=4, seed=1)
    later = later.assign_coords(time=later["time"] + np.timedelta64(6, "h"))
    ds = open_gw_gridded([small_file, write(later, tmp_path / "later.zarr")])
    assert ds.sizes["time"] == 9 and list(np.unique(ds["file"].values)) == sorted([small_file, str(tmp_path / "later.zarr")])
    train, validation = split_by_time(ds, 0.34)
    assert list(validation) == [6, 7, 8] and list(train) == list(range(6))  # the last part of the record


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ds: ds.drop_vars("output"), "missing variable 'output'"),
        (lambda ds: ds.isel(lat=slice(0, 32)), "grid is 32 x 128 (lat x lon), expected 64 x 128"),
        (lambda ds: ds.isel(idim=slice(0, 18)), "features has 18 channels; expected 3 + 4 x levels"),
        (lambda ds: ds.isel(odim=slice(0, 9)), "output has 9 channels but features has 19"),
        (lambda ds: ds.assign(features=ds["features"].transpose("time", "idim", "lon", "lat")), "features has dims"),
    ],
)
def test_reader_rejects_bad_layouts(tmp_path, change, message):
    path = write(change(fine_tuning_fields(2, 4)), tmp_path / "bad.zarr")
    with pytest.raises(InputError, match=re.escape(message)):
        open_gw_gridded(path)


def test_reader_names_the_variable_of_a_nan(tmp_path):
    ds = fine_tuning_fields(3, 4)
    ds["features"][1, 3 + 4 + 2, 10, 20] = np.nan  # v, level 2
    path = write(ds, tmp_path / "nan.zarr")
    with pytest.raises(InputError, match=r"v level 2 \(features channel 9\) has 1 non-finite value\(s\) \(NaN\).*time 1, lat 10, lon 20"):
        open_gw_gridded(path)
    lazy = open_gw_gridded(path, check_finite=False)  # the sample reader still refuses it
    with pytest.raises(InputError, match="v: non-finite"):
        GriddedSelection.for_dataset(lazy, ["v"], ["uw_flux"], None).sample(lazy, 1)


def test_reader_reads_a_netcdf_file_of_the_public_layout_as_its_zarr_twin(tmp_path, small_file):
    """The public month is one netCDF file: the same fields written as netCDF4 read back identically."""
    fields = fine_tuning_fields(n_times=3, n_levels=4)
    nc = tmp_path / "wxc_input_u_v_t_p_output_theta_uw_vw_era5_training_data_hourly_2015.nc"
    fields.to_netcdf(nc, format="NETCDF4")
    from_nc = open_gw_gridded(nc)
    from_zarr = open_gw_gridded(write(fields, tmp_path / "twin.zarr"))
    for name in ("u", "surface_height", "uw_flux", "vw_flux"):
        np.testing.assert_array_equal(from_nc[name].values, from_zarr[name].values, err_msg=name)


def test_reader_errors_for_missing_and_netcdf_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_gw_gridded(tmp_path / "absent.nc")
    (tmp_path / "x.nc").write_bytes(b"not a netCDF file")
    with pytest.raises(InputError, match="x.nc: (reading netCDF needs|not a (readable )?netCDF file)"):
        open_gw_gridded(tmp_path / "x.nc")


def test_selection_rejects_unknown_names_and_levels(small_file):
    ds = open_gw_gridded(small_file, check_finite=False)
    with pytest.raises(InputError, match="targets"):
        GriddedSelection.for_dataset(ds, ["u"], ["gw_drag"], None)
    with pytest.raises(InputError, match=r"target_levels: \[4\] must be distinct level indices in \[0, 3\]"):
        GriddedSelection.for_dataset(ds, ["u"], ["uw_flux"], [4])


# --- Attention U-Net ------------------------------------------------------------------------


def test_attention_unet_shapes_gates_and_gradients():
    torch.manual_seed(0)
    model = AttentionUNet(7, 3, base_width=4)
    x = torch.randn(2, 7, LAT, LON, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 3, LAT, LON)
    # One gate per decoder level, coarsest first, one coefficient per grid point, in [0, 1].
    assert [a.shape[-2:] for a in model.attention] == [(8, 16), (16, 32), (32, 64), (64, 128)]
    assert all(a.shape[:2] == (2, 1) and a.min() >= 0 and a.max() <= 1 for a in model.attention)
    y.square().mean().backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    parameters = sum(p.numel() for p in model.parameters())
    print(f"AttentionUNet(7 -> 3, base_width 4): {parameters:,} parameters")
    assert 20_000 < parameters < 200_000


def test_attention_unet_is_periodic_in_longitude():
    torch.manual_seed(0)
    model = AttentionUNet(2, 1, base_width=4).eval()
    x = torch.randn(1, 2, 32, 64)
    with torch.no_grad():  # shifting the input by a multiple of 16 columns (the coarsest cell) shifts the output
        np.testing.assert_allclose(model(x.roll(16, dims=-1)), model(x).roll(16, dims=-1), atol=1e-5)
    with pytest.raises(ValueError, match="divisible by 16"):
        model(torch.randn(1, 2, 30, 64))


# --- training, evaluation, CLI --------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("gw_train")
    data = write(fine_tuning_fields(n_times=40, n_levels=2), root / "train.zarr")
    config = GriddedGWTrainingConfig(
        inputs=["surface_height", "u", "v"], epochs=2, batch_size=2, learning_rate=1e-2, validation_fraction=0.25,
        model_options={"base_width": 8}, seed=1,
    )  # fmt: skip
    report = train_gw_gridded(data, root / "run", config, progress=False)
    return data, root / "run", report


def test_training_learns_and_writes_a_run(trained):
    data, run, report = trained
    for name in ("model.json", "model.safetensors", "config.yaml", "metrics.csv", "checkpoints/last.ckpt"):
        assert (run / name).exists(), name
    description = json.loads((run / "model.json").read_text())
    assert description["kind"] == "gw_gridded_emulator" and description["validation_period"]["time_steps"] == 10
    assert description["input_channels"] == ["surface_height", "u[0]", "u[1]", "v[0]", "v[1]"]
    emulator, _ = load_gw_gridded_emulator(run)
    # Targets are standardised on the training period, so predicting their mean scores ~1: the
    # U-Net must do clearly better after two epochs.
    assert report.epochs == 2 and report.best_val_loss < 0.5
    log = pd.read_csv(run / "metrics.csv")
    assert log["val_loss"].iloc[1] < 0.8 * log["val_loss"].iloc[0] and log["val_r2"].iloc[1] > 0.5
    assert emulator.target_std.shape == (4,)
    with pytest.raises(InputError, match="already holds a trained model"):
        train_gw_gridded(data, run, GriddedGWTrainingConfig(epochs=1), progress=False)


def test_evaluation_metrics_and_plots(trained, tmp_path):
    data, run, _ = trained
    metrics = evaluate_gw_gridded(run, data, tmp_path / "eval")
    for name in ("metrics.json", "time_mean_maps.png", "zonal_means.png", "instantaneous_maps.png", "hellinger_by_level.png"):
        assert (tmp_path / "eval" / name).exists(), name
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["period"]["time_steps"] == 10
    for name in ("uw_flux", "vw_flux"):
        scores = saved["targets"][name]
        assert len(scores["hellinger"]["by_level"]) == 2 and "symlog" in scores["hellinger"]["binning"]
        assert 0 < scores["hellinger"]["overall"] < 1 and scores["r2"]["overall"] < 1
    assert set(saved["targets"]["uw_flux"]["bands"]) == {"levels 0-0", "levels 1-1"}

    truth = open_gw_gridded(data)[["uw_flux"]].isel(time=slice(0, 4))
    perfect = gw_gridded_metrics(truth, truth)["targets"]["uw_flux"]
    assert perfect["hellinger"]["overall"] == 0 and perfect["rmse"]["overall"] == 0 and perfect["r2"]["overall"] == 1
    rng = np.random.default_rng(0)
    values = truth["uw_flux"].values.copy()
    shuffled = truth.copy(data={"uw_flux": rng.permuted(values * rng.choice([-1.0, 1.0], values.shape), axis=-1)})
    assert gw_gridded_metrics(truth, shuffled)["targets"]["uw_flux"]["hellinger"]["overall"] > 0.05


def test_cli_round_trip_and_one_line_errors(trained, tmp_path):
    data, _, _ = trained
    run = tmp_path / "cli_run"
    args = ["train", "gw-gridded", "--data", data, "--out", str(run), "--model", "unet", "--epochs", "1",
            "--batch-size", "3", "--input", "surface_height", "--input", "u", "--target-level", "1",
            "--model-option", "base_width=4", "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "model.json").read_text())["target_channels"] == ["uw_flux[1]", "vw_flux[1]"]
    result = runner.invoke(app, ["evaluate", "--run", str(run), "--data", data, "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    assert "uw_flux" in result.output and (tmp_path / "ev" / "metrics.json").exists()

    bad = fine_tuning_fields(2, 2)
    bad["output"][1, 0, 0, 0] = np.inf
    bad_path = write(bad, tmp_path / "bad.zarr")
    result = runner.invoke(app, ["train", "gw-gridded", "--data", bad_path, "--out", str(tmp_path / "never")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "potential_temperature level 0" in result.output and "Inf" in result.output
    assert not (tmp_path / "never").exists()  # nothing half-written
    result = runner.invoke(app, ["evaluate", "--run", str(run), "--data", bad_path, "--out", str(tmp_path / "ev2")])
    assert result.exit_code == 2 and not (tmp_path / "ev2").exists()
    result = runner.invoke(app, ["train", "gw-gridded", "--data", data, "--out", str(tmp_path / "x"), "--input", "q"])
    assert result.exit_code == 2 and "inputs" in result.output and not (tmp_path / "x").exists()


def test_comparison_table_and_figures_of_several_runs(trained, tmp_path):
    data, unet_run, _ = trained
    config = GriddedGWTrainingConfig.from_yaml(unet_run / "config.yaml")
    prithvi = replace(config, model="prithvi", epochs=1, model_options={
        "embed_dim": 16, "n_heads": 2, "n_blocks_encoder": 1, "n_blocks_decoder": 1, "fine_tune": "frozen"})
    train_gw_gridded(data, tmp_path / "fm", prithvi, progress=False)
    summary = compare_gw_gridded([unet_run, tmp_path / "fm"], data, tmp_path / "cmp", labels=["U-Net", "FM frozen"])
    for name in ("comparison.md", "comparison.json", "time_mean_maps.png", "instantaneous_maps.png", "zonal_means.png",
                 "hellinger_by_level.png"):
        assert (tmp_path / "cmp" / name).exists(), name
    rows = {row["run"]: row for row in summary["rows"]}
    single = evaluate_gw_gridded(unet_run, data, tmp_path / "single")["targets"]
    # The table holds the numbers a single evaluation computes, and the mean is over both targets.
    assert rows["U-Net"]["hellinger"]["uw_flux"] == single["uw_flux"]["hellinger"]["overall"]
    mean = (single["uw_flux"]["hellinger"]["overall"] + single["vw_flux"]["hellinger"]["overall"]) / 2
    assert rows["U-Net"]["hellinger_mean"] == pytest.approx(mean)
    # A frozen backbone trains only its embedding and head; the table says so.
    assert rows["FM frozen"]["fine_tune"] == "frozen" and not rows["FM frozen"]["pretrained"]
    assert rows["FM frozen"]["trainable_parameters"] < rows["FM frozen"]["parameters"]
    assert rows["U-Net"]["trainable_parameters"] == rows["U-Net"]["parameters"]
    assert rows["U-Net"]["training_minutes"] > 0
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| U-Net | unet |" in table and "| FM frozen | prithvi | frozen | no |" in table
    best = min(rows.values(), key=lambda row: row["hellinger_mean"])
    assert f"**{best['hellinger_mean']:.4f}**" in table

    result = runner.invoke(app, ["evaluate", "--run", str(unet_run), "--run", str(tmp_path / "fm"), "--data", data,
                                 "--out", str(tmp_path / "cli_cmp"), "--region", "-30,30,0,180"])
    assert result.exit_code == 0, result.output
    assert "| run | unet |" in result.output and "| fm | prithvi |" in result.output
    saved = json.loads((tmp_path / "cli_cmp" / "comparison.json").read_text())
    assert saved["region"]["box"] == [-30.0, 30.0, 0.0, 180.0]
    result = runner.invoke(app, ["evaluate", "--run", str(unet_run), "--run", str(tmp_path / "fm"), "--data", data])
    assert result.exit_code == 2 and "--out" in result.output
    with pytest.raises(InputError, match="distinct names"):
        compare_gw_gridded([unet_run, unet_run], data, tmp_path / "never")
    other = tmp_path / "one_level"  # predicts one level only: not comparable
    train_gw_gridded(data, other, replace(config, epochs=1, target_levels=[1]), progress=False)
    with pytest.raises(InputError, match="not comparable"):
        compare_gw_gridded([unet_run, other], data, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_training_refuses_an_out_that_is_not_a_run_and_deletes_nothing(tmp_path, small_file):
    foreign = tmp_path / "data"
    foreign.mkdir()
    (foreign / "precious.nc").write_text("keep me")
    with pytest.raises(InputError, match="not written by subgrid"):
        train_gw_gridded(small_file, foreign, GriddedGWTrainingConfig(epochs=1))
    assert (foreign / "precious.nc").read_text() == "keep me"


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, small_file):
    config = GriddedGWTrainingConfig(epochs=1, batch_size=2, validation_fraction=0.34, model_options={"base_width": 4})
    first = train_gw_gridded(small_file, tmp_path / "run", config, progress=False)
    (tmp_path / "run" / "model.safetensors").unlink()  # as if killed before the weights were exported
    again = train_gw_gridded(small_file, tmp_path / "run", config, progress=False)
    assert not first.resumed and again.resumed and again.epochs == 1
    assert (tmp_path / "run" / "model.safetensors").exists()
    (tmp_path / "run" / "model.safetensors").unlink()
    with pytest.raises(InputError, match="interrupted run with another config"):
        train_gw_gridded(small_file, tmp_path / "run", replace(config, learning_rate=1e-4), progress=False)


def test_the_trained_emulator_online_is_a_parameterization_predicting_one_state(trained):
    from subgrid.core.contract import Parameterization
    from subgrid.gravity_waves.gridded.emulator import GriddedFluxEmulator
    from subgrid.gravity_waves.gridded.training import predict_gw_gridded

    data, run, _ = trained
    fluxes = GriddedFluxEmulator.load(run)
    assert isinstance(fluxes, Parameterization)
    assert list(fluxes.inputs) == ["surface_height", "u", "v"] and list(fluxes.outputs) == ["uw_flux", "vw_flux"]
    assert fluxes.inputs["u"].dims == ("level", "lat", "lon") and fluxes.inputs["surface_height"].dims == ("lat", "lon")
    assert fluxes.outputs["uw_flux"].units == "1"  # the public layout is normalised by its producer
    ds = open_gw_gridded(data)
    state = ds.isel(time=7)[list(fluxes.inputs)].load()
    predicted = fluxes.tendencies(state)
    reference = predict_gw_gridded(fluxes.emulator, ds, GriddedSelection.for_dataset(ds, ["surface_height", "u", "v"],
                                                                                       ["uw_flux", "vw_flux"], None), [7])  # fmt: skip
    for name in ("uw_flux", "vw_flux"):
        assert predicted[name].shape == (2, LAT, LON)
        np.testing.assert_allclose(predicted[name], reference[name].values[0], rtol=1e-5, atol=1e-6)
    as_arrays = fluxes.tendencies({name: state[name].values for name in fluxes.inputs})
    np.testing.assert_array_equal(as_arrays["uw_flux"], predicted["uw_flux"])
    with pytest.raises(InputError, match="no 'v'"):
        fluxes.tendencies({"surface_height": state["surface_height"].values, "u": state["u"].values})
    with pytest.raises(InputError, match="u: shape"):
        fluxes.tendencies({**{n: state[n].values for n in fluxes.inputs}, "u": state["u"].values[:1]})


def test_a_step_budget_stops_training_after_that_many_optimizer_steps(tmp_path, trained):
    data = trained[0]  # 30 training times at batch 2: 15 steps an epoch
    config = GriddedGWTrainingConfig(inputs=["u"], epochs=10, batch_size=2, validation_fraction=0.25, max_steps=30,
                                     model_options={"base_width": 4})
    report = train_gw_gridded(data, tmp_path / "run", config, progress=False)
    assert report.epochs == 2  # the budget, not the 10 epochs, ended it
    assert json.loads((tmp_path / "run" / "model.json").read_text())["trained_epochs"] == 2
    with pytest.raises(InputError, match="max_steps"):
        GriddedGWTrainingConfig(max_steps=0)
