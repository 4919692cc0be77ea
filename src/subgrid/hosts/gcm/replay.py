"""Experience replay of a radiation emulator in the GCM: forecasts, harvest where they fail, relabel, fine-tune, rerun.

The loop of the seed study (and of the RCE host, :mod:`subgrid.hosts.rce.online`), through the
forecast experiment (:mod:`.forecast`):

1. round 0 runs the forecasts with the emulator of a training run; its forecasts keep the radiation
   inputs of a share of their columns along the way (``ForecastConfig.harvest_every_hours``);
2. a forecast *fails* if it crashed, or if its global-mean T850 drifted from the physics forecast by
   more than ``drift_tolerance_K`` averaged over the lead times. (No emulator we tried crashed this
   GCM within ten days, not even one with a +55 W/m² OLR bias: its convection, boundary layer and
   crash guard absorb bad heating as drift. So drift is the failure that matters here.)
3. the states the failed forecasts visited (their harvested columns, and the inputs before a crash,
   ``precrash.nc``) are labelled by RRTMG with the emulator's training settings;
4. the run is fine-tuned on its training data plus every round's replayed states
   (:func:`subgrid.radiation.replay_data.fine_tuning_config`), exported, and the *same* forecasts are
   run again — all of them, so a fine-tune that breaks a forecast that had passed shows.

Each round lives in ``OUT/round_K`` (``run``, ``artifact``, ``forecasts``, ``replay.zarr``,
``round.json``); a finished round is kept, so an interrupted replay resumes. ``OUT/replay.json``
holds every round's entry and the before → after summary.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.core.stores import append_json_line, write_text_atomic
from subgrid.hosts.gcm.forecast import ForecastConfig, run_forecasts, start_directory
from subgrid.physics.schema import RADIATION_INPUTS


@dataclass(frozen=True)
class ReplaySettings:
    """How :func:`replay_gcm` fine-tunes and exports (the forecasts are a :class:`ForecastConfig`)."""

    rounds: int = 3
    fmt: str = "onnx"
    epochs: int = 10
    learning_rate_factor: float = 0.3
    extra_data_repeats: int = 4

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.epochs < 1 or self.extra_data_repeats < 1:
            raise InputError(f"ReplaySettings: rounds ({self.rounds}) must be >= 0, epochs ({self.epochs}) and "
                             f"extra_data_repeats ({self.extra_data_repeats}) >= 1")  # fmt: skip


def failed_forecast_states(records: list[dict], forecasts: Path) -> xr.Dataset | None:
    """The radiation inputs the failed emulator forecasts visited (harvested columns, pre-crash inputs), or None."""
    parts = []
    for record in records:
        if not record.get("emulator", {}).get("failed"):
            continue
        run = start_directory(forecasts, record["start_day"]) / "emulator"
        files = sorted((run / "radiation_columns").glob("day_*.nc"))
        if (run / "precrash.nc").is_file():
            files.append(run / "precrash.nc")
        for path in files:
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                if "air_temperature" in ds:
                    parts.append(ds[[name for name in RADIATION_INPUTS if name in ds]].load())
    if not parts:
        return None
    return xr.concat(parts, "column").assign_attrs(vertical_order="surface_first")


def _round_entry(index: int, run: Path, artifact: Path, experiment) -> dict:
    summary = experiment.summary
    drifts = [r["emulator"]["T850_mean_drift_K"] for r in experiment.records]
    return {
        "round": index, "run": str(run.resolve()), "artifact": str(artifact.resolve()),
        "forecasts": summary["scored_starts"], "emulator_completed": summary["emulator_completed"],
        "emulator_failed": summary["emulator_failed"], "drift_tolerance_K": summary["drift_tolerance_K"],
        "T850_mean_drift_K": {"mean": float(np.mean(drifts)), "max_abs": float(np.max(np.abs(drifts)))},
        "T850_rmse_last_lead_K": float(np.nanmean([r["emulator"]["T850_rmse"][-1] for r in experiment.records])),
        "failed_starts": [r["start_day"] for r in experiment.records if r["emulator"]["failed"]],
        "guard_fallback_fraction": summary.get("guard_fallback_fraction"),
    }  # fmt: skip


def replay_gcm(data: str | Path, run: str | Path, control: str | Path | list, out: str | Path,
               forecast: ForecastConfig = ForecastConfig(starts=6, perturbed_starts=0, timed_starts=1,
                                                         harvest_every_hours=12.0, harvest_fraction=0.1),
               settings: ReplaySettings = ReplaySettings(), *, workers: int = 2, scheduler: str | None = None,
               results: str | Path | None = None, progress: bool = True) -> dict:  # fmt: skip
    """Experience replay of the emulator of training run ``run`` (trained on ``data``) in GCM forecasts.

    Rounds (module docstring) continue while a forecast fails and fewer than ``settings.rounds``
    fine-tuning rounds have run. Returns the report also written to ``OUT/replay.json``; with
    ``results``, its before → after line is appended there (e.g. ``benchmarks/results/forecasts_cpu.jsonl``).
    """
    import torch

    from subgrid.radiation.emulator import Emulator
    from subgrid.radiation.export import export_run
    from subgrid.radiation.replay_data import fine_tuning_config, label_with_rrtmg, write_replay_dataset
    from subgrid.radiation.training import train_radiation

    data, run, out = Path(data), Path(run), Path(out)
    if not (run / "model.safetensors").is_file():
        raise InputError(f"run {run}: not a finished training run (no model.safetensors)")
    if forecast.harvest_every_hours <= 0:
        raise InputError("forecast.harvest_every_hours: must be > 0, so failed forecasts leave states to replay")
    fine_tune = fine_tuning_config(run, epochs=settings.epochs, learning_rate_factor=settings.learning_rate_factor,
                                   extra_data_repeats=settings.extra_data_repeats)  # fmt: skip
    record = {"data": str(data.resolve()), "run": str(run.resolve()), "forecast": asdict(forecast),
              "settings": asdict(settings)}  # fmt: skip
    report_path = out / "replay.json"
    if report_path.is_file() and json.loads(report_path.read_text())["record"] != json.loads(json.dumps(record)):
        raise InputError(f"{out}: holds a replay with other settings; use another --out")
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    current, replay_sets = run, []
    for index in range(settings.rounds + 1):
        here = out / f"round_{index}"
        done = here / "round.json"
        if done.is_file():
            entry = json.loads(done.read_text())
        else:
            here.mkdir(parents=True, exist_ok=True)
            if index > 0:
                current = here / "run"
                if not (current / "model.safetensors").is_file():
                    train_radiation(data, current, fine_tune, init_from=Path(entries[-1]["run"]),
                                    extra_data=replay_sets, progress=progress)  # fmt: skip
            artifact = here / "artifact"
            if not (artifact / "emulator.json").is_file():
                export_run(current, artifact, settings.fmt, overwrite=True)
            threads = torch.get_num_threads()
            experiment = run_forecasts(control, artifact, here / "forecasts", forecast, workers=workers,
                                       scheduler=scheduler, progress=progress)  # fmt: skip
            torch.set_num_threads(threads)
            entry = _round_entry(index, current, artifact, experiment)
            states = failed_forecast_states(experiment.records, here / "forecasts")
            if states is not None and index < settings.rounds:
                rrtmg = Emulator.load(artifact, threads=1).rrtmg_config
                labelled = label_with_rrtmg(states, rrtmg, seed=index)
                write_replay_dataset(labelled, here / "replay.zarr", overwrite=True,
                                     attrs={"replay_round": index, "emulator_artifact": str(artifact.resolve())})  # fmt: skip
                entry["replayed_states"] = int(states.sizes["column"])
            write_text_atomic(done, json.dumps(entry, indent=1))
        entries.append(entry)
        current = Path(entry["run"])
        if (here / "replay.zarr").exists():
            replay_sets.append(here / "replay.zarr")
        if entry["emulator_failed"] == 0:
            break
    report = {"record": record, "rounds": entries, "before": entries[0], "after": entries[-1],
              "rounds_run": len(entries) - 1, "all_passed": entries[-1]["emulator_failed"] == 0}  # fmt: skip
    write_text_atomic(report_path, json.dumps(report, indent=1))
    if results is not None:
        append_json_line(results, {"record": "replay", "run": record["run"], "out": str(out.resolve()),
                                   "starts": forecast.starts, "days": forecast.days, "guard": forecast.guard,
                                   **{k: report[k] for k in ("before", "after", "rounds_run", "all_passed")}})  # fmt: skip
    return report

