"""Radiation emulators online in the RCE host: survival, drift and radiation time against RRTMG, and replay.

Variants (issue 5's acceptance):

* ``ten-day``: ``--emulator`` (an exported artifact) and RRTMG side by side from 50 initial states
  (20 % extreme), 10 days; ``ten-day-guard`` the same with the out-of-distribution guard on.
* ``ten-day-mcica``: the yardstick of ``ten-day``: RRTMG with another McICA seed (its sub-grid cloud sampling,
  random on every call) against RRTMG on the same 50 cases: the drift the physics' own noise gives, which no
  emulator's drift can be told from.
* ``year``: 64 cases for 365 days (seasonal and diurnal cycles).
* ``replay-tiny``: the mechanism exercised on an emulator that does fail: a ResCNN of width 8 and
  depth 2 trained for 10 epochs on 2 000 columns, experience replay over 64 cases of 30 days
  (at most ``--rounds`` rounds, the replay command's default fine-tuning), one line per round.

Each line holds survivors (emulator and physics), the mass-weighted temperature RMSE against the
physics run at day 10 and at the end, the surface-temperature difference averaged over the last
30 days, and the wall time of the radiation part of each run, with their ratio
(``ratio_radiation_speedup`` = RRTMG / emulator, both measured in the same run).

    python benchmarks/bench_rce_online.py --emulator ART --workdir bench_runs/rce \\
        --variants ten-day year replay-tiny [--out benchmarks/results/rce_online_cpu.jsonl]

``--case-seed`` draws the cases of the online variants (ten-day, year and the yardstick) with another seed than
the default 101, for a second set of cases no emulator was chosen on; each line records its ``case_seed``.

Runs checkpoint into ``--workdir`` and resume, so an interrupted benchmark (or one re-run for its
lines) does not recompute finished runs; each online run's directory is named by the variant and a hash
of the artifact's ``emulator.json`` and ``guard.json``, so a recalibrated guard is a new run, never a
resumed old one. Run it with ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from _report import emit

from subgrid.radiation.dataset import RadiationDatasetConfig, generate_radiation_dataset
from subgrid.hosts.rce.comparison import compare_online
from subgrid.hosts.rce.config import RCEConfig
from subgrid.hosts.rce.online import (
    emulator_identity,
    fine_tuning_config,
    online_cases,
    online_radiation,
    replay_radiation,
    sampler_settings,
    write_online_results,
)
from subgrid.physics.rrtmg import RRTMG
from subgrid.radiation.emulator import Emulator
from subgrid.radiation.training import RadiationTrainingConfig, load_emulator, train_radiation

CASE_SEED = 101  # the seed of the online cases every earlier line was measured on
ONLINE = {"ten-day": (50, 10.0, False), "ten-day-guard": (50, 10.0, True), "year": (64, 365.0, False)}
TINY = RadiationTrainingConfig(model="rescnn", model_options={"width": 8, "depth": 2}, epochs=10, batch_size=128,
                               learning_rate=2e-3, flux_loss_weight=10.0, early_stopping_patience=200, seed=0)  # fmt: skip


def _run_tag(artifact: Path, ood_guard: bool) -> str:
    """A short hash of the online test's identity (:func:`emulator_identity`: sidecar, guard, guard on/off)."""
    return hashlib.sha256(json.dumps(emulator_identity(artifact, ood_guard), sort_keys=True).encode()).hexdigest()[:10]


def _guard(artifact: Path, on: bool) -> str | None:
    """Which guard a run had: the calibrated one's version, target and threshold, or min/max."""
    if not on:
        return None
    if not (artifact / "guard.json").is_file():
        return "min/max (training range)"
    record = json.loads((artifact / "guard.json").read_text())
    return (f"calibrated v{record['version']}, target {record['target_rmse_K_day']} K/day, "
            f"threshold {record['threshold_K_day']:.3f} K/day")


def _line(variant: str, entry: dict, extra: dict) -> dict:
    wall = entry["radiation_wall_s_after_first_call"]
    return {
        "benchmark": "rce_online",
        "variant": variant,
        **extra,
        "cases": entry.get("cases"),
        "days": entry.get("days"),
        "emulator_survived": entry["emulator_survived"],
        "physics_survived": entry["physics_survived"],
        "temperature_rmse_day_10_K": entry["temperature_rmse_day_10_K"]["mean"],
        "temperature_rmse_last_K": entry["temperature_rmse_last_K"]["mean"],
        "surface_temperature_abs_difference_final_30_days_K": entry["surface_temperature_abs_difference_final_30_days_K"]["mean"],
        "radiation_wall_s_emulator": wall["emulator"],
        "radiation_wall_s_rrtmg": wall["physics"],
        "ratio_radiation_speedup": entry["radiation_speedup_wall"],
    }


def _replay_tiny(workdir: Path, rounds: int, out: Path | None) -> None:
    data = workdir / "tiny_2000.zarr"
    if not data.exists():
        generate_radiation_dataset(data, RadiationDatasetConfig(n_columns=2000, seed=23, chunk_size=500), workers=1,
                                   progress=False)  # fmt: skip
    run = workdir / "tiny_run"
    if not (run / "model.safetensors").exists():
        train_radiation(data, run, TINY, progress=False)
    _, description = load_emulator(run)
    config = RCEConfig(days=30.0)
    states = online_cases(64, sampler_settings(description), config=config)
    start = time.perf_counter()
    report = replay_radiation(data, run, states, workdir / "replay_tiny", config=config, rounds=rounds,
                              fine_tune=fine_tuning_config(run), fmt="onnx", ood_guard=False, progress=False)  # fmt: skip
    for entry in report.rounds:
        emit(_line("replay-tiny", {**entry, "cases": 64, "days": 30.0},
                   {"round": entry["round"], "harvested": entry.get("harvested"),
                    "replay_wall_s": time.perf_counter() - start}), out)  # fmt: skip


def _run_dir(workdir: Path, variant: str, tag: str, case_seed: int) -> Path:
    """The run directory of a variant: the default cases' keeps its old name (so earlier runs resume)."""
    return workdir / (f"{variant}_{tag}" if case_seed == CASE_SEED else f"{variant}_seed{case_seed}_{tag}")


def _mcica_yardstick(artifact: Path, workdir: Path, out: Path | None, case_seed: int) -> None:
    """``ten-day-mcica``: RRTMG (McICA seed start 1) in place of the emulator, against RRTMG (seed start 0), on
    ``ten-day``'s cases (drawn with ``artifact``'s training sampler, as there) and with its RRTMG settings."""
    cases, days, _ = ONLINE["ten-day"]
    loaded = Emulator.load(artifact, ood_guard=False)
    config = RCEConfig(days=days)
    states = online_cases(cases, sampler_settings(loaded.sidecar["model"]), seed=case_seed, config=config)
    physics = RRTMG(loaded.rrtmg_config)
    run_dir = _run_dir(workdir, "ten-day-mcica", _run_tag(artifact, False), case_seed)
    comparison = compare_online(states, RRTMG(loaded.rrtmg_config, seed=physics.seed + 1), physics, config,
                                checkpoint_dir=run_dir / "checkpoints", progress=False)  # fmt: skip
    report = write_online_results(comparison, states, run_dir, title="RRTMG (McICA seed 1) vs RRTMG (seed 0)")
    emit(_line("ten-day-mcica", report,
               {"emulator": f"RRTMG with McICA seed {physics.seed + 1} (cases of {artifact})", "ood_guard": False,
                "guard": None, "fallback_columns": None, "case_seed": case_seed}), out)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", type=Path, help="Exported emulator of the online variants.")
    parser.add_argument("--workdir", type=Path, default=Path("bench_runs/rce"))
    parser.add_argument("--variants", nargs="+", default=["ten-day", "year", "replay-tiny"],
                        choices=[*ONLINE, "ten-day-mcica", "replay-tiny"])  # fmt: skip
    parser.add_argument("--rounds", type=int, default=6, help="Round limit of replay-tiny.")
    parser.add_argument("--case-seed", type=int, default=CASE_SEED,
                        help=f"Seed of the online variants' cases (default {CASE_SEED}).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for variant in args.variants:
        if variant == "replay-tiny":
            _replay_tiny(args.workdir, args.rounds, args.out)
            continue
        if args.emulator is None:
            parser.error(f"--emulator is needed for {variant}")
        if variant == "ten-day-mcica":
            _mcica_yardstick(args.emulator, args.workdir, args.out, args.case_seed)
            continue
        cases, days, guard = ONLINE[variant]
        # another guard.json or other cases: another run
        run_dir = _run_dir(args.workdir, variant, _run_tag(args.emulator, guard), args.case_seed)
        report = online_radiation(args.emulator, run_dir, cases=cases, days=days, seed=args.case_seed, ood_guard=guard,
                                  progress=False)  # fmt: skip
        emit(_line(variant, report, {"emulator": str(args.emulator), "ood_guard": guard, "guard": _guard(args.emulator, guard),
                                     "fallback_columns": report["emulator_fallback_columns"],
                                     "case_seed": args.case_seed}), args.out)  # fmt: skip


if __name__ == "__main__":
    main()
