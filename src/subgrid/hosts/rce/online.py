"""Radiation emulators online in the RCE host: side-by-side tests against RRTMG and the experience-replay loop.

* :func:`online_cases` samples the initial states of the cases: columns from the training data's
  sampler, a fraction of them pushed to the edges of the training range
  (:func:`~subgrid.hosts.rce.initial_state.extreme_initial_states`).
* :func:`online_radiation` runs an exported emulator (:class:`~subgrid.radiation.emulator.Emulator`)
  and RRTMG (the training data's settings) from the same states
  (:func:`~subgrid.hosts.rce.comparison.compare_online`) and writes the comparison:
  ``online.json`` (summary and per case), ``metrics.zarr`` (drift against time) and ``drift.png``.
* :func:`replay_radiation` is experience replay (the seed study's remedy for an emulator that is
  accurate offline and crashes online): export the run, run the cases, harvest the states before
  each crash and the ones the OOD guard flagged, label them with RRTMG
  (:mod:`~subgrid.hosts.rce.replay`), fine-tune the run on the training data plus every round's
  replay set (:func:`~subgrid.radiation.training.train_radiation` with ``init_from`` and
  ``extra_data``), re-export, rerun; until every case the physics survives also survives with the
  emulator, or a round limit. ``replay.json`` reports each round.

Layout of a replay directory::

    OUT/replay.json           settings and one entry per round (rewritten after each round)
    OUT/cases.zarr            the initial states (every column a case)
    OUT/round_K/run/          the run of round K (K >= 1: fine-tuned from round K-1's run)
    OUT/round_K/artifact/     its export
    OUT/round_K/online/       checkpoints of the physics and emulator runs
    OUT/round_K/online.json, metrics.zarr, drift.png   the round's online comparison
    OUT/round_K/replay.zarr   its harvested states, labelled by RRTMG (if the emulator crashed)
    OUT/round_K/round.json    written last: the round is complete

Every file is written under a temporary name and renamed. An interrupted replay resumes when
called again with the same arguments: complete rounds are kept, an interrupted fine-tune resumes
from its checkpoint, and the physics run (the same in every round) is computed once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

import subgrid
from subgrid.core.chunked import write_zarr_atomic
from subgrid.core.contract import Parameterization
from subgrid.core.errors import InputError
from subgrid.core.stores import write_text_atomic
from subgrid.hosts.rce.comparison import OnlineComparison, compare_online, plot_online_drift
from subgrid.hosts.rce.config import SOLAR_DESCRIPTORS, RCEConfig
from subgrid.hosts.rce.initial_state import EXTREME_KINDS, extreme_initial_states
from subgrid.hosts.rce.replay import (
    REPLAY_ORIGINS,
    OODRecorder,
    harvest_replay_states,
    label_with_rrtmg,
    write_replay_dataset,
)
from subgrid.physics.rrtmg import RRTMG, to_surface_first
from subgrid.physics.schema import RADIATION_INPUTS
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.radiation.emulator import Emulator
from subgrid.radiation.export import export_run, file_sha256
from subgrid.radiation.guard import GUARD_FILE
from subgrid.radiation.training import RadiationTrainingConfig, sampler_settings, train_radiation
from subgrid.radiation.replay_data import fine_tuning_config
from subgrid.radiation.training_data import open_radiation_dataset

#: ``case_kind`` codes of :func:`online_cases` (index = code).
CASE_KINDS = ("sampled", *EXTREME_KINDS)
#: Artifact formats the loop can export to (both run in :class:`~subgrid.radiation.emulator.Emulator`).
FORMATS = ("torchscript", "onnx")
#: A trained radiation emulator of this host, with its guard, to couple without training one (``subgrid online
#: radiation --emulator`` this path); ``assets/README.md`` says what it is, how well it does and how to remake it.
SHIPPED_RCE_EMULATOR = Path(__file__).parent / "assets" / "emulator_rce"

#: How a loaded emulator enters the host: given it and the scheme the host would run (the
#: emulator itself, or with the OOD guard on its :meth:`~subgrid.radiation.emulator.Emulator.guarded`
#: version inside an :class:`~subgrid.hosts.rce.replay.OODRecorder`), the scheme the host runs
#: (e.g. a limiter; a planted failure in tests).
Couple = Callable[[Emulator, Parameterization], Parameterization]


# --------------------------------------------------------------------------------------------
# Cases



def online_cases(
    n_cases: int,
    sampler: ColumnSamplerConfig,
    *,
    extreme_fraction: float = 0.2,
    seed: int = 101,
    config: RCEConfig = RCEConfig(),
) -> xr.Dataset:
    """Initial states of ``n_cases`` online cases (one column each), surface first.

    Columns are drawn by :func:`~subgrid.radiation.columns.sample_columns` with ``sampler`` (use the
    training data's, :func:`sampler_settings`, and a ``seed`` other than the training data's);
    the last ``round(extreme_fraction * n_cases)`` are made extreme by
    :func:`~subgrid.hosts.rce.initial_state.extreme_initial_states`, kinds in turn. Adds ``case_kind``
    (:data:`CASE_KINDS` codes).
    """
    if not isinstance(n_cases, int) or n_cases < 1:
        raise InputError(f"cases: must be an integer >= 1, got {n_cases!r}")
    if not 0.0 <= extreme_fraction <= 1.0:
        raise InputError(f"extreme_fraction: must be in [0, 1], got {extreme_fraction!r}")
    rng = np.random.default_rng(seed)
    sampled, _ = to_surface_first(sample_columns(n_cases, rng, sampler))
    n_extreme = round(extreme_fraction * n_cases)
    kinds = np.zeros(n_cases, dtype=np.int8)
    if n_extreme:
        extreme = extreme_initial_states(sampled.isel(column=slice(n_cases - n_extreme, None)), rng, config=config)
        kinds[n_cases - n_extreme :] = 1 + extreme["extreme_kind"].values
        sampled = xr.concat([sampled.isel(column=slice(0, n_cases - n_extreme)), extreme.drop_vars("extreme_kind")],
                            "column", data_vars="all", join="exact")  # fmt: skip
    cases = sampled.assign(case_kind=("column", kinds, {
        "flag_values": np.arange(len(CASE_KINDS), dtype=np.int8), "flag_meanings": " ".join(CASE_KINDS)}))  # fmt: skip
    cases.attrs = {**cases.attrs, "vertical_order": "surface_first", "case_seed": seed,
                   "extreme_fraction": extreme_fraction}  # fmt: skip
    return cases


def _cases_fingerprint(cases: xr.Dataset) -> str:
    ordered, _ = to_surface_first(cases)
    digest = hashlib.sha256()
    for name in sorted(set(RADIATION_INPUTS) | set(SOLAR_DESCRIPTORS)):
        if name in ordered:
            digest.update(name.encode() + np.ascontiguousarray(ordered[name].values, dtype=float).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Writing results (atomically)


def _write_json(data: dict, path: Path) -> None:
    write_text_atomic(path, json.dumps(data, indent=2))


def _number(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def online_report(comparison: OnlineComparison, cases: xr.Dataset) -> dict:
    """The comparison's JSON-ready summary with one entry per case (kind, survival, drift at the end)."""
    m = comparison.metrics
    kinds = cases["case_kind"].values if "case_kind" in cases else np.zeros(cases.sizes["column"], dtype=int)
    per_case = [
        {
            "case": case,
            "kind": CASE_KINDS[int(kinds[case])],
            "latitude": float(cases["latitude"].values[case]),
            "physics_survived": bool(m["physics_survived"].values[case]),
            "emulator_survived": bool(m["emulator_survived"].values[case]),
            "emulator_crash_time_days": _number(m["emulator_crash_time_days"].values[case]),
            "temperature_rmse_last_K": _number(m["temperature_rmse_last_K"].values[case]),
            "surface_temperature_difference_last_K": _number(m["surface_temperature_difference_last_K"].values[case]),
        }
        for case in range(cases.sizes["column"])
    ]
    failed = [c["case"] for c in per_case if c["physics_survived"] and not c["emulator_survived"]]
    return {
        **comparison.summary,
        "survivors": f"{comparison.summary['emulator_survived']}/{comparison.summary['cases']}",
        # Cases the physics runs through and the emulator does not: what replay has to fix.
        "failed_cases": failed,
        "per_case": per_case,
    }


def write_online_results(
    comparison: OnlineComparison, cases: xr.Dataset, out: str | Path, *, info: Mapping | None = None, title: str = ""
) -> dict:
    """``OUT/online.json`` (:func:`online_report` plus ``info``), ``OUT/metrics.zarr`` and ``OUT/drift.png`` (``title``)."""
    out, info = Path(out), dict(info or {})
    out.mkdir(parents=True, exist_ok=True)
    report = {**info, **online_report(comparison, cases), "subgrid_version": subgrid.__version__}
    metrics = comparison.metrics.assign(
        emulator_survived=comparison.metrics["emulator_survived"].astype(np.int8),
        physics_survived=comparison.metrics["physics_survived"].astype(np.int8),
    )
    if "case_kind" in cases:
        metrics["case_kind"] = cases["case_kind"].variable
    write_zarr_atomic(metrics, out / "metrics.zarr")
    figure = plot_online_drift(comparison, title=title)
    tmp = out / f".drift.png.tmp-{os.getpid()}"
    figure.savefig(tmp, format="png", dpi=90)
    os.replace(tmp, out / "drift.png")
    _write_json(report, out / "online.json")
    return report


# --------------------------------------------------------------------------------------------
# One online test


def _host_radiation(
    emulator: Emulator, ood_guard: bool, couple: Couple | None
) -> tuple[Parameterization, OODRecorder | None]:
    recorder = OODRecorder(emulator.guarded()) if ood_guard else None
    radiation = recorder if recorder is not None else emulator
    return (couple(emulator, radiation) if couple is not None else radiation), recorder


def online_radiation(
    emulator: str | Path,
    out: str | Path,
    *,
    cases: int = 8,
    days: float = 10.0,
    extreme_fraction: float = 0.2,
    seed: int = 101,
    config: RCEConfig = RCEConfig(),
    ood_guard: bool = True,
    threads: int | None = 1,
    progress: bool = True,
) -> dict:
    """Online test of an exported emulator: ``cases`` runs of ``days`` with it and with RRTMG, side by side.

    Cases come from :func:`online_cases` with the training data's sampler; RRTMG runs with the
    training data's settings (the artifact's fallback scheme). With ``ood_guard`` the emulator runs
    guarded (:meth:`~subgrid.radiation.emulator.Emulator.guarded`): columns outside the training
    range, and columns whose emulated output is not finite, are computed by RRTMG (counted in the
    report). ``config`` sets the host,
    its ``days`` replaced by ``days``; ``threads``: the emulator runtime's (for TorchScript,
    process-wide). Writes :func:`write_online_results` to ``out`` and checkpoints to
    ``out/checkpoints`` (an interrupted test resumes from them); returns the report.
    """
    out = Path(out)
    # The host crashes a column whose radiation is not finite (or the guard sends it to RRTMG): get NaN back.
    loaded = Emulator.load(emulator, threads=threads, ood_guard=ood_guard, non_finite="return")
    config = replace(config, days=days)
    states = online_cases(cases, sampler_settings(loaded.sidecar["model"]), extreme_fraction=extreme_fraction,
                          seed=seed, config=config)  # fmt: skip
    radiation = loaded.guarded() if ood_guard else loaded
    _claim_checkpoints(out / "checkpoints", emulator, ood_guard)
    comparison = compare_online(states, radiation, RRTMG(loaded.rrtmg_config), config,
                                checkpoint_dir=out / "checkpoints", progress=progress)  # fmt: skip
    info = {
        "emulator": str(Path(emulator).resolve()),
        "format": loaded.format,
        "model": loaded.sidecar["model"].get("model"),
        "ood_guard": ood_guard,
        "case_seed": seed,
        "extreme_fraction": extreme_fraction,
        "rce_settings": config.to_dict(),
    }
    title = (f"{loaded.sidecar['model'].get('model')} emulator vs RRTMG: "
             f"{comparison.summary['emulator_survived']}/{cases} cases survived {days:g} days")  # fmt: skip
    return write_online_results(comparison, states, out, info=info, title=title)


def emulator_identity(emulator: str | Path, ood_guard: bool) -> dict:
    """What an online test's radiation is: the sha256 of the artifact's ``emulator.json`` and ``guard.json``, and
    whether the guard is on."""
    files = {name: file_sha256(Path(emulator) / name) for name in ("emulator.json", GUARD_FILE)
             if (Path(emulator) / name).is_file()}  # fmt: skip
    return {"ood_guard": ood_guard, "sha256": files}


def _claim_checkpoints(checkpoints: Path, emulator: str | Path, ood_guard: bool) -> None:
    """Tie ``checkpoints`` to this emulator, its guard and ``ood_guard``; refuse those of another.

    A run checkpoint knows its cases and host settings, not the radiation that ran it: without this,
    an online test into the ``out`` of an earlier one (another artifact, a recalibrated guard.json)
    would resume, and report, the earlier emulator's run.
    """
    identity = emulator_identity(emulator, ood_guard)
    marker = checkpoints / "emulator_identity.json"
    if marker.exists() and json.loads(marker.read_text()) != identity:
        raise InputError(f"{checkpoints.parent}: holds an online test of another emulator, guard or --ood-guard "
                         "setting; choose another --out")
    checkpoints.mkdir(parents=True, exist_ok=True)
    _write_json(identity, marker)


# --------------------------------------------------------------------------------------------
# Experience replay


@dataclass
class ReplayReport:
    """Where the replay wrote its report, each round's entry, and the final run and artifact."""

    path: Path
    rounds: list[dict]
    all_survived: bool
    final_run: Path
    final_artifact: Path


def _round_summary(entry: Mapping) -> dict:
    keys = ("round", "survivors", "emulator_survived", "physics_survived", "temperature_rmse_last_K",
            "temperature_rmse_day_10_K", "surface_temperature_abs_difference_last_K",
            "surface_temperature_abs_difference_final_30_days_K", "radiation_wall_s_after_first_call", "radiation_speedup_wall")  # fmt: skip
    return {k: entry[k] for k in keys}


def _fine_tune_entry(run: Path) -> dict:
    description = json.loads((run / "model.json").read_text())
    return {
        "init_from": description["init_from"],
        "extra_data": [{"path": e["path"], "columns": e["columns"]} for e in description["extra_data"]],
        "extra_data_repeats": description["extra_data_repeats"],
        "epochs": description["trained_epochs"],
        "best_val_loss": description["best_val_loss"],
    }


def _copy_atomic(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


@dataclass(frozen=True)
class _Replay:
    """What every round of :func:`replay_radiation` shares."""

    data: Path
    initial_states: xr.Dataset
    config: RCEConfig
    fine_tune: RadiationTrainingConfig
    fmt: str
    ood_guard: bool
    threads: int | None
    couple: Couple | None
    training_threads: int
    progress: bool

    def fine_tuned(self, here: Path, previous: Path, replay_sets: list[Path]) -> tuple[Path, dict]:
        """``HERE/run``: ``previous`` fine-tuned on the data and ``replay_sets`` (an interrupted fine-tune resumes)."""
        run = here / "run"
        if not (run / "model.safetensors").exists():
            torch.set_num_threads(self.training_threads)
            train_radiation(self.data, run, self.fine_tune, init_from=previous, extra_data=replay_sets,
                            progress=self.progress)  # fmt: skip
        return run, _fine_tune_entry(run)

    def online(self, index: int, here: Path, run: Path, physics_checkpoint: Path | None) -> dict:
        """Export ``run``, compare it online with RRTMG, harvest and label if a case failed; the round's entry."""
        artifact = here / "artifact"
        if not (artifact / "emulator.json").exists():
            export_run(run, artifact, self.fmt, overwrite=True)
        emulator = Emulator.load(artifact, threads=self.threads, ood_guard=self.ood_guard, non_finite="return")
        radiation, recorder = _host_radiation(emulator, self.ood_guard, self.couple)
        checkpoints = here / "online"
        checkpoints.mkdir(exist_ok=True)
        # The recorder must see the emulator run whole: never resume it half-way.
        (checkpoints / "emulator.npz").unlink(missing_ok=True)
        if physics_checkpoint is not None:
            _copy_atomic(physics_checkpoint, checkpoints / "physics.npz")
        # RRTMG with the training data's settings (the artifact's fallback scheme).
        comparison = compare_online(self.initial_states, radiation, RRTMG(emulator.rrtmg_config), self.config,
                                    checkpoint_dir=checkpoints, progress=self.progress)  # fmt: skip
        summary = comparison.summary
        title = f"round {index}: {summary['emulator_survived']}/{summary['cases']} emulator runs survived {summary['days']:g} days"
        online = write_online_results(comparison, self.initial_states, here, title=title)
        harvested = None
        if online["failed_cases"]:
            states = harvest_replay_states(comparison, self.initial_states, ood=recorder)
            labelled = label_with_rrtmg(states, emulator.rrtmg_config, seed=index)
            counts = dict(zip(REPLAY_ORIGINS, np.bincount(states["replay_origin"].values, minlength=len(REPLAY_ORIGINS)).tolist(),
                              strict=True))  # fmt: skip
            attrs = {**{f"{origin}_states": count for origin, count in counts.items()},
                     "replay_round": index, "emulator_artifact": str(artifact.resolve())}  # fmt: skip
            write_replay_dataset(labelled, here / "replay.zarr", overwrite=True, attrs=attrs)
            harvested = {**counts, "dataset": str((here / "replay.zarr").resolve())}
        return {
            "round": index,
            "run": str(run.resolve()),
            "artifact": str(artifact.resolve()),
            **{k: v for k, v in online.items() if k != "per_case"},
            "harvested": harvested,
            "online": str((here / "online.json").resolve()),
            "drift_plot": str((here / "drift.png").resolve()),
        }


def replay_radiation(
    data: str | Path,
    run: str | Path,
    initial_states: xr.Dataset,
    out: str | Path,
    *,
    config: RCEConfig = RCEConfig(),
    rounds: int = 3,
    fine_tune: RadiationTrainingConfig | None = None,
    fmt: str = "torchscript",
    ood_guard: bool = True,
    threads: int | None = 1,
    couple: Couple | None = None,
    progress: bool = True,
) -> ReplayReport:
    """Experience replay of the radiation emulator of ``run`` (trained on ``data``) in the RCE host.

    Round 0 tests ``run`` online; while a case that the physics survives crashes with the
    emulator and fewer than ``rounds`` fine-tuning rounds have run, the next round fine-tunes the
    last run (``fine_tune``, default :func:`fine_tuning_config` of ``run``) on ``data`` plus the
    replay sets of all rounds so far, and tests it again. Every column of ``initial_states`` is a
    case, run for ``config.days``. With ``ood_guard`` the emulator runs guarded and sends columns
    outside its training range (and non-finite ones) to RRTMG; the out-of-range ones are replayed too. ``threads``: the emulator
    runtime's (for TorchScript, process-wide while the host runs; fine-tuning and the caller get
    the count back). ``couple`` changes how a loaded emulator enters the host (:data:`Couple`).
    Layout, resumption and atomic writes: module docstring.

    Returns the report also written to ``OUT/replay.json``: per round the run and artifact,
    survivors, temperature RMSE vs the physics and surface-temperature difference at the last
    output interval, radiation wall time (emulator and RRTMG), states harvested and, from round
    1, how its run was fine-tuned; and the summary of the first and the last round.
    """
    data, run, out = Path(data), Path(run), Path(out)
    if not isinstance(rounds, int) or rounds < 0:
        raise InputError(f"rounds: must be an integer >= 0, got {rounds!r}")
    if fmt not in FORMATS:
        raise InputError(f"fmt: {fmt!r} is none of {', '.join(FORMATS)}")
    if not (run / "model.safetensors").exists():
        raise InputError(f"{run}: not a finished training run (missing model.safetensors)")
    if rounds > 0:  # fine-tuning trains on it: refuse a missing or bad dataset now, not after round 0's runs
        n_levels = json.loads((run / "model.json").read_text()).get("n_levels")
        open_radiation_dataset(data, n_levels=n_levels)
    fine_tune = fine_tune if fine_tune is not None else fine_tuning_config(run)
    settings = {
        "data": str(data.resolve()),
        "run": str(run.resolve()),
        "cases_sha256": _cases_fingerprint(initial_states),
        "rce_settings": config.to_dict(),
        "fine_tune": fine_tune.to_dict(),
        "format": fmt,
        "ood_guard": ood_guard,
    }
    report_path = out / "replay.json"
    if report_path.exists():
        recorded = json.loads(report_path.read_text())["settings"]
        if recorded != settings:
            changed = sorted(k for k in settings if recorded.get(k) != settings[k])
            raise InputError(f"{out}: holds a replay with other {', '.join(changed)}; use another out directory")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "cases.zarr").exists():
        write_zarr_atomic(initial_states, out / "cases.zarr")

    training_threads = torch.get_num_threads()
    replay = _Replay(data, initial_states, config, fine_tune, fmt, ood_guard, threads, couple, training_threads, progress)
    entries: list[dict] = []
    replay_sets: list[Path] = []
    current = run
    report = {"settings": settings, "rounds_limit": rounds, "rounds": entries}
    try:
        with tqdm(total=rounds + 1, desc="replay rounds", unit="round", disable=not progress) as bar:
            for index in range(rounds + 1):
                here = out / f"round_{index}"
                if (here / "round.json").exists():
                    entry = json.loads((here / "round.json").read_text())
                else:
                    here.mkdir(parents=True, exist_ok=True)
                    fine_tuned = None
                    if index > 0:
                        current, fine_tuned = replay.fine_tuned(here, current, replay_sets)
                    # The physics run is the same in every round: computed in round 0, reused after.
                    physics = out / "round_0" / "online" / "physics.npz" if index > 0 else None
                    entry = {**replay.online(index, here, current, physics), "fine_tune": fine_tuned}
                    _write_json(entry, here / "round.json")
                current = Path(entry["run"])
                if entry["harvested"] is not None:
                    replay_sets.append(Path(entry["harvested"]["dataset"]))
                entries.append(entry)
                done = not entry["failed_cases"]
                report.update(
                    all_survived=done,
                    stop_reason="all_survived" if done else ("round_limit" if index == rounds else "running"),
                    before=_round_summary(entries[0]),
                    after=_round_summary(entry),
                    subgrid_version=subgrid.__version__,
                )
                _write_json(report, report_path)
                bar.update(1)
                if done:
                    break
    finally:
        torch.set_num_threads(training_threads)
    last = entries[-1]
    return ReplayReport(report_path, entries, report["all_survived"], Path(last["run"]), Path(last["artifact"]))
