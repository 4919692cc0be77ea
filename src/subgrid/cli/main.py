"""The ``subgrid`` command line: a thin layer over the Python API (a notebook calls the same functions).

Errors the package raises on purpose (:class:`~subgrid.core.errors.SubgridError`) print as one line
and exit with status 2; anything else is a bug and keeps its traceback. One handler
(:mod:`subgrid.cli.errors`) wraps every command of the app, wherever the command is defined.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from subgrid import __version__
from subgrid.cli import gcm, gw_column, gw_gridded, rce, suite
from subgrid.cli.configs import config_option, configured, model_help
from subgrid.cli.errors import OneLineUsageErrors, fail, one_line_errors
from subgrid.demo.run import DemoConfig, run_demo
from subgrid.core.errors import InputError
from subgrid.core.stores import expand_dataset_directories
from subgrid.radiation.training import RadiationTrainingConfig, train_radiation

app = typer.Typer(
    help="Machine-learned subgrid-scale parameterizations: reference physics, datasets, emulators, coupling.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineUsageErrors,  # usage errors (a bad option value, an unknown option) as one line, exit 2
)
generate_app = typer.Typer(help="Generate reference datasets by running physics schemes.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
train_app = typer.Typer(help="Train emulators on generated datasets.", no_args_is_help=True)
app.add_typer(train_app, name="train")
online_app = typer.Typer(help="Run emulators coupled to a host model, side by side with the physics.", no_args_is_help=True)
app.add_typer(online_app, name="online")
replay_app = typer.Typer(help="Experience replay: relabel online states with the physics and fine-tune.", no_args_is_help=True)
app.add_typer(replay_app, name="replay")

# The gravity-wave commands live in subgrid.cli.gw_column; mounted here under the shared groups.
generate_app.command("gw")(gw_column.generate_gw_command)
train_app.command("gw")(gw_column.train_gw_command)
online_app.command("gw")(gw_column.online_gw_command)
replay_app.command("gw")(gw_column.replay_gw_command)
# Gridded gravity-wave fluxes (lat-lon fields) live in subgrid.cli.gw_gridded; `evaluate` dispatches to it.
train_app.command("gw-gridded")(gw_gridded.train_gw_gridded_command)
generate_app.command("gw-fluxes")(gw_gridded.generate_gw_fluxes_command)
generate_app.command("gw-simulation")(gw_gridded.generate_gw_simulation_command)
generate_app.command("gw-spinup")(gw_gridded.generate_gw_spinup_command)
app.command("pretrain")(gw_gridded.pretrain_command)
app.command("predictability")(gw_gridded.predictability_command)
# The radiation generalisation suite lives in subgrid.cli.suite; `evaluate --suite` dispatches to it.
generate_app.command("suite")(suite.generate_suite_command)
generate_app.command("rce-states")(rce.rce_states_command)
# The radiation emulator's online commands live in rce.
online_app.command("radiation")(rce.online_radiation_command)
replay_app.command("radiation")(rce.replay_radiation_command)
# The 3-D GCM host's commands live in subgrid.cli.gcm.
gcm_app = typer.Typer(help="The 3-D moist aquaplanet GCM host: spin up, run with RRTMG or an emulator, check its climate.",
                      no_args_is_help=True)  # fmt: skip
app.add_typer(gcm_app, name="gcm")
guard_app = typer.Typer(help="The emulator's guard: which columns it would get wrong, sent to the physics.",
                        no_args_is_help=True)
app.add_typer(guard_app, name="guard")
guard_app.command("calibrate")(suite.calibrate_guard_command)
gcm_app.command("spinup")(gcm.spinup_command)
gcm_app.command("run")(gcm.run_command)
gcm_app.command("climate")(gcm.climate_command)
gcm_app.command("columns")(gcm.columns_command)
gcm_app.command("forecasts")(gcm.forecasts_command)
gcm_app.command("forecasts-report")(gcm.forecasts_report_command)
gcm_app.command("replay")(gcm.replay_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"subgrid {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """subgrid: build, test and couple machine-learned parameterizations."""


#: ``--coverage`` of the sampling commands.
COVERAGE = typer.Option("standard", "--coverage", help="Sampler ranges: standard | wide (a wider upper atmosphere, "
                        "ice sizes and high ground: subgrid.radiation.columns.WIDE_COVERAGE) | extended (wide, CO2 to "
                        "5000 ppmv, more and higher land: EXTENDED_COVERAGE).")
#: ``--co2-ppmv`` of the sampling commands.
CO2_PPMV = typer.Option(None, "--co2-ppmv", help="CO2 log-uniform in LOW:HIGH ppmv on every column, in place of "
                        "--coverage's CO2 range and present-day share (e.g. 400:6000 for a set rich in high-CO2 "
                        "columns).")


@generate_app.command("radiation")
def generate_radiation(
    out: Path = typer.Option(..., "--out", help="Output zarr store (written as OUT.partial, renamed when complete)."),
    columns: int = typer.Option(20000, "--columns", min=1, help="Number of atmospheric columns."),
    levels: int = typer.Option(60, "--levels", min=2, help="Number of layers per column."),
    top_pressure_pa: float = typer.Option(20.0, "--top-pressure-pa", help="Pressure of the model top interface (Pa)."),
    bottom_layer_pa: float = typer.Option(
        1500.0, "--bottom-layer-pa", help="Thickness of the lowest layer over a 1013 hPa surface (Pa): sets the stretching."),
    coverage: str = COVERAGE,
    co2_ppmv: str = CO2_PPMV,
    seed: int = typer.Option(0, "--seed", min=0, help="Seed: same seed and settings give an identical dataset."),
    workers: int = typer.Option(2, "--workers", min=1, help="Local Dask worker processes."),
    chunk_size: int = typer.Option(500, "--chunk-size", min=1, help="Columns per chunk (zarr chunk and task)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler (else a LocalCluster)."),
    mcica: bool = typer.Option(True, "--mcica/--no-mcica", help="McICA cloud sampling (needed for partial clouds in SW)."),
    mcica_samples: int = typer.Option(
        1, "--mcica-samples", min=1, help="Average cloudy columns over this many McICA draws (less noisy training targets)."
    ),
    source: Path = typer.Option(
        None, "--from", help="Label the columns of this file (netCDF or zarr, schema variables) instead of sampling; "
        "--columns and --levels then come from the file."),
    units: list[str] = typer.Option(
        None, "--units", help="NAME=UNITS: the units of a --from variable (over its units attribute; needed where it has "
        "none), e.g. air_pressure=hPa; repeatable. Converted once to the schema's units."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset at OUT."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    summary: bool = typer.Option(True, "--summary/--no-summary", help="Print a distribution summary when done."),
) -> None:
    """Run RRTMG LW+SW on sampled realistic columns (or a file's, --from) into a chunked zarr dataset (resumable)."""
    from subgrid.radiation.columns import ColumnSamplerConfig
    from subgrid.radiation.dataset import (
        ColumnsLabellingConfig,
        RadiationDatasetConfig,
        generate_radiation_dataset,
        label_columns,
    )
    from subgrid.physics.rrtmg import RRTMGConfig

    settings = {"seed": seed, "chunk_size": chunk_size, "rrtmg": RRTMGConfig(mcica=mcica),
                "mcica_samples": mcica_samples}  # fmt: skip
    stated = _stated_units(units or [])
    if stated and source is None:
        raise InputError("--units: only for --from FILE (sampled columns are in the schema's units)")
    if co2_ppmv is not None and source is not None:
        raise InputError("--co2-ppmv: only for sampled columns (a --from file has its own CO2)")
    if source is not None:
        config = ColumnsLabellingConfig.for_file(source, units=stated, **settings)
        report = label_columns(out, config, workers=workers, scheduler=scheduler, overwrite=overwrite,
                               progress=progress)  # fmt: skip
    else:
        try:
            sampler = ColumnSamplerConfig(n_levels=levels, top_pressure_Pa=top_pressure_pa,
                                          bottom_layer_thickness_Pa=bottom_layer_pa, **_coverage(coverage, co2_ppmv))  # fmt: skip
        except ValueError as error:
            raise InputError(f"--levels/--top-pressure-pa/--bottom-layer-pa/--co2-ppmv: {error}") from error
        config = RadiationDatasetConfig(n_columns=columns, sampler=sampler, **settings)
        report = generate_radiation_dataset(
            out, config, workers=workers, scheduler=scheduler, overwrite=overwrite, progress=progress
        )
    typer.echo(
        f"wrote {out}: {config.n_columns} columns{f' of {source}' if source else f' x {levels} levels'} in "
        f"{report.n_chunks} chunks "
        f"({len(report.computed)} computed, {len(report.skipped)} resumed) in {report.seconds:.1f} s"
    )
    if summary:
        _print_summary(out, as_json=False)


def _coverage(name: str, co2_ppmv: str | None = None) -> dict:
    """``--coverage`` (the sampler settings of a named coverage) and ``--co2-ppmv`` over it."""
    from subgrid.radiation.columns import EXTENDED_COVERAGE, WIDE_COVERAGE

    coverages = {"standard": {}, "wide": WIDE_COVERAGE, "extended": EXTENDED_COVERAGE}
    if name not in coverages:
        raise InputError(f"--coverage: expected one of {', '.join(coverages)}, got {name!r}")
    if co2_ppmv is None:
        return coverages[name]
    low, high = _range(co2_ppmv, "--co2-ppmv", float)
    if not 0.0 < low < high:
        raise InputError(f"--co2-ppmv: expected 0 < LOW < HIGH ppmv, got {co2_ppmv!r}")
    return {**coverages[name], "co2_min_mol_per_mol": low / 1e6, "co2_max_mol_per_mol": high / 1e6,
            "co2_present_day_fraction": 0.0}  # fmt: skip


def _range(text: str, option: str, kind: type) -> tuple:
    """``LOW:HIGH`` (or one value) as a pair of ``kind``."""
    try:
        values = tuple(kind(v) for v in text.split(":"))
    except ValueError:
        values = ()
    if len(values) not in (1, 2):
        raise InputError(f"{option}: expected LOW:HIGH or one value, got {text!r}")
    return (values[0], values[-1])


@generate_app.command("grids")
def generate_grids_command(
    out: Path = typer.Option(..., "--out", help="Directory: one grid_KK_L<n>.zarr per grid (finished ones are kept)."),
    grids: int = typer.Option(16, "--grids", min=1, help="Number of random grids."),
    columns: int = typer.Option(4000, "--columns", min=1, help="RRTMG columns per grid."),
    levels: str = typer.Option("24:110", "--levels", help="Level counts LOW:HIGH (uniform)."),
    top_pressure_pa: str = typer.Option("8:300", "--top-pressure-pa", help="Top interface pressures LOW:HIGH, Pa "
                                        "(log-uniform)."),
    bottom_layer_pa: str = typer.Option("500:3000", "--bottom-layer-pa", help="Lowest-layer thicknesses over a 1013 hPa "
                                        "surface LOW:HIGH, Pa (log-uniform)."),
    seed: int = typer.Option(30, "--seed", min=0, help="Seed of the grids; grid k's columns take seed + k."),
    coverage: str = COVERAGE,
    co2_ppmv: str = CO2_PPMV,
    workers: int = typer.Option(2, "--workers", min=1, help="Local Dask worker processes."),
    chunk_size: int = typer.Option(500, "--chunk-size", min=1, help="Columns per chunk."),
    mcica_samples: int = typer.Option(1, "--mcica-samples", min=1, help="McICA draws averaged per cloudy column."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace datasets made with other settings (subgrid's only)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """RRTMG datasets on a family of random vertical grids (level count, top, stretching): the training data of a
    grid-agnostic emulator (`subgrid train radiation --vertical-grid any --extra-data DIR/grid_*.zarr`)."""
    import numpy as np

    from subgrid.physics.rrtmg import RRTMGConfig
    from subgrid.radiation.columns.grid import random_grids
    from subgrid.radiation.dataset import RadiationDatasetConfig, generate_grid_family

    try:
        family = random_grids(grids, np.random.default_rng(seed), _range(levels, "--levels", int),
                              _range(top_pressure_pa, "--top-pressure-pa", float),
                              _range(bottom_layer_pa, "--bottom-layer-pa", float))  # fmt: skip
    except ValueError as error:
        raise InputError(str(error)) from error
    from subgrid.radiation.columns import ColumnSamplerConfig

    try:
        sampler = ColumnSamplerConfig(**_coverage(coverage, co2_ppmv))
    except ValueError as error:
        raise InputError(f"--co2-ppmv: {error}") from error
    config = RadiationDatasetConfig(n_columns=columns, seed=seed, chunk_size=chunk_size, rrtmg=RRTMGConfig(),
                                    mcica_samples=mcica_samples, sampler=sampler)  # fmt: skip
    report = generate_grid_family(out, config, family, workers=workers, overwrite=overwrite, progress=progress)
    for path, grid in zip(report.paths, family, strict=True):
        state = "kept" if path in report.skipped else "written"
        typer.echo(f"{path}: {grid['n_levels']} levels, top {grid['top_pressure_Pa']:g} Pa, lowest layer "
                   f"{grid['bottom_layer_thickness_Pa']:g} Pa ({state})")  # fmt: skip


def _stated_units(pairs: list[str]) -> dict[str, str]:
    """``--units NAME=UNITS`` options as a mapping (one line naming the bad option otherwise)."""
    stated = {}
    for pair in pairs:
        name, sep, unit = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--units {pair!r}: expected NAME=UNITS, e.g. air_pressure=hPa")
        stated[name.strip()] = unit.strip()
    return stated


def _print_summary(path: Path, as_json: bool) -> None:
    from subgrid.core.stores import open_store
    from subgrid.radiation.dataset import radiation_summary, summary_table

    stats = radiation_summary(open_store(path))
    typer.echo(json.dumps(stats, indent=2) if as_json else summary_table(stats))


@app.command("summary")
def summary(
    path: Path = typer.Argument(..., help="A radiation dataset (zarr)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print the distribution summary of a radiation dataset (OLR, surface SW, heating rates)."""
    _print_summary(path, as_json)


@train_app.command("radiation")
def train_radiation_command(
    data: Path = typer.Option(..., "--data", help="Training dataset (zarr) from `subgrid generate radiation`."),
    out: Path = typer.Option(..., "--out", help="Run directory (model, config, metrics.csv, checkpoints)."),
    model: str = typer.Option(None, "--model", help=model_help(RadiationTrainingConfig)),
    config_file: Path = typer.Option(None, "--config", help="YAML training config (keys of RadiationTrainingConfig)."),
    model_option: list[str] = typer.Option([], "--model-option", help="Backbone option KEY=VALUE, e.g. width=32 (repeatable)."),
    epochs: int = config_option(RadiationTrainingConfig, "epochs", "--epochs", "Maximum epochs (cosine schedule length); 0: only fit a top-layer head added to the --init-from run", min=0),
    optimizer: str = config_option(RadiationTrainingConfig, "optimizer", "--optimizer", "sgd (momentum, the seed study's) | adamw"),
    learning_rate: float = config_option(RadiationTrainingConfig, "learning_rate", "--lr", "Peak learning rate"),
    batch_size: int = config_option(RadiationTrainingConfig, "batch_size", "--batch-size", "Columns per batch", min=1),
    max_minutes: float = config_option(RadiationTrainingConfig, "max_minutes", "--max-minutes", "Stop after this much training time"),
    seed: int = config_option(RadiationTrainingConfig, "seed", "--seed", "Seed of initialisation, split and shuffling"),
    init_from: Path = typer.Option(
        None, "--init-from", help="Fine-tune this finished run (its weights and normalisation statistics)."),
    extra_data: list[Path] = typer.Option(
        [], "--extra-data", help="Further dataset for the training split only, e.g. replayed states, or a directory of "
        "datasets such as `generate grids` writes (repeatable)."),
    extra_data_repeats: int = config_option(
        RadiationTrainingConfig, "extra_data_repeats", "--extra-data-repeats", "Visits of each extra column per epoch (oversampling)",
        min=1),
    vertical_grid: str = config_option(
        RadiationTrainingConfig, "vertical_grid", "--vertical-grid",
        "fixed (the data's level count only) | any (one model for every pressure grid; --extra-data may be on other grids)"),
    accelerator: str = config_option(RadiationTrainingConfig, "accelerator", "--accelerator", "cpu | gpu | auto"),
    devices: int = config_option(
        RadiationTrainingConfig, "devices", "--devices", "Processes (GPUs) per node; more than 1 trains with DDP", min=1),
    num_nodes: int = config_option(RadiationTrainingConfig, "num_nodes", "--num-nodes", "Nodes (under SLURM srun or torchrun)", min=1),
    strategy: str = config_option(RadiationTrainingConfig, "strategy", "--strategy", "auto | ddp (several devices always use DDP)"),
    precision: str = config_option(RadiationTrainingConfig, "precision", "--precision", "32-true | bf16-mixed (GPU only)"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted run in OUT."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a radiation emulator (fluxes and energy-consistent heating rates) on an RRTMG dataset.

    With --devices N the N processes train with DDP, each on its own share of the zarr chunks
    (--batch-size is per process). Lightning starts them, or run the command under `torchrun
    --nproc_per_node N` or SLURM's `srun` (one task per device) with the same --devices N.
    """
    config = RadiationTrainingConfig.from_yaml(config_file) if config_file else RadiationTrainingConfig()
    overrides = {
        "model": model, "epochs": epochs, "optimizer": optimizer, "learning_rate": learning_rate,
        "batch_size": batch_size, "max_minutes": max_minutes, "seed": seed, "extra_data_repeats": extra_data_repeats,
        "vertical_grid": vertical_grid, "accelerator": accelerator, "devices": devices, "num_nodes": num_nodes, "strategy": strategy,
        "precision": precision,
    }  # fmt: skip
    config = configured(config, overrides, model_option)
    report = train_radiation(
        data, out, config, init_from=init_from, extra_data=expand_dataset_directories(extra_data), resume=resume, progress=progress
    )
    if report.rank != 0:
        return
    typer.echo(
        f"trained {config.model} for {report.epochs} epochs in {report.seconds / 60:.1f} min"
        f"{' (resumed)' if report.resumed else ''}; best validation loss {report.best_val_loss:.4g}; run in {out}"
    )


@app.command("evaluate")
def evaluate_command(
    run: list[Path] = typer.Option(
        ..., "--run", help="Run directory of a trained emulator, or a radiation emulator's exported artifact (then "
        "--out is required); gridded GW runs: repeat to compare several "
        "(the ablation table: comparison.md/json and side-by-side maps in --out)."),
    data: Path = typer.Option(
        None, "--data", help="Held-out dataset (zarr; gridded GW runs: a fine-tuning netCDF/zarr file); or --suite."),
    suite_dir: Path = typer.Option(
        None, "--suite", help="Radiation runs or artifacts: a suite directory from `subgrid generate suite`; scores every "
        "set into one table (comparison.md in --out, default RUN/evaluation/suite_NAME)."),
    results: Path = typer.Option(None, "--results", help="With --suite: append one JSON line per set to this file."),
    out: Path = typer.Option(
        None, "--out", help="Where to write metrics.json and plots (default RUN/evaluation/NAME; required when "
        "comparing runs)."),
    label: list[str] = typer.Option(
        [], "--label", help="Name of each compared --run in the table and figures, in the same order "
        "(default: the run directories' names)."),
    period: str = typer.Option(
        "validation", "--period", help="Gridded GW runs only: validation (the held-out last part of the record) | all."),
    plot_level: int = typer.Option(
        None, "--plot-level", help="Gridded GW runs only: target level index of the maps (default: most variable)."),
    region: str = typer.Option(
        None, "--region", help="Gridded GW runs only: LAT0,LAT1,LON0,LON1 (degrees): score this box alone, e.g. "
        "the region a pre-trained backbone never saw."),
) -> None:
    """Score an emulator on a dataset: metrics.json and plots; or a radiation emulator on a generalisation suite.

    Radiation runs: against RRTMG (per-level error profiles, scatter, regimes). Gridded
    gravity-wave runs: Hellinger distance (symlog bins), RMSE and R² per level, band and overall,
    time-mean and zonal-mean maps, an instantaneous map; several --run: one table and side-by-side
    figures of them all (the ablation). --suite DIR (a radiation run or exported artifact): flux MAE %,
    heating RMSE above and below 10 hPa, OLR and surface SW biases on every set, one table.
    """
    from subgrid.evaluation.metrics import metrics_table

    if suite_dir is not None:
        if data is not None or len(run) > 1 or label:
            raise InputError("--suite: scores one --run on every set of the suite; no --data, no second --run")
        suite.evaluate_suite_command(run[0], suite_dir, out, results)
        return
    if data is None:
        raise InputError("--data: required (or --suite DIR for a radiation emulator)")
    if results is not None:
        raise InputError("--results: only with --suite")
    if len(run) > 1 or label:
        gw_gridded.compare_gw_gridded_runs(run, label, data, out, period, plot_level, region)
        return
    run = run[0]
    if gw_gridded.is_gridded_run(run):
        gw_gridded.evaluate_gw_gridded_run(run, data, out, period, plot_level, region)
        return
    if region is not None:
        fail(ValueError(f"--region: for gridded gravity-wave runs only; {run} is not one"))
    from subgrid.radiation.evaluation import evaluate_radiation_run

    metrics = evaluate_radiation_run(run, data, out)
    typer.echo(metrics_table(metrics))
    guard = metrics.get("guard")
    if guard:
        typer.echo(f"guard ({guard['guard']}): {guard['sent_columns']} of {metrics['columns']} columns "
                   f"({100 * guard['sent_to_physics_fraction']:.1f} %) would be sent to RRTMG; the scores above are "
                   "the emulator's on every column")  # fmt: skip
    floor = metrics["reference_noise_floor"]
    if floor:
        typer.echo(
            f"reference noise floor (two McICA draws of RRTMG, {floor['columns']} columns): flux MAE "
            f"{floor['flux_mae_percent']:.3f} %, LW HR RMSE {floor['lw_heating_rmse_K_day']:.3f} K/day, "
            f"SW HR RMSE {floor['sw_heating_rmse_K_day']:.3f} K/day"
        )
    mean = metrics.get("skill_against_mcica_mean")
    if mean:
        m, d = mean["against_mcica_mean"], mean["against_dataset_same_columns"]
        typer.echo(
            f"on {mean['columns']} of these columns, against the mean of {mean['draws']} McICA draws "
            f"(against the dataset's one draw): flux MAE {m['flux_mae_percent']:.3f} % "
            f"({d['flux_mae_percent']:.3f} %), LW HR RMSE {m['lw_heating_rmse_K_day']:.3f} "
            f"({d['lw_heating_rmse_K_day']:.3f}) K/day, SW HR RMSE {m['sw_heating_rmse_K_day']:.3f} "
            f"({d['sw_heating_rmse_K_day']:.3f}) K/day"
        )
    typer.echo(f"wrote {metrics['output_directory']}/metrics.json and plots")


@app.command("export")
def export_command(
    run: Path = typer.Option(..., "--run", help="Run directory of a trained emulator."),
    out: Path = typer.Option(..., "--out", help="Artifact directory (emulator.pt, .pt2 or .onnx + emulator.json)."),
    fmt: str = typer.Option(
        "torchscript", "--format",
        help="torchscript (LibTorch, FTorch, Fortran) | aoti (torch.export + AOTInductor: Python, C++, Fortran) "
        "| onnx (radiation only).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing artifact directory."),
) -> None:
    """Export a trained emulator (radiation, or GW column drag) as a self-contained artifact: physical inputs in,
    physical outputs out."""
    from subgrid.radiation.export import export_run

    try:
        kind = json.loads((run / "model.json").read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        kind = None  # export_run reports in one line what is wrong with the run directory
    if kind == "gw_emulator":
        from subgrid.gravity_waves.column.export import export_gw_run

        path = export_gw_run(run, out, fmt, overwrite=overwrite)
    else:
        path = export_run(run, out, fmt, overwrite=overwrite)
    typer.echo(f"wrote {path} (inputs, outputs, units and training ranges in {out / 'emulator.json'})")


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo"), "--out", help="Directory for the demo's outputs (report.html, demo.json, ...)."),
    columns: int = typer.Option(
        None, "--columns", min=100, help=f"Columns in the RRTMG training dataset (default {DemoConfig().columns})."),
    workers: int = typer.Option(None, "--workers", min=1, help=f"Local Dask worker processes (default {DemoConfig().workers})."),
    epochs: int = typer.Option(
        None, "--epochs", min=1, help=f"Training epochs of the radiation emulator (default {DemoConfig().epochs})."),
    quick: bool = typer.Option(False, "--quick", help="Smoke-test sizes: every step runs, in a minute or two."),
) -> None:
    """Run the whole pipeline at small size and write OUT/report.html, printing each step's command.

    Radiation: RRTMG datasets, a ResCNN trained and evaluated, exported (TorchScript, ONNX), called from the Fortran host.

    Online: the RCE host with the emulator beside RRTMG, one round of experience replay, a speed table against RRTMG.

    Gravity waves: Alexander-Dunkerton QBO data, a drag emulator, the QBO online beside the physics.
    """
    run_demo(out, columns=columns, workers=workers, epochs=epochs, quick=quick, echo=typer.echo,
             cli=lambda arguments: app(arguments, standalone_mode=False, prog_name="subgrid"))


def _report_errors_in_one_line(group: typer.Typer) -> None:
    """Wrap every command of ``group`` and its subgroups in :func:`~subgrid.cli.errors.one_line_errors`."""
    for command in group.registered_commands:
        command.callback = one_line_errors(command.callback)
    for subgroup in group.registered_groups:
        _report_errors_in_one_line(subgroup.typer_instance)


_report_errors_in_one_line(app)

if __name__ == "__main__":
    app()
