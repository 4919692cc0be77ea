"""Exported emulators: artifacts that reproduce the Python model, a truthful sidecar, safe writes, and the runtime."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import xarray as xr

from subgrid.radiation import export
from subgrid.radiation.emulator import Emulator
from subgrid.radiation.export import ExportError, export_run, output_discrepancy, run_artifact
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.radiation.dataset import RadiationDatasetConfig, generate_radiation_dataset
from subgrid.core.contract import Parameterization
from subgrid.core.errors import InputError
from subgrid.models.radiation import COLUMN_FEATURES, FLUXES, HEATING_RATES, LEVEL_FEATURES
from subgrid.physics.rrtmg import RRTMG, RRTMGConfig, radiative_transfer
from subgrid.physics.schema import RADIATION_INPUTS
from subgrid.radiation.training import RadiationTrainingConfig, load_emulator, train_radiation
from subgrid.radiation.training_data import to_tensors

N_LEVELS = 12
FORMATS = ("torchscript", "onnx")


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "rad.zarr"
    config = RadiationDatasetConfig(n_columns=240, seed=4, chunk_size=60, sampler=ColumnSamplerConfig(n_levels=N_LEVELS))
    generate_radiation_dataset(path, config, workers=1, progress=False)
    return path


@pytest.fixture(scope="module")
def run(dataset_path, tmp_path_factory):
    run = tmp_path_factory.mktemp("export") / "run"
    options = {"width": 8, "depth": 2}
    config = RadiationTrainingConfig(epochs=2, model="rescnn", model_options=options, batch_size=64, statistics_columns=120)
    train_radiation(dataset_path, run, config, progress=False)
    return run


@pytest.fixture(scope="module")
def artifacts(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts")
    return {fmt: export_run(run, out / fmt, fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def columns():
    """Realistic columns unseen in training, with night, day, clear and cloudy ones."""
    ds = sample_columns(96, np.random.default_rng(7), ColumnSamplerConfig(n_levels=N_LEVELS))
    night = ds["cos_solar_zenith_angle"].values <= 0
    cloudy = (ds["cloud_fraction"].values > 0).any(axis=1)
    assert night.any() and (~night).any() and cloudy.any() and (~cloudy).any()
    return ds


def _inputs(ds: xr.Dataset) -> tuple[torch.Tensor, ...]:
    tensors = to_tensors(ds, targets=False)
    return tuple(tensors[name] for name in export.INPUT_NAMES)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n_columns", [1, 96])
def test_artifacts_equal_the_python_model(run, artifacts, columns, fmt, n_columns):
    emulator, _ = load_emulator(run)
    inputs = _inputs(columns.isel(column=slice(0, n_columns)))
    with torch.no_grad():
        reference = emulator(*inputs)
    outputs = run_artifact(artifacts[fmt] / export.ARTIFACTS[fmt], inputs)
    assert [tuple(o.shape) for o in outputs] == [(n_columns, 4, N_LEVELS + 1), (n_columns, 2, N_LEVELS)]
    if fmt == "torchscript":  # same kernels as eager PyTorch: bit for bit
        assert all(torch.equal(a, b) for a, b in zip(outputs, reference, strict=True))
    # Fluxes to 1e-5 of each column's flux scale; heating rates to what a 1e-5 flux difference implies.
    flux_scale = reference[0].abs().amax(dim=(1, 2), keepdim=True).numpy()
    assert np.all(np.abs(outputs[0].numpy() - reference[0].numpy()) <= 1e-5 * flux_scale)
    discrepancy = output_discrepancy(reference, outputs, inputs[2])
    assert max(discrepancy.values()) <= export.EXPORT_TOLERANCE, discrepancy


def test_sidecar_describes_the_artifact(run, artifacts, dataset_path):
    sidecar = json.loads((artifacts["onnx"] / export.SIDECAR).read_text())
    description = json.loads((run / "model.json").read_text())
    assert sidecar["format"] == "onnx" and sidecar["artifact"] == "emulator.onnx"
    assert sidecar["n_levels"] == N_LEVELS and sidecar["vertical_order"] == "surface_first"
    assert sidecar["model"] == description
    level, column, pressure = sidecar["inputs"]
    assert [f["name"] for f in level["features"]] == [n for n, _ in LEVEL_FEATURES]
    assert [f["name"] for f in column["features"]] == [n for n, _ in COLUMN_FEATURES]
    assert all(f["units"] == RADIATION_INPUTS[f["name"]].units for f in level["features"] + column["features"])
    assert level["shape"] == [None, 9, N_LEVELS] and level["dims"] == ["column", "feature", "level"]
    assert level["fortran_dims"] == ["level", "feature", "column"]
    assert pressure["shape"] == [None, N_LEVELS + 1] and pressure["units"] == "Pa"
    fluxes, heating = sidecar["outputs"]
    assert [f["name"] for f in fluxes["features"]] == list(FLUXES) and fluxes["features"][0]["units"] == "W m-2"
    assert [f["name"] for f in heating["features"]] == list(HEATING_RATES) and heating["features"][0]["units"] == "K day-1"

    # Training range: min/max over the whole training dataset, mean/std = the normalisation buffers.
    emulator, _ = load_emulator(run)
    ds = xr.open_zarr(dataset_path)
    features = sidecar["training_range"]["features"]
    np.testing.assert_allclose(features["air_temperature"]["min"], ds["air_temperature"].min("column"))
    np.testing.assert_allclose(features["air_pressure_on_interface"]["max"], ds["air_pressure_on_interface"].max("column"))
    assert features["co2_mole_fraction"]["max"] == pytest.approx(float(ds["co2_mole_fraction"].max()))
    assert features["specific_humidity"]["transform"] == "log"
    np.testing.assert_allclose(features["specific_humidity"]["mean"], emulator.level_mean[2].numpy(), rtol=1e-6)
    assert features["surface_temperature"]["std"] == pytest.approx(float(emulator.column_std[0]))
    assert sidecar["fallback_scheme"]["settings"] == json.loads(ds.attrs["rrtmg_settings"])
    assert sidecar["verification"]["discrepancy"]["fluxes"] <= export.EXPORT_TOLERANCE


def test_a_failed_export_leaves_nothing_behind(run, tmp_path, monkeypatch):
    def crash(emulator, path, example):
        path.write_bytes(b"half an artifact")
        raise RuntimeError("disk full")

    monkeypatch.setitem(export.EXPORTERS, "onnx", crash)
    with pytest.raises(ExportError, match="onnx export failed: disk full"):
        export_run(run, tmp_path / "out", "onnx")
    assert list(tmp_path.iterdir()) == []


def test_an_artifact_that_disagrees_with_the_model_is_not_published(run, tmp_path, monkeypatch):
    def wrong_model(emulator, path, example):
        with torch.no_grad():
            emulator.anchor_mean[0] += 10.0  # 10 W m-2 more LW up at the surface
        try:
            export.export_torchscript(emulator, path, example)
        finally:
            with torch.no_grad():
                emulator.anchor_mean[0] -= 10.0

    monkeypatch.setitem(export.EXPORTERS, "torchscript", wrong_model)
    with pytest.raises(ExportError, match="differs from the eager model"):
        export_run(run, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_existing_artifacts_are_kept_unless_overwritten(run, artifacts, tmp_path):
    with pytest.raises(InputError, match="already exists"):
        export_run(run, artifacts["torchscript"])
    with pytest.raises(InputError, match="unknown export format 'tflite'"):
        export_run(run, tmp_path / "x", "tflite")
    out = export_run(run, tmp_path / "ts", "torchscript")
    export_run(run, out, "torchscript", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ts"]
    assert sorted(p.name for p in out.iterdir()) == [".subgrid.json", "emulator.json", "emulator.pt"]


def test_torchscript_runs_with_plain_torch_and_positional_tensors(artifacts, columns, tmp_path):
    """As FTorch or a C++ host would: torch.jit.load in a process that never imports subgrid."""
    inputs = _inputs(columns.isel(column=slice(0, 5)))
    for name, tensor in zip(export.INPUT_NAMES, inputs, strict=True):
        np.save(tmp_path / f"{name}.npy", tensor.numpy())
    script = f"""
import sys, numpy as np, torch
model = torch.jit.load({str(artifacts["torchscript"] / "emulator.pt")!r})
inputs = [torch.from_numpy(np.load({str(tmp_path)!r} + f"/{{n}}.npy")) for n in {export.INPUT_NAMES!r}]
fluxes, heating = model(*inputs)
np.save({str(tmp_path / "fluxes.npy")!r}, fluxes.detach().numpy())
try:
    model(inputs[0].transpose(1, 2).contiguous(), inputs[1], inputs[2])  # a Fortran-order mistake
except Exception as error:
    print(str(error).strip().splitlines()[-1])
assert "subgrid" not in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "level_inputs [column, feature, level]: expected shape [5, 9, 12], got [5, 12, 9]" in result.stdout
    # Another process may split work over other thread counts: equal up to float32 rounding.
    expected = run_artifact(artifacts["torchscript"] / "emulator.pt", inputs)[0].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "fluxes.npy"), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("fmt", FORMATS)
def test_emulator_returns_what_radiative_transfer_returns(artifacts, columns, fmt):
    emulator = Emulator.load(artifacts[fmt], threads=1, ood_guard=False)
    emulated = emulator.tendencies(columns)
    reference = radiative_transfer(columns.isel(column=slice(0, 4)))
    assert set(emulated.data_vars) == set(FLUXES + HEATING_RATES) <= set(reference.data_vars)
    for name, variable in emulated.data_vars.items():
        assert variable.dims == reference[name].dims and variable.attrs == reference[name].attrs
        assert variable.dtype == reference[name].dtype
    assert emulated.attrs["vertical_order"] == "surface_first"
    fluxes, heating = run_artifact(artifacts[fmt] / export.ARTIFACTS[fmt], _inputs(columns))
    np.testing.assert_array_equal(emulated["sw_flux_down"].values, fluxes[:, 3].double().numpy())
    np.testing.assert_array_equal(emulated["lw_heating_rate"].values, heating[:, 0].double().numpy())

    # Top-first in, top-first out; a dict of arrays in, a dict out.
    flipped = columns.isel(level=slice(None, None, -1), interface=slice(None, None, -1)).assign_attrs(vertical_order="top_first")
    back = emulator.tendencies(flipped)
    assert back.attrs["vertical_order"] == "top_first"
    np.testing.assert_array_equal(back["lw_flux_up"].values[:, ::-1], emulated["lw_flux_up"].values)
    arrays = emulator.tendencies({name: columns[name].values for name in RADIATION_INPUTS})
    np.testing.assert_array_equal(arrays["sw_heating_rate"], emulated["sw_heating_rate"].values)


def test_batching_does_not_change_results(artifacts, columns):
    whole = Emulator.load(artifacts["onnx"], threads=1, ood_guard=False).tendencies(columns)
    pieces = Emulator.load(artifacts["onnx"], threads=2, max_batch_size=7, ood_guard=False).tendencies(columns)
    for name in whole.data_vars:
        np.testing.assert_allclose(pieces[name].values, whole[name].values, rtol=1e-6, atol=1e-4)


def test_out_of_range_columns_fall_back_to_rrtmg(artifacts, dataset_path):
    """Training columns are in range by construction; one planted column is not, and RRTMG computes it."""
    ds = xr.open_zarr(dataset_path).isel(column=slice(0, 24)).load()
    arrays = {name: ds[name].values.copy() for name in RADIATION_INPUTS}
    emulator = Emulator.load(artifacts["torchscript"], fallback_seed=11)
    guard = emulator.guarded()
    assert isinstance(emulator, Parameterization) and isinstance(guard, Parameterization)
    assert set(emulator.outputs) == set(FLUXES + HEATING_RATES) and emulator.inputs == RADIATION_INPUTS
    assert not emulator.out_of_distribution(arrays).any()
    plain = guard.tendencies(arrays)
    assert guard.counts.fallback_columns == 0

    arrays["co2_mole_fraction"][5] = 3000e-6  # a valid atmosphere, far above the 1200 ppm of training
    guarded = guard.tendencies(arrays)
    assert guard.counts.out_of_distribution_columns == 1
    config = RRTMGConfig(**json.loads(ds.attrs["rrtmg_settings"]))
    # The fallback is RRTMG at the training data's settings, McICA seeded from fallback_seed and the state.
    physics = RRTMG(config, seed=11).tendencies({name: value[5:6] for name, value in arrays.items()})
    others = np.arange(24) != 5
    for name in FLUXES + HEATING_RATES:
        np.testing.assert_array_equal(guarded[name][5], physics[name][0])
        np.testing.assert_array_equal(guarded[name][others], plain[name][others])
    unguarded = emulator.tendencies(arrays)  # the emulator alone computes every column
    np.testing.assert_array_equal(unguarded["lw_flux_up"][others], plain["lw_flux_up"][others])
    guard.tendencies(arrays)
    assert guard.counts.out_of_distribution_columns == 2 and guard.counts.calls == 3  # counted since built


def test_emulator_rejects_bad_inputs_clearly(artifacts, columns, tmp_path):
    emulator = Emulator.load(artifacts["torchscript"], ood_guard=False)
    broken = columns.copy(deep=True)
    broken["air_temperature"][2, 4] = np.nan
    with pytest.raises(InputError, match=r"air_temperature: 1 non-finite value\(s\) \(NaN\), first at column 2, level 4"):
        emulator.tendencies(broken)
    other_grid = sample_columns(3, 0, ColumnSamplerConfig(n_levels=N_LEVELS + 2))
    with pytest.raises(InputError, match="14 levels but the emulator was trained on 12"):
        emulator.tendencies(other_grid)
    with pytest.raises(InputError, match="missing variable.*cloud_fraction"):
        emulator.tendencies(columns.drop_vars("cloud_fraction"))
    with pytest.raises(InputError, match="not an exported emulator"):
        Emulator.load(tmp_path)

    # Without the training dataset the sidecar has no min/max, so the guard cannot be promised.
    sidecar = json.loads((artifacts["torchscript"] / export.SIDECAR).read_text())
    for stats in sidecar["training_range"]["features"].values():
        stats["min"] = stats["max"] = None
    (tmp_path / "emulator.pt").write_bytes((artifacts["torchscript"] / "emulator.pt").read_bytes())
    # As an export without the dataset writes it (sealed: an edited sidecar is refused, tests/test_hostile_inputs.py).
    (tmp_path / export.SIDECAR).write_text(json.dumps(export.seal_sidecar(sidecar, tmp_path / "emulator.pt")))
    with pytest.raises(InputError, match="no training min/max.*ood_guard=False"):
        Emulator.load(tmp_path)
    assert Emulator.load(tmp_path, ood_guard=False).tendencies(columns)["lw_flux_up"].shape == (96, N_LEVELS + 1)


def test_replayed_states_widen_the_training_range_of_a_fine_tuned_export(run, dataset_path, tmp_path):
    """A fine-tune's extra (replay) datasets join the min/max the out-of-distribution guard accepts."""
    extra = tmp_path / "replay.zarr"
    warm = RadiationDatasetConfig(n_columns=20, seed=9, chunk_size=20, sampler=ColumnSamplerConfig(n_levels=N_LEVELS))
    generate_radiation_dataset(extra, warm, workers=1, progress=False)
    ds = xr.open_zarr(extra).load()
    ds["air_temperature"] = ds["air_temperature"] + 40.0  # states no training column had
    for variable in ds.variables.values():
        variable.encoding = {}
    ds.to_zarr(tmp_path / "replay_warm.zarr", mode="w", zarr_format=2)
    description = json.loads((run / "model.json").read_text())
    emulator, _ = load_emulator(run)
    main_only = export.training_range(emulator, [dataset_path])["features"]["air_temperature"]["max"]
    description["extra_data"] = [{"path": str(tmp_path / "replay_warm.zarr")}]
    out = export.export_emulator(emulator, description, tmp_path / "artifact", "onnx")
    widened = json.loads((out / "emulator.json").read_text())["training_range"]["features"]["air_temperature"]["max"]
    expected = np.maximum(main_only, ds["air_temperature"].max("column").values)
    np.testing.assert_allclose(widened, expected, rtol=1e-6)
    assert (np.asarray(widened) > np.asarray(main_only)).all()
