"""Command-line layer of the 3-D GCM host (thin over :mod:`subgrid.hosts.gcm`): spin up, run, climate, forecasts, replay.

Mounted by ``subgrid.cli.main`` as ``subgrid gcm spinup | run | climate | columns | forecasts |
forecasts-report | replay``. Errors the package raises on purpose print as one line with exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import typer

from subgrid.cli.errors import fail

OUT = typer.Option(..., "--out", help="Run directory (restarts, history, harvested columns; resumed if unfinished).")
CONFIG = typer.Option(None, "--config", help="YAML file of GCM settings (subgrid.hosts.gcm.config.GCMConfig).")
OUTPUT_HOURS = typer.Option(6.0, "--output-every-hours", min=0.0, help="History interval (hours).")
RESTART_DAYS = typer.Option(1.0, "--restart-every-days", min=0.0, help="Restart (and history file) interval (days).")
HARVEST_HOURS = typer.Option(
    0.0, "--harvest-every-hours", min=0.0,
    help="Keep the radiation inputs of --harvest-fraction of the columns at a radiation call every this many hours "
         "(0: none), for `subgrid generate radiation --from`.")  # fmt: skip
HARVEST_FRACTION = typer.Option(0.25, "--harvest-fraction", min=0.0, max=1.0, help="Share of columns harvested per call.")
OVERWRITE = typer.Option(False, "--overwrite", help="Replace --out if it holds another (or a finished) GCM run of subgrid's.")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")
# options of the forecast experiment and the replay that runs it
CONTROL = typer.Option(..., "--control", help="Control run directory (repeat for its continuations).")
FORECAST_DAYS = typer.Option(10.0, "--days", min=0.0, help="Forecast length (days).")
SPACING_DAYS = typer.Option(2.0, "--spacing-days", min=0.0, help="Days between starts.")
FIRST_DAY = typer.Option(None, "--first-day", help="Model day of the first start (default: earliest restart).")


def _settings(output_every_hours, restart_every_days, harvest_every_hours, harvest_fraction):
    from subgrid.hosts.gcm.run import RunSettings

    return RunSettings(output_every_hours, restart_every_days, harvest_every_hours, harvest_fraction)


def _report(result) -> None:
    from subgrid.hosts.gcm.run import seconds_per_day

    timing = seconds_per_day(result.path)
    shares = ", ".join(f"{part} {seconds:.1f}" for part, seconds in timing.items())
    typer.echo(f"{result.path}: days {result.start_day:g} -> {result.end_day:g}; wall s per model day: {shares}")
    if result.crash:
        fail(RuntimeError(f"{result.crash}; the states before it are in {result.path / 'precrash.nc'}"))


def spinup_command(
    out: Path = OUT,
    days: float = typer.Option(60.0, "--days", min=0.0, help="Model days from the initial state."),
    config: Path = CONFIG,
    output_every_hours: float = OUTPUT_HOURS,
    restart_every_days: float = RESTART_DAYS,
    harvest_every_hours: float = HARVEST_HOURS,
    harvest_fraction: float = HARVEST_FRACTION,
    overwrite: bool = OVERWRITE,
    progress: bool = PROGRESS,
) -> None:
    """Spin the GCM up from its balanced initial state with RRTMG (the control run)."""
    from subgrid.hosts.gcm.config import GCMConfig
    from subgrid.hosts.gcm.run import run_gcm
    from subgrid.physics.rrtmg import RRTMG

    gcm_config = GCMConfig.from_yaml(config) if config else GCMConfig()
    settings = _settings(output_every_hours, restart_every_days, harvest_every_hours, harvest_fraction)
    radiation = RRTMG(seed=gcm_config.radiation_seed)
    _report(run_gcm(out, days, radiation, gcm_config, settings=settings, overwrite=overwrite, progress=progress,
                    description="spin-up"))  # fmt: skip


def run_command(
    restart: Path = typer.Option(..., "--restart", help="Restart file to start from (e.g. RUN/restarts/day_0060.00.pt)."),
    out: Path = OUT,
    days: float = typer.Option(10.0, "--days", min=0.0, help="Model days to run."),
    radiation: str = typer.Option("rrtmg", "--radiation", help="rrtmg, or an exported emulator directory (subgrid export)."),
    guard: bool = typer.Option(True, "--guard/--no-guard", help="Send columns outside the emulator's training range to RRTMG."),
    output_every_hours: float = OUTPUT_HOURS,
    restart_every_days: float = RESTART_DAYS,
    harvest_every_hours: float = HARVEST_HOURS,
    harvest_fraction: float = HARVEST_FRACTION,
    overwrite: bool = OVERWRITE,
    progress: bool = PROGRESS,
) -> None:
    """Run the GCM from a restart with RRTMG or an emulator as its radiation."""
    from subgrid.hosts.gcm.radiation import radiation_scheme
    from subgrid.hosts.gcm.restart import restart_config
    from subgrid.hosts.gcm.run import run_gcm

    gcm_config = restart_config(restart)
    scheme = radiation_scheme(radiation, gcm_config, guard=guard)
    settings = _settings(output_every_hours, restart_every_days, harvest_every_hours, harvest_fraction)
    _report(run_gcm(out, days, scheme, gcm_config, restart=restart, settings=settings, overwrite=overwrite,
                    progress=progress, description=f"GCM ({radiation})"))  # fmt: skip


def climate_command(
    run: Path = typer.Argument(..., help="A GCM run directory."),
    last_days: float = typer.Option(30.0, "--last-days", min=0.0, help="Average over the run's last this many days."),
    plot: Path = typer.Option(None, "--plot", help="Write the zonal-mean figure (u, precipitation, OLR, cloud cover) here."),
    check: bool = typer.Option(False, "--check", help="Exit with status 1 if a quantity is outside its range."),
) -> None:
    """Print the climate-sanity table of a GCM run (global means, jets, budgets against plausible ranges)."""
    from subgrid.hosts.gcm.climate import climate_summary, sanity_table

    table, good = sanity_table(climate_summary(run, last_days))
    typer.echo(table)
    if plot is not None:
        from subgrid.hosts.gcm.plots import plot_zonal_means

        typer.echo(f"figure: {plot_zonal_means(run, plot, last_days)}")
    if check and not good:
        raise typer.Exit(code=1)


def columns_command(
    run: Path = typer.Argument(..., help="A GCM run directory that harvested radiation columns."),
    out: Path = typer.Option(..., "--out", help="netCDF file to write (for `subgrid generate radiation --from`)."),
    from_day: float = typer.Option(0.0, "--from-day", help="First model day (inclusive)."),
    to_day: float = typer.Option(float("inf"), "--to-day", help="Last model day (exclusive)."),
) -> None:
    """Collect the radiation columns a run harvested in a period into one file, for labelling with RRTMG."""
    from subgrid.hosts.gcm.run import write_harvested_columns

    if out.exists():
        fail(ValueError(f"{out}: already exists"))
    typer.echo(f"{out}: {write_harvested_columns(run, out, from_day, to_day)} columns from days [{from_day:g}, {to_day:g})")


def forecasts_command(
    control: list[Path] = CONTROL,
    emulator: Path = typer.Option(..., "--emulator", help="Exported radiation emulator on the GCM's levels."),
    out: Path = typer.Option(..., "--out", help="Experiment directory (resumed if it holds the same experiment)."),
    starts: int = typer.Option(50, "--starts", min=1, help="Number of start states."),
    days: float = FORECAST_DAYS,
    spacing_days: float = SPACING_DAYS,
    first_day: float = FIRST_DAY,
    perturbed_starts: int = typer.Option(10, "--perturbed-starts", min=0, help="Starts that also get perturbed physics."),
    perturbation_k: float = typer.Option(0.05, "--perturbation-k", help="Temperature noise of the perturbed start (K)."),
    reference: str = typer.Option("control", "--reference", help="control (verified reuse of the control history) or run."),
    timed_starts: int = typer.Option(2, "--timed-starts", min=1, help="With --reference control: starts whose physics forecast runs (timing, verification)."),
    lead_step_days: float = typer.Option(1.0, "--lead-step-days", min=0.0, help="Score every this many days of lead (must divide --days)."),
    guard: bool = typer.Option(True, "--guard/--no-guard", help="Send columns outside the emulator's training range to RRTMG."),
    workers: int = typer.Option(2, "--workers", min=1, help="Local Dask worker processes (one thread each)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler (else a LocalCluster)."),
    results: Path = typer.Option(None, "--results", help="Append each start's record and the summary to this JSON-lines file."),
    plots: Path = typer.Option(None, "--plots", help="Write the error-growth, difference-map and drift figures here."),
    perturbed_from: Path = typer.Option(None, "--perturbed-from", help="An experiment on the same control and starts (e.g. of another emulator): copy its finished perturbed-physics forecasts instead of rerunning them."),
    progress: bool = PROGRESS,
) -> None:
    """Forecasts from N control states with RRTMG, the emulator and perturbed RRTMG; skill per lead day.

    --perturbed-starts and --timed-starts larger than --starts mean every start.
    """
    from subgrid.hosts.gcm.forecast import ForecastConfig, run_forecasts, skill_table

    config = ForecastConfig(starts=starts, days=days, spacing_days=spacing_days, first_day=first_day,
                            perturbed_starts=min(perturbed_starts, starts), perturbation_K=perturbation_k,
                            reference=reference, timed_starts=min(timed_starts, starts), lead_step_days=lead_step_days,
                            guard=guard)  # fmt: skip
    experiment = run_forecasts(list(control), emulator, out, config, workers=workers, scheduler=scheduler,
                               results=results, perturbed_from=perturbed_from, progress=progress)  # fmt: skip
    typer.echo(skill_table(experiment.summary))
    if plots is not None:
        _forecast_plots(out, plots)


def forecasts_report_command(
    experiment: Path = typer.Argument(..., help="A forecast experiment directory (subgrid gcm forecasts)."),
    plots: Path = typer.Option(None, "--plots", help="Write the error-growth, difference-map and drift figures here."),
) -> None:
    """Print the skill table of a forecast experiment (and draw its figures)."""
    from subgrid.hosts.gcm.forecast import read_experiment, skill_table

    _, summary = read_experiment(experiment)
    typer.echo(skill_table(summary))
    if plots is not None:
        _forecast_plots(experiment, plots)


def _forecast_plots(experiment: Path, plots: Path) -> None:
    from subgrid.hosts.gcm.plots import plot_forecast_differences, plot_forecast_drift, plot_forecast_skill

    plots.mkdir(parents=True, exist_ok=True)
    for draw, name in ((plot_forecast_skill, "rmse_vs_lead.png"), (plot_forecast_differences, "differences.png"),
                       (plot_forecast_drift, "drift.png")):  # fmt: skip
        typer.echo(f"figure: {draw(experiment, plots / name)}")


def replay_command(
    run: Path = typer.Option(..., "--run", help="Training run of the emulator (subgrid train radiation)."),
    data: Path = typer.Option(..., "--data", help="The run's training dataset (fine-tuning trains on it too)."),
    control: list[Path] = CONTROL,
    out: Path = typer.Option(..., "--out", help="Replay directory (one round_K per round; resumed)."),
    starts: int = typer.Option(6, "--starts", min=1, help="Forecast starts per round."),
    days: float = FORECAST_DAYS,
    spacing_days: float = SPACING_DAYS,
    first_day: float = FIRST_DAY,
    rounds: int = typer.Option(3, "--rounds", min=0, help="Most fine-tuning rounds."),
    drift_tolerance_k: float = typer.Option(0.5, "--drift-tolerance-k", help="A forecast whose mean global T850 drift exceeds this fails."),
    harvest_every_hours: float = typer.Option(12.0, "--harvest-every-hours", min=0.0, help="Columns kept from the emulator forecasts every this many hours."),
    harvest_fraction: float = typer.Option(0.1, "--harvest-fraction", min=0.0, max=1.0, help="Share of columns kept each time."),
    guard: bool = typer.Option(True, "--guard/--no-guard", help="Send columns outside the emulator's training range to RRTMG."),
    fmt: str = typer.Option("onnx", "--format", help="Export format of each round's emulator."),
    workers: int = typer.Option(2, "--workers", min=1, help="Local Dask worker processes (one thread each)."),
    results: Path = typer.Option(None, "--results", help="Append the before -> after line to this JSON-lines file."),
    progress: bool = PROGRESS,
) -> None:
    """Experience replay in the GCM: forecasts, relabel the states of failed ones with RRTMG, fine-tune, rerun."""
    from subgrid.hosts.gcm.forecast import ForecastConfig
    from subgrid.hosts.gcm.replay import ReplaySettings, replay_gcm

    forecast = ForecastConfig(starts=starts, days=days, spacing_days=spacing_days, first_day=first_day,
                              perturbed_starts=0, timed_starts=1, guard=guard, drift_tolerance_K=drift_tolerance_k,
                              harvest_every_hours=harvest_every_hours, harvest_fraction=harvest_fraction)  # fmt: skip
    report = replay_gcm(data, run, list(control), out, forecast, ReplaySettings(rounds=rounds, fmt=fmt),
                        workers=workers, results=results, progress=progress)  # fmt: skip
    for entry in report["rounds"]:
        typer.echo(f"round {entry['round']}: {entry['emulator_failed']}/{entry['forecasts']} forecasts failed "
                   f"(crashed {entry['forecasts'] - entry['emulator_completed']}); mean T850 drift "
                   f"{entry['T850_mean_drift_K']['mean']:+.3f} K (largest {entry['T850_mean_drift_K']['max_abs']:.3f}); "
                   f"states replayed {entry.get('replayed_states', 0)}")  # fmt: skip
    typer.echo(f"report: {out / 'replay.json'}")
