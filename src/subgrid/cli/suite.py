"""Command-line layer of the generalisation suite (thin over :mod:`subgrid.radiation.shifted_sets` and
:mod:`subgrid.radiation.generalization`): ``subgrid generate suite`` and ``subgrid evaluate --suite``."""

from __future__ import annotations

from pathlib import Path

import typer

from subgrid.core.errors import InputError
from subgrid.core.stores import expand_dataset_directories
from subgrid.radiation.shifted_sets import SHIFTED_SETS


def _hosts(entries: list[str]) -> dict[str, str]:
    """``--hosts NAME=FILE`` (or ``FILE``, named by its stem) as a mapping."""
    hosts = {}
    for entry in entries:
        name, sep, path = entry.rpartition("=")
        name = name.strip() if sep else Path(entry).stem.removesuffix(".zarr")
        if name in hosts:
            raise InputError(f"--hosts {entry!r}: a second host set named {name!r}; name them NAME=FILE")
        hosts[name] = path if sep else entry
    return hosts


def generate_suite_command(
    out: Path = typer.Option(..., "--out", help="Suite directory: one NAME.zarr per set; finished sets are kept."),
    columns: int = typer.Option(500, "--columns", min=1, help="Columns per set (host sets: at most this many)."),
    sets: str = typer.Option(None, "--sets", help=f"Comma-separated names (default all): {', '.join(SHIFTED_SETS)}."),
    hosts: list[str] = typer.Option(
        [], "--hosts", help="[NAME=]FILE: a host's columns (netCDF or zarr in the schema, e.g. from `subgrid gcm "
        "columns`) as set host_NAME (NAME: the file's stem); repeatable."),
    like: Path = typer.Option(
        None, "--like", help="Training dataset (zarr) or run directory whose sampler and RRTMG settings the sets take "
        "(default: those of `subgrid generate radiation`)."),
    levels: int = typer.Option(None, "--levels", min=2, help="Layers of the base grid without --like (default 60)."),
    seed: int = typer.Option(1000, "--seed", min=0, help="Seed of the sampled columns and the shifts: one the training "
                             "data did not use."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace sets made with other settings (subgrid's only)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Generate the generalisation suite: named sets of shifted columns (another seed, +4 K, CO2 and ozone outside the
    training ranges, other grids, high ground, perturbed standard atmospheres, host states), labelled by RRTMG."""
    from dataclasses import replace

    from subgrid.radiation.shifted_sets import SuiteConfig, generate_suite

    settings = {"n_columns": columns, "seed": seed, "hosts": _hosts(hosts)}
    if sets is not None:
        settings["sets"] = tuple(name.strip() for name in sets.split(",") if name.strip())
    if like is not None and levels is not None:
        raise InputError("--levels: the base grid comes from --like; give one of them")
    config = SuiteConfig.like(like, **settings) if like is not None else SuiteConfig(**settings)
    if levels is not None:
        config = replace(config, sampler=replace(config.sampler, n_levels=levels))
    report = generate_suite(out, config, overwrite=overwrite, progress=progress)
    typer.echo(f"{out}: {len(report.written)} set(s) written ({', '.join(report.written) or 'none'}), "
               f"{len(report.skipped)} already there ({', '.join(report.skipped) or 'none'})")  # fmt: skip


def evaluate_suite_command(run: Path, suite: Path, out: Path | None, results: Path | None) -> None:
    """``subgrid evaluate --run RUN --suite DIR``: the table of every set, printed and written."""
    from subgrid.radiation.generalization import evaluate_suite

    evaluation = evaluate_suite(run, suite, out=out, results=results)
    typer.echo(evaluation["table"])
    appended = f"; {len(evaluation['rows'])} lines appended to {results}" if results else ""
    typer.echo(f"wrote {evaluation['output_directory']}/comparison.md and suite_metrics.json{appended}")


def calibrate_guard_command(
    artifact: Path = typer.Option(..., "--artifact", help="Exported emulator directory; guard.json is written into it."),
    run: Path = typer.Option(..., "--run", help="The training run the artifact was exported from."),
    data: list[Path] = typer.Option(
        ..., "--data", help="Labelled calibration dataset (zarr), or a directory of them (a `generate grids` family): "
        "held-out columns, a `--sets stress` set, other grids; never the test sets (repeatable)."),
    target: float = typer.Option(0.5, "--target-rmse", help="Heating RMSE (K/day, LW and SW) the kept calibration "
                                 "columns must stay below."),
    max_columns: int = typer.Option(20000, "--max-columns", min=100, help="Columns used per dataset at most."),
) -> None:
    """Calibrate the error-predicting guard of an exported emulator: a score from how far each column's inputs lie
    from the training data, fitted to the emulator's actual errors, and the threshold above which columns go to
    RRTMG (replaces the min/max guard)."""
    from subgrid.radiation.calibration import calibrate_guard

    record = calibrate_guard(artifact, run, expand_dataset_directories(data), target_rmse_K_day=target,
                             max_columns=max_columns)
    c = record["calibration"]

    def rmse(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    typer.echo(f"{artifact}/guard.json: threshold {record['threshold_K_day'] or 0:.3f} K/day predicted column error; "
               f"on {c['columns']} calibration columns {100 * c['sent_fraction']:.1f} % sent to RRTMG, kept LW/SW "
               f"heating RMSE {rmse(c['kept_lw_heating_rmse_K_day'])}/{rmse(c['kept_sw_heating_rmse_K_day'])} K/day "
               f"(all: {rmse(c['all_lw_heating_rmse_K_day'])}/{rmse(c['all_sw_heating_rmse_K_day'])}); "
               f"correlation of predicted and actual log error {c['log_error_correlation']:.2f}")  # fmt: skip
    binding = max(c["data"], key=lambda d: d["sent_fraction_alone"])
    if binding["sent_fraction_alone"] > 0:  # say which dataset the every-dataset rule answers to, and why
        typer.echo(f"the every-dataset rule is set by {binding['path']} (emulator LW/SW heating RMSE there "
                   f"{rmse(binding['all_lw_heating_rmse_K_day'])}/{rmse(binding['all_sw_heating_rmse_K_day'])} K/day; "
                   f"for it alone {100 * binding['sent_fraction_alone']:.1f} % of the columns are sent, "
                   f"{100 * binding['sent_fraction']:.1f} % of its own)")  # fmt: skip
