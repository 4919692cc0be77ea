"""The 3-D moist GCM: dynamics (:mod:`.dynamics`) + column physics (:mod:`.physics`), stepped together.

One step: the physics computes tendencies from the state at the step's start (radiation every
``radiation_every_steps``); the dynamics takes an SIL3 step with them held; the global dry-air
mass and water are then fixed to their budgets (dry mass constant; water changed by exactly the
global evaporation minus precipitation of the step); the new state is checked column by column
(the crash guard).

Crash guard: a column whose temperature leaves [150, 350] K, whose wind exceeds 250 m/s, or with
a non-finite value ends the run with :class:`ModelCrash`, naming the step, the column (latitude,
longitude) and the reason; the radiation inputs of the last ``precrash_calls`` radiation calls
at the failed columns are kept on the exception (experience replay relabels them).
"""

from __future__ import annotations


import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from subgrid.core.contract import Parameterization
from subgrid.core.errors import SubgridError
from subgrid.hosts.gcm.config import GCMConfig
from subgrid.hosts.gcm.dynamics import Dynamics
from subgrid.hosts.gcm.physics import ColumnPhysics, PhysicsMemory
from subgrid.physics.water import column_water_kg_per_m2

TEMPERATURE_RANGE_K = (150.0, 350.0)
MAX_WIND_M_PER_S = 250.0
CRASH_REASONS = ("state_not_finite", "temperature_out_of_range", "wind_too_strong")


class ModelCrash(SubgridError, RuntimeError):
    """The GCM's state left the physical range at some columns; the message names step, place and reason."""

    def __init__(self, message: str, step: int, columns: np.ndarray, reasons: list[str], precrash: list[dict]) -> None:
        super().__init__(message)
        self.step, self.columns, self.reasons, self.precrash = step, columns, reasons, precrash


@dataclass
class Timers:
    """Wall seconds spent per part of the model (radiation, convection and the rest of the physics, dynamics)."""

    seconds: dict[str, float] = field(default_factory=lambda: dict(radiation=0.0, physics=0.0, dynamics=0.0, fixers=0.0))

    def add(self, name: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[name] += now - start
        return now


class GCM:
    """The model for ``config`` with ``radiation`` (RRTMG, an emulator, a guarded emulator: any Parameterization)."""

    def __init__(self, config: GCMConfig, radiation: Parameterization, precrash_calls: int = 3) -> None:
        import numba
        import torch

        # One thread per model (parallelise with processes: forecasts run as Dask tasks). The boundary
        # layer's numba kernel is parallel=True; with a thread per core its idle threads spin after each
        # call and take the other cores. Two unpinned runs on 2 cores measured 10x slower dynamics that
        # way (13 s instead of 1.3 s for 30 steps at T21). Thread-local: set in the thread that steps.
        numba.set_num_threads(1)
        # And torch (its MKL): the dynamics' sums change with the thread count, and a forecast must be
        # bit-identical to the run that wrote its restart whatever the environment (measured: 0.05 K in T850
        # after 6 hours between MKL_NUM_THREADS=1 and the default). Process-wide.
        torch.set_num_threads(1)
        self.config = config
        self.dynamics = Dynamics(config)
        self.timers = Timers()
        self.radiation = radiation
        self.physics = ColumnPhysics(config, self.dynamics.latitude_deg, self.dynamics.longitude_deg,
                                     _TimedRadiation(radiation, self.timers))  # fmt: skip
        self._recent_radiation_inputs: deque = deque(maxlen=precrash_calls)
        self.state = self.dynamics.initial_state()
        self.memory = PhysicsMemory.empty(self.dynamics.ncol, config.levels)
        self.step_count = 0
        self.last_radiation_inputs: dict[str, np.ndarray] | None = None
        #: (state, its columns, its global masses), so that each is computed once per state
        self._known: tuple = (None, None, None)
        mass, water = self.dynamics.global_masses(self.state)
        self.dry_mass = mass - water

    @property
    def time_days(self) -> float:
        return self.step_count / self.config.steps_per_day

    def column_state(self) -> dict[str, np.ndarray]:
        """Columns of the current state (computed once per state: the crash check's are the next step's)."""
        state, columns, _ = self._known
        if state is not self.state or columns is None:
            self._known = (self.state, self.dynamics.columns(self.state), None)
        return self._known[1]

    def _global_masses(self) -> tuple[float, float]:
        state, columns, masses = self._known
        if state is not self.state or masses is None:
            masses = self.dynamics.global_masses(self.state)
            self._known = (self.state, columns if state is self.state else None, masses)
        return masses

    def step(self) -> dict[str, np.ndarray]:
        """One time step; returns the physics diagnostics of the step (per column)."""
        columns = self.column_state()
        tendencies, memory, diagnostics, radiation_inputs = self._physics_step(columns)
        self.last_radiation_inputs = radiation_inputs
        if radiation_inputs is not None:
            self._recent_radiation_inputs.append((self.step_count, radiation_inputs))
        start = time.perf_counter()
        _, water_before = self._global_masses()
        self.dynamics.hold_tendencies(self.state, tendencies["air_temperature"], tendencies["specific_humidity"],
                                      tendencies["eastward_wind"], tendencies["northward_wind"])  # fmt: skip
        state = self.dynamics.step(self.state)
        start = self.timers.add("dynamics", start)
        # vapour: + evaporation - precipitation - what the clouds now hold more than before
        weight = self.dynamics.area_weight
        net = weight @ (diagnostics["evaporation"] - diagnostics["convective_precipitation"]
                        - diagnostics["large_scale_precipitation"])  # fmt: skip
        clouds_before = column_water_kg_per_m2(self.memory.cloud_condensate, columns["air_pressure_on_interface"])
        clouds_gained = weight @ (diagnostics["column_condensate"] - clouds_before)
        water_target = water_before + self.config.time_step_s * float(net) - float(clouds_gained)
        state, mass_fix, water_fix = self.dynamics.fix_global_budgets(state, self.dry_mass, water_target)
        mass_after, water_after = self.dynamics.global_masses(state)
        self.timers.add("fixers", start)
        budgets = {"mass_fix": mass_fix, "water_fix": water_fix,
                   "water_budget_residual": abs(water_after - water_target) / water_target,
                   "dry_mass_residual": abs(mass_after - water_after - self.dry_mass) / self.dry_mass,
                   "filled_water_fraction": float(diagnostics.pop("filled_water_fraction"))}  # fmt: skip
        diagnostics["budgets"] = budgets
        checked = self._check(state)
        self.state, self.memory = state, memory
        self._known = (state, checked, (mass_after, water_after))
        self.step_count += 1
        return diagnostics

    def _physics_step(self, columns):
        start, radiation_before = time.perf_counter(), self.timers.seconds["radiation"]
        out = self.physics.step(columns, self.memory, self.step_count, self.dynamics.area_weight)
        radiation = self.timers.seconds["radiation"] - radiation_before
        self.timers.seconds["physics"] += time.perf_counter() - start - radiation
        return out

    def _check(self, state) -> dict[str, np.ndarray]:
        """The columns of ``state``, once they are found sound; :class:`ModelCrash` where they are not."""
        columns = self.dynamics.columns(state)
        t = columns["air_temperature"]
        speed = np.maximum(np.abs(columns["eastward_wind"]), np.abs(columns["northward_wind"]))
        finite = np.all([np.isfinite(x).all(axis=1) for x in columns.values()], axis=0)
        reasons = np.where(~finite, 0, np.where((t < TEMPERATURE_RANGE_K[0]).any(axis=1) | (t > TEMPERATURE_RANGE_K[1]).any(axis=1),
                                                 1, np.where((speed > MAX_WIND_M_PER_S).any(axis=1), 2, -1)))  # fmt: skip
        failed = np.flatnonzero(reasons >= 0)
        if failed.size == 0:
            return columns
        lat, lon = self.dynamics.latitude_deg, self.dynamics.longitude_deg
        with np.errstate(invalid="ignore"):
            excess = np.maximum.reduce([t - TEMPERATURE_RANGE_K[1], TEMPERATURE_RANGE_K[0] - t, speed - MAX_WIND_M_PER_S]).max(axis=1)
        first = failed[np.argmax(np.where(finite[failed], excess[failed], np.inf))]  # the worst column
        names = [CRASH_REASONS[r] for r in reasons[failed]]
        precrash = [{"step": step, **{name: np.asarray(x)[failed] for name, x in inputs.items()}}
                    for step, inputs in self._recent_radiation_inputs]  # fmt: skip
        raise ModelCrash(
            f"the GCM crashed in step {self.step_count + 1} (day {(self.step_count + 1) / self.config.steps_per_day:.2f}): "
            f"{failed.size} column(s), worst at {lat[first]:.1f}N {lon[first]:.1f}E ({CRASH_REASONS[reasons[first]]})",
            self.step_count + 1, failed, names, precrash)


class _TimedRadiation:
    """The radiation scheme, its calls timed into ``timers`` (the radiation share of a model day)."""

    def __init__(self, scheme: Parameterization, timers: Timers) -> None:
        self.scheme, self.timers = scheme, timers
        self.inputs, self.outputs = scheme.inputs, scheme.outputs

    def __repr__(self) -> str:
        return repr(self.scheme)

    def tendencies(self, state):
        start = time.perf_counter()
        try:
            return self.scheme.tendencies(state)
        finally:
            self.timers.seconds["radiation"] += time.perf_counter() - start
