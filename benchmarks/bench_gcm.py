"""The 3-D GCM host with RRTMG and with an emulator from the same restart: seconds per model day, one thread.

Both runs start from ``--restart`` (a spun-up state) and run ``--days`` model days in this one
process, one after the other, on one torch thread (``OMP_NUM_THREADS=1``, ``NUMBA_NUM_THREADS=1``);
the first model day of each is a warm-up and is not timed (numba compiles the boundary layer's
kernel on its first call, the emulator warms up at its first batch sizes). Per run: wall seconds
per model day for the whole model and for each part (radiation, other physics, dynamics, budget
fixers), the radiation share, and, for a guarded emulator, the share of columns sent to RRTMG.
The summary line holds the ratios RRTMG / emulator, measured in this run.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_gcm.py --restart RUN/restarts/day_0090.00.pt \\
        --emulator ART [--days 3] [--no-guard] [--out benchmarks/results/gcm_cpu.jsonl]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import torch  # noqa: E402
from _report import emit  # noqa: E402

from subgrid.hosts.gcm.model import GCM  # noqa: E402
from subgrid.hosts.gcm.radiation import radiation_scheme  # noqa: E402
from subgrid.hosts.gcm.restart import load_restart, restart_config  # noqa: E402


def timed_run(restart: Path, radiation: str, days: float, guard: bool) -> dict:
    config = restart_config(restart)
    scheme = radiation_scheme(radiation, config, guard=guard)
    model = GCM(config, scheme)
    load_restart(model, restart)
    steps_per_day = int(round(config.steps_per_day))
    for _ in range(steps_per_day):  # warm-up day
        model.step()
    before = dict(model.timers.seconds)
    counts = getattr(scheme, "counts", None)
    columns_before = (counts.columns, counts.fallback_columns) if counts is not None else None
    start = time.perf_counter()
    for _ in range(int(round(days * steps_per_day))):
        model.step()
    wall = (time.perf_counter() - start) / days
    parts = {f"{part}_s_per_day": (model.timers.seconds[part] - before[part]) / days for part in before}
    result = {"radiation": "rrtmg" if radiation == "rrtmg" else "emulator", "wall_s_per_day": wall, **parts,
              "radiation_share": parts["radiation_s_per_day"] / wall}  # fmt: skip
    if columns_before is not None:
        result["columns_to_rrtmg_fraction"] = ((counts.fallback_columns - columns_before[1])
                                               / max(1, counts.columns - columns_before[0]))  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restart", type=Path, required=True)
    parser.add_argument("--emulator", required=True, help="Exported emulator directory.")
    parser.add_argument("--days", type=float, default=3.0, help="Timed model days per run (after a warm-up day).")
    parser.add_argument("--no-guard", action="store_true", help="Run the emulator without its OOD guard.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    common = {"benchmark": "gcm", "host": platform.node(), "cpu_threads": torch.get_num_threads(),
              "resolution": restart_config(args.restart).resolution, "levels": restart_config(args.restart).levels,
              "days": args.days, "restart": str(args.restart), "emulator": str(args.emulator),
              "guard": not args.no_guard}  # fmt: skip
    physics = timed_run(args.restart, "rrtmg", args.days, guard=False)
    emit({**common, **physics}, args.out)
    emulated = timed_run(args.restart, args.emulator, args.days, guard=not args.no_guard)
    emit({**common, **emulated}, args.out)
    emit({**common, "summary": True,
          "ratio_radiation_speedup": physics["radiation_s_per_day"] / emulated["radiation_s_per_day"],
          "ratio_model_speedup": physics["wall_s_per_day"] / emulated["wall_s_per_day"],
          "columns_to_rrtmg_fraction": emulated.get("columns_to_rrtmg_fraction")}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
