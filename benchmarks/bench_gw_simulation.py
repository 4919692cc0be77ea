"""Cost of the embedded gravity-wave dataset (subgrid generate gw-simulation) on this CPU, and where its fluxes are.

Wall seconds count whatever else shares the machine; CPU seconds (``time.process_time``) are this
process's own and are the figure to compare between runs on a loaded machine.

Runs :func:`subgrid.gravity_waves.gridded.simulation.generate_gw_simulation_dataset` (simulation + recipe) with
the given settings, times each stage, and reports seconds per model day, the total, and the
flux variance over/downstream of the mountains against the rest of the same latitude band
(the check that the targets come from simulated waves). Run it niced, one thread:

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/bench_gw_simulation.py --out benchmarks/results/gw_simulation_cpu.jsonl
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from _report import emit

from subgrid.gravity_waves.gridded.simulation import GWSimulationConfig, generate_gw_simulation_dataset


def flux_variance_ratio(ds: xr.Dataset, config: GWSimulationConfig) -> float:
    """Mean uw_flux variance (over time) within 20 degrees east of each mountain peak / elsewhere in 20-60 |lat|."""
    var = ds["uw_flux"].var("time").mean("level")
    lat, lon = np.meshgrid(ds["lat"].values, ds["lon"].values, indexing="ij")
    near = np.zeros_like(lat, dtype=bool)
    for m in config.mountains:
        dlon = (lon - m.lon_deg + 180.0) % 360.0 - 180.0
        near |= (np.abs(lat - m.lat_deg) <= max(m.lat_width_deg, 5.0)) & (dlon >= -m.lon_width_deg) & (dlon <= 20.0)
    band = (np.abs(lat) >= 20) & (np.abs(lat) <= 60)
    values = var.values
    return float(values[near & band].mean() / values[band & ~near].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", default=GWSimulationConfig.resolution)
    parser.add_argument("--levels", type=int, default=GWSimulationConfig.levels)
    parser.add_argument("--spinup-days", type=float, default=GWSimulationConfig.spinup_days)
    parser.add_argument("--record-days", type=float, default=GWSimulationConfig.record_days)
    parser.add_argument("--time-step-minutes", type=float, default=GWSimulationConfig.time_step_minutes)
    parser.add_argument("--control", action="store_true", help="No mountains, no heating.")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the dataset here.")
    parser.add_argument("--out", type=Path, default=None, help="Append the JSON line to this file.")
    args = parser.parse_args()
    extra = {"mountain_scale": 0.0, "heating_K_per_day": 0.0} if args.control else {}
    config = GWSimulationConfig(resolution=args.resolution, levels=args.levels, spinup_days=args.spinup_days,
                                record_days=args.record_days, time_step_minutes=args.time_step_minutes, **extra)
    stages: dict[str, float] = {}
    clock = {"t": time.perf_counter(), "cpu": time.process_time(), "stage": "simulate"}

    def progress(stage: str, done: int, total: int) -> None:
        if stage != clock["stage"]:
            now, cpu = time.perf_counter(), time.process_time()
            stages[clock["stage"]] = now - clock["t"]
            stages[clock["stage"] + "_cpu"] = cpu - clock["cpu"]
            clock.update(t=now, cpu=cpu, stage=stage)

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "gw_sim.zarr"
        start, start_cpu = time.perf_counter(), time.process_time()
        generate_gw_simulation_dataset(config, out, overwrite=True, progress=progress)
        total, total_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        stages.setdefault(clock["stage"], time.perf_counter() - clock["t"])
        ds = xr.open_zarr(out).load()
    days = config.spinup_days + config.outputs * config.output_interval_hours / 24
    emit({
        "benchmark": "gw_simulation", "variant": "control" if args.control else "forced",
        "command": "OMP_NUM_THREADS=1 nice -n 19 python benchmarks/bench_gw_simulation.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k in ("resolution", "levels", "spinup_days",
                                                                                    "record_days", "time_step_minutes")),
        "resolution": config.resolution, "levels": config.levels, "time_step_minutes": config.time_step_minutes,
        "model_days": days, "recorded_times": int(ds.sizes["time"]), "target": config.target,
        "simulate_s": stages.get("simulate", total), "fluxes_s": stages.get("fluxes", 0.0), "total_s": total,
        "simulate_cpu_s": stages.get("simulate_cpu", total_cpu), "total_cpu_s": total_cpu,
        "s_per_model_day": stages.get("simulate", total) / days,
        "cpu_s_per_model_day": stages.get("simulate_cpu", total_cpu) / days,
        "load_average_1min": os.getloadavg()[0],
        "uw_flux_rms_Pa": float(np.sqrt((ds["uw_flux"] ** 2).mean())),
        "vw_flux_rms_Pa": float(np.sqrt((ds["vw_flux"] ** 2).mean())),
        "uw_variance_ratio_near_mountains": flux_variance_ratio(ds, config),
        "threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
    }, args.out)


if __name__ == "__main__":
    main()
