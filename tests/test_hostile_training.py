"""Hostile inputs to training, export and the runtime (issue 20, items 3, 8 and 9).

Each case asserts the exit status (2) or the exception, the one-line message naming the file or
variable, and that nothing is left behind: no run directory, no ``.partial``, the user's
sentinel file untouched. Datasets are synthetic (sampled inputs, random finite targets): the
checks are about the data's shape and values, not RRTMG's physics.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.core.errors import InputError, SubgridError
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.radiation.training_data import open_radiation_dataset

runner = CliRunner()
N_LEVELS = 10
TINY = ["--model-option", "width=8", "--model-option", "depth=1", "--batch-size", "64", "--epochs", "1"]


def write_radiation_dataset(path: Path, n_columns: int = 200, chunk: int = 50) -> Path:
    """Sampled columns with random finite targets of the right dims and units, chunked along ``column``."""
    ds = sample_columns(n_columns, np.random.default_rng(0), ColumnSamplerConfig(n_levels=N_LEVELS))
    rng = np.random.default_rng(1)
    for name, var in RADIATION_OUTPUTS.items():
        shape = tuple(ds.sizes[dim] if dim in ds.sizes else N_LEVELS + 1 for dim in var.dims)
        ds[name] = xr.Variable(var.dims, 100.0 + 10.0 * rng.standard_normal(shape), var.attrs())
    ds = ds.drop_vars([name for name in ds.coords if name not in ds.dims]).chunk({"column": chunk})
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_radiation_dataset(tmp_path_factory.mktemp("data") / "rad.zarr")


@pytest.fixture
def sentinel(tmp_path) -> Path:
    path = tmp_path / "keep.txt"
    path.write_text("the user's file")
    return path


def refused(args: list[str], *fragments: str) -> str:
    """Run the CLI; require exit status 2 and a one-line error holding every fragment."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1, result.output
    for fragment in fragments:
        assert fragment in error[0], result.output
    return error[0]


def usage_refused(args: list[str], option: str) -> None:
    """Run the CLI; require a usage error found while the options are parsed: one line naming ``option``, exit 2."""
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()], result.output
    assert result.output.startswith(f"error: {option}: "), result.output


def untouched(sentinel: Path, *absent: Path) -> None:
    assert sentinel.read_text() == "the user's file"
    for path in absent:
        assert not path.exists(), f"{path} was left behind"


# ----------------------------------------------------------------------------------------------
# Item 3: non-finite data and unfinished stores are refused before training


def test_nan_target_refused_before_training(dataset, tmp_path, sentinel):
    bad = tmp_path / "nan.zarr"
    shutil.copytree(dataset, bad)
    heating = zarr.open_group(str(bad), mode="r+")["lw_heating_rate"]
    values = heating[:]
    values[7, 3] = np.nan
    heating[:] = values
    run = tmp_path / "run"
    refused(["train", "radiation", "--data", str(bad), "--out", str(run), "--no-progress", *TINY],
            str(bad), "lw_heating_rate", "non-finite", "column 7")  # fmt: skip
    untouched(sentinel, run)


def test_inf_input_refused_by_the_opener(dataset, tmp_path):
    bad = tmp_path / "inf.zarr"
    shutil.copytree(dataset, bad)
    temperature = zarr.open_group(str(bad), mode="r+")["surface_temperature"]
    values = temperature[:]
    values[120] = np.inf
    temperature[:] = values
    with pytest.raises(InputError, match=r"surface_temperature has 1 non-finite value.*column 120"):
        open_radiation_dataset(bad)


def test_partial_store_refused(dataset, tmp_path, sentinel):
    partial = tmp_path / "rad.zarr.partial"
    shutil.copytree(dataset, partial)
    run = tmp_path / "run"
    refused(["train", "radiation", "--data", str(partial), "--out", str(run), "--no-progress", *TINY],
            str(partial), "unfinished")  # fmt: skip
    untouched(sentinel, run)


def test_store_with_undone_chunks_refused(dataset, tmp_path):
    renamed = tmp_path / "renamed.zarr"  # a .partial renamed by hand: its chunk_done record still tells
    shutil.copytree(dataset, renamed)
    ds = xr.Dataset({"chunk_done": ("chunk", np.array([1, 0, 1, 0], dtype="int8"))})
    ds.to_zarr(renamed, mode="a", zarr_format=2, consolidated=True)
    with pytest.raises(InputError, match=r"renamed.zarr: an unfinished dataset: 2 of 4 chunks"):
        open_radiation_dataset(renamed)


def test_gw_column_nan_and_partial_refused(tmp_path):
    from subgrid.gravity_waves.column import dataset as gw

    (tmp_path / "gw.zarr.partial").mkdir()
    with pytest.raises(InputError, match=r"gw.zarr.partial: an unfinished dataset"):
        gw.open_gw_dataset(tmp_path / "gw.zarr.partial")

    n, levels = 6, 4
    variables = {name: (dims, np.ones([n if d == "column" else levels for d in dims]), attrs)
                 for name, (dims, attrs) in gw.VARIABLES.items()}  # fmt: skip
    variables["gw_drag"][1][2, 1] = np.nan
    coords = {"time": ("column", np.arange(n, dtype=float)), "run": ("column", np.zeros(n, dtype=int)),
              "height": ("level", np.arange(levels, dtype=float)), "air_density": ("level", np.ones(levels))}  # fmt: skip
    ds = xr.Dataset(variables, coords=coords, attrs={name: "x" for name in gw.REQUIRED_ATTRS})
    ds.to_zarr(tmp_path / "gw.zarr", zarr_format=2)
    with pytest.raises(InputError, match=r"gw.zarr: gw_drag has 1 non-finite value.*sample 2"):
        gw.load_gw_arrays([tmp_path / "gw.zarr"])


def test_gridded_zarr_partial_refused(tmp_path):
    from subgrid.gravity_waves.gridded.dataset import open_gw_gridded

    (tmp_path / "flux.zarr.partial").mkdir()
    with pytest.raises(InputError, match=r"flux.zarr.partial: an unfinished dataset"):
        open_gw_gridded(tmp_path / "flux.zarr.partial")


# ----------------------------------------------------------------------------------------------
# Item 3: a diverging run stops, publishes nothing; export and runtime refuse NaN


def test_diverging_run_stops_without_publishing(dataset, tmp_path):
    run = tmp_path / "run"
    message = refused(["train", "radiation", "--data", str(dataset), "--out", str(run), "--no-progress",
                       "--optimizer", "sgd", "--lr", "1e12", *TINY], str(run), "training diverged", "epoch 0")  # fmt: skip
    assert "nan" in message or "inf" in message
    assert not (run / "model.safetensors").exists()


@pytest.fixture(scope="module")
def trained_run(dataset, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    result = runner.invoke(app, ["train", "radiation", "--data", str(dataset), "--out", str(run), "--no-progress", *TINY])
    assert result.exit_code == 0, result.output
    return run


def test_training_prints_no_lightning_advertising_or_leafspec_warning(trained_run, dataset, tmp_path, capfd):
    from subgrid.radiation.training import RadiationTrainingConfig, train_radiation

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        train_radiation(dataset, tmp_path / "run", RadiationTrainingConfig(epochs=1, batch_size=64,
                        model_options={"width": 8, "depth": 1}), progress=False)  # fmt: skip
    out, err = capfd.readouterr()
    assert "💡 Tip" not in out + err and "litlogger" not in out + err
    assert not [w for w in caught if "LeafSpec" in str(w.message)]
    with pytest.warns(FutureWarning, match="a real deprecation"):  # the filter is specific to LeafSpec's
        warnings.warn("a real deprecation stays", FutureWarning, stacklevel=1)


def test_export_refuses_nan_weights(trained_run, tmp_path, sentinel):
    run = tmp_path / "nan_run"
    shutil.copytree(trained_run, run)
    weights = load_file(str(run / "model.safetensors"))
    name = next(k for k, v in weights.items() if v.is_floating_point() and v.numel() > 1)
    weights[name][0] = float("nan")
    save_file(weights, str(run / "model.safetensors"))
    out = tmp_path / "artifact"
    refused(["export", "--run", str(run), "--out", str(out)], "model.safetensors", name, "non-finite")
    untouched(sentinel, out)


def test_runtime_raises_on_nan_output_and_guard_gets_nan_back(trained_run, tmp_path):
    from subgrid.radiation.emulator import Emulator

    out = tmp_path / "artifact"
    assert runner.invoke(app, ["export", "--run", str(trained_run), "--out", str(out)]).exit_code == 0
    columns = sample_columns(3, np.random.default_rng(5), ColumnSamplerConfig(n_levels=N_LEVELS))
    arrays = {name: columns[name].values for name in RADIATION_INPUTS}

    def nan_in_column_1(run):
        def patched(*inputs):
            fluxes, heating = run(*inputs)
            heating = heating.copy()
            heating[1] = np.nan
            return fluxes, heating

        return patched

    emulator = Emulator.load(out, ood_guard=False)
    emulator._run = nan_in_column_1(emulator._run)
    with pytest.raises(SubgridError, match=r"lw_heating_rate: the emulator .* NaN or Inf for 1 of 3 column\(s\), first column 1"):
        emulator.tendencies(arrays)
    returning = Emulator.load(out, ood_guard=False, non_finite="return")
    returning._run = nan_in_column_1(returning._run)
    assert np.isnan(returning.tendencies(arrays)["lw_heating_rate"][1]).all()
    guarded = emulator.guarded()  # the guard's copy returns NaN, so column 1 goes to RRTMG
    result = guarded.tendencies(arrays)
    assert np.isfinite(result["lw_heating_rate"]).all()
    with pytest.raises(InputError, match="non_finite"):
        Emulator.load(out, non_finite="ignore")


# ----------------------------------------------------------------------------------------------
# Item 8: command-line values refused early, with the option named


def test_too_many_levels_names_the_level_limit(tmp_path, sentinel):
    out = tmp_path / "d.zarr"
    message = refused(["generate", "radiation", "--out", str(out), "--levels", "100000", "--no-progress"],
                      "n_levels", "at most 571")  # fmt: skip
    assert "[100, 9)" not in message
    untouched(sentinel, out, tmp_path / "d.zarr.partial")


@pytest.mark.parametrize("days", ["0.01", "2.5", "0"])
def test_rce_days_checked_while_parsing(tmp_path, days):
    for command in (["online", "radiation", "--emulator", str(tmp_path)],
                    ["replay", "radiation", "--run", str(tmp_path), "--data", str(tmp_path)]):  # fmt: skip
        usage_refused([*command, "--days", days, "--out", str(tmp_path / "o")], "--days")
    assert not (tmp_path / "o").exists()


def test_gw_simulation_days_checked_first(tmp_path):
    usage_refused(["generate", "gw-simulation", "--out", str(tmp_path / "g.zarr"), "--days", "0"], "--days")
    refused(["generate", "gw-simulation", "--out", str(tmp_path / "g.zarr"), "--days", "0.01"],
            "--days 0.01", "output interval")  # fmt: skip
    assert not (tmp_path / "g.zarr").exists()


def test_source_flux_scale_zero_refused_while_parsing(tmp_path):
    usage_refused(["online", "gw", "--emulator", str(tmp_path), "--source-flux-scale", "0"], "--source-flux-scale")
    result = runner.invoke(app, ["online", "gw", "--help"], terminal_width=200)
    assert "> 0" in result.output


def test_replay_data_checked_before_round_0(trained_run, tmp_path):
    out = tmp_path / "replay"
    missing = tmp_path / "missing.zarr"
    refused(["replay", "radiation", "--run", str(trained_run), "--data", str(missing), "--out", str(out),
             "--cases", "1", "--days", "1", "--no-progress"], str(missing), "no such dataset")  # fmt: skip
    unlabelled = tmp_path / "unlabelled.zarr"
    sample_columns(4, np.random.default_rng(0), ColumnSamplerConfig(n_levels=N_LEVELS)).to_zarr(unlabelled, zarr_format=2)
    refused(["replay", "radiation", "--run", str(trained_run), "--data", str(unlabelled), "--out", str(out),
             "--cases", "1", "--days", "1", "--no-progress"], str(unlabelled), "missing variable")  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize("option", ["width=0", "kernel_size=4"])
def test_bad_model_option_leaves_no_run_directory(dataset, tmp_path, sentinel, option):
    run = tmp_path / "run"
    refused(["train", "radiation", "--data", str(dataset), "--out", str(run), "--no-progress", "--epochs", "1",
             "--model-option", option], option.split("=")[0])  # fmt: skip
    untouched(sentinel, run)


def test_nan_in_from_file_leaves_no_partial_store(tmp_path, sentinel):
    columns = sample_columns(20, np.random.default_rng(0), ColumnSamplerConfig(n_levels=N_LEVELS))
    columns["air_temperature"][13, 5] = np.nan
    source = tmp_path / "nan.nc"
    columns.to_netcdf(source)
    out = tmp_path / "labelled.zarr"
    message = refused(["generate", "radiation", "--from", str(source), "--out", str(out), "--workers", "1",
                       "--chunk-size", "10", "--no-progress"], str(source), "air_temperature", "NaN")  # fmt: skip
    assert "resume" not in message
    untouched(sentinel, out, tmp_path / "labelled.zarr.partial")
