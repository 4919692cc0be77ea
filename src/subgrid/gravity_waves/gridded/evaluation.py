"""Offline skill of gridded gravity-wave flux emulators: Hellinger distance, RMSE and R² per level and band, maps.

Every score compares the truth and the prediction of one target variable (``uw_flux``,
``vw_flux``, ...) over the evaluated time steps and all grid points, unweighted by area (as the
histograms of the study; a Gaussian grid's polar rows count like the others):

* **Hellinger distance** H = sqrt(1 − Σᵢ √(pᵢ qᵢ)) of the histograms of truth and prediction
  (:func:`subgrid.evaluation.metrics.hellinger_distance`). Binning: ``n_bins`` (default 100)
  **symmetric-log** bins (:func:`~subgrid.evaluation.metrics.hellinger_bins`, ``"symlog"``):
  equal in y = sign(x)·ln(1 + |x|/t) over the full truth range, t = the median of |truth|, so the
  heavy tails of the fluxes get bins of their own; per level on that level's truth, overall and
  per band on the pooled truth of all (the band's) levels; predictions outside the truth range
  are clipped into the edge bins. The binning sentence is stored next to every number.
* **RMSE** sqrt(mean (ŷ − y)²) and **R²** 1 − SSE/SST (SST about the mean over the pooled
  samples: per level, per band, overall), in the file's units.

Level bands: with a ``pressure_hPa`` coordinate on ``level`` the bands are physical
(troposphere p ≥ 100 hPa, lower stratosphere 100 > p ≥ 10 hPa, upper stratosphere 10 > p ≥ 1 hPa,
above 1 hPa); without one (the public files: normalised pressure, undocumented level order) the
levels are cut into three contiguous thirds by index, named by their index ranges. Both are
recorded in ``metrics.json``.

Figures (PNG, written atomically): time-mean maps and time-and-zonal-mean latitude-level sections
of truth and prediction, an instantaneous map (the last evaluated time step), and the Hellinger
distance per level.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from subgrid.gravity_waves.gridded.dataset import GriddedSelection, LatLonBox, open_gw_gridded
from subgrid.core.errors import InputError
from subgrid.core.ownership import EVALUATION, write_directory
from subgrid.evaluation.metrics import hellinger_bins, hellinger_by_level, hellinger_distance, r2, rmse
from subgrid.evaluation.plots import _figure, _save
from subgrid.gravity_waves.gridded.training import (
    GriddedGWTrainingConfig,
    load_gw_gridded_emulator,
    predict_gw_gridded,
    split_by_time,
)

HELLINGER_BINS = 100
HELLINGER_METHOD = "symlog"
#: (name, lowest, highest pressure in hPa) of the physical level bands.
PRESSURE_BANDS = (
    ("troposphere", 100.0, np.inf),
    ("lower stratosphere", 10.0, 100.0),
    ("upper stratosphere", 1.0, 10.0),
    ("above 1 hPa", 0.0, 1.0),
)
SAMPLE_DIMS = ("time", "lat", "lon")
PERIODS = ("validation", "all")


def level_bands(ds: xr.Dataset) -> tuple[dict[str, list[int]], str]:
    """Level indices of each band and the rule that made them (module docstring)."""
    n = ds.sizes["level"]
    if "pressure_hPa" in ds.coords and ds["pressure_hPa"].dims == ("level",):
        pressure = ds["pressure_hPa"].values
        bands = {name: [int(k) for k in np.flatnonzero((pressure >= low) & (pressure < high))]
                 for name, low, high in PRESSURE_BANDS}  # fmt: skip
        rule = "by pressure: troposphere >= 100 hPa, lower stratosphere 100-10, upper stratosphere 10-1, above 1 hPa"
    else:
        bands = {f"levels {part[0]}-{part[-1]}": [int(k) for k in part] for part in np.array_split(np.arange(n), 3) if part.size}
        rule = "by level index: three contiguous thirds of the levels (no pressure coordinate on level)"
    return {name: levels for name, levels in bands.items() if levels}, rule


def _finite(value: float) -> float | None:
    """JSON has no NaN: R² is NaN where the truth is constant (SST = 0)."""
    value = float(value)
    return value if np.isfinite(value) else None


def _scores(truth: xr.DataArray, pred: xr.DataArray) -> dict:
    t, p = truth.values.ravel(), pred.values.ravel()
    bins = hellinger_bins(t, HELLINGER_BINS, HELLINGER_METHOD)
    return {
        "hellinger": hellinger_distance(t, p, bins),
        "hellinger_binning": bins.description,
        "rmse": float(rmse(truth, pred, dim=None)),
        "r2": _finite(r2(truth, pred, dim=None)),
    }


def gw_gridded_metrics(truth: xr.Dataset, predicted: xr.Dataset) -> dict:
    """Scores of every variable of ``predicted`` against ``truth`` (both ``[time, level, lat, lon]``).

    Returns ``{"targets": {name: {"hellinger": {by_level, overall, binning}, "rmse": {by_level,
    overall}, "r2": {by_level, overall}, "bands": {band: {levels, hellinger, hellinger_binning,
    rmse, r2}}}}, "bands_rule": ...}``.
    """
    bands, rule = level_bands(truth)
    results = {}
    for name in predicted.data_vars:
        if name not in truth:
            raise InputError(f"{name}: predicted but not in the truth")
        t, p = truth[name].astype(np.float64), predicted[name].astype(np.float64)
        hellinger = hellinger_by_level(t, p, "level", n_bins=HELLINGER_BINS, method=HELLINGER_METHOD)
        overall = _scores(t, p)
        results[name] = {
            "hellinger": {"by_level": [float(h) for h in hellinger.by_level.values], "overall": overall["hellinger"],
                          "binning": hellinger.binning, "overall_binning": overall["hellinger_binning"]},
            "rmse": {"by_level": [float(v) for v in rmse(t, p, dim=SAMPLE_DIMS).values], "overall": overall["rmse"]},
            "r2": {"by_level": [_finite(v) for v in r2(t, p, dim=SAMPLE_DIMS).values], "overall": overall["r2"]},
            "bands": {band: {"levels": levels, **_scores(t.isel(level=levels), p.isel(level=levels))}
                      for band, levels in bands.items()},
            "units": truth[name].attrs.get("units", ""),
        }  # fmt: skip
    return {"targets": results, "bands_rule": rule, "samples_per_level": int(np.prod([truth.sizes[d] for d in SAMPLE_DIMS]))}


def metrics_table(metrics: dict) -> str:
    """Overall and per-band scores as an aligned plain-text table."""

    def row(name: str, band: str, hellinger: float, rmse_value: float, r2_value: float | None) -> str:
        r2_cell = f"{r2_value:8.4f}" if r2_value is not None else f"{'-':>8s}"
        return f"{name:10s} {band:22s} {hellinger:9.4f} {rmse_value:9.4g} {r2_cell}"

    rows = [f"{'target':10s} {'levels':22s} {'Hellinger':>9s} {'RMSE':>9s} {'R²':>8s}"]
    for name, scores in metrics["targets"].items():
        rows.append(row(name, "all", scores["hellinger"]["overall"], scores["rmse"]["overall"], scores["r2"]["overall"]))
        rows += [row("", band, s["hellinger"], s["rmse"], s["r2"]) for band, s in scores["bands"].items()]
    rows.append(f"Hellinger binning: {HELLINGER_BINS} symlog bins over the truth range (t = median |truth|) of each "
                f"level / band / all levels; bands {metrics['bands_rule']}")  # fmt: skip
    return "\n".join(rows)


# --- figures ----------------------------------------------------------------------------------


def _map_panels(figure, fields: dict[str, xr.DataArray], rows: list[str], title: str) -> None:
    """One row per target: truth, prediction, difference (shared colour scale for the first two)."""
    axes = figure.subplots(len(rows), 3, squeeze=False)
    for row, name in zip(axes, rows, strict=True):
        truth, pred = fields[f"{name}/truth"], fields[f"{name}/pred"]
        limit = float(max(abs(truth).max(), abs(pred).max(), 1e-12))
        error_limit = float(max(abs(pred - truth).max(), 1e-12))
        panels = ((truth, "truth", limit), (pred, "prediction", limit), (pred - truth, "prediction - truth", error_limit))
        for ax, (field, label, vmax) in zip(row, panels, strict=True):
            image = ax.pcolormesh(field["lon"], field["lat"], field, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="auto")
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_xlabel("longitude (°)")
            ax.set_ylabel("latitude (°)")
            figure.colorbar(image, ax=ax, shrink=0.8)
    figure.suptitle(title)


def _with_grid_coords(da: xr.DataArray) -> xr.DataArray:
    """Latitude/longitude coordinates for plotting: the file's, else grid indices."""
    for dim in ("lat", "lon"):
        if dim in da.dims and dim not in da.coords:
            da = da.assign_coords({dim: np.arange(da.sizes[dim])})
    return da


def plot_maps(truth: xr.Dataset, pred: xr.Dataset, level: int, directory: Path, label: str) -> list[Path]:
    """``time_mean_maps.png`` and ``instantaneous_maps.png`` at level index ``level`` (position in ``truth``)."""
    names = list(pred.data_vars)
    paths = []
    last = f"at {truth['time'].values[-1]}" if "time" in truth.coords else "last time step"
    for filename, reduce, what in (
        ("time_mean_maps.png", lambda da: da.mean("time"), "time mean"),
        ("instantaneous_maps.png", lambda da: da.isel(time=-1), last),
    ):
        fields = {}
        for name in names:
            for key, source in (("truth", truth), ("pred", pred)):
                fields[f"{name}/{key}"] = _with_grid_coords(reduce(source[name].isel(level=level)).astype(np.float64))
        figure = _figure(13, 3.2 * len(names))
        _map_panels(figure, fields, names, f"{label}: {what}, level {int(truth['level'].values[level])}")
        paths.append(_save(figure, directory / filename))
    return paths


def plot_zonal_means(truth: xr.Dataset, pred: xr.Dataset, path: Path, label: str) -> Path:
    """Time-and-zonal means against latitude and level: truth, prediction, difference per target."""
    names = list(pred.data_vars)
    figure = _figure(13, 3.2 * len(names))
    axes = figure.subplots(len(names), 3, squeeze=False)
    for row, name in zip(axes, names, strict=True):
        t = _with_grid_coords(truth[name].astype(np.float64).mean(("time", "lon")))
        p = _with_grid_coords(pred[name].astype(np.float64).mean(("time", "lon")))
        limit = float(max(abs(t).max(), abs(p).max(), 1e-12))
        error = float(max(abs(p - t).max(), 1e-12))
        panels = ((t, "truth", limit), (p, "prediction", limit), (p - t, "prediction - truth", error))
        for ax, (field, what, vmax) in zip(row, panels, strict=True):
            image = ax.pcolormesh(field["lat"], np.arange(field.sizes["level"]), field.transpose("level", "lat"),
                                  cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="auto")  # fmt: skip
            ax.set_title(f"{name}: {what}", fontsize=9)
            ax.set_xlabel("latitude (°)")
            ax.set_ylabel("level (index)")
            figure.colorbar(image, ax=ax, shrink=0.8)
    figure.suptitle(f"{label}: time and zonal mean")
    return _save(figure, path)


def plot_hellinger_by_level(metrics: dict, levels: list[int], path: Path, label: str) -> Path:
    figure = _figure(5, 4)
    ax = figure.subplots()
    for name, scores in metrics["targets"].items():
        ax.plot(scores["hellinger"]["by_level"], levels, marker="o", label=f"{name} (all: {scores['hellinger']['overall']:.3f})")
    ax.set_xlabel("Hellinger distance")
    ax.set_ylabel("level (index)")
    ax.set_xlim(left=0)
    ax.legend(fontsize=8)
    ax.set_title(f"{label}\n{HELLINGER_BINS} symlog bins per level", fontsize=9)
    return _save(figure, path)


# --- a run on a dataset -----------------------------------------------------------------------


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise InputError(f"period: must be one of {', '.join(PERIODS)}, got {period!r}")


def score_run(run: Path, ds: xr.Dataset, period: str, box: LatLonBox | None,
               truths: dict | None = None) -> tuple[xr.Dataset, xr.Dataset, dict]:
    """Truth, prediction and metrics of the emulator of ``run`` on ``ds`` (``period``, optional ``box``).

    ``truths`` caches the loaded truth by (targets, levels, times), so that runs compared on the same
    data read it once.
    """
    emulator, description = load_gw_gridded_emulator(run)
    selection = GriddedSelection.for_dataset(ds, description["inputs"], description["targets"], description["target_levels"])
    if selection.input_channels() != description["input_channels"]:
        raise InputError(f"data: has {ds.sizes['level']} levels; {run} was trained on {description['data']['n_levels']}")
    times = np.arange(ds.sizes["time"])
    if period == "validation":
        times = split_by_time(ds, GriddedGWTrainingConfig.from_yaml(run / "config.yaml").validation_fraction)[1]
    predicted = predict_gw_gridded(emulator, ds, selection, times)
    key = (selection.targets, tuple(selection.levels), tuple(int(t) for t in times))
    truths = {} if truths is None else truths
    if key not in truths:
        truths[key] = ds[list(selection.targets)].isel(time=list(times), level=selection.levels).load()
    truth = truths[key]
    if box is not None:  # a box is every pair of its latitudes and longitudes: a rectangle of the grid
        points = box.indexers(ds)
        truth, predicted = truth.isel(points), predicted.isel(points)
    metrics = gw_gridded_metrics(truth, predicted)
    if box is not None:
        metrics["region"] = {"box": box.as_list(), "points": int(truth.sizes["lat"] * truth.sizes["lon"])}
    first_time, last_time = (str(truth["time"].values[i]) for i in (0, -1)) if "time" in truth.coords else ("", "")
    metrics["period"] = {"kind": period, "time_steps": len(times), "first": first_time, "last": last_time}
    keys = ("model", "model_options", "parameters", "trainable_parameters", "trained_epochs", "training_seconds",
            "pretraining")
    metrics["emulator"] = {k: description.get(k) for k in keys} | {"run": str(run)}
    metrics["data"] = [str(p) for p in ds.attrs["source_files"]]
    metrics["target_levels"] = list(selection.levels)
    return truth, predicted, metrics


def _open_for_evaluation(data, region) -> tuple[xr.Dataset, LatLonBox | None]:
    ds = open_gw_gridded(data)
    box = None if region is None else LatLonBox.parse(region)
    if box is not None:
        box.points(ds)  # before any prediction: data without lat/lon, or a box holding no grid point, is an error
    return ds, box


def _plot_position(truth: xr.Dataset, levels: list[int], plot_level: int | None, what: str) -> int:
    """Position in ``levels`` of the maps' level: ``plot_level``, else the level whose truth varies most."""
    if plot_level is None:
        spread = sum(truth[name].astype(np.float64).std(SAMPLE_DIMS) for name in truth.data_vars)
        return int(np.argmax(spread.values))
    if plot_level not in levels:
        raise InputError(f"plot_level: {plot_level} is not a target level of {what} ({levels})")
    return levels.index(plot_level)


def evaluate_gw_gridded(
    run: str | Path,
    data: str | Path | list[str | Path],
    out: str | Path | None = None,
    *,
    period: str = "validation",
    plot_level: int | None = None,
    region: str | Sequence[float] | None = None,
) -> dict:
    """Score the emulator of ``run`` on fine-tuning file(s) ``data``; write metrics.json and PNGs to ``out``.

    ``period``: ``"validation"`` scores the last part of the record held out as in training (the
    run's ``validation_fraction``), ``"all"`` every time step. ``plot_level``: the target level
    of the maps (default: the level whose truth varies most). Everything is computed before
    anything is written; the files are written into a temporary directory renamed to ``out`` (an
    existing ``out`` is replaced), so an error leaves nothing half-written. The evaluated truth
    and prediction are held in memory (8 MB per time step for both fluxes on 122 levels).

    ``region``: ``[lat_min, lat_max, lon_min, lon_max]`` (degrees, or ``"LAT0,LAT1,LON0,LON1"``;
    :class:`~subgrid.gravity_waves.gridded.dataset.LatLonBox`): scores and figures of the grid points in that
    box alone, e.g. the region a pre-trained backbone never saw (``metrics["emulator"]
    ["pretraining"]["exclude_region"]`` when the run fine-tuned a ``subgrid pretrain`` backbone).
    """
    _check_period(period)
    run = Path(run)
    ds, box = _open_for_evaluation(data, region)
    truth, predicted, metrics = score_run(run, ds, period, box)
    levels = metrics.pop("target_levels")
    plot_position = _plot_position(truth, levels, plot_level, str(run))
    metrics["plot_level"] = levels[plot_position]
    description = metrics["emulator"]
    label = f"{description['model']} ({description['parameters']:,} parameters)"

    def write(staging: Path) -> None:
        plot_maps(truth, predicted, plot_position, staging, label)
        plot_zonal_means(truth, predicted, staging / "zonal_means.png", label)
        plot_hellinger_by_level(metrics, levels, staging / "hellinger_by_level.png", label)
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))

    out = Path(out) if out is not None else run / "evaluation" / Path(ds.attrs["source_files"][0]).stem
    write_directory(out, EVALUATION, __name__, write)
    metrics["output_directory"] = str(out)
    return metrics


# --- several runs on the same data: the ablation table ----------------------------------------


def _run_label(run: Path, labels: Sequence[str] | None, index: int) -> str:
    return labels[index] if labels is not None else run.name


def _mean(values: Sequence[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def comparison_rows(results: dict[str, dict]) -> list[dict]:
    """One row per run: Hellinger (per target, mean over targets, per band), RMSE, R², size, training time.

    "mean" columns average the targets (e.g. ``uw_flux`` and ``vw_flux``) with equal weight.
    """
    rows = []
    for label, metrics in results.items():
        targets, emulator = metrics["targets"], metrics["emulator"]
        bands = next(iter(targets.values()))["bands"]
        pretraining = emulator.get("pretraining") or {}
        options = emulator.get("model_options") or {}
        rows.append({
            "run": label,
            "model": emulator["model"],
            "fine_tune": options.get("fine_tune", "-") if emulator["model"] == "prithvi" else "-",
            "pretrained": bool(options.get("pretrained")),
            "pretraining_task": pretraining.get("task"),
            "parameters": emulator["parameters"],
            "trainable_parameters": emulator.get("trainable_parameters"),
            "training_minutes": None if emulator.get("training_seconds") is None else emulator["training_seconds"] / 60,
            "trained_epochs": emulator.get("trained_epochs"),
            "hellinger": {name: s["hellinger"]["overall"] for name, s in targets.items()},
            "hellinger_mean": _mean([s["hellinger"]["overall"] for s in targets.values()]),
            "hellinger_bands": {band: _mean([s["bands"][band]["hellinger"] for s in targets.values()]) for band in bands},
            "rmse": {name: s["rmse"]["overall"] for name, s in targets.items()},
            "r2_mean": _mean([s["r2"]["overall"] for s in targets.values()]),
        })  # fmt: skip
    return rows


def comparison_table(rows: list[dict], units: str = "") -> str:
    """The rows of :func:`comparison_rows` as a Markdown table (best Hellinger in bold)."""
    targets = list(rows[0]["hellinger"])
    bands = list(rows[0]["hellinger_bands"])
    best = min(row["hellinger_mean"] for row in rows)
    header = (["run", "model", "fine-tune", "pre-trained"] + [f"H {t}" for t in targets] + ["**H mean**"]
              + [f"H {b}" for b in bands] + [f"RMSE {t}{f' ({units})' if units else ''}" for t in targets]
              + ["R² mean", "parameters (trainable)", "train min (epochs)"])  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        mean = f"{row['hellinger_mean']:.4f}"
        trainable = row["trainable_parameters"]
        minutes = "-" if row["training_minutes"] is None else f"{row['training_minutes']:.1f} ({row['trained_epochs']})"
        cells = ([row["run"], row["model"], row["fine_tune"], "yes" if row["pretrained"] else "no"]
                 + [f"{row['hellinger'][t]:.4f}" for t in targets]
                 + [f"**{mean}**" if row["hellinger_mean"] == best else mean]
                 + [f"{row['hellinger_bands'][b]:.4f}" for b in bands]
                 + [f"{row['rmse'][t]:.3g}" for t in targets]
                 + ["-" if row["r2_mean"] is None else f"{row['r2_mean']:.3f}",
                    f"{row['parameters']:,}" + ("" if trainable is None else f" ({trainable:,})"), minutes])  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_comparison(truth: xr.Dataset, predictions: dict[str, xr.Dataset], path: Path, title: str, reduce,
                    section: bool = False) -> Path:
    """One column per target, one row for the truth and one per run, on a shared colour scale per target.

    ``reduce`` turns a target's DataArray into the 2-D field drawn: a ``(lat, lon)`` map, or with
    ``section`` a ``(level, lat)`` latitude-level section.
    """
    names = list(truth.data_vars)
    rows = {"truth": truth, **predictions}
    figure = _figure(4.6 * len(names), 2.4 * len(rows))
    axes = figure.subplots(len(rows), len(names), squeeze=False)
    for column, name in enumerate(names):
        fields = {label: _with_grid_coords(reduce(ds[name]).astype(np.float64)) for label, ds in rows.items()}
        limit = float(max(max(abs(f).max() for f in fields.values()), 1e-12))
        for ax, (label, field) in zip(axes[:, column], fields.items(), strict=True):
            if section:
                x, y, values = field["lat"], np.arange(field.sizes["level"]), field.transpose("level", "lat")
            else:
                x, y, values = field["lon"], field["lat"], field
            image = ax.pcolormesh(x, y, values, cmap="RdBu_r", vmin=-limit, vmax=limit, shading="auto")
            ax.set_title(f"{label}: {name}", fontsize=9)
            ax.set_ylabel("level (index)" if section else "latitude (°)")
        ax.set_xlabel("latitude (°)" if section else "longitude (°)")
        figure.colorbar(image, ax=axes[:, column], shrink=0.6)
    figure.suptitle(title)
    return _save(figure, path)


def plot_comparison_hellinger(results: dict[str, dict], levels: list[int], path: Path) -> Path:
    """Hellinger distance per level of every run, one panel per target."""
    names = list(next(iter(results.values()))["targets"])
    figure = _figure(4.2 * len(names), 4)
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        for label, metrics in results.items():
            scores = metrics["targets"][name]["hellinger"]
            ax.plot(scores["by_level"], levels, marker="o", markersize=3, label=f"{label} ({scores['overall']:.3f})")
        ax.set_xlabel("Hellinger distance")
        ax.set_ylabel("level (index)")
        ax.set_xlim(left=0)
        ax.set_title(f"{name}: {HELLINGER_BINS} symlog bins per level", fontsize=9)
        ax.legend(fontsize=7)
    return _save(figure, path)


def compare_gw_gridded(
    runs: Sequence[str | Path],
    data: str | Path | list[str | Path],
    out: str | Path,
    *,
    labels: Sequence[str] | None = None,
    period: str = "validation",
    plot_level: int | None = None,
    region: str | Sequence[float] | None = None,
) -> dict:
    """Score several gridded runs on the same time steps of ``data``: the ablation table and side-by-side figures.

    Writes to ``out`` (temporary directory, renamed when complete): ``comparison.md`` (the table of
    :func:`comparison_table`), ``comparison.json`` (rows, every run's full metrics as
    :func:`evaluate_gw_gridded` computes them, the binning), ``time_mean_maps.png``,
    ``instantaneous_maps.png``, ``zonal_means.png`` (truth and each run) and
    ``hellinger_by_level.png``. ``labels`` name the runs (default: their directory names). The
    runs must predict the same targets and levels and, for ``period="validation"``, hold out the
    same time steps; ``region`` as in :func:`evaluate_gw_gridded`.
    """
    _check_period(period)
    runs = [Path(r) for r in runs]
    if not runs:
        raise InputError("run: no run given")
    if labels is not None and len(labels) != len(runs):
        raise InputError(f"labels: {len(labels)} labels for {len(runs)} runs")
    names = [_run_label(r, labels, k) for k, r in enumerate(runs)]
    if len(set(names)) != len(names):
        raise InputError(f"labels: runs must have distinct names, got {names} (pass labels)")
    ds, box = _open_for_evaluation(data, region)
    truth, predictions, results, levels, truths = None, {}, {}, None, {}
    for name, run in zip(names, runs, strict=True):
        run_truth, predicted, metrics = score_run(run, ds, period, box, truths)
        run_levels = metrics.pop("target_levels")
        if truth is None:
            truth, levels = run_truth, run_levels
        elif list(run_truth.data_vars) != list(truth.data_vars) or run_levels != levels:
            raise InputError(f"{run}: predicts {list(run_truth.data_vars)} at levels {run_levels}; "
                             f"{runs[0]} predicts {list(truth.data_vars)} at {levels}: not comparable")
        elif not np.array_equal(run_truth["time"].values, truth["time"].values):
            raise InputError(f"{run}: evaluates other time steps than {runs[0]} (a different validation_fraction); "
                             "compare with period='all'")
        predictions[name], results[name] = predicted, metrics
    plot_position = _plot_position(truth, levels, plot_level, str(runs[0]))
    rows = comparison_rows(results)
    units = next(iter(results.values()))["targets"][next(iter(truth.data_vars))]["units"]
    first = next(iter(results.values()))
    summary = {
        "rows": rows,
        "table": comparison_table(rows, units),
        "period": first["period"],
        "region": first.get("region"),
        "bands_rule": first["bands_rule"],
        "hellinger_binning": f"{HELLINGER_BINS} {HELLINGER_METHOD} bins over the truth range (t = median |truth|) of "
                             "all levels pooled (per band: the band's levels; per level: that level)",
        "plot_level": levels[plot_position],
        "runs": results,
        "data": first["data"],
    }
    scope = "" if box is None else f" in {box.as_list()}"
    last = f"at {truth['time'].values[-1]}" if "time" in truth.coords else "last time step"

    def write(staging: Path) -> None:
        level = f"level {int(truth['level'].values[plot_position])}"
        plot_comparison(truth, predictions, staging / "time_mean_maps.png", f"time mean{scope}, {level}",
                        lambda da: da.isel(level=plot_position).mean("time"))  # fmt: skip
        plot_comparison(truth, predictions, staging / "instantaneous_maps.png", f"{last}{scope}, {level}",
                        lambda da: da.isel(level=plot_position, time=-1))  # fmt: skip
        plot_comparison(truth, predictions, staging / "zonal_means.png", f"time and zonal mean{scope}",
                        lambda da: da.mean(("time", "lon")), section=True)  # fmt: skip
        plot_comparison_hellinger(results, levels, staging / "hellinger_by_level.png")
        (staging / "comparison.md").write_text(
            f"Evaluated: the {summary['period']['kind']} period{scope}: {summary['period']['time_steps']} time steps "
            f"({summary['period']['first']} to {summary['period']['last']}). H = Hellinger distance, "
            f"{summary['hellinger_binning']}; bands {summary['bands_rule']}.\n\n{summary['table']}\n")
        (staging / "comparison.json").write_text(json.dumps(summary, indent=2, allow_nan=False))

    out = Path(out)
    write_directory(out, EVALUATION, __name__, write)
    summary["output_directory"] = str(out)
    return summary
