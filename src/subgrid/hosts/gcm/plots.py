"""Figures of a GCM run (the zonal-mean climate) and of a forecast experiment (error growth, differences, drift)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subgrid.evaluation.plots import _figure, _save
from subgrid.hosts.gcm.run import open_history


def plot_zonal_means(run: str | Path, path: str | Path, last_days: float = 30.0) -> Path:
    """Zonal-mean u (latitude-sigma), and zonal means of precipitation, OLR and cloud cover over the last days."""
    history = open_history(run)
    end = float(history["time"].max())
    recent = history.sel(time=history["time"] > end - last_days + 1e-9).mean(("time", "lon"))
    fig = _figure(11, 7)
    axes = fig.subplots(2, 2)
    ax = axes[0, 0]
    levels = range(-40, 65, 5)
    filled = ax.contourf(recent["lat"], recent["level"], recent["u"], levels=levels, cmap="RdBu_r", extend="both")
    ax.contour(recent["lat"], recent["level"], recent["u"], levels=[0], colors="k", linewidths=0.8)
    ax.invert_yaxis()
    ax.set(xlabel="latitude (°N)", ylabel="sigma", title="zonal-mean zonal wind (m/s)")
    fig.colorbar(filled, ax=ax)
    for ax, name, label in ((axes[0, 1], "precipitation", "precipitation (mm/day)"),
                            (axes[1, 0], "olr", "OLR (W/m²)"), (axes[1, 1], "cloud_cover", "total cloud cover")):  # fmt: skip
        ax.plot(recent["lat"], recent[name], color="k")
        if name == "precipitation":
            ax.plot(recent["lat"], recent["convective_precipitation"], color="tab:orange", label="convective")
            ax.legend()
        ax.set(xlabel="latitude (°N)", title=f"zonal mean {label}")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{Path(run).name}: days {end - last_days:g}-{end:g}")
    return _save(fig, path)


def plot_forecast_skill(experiment: str | Path, path: str | Path) -> Path:
    """RMSE against the physics per lead, of the emulator and of the perturbed physics (mean over starts)."""
    from subgrid.hosts.gcm.forecast import SCORED, read_experiment

    records, summary = read_experiment(experiment)
    leads = summary["lead_days"]
    fig = _figure(11, 7)
    for ax, name in zip(fig.subplots(2, 2).ravel(), SCORED, strict=True):
        for kind, colour in (("emulator", "tab:red"), ("perturbed", "tab:blue")):
            runs = np.array([r[kind][f"{name}_rmse"] for r in records if kind in r and r[kind]["completed"]], dtype=float)
            if not runs.size:
                continue
            label = f"{'emulator' if kind == 'emulator' else 'perturbed physics'} ({len(runs)} starts)"
            ax.plot(leads, np.nanmean(runs, axis=0), color=colour, marker="o", label=label)
            ax.fill_between(leads, np.nanpercentile(runs, 10, axis=0), np.nanpercentile(runs, 90, axis=0),
                            color=colour, alpha=0.15)  # fmt: skip
        ax.set(xlabel="lead (days)", title=f"{name} RMSE vs the physics ({_UNITS[name]})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Forecast error growth: emulated radiation vs perturbed physics (band: 10-90 % of starts)")
    return _save(fig, path)


def plot_forecast_differences(experiment: str | Path, path: str | Path) -> Path:
    """Maps of the emulator-minus-physics T850 and Z500, mean over starts, at day 5 and the last lead."""
    import xarray as xr

    files = sorted((Path(experiment) / "starts").glob("day_*/differences.nc"))
    maps = xr.concat([xr.open_dataset(f, engine="h5netcdf").load() for f in files], "start").mean("start")
    fig = _figure(12, 6.5)
    axes = fig.subplots(2, maps.sizes["lead_day"], squeeze=False)
    for row, (name, unit) in enumerate((("T850", "K"), ("Z500", "m"))):
        scale = float(np.abs(maps[name]).max()) or 1.0
        for column, lead in enumerate(maps["lead_day"].values):
            ax = axes[row, column]
            shown = ax.pcolormesh(maps["lon"], maps["lat"], maps[name].sel(lead_day=lead), cmap="RdBu_r",
                                  vmin=-scale, vmax=scale, shading="auto")  # fmt: skip
            ax.set(title=f"{name} emulator − physics, day {lead:g} ({unit})", xlabel="longitude", ylabel="latitude")
            fig.colorbar(shown, ax=ax)
    fig.suptitle(f"Mean difference over {len(files)} starts")
    return _save(fig, path)


def plot_forecast_drift(experiment: str | Path, path: str | Path) -> Path:
    """Global-mean T850 of the emulator (and perturbed) forecasts minus the physics, per lead."""
    from subgrid.hosts.gcm.forecast import read_experiment

    records, summary = read_experiment(experiment)
    leads = summary["lead_days"]
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    for kind, colour in (("emulator", "tab:red"), ("perturbed", "tab:blue")):
        runs = [r[kind]["T850_global_mean_difference_K"] for r in records if kind in r and r[kind]["completed"]]
        for run in runs:
            ax.plot(leads, run, color=colour, alpha=0.15, lw=0.8)
        if runs:
            ax.plot(leads, np.nanmean(np.array(runs, dtype=float), axis=0), color=colour, lw=2.5,
                    label=f"{kind} (mean of {len(runs)})")  # fmt: skip
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(xlabel="lead (days)", ylabel="K", title="Global-mean T850 minus the physics forecast (drift)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


_UNITS = {"Z500": "m", "T850": "K", "u250": "m/s", "precipitation": "mm/day"}
