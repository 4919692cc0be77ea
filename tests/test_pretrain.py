"""`subgrid pretrain`: masked / forecast pre-training of a tiny Prithvi WxC backbone on unlabeled states.

Everything is tiny (16 x 32 grid, 2 levels, embed 32, patch 2, window 4 x 8, one CPU thread);
the states are smooth travelling waves over Gaussian mountains, in our named-variable layout,
so a reconstruction has something to learn from the neighbours of a hidden patch.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from PrithviWxC.model import PrithviWxC
from test_gw_gridded import runner, write

from subgrid.cli.main import app
from subgrid.gravity_waves.gridded.dataset import LatLonBox
from subgrid.core.errors import InputError
from subgrid.gravity_waves.gridded.evaluation import evaluate_gw_gridded
from subgrid.models import PrithviGW
from subgrid.models.prithvi_gw import load_prithvi_backbone
from subgrid.gravity_waves.gridded.training import GriddedGWTrainingConfig, train_gw_gridded
from subgrid.gravity_waves.gridded.pretrain import (
    PretrainConfig,
    PretrainLightningModule,
    draw_masks,
    pretrain,
    state_pairs,
)

LAT, LON, LEVELS = 16, 32, 2
TINY = {"embed_dim": 32, "n_heads": 4, "n_blocks_encoder": 1, "n_blocks_decoder": 1, "patch": 2, "window": [4, 8]}
#: The excluded box: northern mid-latitudes, 90-170 °E (a 4 x 8 block of the 16 x 32 grid).
REGION = [20.0, 70.0, 90.0, 170.0]


def states(n_times: int, seed: int = 0) -> xr.Dataset:
    """A dataset in our named-variable layout (physical units) on a 16 x 32 Gaussian grid; fluxes are unused noise."""
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(np.polynomial.legendre.leggauss(LAT)[0]))[::-1]
    lon = np.arange(LON) * 360.0 / LON
    phi, lam = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    zs = 2000.0 * np.exp(-((phi - 0.6) ** 2 + (lam - 2.5) ** 2) / 0.1)
    level = np.arange(LEVELS)[:, None, None]
    phase = 2 * np.pi * np.arange(n_times)[:, None, None, None] / 8.0
    u = 20 * np.cos(phi) ** 2 * (1 + level) + 5 * np.sin(2 * lam - phase + level) * np.cos(phi)
    v = 5 * np.cos(3 * lam + phase - level) * np.cos(phi) ** 2
    temperature = 280 - 40 * np.sin(phi) ** 2 - 30 * level + np.sin(lam + phase) + 0.1 * rng.standard_normal(u.shape)
    pressure = np.broadcast_to(8e4 - 5e4 * level - zs / 10, u.shape)
    dims = ("time", "level", "lat", "lon")
    noise = rng.standard_normal(u.shape)
    data = {"u": (dims, u, {"units": "m s-1"}), "v": (dims, v, {"units": "m s-1"}),
            "temperature": (dims, temperature, {"units": "K"}), "pressure": (dims, pressure, {"units": "Pa"}),
            "uw_flux": (dims, 1e-3 * noise, {"units": "Pa"}), "vw_flux": (dims, 1e-3 * noise, {"units": "Pa"}),
            "surface_height": (("lat", "lon"), zs, {"units": "m"})}  # fmt: skip
    time = np.datetime64("2020-01-01T00") + np.arange(n_times) * np.timedelta64(6, "h")
    ds = xr.Dataset(data, coords={"time": time, "level": np.arange(LEVELS), "lat": lat, "lon": lon})
    return ds.astype(np.float32)


def config(**changes) -> PretrainConfig:
    settings = {"model_options": TINY, "epochs": 2, "batch_size": 4, "learning_rate": 3e-3, "validation_fraction": 0.25,
                "statistics_samples": 8, "seed": 1}  # fmt: skip
    return PretrainConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write(states(16), tmp_path_factory.mktemp("pretrain") / "states.zarr")


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "masked"
    report = pretrain(data, run, config(exclude_region=REGION), progress=False)
    return run, report


def module_for(cfg: PretrainConfig, visible: np.ndarray | None = None) -> PretrainLightningModule:
    torch.manual_seed(0)
    module = PretrainLightningModule(cfg.to_dict(), 9, (LAT, LON))
    if visible is not None:
        module.visible.copy_(torch.from_numpy(visible))
    return module


# --- masks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [(1, 1), (2, 4)])
def test_masks_hide_the_right_fraction_of_patches_or_windows(unit):
    n = 2000
    hidden = draw_masks(n, (8, 16), unit, 0.3, torch.Generator().manual_seed(0))
    units = (8 // unit[0]) * (16 // unit[1])
    assert hidden.shape == (n, 8, 16)
    assert torch.all(hidden.flatten(1).sum(1) == round(0.3 * units) * unit[0] * unit[1])  # exactly, every sample
    blocks = hidden.view(n, 8 // unit[0], unit[0], 16 // unit[1], unit[1])
    assert torch.all(blocks.all(dim=(2, 4)) == blocks.any(dim=(2, 4)))  # a unit is hidden whole or not at all
    frequency = hidden.float().mean(0)  # uniform over the grid: ~0.3 everywhere (binomial spread 0.01)
    assert torch.allclose(frequency, torch.full_like(frequency, round(0.3 * units) / units), atol=0.05)


def test_validation_masks_are_fixed_by_the_seed_and_training_masks_are_not():
    module = module_for(config())
    drawn = []
    for _ in range(2):
        module.on_validation_epoch_start()
        drawn.append(module.masks(3, module._validation_masks))
    assert torch.equal(drawn[0], drawn[1])
    assert not torch.equal(module.masks(3), module.masks(3))


# --- the loss -------------------------------------------------------------------------------


def test_the_excluded_region_contributes_nothing_to_the_loss():
    box = LatLonBox.parse(REGION).points(states(1))
    assert box.sum() == 4 * 8 and not box.all()
    for task in ("masked", "forecast"):
        module = module_for(config(task=task), ~box).eval()
        state, target = torch.randn(2, 9, LAT, LON), torch.randn(2, 9, LAT, LON)
        hidden = module.masks(2, torch.Generator().manual_seed(0))
        inside = torch.from_numpy(box)
        loss = module.loss(state, target, hidden)
        perturbed = module.loss(state + 100 * inside, target - 100 * inside, hidden)
        assert torch.equal(loss, perturbed), task
        outside = module.loss(state, target + 100 * ~inside, hidden)
        assert outside > 100 * loss, task


def test_a_mask_ratio_that_hides_nothing_or_everything_is_refused():
    """16 x 32 pixels in 4 x 8 windows are 16 windows: a ratio of 0.01 hides none, 0.99 all (the loss would be 0)."""
    box = np.zeros((LAT, LON), dtype=bool)
    for ratio in (0.01, 0.99):
        with pytest.raises(InputError, match=f"mask_ratio: {ratio} hides"):
            module_for(config(mask_ratio=ratio, mask_unit="window"), ~box)


def test_the_masked_loss_counts_hidden_patches_only_and_decreases():
    module = module_for(config())
    state = torch.randn(4, 9, LAT, LON)
    hidden = module.masks(4, torch.Generator().manual_seed(0))
    shown = ~hidden.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, None]
    assert torch.equal(module.loss(state, state, hidden), module.loss(state, state + 50 * shown, hidden))
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = module.loss(state, state, hidden)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_forecast_pairs_stay_in_their_period_and_file():
    joined = xr.Dataset(coords={"time": np.arange(6), "file": ("time", ["a"] * 3 + ["b"] * 3)})
    assert state_pairs(joined, np.arange(6), "forecast", 1) == [(0, 1), (1, 2), (3, 4), (4, 5)]
    assert state_pairs(joined, np.array([0, 1, 2]), "forecast", 2) == [(0, 2)]
    assert state_pairs(joined, np.array([4, 5]), "masked", 3) == [(4, 4), (5, 5)]


# --- runs -----------------------------------------------------------------------------------


def test_pretraining_writes_a_run_whose_backbone_has_the_released_key_names(pretrained, tmp_path):
    run, report = pretrained
    log = pd.read_csv(run / "metrics.csv")
    print(log[["epoch", "train_loss", "val_loss"]].to_string())
    assert report.epochs == 2 and log["train_loss"].iloc[1] < log["train_loss"].iloc[0]
    description = json.loads((run / "model.json").read_text())
    assert description["kind"] == "prithvi_pretrain" and description["exclude_region"] == REGION
    assert description["excluded_points"] == 32 and description["task"] == "masked"
    assert {"config.yaml", "metrics.csv", "backbone.pt", "checkpoints"} <= {p.name for p in run.iterdir()}

    saved = torch.load(run / "backbone.pt", weights_only=True)
    state = saved["model_state"]
    released = PrithviWxC(
        in_channels=3, input_size_time=1, in_channels_static=1, input_scalers_mu=torch.zeros(3),
        input_scalers_sigma=torch.ones(3), input_scalers_epsilon=0.0, static_input_scalers_mu=torch.zeros(3),
        static_input_scalers_sigma=torch.ones(3), static_input_scalers_epsilon=0.0, output_scalers=torch.ones(3),
        n_lats_px=LAT, n_lons_px=LON, patch_size_px=[2, 2], mask_unit_size_px=[4, 8], mask_ratio_inputs=0.0,
        mask_ratio_targets=0.0, embed_dim=32, n_blocks_encoder=1, n_blocks_decoder=1, mlp_multiplier=4, n_heads=4,
        dropout=0.0, drop_path=0.0, parameter_dropout=0.0, residual="climate", masking_mode="both",
        positional_encoding="fourier", encoder_shifting=False, decoder_shifting=False,
    ).state_dict()  # fmt: skip
    released_backbone = {k: v.shape for k, v in released.items() if k.startswith(("encoder.", "decoder."))}
    assert {k: v.shape for k, v in state.items()} == released_backbone

    model = PrithviGW(7, 2, **TINY, fine_tune="frozen", pretrained=str(run / "backbone.pt"))
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value), key
    assert len(load_prithvi_backbone(model, run / "backbone.pt").loaded) == len(state)


def test_a_fine_tune_from_the_backbone_runs_and_records_the_excluded_region(pretrained, data, tmp_path):
    run, _ = pretrained
    tune = GriddedGWTrainingConfig(
        model="prithvi", model_options={**TINY, "fine_tune": "frozen", "pretrained": str(run / "backbone.pt")},
        inputs=["surface_height", "u", "v"], epochs=1, batch_size=4, validation_fraction=0.25,
    )  # fmt: skip
    train_gw_gridded(data, tmp_path / "tune", tune, progress=False)
    description = json.loads((tmp_path / "tune" / "model.json").read_text())
    assert description["pretraining"]["exclude_region"] == REGION
    assert description["pretraining"]["run"] == str(run.resolve())

    metrics = evaluate_gw_gridded(tmp_path / "tune", data, tmp_path / "region", region=REGION)
    everywhere = evaluate_gw_gridded(tmp_path / "tune", data, tmp_path / "all")
    assert metrics["region"]["box"] == REGION and metrics["region"]["points"] == 32
    assert metrics["samples_per_level"] == 4 * 32 and everywhere["samples_per_level"] == 4 * LAT * LON
    assert metrics["emulator"]["pretraining"]["exclude_region"] == REGION
    with pytest.raises(InputError, match="holds no grid point"):
        evaluate_gw_gridded(tmp_path / "tune", data, tmp_path / "none", region=[89.9, 90, 0, 1])


def test_forecast_pretraining_runs(data, tmp_path):
    report = pretrain(data, tmp_path / "forecast", config(task="forecast", lead_steps=2, mask_ratio=0.0, epochs=1,
                                                           model_options={**TINY, "n_blocks_encoder": 0}), progress=False)
    description = json.loads((tmp_path / "forecast" / "model.json").read_text())
    assert description["lead_steps"] == 2 and description["training_samples"] == 10 and np.isfinite(report.best_val_loss)


def test_an_interrupted_run_resumes_and_a_finished_one_is_refused(data, tmp_path):
    run = tmp_path / "run"
    pretrain(data, run, config(epochs=1), progress=False)
    (run / "backbone.pt").unlink()  # as if stopped after the last checkpoint
    with pytest.raises(InputError, match="another config"):
        pretrain(data, run, config(epochs=1, mask_ratio=0.25), progress=False)
    report = pretrain(data, run, config(epochs=1), progress=False)
    assert report.resumed and (run / "backbone.pt").exists()
    with pytest.raises(InputError, match="already holds a pre-trained backbone"):
        pretrain(data, run, config(epochs=1), progress=False)


# --- settings and the CLI -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"mask_ratio": 1.0}, "mask_ratio=1.0"), ({"task": "forecast", "mask_ratio": -0.1}, "mask_ratio"),
     ({"task": "inpaint"}, "task="), ({"exclude_region": [50, 10, 0, 90]}, "LAT_MIN <= LAT_MAX"),
     ({"exclude_region": [0, 10, 0]}, "four numbers"), ({"model_options": {**TINY, "fine_tune": "lora"}}, "model_options"),
     ({"inputs": ["vorticity"]}, "inputs")],
)  # fmt: skip
def test_bad_settings_are_refused_with_their_name(changes, message):
    with pytest.raises(InputError, match=message):
        config(**changes)


def test_cli_round_trip_and_one_line_errors(data, tmp_path):
    options = [arg for key, value in TINY.items() for arg in ("--model-option", f"{key}={json.dumps(value)}")]
    base = ["pretrain", "--data", data, "--epochs", "1", "--batch-size", "4", "--validation-fraction", "0.25",
            "--no-progress", *options]  # fmt: skip
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "run"), "--task", "masked", "--mask-ratio", "0.4",
                                 "--mask-unit", "window", "--exclude-region", "20,70,90,170"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "backbone.pt" in result.output
    description = json.loads((tmp_path / "run" / "model.json").read_text())
    assert description["mask_ratio"] == 0.4 and description["mask_unit"] == "window" and description["exclude_region"] == REGION
    for extra, message in ((["--exclude-region", "20,70,90"], "four numbers"), (["--mask-ratio", "1.5"], "mask_ratio=1.5"),
                           (["--model-option", "window=[3,8]"], "window"), (["--exclude-region", "-90,90,0,360"], "whole grid")):  # fmt: skip
        result = runner.invoke(app, [*base, "--out", str(tmp_path / "never"), *extra])
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
        assert not (tmp_path / "never").exists()  # nothing half-written
