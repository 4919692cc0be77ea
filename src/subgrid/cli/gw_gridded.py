"""Command-line layer of the gridded gravity-wave flux path (thin over :mod:`subgrid.gravity_waves.gridded.fluxes`,
:mod:`subgrid.gravity_waves.gridded.training` and :mod:`subgrid.gravity_waves.gridded.evaluation`).

``subgrid.cli.main`` mounts :func:`generate_gw_fluxes_command` as ``subgrid generate gw-fluxes``,
:func:`train_gw_gridded_command` as ``subgrid train gw-gridded``, :func:`pretrain_command` as
``subgrid pretrain`` (:mod:`subgrid.gravity_waves.gridded.pretrain`), :func:`predictability_command` as
``subgrid predictability`` (:mod:`subgrid.gravity_waves.gridded.predictability`) and hands
``subgrid evaluate`` to :func:`evaluate_gw_gridded_run` when the run holds a gridded emulator.
Errors the package raises on purpose print as one line with exit status 2 (:mod:`subgrid.cli.errors`).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from subgrid.cli.checks import positive
from subgrid.cli.configs import config_option, configured, model_help
from subgrid.cli.errors import fail
from subgrid.gravity_waves.gridded.pretrain import PretrainConfig, pretrain
from subgrid.gravity_waves.gridded.training import GriddedGWTrainingConfig, train_gw_gridded
from subgrid.core.errors import InputError


#: Options of both gridded trainers (`train gw-gridded`, `pretrain`), whose configs share these fields
#: (:class:`~subgrid.gravity_waves.gridded.training.GriddedTrainingSettings`): one typer default each, shared.
_EPOCHS = config_option(GriddedGWTrainingConfig, "epochs", "--epochs", "Maximum epochs (cosine schedule length)", min=1)
_LEARNING_RATE = config_option(GriddedGWTrainingConfig, "learning_rate", "--lr", "Peak learning rate (AdamW)")
_BATCH_SIZE = config_option(GriddedGWTrainingConfig, "batch_size", "--batch-size", "Time steps per batch", min=1)
_VALIDATION_FRACTION = config_option(GriddedGWTrainingConfig, "validation_fraction", "--validation-fraction",
                                     "Last part of the record held out for validation")  # fmt: skip
_MAX_MINUTES = config_option(GriddedGWTrainingConfig, "max_minutes", "--max-minutes", "Stop after this much training time")
#: The stochastic convection of the gravity-wave dycore (gw-simulation and gw-spinup).
_CONVECTIVE_CELLS = typer.Option(
    0, "--convective-cells", min=0, help="Stochastic convective heating cells (0: none); the output then holds "
    "their heating (convective_heating), an input a gravity-wave emulator can be given.")
_CONVECTIVE_PEAK = typer.Option(30.0, "--convective-peak", help="Peak heating of a convective cell, K/day.")
_CONVECTIVE_LIFETIME = typer.Option(36.0, "--convective-lifetime-hours", help="Lifetime of a convective cell.")
_CONVECTIVE_TILT = typer.Option(
    0.0, "--convective-tilt-hours", help="Cells lean with the wind relative to the column mean times this (0: upright).")
_HILLS = typer.Option(0, "--hills", min=0, help="Rough ground: round hills narrower than a coarse box over the "
                      "mid-latitudes (0: none), the same in every run; sources the coarse wind sets.")
_HILL_HEIGHT = typer.Option(1500.0, "--hill-height", help="Typical hill peak, m (each 0.5-1.5x this).")
_HILL_WIDTH = typer.Option(4.0, "--hill-width", help="Hill e-folding half-width, degrees.")
_MAX_STEPS = config_option(GriddedGWTrainingConfig, "max_steps", "--max-steps",
                           "Stop after this many optimizer steps (a budget that means the same on any machine)")
_ACCELERATOR = config_option(GriddedGWTrainingConfig, "accelerator", "--accelerator", "cpu | gpu | auto")
_DEVICES = config_option(GriddedGWTrainingConfig, "devices", "--devices",
                         "Processes (GPUs) per node; more than 1 trains with DDP", min=1)  # fmt: skip
_PRECISION = config_option(GriddedGWTrainingConfig, "precision", "--precision", "32-true | bf16-mixed (GPU only)")
_THREADS = typer.Option(None, "--threads", min=1, help="Torch intra-op threads (default: torch's).")
_RESUME = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted run in OUT.")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")


def _configured(config, overrides: dict, model_option: list[str], threads: int | None, extra_options: dict | None = None):
    """``config`` with the command line's settings (:func:`~subgrid.cli.configs.configured`); torch's thread count set."""
    config = configured(config, overrides, model_option, extra_options)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return config


def is_gridded_run(run: Path) -> bool:
    """Whether run directory ``run`` holds a gridded gravity-wave emulator (its model.json says so)."""
    from subgrid.gravity_waves.gridded.training import KIND

    try:
        return json.loads((run / "model.json").read_text()).get("kind") == KIND
    except (OSError, ValueError):
        return False


def train_gw_gridded_command(
    data: list[Path] = typer.Option(
        ..., "--data", help="Fine-tuning file(s), netCDF or zarr, joined in time in the order given (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Run directory (model, config, metrics.csv, checkpoints)."),
    model: str = typer.Option(None, "--model", help=model_help(GriddedGWTrainingConfig, "Backbone (unet: Attention U-Net, "
                              "prithvi: fine-tuned Prithvi WxC)")),
    config_file: Path = typer.Option(None, "--config", help="YAML training config (keys of GriddedGWTrainingConfig)."),
    model_option: list[str] = typer.Option(
        [], "--model-option", help="Backbone option KEY=VALUE, e.g. base_width=16 or fine_tune=lora (repeatable)."),
    pretrained: Path = typer.Option(
        None, "--pretrained", help="Prithvi WxC checkpoint (local .pt) whose encoder/decoder start the prithvi model."),
    inputs: list[str] = typer.Option([], "--input", help="Input variable, e.g. u (repeatable; default: all seven)."),
    targets: list[str] = typer.Option(
        [], "--target", help="Target: uw_flux | vw_flux | potential_temperature (repeatable; default: both fluxes)."),
    target_levels: list[int] = typer.Option([], "--target-level", help="Target level index (repeatable; default: every level)."),
    epochs: int = _EPOCHS,
    learning_rate: float = _LEARNING_RATE,
    batch_size: int = _BATCH_SIZE,
    validation_fraction: float = _VALIDATION_FRACTION,
    max_minutes: float = _MAX_MINUTES,
    max_steps: int = _MAX_STEPS,
    seed: int = config_option(GriddedGWTrainingConfig, "seed", "--seed", "Seed of initialisation and shuffling"),
    accelerator: str = _ACCELERATOR,
    devices: int = _DEVICES,
    precision: str = _PRECISION,
    threads: int = _THREADS,
    resume: bool = _RESUME,
    progress: bool = _PROGRESS,
) -> None:
    """Train a gridded gravity-wave flux emulator (lat-lon inputs -> u'omega', v'omega') on fine-tuning files.

    The files are checked completely (layout, 64 x 128 grid, NaN/Inf) before anything is written.
    """
    config = GriddedGWTrainingConfig.from_yaml(config_file) if config_file else GriddedGWTrainingConfig()
    overrides = {
        "model": model, "epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
        "validation_fraction": validation_fraction, "max_minutes": max_minutes, "max_steps": max_steps, "seed": seed,
        "accelerator": accelerator, "devices": devices, "precision": precision,
        "inputs": inputs or None, "targets": targets or None, "target_levels": target_levels or None,
    }  # fmt: skip
    pretraining = {"pretrained": str(pretrained.resolve())} if pretrained else None
    config = _configured(config, overrides, model_option, threads, pretraining)
    report = train_gw_gridded(data, out, config, resume=resume, progress=progress)
    if report.rank != 0:
        return
    typer.echo(
        f"trained {config.model} for {report.epochs} epochs in {report.seconds:.0f} s"
        f"{' (resumed)' if report.resumed else ''}; best validation loss {report.best_val_loss:.4g}; run in {out}"
    )


def pretrain_command(
    data: list[Path] = typer.Option(
        ..., "--data", help="Gridded file(s) whose input states pre-train the backbone (netCDF or zarr, any layout "
        "`train gw-gridded` reads; fluxes are not used), joined in time in the order given (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Run directory (backbone.pt, model.json, config, metrics.csv, checkpoints)."),
    config_file: Path = typer.Option(None, "--config", help="YAML pre-training config (keys of PretrainConfig)."),
    task: str = config_option(PretrainConfig, "task", "--task",
                              "masked (reconstruct hidden patches) | forecast (the state --lead-steps later)"),
    mask_ratio: float = config_option(PretrainConfig, "mask_ratio", "--mask-ratio", "Fraction of patches (or windows) "
                                      "hidden: in (0, 1) for masked, [0, 1) for forecast"),
    mask_unit: str = config_option(PretrainConfig, "mask_unit", "--mask-unit", "patch | window: what one masked unit is"),
    lead_steps: int = config_option(PretrainConfig, "lead_steps", "--lead-steps",
                                    "Forecast task: records between input and target"),
    exclude_region: str = typer.Option(
        None, "--exclude-region", help="LAT0,LAT1,LON0,LON1 (degrees): a box hidden from pre-training (zero inputs, "
        "no loss), to be scored later with `subgrid evaluate --region`."),
    model_option: list[str] = typer.Option(
        [], "--model-option", help="PrithviGW option KEY=VALUE, e.g. embed_dim=64 or window=[8,16] (repeatable)."),
    inputs: list[str] = typer.Option(
        [], "--input", help="Input variable, e.g. u (repeatable; default surface_height u v temperature pressure)."),
    epochs: int = _EPOCHS,
    learning_rate: float = _LEARNING_RATE,
    batch_size: int = _BATCH_SIZE,
    validation_fraction: float = _VALIDATION_FRACTION,
    max_minutes: float = _MAX_MINUTES,
    max_steps: int = _MAX_STEPS,
    seed: int = config_option(PretrainConfig, "seed", "--seed", "Seed of initialisation, shuffling and masks"),
    accelerator: str = _ACCELERATOR,
    devices: int = _DEVICES,
    precision: str = _PRECISION,
    threads: int = _THREADS,
    resume: bool = _RESUME,
    progress: bool = _PROGRESS,
) -> None:
    """Pre-train a small Prithvi WxC backbone (self-supervised) on unlabeled gridded states; writes OUT/backbone.pt.

    Fine-tune it with `subgrid train gw-gridded --model prithvi --pretrained OUT/backbone.pt`
    (same embed_dim, n_blocks_encoder, n_blocks_decoder, mlp_multiplier).
    """
    from subgrid.gravity_waves.gridded.dataset import LatLonBox

    config = PretrainConfig.from_yaml(config_file) if config_file else PretrainConfig()
    overrides = {
        "task": task, "mask_ratio": mask_ratio, "mask_unit": mask_unit, "lead_steps": lead_steps,
        "exclude_region": LatLonBox.parse(exclude_region).as_list() if exclude_region is not None else None,
        "epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
        "validation_fraction": validation_fraction, "max_minutes": max_minutes, "max_steps": max_steps, "seed": seed,
        "accelerator": accelerator, "devices": devices, "precision": precision, "inputs": inputs or None,
    }  # fmt: skip
    config = _configured(config, overrides, model_option, threads)
    report = pretrain(data, out, config, resume=resume, progress=progress)
    if report.rank != 0:
        return
    typer.echo(
        f"pre-trained ({config.task}) for {report.epochs} epochs in {report.seconds:.0f} s"
        f"{' (resumed)' if report.resumed else ''}; best validation loss {report.best_val_loss:.4g}; "
        f"backbone in {report.backbone}"
    )


def evaluate_gw_gridded_run(run: Path, data: Path, out: Path | None, period: str, plot_level: int | None,
                            region: str | None = None) -> None:
    """``subgrid evaluate`` for a gridded gravity-wave run: metrics table, metrics.json and maps."""
    from subgrid.gravity_waves.gridded.evaluation import evaluate_gw_gridded, metrics_table

    metrics = evaluate_gw_gridded(run, data, out, period=period, plot_level=plot_level, region=region)
    if "region" in metrics:
        typer.echo(f"region {metrics['region']['box']} (lat, lon degrees): {metrics['region']['points']} grid points")
    typer.echo(f"{metrics['period']['kind']} period: {metrics['period']['time_steps']} time steps")
    typer.echo(metrics_table(metrics))
    typer.echo(f"wrote {metrics['output_directory']}/metrics.json and plots (level {metrics['plot_level']})")


def compare_gw_gridded_runs(runs: list[Path], labels: list[str], data: Path, out: Path | None, period: str,
                            plot_level: int | None, region: str | None) -> None:
    """``subgrid evaluate`` with several gridded runs: the comparison table, comparison.json and figures."""
    from subgrid.gravity_waves.gridded.evaluation import compare_gw_gridded

    not_gridded = [str(r) for r in runs if not is_gridded_run(r)]
    if not_gridded:
        fail(ValueError(f"--run: only gridded gravity-wave runs can be compared; not one: {', '.join(not_gridded)}"))
    if out is None:
        fail(ValueError("--out: required when comparing runs (the directory for comparison.md and the figures)"))
    summary = compare_gw_gridded(runs, data, out, labels=labels or None, period=period, plot_level=plot_level,
                                 region=region)  # fmt: skip
    scope = f" in {summary['region']['box']} ({summary['region']['points']} grid points)" if summary["region"] else ""
    typer.echo(f"{summary['period']['kind']} period{scope}: {summary['period']['time_steps']} time steps; "
               f"H = Hellinger distance, {summary['hellinger_binning']}")
    typer.echo(summary["table"])
    typer.echo(f"wrote {summary['output_directory']}/comparison.md, comparison.json and plots (level {summary['plot_level']})")


def generate_gw_fluxes_command(
    fields: list[Path] = typer.Option(
        ..., "--fields", help="High-resolution fields, netCDF or zarr (ERA5 names u, v, w, t, z), combined by "
        "coordinates (repeatable: split by variable or by time)."),
    out: Path = typer.Option(..., "--out", help="Output zarr store (written under a temporary name, renamed when complete)."),
    target_grid: str = typer.Option("gaussian:64x128", "--target-grid", help="KIND:NLATxNLON, KIND = gaussian | "
                                    "equiangular | regular (default: T42 Gaussian, as the study)."),
    truncation: int = typer.Option(21, "--truncation", min=0, help="Remove spherical-harmonic degrees l <= this."),
    variable: list[str] = typer.Option(
        [], "--variable", help="OURS=FILE variable name where the file differs, e.g. omega=wap (repeatable)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store at OUT."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (time steps)."),
) -> None:
    """Gravity-wave momentum fluxes u'omega'/(-g), v'omega'/(-g) and coarse inputs from high-resolution fields.

    The recipe of the seed study: divergent wind, degrees <= truncation removed, omega minus its zonal
    mean, fluxes conservatively coarse-grained to the target grid. Nothing is written on error.
    """
    from tqdm.auto import tqdm

    from subgrid.gravity_waves.gridded.fluxes import generate_gw_fluxes

    bar = tqdm(unit="time step", disable=not progress)

    def advance(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        variables = dict(item.split("=", 1) for item in variable if "=" in item)
        if len(variables) != len(variable):
            raise InputError(f"--variable {variable}: expected OURS=FILE, e.g. omega=wap")
        path = generate_gw_fluxes(fields, out, target_grid, truncation, variables, overwrite, advance)
    finally:
        bar.close()
    typer.echo(f"wrote {path} ({target_grid}, truncation T{truncation})")


def generate_gw_simulation_command(
    out: Path = typer.Option(..., "--out", help="Output zarr store: coarse inputs + uw_flux, vw_flux (temp store, renamed when complete)."),
    resolution: str = typer.Option("T85", "--resolution", help="Simulation truncation: T21 | T31 | T42 | T85 | T106 | T119 | T170 | T213."),
    levels: int = typer.Option(20, "--levels", help="Equidistant sigma levels."),
    time_step_minutes: float = typer.Option(5.0, "--time-step-minutes", help="Model time step (5 is stable at T85, 10 at T42)."),
    spinup_days: float = typer.Option(2.0, "--spinup-days", min=0.0, help="Model days run before recording."),
    days: float = typer.Option(
        3.0, "--days", callback=positive, help="Model days recorded, > 0: at least one --output-interval-hours."),
    output_interval_hours: float = typer.Option(6.0, "--output-interval-hours", help="Recording interval."),
    mountain_scale: float = typer.Option(1.0, "--mountain-scale", help="Multiplies the mountain heights (0: flat planet)."),
    heating: float = typer.Option(10.0, "--heating", help="Peak of the daily-pulsed tropical heating, K/day (0: none)."),
    convective_cells: int = _CONVECTIVE_CELLS,
    convective_peak: float = _CONVECTIVE_PEAK,
    convective_lifetime: float = _CONVECTIVE_LIFETIME,
    convective_tilt: float = _CONVECTIVE_TILT,
    hills: int = _HILLS,
    hill_height: float = _HILL_HEIGHT,
    hill_width: float = _HILL_WIDTH,
    target_grid: str = typer.Option("gaussian:64x128", "--target-grid", help="Coarse grid KIND:NLATxNLON of the recipe."),
    truncation: int = typer.Option(21, "--truncation", help="Recipe high-pass: remove degrees l <= this."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial perturbation."),
    fields_out: Path = typer.Option(None, "--fields-out", help="Also keep the high-resolution fields (zarr)."),
    initial_state: Path = typer.Option(
        None, "--initial-state", help="A `subgrid generate gw-spinup` directory: start from its stationary state plus "
        "this --seed's perturbation (same levels and forcing; another resolution and time step are allowed: the "
        "state is spectrally truncated or zero-padded); --spinup-days then decorrelates (and adjusts)."),
    threads: int = typer.Option(None, "--threads", min=1, help="Torch intra-op threads of the dycore (default: torch's)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing stores."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Simulate gravity waves with a spectral dycore (mountains + pulsed heating) and reduce them to a training set.

    dinosaur-torch primitive equations with Held-Suarez forcing, then the ERA5 recipe of
    ``subgrid generate gw-fluxes``. About 3 CPU-minutes per model day at T85 on one thread.
    """
    from tqdm.auto import tqdm

    from subgrid.gravity_waves.gridded.simulation import GWSimulationConfig, generate_gw_simulation_dataset

    bars: dict[str, tqdm] = {}

    def advance(stage: str, done: int, total: int) -> None:
        unit = "step" if stage == "simulate" else "time step"
        if stage not in bars:  # one bar per stage (setdefault would build, and print, a new one on every call)
            bars[stage] = tqdm(total=total, unit=unit, desc=stage, disable=not progress)
        bars[stage].update(done - bars[stage].n)

    if days * 24 < output_interval_hours:
        raise InputError(f"--days {days:g}: shorter than one output interval (--output-interval-hours "
                         f"{output_interval_hours:g}); nothing would be recorded")  # fmt: skip
    try:
        config = GWSimulationConfig(
            resolution=resolution, levels=levels, time_step_minutes=time_step_minutes, spinup_days=spinup_days,
            record_days=days, output_interval_hours=output_interval_hours, mountain_scale=mountain_scale,
            heating_K_per_day=heating, convective_cells=convective_cells, convective_peak_K_per_day=convective_peak,
            convective_lifetime_hours=convective_lifetime, convective_tilt_hours=convective_tilt,
            hills=hills, hill_height_m=hill_height, hill_width_deg=hill_width,
            target=target_grid, truncation=truncation, seed=seed, initial_state=None if initial_state is None else str(initial_state))
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        path = generate_gw_simulation_dataset(config, out, overwrite, fields_out, advance)
    finally:
        for bar in bars.values():
            bar.close()
    typer.echo(f"wrote {path} ({resolution}, {config.outputs} times, {target_grid}, truncation T{truncation})")


def generate_gw_spinup_command(
    out: Path = typer.Option(..., "--out", help="Spin-up directory (state.safetensors, spinup.json); resumed if it exists."),
    resolution: str = typer.Option("T31", "--resolution", help="Simulation truncation: T21 | T31 | T42 | T85 | ..."),
    levels: int = typer.Option(20, "--levels", help="Equidistant sigma levels."),
    time_step_minutes: float = typer.Option(15.0, "--time-step-minutes", help="Model time step (must divide a day)."),
    mountain_scale: float = typer.Option(1.0, "--mountain-scale", help="Multiplies the mountain heights (0: flat planet)."),
    heating: float = typer.Option(10.0, "--heating", help="Peak of the daily-pulsed tropical heating, K/day (0: none)."),
    convective_cells: int = _CONVECTIVE_CELLS,
    convective_peak: float = _CONVECTIVE_PEAK,
    convective_lifetime: float = _CONVECTIVE_LIFETIME,
    convective_tilt: float = _CONVECTIVE_TILT,
    hills: int = _HILLS,
    hill_height: float = _HILL_HEIGHT,
    hill_width: float = _HILL_WIDTH,
    min_days: int = typer.Option(100, "--min-days", min=1, help="Never stop before this many model days."),
    max_days: int = typer.Option(300, "--max-days", min=1, help="Stop here even if not stationary (the report says so)."),
    window_days: int = typer.Option(50, "--window-days", min=2, help="Days over which the series must be stationary."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial perturbation."),
    threads: int = typer.Option(None, "--threads", min=1, help="Torch intra-op threads of the dycore (default: torch's)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (model days)."),
) -> None:
    """Spin the gravity-wave atmosphere up until it is stationary (global kinetic energy, mean temperature, both jets).

    Branch runs from it with `subgrid generate gw-simulation --initial-state OUT --seed N`.
    """
    from tqdm.auto import tqdm

    from subgrid.gravity_waves.gridded.simulation import GWSimulationConfig
    from subgrid.gravity_waves.gridded.spinup import StationarityCriterion, spin_up

    config = GWSimulationConfig(resolution=resolution, levels=levels, time_step_minutes=time_step_minutes,
                                mountain_scale=mountain_scale, heating_K_per_day=heating, seed=seed,
                                convective_cells=convective_cells, convective_peak_K_per_day=convective_peak,
                                convective_lifetime_hours=convective_lifetime, convective_tilt_hours=convective_tilt,
                                hills=hills, hill_height_m=hill_height, hill_width_deg=hill_width,
                                target="gaussian:2x4")  # the recipe's grid plays no part in a spin-up
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    with tqdm(total=max_days, unit="day", desc="spin-up", disable=not progress) as bar:
        report = spin_up(config, out, min_days=min_days, max_days=max_days,
                         criterion=StationarityCriterion(window_days=window_days),
                         progress=lambda done, _: bar.update(done - bar.n))  # fmt: skip
    typer.echo(f"{out}: {report.days} model days, {'stationary' if report.stationary else 'NOT stationary'} over the "
               f"last {window_days} days (spinup.json holds the daily series and the verdict)")


#: The ``kind`` of the JSON report ``subgrid predictability --json`` writes (the only file it replaces).
_PREDICTABILITY_KIND = "gw_predictability"


def predictability_command(
    data: Path = typer.Option(None, "--data", help="One gridded GW dataset (named variables): its first --train-fraction "
                              "of the times is fitted, the rest tested."),
    train: Path = typer.Option(None, "--train", help="Fitting period (with --test), e.g. a study's train.zarr."),
    test: Path = typer.Option(None, "--test", help="Test period (with --train)."),
    train_fraction: float = typer.Option(0.6, "--train-fraction", help="With --data: the share of the times fitted."),
    max_target_sigma: float = typer.Option(
        0.85, "--max-target-sigma", help="Target levels with sigma at most this (when levels are sigma; else all)."),
    nonlinear: bool = typer.Option(False, "--nonlinear", help="Also the convolutional neighbourhood probe (a CPU-minute or so)."),
    mean_hours: float = typer.Option(
        None, "--mean-hours", help="Measure the flux averaged over windows of this many hours (a multiple of the record "
        "interval) instead, with the state at each window's centre."),
    json_out: Path = typer.Option(None, "--json", help="Also write the measures as JSON here."),
) -> None:
    """How predictable are a dataset's GW fluxes, before any model trains? Persistence, time mean, probes' R².

    A target no probe and no climatology can predict measures noise: compare models on it and every
    one scores R² ~ 0. See subgrid.gravity_waves.gridded.predictability for each measure.
    """
    from subgrid.core.stores import open_store, write_text_atomic
    from subgrid.gravity_waves.gridded.predictability import (predictability_lines, sigma_target_levels, split_record,
                                                              target_predictability, window_mean_target)

    one_record, pair = data is not None, (train is not None, test is not None)
    if not ((one_record and pair == (False, False)) or (not one_record and pair == (True, True))):
        raise InputError("give --data, or both --train and --test")
    if json_out is not None and json_out.exists() and not _is_predictability_file(json_out):
        raise InputError(f"{json_out}: already exists and is not a predictability report of subgrid; give another --json")
    if data is not None:
        record = open_store(data, what="data").load()
        parts = split_record(record if mean_hours is None else window_mean_target(record, mean_hours), train_fraction)
    else:
        parts = open_store(train, what="train").load(), open_store(test, what="test").load()
        if mean_hours is not None:
            parts = tuple(window_mean_target(part, mean_hours) for part in parts)
    report = target_predictability(*parts, sigma_target_levels(parts[0], max_target_sigma), nonlinear=nonlinear)
    for line in predictability_lines(report):
        typer.echo(line)
    if json_out is not None:
        write_text_atomic(json_out, json.dumps({"kind": _PREDICTABILITY_KIND, **report}, indent=1))


def _is_predictability_file(path: Path) -> bool:
    """Whether ``path`` is a report an earlier ``subgrid predictability --json`` wrote (which it may replace)."""
    try:
        return json.loads(path.read_text()).get("kind") == _PREDICTABILITY_KIND
    except (OSError, ValueError, AttributeError):
        return False
