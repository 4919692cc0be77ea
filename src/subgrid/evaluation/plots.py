"""Figures of offline skill (PNG): heating-rate error profiles, flux scatter, errors by regime.

Figures are built with matplotlib's object API on the Agg canvas rather than pyplot: no global
backend is switched (a notebook's inline backend stays as it is), no figure stays registered in
pyplot (nothing to close, nothing leaks in long runs), and it works on headless machines. Each
function writes its PNG atomically (temporary file in the same directory, then ``os.replace``),
so a report never links a half-written image, and returns the path.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from subgrid.core.errors import InputError
from subgrid.evaluation.metrics import bias, mae, r2, rmse, vertical_indices
from subgrid.core.validation import require_variables

DPI = 120
BAND_COLOURS = {"lw": "tab:red", "sw": "tab:blue"}
PRESSURE_TICKS_HPA = (1000, 700, 500, 300, 200, 100, 50, 20, 10, 5, 2, 1, 0.5, 0.2)


def _figure(width_in: float, height_in: float) -> Figure:
    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as PNG to ``path`` through a temporary file in the same directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        figure.savefig(temporary, format="png", dpi=DPI)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _titled(text: str, label: str | None) -> str:
    return f"{label}: {text}" if label else text


def _day(truth: xr.Dataset) -> np.ndarray:
    return truth["cos_solar_zenith_angle"].values > 0


def _profile_panel(
    ax: Axes, pressure_hPa: np.ndarray, profiles: dict[str, np.ndarray], lowest: int, quantity: str
) -> None:
    """Error profiles vs pressure; the lowest layer as a separate marker, pinned to the axis edge if off-scale.

    The x range follows the layers above the lowest one: the thin bottom layer's errors can be
    100x larger and would flatten every other level into the axis.
    """
    above = np.delete(np.arange(pressure_hPa.size), lowest)
    values_above = np.concatenate([values[above] for values in profiles.values()])
    low, high = float(np.min(values_above)), float(np.max(values_above))
    low, high = min(low, 0.0), max(high, 0.0)
    pad = 0.08 * (high - low) or 0.1
    low, high = low - pad, high + pad
    for band, values in profiles.items():
        colour = BAND_COLOURS[band]
        ax.plot(values[above], pressure_hPa[above], "-o", ms=3, color=colour, label=band.upper())
        value = float(values[lowest])
        marker = ">" if value > high else "<" if value < low else "s"
        ax.plot(
            np.clip(value, low, high),
            pressure_hPa[lowest],
            marker,
            ms=8,
            mfc="none",
            mew=1.5,
            color=colour,
            clip_on=False,
            label=f"{band.upper()} lowest layer: {value:.3g} K/day",
        )
    ax.axhline(pressure_hPa[lowest], ls=":", color="0.5", lw=1)
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set_xlim(low, high)
    ax.set_yscale("log")
    # Surface (highest pressure) at the bottom; plain hPa labels rather than powers of ten.
    bottom, top = pressure_hPa.max() * 1.1, pressure_hPa.min() / 1.1
    ax.set_ylim(bottom, top)
    ax.set_yticks([p for p in PRESSURE_TICKS_HPA if top <= p <= bottom])
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"{quantity} (K/day)")
    ax.set_ylabel("mean pressure (hPa)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")


def plot_heating_profiles(
    truth: xr.Dataset, pred: xr.Dataset, path: str | Path, *, label: str | None = None
) -> Path:
    """Per-level RMSE and bias (pred − truth) of the LW and SW heating rates (K/day) vs mean pressure (hPa).

    Pressure on a log axis with the surface at the bottom; the lowest layer is drawn as a separate
    open marker (with its value in the legend) and a dotted line. SW over daytime columns only.
    ``truth`` needs ``air_pressure`` (Pa), ``cos_solar_zenith_angle`` and both heating rates.
    """
    require_variables(
        truth, ("air_pressure", "cos_solar_zenith_angle", "lw_heating_rate", "sw_heating_rate"), what="truth"
    )
    require_variables(pred, ("lw_heating_rate", "sw_heating_rate"), what="pred")
    lowest = vertical_indices(truth).lowest_level
    pressure_hPa = truth["air_pressure"].mean("column").values / 100.0
    day = _day(truth)
    selections = {"lw": np.ones(day.shape, dtype=bool), "sw": day}
    rmse_profiles, bias_profiles = {}, {}
    for band, columns in selections.items():
        if not columns.any():
            continue
        name = f"{band}_heating_rate"
        t, p = truth[name].isel(column=columns), pred[name].isel(column=columns)
        rmse_profiles[band] = rmse(t, p, "column").values
        bias_profiles[band] = bias(t, p, "column").values
    figure = _figure(10.0, 6.0)
    rmse_ax, bias_ax = figure.subplots(1, 2, sharey=True)
    _profile_panel(rmse_ax, pressure_hPa, rmse_profiles, lowest, "heating-rate RMSE")
    _profile_panel(bias_ax, pressure_hPa, bias_profiles, lowest, "heating-rate bias (pred - truth)")
    bias_ax.set_ylabel("")
    sw_note = f"SW over {int(day.sum())} daytime columns" if day.any() else "no daytime columns: SW not shown"
    figure.suptitle(_titled(f"heating-rate errors by level ({day.size} columns; {sw_note})", label))
    return _save(figure, path)


def _scatter_panel(ax: Axes, truth: xr.DataArray, pred: xr.DataArray, title: str) -> None:
    if truth.sizes["column"] == 0:
        ax.set_title(f"{title}\nno daytime columns")
        ax.set_axis_off()
        return
    score = f"MAE {float(mae(truth, pred, None)):.3g} W m$^{{-2}}$"
    r2_value = float(r2(truth, pred, None))
    score += f", R$^2$ {r2_value:.4f}" if np.isfinite(r2_value) else ", R$^2$ undefined"
    t, p = truth.values, pred.values
    low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([low, high], [low, high], "-", color="0.3", lw=1, label="1:1")
    ax.plot(t, p, ".", ms=2, alpha=0.5, color="tab:purple")
    ax.set_title(f"{title}\n{score}", fontsize=10)
    ax.set_xlabel("truth (W m$^{-2}$)")
    ax.set_ylabel("prediction (W m$^{-2}$)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")


def plot_flux_scatter(truth: xr.Dataset, pred: xr.Dataset, path: str | Path, *, label: str | None = None) -> Path:
    """Truth vs prediction of OLR, TOA SW up, surface LW down and surface SW down, with the 1:1 line.

    Top and surface interfaces come from the ``vertical_order`` attr of ``truth``; SW panels use
    daytime columns only. Titles give MAE (W m⁻²) and pooled R² over the plotted columns.
    """
    panels = (
        ("lw_flux_up", "top", False, "outgoing LW at TOA (OLR)"),
        ("sw_flux_up", "top", True, "upward SW at TOA (day)"),
        ("lw_flux_down", "surface", False, "downward LW at the surface"),
        ("sw_flux_down", "surface", True, "downward SW at the surface (day)"),
    )
    names = tuple(dict.fromkeys(name for name, *_ in panels))
    require_variables(truth, (*names, "cos_solar_zenith_angle"), what="truth")
    require_variables(pred, names, what="pred")
    vertical = vertical_indices(truth)
    interface = {"top": vertical.top_interface, "surface": vertical.surface_interface}
    day = _day(truth)
    figure = _figure(10.0, 10.0)
    for ax, (name, end, daytime, title) in zip(figure.subplots(2, 2).ravel(), panels, strict=True):
        columns = day if daytime else np.ones(day.shape, dtype=bool)
        select = {"column": columns, "interface": interface[end]}
        _scatter_panel(ax, truth[name].isel(select), pred[name].isel(select), title)
    figure.suptitle(_titled(f"fluxes at TOA and surface ({day.size} columns, {int(day.sum())} daytime)", label))
    return _save(figure, path)


#: Headline numbers of a regime (keys of ``radiation_metrics(...)["by_regime"][regime]``) and their axis labels.
REGIME_PANELS = (
    ("flux_mae_percent", "flux MAE (%; SW day only, so LW only at night)"),
    ("lw_heating_rmse_K_day", "LW heating-rate RMSE (K/day)"),
    ("sw_heating_rmse_K_day", "SW heating-rate RMSE (K/day, day only)"),
)


def plot_regime_errors(metrics: dict, path: str | Path, *, label: str | None = None) -> Path:
    """Bar chart of the headline numbers of :func:`~subgrid.evaluation.metrics.radiation_metrics` by regime.

    One panel per entry of :data:`REGIME_PANELS`, one bar per regime after the overall one; a
    regime without a number (e.g. SW at night, or a model without heating rates) shows "n/a".
    """
    if not metrics.get("by_regime"):
        raise InputError("metrics: no 'by_regime' entries to plot (pass the dict from radiation_metrics)")
    regimes = {"overall": metrics["overall"], **metrics["by_regime"]}
    positions = np.arange(len(regimes))
    tick_labels = [f"{name}\n({entry['columns']})" for name, entry in regimes.items()]
    colours = ["0.35"] + ["tab:cyan"] * (len(regimes) - 1)
    levels = metrics["headline_levels"].replace("_", " ")
    figure = _figure(12.0, 4.5)
    for ax, (key, axis_label) in zip(figure.subplots(1, len(REGIME_PANELS)), REGIME_PANELS, strict=True):
        values = [entry.get(key) for entry in regimes.values()]
        heights = [0.0 if v is None else v for v in values]
        bars = ax.bar(positions, heights, color=colours)
        ax.bar_label(bars, labels=["n/a" if v is None else f"{v:.3g}" for v in values], fontsize=7)
        ax.set_xticks(positions, tick_labels, fontsize=7, rotation=45, ha="right")
        ax.set_ylabel(axis_label)
        ax.grid(True, axis="y", alpha=0.3)
    figure.suptitle(_titled(f"errors by regime (column counts in brackets; heating {levels})", label))
    return _save(figure, path)
