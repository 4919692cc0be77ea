"""Command-line layer of the gravity-wave path (thin over :mod:`subgrid.hosts.qbo.online` and :mod:`subgrid.gravity_waves.column.training`).

The commands are plain functions that ``subgrid.cli.main`` mounts under its groups (``subgrid generate
gw``, ``subgrid train gw``, ``subgrid online gw``, ``subgrid replay gw``).
Errors the package raises on purpose print as one line with exit status 2, as in ``subgrid.cli.main``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from subgrid.cli.configs import config_option, configured, model_help
from subgrid.cli.checks import positive
from subgrid.cli.errors import fail
from subgrid.gravity_waves.column.training import GWTrainingConfig
from subgrid.core.errors import SubgridError

def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


#: Online the emulator sees one column a step: extra intra-op threads only add synchronisation
#: (on a busy 2-core machine two threads ran small networks 50x slower than one).
ONLINE_THREADS_HELP = "Torch intra-op threads (one column a step runs fastest on one)."


def generate_gw_command(
    out: Path = typer.Option(..., "--out", help="Output zarr store (written as OUT.partial, renamed when complete)."),
    host: str = typer.Option("qbo", "--host", help="Host model: qbo (the 1-D QBO model; the only one so far)."),
    scheme: str = typer.Option("stochastic", "--scheme", help="Physics drag: stochastic | ad99 | plumb."),
    years: float = typer.Option(10.0, "--years", min=0.01, help="Recorded model years per run (360-day years)."),
    flux_scale: list[float] = typer.Option(
        [1.0, 1.0, 0.9, 1.1], "--flux-scale", help="One run per value: multiplies the source's mean flux (repeatable)."),
    width_scale: list[float] = typer.Option(
        [1.0], "--width-scale", help="Multiplies the spectral width: one value, or one per --flux-scale (repeatable)."),
    spinup_years: float = typer.Option(0.0, "--spinup-years", min=0.0, help="Unrecorded years at the start of each run."),
    every_days: int = typer.Option(1, "--every-days", min=1, help="Record every this many days."),
    upwelling: float = typer.Option(None, "--upwelling", help="Upwelling w (m/s); default: the scheme's reference value."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed: same seed and settings give an identical dataset."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset at OUT."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Run the QBO host with a physics drag scheme: (u profile, source parameters) -> drag, as zarr."""
    from subgrid.gravity_waves.column.dataset import GWDatasetConfig
    from subgrid.hosts.qbo.online import generate_gw_dataset

    try:
        if host != "qbo":
            raise SubgridError(f"--host: {host!r} is not a gravity-wave host; the only one is 'qbo'")
        config = GWDatasetConfig(
            scheme=scheme, years=years, seed=seed, source_flux_scales=tuple(flux_scale),
            spectral_width_scales=tuple(width_scale), spinup_years=spinup_years,
            sample_every_days=every_days, upwelling_m_per_s=upwelling,
        )  # fmt: skip
        generate_gw_dataset(out, config, overwrite=overwrite, progress=progress)
    except (SubgridError, ValueError) as error:
        fail(error)
    typer.echo(f"wrote {out}: {len(config.runs)} {scheme} runs x {years:g} years, every {every_days} day(s)")


def train_gw_command(
    data: list[Path] = typer.Option(..., "--data", help="Dataset(s) from generate-gw or replay-gw (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Run directory (model, config, metrics.csv, checkpoints)."),
    model: str = typer.Option(None, "--model", help=model_help(GWTrainingConfig)),
    config_file: Path = typer.Option(None, "--config", help="YAML training config (keys of GWTrainingConfig)."),
    model_option: list[str] = typer.Option([], "--model-option", help="Backbone option KEY=VALUE (repeatable)."),
    epochs: int = config_option(GWTrainingConfig, "epochs", "--epochs", "Maximum epochs (cosine schedule length)", min=1),
    learning_rate: float = config_option(GWTrainingConfig, "learning_rate", "--lr", "Peak learning rate"),
    batch_size: int = config_option(GWTrainingConfig, "batch_size", "--batch-size", "Samples per batch", min=1),
    noise: float = typer.Option(None, "--noise", min=0.0, help="Std (m/s) of input-wind noise during training."),
    flux_scaling: bool = typer.Option(
        None, "--flux-scaling/--no-flux-scaling", help="Drag proportional to the source flux by construction."),
    budget: bool = typer.Option(
        None, "--budget/--no-budget", help="Online, cap each direction's column deposit at the flux it launches."),
    init_from: Path = typer.Option(None, "--init-from", help="Fine-tune this finished run (e.g. on replayed states)."),
    max_minutes: float = config_option(GWTrainingConfig, "max_minutes", "--max-minutes", "Stop after this much training time"),
    seed: int = config_option(GWTrainingConfig, "seed", "--seed", "Seed of initialisation and shuffling"),
    threads: int = typer.Option(None, "--threads", min=1, help="Torch intra-op threads (default: torch's)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a gravity-wave drag emulator (u profile + source parameters -> drag) on QBO data."""
    from subgrid.gravity_waves.column.training import train_gw

    try:
        config = GWTrainingConfig.from_yaml(config_file) if config_file else GWTrainingConfig()
        overrides = {
            "model": model, "epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
            "input_noise_m_per_s": noise, "scale_drag_by_source_flux": flux_scaling, "momentum_budget": budget,
            "max_minutes": max_minutes, "seed": seed,
        }  # fmt: skip
        config = configured(config, overrides, model_option)
        _set_threads(threads)
        report = train_gw(data, out, config, init_from=init_from, progress=progress)
    except (SubgridError, ValueError) as error:
        fail(error)
    typer.echo(
        f"trained {config.model} for {report.epochs} epochs in {report.seconds:.0f} s; "
        f"validation R² {report.val_r2:.4f}; run in {out}"
    )


def online_table(metrics: dict) -> str:
    """The online comparison as an aligned plain-text table."""
    rows = [f"{'':10s} {'stable':>7s} {'period F':>9s} {'period T':>9s} {'σ25':>7s} {'σ20':>7s}"]

    def cell(value: float | None, width: int, fmt: str) -> str:
        return f"{value:{fmt}}".rjust(width) if value is not None else "-".rjust(width)

    for name in ("physics", "emulator"):
        m = metrics[name]
        stable = "yes" if m["stable"] else f"d{m['blowup_day']:g}"
        rows.append(
            f"{name:10s} {stable:>7s} {cell(m['period_fourier_months'], 9, '.2f')} "
            f"{cell(m['period_transitions_months'], 9, '.2f')} {cell(m['sigma25_m_per_s'], 7, '.2f')} "
            f"{cell(m['sigma20_m_per_s'], 7, '.2f')}"
        )
    e = {k: None if v is None else 100 * v for k, v in metrics["relative_errors"].items()}
    rows.append(
        f"{'error %':10s} {'':>7s} {cell(e['period_fourier_months'], 9, '+.1f')} "
        f"{cell(e['period_transitions_months'], 9, '+.1f')} {cell(e['sigma25_m_per_s'], 7, '+.1f')} "
        f"{cell(e['sigma20_m_per_s'], 7, '+.1f')}"
    )
    acceptance = "met" if metrics["meets_acceptance"] else "NOT met"
    goal = "met" if metrics["meets_goal"] else "not met"
    rows.append(f"offline R² {metrics['offline_r2']:.4f}; acceptance (10 % / 15 %): {acceptance}; goal (5 % / 10 %): {goal}")
    return "\n".join(rows)


def online_gw_command(
    emulator: Path = typer.Option(..., "--emulator", help="Run directory of a trained gravity-wave emulator."),
    years: float = typer.Option(100.0, "--years", min=0.1, help="Model years of both runs."),
    spinup_years: float = typer.Option(12.0, "--spinup-years", min=0.0, help="Years left out of the QBO statistics."),
    source_flux_scale: float = typer.Option(
        1.0, "--source-flux-scale", callback=positive, help="Scale the physics' source flux, > 0 (generalisation test)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the stochastic source (the same for both runs)."),
    out: Path = typer.Option(None, "--out", help="Directory for metrics.json and hovmoller.png (default EMULATOR/online)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON instead of a table."),
    threads: int = typer.Option(1, "--threads", min=1, help=ONLINE_THREADS_HELP),
) -> None:
    """Run the QBO host with the emulator and with the physics from the same state; compare the QBOs."""
    from subgrid.hosts.qbo.online import online_test

    out = out if out is not None else emulator / "online" / f"flux_x{source_flux_scale:g}_seed{seed}"
    try:
        _set_threads(threads)
        comparison = online_test(
            emulator, years=years, seed=seed, spinup_years=spinup_years, source_flux_scale=source_flux_scale, out=out
        )
    except (SubgridError, ValueError) as error:
        fail(error)
    typer.echo(json.dumps(comparison.metrics, indent=2) if as_json else online_table(comparison.metrics))
    typer.echo(f"wrote {out}/metrics.json and {out}/hovmoller.png")


def replay_gw_command(
    emulator: Path = typer.Option(..., "--emulator", help="Run directory of a trained gravity-wave emulator."),
    out: Path = typer.Option(..., "--out", help="Output zarr store of the replayed states."),
    years: float = typer.Option(20.0, "--years", min=0.1, help="Model years to run the emulator online."),
    seed: int = typer.Option(1, "--seed", min=0, help="Seed of the stochastic source."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset at OUT."),
    threads: int = typer.Option(1, "--threads", min=1, help=ONLINE_THREADS_HELP),
) -> None:
    """Record the states the emulator visits online, labelled by the physics (fine-tune with train-gw --init-from)."""
    from subgrid.hosts.qbo.online import replay_dataset

    try:
        _set_threads(threads)
        replay_dataset(emulator, out, years=years, seed=seed, overwrite=overwrite)
    except (SubgridError, ValueError) as error:
        fail(error)
    typer.echo(f"wrote {out}")
