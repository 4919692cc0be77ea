"""How predictable is a gridded gravity-wave flux target? Measured on the data, before any model trains.

Prints one JSON line per target (and appends it to ``--out``) with
:func:`subgrid.gravity_waves.gridded.predictability.target_predictability`: lag autocorrelation at the
record interval, |time mean| / rms, climatology R² and the linear column probe's R², for ``uw_flux``
and ``vw_flux`` on the levels with sigma <= ``--max-target-sigma``. The reference each line carries is
the climatology (``probe_minus_climatology_r2``: what the state adds beyond the time mean). ``--nonlinear``
adds the convolutional neighbourhood probe (``*_neighbourhood_probe_r2``), which sees the 5 x 5 boxes around each.

Two ways in:

* ``--train A.zarr --test B.zarr``: coarse datasets as the study writes them (``train.zarr``/``test.zarr``);
* ``--fields F.zarr`` (high-resolution fields, e.g. ``subgrid generate gw-simulation --fields-out``) with
  ``--recipe KIND:NLATxNLON@T`` (repeatable): the ERA5 recipe with that target grid and high-pass
  truncation, sampled every ``--every-hours`` (repeatable), the first ``--train-fraction`` of the record
  for fitting and the rest for testing;
* ``--data D.zarr``: one coarse dataset (``subgrid generate gw-simulation``), sampled and split the same way.

``--mean-hours H`` (repeatable) adds, for each record, the target averaged over H-hour windows with the
state at each window's centre (:func:`~subgrid.gravity_waves.gridded.predictability.window_mean_target`):
is a time-mean flux more predictable than the instantaneous one?

    OMP_NUM_THREADS=1 python benchmarks/bench_gw_predictability.py --train /tmp/gw_study/train.zarr \\
        --test /tmp/gw_study/test.zarr --label "study T31" --out benchmarks/results/gw_predictability_cpu.jsonl
    # hourly records of a branch of a spin-up: instantaneous, 6-hourly samples, 6/24/72-hour means
    subgrid generate gw-spinup --out spinA --resolution T31 --min-days 60 --max-days 60
    subgrid generate gw-simulation --out A_1h.zarr --resolution T31 --time-step-minutes 15 --spinup-days 5 \
        --days 40 --output-interval-hours 1 --target-grid gaussian:16x32 --truncation 15 --seed 101 --initial-state spinA
    OMP_NUM_THREADS=1 python benchmarks/bench_gw_predictability.py --data A_1h.zarr --every-hours 1 --every-hours 6 \
        --mean-hours 6 --mean-hours 24 --mean-hours 72 --nonlinear --label "T31 A" --out benchmarks/results/gw_predictability_cpu.jsonl
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import xarray as xr
from _report import emit

from subgrid.core.stores import open_store
from subgrid.gravity_waves.gridded.fluxes import gw_fluxes_from_fields
from subgrid.gravity_waves.gridded.predictability import (FLUXES, sigma_target_levels, split_record, target_predictability,
                                                           window_mean_target)


def _line(label: str, source: str, train: xr.Dataset, test: xr.Dataset, max_sigma: float, nonlinear: bool = False,
          **extra) -> dict:
    measured = target_predictability(train, test, sigma_target_levels(train, max_sigma), nonlinear=nonlinear)
    line = {"benchmark": "gw_predictability", "machine": platform.machine(), "label": label, "source": source,
            "train_times": int(train.sizes["time"]), "test_times": int(test.sizes["time"]),
            "lag_hours": measured["lag_hours"], "max_target_sigma": max_sigma, **extra}  # fmt: skip
    for flux in FLUXES:
        for key, value in measured[flux].items():
            line[f"{flux}_{key}"] = value
        line[f"{flux}_probe_minus_climatology_r2"] = measured[flux]["linear_probe_r2"] - measured[flux]["climatology_r2"]
    return line


def _records(coarse: xr.Dataset, every_hours: list[float], mean_hours: list[float]):
    """(extra line fields, dataset) for each sampling interval and each window mean of ``coarse``."""
    interval_h = float((coarse["time"].values[1] - coarse["time"].values[0]) / 3.6e12)
    for every in every_hours or [interval_h]:
        yield {"every_hours": every * 1.0}, coarse.isel(time=slice(0, None, max(1, round(every / interval_h))))
    for hours in mean_hours:
        yield {"target_mean_hours": hours * 1.0, "inputs": "the window's centre record"}, window_mean_target(coarse, hours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--fields", type=Path)
    parser.add_argument("--data", type=Path, help="One coarse dataset, split by --train-fraction.")
    parser.add_argument("--recipe", action="append", default=[], help="KIND:NLATxNLON@T, e.g. gaussian:16x32@15")
    parser.add_argument("--every-hours", type=float, action="append", default=[])
    parser.add_argument("--mean-hours", type=float, action="append", default=[], help="Also the target averaged over windows.")
    parser.add_argument("--train-fraction", type=float, default=0.6)
    parser.add_argument("--max-target-sigma", type=float, default=0.85)
    parser.add_argument("--label", default="")
    parser.add_argument("--nonlinear", action="store_true", help="Also the convolutional neighbourhood probe (~1 CPU-minute).")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.data is not None:
        coarse = open_store(args.data, what="data").load()
        for extra, record in _records(coarse, args.every_hours, args.mean_hours):
            emit(_line(args.label, str(args.data), *split_record(record, args.train_fraction), args.max_target_sigma,
                       args.nonlinear, target_grid=coarse.attrs.get("target_grid"), truncation=coarse.attrs.get("truncation"),
                       source_grid=coarse.attrs.get("source_grid"), **extra), args.out)  # fmt: skip
        return
    if args.fields is None:
        if args.train is None or args.test is None:
            parser.error("give --train and --test, or --fields with --recipe")
        train, test = open_store(args.train, what="train").load(), open_store(args.test, what="test").load()
        emit(_line(args.label, f"{args.train} / {args.test}", train, test, args.max_target_sigma, args.nonlinear,
                   target_grid=train.attrs.get("target_grid"), truncation=train.attrs.get("truncation"),
                   source_grid=train.attrs.get("source_grid")), args.out)  # fmt: skip
        return
    if not args.recipe:
        parser.error("--fields needs at least one --recipe")
    fields = open_store(args.fields, what="fields")
    for recipe in args.recipe:
        target, _, truncation = recipe.partition("@")
        coarse = gw_fluxes_from_fields(fields, target, int(truncation)).load()
        for extra, record in _records(coarse, args.every_hours, args.mean_hours):
            emit(_line(args.label, str(args.fields), *split_record(record, args.train_fraction), args.max_target_sigma,
                       args.nonlinear, target_grid=target, truncation=int(truncation),
                       source_grid=coarse.attrs.get("source_grid"), **extra), args.out)  # fmt: skip


if __name__ == "__main__":
    main()
