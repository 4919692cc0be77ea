"""Figures of a GCM run: the zonal-mean climate (wind, precipitation, OLR, cloud cover)."""

from __future__ import annotations

from pathlib import Path

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
