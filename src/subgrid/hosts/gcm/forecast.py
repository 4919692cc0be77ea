"""Ten-day forecasts in the GCM with emulated radiation, judged against the physics (the study's experiment).

From each of N start states of a control run (its daily restarts, ``spacing_days`` apart) three
forecasts are compared:

* ``physics`` (i): RRTMG radiation, the reference;
* ``emulator`` (ii): the exported emulator (guarded by default) as the radiation;
* ``perturbed`` (iii): RRTMG from the start state with Gaussian noise of ``perturbation_K`` added to the
  temperature at every grid point and level — the intrinsic error growth: an emulator whose error grows
  no faster than this is as good as the physics for forecasting.

Per start and lead day (:func:`score_forecast`) the area-weighted RMSE and anomaly correlation of
Z500, T850, u250 (the state at the end of the lead day) and precipitation (its mean over the lead
day) of (ii) and (iii) against (i); anomalies are taken from the control run's zonal- and time-mean
climate. The global-mean T850 drift of (ii) against (i), radiation and total wall seconds per model
day of (i) and (ii), and whether each run crashed, complete the record.

``reference = "control"`` takes (i) from the control run's own history instead of rerunning it: a
GCM run from a restart is bit-identical to the run that wrote it (``tests/test_gcm.py``), so the
control *is* the physics forecast from each of its restarts. The first ``timed_starts`` starts
still run (i) for real: that measures its speed in the same experiment, and verifies the reuse
(their fields must equal the control's to the bit, else the experiment stops and says so).

Forecasts run as tasks on a Dask cluster (a LocalCluster of ``workers`` single-threaded processes,
or an existing scheduler); each is a GCM run directory under ``OUT/starts/day_DDDD.DD/KIND``,
resumable and kept when finished, and each start's scores are appended to ``OUT/forecasts.jsonl``
as soon as its forecasts are done, so an interrupted experiment continues where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from subgrid.core.errors import InputError
from subgrid.core.stores import append_json_line, read_json_lines, write_netcdf_atomic, write_text_atomic

KINDS = ("physics", "emulator", "perturbed")
#: The shipped spun-up restart and emulator (``assets/README.md`` says how to regenerate them).
ASSETS = Path(__file__).parent / "assets"
SPUN_UP_RESTART = ASSETS / "spinup_t21_l20_day60.pt"
SHIPPED_EMULATOR = ASSETS / "emulator_rescnn16"
#: Fields scored: the state at the end of each lead day, or (precipitation) the mean over it.
SCORED = ("Z500", "T850", "u250", "precipitation")
_MEAN_OVER_DAY = {"precipitation"}
_EXPERIMENT = "forecasts.json"


@dataclass(frozen=True)
class ForecastConfig:
    """The forecast experiment's settings.

    Attributes:
        starts: number of start states.
        days: forecast length (model days).
        spacing_days: days between consecutive starts (>= 2 keeps the forecasts independent).
        first_day: model day of the first start (default: the earliest restart of the control that
            leaves room for all starts).
        perturbed_starts: how many of the starts (spread evenly over them) also get the perturbed-physics forecast.
        perturbation_K: standard deviation of the temperature noise of the perturbed start (K).
        reference: ``"control"`` (physics forecasts from the control history, verified) or ``"run"``.
        timed_starts: with ``reference="control"``, starts (spread evenly, the first and the last among them) whose
            physics forecast runs anyway (timing, verification).
        guard: run the emulator guarded (columns outside its training range go to RRTMG).
        seed: seeds the perturbations.
        lead_step_days: scores every this many days of lead (and the forecasts' restart interval).
        output_every_hours: the forecasts' history interval.
        drift_tolerance_K: an emulator forecast whose global-mean T850 differs from the physics by more than this,
            averaged over the lead times, counts as failed (as one that crashed does).
        harvest_every_hours: the emulator forecasts keep the radiation inputs of ``harvest_fraction`` of the
            columns every this many hours (0: none), for experience replay.
    """

    starts: int = 50
    days: float = 10.0
    spacing_days: float = 2.0
    first_day: float | None = None
    perturbed_starts: int = 10
    perturbation_K: float = 0.05
    reference: str = "control"
    timed_starts: int = 2
    guard: bool = True
    seed: int = 0
    lead_step_days: float = 1.0
    output_every_hours: float = 6.0
    drift_tolerance_K: float = 0.5
    harvest_every_hours: float = 0.0
    harvest_fraction: float = 0.05

    def __post_init__(self) -> None:
        if self.starts < 1 or self.days <= 0 or self.spacing_days <= 0:
            raise InputError(f"ForecastConfig: starts ({self.starts}), days ({self.days}) and spacing_days "
                             f"({self.spacing_days}) must be positive")  # fmt: skip
        if self.starts > 1 and self.spacing_days < 0.01:
            raise InputError(f"ForecastConfig.spacing_days: at least 0.01 d (a start's directory is named by its day "
                             f"to 0.01 d), got {self.spacing_days}")  # fmt: skip
        if not 0 <= self.perturbed_starts <= self.starts:
            raise InputError(f"ForecastConfig.perturbed_starts: must be in [0, starts={self.starts}], got {self.perturbed_starts}")
        if not 0.0 < self.perturbation_K <= 1.0:
            raise InputError(f"ForecastConfig.perturbation_K: must be in (0, 1] K, got {self.perturbation_K}")
        leads = self.days / self.lead_step_days
        if self.lead_step_days <= 0 or abs(leads - round(leads)) > 1e-9:
            raise InputError(f"ForecastConfig.lead_step_days: must divide days ({self.days}), got {self.lead_step_days}")
        if self.reference not in ("control", "run"):
            raise InputError(f"ForecastConfig.reference: must be 'control' or 'run', got {self.reference!r}")
        if not 1 <= self.timed_starts <= self.starts:
            raise InputError(f"ForecastConfig.timed_starts: must be in [1, starts={self.starts}], got {self.timed_starts}")


@dataclass
class ForecastExperiment:
    """What :func:`run_forecasts` did: its directory, one record per start, and the summary."""

    path: Path
    records: list[dict]
    summary: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The control run: its restarts (start states) and history (climatology, reference forecasts)


def _restart_day(path: Path) -> float:
    """The model day of a restart file, from its step count (file names round to 0.01 day)."""
    from subgrid.hosts.gcm.config import GCMConfig
    from subgrid.hosts.gcm.restart import read_restart

    record = read_restart(path)
    return int(record["step"]) / GCMConfig.from_dict(json.loads(record["config"]), source=path).steps_per_day


def control_restarts(control: list[Path]) -> dict[float, Path]:
    """Model day -> restart file over the control run directories (a later directory wins on a shared day)."""
    found: dict[float, Path] = {}
    for run in control:
        if not (run / "run.json").is_file():
            raise InputError(f"control {run}: not a GCM run directory (no run.json)")
        for path in sorted((run / "restarts").glob("day_*.pt")):
            found[round(_restart_day(path), 6)] = path
    if not found:
        raise InputError(f"control {', '.join(map(str, control))}: no restarts (restarts/day_*.pt)")
    return dict(sorted(found.items()))


def control_history(control: list[Path]) -> xr.Dataset:
    """The scored fields of the control run directories as one Dataset along time (duplicates dropped)."""
    from subgrid.hosts.gcm.run import open_history

    parts = [open_history(run)[list(SCORED)] for run in control]
    history = xr.concat(parts, "time").sortby("time")
    _, first = np.unique(np.round(history["time"].values, 6), return_index=True)
    return history.isel(time=first)


def choose_starts(restarts: dict[float, Path], history_end: float, config: ForecastConfig) -> list[float]:
    """The start days: ``starts`` restarts ``spacing_days`` apart from ``first_day`` (or the earliest that fits)."""
    days = np.array(list(restarts))
    room = config.days if config.reference == "control" else 0.0
    first = config.first_day if config.first_day is not None else float(days.min())
    wanted = first + config.spacing_days * np.arange(config.starts)
    found = [days[np.isclose(days, d)] for d in wanted]
    missing = [d for d, match in zip(wanted, found, strict=True) if not match.size]
    if missing:
        raise InputError(f"control: no restart at day {missing[0]:g} ({len(missing)} of {config.starts} starts missing; "
                         f"restarts span days {days.min():g}-{days.max():g})")  # fmt: skip
    if wanted[-1] + room > history_end + 1e-6:
        raise InputError(f"control: its history ends at day {history_end:g}, before the last forecast ends "
                         f"({wanted[-1] + room:g}); run the control longer, or use fewer starts")  # fmt: skip
    # the restarts' own days (rounded to 1e-6 d): a wanted day such as 1/12 is not one of them to the bit
    return [float(match[0]) for match in found]


def start_directory(out: Path, start: float) -> Path:
    """Where an experiment in ``out`` keeps the runs of the start at model day ``start`` (named to 0.01 d)."""
    return out / "starts" / f"day_{start:07.2f}"


# --------------------------------------------------------------------------------------------
# One forecast (a Dask task)


def run_one_forecast(kind: str, restart: str, out: str, days: float, emulator: str | None, guard: bool,
                     perturbation_K: float, seed: int, restart_every_days: float = 1.0,
                     output_every_hours: float = 6.0, harvest_every_hours: float = 0.0,
                     harvest_fraction: float = 0.05) -> dict:  # fmt: skip
    """One forecast run directory (resumed or left as it is if finished); what happened. Runs in a Dask worker."""
    import torch

    from subgrid.hosts.gcm.perturbed import perturb_restart
    from subgrid.hosts.gcm.radiation import radiation_scheme
    from subgrid.hosts.gcm.restart import restart_config
    from subgrid.hosts.gcm.run import RunSettings, finished_record, run_gcm, seconds_per_day

    from subgrid.radiation.emulator import keep_freed_memory

    torch.set_num_threads(1)
    keep_freed_memory()  # a worker of an existing cluster may trim the heap after every array (core.chunked._client)
    run_dir = Path(out)
    record = finished_record(run_dir)
    if record is None:
        start = Path(restart)
        if kind == "perturbed":
            start = run_dir.parent / "perturbed_start.pt"
            if not start.is_file():
                start.parent.mkdir(parents=True, exist_ok=True)
                perturb_restart(Path(restart), start, perturbation_K, seed)
        config = restart_config(start)
        scheme = radiation_scheme(emulator if kind == "emulator" else "rrtmg", config, guard=guard)
        run_gcm(run_dir, days, scheme, config, restart=start, progress=False, description=kind,
                settings=RunSettings(output_every_hours=output_every_hours, restart_every_days=restart_every_days,
                                     harvest_every_hours=harvest_every_hours if kind == "emulator" else 0.0,
                                     harvest_fraction=harvest_fraction))  # fmt: skip
        record = finished_record(run_dir) or json.loads((run_dir / "run.json").read_text())
    return {"kind": kind, "path": str(run_dir), "crash": record.get("crash"),
            "guard": record.get("guard_this_session"), "seconds_per_day": seconds_per_day(run_dir),
            "seconds_per_day_warm": seconds_per_day(run_dir, skip_intervals=1)}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Scores


def _weights(lat: xr.DataArray) -> xr.DataArray:
    weights = np.cos(np.radians(lat))
    return weights / weights.sum()


def lead_days(config: ForecastConfig) -> np.ndarray:
    """The lead times scored (days): ``lead_step_days``, 2 ``lead_step_days``, ... ``days``."""
    return config.lead_step_days * np.arange(1, int(round(config.days / config.lead_step_days)) + 1)


def _lead_fields(history: xr.Dataset, start: float, config: ForecastConfig) -> xr.Dataset:
    """The scored fields per lead: the state at the lead time, the mean over the lead step for precipitation."""
    leads = lead_days(config)
    step = config.lead_step_days
    out = {}
    for name in SCORED:
        values = []
        for lead in leads:
            end = start + lead
            if name in _MEAN_OVER_DAY:
                window = history[name].sel(time=(history["time"] > end - step + 1e-6) & (history["time"] <= end + 1e-6))
                values.append(window.mean("time") if window.sizes["time"] else xr.full_like(history[name][0], np.nan))
            else:
                at = history[name].sel(time=np.isclose(history["time"], end, rtol=0, atol=1e-6))
                values.append(at[0] if at.sizes["time"] else xr.full_like(history[name][0], np.nan))
        out[name] = xr.concat([v.drop_vars("time", errors="ignore") for v in values], "lead_day")
    return xr.Dataset(out).assign_coords(lead_day=("lead_day", leads, {"units": "days"}))


def score_forecast(forecast: xr.Dataset, reference: xr.Dataset, climatology: xr.Dataset) -> dict[str, list[float]]:
    """Per lead day and field: area-weighted RMSE and anomaly correlation of ``forecast`` against ``reference``.

    Both are :func:`_lead_fields` datasets; ``climatology`` holds the fields' zonal-time means (per latitude).
    A lead day the forecast did not reach (a crash) scores NaN.
    """
    w = _weights(reference["lat"])
    scores: dict[str, list[float]] = {}
    for name in SCORED:
        f, r = forecast[name], reference[name]
        error = ((f - r) ** 2 * w).sum(("lat", "lon")) / forecast.sizes["lon"]
        scores[f"{name}_rmse"] = np.sqrt(error).where(np.isfinite(f).all(("lat", "lon"))).values.tolist()
        fa, ra = f - climatology[name], r - climatology[name]
        covariance = (fa * ra * w).sum(("lat", "lon"))
        norm = np.sqrt((fa**2 * w).sum(("lat", "lon")) * (ra**2 * w).sum(("lat", "lon")))
        scores[f"{name}_acc"] = (covariance / norm).where(np.isfinite(f).all(("lat", "lon"))).values.tolist()
    return scores


def global_mean(field: xr.DataArray) -> xr.DataArray:
    return (field * _weights(field["lat"])).sum("lat").mean("lon")


# --------------------------------------------------------------------------------------------
# The experiment


def run_forecasts(control: str | Path | list[str | Path], emulator: str | Path, out: str | Path,
                  config: ForecastConfig = ForecastConfig(), *, workers: int = 2, scheduler: str | None = None,
                  results: str | Path | None = None, perturbed_from: str | Path | None = None,
                  progress: bool = True) -> ForecastExperiment:  # fmt: skip
    """Run (or continue) the forecast experiment of the module docstring into ``out``; its records and summary.

    Args:
        control: the control run directory (or several, e.g. a run and its continuation): start states,
            climatology and, with ``config.reference == "control"``, the physics forecasts.
        emulator: an exported radiation emulator on the GCM's levels (``subgrid export``).
        out: the experiment directory (resumed if it holds the same experiment).
        workers: local Dask worker processes (one thread each) unless ``scheduler`` is given.
        results: a JSON-lines file to append each start's record and the summary line to
            (e.g. ``benchmarks/results/forecasts_cpu.jsonl``).
        perturbed_from: another experiment on the same control, starts and perturbation (e.g. of another
            emulator): its finished perturbed-physics forecasts, which do not depend on the emulator, are
            copied instead of rerun (:mod:`.perturbed`).
    """
    controls = [Path(c) for c in (control if isinstance(control, list | tuple) else [control])]
    out, emulator = Path(out), Path(emulator)
    if not (emulator / "emulator.json").is_file():
        raise InputError(f"emulator {emulator}: not an exported emulator (no emulator.json; run subgrid export)")
    restarts = control_restarts(controls)
    history = control_history(controls)
    starts = choose_starts(restarts, float(history["time"].max()), config)
    _check_emulator_levels(emulator, restarts[starts[0]])
    settings = {"control": [str(c.resolve()) for c in controls], "emulator": str(emulator.resolve()),
                "config": asdict(config), "starts": starts}  # fmt: skip
    if perturbed_from is not None:
        from subgrid.hosts.gcm.perturbed import check_perturbed_source, copy_perturbed_forecasts

        check_perturbed_source(_recorded_settings(Path(perturbed_from), "perturbed_from wants one"), settings)
    _claim(out, settings)
    climatology = history.mean(("time", "lon"))
    jobs = _jobs(starts, restarts, out, emulator, config)
    if perturbed_from is not None:
        copy_perturbed_forecasts(Path(perturbed_from), out, [j["start_day"] for j in jobs if j["kind"] == "perturbed"])
    done_path = out / "forecasts.jsonl"
    records = read_json_lines(done_path)
    scored = {r["start_day"] for r in records}
    jobs = [job for job in jobs if job["start_day"] not in scored]
    finished: dict[float, dict[str, dict]] = {}
    wanted = {start: {job["kind"] for job in jobs if job["start_day"] == start} for start in starts}
    if jobs:
        from distributed import as_completed

        from subgrid.core.chunked import _client

        client, cluster = _client(workers, scheduler)
        # a start's directory name holds its day to 0.01 d: map it back to the start itself (e.g. 1/12 d)
        by_name = {start_directory(out, start).name: start for start in starts}
        try:
            futures = [client.submit(run_one_forecast, **job["task"], pure=False, key=f"forecast-{job['kind']}-{job['start_day']:g}")
                       for job in jobs]  # fmt: skip
            with tqdm(total=len(futures), desc="forecasts", unit="run", disable=not progress) as bar:
                for future in as_completed(futures):
                    result = future.result()
                    start = by_name[Path(result["path"]).parent.name]
                    finished.setdefault(start, {})[result["kind"]] = result
                    bar.update(1)
                    if set(finished[start]) == wanted[start]:
                        record = _score_start(start, finished[start], history, climatology, config, out)
                        append_json_line(done_path, record)
                        if results is not None:
                            append_json_line(Path(results), {"record": "forecast", **record})
                        records.append(record)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    records.sort(key=lambda r: r["start_day"])
    summary = summarise(records, config)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1))
    if results is not None and jobs:
        append_json_line(Path(results), {"record": "summary", **summary})
    return ForecastExperiment(out, records, summary)


def _recorded_settings(experiment: Path, hint: str) -> dict:
    """The settings an experiment directory was run with (one-line error, ending in ``hint``, if it is none)."""
    path = experiment / _EXPERIMENT
    if not path.is_file():
        raise InputError(f"{experiment}: not a forecast experiment (no {_EXPERIMENT}; {hint})")
    return json.loads(path.read_text())


def _check_emulator_levels(emulator: Path, restart: Path) -> None:
    from subgrid.hosts.gcm.restart import restart_config

    levels = json.loads((emulator / "emulator.json").read_text()).get("n_levels")
    config = restart_config(restart)
    if levels is not None and levels != config.levels:
        raise InputError(f"emulator {emulator}: trained on {levels} levels, the control GCM has {config.levels}; "
                         "train one on the GCM's own columns")  # fmt: skip


def _claim(out: Path, settings: dict) -> None:
    """Make ``out`` this experiment's directory, or check it already is (another experiment: one-line error)."""
    from subgrid.core.ownership import FORECASTS, is_owned, mark

    path = out / _EXPERIMENT
    if is_owned(out, FORECASTS) and path.is_file():
        recorded = json.loads(path.read_text())
        # settings added to ForecastConfig since the experiment began count as theirs if they have the defaults
        defaults = asdict(ForecastConfig())
        recorded["config"] = {**{k: defaults[k] for k in defaults if k not in recorded.get("config", {})},
                              **recorded.get("config", {})}  # fmt: skip
        if recorded != json.loads(json.dumps(settings)):
            changed = sorted(k for k in settings if recorded.get(k) != json.loads(json.dumps(settings[k])))
            raise InputError(f"{out}: holds a forecast experiment with other {', '.join(changed)}; use another --out")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not a forecast experiment of subgrid's; choose a new or empty directory")
    out.mkdir(parents=True, exist_ok=True)
    mark(out, FORECASTS, __name__)
    write_text_atomic(path, json.dumps(settings, indent=1))


def spread(n: int, k: int) -> set[int]:
    """``k`` of the indices ``0 .. n-1``, evenly spread (the first and, for ``k`` > 1, the last among them)."""
    return set(np.round(np.linspace(0, n - 1, k)).astype(int).tolist()) if k else set()


def _jobs(starts: list[float], restarts: dict[float, Path], out: Path, emulator: Path, config: ForecastConfig) -> list[dict]:
    timed, perturbed = spread(len(starts), config.timed_starts), spread(len(starts), config.perturbed_starts)
    jobs = []
    for index, start in enumerate(starts):
        kinds = ["emulator"]
        if config.reference == "run" or index in timed:
            kinds.append("physics")
        if index in perturbed:
            kinds.append("perturbed")
        here = start_directory(out, start)
        for kind in kinds:
            task = {"kind": kind, "restart": str(restarts[round(start, 6)]), "out": str(here / kind),
                    "days": config.days, "emulator": str(emulator), "guard": config.guard,
                    "perturbation_K": config.perturbation_K, "seed": config.seed,
                    "restart_every_days": config.lead_step_days, "output_every_hours": config.output_every_hours,
                    "harvest_every_hours": config.harvest_every_hours, "harvest_fraction": config.harvest_fraction}  # fmt: skip
            jobs.append({"start_day": start, "kind": kind, "task": task})
    return jobs


def _score_start(start: float, runs: dict[str, dict], control: xr.Dataset, climatology: xr.Dataset,
                 config: ForecastConfig, out: Path) -> dict:  # fmt: skip
    """The record of one start: scores per lead day, drift, timing, crashes; its fields kept for the figures."""
    from subgrid.hosts.gcm.run import open_history

    def fields(kind: str) -> xr.Dataset:
        return _lead_fields(open_history(runs[kind]["path"])[list(SCORED)], start, config)

    reference_from_control = _lead_fields(control, start, config)
    record: dict = {"start_day": start, "days": config.days}
    verification = None
    if "physics" in runs:
        reference = fields("physics") if not runs["physics"]["crash"] else reference_from_control
        if config.reference == "control":
            verification = float(max(np.nanmax(np.abs(reference[n] - reference_from_control[n]).values) for n in SCORED))
            record["reference_max_abs_difference_from_control"] = verification
            if verification != 0.0:
                raise InputError(f"start day {start:g}: the physics forecast differs from the control run by up to "
                                 f"{verification:.3g} (not bit-identical): run with reference='run'")  # fmt: skip
    else:
        reference = reference_from_control
    record["reference"] = "run" if config.reference == "run" else "control"
    for kind in ("emulator", "perturbed"):
        if kind not in runs:
            continue
        forecast = fields(kind)
        record[kind] = {"completed": not runs[kind]["crash"], "crash": runs[kind]["crash"],
                        "guard": runs[kind]["guard"], **score_forecast(forecast, reference, climatology)}  # fmt: skip
        drift = global_mean(forecast["T850"] - reference["T850"])
        record[kind]["T850_global_mean_difference_K"] = drift.values.tolist()
        record[kind]["T850_mean_drift_K"] = float(drift.mean())
        record[kind]["failed"] = bool(runs[kind]["crash"]) or not abs(float(drift.mean())) <= config.drift_tolerance_K
        if kind == "emulator":  # the difference maps at day 5 and the last day, for the figures
            leads = lead_days(config)
            maps = (forecast - reference)[["T850", "Z500"]].isel(lead_day=sorted({min(4, leads.size - 1), leads.size - 1}))
            write_netcdf_atomic(maps, start_directory(out, start) / "differences.nc")
    for kind in ("physics", "emulator"):
        if kind in runs:
            timing, warm = runs[kind]["seconds_per_day"], runs[kind].get("seconds_per_day_warm") or {}
            record.setdefault(kind, {}).update({"wall_s_per_day": timing.get("wall_s"),
                                                "radiation_s_per_day": timing.get("radiation"),
                                                "wall_s_per_day_after_first": warm.get("wall_s"),
                                                "radiation_s_per_day_after_first": warm.get("radiation")})  # fmt: skip
    return record


def summarise(records: list[dict], config: ForecastConfig) -> dict:
    """Completed counts, the skill table per lead day (mean over starts), drift and speed-ups."""
    emulated = [r["emulator"] for r in records if "emulator" in r]
    perturbed = [r["perturbed"] for r in records if "perturbed" in r]
    summary: dict = {
        "starts": config.starts, "days": config.days, "scored_starts": len(records),
        "emulator_completed": sum(e["completed"] for e in emulated),
        "perturbed_starts": len(perturbed), "perturbed_completed": sum(p["completed"] for p in perturbed),
        "reference": config.reference, "perturbation_K": config.perturbation_K,
        "emulator_failed": sum(e["failed"] for e in emulated), "drift_tolerance_K": config.drift_tolerance_K,
    }  # fmt: skip
    table = {}
    for kind, runs in (("emulator", emulated), ("perturbed", perturbed)):
        for key in (f"{n}_{s}" for n in SCORED for s in ("rmse", "acc")):
            values = np.array([r[key] for r in runs if r["completed"]], dtype=float)
            if values.size:
                table[f"{kind}_{key}"] = np.round(np.nanmean(values, axis=0), 5).tolist()
    summary["lead_days"] = lead_days(config).tolist()
    summary["skill"] = table
    for field_name in ("Z500", "T850"):
        e, p = table.get(f"emulator_{field_name}_rmse"), table.get(f"perturbed_{field_name}_rmse")
        day3 = np.flatnonzero(np.isclose(lead_days(config), 3.0))
        if e and p and day3.size:
            summary[f"{field_name}_rmse_ratio_day3"] = round(e[day3[0]] / p[day3[0]], 4)
    drifts = np.array([e["T850_mean_drift_K"] for e in emulated if e["completed"]])
    if drifts.size:
        summary["T850_mean_drift_K"] = {"mean": float(drifts.mean()), "max_abs": float(np.abs(drifts).max())}
    timed = [r for r in records if r.get("physics", {}).get("wall_s_per_day") and r.get("emulator", {}).get("wall_s_per_day")]
    if timed:
        # the headline leaves out each run's first day (one-off compilation) when the runs are longer than one
        keys = ("wall_s_per_day", "radiation_s_per_day")
        warm = all(r[kind].get(f"{k}_after_first") for r in timed for kind in ("physics", "emulator") for k in keys)
        suffix = "_after_first" if warm else ""
        phys = {k: float(np.mean([r["physics"][k + suffix] for r in timed])) for k in keys}
        emu = {k: float(np.mean([r["emulator"][k + suffix] for r in timed])) for k in keys}
        everything = {kind: float(np.mean([r[kind]["wall_s_per_day"] for r in timed])) for kind in ("physics", "emulator")}
        summary["speed"] = {"timed_starts": len(timed), "days_timed": "after the first" if warm else "all",
                            "physics": phys, "emulator": emu,
                            "radiation_speedup": phys["radiation_s_per_day"] / emu["radiation_s_per_day"],
                            "model_speedup": phys["wall_s_per_day"] / emu["wall_s_per_day"],
                            "model_speedup_all_days": everything["physics"] / everything["emulator"]}  # fmt: skip
    guard = [e["guard"] for e in emulated if e.get("guard")]
    if guard:
        columns = sum(g["columns"] for g in guard)
        summary["guard_fallback_fraction"] = sum(g["fallback_columns"] for g in guard) / max(columns, 1)
    return summary


def read_experiment(out: str | Path) -> tuple[list[dict], dict]:
    """The records (one per scored start) and the summary of a forecast experiment directory."""
    out = Path(out)
    settings = _recorded_settings(out, "run subgrid gcm forecasts")
    records = sorted(read_json_lines(out / "forecasts.jsonl"), key=lambda r: r["start_day"])
    if not records:
        raise InputError(f"{out}: no forecast scored yet")
    return records, summarise(records, ForecastConfig(**settings["config"]))


def skill_table(summary: dict) -> str:
    """The per-lead table of the summary: RMSE and anomaly correlation of the emulator and the perturbed physics."""
    skill = summary["skill"]
    columns = [key for key in skill if key.endswith("_rmse") or key.endswith("_acc")]
    lines = [f"{summary['emulator_completed']}/{summary['scored_starts']} emulator forecasts completed "
             f"({summary['starts']} starts planned; failed: {summary['emulator_failed']} crashed or drifted more than "
             f"{summary['drift_tolerance_K']:g} K); perturbed physics {summary['perturbed_completed']}/"
             f"{summary['perturbed_starts']}; reference: {summary['reference']}"]  # fmt: skip
    for kind in ("emulator", "perturbed"):
        mine = [key for key in columns if key.startswith(kind + "_")]
        if not mine:
            continue
        lines.append(f"\n{kind}: " + "  ".join(f"{key.removeprefix(kind + '_'):>18}" for key in mine))
        for index, lead in enumerate(summary["lead_days"]):
            lines.append(f"day {lead:5g}  " + "  ".join(f"{skill[key][index]:18.4g}" for key in mine))
    for key in ("Z500_rmse_ratio_day3", "T850_rmse_ratio_day3", "T850_mean_drift_K", "guard_fallback_fraction", "speed"):
        if key in summary:
            lines.append(f"{key}: {json.dumps(summary[key])}")
    return "\n".join(lines)
