"""Spin the gravity-wave atmosphere up to a statistically stationary state, and branch runs from it.

Held-Suarez relaxes temperature with a 40-day time scale in the free troposphere, so a run that
starts from the isothermal state in solid-body rotation drifts for 100-200 model days: a record
taken earlier is not stationary (its flux rms grows through the record) and its last part is out
of distribution for anything trained on its first part.

:func:`spin_up` runs :class:`~subgrid.gravity_waves.gridded.simulation.GWSimulationConfig`'s
atmosphere day by day and records three daily diagnostics:

* ``kinetic_energy_J_per_kg``: the global, area-weighted (cos lat) mean of (u^2 + v^2)/2 over all
  sigma layers (equal sigma thickness, so layer-mass weighted to the extent that surface pressure
  is uniform);
* ``temperature_K``: the global area-weighted mean temperature;
* ``jet_north_m_per_s``, ``jet_south_m_per_s``: the maximum over latitude of the zonal-mean zonal
  wind on the level nearest sigma = 0.25 in each hemisphere.

**The stationarity criterion** (:func:`stationarity`): over the last ``window_days`` (default 50)
each series' mean over the second half differs from its mean over the first half by less than
``tolerance`` (default 5 %) of the window mean (jets and energy; temperature by less than
``tolerance_K``, default 0.5 K), and the least-squares linear trend times the window length is
within the same bounds. The spin-up stops at the first daily check after ``min_days`` where it holds,
or at ``max_days`` (the report then says it is not stationary).

Everything goes to a directory: ``state.safetensors`` (the spectral state and model time, no
pickle), ``spinup.json`` (the configuration, the daily series and the verdict). Both are written
under temporary names and renamed; the spin-up resumes from them when run again with the same
configuration. :func:`subgrid.gravity_waves.gridded.simulation.simulate_fields` starts from the
directory when ``GWSimulationConfig.initial_state`` names it: it adds the config's seeded 0.1 K
perturbation to the stationary state (a *branch*; different seeds give independent weather
after a decorrelation period, the config's ``spinup_days``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

from subgrid.core.errors import InputError
from subgrid.core.stores import write_text_atomic
from subgrid.physics.constants import SECONDS_PER_DAY
from subgrid.physics.dycore import GravityWaveAtmosphere, Snapshot

#: Settings that must agree between a spin-up and the runs branched from it (the dynamics).
DYNAMICS = ("resolution", "levels", "time_step_minutes", "jet_m_per_s", "mountains", "mountain_scale",
            "hills", "hill_height_m", "hill_width_deg",
            "heating_K_per_day", "heating_lat_deg", "heating_lon_deg", "heating_radius_deg", "held_suarez",
            "convective_cells", "convective_peak_K_per_day", "convective_radius_deg", "convective_lifetime_hours",
            "convective_tilt_hours")
#: Of those, what a branch may change (spectral truncation or padding of the state, a time step to suit).
REGRIDDABLE = ("resolution", "time_step_minutes")
SERIES = ("kinetic_energy_J_per_kg", "temperature_K", "jet_north_m_per_s", "jet_south_m_per_s")
STATE_FILE, REPORT_FILE = "state.safetensors", "spinup.json"
JET_SIGMA = 0.25


def daily_diagnostics(snapshot: Snapshot, lat_deg: np.ndarray, sigma: np.ndarray) -> dict[str, float]:
    """The four :data:`SERIES` of one snapshot (arrays ``[level, lat north-to-south, lon]``)."""
    weights = np.cos(np.radians(lat_deg))[None, :, None]
    area_mean = lambda x: float(np.average(x, weights=np.broadcast_to(weights, x.shape)))  # noqa: E731
    zonal = snapshot.u[int(np.argmin(np.abs(sigma - JET_SIGMA)))].mean(axis=-1)
    return {"kinetic_energy_J_per_kg": area_mean(0.5 * (snapshot.u**2 + snapshot.v**2)),
            "temperature_K": area_mean(snapshot.temperature),
            "jet_north_m_per_s": float(zonal[lat_deg > 0].max()),
            "jet_south_m_per_s": float(zonal[lat_deg < 0].max())}


@dataclass(frozen=True)
class StationarityCriterion:
    """Stationary when, over the last ``window_days``, half-window means and the linear trend agree (module docstring)."""

    window_days: int = 50
    tolerance: float = 0.05
    tolerance_K: float = 0.5

    def check(self, series: dict[str, list[float]]) -> dict:
        """Per series: window mean, change between the halves and trend over the window; ``stationary`` overall."""
        n = len(next(iter(series.values()), []))
        if n < self.window_days:
            return {"stationary": False, "reason": f"{n} days recorded, the window is {self.window_days}"}
        out, ok = {}, True
        for name, values in series.items():
            window = np.asarray(values[-self.window_days:], np.float64)
            half = self.window_days // 2
            mean = float(window.mean())
            change = float(window[half:].mean() - window[:half].mean())
            trend = float(np.polyfit(np.arange(self.window_days), window, 1)[0] * self.window_days)
            bound = self.tolerance_K if name == "temperature_K" else self.tolerance * abs(mean)
            passed = abs(change) < bound and abs(trend) < bound
            ok &= passed
            out[name] = {"mean": round(mean, 4), "half_change": round(change, 4), "trend_over_window": round(trend, 4),
                         "bound": round(bound, 4), "passed": passed}
        return {"stationary": ok, "window_days": self.window_days, "series": out}


@dataclass(frozen=True)
class SpinupReport:
    directory: Path
    days: int
    stationary: bool
    verdict: dict


def _dynamics(config) -> dict:
    described = config.describe()
    return {name: described[name] for name in DYNAMICS}


def read_spinup(directory: str | Path) -> dict:
    """``spinup.json`` of a spin-up directory (clear error if it is not one)."""
    path = Path(directory) / REPORT_FILE
    if not path.is_file() or not (Path(directory) / STATE_FILE).is_file():
        raise InputError(f"initial_state {directory}: not a spin-up directory (no {REPORT_FILE} and {STATE_FILE}); "
                         "make one with subgrid.gravity_waves.gridded.spinup.spin_up")
    return json.loads(path.read_text())


def start_from_spinup(atmosphere: GravityWaveAtmosphere, config, directory: str | Path, *,
                      regrid: bool = False) -> dict:
    """Load the stationary state of ``directory`` into ``atmosphere`` after checking the dynamics agree.

    ``regrid``: a branch may run at another resolution and time step than the spin-up (the state is
    spectrally truncated or zero-padded, :meth:`GravityWaveAtmosphere.load_state_tensors`); every other
    setting must still agree. The branch's own ``spinup_days`` then adjust the new scales; the spin-up's
    stationarity verdict was reached at its own resolution, not this one.
    """
    report = read_spinup(directory)
    ours = _dynamics(config)
    free = REGRIDDABLE if regrid else ()
    # a setting added after a spin-up was written is absent from its report: it ran with the default
    defaults = {f.name: f.default for f in fields(config)}
    theirs = {name: report["dynamics"].get(name, defaults.get(name)) for name in DYNAMICS}
    different = [name for name in DYNAMICS if name not in free and theirs[name] != ours[name]]
    if different:
        raise InputError(f"initial_state {directory}: spun up with other dynamics ({', '.join(different)}: "
                         f"{[theirs[n] for n in different]} vs {[ours[n] for n in different]})")
    atmosphere.load_state_tensors(load_file(str(Path(directory) / STATE_FILE)), regrid=regrid)
    return report


def _save(directory: Path, atmosphere: GravityWaveAtmosphere, report: dict) -> None:
    tmp = directory / (STATE_FILE + ".tmp")
    save_file({k: v.contiguous() for k, v in atmosphere.state_tensors().items()}, str(tmp))
    os.replace(tmp, directory / STATE_FILE)
    write_text_atomic(directory / REPORT_FILE, json.dumps(report, indent=1))


def spin_up(config, directory: str | Path, *, max_days: int = 300, min_days: int = 100,
            criterion: StationarityCriterion = StationarityCriterion(), save_every_days: int = 10,
            progress: Callable[[int, int], None] | None = None) -> SpinupReport:
    """Run ``config``'s atmosphere (from its seed) until ``criterion`` holds (checked daily after ``min_days``).

    Resumable: the state is saved every ``save_every_days`` and at the end; run again with the same
    dynamics and it continues (a finished stationary spin-up returns at once).
    """
    directory = Path(directory)
    if not directory.parent.is_dir():
        raise InputError(f"{directory.parent}: no such directory")
    if min_days < criterion.window_days or max_days < min_days:
        raise InputError(f"min_days {min_days} / max_days {max_days}: need window_days {criterion.window_days} "
                         "<= min_days <= max_days")
    if directory.exists() and any(directory.iterdir()) and not (directory / REPORT_FILE).exists():
        raise InputError(f"{directory}: a directory that is not a spin-up (no {REPORT_FILE}); choose another --out")
    directory.mkdir(exist_ok=True)
    atmosphere = config.build()
    steps_per_day = round(1440 / config.time_step_minutes)
    if steps_per_day * config.time_step_minutes != 1440:
        raise InputError(f"time_step_minutes {config.time_step_minutes}: must divide a day")
    report = {"dynamics": _dynamics(config), "seed": config.seed, "days": 0, "series": {k: [] for k in SERIES},
              "criterion": vars(criterion)}
    if (directory / REPORT_FILE).exists():
        report = read_spinup(directory)
        start_from_spinup(atmosphere, config, directory)
        report["days"] = round(atmosphere.time_s / SECONDS_PER_DAY)
        report["series"] = {k: v[: report["days"]] for k, v in report["series"].items()}
    lat, sigma = atmosphere.lat_deg, atmosphere.sigma
    verdict = criterion.check(report["series"])
    resumed_at = report["days"]
    while report["days"] < max_days and not (report["days"] >= min_days and verdict["stationary"]):
        for _ in range(steps_per_day):
            atmosphere.step()
        report["days"] += 1
        for name, value in daily_diagnostics(atmosphere.snapshot(), lat, sigma).items():
            report["series"][name].append(round(value, 5))
        verdict = criterion.check(report["series"])
        report["verdict"] = verdict
        if report["days"] % save_every_days == 0:
            _save(directory, atmosphere, report)
        if progress is not None:
            progress(report["days"], max_days)
    report["verdict"] = verdict
    if report["days"] > resumed_at or not (directory / STATE_FILE).exists():  # a finished spin-up is only read
        _save(directory, atmosphere, report)
    return SpinupReport(directory, report["days"], bool(verdict["stationary"]), verdict)
