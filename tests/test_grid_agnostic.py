"""A grid-agnostic radiation emulator: one set of weights for any pressure grid, trained on several grids at once,
exported with a free level count, and run through the Python runtime on grids it was not fitted on."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from subgrid.core.config import ConfigError
from subgrid.core.errors import InputError
from subgrid.models.radiation import (
    LOG_PRESSURE_NODES,
    MIN_GRID_LEVELS,
    TOP_HEAD_LAYERS,
    TOP_HEATING_SCALE_K_DAY,
    heating_from_fluxes,
    log_pressure_weights,
    top_layer_features,
)
from subgrid.physics.rrtmg import radiative_transfer_arrays
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.radiation.emulator import Emulator
from subgrid.radiation.export import export_emulator, without_torchscript_deprecation
from subgrid.radiation.training import (
    RadiationTrainingConfig,
    build_emulator,
    fit_statistics,
    fit_top_head,
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


def _with_top_head(emulator, lw_K_day: float = -20.0, sw_K_day: float = 6.0):
    """``emulator`` with a top-layer head (width 16) that says the top layer's net LW heating is ``lw_K_day`` and
    the top layers' net SW heating per unit relative insolation is ``sw_K_day``."""
    headed = build_emulator("rescnn", {**OPTIONS, "top_head_width": 16}, None)
    missing, unexpected = headed.load_state_dict(emulator.state_dict(), strict=False)
    assert not unexpected and missing and all(key.startswith("top_head.") for key in missing)
    with torch.no_grad():
        headed.top_head[-1].weight.zero_()
        headed.top_head[-1].bias.copy_(torch.tensor([lw_K_day] + [sw_K_day] * TOP_HEAD_LAYERS) / TOP_HEATING_SCALE_K_DAY)
    return headed.eval()


def test_top_layer_head_sets_the_top_layers_net_heating_from_their_own_state(emulator):
    block = to_tensors(_labelled(6, ColumnSamplerConfig(n_levels=30, top_pressure_Pa=10.0), seed=3), targets=False)
    inputs = (block["level_inputs"], block["column_inputs"], block["pressure_interface_Pa"])
    with torch.no_grad():
        fluxes, heating = emulator(*inputs)
        headed_fluxes, headed = _with_top_head(emulator, lw_K_day=-33.0, sw_K_day=6.0)(*inputs)
        relative = emulator.insolation_W_per_m2(block["column_inputs"]) / emulator.solar_constant_W_per_m2
        features = top_layer_features(*inputs)
        assert features.shape == (6, 5 * TOP_HEAD_LAYERS + 3) and torch.isfinite(features).all()
        deeper = block["level_inputs"].clone()
        deeper[:, 0, : -TOP_HEAD_LAYERS] += 5.0  # warmer below the top three layers: the head sees nothing of it
        torch.testing.assert_close(top_layer_features(deeper, *inputs[1:]), features)
        warmer_top = block["level_inputs"].clone()
        warmer_top[:, 0, -1] += 5.0
        assert not torch.allclose(top_layer_features(warmer_top, *inputs[1:]), features)
    assert (relative > 0).any() and (relative == 0).any()  # day and night columns
    k = TOP_HEAD_LAYERS
    # surface first: the top layers are the last. LW: the top layer's is the head's, the rest the backbone's;
    # SW: the top three layers' are the head's times S/S0 (0 at night), the rest the backbone's
    torch.testing.assert_close(headed[:, 0, -1], torch.full((6,), -33.0), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(headed[:, 0, :-1], heating[:, 0, :-1], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(headed[:, 1, -k:], 6.0 * relative[:, None].expand(-1, k), rtol=1e-3, atol=1e-2)
    torch.testing.assert_close(headed[:, 1, :-k], heating[:, 1, :-k], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(headed, heating_from_fluxes(headed_fluxes, block["pressure_interface_Pa"]))


def test_the_top_layer_head_is_fitted_to_the_top_layers_net_heating(emulator):
    batches = [to_tensors(_labelled(200, grid, seed=7 + i)) for i, grid in enumerate(GRIDS)]
    headed = _with_top_head(emulator)
    fit = fit_top_head(headed, batches, steps=1500)
    truth = torch.cat([b["heating"][:, 0, -1] for b in batches])
    assert fit["columns"] == 400 and fit["std_K_day"] == pytest.approx(float(truth.std()), rel=1e-3)
    assert fit["rmse_K_day"] < 0.5 * fit["std_K_day"]  # a local function of the top layers' state
    held_out = to_tensors(_labelled(50, GRIDS[0], seed=99))
    with torch.no_grad():
        _, heating = headed(held_out["level_inputs"], held_out["column_inputs"], held_out["pressure_interface_Pa"])
    error = float((heating[:, 0, -1] - held_out["heating"][:, 0, -1]).pow(2).mean().sqrt())
    assert error < 0.5 * float(held_out["heating"][:, 0, -1].std())
    day = held_out["column_inputs"][:, 5] > 0
    sw_error = (heating[day, 1, -TOP_HEAD_LAYERS:] - held_out["heating"][day, 1, -TOP_HEAD_LAYERS:]).pow(2).mean().sqrt()
    assert len(fit["sw_rmse_K_day"]) == TOP_HEAD_LAYERS and float(sw_error) < 0.5 * float(held_out["heating"][day, 1, -1].std())
    with pytest.raises(InputError, match="no top-layer head"):
        fit_top_head(emulator, batches)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", pytest.param("aoti", marks=[pytest.mark.slow, pytest.mark.compiled])])
def test_an_emulator_with_a_top_layer_head_exports_with_a_free_level_count(emulator, tmp_path, fmt):
    headed = _with_top_head(emulator, lw_K_day=-12.0)
    out = export_emulator(headed, {**DESCRIPTION, "model_options": {**OPTIONS, "top_head_width": 16}}, tmp_path / fmt, fmt)
    runtime = Emulator.load(out, threads=1, ood_guard=False)
    for n_levels in (12, 40):
        ds = sample_columns(4, np.random.default_rng(n_levels), ColumnSamplerConfig(n_levels=n_levels))
        block = to_tensors(ds, targets=False)
        with torch.no_grad():
            _, heating = headed(block["level_inputs"], block["column_inputs"], block["pressure_interface_Pa"])
        np.testing.assert_allclose(runtime.tendencies(ds)["lw_heating_rate"].values, heating[:, 0].numpy(), rtol=1e-3, atol=1e-3)
    with pytest.raises(InputError, match=f"4 levels; a grid-agnostic emulator needs at least {MIN_GRID_LEVELS}"):
        runtime.tendencies(sample_columns(2, np.random.default_rng(0), ColumnSamplerConfig(n_levels=MIN_GRID_LEVELS - 1)))


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
    # fine-tuned with a top-layer head the first run had not: the backbone starts from it, the head from zero
    headed = RadiationTrainingConfig(model_options={**OPTIONS, "top_head_width": 8}, epochs=1, batch_size=64,
                                     vertical_grid="any")  # fmt: skip
    train_radiation(paths[0], tmp_path / "headed", headed, extra_data=[paths[1]], init_from=tmp_path / "run", progress=False)
    tuned, described = load_emulator(tmp_path / "headed")
    assert described["model_options"]["top_head_width"] == 8 and tuned.top_head is not None
    fit = described["top_head_fit"]  # fitted on every training column's top layer before the fine-tune
    assert fit["columns"] == 300 + 400 and fit["rmse_K_day"] < 0.5 * fit["std_K_day"]
    # a run that has a head keeps it: fine-tuned again, the backbone moves and the head is held as fitted
    train_radiation(paths[0], tmp_path / "again", headed, extra_data=[paths[1]], init_from=tmp_path / "headed", progress=False)
    again, described_again = load_emulator(tmp_path / "again")
    assert described_again["top_head_fit"] is None
    for name, value in tuned.top_head.state_dict().items():
        torch.testing.assert_close(again.top_head.state_dict()[name], value, rtol=0, atol=0)
    assert not torch.equal(next(again.backbone.parameters()), next(tuned.backbone.parameters()))
    # epochs 0: the head is fitted and nothing else moves; refused (before anything is written) for anything else
    train_radiation(paths[0], tmp_path / "head_only", replace(headed, epochs=0), extra_data=[paths[1]],
                    init_from=tmp_path / "run", progress=False)  # fmt: skip
    head_only, described_head_only = load_emulator(tmp_path / "head_only")
    assert described_head_only["trained_epochs"] == 0 and described_head_only["top_head_fit"]["columns"] == 700
    for name, value in model.backbone.state_dict().items():
        torch.testing.assert_close(head_only.backbone.state_dict()[name], value, rtol=0, atol=0)
    for init_from, out in ((None, "no_start"), (tmp_path / "headed", "has_head")):
        with pytest.raises(InputError, match="epochs: 0 only adds a top-layer head"):
            train_radiation(paths[0], tmp_path / out, replace(headed, epochs=0), extra_data=[paths[1]], init_from=init_from,
                            progress=False)  # fmt: skip
        assert not (tmp_path / out).exists()
    with pytest.raises(InputError, match="init_from: .* has model_options"):
        train_radiation(paths[0], tmp_path / "other", replace(headed, model_options={"width": 4, "depth": 2}),
                        extra_data=[paths[1]], init_from=tmp_path / "headed", progress=False)  # fmt: skip
    with pytest.raises(ConfigError, match="top_head_width: a width >= 0"):
        RadiationTrainingConfig(model_options={**OPTIONS, "top_head_width": -1}, vertical_grid="any")


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
