"""Offline accuracy of radiation emulators on a held-out RRTMG dataset generated with another seed.

Generates the training and test sets if they are missing, trains each model (or loads a finished
run), evaluates it on the test set and prints one JSON line per model, then one line comparing the
ResCNN with the MLP baseline measured in the same run (``ratio`` < 1: the ResCNN errs less).
Targets of the radiation-emulator issue: flux MAE < 1 % of mean |flux|, heating-rate RMSE above
the lowest layer < 0.3 K/day (LW) and < 0.2 K/day (SW).

    python benchmarks/bench_emulator_accuracy.py --workdir bench_runs --train-columns 200000 \
        --train-mcica-samples 4 --epochs 75 --minutes 57 --models rescnn mlp \
        [--out benchmarks/results/emulator_accuracy.jsonl]

The training set's cloudy-column targets average ``--train-mcica-samples`` McICA draws (less
label noise); the test set is RRTMG as a user runs it, one draw per column. Each line also
carries the reference's own McICA noise floor and the skill against the mean of 8 draws on 2000
test columns: the error against one draw includes that draw's noise, which no emulator removes.
A finished run already in ``WORKDIR/run_<model>`` is evaluated as it is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _report import emit

from subgrid.radiation.columns import ColumnSamplerConfig
from subgrid.radiation.dataset import RadiationDatasetConfig, generate_radiation_dataset
from subgrid.radiation.evaluation import evaluate_radiation_run
from subgrid.radiation.training import RadiationTrainingConfig, train_radiation

TARGETS = {"flux_mae_percent": 1.0, "lw_heating_rmse_K_day": 0.3, "sw_heating_rmse_K_day": 0.2}
MODELS = {
    "rescnn": {"model": "rescnn", "model_options": {"width": 32, "depth": 4}},
    "rescnn_small": {"model": "rescnn", "model_options": {"width": 16, "depth": 3}},
    "mlp": {"model": "mlp", "model_options": {"hidden": 512, "layers": 3}},
}


def _dataset(path: Path, columns: int, seed: int, workers: int, mcica_samples: int = 1) -> Path:
    if not path.exists():
        config = RadiationDatasetConfig(
            n_columns=columns, seed=seed, chunk_size=1000, sampler=ColumnSamplerConfig(), mcica_samples=mcica_samples
        )
        generate_radiation_dataset(path, config, workers=workers, progress=False)
    return path


def _headline(metrics: dict) -> dict:
    overall = metrics["overall"]
    heating = metrics["heating_rates"]
    return {
        "flux_mae_percent": overall["flux_mae_percent"],
        "lw_heating_rmse_K_day": overall["lw_heating_rmse_K_day"],
        "sw_heating_rmse_K_day": overall["sw_heating_rmse_K_day"],
        "lw_heating_rmse_lowest_layer_K_day": heating["lw_heating_rate"]["lowest_layer"]["rmse_K_day"],
        "sw_heating_rmse_lowest_layer_K_day": heating["sw_heating_rate"]["lowest_layer"]["rmse_K_day"],
        "flux_mae_W_m2": {name: f["mae_W_m2"] for name, f in metrics["fluxes"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench_runs"))
    parser.add_argument("--train-columns", type=int, default=100_000)
    parser.add_argument("--test-columns", type=int, default=20_000)
    parser.add_argument("--minutes", type=float, default=25.0, help="Training time budget per model.")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--flux-loss-weight", type=float, default=10.0)
    parser.add_argument("--train-mcica-samples", type=int, default=4, help="McICA draws averaged in training targets.")
    parser.add_argument("--models", nargs="+", default=["rescnn", "mlp"], choices=sorted(MODELS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="Also append the JSON lines to this file.")
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    k = args.train_mcica_samples
    train_name = f"train_{args.train_columns}_seed11" + (f"_k{k}" if k > 1 else "") + ".zarr"
    train = _dataset(args.workdir / train_name, args.train_columns, 11, args.workers, k)
    test = _dataset(args.workdir / f"test_{args.test_columns}_seed99.zarr", args.test_columns, 99, args.workers)
    lines, results = [], {}
    for name in args.models:
        run = args.workdir / f"run_{name}"
        config = RadiationTrainingConfig(
            **MODELS[name],
            epochs=args.epochs,
            max_minutes=args.minutes,
            flux_loss_weight=args.flux_loss_weight,
            early_stopping_patience=max(args.epochs, 1),  # let the cosine schedule anneal
        )
        training = None  # a run trained elsewhere: its model.json may record the time
        if (run / "model.json").exists():
            recorded = json.loads((run / "model.json").read_text())
            if "training_seconds" in recorded:
                training = {
                    "epochs": recorded.get("trained_epochs"),
                    "minutes": round(recorded["training_seconds"] / 60, 2),
                    "torch_threads": recorded.get("torch_threads"),
                }
        if not (run / "model.safetensors").exists():
            report = train_radiation(train, run, config, progress=False)
            training = {"epochs": report.epochs, "minutes": round(report.seconds / 60, 2)}
        metrics = evaluate_radiation_run(run, test)
        results[name] = _headline(metrics)
        passed = {k: results[name][k] is not None and results[name][k] < v for k, v in TARGETS.items()}
        lines.append(
            {
                "benchmark": "emulator_accuracy",
                "model": name,
                "parameters": metrics["emulator"]["parameters"],
                "train_columns": args.train_columns,
                "train_mcica_samples": k,
                "trained_epochs": metrics["emulator"]["trained_epochs"],
                "test_columns": args.test_columns,
                "test_seed": 99,
                "training": training,
                **results[name],
                "targets": TARGETS,
                "passes": passed,
                "by_regime": {
                    regime: {key: metrics["by_regime"][regime][key] for key in TARGETS}
                    for regime in ("clear", "cloudy")
                    if regime in metrics["by_regime"]
                },
                "reference_noise_floor": metrics["reference_noise_floor"],
                "skill_against_mcica_mean": metrics["skill_against_mcica_mean"],
            }
        )
    if {"rescnn", "mlp"} <= set(results):
        lines.append(
            {
                "benchmark": "emulator_accuracy_ratio",
                "reference": "mlp baseline, same data, measured in the same run (training budgets differ: see each line)",
                "ratio": {k: results["rescnn"][k] / results["mlp"][k] for k in TARGETS},
            }
        )
    for line in lines:
        emit(line, args.out)


if __name__ == "__main__":
    main()
