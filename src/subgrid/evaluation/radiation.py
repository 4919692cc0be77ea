"""Evaluate a trained radiation emulator on a held-out RRTMG dataset: metrics.json and plots.

``evaluate_radiation_run(run, data)`` predicts every column of ``data`` with the run's emulator,
scores it with :func:`subgrid.evaluation.metrics.radiation_metrics` and writes, into
``RUN/evaluation/<dataset name>/`` unless told otherwise::

    metrics.json            every number, with the definitions used (flux MAE %, Hellinger bins)
    heating_profiles.png    per-level heating-rate RMSE and bias, LW and SW
    flux_scatter.png        TOA / surface fluxes, emulator vs RRTMG
    regime_errors.png       headline numbers by regime (clear/cloudy, day/night, latitude bands)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from subgrid.evaluation.metrics import radiation_metrics
from subgrid.evaluation.plots import plot_flux_scatter, plot_heating_profiles, plot_regime_errors
from subgrid.training.radiation import load_emulator, predict_radiation
from subgrid.training.radiation_data import open_radiation_dataset


def evaluate_radiation_run(run: str | Path, data: str | Path, out: str | Path | None = None) -> dict:
    """Score the emulator of ``run`` on dataset ``data``; write metrics.json and PNG plots; return the metrics."""
    run, data = Path(run), Path(data)
    emulator, description = load_emulator(run)
    truth = open_radiation_dataset(data, n_levels=description["n_levels"])
    predicted = predict_radiation(emulator, truth)
    metrics = radiation_metrics(truth, predicted)
    metrics["emulator"] = {
        "run": str(run),
        "model": description["model"],
        "parameters": description["parameters"],
        "trained_epochs": description.get("trained_epochs"),
    }
    metrics["dataset"] = {"path": str(data), **{k: truth.attrs.get(k) for k in ("seed", "n_columns", "generator_version")}}

    out = Path(out) if out is not None else run / "evaluation" / data.name.removesuffix(".zarr")
    out.mkdir(parents=True, exist_ok=True)
    label = f"{description['model']} ({description['parameters']:,} parameters)"
    plot_heating_profiles(truth, predicted, out / "heating_profiles.png", label=label)
    plot_flux_scatter(truth, predicted, out / "flux_scatter.png", label=label)
    plot_regime_errors(metrics, out / "regime_errors.png", label=label)
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2, allow_nan=False))
    os.replace(tmp, out / "metrics.json")
    metrics["output_directory"] = str(out)
    return metrics
