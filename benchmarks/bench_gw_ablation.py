"""The gravity-wave foundation-model ablation: Attention U-Net vs PrithviGW (random init, pre-trained frozen,
pre-trained fine-tuned) on the held-out end of a simulated record, globally and in a region the
backbone never saw.

Every step goes through the public API that ``subgrid`` commands call:

1. (``--simulate``) :func:`subgrid.gravity_waves.gridded.simulation.generate_gw_simulation_dataset` twice: the
   labelled record (``--seed``) and an independent, longer one for pre-training (``--seed + 1``),
   whose fluxes are never read;
2. :func:`subgrid.gravity_waves.gridded.pretrain.pretrain`: masked reconstruction of the pre-training states
   with ``--exclude-region`` hidden (inputs, statistics, loss);
3. the labelled record is cut in time: the last ``--test-fraction`` is the **test period**, which
   no run sees while training or choosing its epoch;
4. :func:`subgrid.gravity_waves.gridded.training.train_gw_gridded` four times on the earlier part (its own
   last ``--validation-fraction`` picks the best epoch and stops early);
5. :func:`subgrid.gravity_waves.gridded.evaluation.compare_gw_gridded` on the test period, globally and in
   the excluded region: ``comparison.md`` (the table), ``comparison.json`` and figures.

Prints one JSON line per run and scope (Hellinger overall = mean of the ``uw_flux`` and
``vw_flux`` distances, per band, RMSE, R², parameters, training minutes) and a summary line with
``hellinger_ratio_finetuned_vs_unet`` measured in the same run (< 1: the fine-tune is better).

    OMP_NUM_THREADS=2 python benchmarks/bench_gw_ablation.py --workdir /tmp/ablation --simulate \\
        --out benchmarks/results/gw_ablation_cpu.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from _report import emit

from subgrid.core.chunked import write_zarr_atomic
from subgrid.gravity_waves.gridded.simulation import GWSimulationConfig, generate_gw_simulation_dataset
from subgrid.gravity_waves.gridded.evaluation import compare_gw_gridded
from subgrid.gravity_waves.gridded.training import GriddedGWTrainingConfig, train_gw_gridded
from subgrid.gravity_waves.gridded.pretrain import PretrainConfig, pretrain

#: The backbone every PrithviGW run shares (pre-training and fine-tunes must agree).
BACKBONE = {"embed_dim": 128, "n_heads": 4, "n_blocks_encoder": 4, "n_blocks_decoder": 2, "mlp_multiplier": 4,
            "patch": 4, "window": [8, 16]}
#: The Andes and the flow downstream of them (lat, lat, lon, lon in degrees).
DEFAULT_REGION = [-50.0, 0.0, 270.0, 330.0]


def simulate(workdir: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The labelled record and the pre-training record (another seed, ``--pretrain-days`` long)."""
    common = {"resolution": args.resolution, "levels": args.levels, "time_step_minutes": args.time_step_minutes,
              "spinup_days": args.spinup_days, "output_interval_hours": args.output_interval_hours,
              "target": args.target_grid}
    paths = []
    for name, days, seed in (("labelled", args.days, args.seed), ("pretraining", args.pretrain_days, args.seed + 1)):
        path = workdir / f"gw_{name}.zarr"
        if not path.exists():
            started = time.perf_counter()
            generate_gw_simulation_dataset(GWSimulationConfig(record_days=days, seed=seed, **common), path)
            print(f"simulated {name}: {days} days in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
        paths.append(path)
    return paths[0], paths[1]


def split_test_period(labelled: Path, workdir: Path, test_fraction: float) -> tuple[Path, Path]:
    """``train.zarr`` (the earlier part) and ``test.zarr`` (the last ``test_fraction`` of the times) of ``labelled``."""
    ds = xr.open_zarr(labelled)
    n = ds.sizes["time"]
    first_test = n - max(1, round(test_fraction * n))
    paths = workdir / "train.zarr", workdir / "test.zarr"
    for path, times in zip(paths, (np.arange(first_test), np.arange(first_test, n)), strict=True):
        if not path.exists():
            write_zarr_atomic(ds.isel(time=times).load(), path)
    return paths


def runs(args: argparse.Namespace, backbone: Path) -> dict[str, GriddedGWTrainingConfig]:
    """The four ablation configurations (same data, split, epochs, seed)."""
    base = GriddedGWTrainingConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                                   validation_fraction=args.validation_fraction, seed=args.seed,
                                   early_stopping_patience=args.patience, max_minutes=args.max_minutes)
    prithvi = replace(base, model="prithvi", model_options=dict(BACKBONE, fine_tune="full"))
    pretrained = dict(BACKBONE, pretrained=str(backbone))
    return {
        "Attention U-Net": replace(base, model="unet", model_options={"base_width": args.unet_width}),
        "PrithviGW random init": prithvi,
        "PrithviGW pre-trained, frozen": replace(prithvi, model_options=dict(pretrained, fine_tune="frozen"),
                                                 learning_rate=args.frozen_lr),
        "PrithviGW pre-trained, fine-tuned": replace(prithvi, model_options=dict(pretrained, fine_tune="full")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--labelled", type=Path, default=None, help="Labelled gridded dataset (default: simulate).")
    parser.add_argument("--pretraining", type=Path, default=None, help="Unlabeled states for pre-training.")
    parser.add_argument("--simulate", action="store_true", help="Simulate the datasets missing in --workdir.")
    parser.add_argument("--resolution", default="T42")
    parser.add_argument("--levels", type=int, default=20)
    parser.add_argument("--time-step-minutes", type=float, default=10.0)
    parser.add_argument("--spinup-days", type=float, default=20.0)
    parser.add_argument("--days", type=float, default=40.0, help="Labelled record (model days).")
    parser.add_argument("--pretrain-days", type=float, default=60.0, help="Pre-training record (model days).")
    parser.add_argument("--output-interval-hours", type=float, default=3.0)
    parser.add_argument("--target-grid", default="gaussian:32x64")
    parser.add_argument("--exclude-region", type=float, nargs=4, default=DEFAULT_REGION)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--frozen-lr", type=float, default=3e-3)
    parser.add_argument("--unet-width", type=int, default=32)
    parser.add_argument("--test-fraction", type=float, default=0.25, help="End of the labelled record never trained on.")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="End of the rest: picks the epoch.")
    parser.add_argument("--max-minutes", type=float, default=None, help="Per training run.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None, help="Train only these runs (names as in the table).")
    parser.add_argument("--out", type=Path, default=None, help="Append the JSON lines to this file.")
    args = parser.parse_args()
    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    if args.labelled is None or args.pretraining is None:
        if not args.simulate:
            parser.error("pass --labelled and --pretraining, or --simulate")
        simulated = simulate(workdir, args)
        labelled, unlabeled = args.labelled or simulated[0], args.pretraining or simulated[1]
    else:
        labelled, unlabeled = args.labelled, args.pretraining

    backbone_run = workdir / "pretrain"
    needs_backbone = args.only is None or any("pre-trained" in name for name in args.only)
    if needs_backbone and not (backbone_run / "backbone.pt").exists():
        config = PretrainConfig(model_options=dict(BACKBONE), task="masked", mask_ratio=0.5, epochs=args.pretrain_epochs,
                                batch_size=args.batch_size, learning_rate=args.lr, validation_fraction=0.1,
                                exclude_region=list(args.exclude_region), seed=args.seed,
                                early_stopping_patience=args.patience)  # fmt: skip
        report = pretrain(unlabeled, backbone_run, config, progress=False)
        print(f"pre-trained {report.epochs} epochs in {report.seconds / 60:.1f} min, best val loss "
              f"{report.best_val_loss:.4f}", flush=True)
    train_data, test_data = split_test_period(labelled, workdir, args.test_fraction)
    configurations = runs(args, backbone_run / "backbone.pt")
    run_dirs = {}
    for name, config in configurations.items():
        run = workdir / name.lower().replace(" ", "_").replace(",", "").replace("-", "_")
        run_dirs[name] = run
        if (run / "model.safetensors").exists() or (args.only is not None and name not in args.only):
            continue
        report = train_gw_gridded(train_data, run, config, progress=False)
        print(f"{name}: {report.epochs} epochs in {report.seconds / 60:.1f} min, best val loss {report.best_val_loss:.4f}",
              flush=True)
    run_dirs = {name: run for name, run in run_dirs.items() if (run / "model.safetensors").exists()}

    if args.only is not None:  # one part of the ablation; compare when all runs are trained
        return
    pretraining = json.loads((backbone_run / "model.json").read_text())
    context = {"benchmark": "gw_ablation", "machine": platform.machine(), "torch_threads": torch.get_num_threads(),
               "device": "cpu", "labelled": str(labelled), "pretraining_data": str(unlabeled),
               "pretraining_best_val_loss": pretraining.get("best_val_loss"),
               "pretraining_minutes": round(pretraining.get("training_seconds", 0) / 60, 1)}
    summary = {}
    for scope, region in (("global", None), ("excluded region", args.exclude_region)):
        out = workdir / ("comparison" if region is None else "comparison_region")
        result = compare_gw_gridded(list(run_dirs.values()), test_data, out, labels=list(run_dirs), region=region,
                                    period="all")
        print(result["table"], flush=True)
        for row in result["rows"]:
            emit({**context, "scope": scope, "region": region, "test_period": result["period"],
                  **row}, args.out)  # fmt: skip
        by_name = {row["run"]: row["hellinger_mean"] for row in result["rows"]}
        if "Attention U-Net" in by_name and "PrithviGW pre-trained, fine-tuned" in by_name:
            summary[scope] = by_name["PrithviGW pre-trained, fine-tuned"] / by_name["Attention U-Net"]
    emit({**context, "summary": True, **{f"hellinger_ratio_finetuned_vs_unet_{k.replace(' ', '_')}": v
                                         for k, v in summary.items()}}, args.out)


if __name__ == "__main__":
    main()
