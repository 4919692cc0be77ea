"""RRTMG LW and SW throughput (columns/s, 60 levels, one process) of subgrid's batched path.

Reference measured in the same run on the same columns: climt's own sympl ``__call__`` (per-call
state building and unit conversion). Prints one JSON line per McICA setting; ``ratio`` = our LW+SW
columns/s over the reference's for one batched call, ``ratio_batch1`` the same for one column per
call (where per-call overhead matters). LW and SW are separated by running the same columns once all at night (LW only;
SW is skipped for night columns) and once all by day.

    python benchmarks/bench_rrtmg.py [--columns 2000] [--repeats 3] [--out benchmarks/results/rrtmg_cpu.jsonl]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from _report import emit  # noqa: E402

from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns  # noqa: E402
from subgrid.physics import rrtmg  # noqa: E402
from subgrid.physics.schema import RADIATION_INPUTS  # noqa: E402


def _best_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n_columns: int, repeats: int, mcica: bool) -> dict:
    columns = sample_columns(n_columns, np.random.default_rng(2024), ColumnSamplerConfig(n_levels=60))
    arrays = {name: columns[name].values for name in RADIATION_INPUTS}
    if not mcica:  # SW without McICA aborts on partial clouds: make them binary
        arrays["cloud_fraction"] = np.where(arrays["cloud_fraction"] >= 0.5, 1.0, 0.0)
    config = rrtmg.RRTMGConfig(mcica=mcica)
    night = dict(arrays, cos_solar_zenith_angle=np.full(n_columns, -0.5))
    day = dict(arrays, cos_solar_zenith_angle=np.clip(np.abs(arrays["cos_solar_zenith_angle"]), 0.05, 1.0))
    rrtmg.radiative_transfer_arrays(day, config)  # build components, warm caches

    lw_seconds = _best_seconds(lambda: rrtmg.radiative_transfer_arrays(night, config), repeats)
    both_seconds = _best_seconds(lambda: rrtmg.radiative_transfer_arrays(day, config), repeats)
    sw_seconds = max(both_seconds - lw_seconds, 1e-9)

    state = rrtmg.sympl_state(day, config)
    longwave, shortwave = rrtmg._components(config)

    def sympl_call() -> None:
        longwave(state)
        shortwave(state)

    reference_seconds = _best_seconds(sympl_call, repeats)

    # One column per call, as a host calling radiation column by column: per-call overhead shows.
    single = {name: value[:1] for name, value in day.items()}
    single_state = rrtmg.sympl_state(single, config)
    calls = 50
    single_seconds = _best_seconds(
        lambda: [rrtmg.radiative_transfer_arrays(single, config) for _ in range(calls)], repeats
    )
    single_reference = _best_seconds(lambda: [(longwave(single_state), shortwave(single_state)) for _ in range(calls)], repeats)
    return {
        "mcica": mcica,
        "lw_columns_per_s": n_columns / lw_seconds,
        "sw_columns_per_s": n_columns / sw_seconds,
        "lw_sw_ms_per_column": 1e3 * both_seconds / n_columns,
        "reference_sympl_lw_sw_ms_per_column": 1e3 * reference_seconds / n_columns,
        "ratio": reference_seconds / both_seconds,
        "batch1_lw_sw_ms_per_call": 1e3 * single_seconds / calls,
        "reference_sympl_batch1_ms_per_call": 1e3 * single_reference / calls,
        "ratio_batch1": single_reference / single_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mcica", choices=["on", "off", "both"], default="both")
    parser.add_argument("--out", type=Path, default=None, help="Also append the JSON line to this file.")
    args = parser.parse_args()
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.mcica]
    for mcica in modes:
        result = {
            "benchmark": "rrtmg_throughput",
            "levels": 60,
            "columns": args.columns,
            "threads": 1,
            "machine": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            **measure(args.columns, args.repeats, mcica),
            "reference": "climt sympl __call__ (LW+SW) on the same columns",
        }
        emit(result, args.out)


if __name__ == "__main__":
    main()
