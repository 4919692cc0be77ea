"""Evaluate a trained radiation emulator on a held-out RRTMG dataset: metrics.json and plots.

``evaluate_radiation_run(run, data)`` predicts every column of ``data`` with the emulator of a
training run or of an exported artifact (what a host couples: ONNX, TorchScript, AOTInductor),
scores it with :func:`subgrid.evaluation.metrics.radiation_metrics` and writes, into
``RUN/evaluation/<dataset name>/`` unless told otherwise (an artifact's directory is never written
into: give ``out``)::

    metrics.json            every number, with the definitions used (flux MAE %, Hellinger bins),
                            the McICA noise floor of the reference, and the skill against the
                            mean of several McICA draws, on a subset of the columns
    heating_profiles.png    per-level heating-rate RMSE and bias, LW and SW
    flux_scatter.png        TOA / surface fluxes, emulator vs RRTMG
    regime_errors.png       headline numbers by regime (clear/cloudy, day/night, latitude bands)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from subgrid.core.ownership import EVALUATION, write_directory
from subgrid.evaluation.metrics import radiation_metrics
from subgrid.evaluation.plots import plot_flux_scatter, plot_heating_profiles, plot_regime_errors
from subgrid.radiation.generalization import ScoredEmulator, load_scored_emulator
from subgrid.physics.rrtmg import RRTMGConfig, radiative_transfer_arrays
from subgrid.physics.schema import RADIATION_INPUTS
from subgrid.radiation.training_data import open_radiation_dataset


def mcica_noise_floor(truth: xr.Dataset, n_columns: int = 2000, seed: int = 0) -> dict | None:
    """How far two McICA draws of RRTMG on the same columns differ: the error no emulator can remove.

    McICA samples sub-grid cloud overlap randomly, so the reference itself is noisy in cloudy
    columns; an emulator can at best learn its mean. Runs RRTMG twice (seeds ``seed`` and
    ``seed + 1``) on the first ``n_columns`` columns with the dataset's own RRTMG settings and
    returns the noise σ of each headline number (heating RMSE above the lowest layer / √2, the
    spread of one draw about the mean) and the flux MAE % between the draws / √2. ``None`` when
    the dataset was made without McICA (deterministic reference) or ``n_columns`` is 0.
    """
    settings = json.loads(truth.attrs.get("rrtmg_settings", "{}"))
    if not settings.get("mcica", False) or n_columns <= 0:
        return None
    config = RRTMGConfig(**settings)
    subset = truth.isel(column=slice(0, n_columns)).load()
    arrays = {name: subset[name].values for name in RADIATION_INPUTS if name in subset}
    first = radiative_transfer_arrays(arrays, config, seed=seed)
    second = radiative_transfer_arrays(arrays, config, seed=seed + 1)
    day = subset["cos_solar_zenith_angle"].values > 0
    lowest = slice(1, None) if truth.attrs.get("vertical_order", "surface_first") == "surface_first" else slice(0, -1)
    floor = {"columns": int(subset.sizes["column"])}
    for band, mask in (("lw", np.ones_like(day)), ("sw", day)):
        difference = (first[f"{band}_heating_rate"] - second[f"{band}_heating_rate"])[mask][:, lowest]
        floor[f"{band}_heating_rmse_K_day"] = float(np.sqrt((difference**2).mean() / 2))
    error = total = 0.0
    for name in ("lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down"):
        mask = day if name.startswith("sw") else np.ones_like(day)
        error += np.abs(first[name] - second[name])[mask].sum()
        total += np.abs(first[name])[mask].sum()
    floor["flux_mae_percent"] = float(100 * error / total / np.sqrt(2))
    samples = int(truth.attrs.get("mcica_samples", 1))
    if samples > 1:  # the dataset's targets average K draws: their spread is smaller by sqrt(K)
        for key in ("lw_heating_rmse_K_day", "sw_heating_rmse_K_day", "flux_mae_percent"):
            floor[key] /= np.sqrt(samples)
    floor["mcica_samples"] = samples
    floor["definition"] = (
        "spread of the dataset's McICA targets about the mean, from two draws on the same columns: "
        "heating RMSE / sqrt(2), flux MAE % / sqrt(2), divided by sqrt(K) for targets averaging K draws"
    )
    return floor


def skill_against_mcica_mean(
    truth: xr.Dataset, predicted: xr.Dataset, n_columns: int = 2000, draws: int = 8, seed: int = 1000
) -> dict | None:
    """The emulator's headline skill against the mean of ``draws`` McICA draws of RRTMG, and against the dataset.

    A deterministic emulator can at best learn McICA's mean (the independent-column answer); its
    error against one draw adds the draw's own noise. On the first ``n_columns`` columns, cloudy
    columns are re-run ``draws`` times (seeds ``seed + k``) and averaged; returns the overall
    headline numbers against that mean and, on the same columns, against the dataset's targets.
    ``None`` without McICA or with ``n_columns`` 0.
    """
    from subgrid.radiation.dataset import mcica_mean

    settings = json.loads(truth.attrs.get("rrtmg_settings", "{}"))
    if not settings.get("mcica", False) or n_columns <= 0:
        return None
    subset = truth.isel(column=slice(0, n_columns)).load()
    arrays = {name: subset[name].values for name in RADIATION_INPUTS if name in subset}
    mean = mcica_mean(arrays, RRTMGConfig(**settings), seed, draws)
    reference = subset.copy()
    for name in ("lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down", "lw_heating_rate", "sw_heating_rate"):
        reference[name] = (subset[name].dims, mean[name], subset[name].attrs)
    prediction = predicted.isel(column=slice(0, n_columns))
    keys = ("flux_mae_percent", "lw_heating_rmse_K_day", "sw_heating_rmse_K_day")
    against_mean = radiation_metrics(reference, prediction)["overall"]
    against_dataset = radiation_metrics(subset, prediction)["overall"]
    return {
        "columns": int(subset.sizes["column"]),
        "draws": draws,
        "against_mcica_mean": {k: against_mean[k] for k in keys},
        "against_dataset_same_columns": {k: against_dataset[k] for k in keys},
    }


def _predict_in_blocks(
    model: ScoredEmulator, truth: xr.Dataset, size: int = 4096
) -> tuple[xr.Dataset, np.ndarray | None]:
    """``model``'s outputs for every column of ``truth``, read in blocks of ``size`` columns (a lazily opened
    zarr store is not loaded whole), and the columns its guard sends to RRTMG (None without a guard)."""
    predicted, sent = [], []
    for start in range(0, truth.sizes["column"], size):
        block = truth.isel(column=slice(start, start + size)).load()
        predicted.append(model.predict(block))
        if model.outside_training_range is not None:
            sent.append(model.outside_training_range(block))
    return xr.concat(predicted, "column"), np.concatenate(sent) if sent else None


def evaluate_radiation_run(
    run: str | Path, data: str | Path, out: str | Path | None = None, *, noise_floor_columns: int = 2000
) -> dict:
    """Score the emulator of ``run`` (a training run or an exported artifact) on dataset ``data``; write
    metrics.json and PNG plots as the directory ``out`` (default ``RUN/evaluation/<data>``; required for an
    artifact; built aside and swapped in, replacing only an earlier evaluation, refusing any other directory
    before work starts); return the metrics. An artifact with a guard also reports the share of the columns
    it sends to RRTMG (``guard``); the scores are the emulator's on every column.

    ``noise_floor_columns`` columns are also run twice through RRTMG to report the McICA noise
    floor of the reference (:func:`mcica_noise_floor`) and re-run 8 times for the skill against
    the McICA mean (:func:`skill_against_mcica_mean`); 0 skips both.
    """
    run, data = Path(run), Path(data)
    model = load_scored_emulator(run)
    out = model.output_directory(out, data.name.removesuffix(".zarr"))  # refuses a foreign directory now
    truth = open_radiation_dataset(data, n_levels=model.n_levels)
    predicted, sent = _predict_in_blocks(model, truth)
    metrics = radiation_metrics(truth, predicted)
    metrics["reference_noise_floor"] = mcica_noise_floor(truth, noise_floor_columns)
    metrics["skill_against_mcica_mean"] = skill_against_mcica_mean(truth, predicted, noise_floor_columns)
    description = json.loads((run / "model.json").read_text()) if model.is_training_run else {}
    metrics["emulator"] = {
        "run": str(run),
        "kind": model.kind,
        "model": model.model,
        "parameters": model.parameters,
        "trained_epochs": description.get("trained_epochs"),
    }
    if sent is not None:
        metrics["guard"] = {"guard": model.guard, **(model.guard_settings or {}),
                            "sent_to_physics_fraction": float(sent.mean()),
                            "sent_columns": int(sent.sum())}  # fmt: skip
    metrics["dataset"] = {"path": str(data), **{k: truth.attrs.get(k) for k in ("seed", "n_columns", "generator_version")}}

    def write(directory: Path) -> None:
        plot_heating_profiles(truth, predicted, directory / "heating_profiles.png", label=model.label)
        plot_flux_scatter(truth, predicted, directory / "flux_scatter.png", label=model.label)
        plot_regime_errors(metrics, directory / "regime_errors.png", label=model.label)
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))

    metrics["output_directory"] = str(write_directory(out, EVALUATION, __name__, write))
    return metrics
