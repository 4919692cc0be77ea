"""Command-line layer of the radiation emulator's online tests (thin over :mod:`subgrid.hosts.rce.online`).

The commands are plain functions that ``subgrid.cli.main`` mounts under its groups (``subgrid online
radiation``, ``subgrid replay radiation``). Errors the package raises on purpose print as one
line with exit status 2, as in ``subgrid.cli.main``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from subgrid.cli.checks import whole_days
from subgrid.cli.errors import fail
from subgrid.core.errors import SubgridError
from subgrid.hosts.rce.config import RCEConfig

#: Online the emulator sees a few columns a step: extra intra-op threads only add synchronisation.
ONLINE_THREADS_HELP = "Emulator runtime threads (a few columns a step run fastest on one; TorchScript: process-wide)."


def _cell(value: float | None, fmt: str, width: int) -> str:
    return (f"{value:{fmt}}" if value is not None else "-").rjust(width)


def rounds_table(entries: list[dict]) -> str:
    """One line per online comparison: survivors, drift at day 10 and at the end, radiation wall time, states harvested.

    ``|dTs| K``: the surface-temperature difference averaged over the run's last 30 days.
    """
    rows = [f"{'round':>5s} {'survived':>9s} {'RMSE d10':>9s} {'T RMSE K':>9s} {'|dTs| K':>8s} {'rad s emu':>10s} "
            f"{'rad s RRTMG':>12s} {'harvested':>10s}"]  # fmt: skip
    for entry in entries:
        wall = entry["radiation_wall_s_after_first_call"]
        harvested = entry.get("harvested")
        rows.append(
            f"{entry.get('round', 0):>5d} {entry['survivors']:>9s} "
            f"{_cell(entry['temperature_rmse_day_10_K']['mean'], '.3f', 9)} "
            f"{_cell(entry['temperature_rmse_last_K']['mean'], '.3f', 9)} "
            f"{_cell(entry['surface_temperature_abs_difference_final_30_days_K']['mean'], '.3f', 8)} "
            f"{_cell(wall['emulator'], '.2f', 10)} {_cell(wall['physics'], '.2f', 12)} "
            f"{_cell(sum(v for k, v in harvested.items() if k != 'dataset') if harvested else None, 'd', 10)}"
        )
    return "\n".join(rows)


def _rce_config(days: float, surface: str, radiation_every: int, relaxation_days: float):
    from subgrid.hosts.rce.config import RCEConfig

    return RCEConfig(days=days, surface=surface, radiation_every_steps=radiation_every,
                     large_scale_relaxation_days=relaxation_days)  # fmt: skip


# Options shared by `online radiation` and `replay radiation`.
CASES = typer.Option(8, "--cases", min=1, help="Number of cases (one column each, run independently).")
DAYS = typer.Option(
    10.0, "--days", callback=whole_days(RCEConfig.output_interval_days),
    help=f"Model days of every run: a whole number of output intervals ({RCEConfig.output_interval_days:g} d).")
EXTREME_FRACTION = typer.Option(
    0.2, "--extreme-fraction", min=0.0, max=1.0,
    help="Fraction of cases started from extreme states (warm, cold, moist, dry, polar night).")
CASE_SEED = typer.Option(101, "--seed", min=0, help="Seed of the sampled cases (use one other than the training data's).")
SURFACE = typer.Option("slab", "--surface", help="Surface: slab (1 m mixed layer) | fixed.")
RADIATION_EVERY = typer.Option(2, "--radiation-every", min=1, help="Call radiation every this many 30-min steps.")
RELAXATION_DAYS = typer.Option(
    20.0, "--relaxation-days", min=0.0,
    help="Time scale of the large-scale heat transport (air and slab relax to the initial state); 0: pure RCE.")


def online_radiation_command(
    emulator: Path = typer.Option(..., "--emulator", help="Exported emulator directory (from `subgrid export`)."),
    cases: int = CASES,
    days: float = DAYS,
    extreme_fraction: float = EXTREME_FRACTION,
    seed: int = CASE_SEED,
    surface: str = SURFACE,
    radiation_every: int = RADIATION_EVERY,
    relaxation_days: float = RELAXATION_DAYS,
    ood_guard: bool = typer.Option(
        True, "--ood-guard/--no-ood-guard",
        help="Guard the emulator: columns outside the training range (or with non-finite output) go to RRTMG."),
    out: Path = typer.Option(..., "--out", help="Directory for online.json, metrics.zarr, drift.png and checkpoints."),
    threads: int = typer.Option(1, "--threads", min=1, help=ONLINE_THREADS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Run the RCE host with the emulator and with RRTMG from the same states: survival, drift, timing."""
    from subgrid.hosts.rce.online import online_radiation

    try:
        config = _rce_config(days, surface, radiation_every, relaxation_days)
        report = online_radiation(
            emulator, out, cases=cases, days=days, extreme_fraction=extreme_fraction, seed=seed, config=config,
            ood_guard=ood_guard, threads=threads, progress=progress,
        )  # fmt: skip
    except (SubgridError, ValueError) as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(rounds_table([report]))
        typer.echo(f"physics survived {report['physics_survived']}/{report['cases']}; "
                   f"columns sent to RRTMG by the guard: {report['emulator_fallback_columns']}")  # fmt: skip
    typer.echo(f"wrote {out}/online.json, {out}/metrics.zarr and {out}/drift.png")


def replay_radiation_command(
    run: Path = typer.Option(..., "--run", help="Run directory of the trained radiation emulator to replay."),
    data: Path = typer.Option(..., "--data", help="Its training dataset (zarr); fine-tuning trains on it plus the replay sets."),
    cases: int = CASES,
    days: float = DAYS,
    rounds: int = typer.Option(3, "--rounds", min=0, help="At most this many fine-tuning rounds."),
    out: Path = typer.Option(..., "--out", help="Replay directory (replay.json, one round_K/ per round); resumable."),
    extreme_fraction: float = EXTREME_FRACTION,
    seed: int = CASE_SEED,
    surface: str = SURFACE,
    radiation_every: int = RADIATION_EVERY,
    relaxation_days: float = RELAXATION_DAYS,
    fmt: str = typer.Option("torchscript", "--format", help="Export format of every round: torchscript | onnx."),
    epochs: int = typer.Option(10, "--fine-tune-epochs", min=1, help="Epochs of each fine-tuning round."),
    learning_rate_factor: float = typer.Option(
        0.3, "--lr-factor", min=0.0, help="Fine-tuning learning rate as a fraction of the run's."),
    repeats: int = typer.Option(
        4, "--replay-repeats", min=1, help="Visits of each replayed column per fine-tuning epoch (oversampling)."),
    ood_guard: bool = typer.Option(
        True, "--ood-guard/--no-ood-guard",
        help="Guard the emulator: columns outside the training range (or with non-finite output) go to RRTMG; "
        "the out-of-range ones are replayed too."),
    threads: int = typer.Option(1, "--threads", min=1, help=ONLINE_THREADS_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Experience replay: run the cases, relabel the states before crashes with RRTMG, fine-tune, rerun."""
    from subgrid.hosts.rce.online import fine_tuning_config, online_cases, replay_radiation, sampler_settings
    from subgrid.radiation.training import load_emulator

    try:
        config = _rce_config(days, surface, radiation_every, relaxation_days)
        _, description = load_emulator(run)
        states = online_cases(cases, sampler_settings(description), extreme_fraction=extreme_fraction, seed=seed,
                              config=config)  # fmt: skip
        fine_tune = fine_tuning_config(run, epochs=epochs, learning_rate_factor=learning_rate_factor,
                                       extra_data_repeats=repeats)  # fmt: skip
        report = replay_radiation(
            data, run, states, out, config=config, rounds=rounds, fine_tune=fine_tune, fmt=fmt,
            ood_guard=ood_guard, threads=threads, progress=progress,
        )  # fmt: skip
    except (SubgridError, ValueError) as error:
        fail(error)
    typer.echo(rounds_table(report.rounds))
    outcome = "every case survived" if report.all_survived else "cases still crash at the round limit"
    typer.echo(f"{outcome}; final run {report.final_run}, artifact {report.final_artifact}; wrote {report.path}")


def rce_states_command(
    out: Path = typer.Option(..., "--out", help="Columns file (netCDF) to write."),
    cases: int = typer.Option(100, "--cases", min=1, help="Number of RCE columns (cases), as `online radiation` starts them."),
    days: float = DAYS,
    every_hours: float = typer.Option(24.0, "--every-hours", help="Keep every column's state this often (model hours)."),
    seed: int = CASE_SEED,
    surface: str = SURFACE,
    radiation_every: int = RADIATION_EVERY,
    relaxation_days: float = RELAXATION_DAYS,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run the RCE host with RRTMG and write its columns' states as a columns file (for `generate suite --hosts
    rce=FILE` or `generate radiation --from FILE`)."""
    from subgrid.hosts.rce.snapshots import record_states

    try:
        config = _rce_config(days, surface, radiation_every, relaxation_days)
        states = record_states(out, cases=cases, days=days, every_hours=every_hours, seed=seed, config=config,
                               progress=progress)  # fmt: skip
    except (SubgridError, ValueError) as error:
        fail(error)
    typer.echo(f"wrote {out}: {states.sizes['column']} columns of {states.sizes['level']} levels ({states.attrs['source']})")
