"""A grid-agnostic radiation emulator: one set of weights for any pressure grid, trained on several grids at once,
exported with a free level count, and run through the Python runtime on grids it was not fitted on."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from subgrid.core.config import ConfigError
from subgrid.core.errors import InputError
from subgrid.models.radiation import LOG_PRESSURE_NODES, heating_from_fluxes, log_pressure_weights
from subgrid.physics.rrtmg import radiative_transfer_arrays
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.radiation.emulator import Emulator
from subgrid.radiation.export import export_emulator, without_torchscript_deprecation
from subgrid.radiation.training import (
    RadiationTrainingConfig,
    build_emulator,
    fit_statistics,
    load_emulator,
    train_radiation,
)
from subgrid.radiation.training_data import to_tensors

OPTIONS = {"width": 8, "depth": 2}
DESCRIPTION = {"model": "rescnn", "model_options": OPTIONS, "n_levels": None}
GRIDS = (ColumnSamplerConfig(n_levels=12), ColumnSamplerConfig(n_levels=18, top_pressure_Pa=300.0,
                                                                bottom_layer_thickness_Pa=2000.0))  # fmt: skip


def _labelled(n_columns: int, sampler: ColumnSamplerConfig, seed: int = 1):
    ds = sample_columns(n_columns, np.random.default_rng(seed), sampler)
    outputs = radiative_transfer_arrays({name: ds[name].values for name in RADIATION_INPUTS})
    for name, variable in RADIATION_OUTPUTS.items():
        ds[name] = (variable.dims, outputs[name])
    return ds


@pytest.fixture(scope="module")
def emulator():
    """An untrained grid-agnostic emulator whose log-pressure tables are fitted on RRTMG columns of two grids."""
    torch.manual_seed(0)
    model = build_emulator("rescnn", OPTIONS, None)
    fit_statistics(model, [to_tensors(_labelled(150, grid)) for grid in GRIDS])
    return model.eval()


def test_log_pressure_weights_interpolate_linearly_and_sum_to_one():
    nodes = torch.tensor(LOG_PRESSURE_NODES)
    log_p = torch.tensor([[0.1, 5.3, 11.0, 20.0, -3.0]])  # the last two outside the nodes: clamped to the ends
    w = log_pressure_weights(log_p, nodes)
    torch.testing.assert_close(w.sum(dim=1), torch.ones(1, 5))
    table = 2.0 * nodes + 1.0  # a linear profile is reproduced exactly inside the nodes
    values = torch.einsum("k,bkl->bl", table, w)
    torch.testing.assert_close(values[0, :3], 2.0 * log_p[0, :3] + 1.0)
    assert values[0, 3] == pytest.approx(float(table[-1]), rel=1e-5) and values[0, 4] == pytest.approx(float(table[0]), rel=1e-5)


def test_tables_follow_pressure_not_level_index(emulator):
    """Temperature's table mean is cold near the tropopause and warm at the surface, whatever the grid."""
    t_mean = emulator.level_mean[0]
    surface = int(np.argmin(np.abs(np.asarray(LOG_PRESSURE_NODES) - np.log(1.0e5))))
    tropopause = int(np.argmin(np.abs(np.asarray(LOG_PRESSURE_NODES) - np.log(1.0e4))))
    assert 270.0 < float(t_mean[surface]) < 305.0 and 190.0 < float(t_mean[tropopause]) < 230.0
    # The level mean seen by a column equals the table read at its layers' pressures.
    block = to_tensors(_labelled(3, ColumnSamplerConfig(n_levels=25), seed=4), targets=False)
    profile = emulator.profiles(emulator.level_mean, block["level_inputs"])[:, 0]
    expected = np.interp(np.log(block["level_inputs"][:, 1].numpy()), LOG_PRESSURE_NODES, t_mean.numpy())
    np.testing.assert_allclose(profile.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("n_levels", [7, 30, 90])
def test_one_set_of_weights_takes_any_level_count_and_stays_energy_consistent(emulator, n_levels):
    sampler = ColumnSamplerConfig(n_levels=n_levels, top_pressure_Pa=50.0, bottom_layer_thickness_Pa=1000.0)
    block = to_tensors(_labelled(6, sampler, seed=n_levels), targets=False)
    with torch.no_grad():
        fluxes, heating = emulator(block["level_inputs"], block["column_inputs"], block["pressure_interface_Pa"])
    assert fluxes.shape == (6, 4, n_levels + 1) and heating.shape == (6, 2, n_levels)
    assert torch.isfinite(fluxes).all() and (fluxes >= 0).all()
    torch.testing.assert_close(heating, heating_from_fluxes(fluxes, block["pressure_interface_Pa"]))


def test_fixed_grid_fits_one_dataset_and_flattening_backbones_are_refused():
    fixed = build_emulator("rescnn", OPTIONS, 12)
    with pytest.raises(InputError, match="fixed-grid emulator fits its statistics on one dataset"):
        fit_statistics(fixed, [to_tensors(_labelled(20, grid)) for grid in GRIDS])
    with pytest.raises(ConfigError, match="vertical_grid: 'any' needs a backbone.*'mlp'"):
        RadiationTrainingConfig(model="mlp", vertical_grid="any")


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", pytest.param("aoti", marks=[pytest.mark.slow, pytest.mark.compiled])])
def test_exported_artifact_takes_any_grid_and_equals_the_eager_model(emulator, tmp_path, fmt):
    out = export_emulator(emulator, DESCRIPTION, tmp_path / fmt, fmt)
    sidecar = json.loads((out / "emulator.json").read_text())
    assert sidecar["n_levels"] is None and sidecar["vertical_grid"] == "any"
    assert sidecar["inputs"][0]["shape"] == [None, 9, None] and sidecar["inputs"][2]["shape"] == [None, None]
    runtime = Emulator.load(out, threads=1, ood_guard=False)
    for n_levels in (20, 45):
        ds = sample_columns(8, np.random.default_rng(n_levels), ColumnSamplerConfig(n_levels=n_levels))
        emulated = runtime.tendencies(ds)
        block = to_tensors(ds, targets=False)
        with torch.no_grad():
            fluxes, heating = emulator(block["level_inputs"], block["column_inputs"], block["pressure_interface_Pa"])
        np.testing.assert_allclose(emulated["lw_flux_up"].values, fluxes[:, 0].numpy(), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(emulated["sw_heating_rate"].values, heating[:, 1].numpy(), rtol=1e-3, atol=1e-3)
    if fmt == "torchscript":  # the entry point still checks that interfaces are levels + 1
        with without_torchscript_deprecation():
            module = torch.jit.load(str(out / "emulator.pt"))
        assert module.n_levels == 0
        block = to_tensors(sample_columns(2, np.random.default_rng(0), ColumnSamplerConfig(n_levels=10)), targets=False)
        with pytest.raises(Exception, match=r"pressure_interface_Pa \[column, interface\]: expected shape \[2, 11\]"):
            module(block["level_inputs"], block["column_inputs"], block["pressure_interface_Pa"][:, :-1])


@pytest.mark.slow
def test_training_on_two_grids_makes_one_model_for_both(tmp_path):
    from subgrid.core.chunked import write_zarr_atomic

    paths = []
    for i, grid in enumerate(GRIDS):
        ds = _labelled(400, grid, seed=10 + i)
        ds.attrs = {"vertical_order": "surface_first", "sampler_settings": json.dumps(grid.to_dict())}
        paths.append(write_zarr_atomic(ds.chunk({"column": 100}), tmp_path / f"grid{i}.zarr", "tests"))
    config = RadiationTrainingConfig(model_options=OPTIONS, epochs=2, batch_size=64, vertical_grid="any")
    with pytest.raises(InputError, match="12 levels but the model was trained on 18|18 levels but the model was trained on 12"):
        train_radiation(paths[1], tmp_path / "fixed", RadiationTrainingConfig(model_options=OPTIONS, epochs=1),
                        extra_data=[paths[0]], progress=False)  # fmt: skip
    train_radiation(paths[0], tmp_path / "run", config, extra_data=[paths[1]], progress=False)
    model, description = load_emulator(tmp_path / "run")
    assert description["n_levels"] is None and description["vertical_grid"] == "any"
    assert description["extra_data"][0]["levels"] == 18
    assert description["training_columns_per_epoch"] == 300 + 400  # main's training split, every extra column
    for path in paths:  # skill is measured on both grids, by the same weights
        block = to_tensors(_labelled(30, GRIDS[paths.index(path)], seed=99))
        with torch.no_grad():
            fluxes, _ = model(block["level_inputs"], block["column_inputs"], block["pressure_interface_Pa"])
        relative = float((fluxes - block["fluxes"]).abs().mean() / block["fluxes"].abs().mean())
        assert relative < 0.5  # two epochs: far from skilful, but trained, on both grids


def test_extra_data_directory_expands_to_its_datasets(tmp_path):
    from subgrid.core.stores import expand_dataset_directories as _datasets

    family = tmp_path / "family"
    for name in ("grid_01_L30.zarr", "grid_00_L44.zarr"):
        (family / name).mkdir(parents=True)
        (family / name / ".zgroup").write_text("{}")
    (family / "notes.txt").write_text("")
    store = family / "grid_00_L44.zarr"
    assert _datasets([family]) == [family / "grid_00_L44.zarr", family / "grid_01_L30.zarr"]
    assert _datasets([store, tmp_path / "replay.zarr"]) == [store, tmp_path / "replay.zarr"]  # stores stay as given
