"""Scale out: generation on a Dask cluster and DDP training give what one process gives.

The DDP run is launched the way users launch it on a cluster, ``torchrun --nproc_per_node 2``
over the CLI: two real processes, gloo on CPU, each streaming its own share of the zarr chunks.
"""

from __future__ import annotations

import json
import subprocess
import sys

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.radiation.columns import ColumnSamplerConfig
from subgrid.radiation.dataset import RadiationDatasetConfig, compute_radiation_chunk, generate_radiation_dataset
from subgrid.core.errors import InputError
from subgrid.radiation.training import (
    RadiationDataModule,
    RadiationLightningModule,
    RadiationTrainingConfig,
    build_emulator,
    train_radiation,
)
from subgrid.radiation.training_data import ColumnStream, chunk_slices, to_tensors
from subgrid.training.runs import build_trainer

N_LEVELS = 12
CONFIG = RadiationDatasetConfig(n_columns=600, seed=4, chunk_size=50, sampler=ColumnSamplerConfig(n_levels=N_LEVELS))
# 12 chunks: 2 held out, 10 for training, 5 per rank with two processes.
TINY = {"model": "rescnn", "model_options": {"width": 8, "depth": 2}, "statistics_columns": 200, "epochs": 3,
        "validation_fraction": 0.2, "learning_rate": 3e-3}  # fmt: skip
METRICS = ["val_loss", "val_flux_mae_percent", "val_lw_heating_rmse_K_day", "val_sw_heating_rmse_K_day"]


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    """The dataset, written by an existing 2-worker cluster reached through its address (``--scheduler``)."""
    from distributed import LocalCluster

    path = tmp_path_factory.mktemp("scale") / "rad.zarr"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        generate_radiation_dataset(path, CONFIG, scheduler=cluster.scheduler_address, progress=False)
    return path


def test_cluster_generation_equals_the_chunks_computed_in_this_process(dataset_path):
    ds = xr.open_zarr(dataset_path)
    slices = [slice(start, start + CONFIG.chunk_size) for start in range(0, CONFIG.n_columns, CONFIG.chunk_size)]
    local = xr.concat([compute_radiation_chunk(CONFIG, i, columns) for i, columns in enumerate(slices)], dim="column")
    assert ds["air_temperature"].chunks[0] == (CONFIG.chunk_size,) * len(slices)
    for name in local.data_vars:
        np.testing.assert_array_equal(ds[name].values, local[name].values, err_msg=name)


def _column_keys(batches) -> list[bytes]:
    """One key per column (its interface pressures and column inputs: sampled, so unique)."""
    return [
        p.numpy().tobytes() + c.numpy().tobytes()
        for batch in batches
        for p, c in zip(batch["pressure_interface_Pa"], batch["column_inputs"], strict=True)
    ]


@pytest.mark.parametrize("world_size", [2, 5])
def test_ranks_stream_disjoint_equal_shares_of_the_chunks(dataset_path, world_size):
    slices = chunk_slices(xr.open_zarr(dataset_path))
    everything = set(_column_keys(ColumnStream(path=str(dataset_path), slices=slices, batch_size=1000, shuffle=False)))
    assert len(everything) == CONFIG.n_columns
    for epoch in (0, 1):
        for even, shuffle in ((True, True), (False, False)):  # training, validation
            shares = []
            for rank in range(world_size):
                stream = ColumnStream(path=str(dataset_path), slices=slices, batch_size=32, shuffle=shuffle,
                                      rank=rank, world_size=world_size, even_shares=even, blocks_per_read=2)  # fmt: skip
                stream.set_epoch(epoch)
                shares.append(list(stream))
            keys = [_column_keys(share) for share in shares]
            seen = [key for share in keys for key in share]
            assert len(seen) == len(set(seen)), "a column was streamed by two ranks"
            assert set(seen) <= everything
            if even:  # DDP training: every rank runs the same number of steps
                assert len({len(share) for share in shares}) == 1, [len(share) for share in shares]
                # What is cut is less than one chunk per rank beyond the smallest share.
                assert len(seen) > CONFIG.n_columns - world_size * CONFIG.chunk_size
            if len(slices) % world_size == 0 or not even:
                assert set(seen) == everything


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "subgrid.cli", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def single_and_ddp_runs(dataset_path, tmp_path_factory):
    """The same training on one process (batch 64) and on two DDP processes (32 each: global batch 64)."""
    root = tmp_path_factory.mktemp("runs")
    single = RadiationTrainingConfig(batch_size=64, **TINY)
    train_radiation(dataset_path, root / "single", single, progress=False)
    (root / "ddp.yaml").write_text(yaml.safe_dump({**TINY, "batch_size": 32}))
    result = _torchrun("train", "radiation", "--data", str(dataset_path), "--out", str(root / "ddp"),
                       "--config", str(root / "ddp.yaml"), "--devices", "2", "--strategy", "ddp", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained rescnn for 3 epochs") == 1, "only rank 0 reports"
    return root / "single", root / "ddp"


def test_ddp_on_two_processes_matches_one_process(single_and_ddp_runs):
    """Same metrics within 5 %, and both learned far more than that.

    Both runs see every training column once an epoch (the even-share cut drops nothing here: 5
    chunks per rank) in steps of up to 64 columns: 9 steps an epoch on one process (blocks of 400
    and 100 columns), 8 on two (one block of 250 per rank). They differ in which columns share a
    step, since each rank shuffles its own chunks. On this setup the validation loss agreed to
    0.1 % after one epoch and 1.7 % after three (the skill metrics to 1.1 %), while it fell by
    19 % from epoch 1 to 3: a 5 % tolerance separates "the same training" from a different one.
    """
    single, ddp = (pd.read_csv(run / "metrics.csv") for run in single_and_ddp_runs)
    assert len(single) == len(ddp) == TINY["epochs"]
    for metrics in (single, ddp):
        assert metrics["val_loss"].iloc[-1] < 0.85 * metrics["val_loss"].iloc[0]
    for name in METRICS:
        assert ddp[name].iloc[-1] == pytest.approx(single[name].iloc[-1], rel=0.05), name
    described = json.loads((single_and_ddp_runs[1] / "model.json").read_text())
    assert described["training_processes"] == 2
    assert not list(single_and_ddp_runs[1].glob("**/*.tmp")), "a half-written file was left behind"


def test_ddp_validation_is_exactly_the_single_process_validation(single_and_ddp_runs, dataset_path):
    """The val_loss two ranks logged (sums reduced over ranks) is what one process computes for the same weights."""
    ddp = single_and_ddp_runs[1]
    checkpoint = torch.load(ddp / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    module = RadiationLightningModule(**checkpoint["hyper_parameters"])
    module.load_state_dict(checkpoint["state_dict"])
    config = RadiationTrainingConfig(**checkpoint["hyper_parameters"]["config"])
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    (metrics,) = trainer.validate(module, datamodule=RadiationDataModule(dataset_path, config, in_memory=True), verbose=False)
    logged = pd.read_csv(ddp / "metrics.csv").sort_values("val_loss").iloc[0]  # best.ckpt's epoch
    for name in METRICS:
        assert metrics[name] == pytest.approx(logged[name], rel=1e-5), name
    assert json.loads((ddp / "model.json").read_text())["best_val_loss"] == pytest.approx(metrics["val_loss"], rel=1e-5)


def test_a_ddp_run_resumes_on_one_process(single_and_ddp_runs, dataset_path):
    """Hardware settings may change between a run and its resumption (a requeued job); the rest may not.

    Runs last among the tests of the DDP run: it resumes that run in place (its last.ckpt is at
    the final epoch, so nothing is trained again; the best weights are written anew).
    """
    run = single_and_ddp_runs[1]
    weights = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").unlink()  # as if the job had been killed before the end
    with pytest.raises(InputError, match="another config"):
        train_radiation(dataset_path, run, RadiationTrainingConfig(batch_size=32, **{**TINY, "learning_rate": 1e-3}))
    report = train_radiation(dataset_path, run, RadiationTrainingConfig(batch_size=32, **TINY), progress=False)
    assert report.resumed and report.epochs == TINY["epochs"]
    assert (run / "model.safetensors").read_bytes() == weights


def test_hardware_settings_are_checked_with_clear_errors(monkeypatch, tmp_path):
    with pytest.raises(InputError, match="bf16-mixed.*GPU"):
        RadiationTrainingConfig(precision="bf16-mixed")
    with pytest.raises(InputError, match="devices=0"):
        RadiationTrainingConfig(devices=0)
    with pytest.raises(InputError, match="strategy='fsdp'"):
        RadiationTrainingConfig(strategy="fsdp")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            build_trainer(tmp_path, RadiationTrainingConfig(), progress=False, accelerator="gpu")
        with pytest.raises(InputError, match="bf16-mixed.*CPU"):
            build_trainer(tmp_path, RadiationTrainingConfig(), progress=False, accelerator="auto", precision="bf16-mixed")
    # torchrun started 2 processes but each would train alone as rank 0, writing the same files.
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(InputError, match="2 processes were started"):
        build_trainer(tmp_path, RadiationTrainingConfig(), progress=False)


def test_train_cli_takes_the_hardware_options_and_fails_in_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["train", "radiation", "--help"])
    for option in ("--devices", "--strategy", "--accelerator", "--num-nodes", "--precision"):
        assert option in result.output
    args = ["train", "radiation", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--precision", "bf16-mixed"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1 and "bf16-mixed" in result.output


def test_bf16_autocast_keeps_the_physical_tail_in_float32(dataset_path):
    """Under bf16 autocast only the backbone runs in bf16: fluxes, heating and the exact constraints stay float32."""
    batch = to_tensors(xr.open_zarr(dataset_path).isel(column=slice(0, 100)).load())
    torch.manual_seed(0)
    emulator = build_emulator("rescnn", {"width": 8, "depth": 2}, N_LEVELS).eval()
    inputs = (batch["level_inputs"], batch["column_inputs"], batch["pressure_interface_Pa"])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        fluxes, heating = emulator(*inputs)
    assert fluxes.dtype == heating.dtype == torch.float32
    insolation = emulator.insolation_W_per_m2(batch["column_inputs"])
    assert torch.equal(fluxes[:, 3, -1], insolation) and (fluxes >= 0).all()
