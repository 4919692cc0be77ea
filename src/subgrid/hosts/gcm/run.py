"""Running the GCM into a run directory: resumable, with history, restarts and harvested radiation columns.

A run directory (marked ``gcm_run``, :mod:`subgrid.core.ownership`) holds

* ``run.json`` — the configuration, the radiation scheme, where the run started and its length;
* ``restart.pt`` — the latest state, and ``restarts/day_DDDD.DD.pt`` — one per restart interval
  (forecast start states are taken from these);
* ``history/day_DDDD.DD.nc`` — the output intervals of each restart interval (:mod:`.output`);
* ``radiation_columns/day_DDDD.DD.nc`` — with ``harvest_every_hours``, the radiation inputs of a
  random ``harvest_fraction`` of the columns at the radiation calls every that many hours, in the
  radiation schema (``subgrid generate radiation --from`` labels them with RRTMG);
* ``timing.jsonl`` — wall seconds per part (radiation, physics, dynamics, fixers) per interval.

Every file is written to a temporary name and renamed, after the interval it belongs to is done,
so an interrupted run resumes from its last restart (``run_gcm`` again on the same directory)
and ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from subgrid.core.contract import Parameterization
from subgrid.core.errors import InputError
from subgrid.core.ownership import GCM_RUN, check_replaceable, is_owned, mark
from subgrid.core.stores import append_json_line, write_netcdf_atomic, write_text_atomic
from subgrid.hosts.gcm.config import GCMConfig
from subgrid.hosts.gcm.model import GCM, ModelCrash
from subgrid.hosts.gcm.output import IntervalMeans, interval_dataset
from subgrid.hosts.gcm.restart import load_restart, restart_config, save_restart
from subgrid.physics.schema import RADIATION_INPUTS


@dataclass(frozen=True)
class RunSettings:
    """How a run writes: output and restart intervals, and the harvest of radiation columns."""

    output_every_hours: float = 6.0
    restart_every_days: float = 1.0
    harvest_every_hours: float = 0.0
    harvest_fraction: float = 0.25


@dataclass
class RunResult:
    """What :func:`run_gcm` did: where, from which to which model day, crash (if any), wall seconds per model day."""

    path: Path
    start_day: float
    end_day: float
    crash: str | None
    seconds_per_day: dict[str, float]


def _day_name(day: float) -> str:
    return f"day_{day:07.2f}"


def _harvest(model: GCM, inputs: dict[str, np.ndarray], fraction: float) -> xr.Dataset:
    """A random ``fraction`` of the columns of one radiation call, in the radiation schema (surface first).

    The draw is seeded by the model's seed and step, so a resumed run harvests what an uninterrupted one does.
    """
    n = model.dynamics.ncol
    rng = np.random.default_rng([model.config.seed, model.step_count])
    chosen = np.sort(rng.choice(n, size=max(1, int(round(fraction * n))), replace=False))
    data = {name: (RADIATION_INPUTS[name].dims, np.asarray(inputs[name])[chosen], RADIATION_INPUTS[name].attrs())
            for name in RADIATION_INPUTS}  # fmt: skip
    hours = model.step_count * model.config.time_step_s / 3600.0
    data["latitude"] = (("column",), model.dynamics.latitude_deg[chosen], {"units": "degrees_north"})
    data["longitude"] = (("column",), model.dynamics.longitude_deg[chosen], {"units": "degrees_east"})
    data["time_days"] = (("column",), np.full(chosen.size, hours / 24.0), {"units": "days"})
    return xr.Dataset(data, attrs={"vertical_order": "surface_first"})


def run_gcm(out: str | Path, days: float, radiation: Parameterization, config: GCMConfig | None = None, *,
            restart: str | Path | None = None, settings: RunSettings = RunSettings(), overwrite: bool = False,
            progress: bool = True, description: str = "") -> RunResult:  # fmt: skip
    """Run the GCM ``days`` model days into ``out`` (resuming it if it is an unfinished run of the same settings).

    Args:
        out: the run directory.
        days: length of the run.
        radiation: the radiation scheme (RRTMG, an emulator, a guarded emulator).
        config: the model's settings (default: the restart's, else :class:`GCMConfig`'s defaults).
        restart: start from this restart file (a spun-up state) instead of the initial state.
        settings: output, restart and harvest intervals.
        overwrite: replace ``out`` if it is a finished or different run of subgrid's.
    """
    out = Path(out)
    if restart is not None and config is None:
        config = restart_config(restart)
    config = config or GCMConfig()
    steps_per_day = config.steps_per_day
    per_output = int(round(settings.output_every_hours * 3600.0 / config.time_step_s))
    per_restart = int(round(settings.restart_every_days * steps_per_day))
    per_harvest = int(round(settings.harvest_every_hours * 3600.0 / config.time_step_s))
    if per_output < 1 or per_restart % per_output:
        raise InputError(f"gcm run: restart_every_days ({settings.restart_every_days}) must be a multiple of "
                         f"output_every_hours ({settings.output_every_hours} h) and that at least one time step")
    if per_harvest and per_harvest % config.radiation_every_steps:
        raise InputError(f"gcm run: harvest_every_hours {settings.harvest_every_hours} is not a multiple of the "
                         f"radiation interval ({config.radiation_every_steps * config.time_step_s / 3600:g} h)")
    job = {"config": config.to_dict(), "radiation": repr(radiation), "days": days,
           "restart": str(restart) if restart else None, "settings": settings.__dict__}  # fmt: skip
    if int(round(days * steps_per_day)) % per_restart:
        raise InputError(f"gcm run: days ({days}) must be a whole number of restart intervals ({settings.restart_every_days} d)")
    model = GCM(config, radiation)
    resumed = _resume(out, job, overwrite)
    if resumed is not None:
        load_restart(model, out / "restart.pt")
        start_step = resumed["start_step"]
    else:
        if restart is not None:
            load_restart(model, restart)
        start_step = model.step_count
        out.mkdir(parents=True, exist_ok=True)
        mark(out, GCM_RUN, __name__)
        for sub in ("history", "restarts", "radiation_columns"):
            (out / sub).mkdir(exist_ok=True)
        save_restart(model, out / "restart.pt")
        write_text_atomic(out / "run.json", json.dumps({**job, "start_step": start_step, "finished": False}, indent=1))
    end_step = start_step + int(round(days * steps_per_day))
    crash = None
    with tqdm(total=end_step - start_step, initial=model.step_count - start_step, desc=description or "GCM",
              unit="step", disable=not progress) as bar:  # fmt: skip
        while model.step_count < end_step and crash is None:
            crash = _interval(model, out, per_restart, per_output, per_harvest, settings, bar)
    finished = crash is None
    record = json.loads((out / "run.json").read_text())
    counts = getattr(radiation, "counts", None)  # a guarded emulator: how many columns went to the fallback
    guard = None if counts is None else {"columns": counts.columns, "fallback_columns": counts.fallback_columns,
                                         "out_of_distribution_columns": counts.out_of_distribution_columns}  # fmt: skip
    write_text_atomic(out / "run.json", json.dumps({**record, "finished": finished, "crash": crash,
                                                    "guard_this_session": guard}, indent=1))  # fmt: skip
    return RunResult(out, start_step / steps_per_day, model.step_count / steps_per_day, crash, seconds_per_day(out))


def _resume(out: Path, job: dict, overwrite: bool) -> dict | None:
    """The record of an unfinished run of the same job at ``out`` (to resume), or None after clearing the way."""
    if is_owned(out, GCM_RUN) and (out / "restart.pt").is_file() and (out / "run.json").is_file():
        record = json.loads((out / "run.json").read_text())
        same = all(record.get(key) == value for key, value in json.loads(json.dumps(job)).items())
        if same and not record.get("finished") and not overwrite:
            return record
        if not overwrite:
            raise InputError(f"{out}: holds {'a finished' if same else 'another'} GCM run (pass --overwrite to replace it)")
    check_replaceable(out, GCM_RUN, overwrite=overwrite, option="--overwrite")
    if out.exists() and is_owned(out, GCM_RUN):
        import shutil

        shutil.rmtree(out)
    return None


def _interval(model: GCM, out: Path, steps: int, per_output: int, per_harvest: int, settings: RunSettings,
              bar) -> str | None:  # fmt: skip
    """One restart interval: step, write its history and harvest, then the restart. The crash message, if any."""
    records, harvested = [], []
    means = IntervalMeans()
    before = dict(model.timers.seconds)
    started = time.perf_counter()
    crash = None
    budgets: dict[str, float] = {}
    for _ in range(steps):
        try:
            diagnostics = model.step()
        except ModelCrash as error:
            crash = str(error)
            write_netcdf_atomic(_precrash_dataset(error), out / "precrash.nc")
            break
        for name, value in diagnostics.pop("budgets").items():
            budgets[f"max_{name}"] = max(budgets.get(f"max_{name}", 0.0), value)
        means.add(diagnostics)
        if per_harvest and (model.step_count - 1) % per_harvest == 0 and model.last_radiation_inputs is not None:
            harvested.append(_harvest(model, model.last_radiation_inputs, settings.harvest_fraction))
        if model.step_count % per_output == 0:
            records.append(interval_dataset(model, means.means(), model.time_days))
            means = IntervalMeans()
        bar.update(1)
    name = _day_name(model.time_days)
    if records:
        write_netcdf_atomic(xr.concat(records, "time"), out / "history" / f"{name}.nc")
    if harvested:
        write_netcdf_atomic(xr.concat(harvested, "column"), out / "radiation_columns" / f"{name}.nc")
    if crash is None:
        save_restart(model, out / "restarts" / f"{name}.pt")
        save_restart(model, out / "restart.pt")
    timing = {part: model.timers.seconds[part] - before[part] for part in before}
    append_json_line(out / "timing.jsonl", {"day": model.time_days, "wall_s": time.perf_counter() - started,
                                            "model_days": steps / model.config.steps_per_day, **timing, **budgets})  # fmt: skip
    return crash


def _precrash_dataset(crash: ModelCrash) -> xr.Dataset:
    """The radiation inputs of the last calls before a crash at the failed columns (for experience replay)."""
    parts = []
    for record in crash.precrash:
        data = {name: (RADIATION_INPUTS[name].dims, np.asarray(record[name]), RADIATION_INPUTS[name].attrs())
                for name in RADIATION_INPUTS}  # fmt: skip
        data["precrash_step"] = (("column",), np.full(len(crash.columns), record["step"]))
        data["crashed_column"] = (("column",), crash.columns)
        parts.append(xr.Dataset(data))
    if not parts:
        return xr.Dataset(attrs={"crash": str(crash)})
    return xr.concat(parts, "column").assign_attrs(crash=str(crash), vertical_order="surface_first")


def finished_record(run_dir: str | Path) -> dict | None:
    """The run record of a run directory that finished or crashed (nothing left to do), else None."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("finished") or record.get("crash") else None


def seconds_per_day(out: Path, skip_intervals: int = 0) -> dict[str, float]:
    """Wall seconds per model day of each part, over the run in ``out`` (from ``timing.jsonl``).

    ``skip_intervals`` leaves out the first restart intervals (a process's first day pays one-off
    costs: the boundary layer's numba kernel compiles in ~11 s).
    """
    path = Path(out) / "timing.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][skip_intervals:]
    days = sum(row["model_days"] for row in rows)
    if days <= 0:
        return {}
    return {part: sum(row[part] for row in rows) / days for part in ("wall_s", "radiation", "physics", "dynamics", "fixers")}


def harvested_columns(out: str | Path, from_day: float = 0.0, to_day: float = float("inf")) -> xr.Dataset:
    """The radiation columns a run harvested between model days ``from_day`` and ``to_day`` (one Dataset).

    Written by :func:`write_harvested_columns` as the ``--from`` file of ``subgrid generate radiation``.
    """
    files = sorted((Path(out) / "radiation_columns").glob("day_*.nc"))
    if not files:
        raise InputError(f"{out}: no harvested columns (radiation_columns/day_*.nc): run with --harvest-every-hours")
    parts = [xr.open_dataset(f, engine="h5netcdf").load() for f in files]
    columns = xr.concat(parts, "column")
    chosen = (columns["time_days"] >= from_day) & (columns["time_days"] < to_day)
    if not bool(chosen.any()):
        raise InputError(f"{out}: no harvested columns between day {from_day:g} and day {to_day:g}")
    return columns.isel(column=np.flatnonzero(chosen.values))


def write_harvested_columns(out: str | Path, path: str | Path, from_day: float = 0.0, to_day: float = float("inf")) -> int:
    """Write :func:`harvested_columns` to the netCDF file ``path`` (atomically); the number of columns."""
    columns = harvested_columns(out, from_day, to_day)
    write_netcdf_atomic(columns, Path(path))
    return columns.sizes["column"]


def open_history(out: str | Path) -> xr.Dataset:
    """All history files of a run directory as one Dataset along time."""
    files = sorted((Path(out) / "history").glob("day_*.nc"))
    if not files:
        raise InputError(f"{out}: no history files (history/day_*.nc): not a GCM run directory, or no interval finished")
    return xr.concat([xr.open_dataset(f, engine="h5netcdf").load() for f in files], "time")

