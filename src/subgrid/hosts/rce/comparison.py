"""Online comparison: an emulator and the physics run side by side in the RCE host from the same states."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from subgrid.core.contract import GuardCounts, Parameterization
from subgrid.hosts.rce.config import RCEConfig
from subgrid.hosts.rce.model import run_guard_counts, run_rce, run_timing


@dataclass
class OnlineComparison:
    """Physics and emulator trajectories from the same initial states, and their comparison.

    ``metrics`` is per case (dim ``column``: every column is a case); ``summary`` is JSON-ready.
    """

    physics: xr.Dataset
    emulator: xr.Dataset
    metrics: xr.Dataset
    summary: dict


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _mean_and_max(values: np.ndarray) -> dict:
    """``{"mean", "max"}`` of per-case values (``None`` for no cases)."""
    if not values.size:
        return {"mean": None, "max": None}
    return {"mean": _finite_or_none(values.mean()), "max": _finite_or_none(values.max())}


def _guard_summary(guarded: bool, emulator: xr.Dataset) -> dict:
    """Columns the guard sent to the fallback during the emulator run, resumed parts included (all None for an
    unguarded scheme)."""
    keys = ("emulator_fallback_columns", "emulator_out_of_distribution_columns", "emulator_non_finite_columns")
    if not guarded:
        return dict.fromkeys(keys)
    counts = run_guard_counts(emulator)
    out, bad = counts["out_of_distribution_columns"], counts["non_finite_columns"]
    return dict(zip(keys, (out + bad, out, bad), strict=True))


def compare_online(
    initial_states: xr.Dataset,
    emulator_radiation: Parameterization,
    physics_radiation: Parameterization,
    config: RCEConfig = RCEConfig(),
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> OnlineComparison:
    """Run every column of ``initial_states`` (a case each) with the emulator and with the physics.

    Metrics per case: survival of both runs and the emulator's crash time; the mass-weighted
    RMSE of interval-mean temperature, ``sqrt(Σ Δp (T_emu − T_phys)² / Σ Δp)`` (K), at every
    output time and at the last; the surface-temperature difference (emulator − physics) at every
    output time and at the last. NaN once either run of a case has crashed. The summary gives their
    mean and max over the cases both runs survive, the RMSE at day 10 over the cases both runs
    carried that far, and the surface-temperature difference averaged over the last 30 days (the
    equilibrium difference of a long run); it adds the
    wall and CPU seconds spent in radiation by each run, the physics/emulator ratio (after each
    run's first call, which may hold one-off set-up), and (for a guarded emulator,
    :class:`~subgrid.core.contract.Guarded`) the columns its guard sent to the fallback: all of them,
    those out of distribution and those whose emulated output was not finite. With
    ``checkpoint_dir``, each run checkpoints to ``physics.npz`` / ``emulator.npz`` there and
    resumes from them.
    """
    paths = {"physics": None, "emulator": None}
    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        paths = {name: Path(checkpoint_dir) / f"{name}.npz" for name in paths}
    physics = run_rce(initial_states, physics_radiation, config, checkpoint=paths["physics"], progress=progress)
    emulator = run_rce(initial_states, emulator_radiation, config, checkpoint=paths["emulator"], progress=progress)

    thickness = physics["air_pressure_on_interface"].values[:, :-1] - physics["air_pressure_on_interface"].values[:, 1:]
    weights = (thickness / thickness.sum(axis=1, keepdims=True))[:, None, :]
    difference = emulator["air_temperature"].values - physics["air_temperature"].values
    rmse = np.sqrt(np.sum(weights * difference * difference, axis=2))
    surface_difference = emulator["surface_temperature"].values - physics["surface_temperature"].values
    metrics = xr.Dataset(
        {
            "emulator_survived": (("column",), ~emulator["crashed"].values),
            "physics_survived": (("column",), ~physics["crashed"].values),
            "emulator_crash_time_days": (("column",), emulator["crash_time_days"].values, {"units": "days"}),
            "temperature_rmse_K": (("column", "time"), rmse, {
                "units": "K", "long_name": "mass-weighted RMSE of interval-mean temperature, emulator vs physics"}),
            "temperature_rmse_last_K": (("column",), rmse[:, -1], {"units": "K"}),
            "surface_temperature_difference_K": (("column", "time"), surface_difference, {
                "units": "K", "long_name": "interval-mean surface temperature, emulator - physics"}),
            "surface_temperature_difference_last_K": (("column",), surface_difference[:, -1], {"units": "K"}),
        },  # fmt: skip
        coords={"time": physics["time"]},
    )
    timing = {name: run_timing(run) for name, run in (("physics", physics), ("emulator", emulator))}
    both = metrics["emulator_survived"].values & metrics["physics_survived"].values
    time_days = physics["time"].values
    # Day 10 (the seed study's forecast length), for the cases both runs carried that far.
    day_10 = int(np.searchsorted(time_days, 10.0 - 1e-9))
    rmse_day_10 = rmse[:, day_10] if day_10 < time_days.size else np.array([])
    # The equilibrium difference: the surface-temperature difference averaged over the last 30 days.
    final_month = time_days > time_days[-1] - 30.0
    summary = {
        "cases": int(initial_states.sizes["column"]),
        "days": config.days,
        "emulator_survived": int(metrics["emulator_survived"].sum()),
        "physics_survived": int(metrics["physics_survived"].sum()),
        "temperature_rmse_last_K": _mean_and_max(rmse[both, -1]),
        "temperature_rmse_day_10_K": _mean_and_max(rmse_day_10[np.isfinite(rmse_day_10)]),
        "surface_temperature_abs_difference_last_K": _mean_and_max(np.abs(surface_difference[both, -1])),
        "surface_temperature_abs_difference_final_30_days_K": _mean_and_max(
            np.abs(surface_difference[both][:, final_month].mean(axis=1))
        ),
        "radiation_wall_s": {name: t["radiation_wall_s"] for name, t in timing.items()},
        "radiation_wall_s_after_first_call": {
            name: t["radiation_wall_s_after_first_call"] for name, t in timing.items()
        },
        "radiation_cpu_s": {name: t["radiation_cpu_s"] for name, t in timing.items()},
        "radiation_fraction_of_wall": {name: t["radiation_wall_fraction"] for name, t in timing.items()},
        "radiation_speedup_wall": timing["physics"]["radiation_wall_s_after_first_call"]
        / timing["emulator"]["radiation_wall_s_after_first_call"]
        if timing["emulator"]["radiation_wall_s_after_first_call"] > 0 else None,
        **_guard_summary(isinstance(getattr(emulator_radiation, "counts", None), GuardCounts), emulator),
    }  # fmt: skip
    return OnlineComparison(physics, emulator, metrics, summary)


def plot_online_drift(comparison: OnlineComparison, *, title: str = ""):
    """Drift curves as a matplotlib Figure (the caller saves it, e.g. ``fig.savefig("drift.png")``).

    Left: temperature RMSE (emulator vs physics) against time, one line per case, an ``x`` where
    the emulator run crashed. Right: surface temperature against time, physics solid and emulator
    dashed in the same colour per case. The Figure is not registered with pyplot (no backend
    needed, nothing to close).
    """
    import matplotlib
    from matplotlib.figure import Figure

    metrics, physics, emulator = comparison.metrics, comparison.physics, comparison.emulator
    time_days = metrics["time"].values
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    drift, surface = fig.subplots(1, 2)
    colours = matplotlib.colormaps["tab10"]
    for case in range(metrics.sizes["column"]):
        colour = colours(case % 10)
        drift.plot(time_days, metrics["temperature_rmse_K"].values[case], color=colour, lw=1)
        crash = metrics["emulator_crash_time_days"].values[case]
        if np.isfinite(crash):
            good = metrics["temperature_rmse_K"].values[case]
            last = good[np.isfinite(good)]
            drift.plot([crash], [last[-1] if last.size else 0.0], "x", color=colour, ms=8)
        surface.plot(time_days, physics["surface_temperature"].values[case], "-", color=colour, lw=1)
        surface.plot(time_days, emulator["surface_temperature"].values[case], "--", color=colour, lw=1)
    drift.set_xlabel("time (days)")
    drift.set_ylabel("temperature RMSE vs physics (K, mass-weighted)")
    drift.set_title("drift (x: emulator run crashed)")
    surface.set_xlabel("time (days)")
    surface.set_ylabel("surface temperature (K)")
    surface.set_title("physics (solid) and emulator (dashed)")
    summary = comparison.summary
    survived = f"{summary['emulator_survived']}/{summary['cases']} emulator runs survived {summary['days']:g} days"
    fig.suptitle(title or survived)
    return fig
