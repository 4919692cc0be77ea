"""Command-line layer of the gridded gravity-wave flux path (thin over :mod:`subgrid.training.gw_gridded`
and :mod:`subgrid.evaluation.gw_gridded`).

``subgrid.cli`` mounts :func:`train_gw_gridded_command` as ``subgrid train gw-gridded`` and hands
``subgrid evaluate`` to :func:`evaluate_gw_gridded_run` when the run holds a gridded emulator.
Errors the package raises on purpose print as one line with exit status 2, as in ``subgrid.cli``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from subgrid.errors import SubgridError


def _fail(error: Exception) -> None:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(code=2)


def is_gridded_run(run: Path) -> bool:
    """Whether run directory ``run`` holds a gridded gravity-wave emulator (its model.json says so)."""
    from subgrid.training.gw_gridded import KIND

    try:
        return json.loads((run / "model.json").read_text()).get("kind") == KIND
    except (OSError, ValueError):
        return False


def train_gw_gridded_command(
    data: list[Path] = typer.Option(
        ..., "--data", help="Fine-tuning file(s), netCDF or zarr, joined in time in the order given (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Run directory (model, config, metrics.csv, checkpoints)."),
    model: str = typer.Option(None, "--model", help="Backbone: unet (Attention U-Net) | prithvi (fine-tuned Prithvi WxC)."),
    config_file: Path = typer.Option(None, "--config", help="YAML training config (keys of GriddedGWTrainingConfig)."),
    model_option: list[str] = typer.Option(
        [], "--model-option", help="Backbone option KEY=VALUE, e.g. base_width=16 or fine_tune=lora (repeatable)."),
    pretrained: Path = typer.Option(
        None, "--pretrained", help="Prithvi WxC checkpoint (local .pt) whose encoder/decoder start the prithvi model."),
    inputs: list[str] = typer.Option([], "--input", help="Input variable, e.g. u (repeatable; default: all seven)."),
    targets: list[str] = typer.Option(
        [], "--target", help="Target: uw_flux | vw_flux | potential_temperature (repeatable; default: both fluxes)."),
    target_levels: list[int] = typer.Option([], "--target-level", help="Target level index (repeatable; default: every level)."),
    epochs: int = typer.Option(None, "--epochs", min=1, help="Maximum epochs (cosine schedule length)."),
    learning_rate: float = typer.Option(None, "--lr", help="Peak learning rate (AdamW)."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Time steps per batch."),
    validation_fraction: float = typer.Option(None, "--validation-fraction", help="Last part of the record held out for validation."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Stop after this much training time."),
    seed: int = typer.Option(None, "--seed", help="Seed of initialisation and shuffling."),
    accelerator: str = typer.Option(None, "--accelerator", help="cpu | gpu | auto (default: the config's, else cpu)."),
    devices: int = typer.Option(None, "--devices", min=1, help="Processes (GPUs) per node; more than 1 trains with DDP."),
    precision: str = typer.Option(None, "--precision", help="32-true | bf16-mixed (GPU only)."),
    threads: int = typer.Option(None, "--threads", min=1, help="Torch intra-op threads (default: torch's)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted run in OUT."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a gridded gravity-wave flux emulator (lat-lon inputs -> u'omega', v'omega') on fine-tuning files.

    The files are checked completely (layout, 64 x 128 grid, NaN/Inf) before anything is written.
    """
    from dataclasses import replace

    from subgrid.models import parse_model_options
    from subgrid.training.gw_gridded import GriddedGWTrainingConfig, train_gw_gridded

    try:
        config = GriddedGWTrainingConfig.from_yaml(config_file) if config_file else GriddedGWTrainingConfig()
        overrides = {
            "model": model, "epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
            "validation_fraction": validation_fraction, "max_minutes": max_minutes, "seed": seed,
            "accelerator": accelerator, "devices": devices, "precision": precision,
            "inputs": inputs or None, "targets": targets or None, "target_levels": target_levels or None,
        }  # fmt: skip
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
        options = {**parse_model_options(model_option), **({"pretrained": str(pretrained.resolve())} if pretrained else {})}
        if options:
            config = replace(config, model_options={**config.model_options, **options})
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        report = train_gw_gridded(data, out, config, resume=resume, progress=progress)
    except (SubgridError, ValueError) as error:
        _fail(error)
    if report.rank != 0:
        return
    typer.echo(
        f"trained {config.model} for {report.epochs} epochs in {report.seconds:.0f} s"
        f"{' (resumed)' if report.resumed else ''}; best validation loss {report.best_val_loss:.4g}; run in {out}"
    )


def evaluate_gw_gridded_run(run: Path, data: Path, out: Path | None, period: str, plot_level: int | None) -> None:
    """``subgrid evaluate`` for a gridded gravity-wave run: metrics table, metrics.json and maps."""
    from subgrid.evaluation.gw_gridded import evaluate_gw_gridded, metrics_table

    try:
        metrics = evaluate_gw_gridded(run, data, out, period=period, plot_level=plot_level)
    except (SubgridError, ValueError) as error:
        _fail(error)
    typer.echo(f"{metrics['period']['kind']} period: {metrics['period']['time_steps']} time steps")
    typer.echo(metrics_table(metrics))
    typer.echo(f"wrote {metrics['output_directory']}/metrics.json and plots (level {metrics['plot_level']})")
