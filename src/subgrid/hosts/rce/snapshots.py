"""States of the RCE host as a columns file: the host's own radiation inputs, for the generalisation suite's
``host_rce`` set (``subgrid generate suite --hosts rce=FILE``) or for labelling (``subgrid generate radiation
--from FILE``).

:func:`record_states` runs the online cases (:func:`~subgrid.hosts.rce.online.online_cases`, as ``subgrid
online radiation`` starts them) with RRTMG and keeps the radiation inputs of every column once every
``every_hours`` of model time, after the first such interval (the spin-up from the sampled start).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from subgrid.core.contract import Parameterization
from subgrid.core.errors import InputError
from subgrid.core.stores import write_netcdf_atomic
from subgrid.hosts.rce.config import RCEConfig
from subgrid.hosts.rce.model import run_rce
from subgrid.hosts.rce.online import online_cases
from subgrid.physics.rrtmg import RRTMG
from subgrid.physics.schema import RADIATION_INPUTS, VERTICAL_ORDER
from subgrid.radiation.columns import ColumnSamplerConfig

SECONDS_PER_HOUR = 3600.0


class StateRecorder:
    """A radiation scheme that passes every call to ``scheme`` and keeps the inputs of every ``every_calls``-th."""

    def __init__(self, scheme: Parameterization, every_calls: int) -> None:
        self.scheme, self.every_calls, self.calls = scheme, every_calls, 0
        self.kept: list[dict[str, np.ndarray]] = []

    @property
    def inputs(self):
        return self.scheme.inputs

    @property
    def outputs(self):
        return self.scheme.outputs

    def tendencies(self, state: Mapping[str, np.ndarray]):
        self.calls += 1
        if self.calls % self.every_calls == 0:
            self.kept.append({name: np.array(value) for name, value in state.items() if name in RADIATION_INPUTS})
        return self.scheme.tendencies(state)


def record_states(
    out: str | Path,
    *,
    cases: int = 100,
    days: float = 10.0,
    every_hours: float = 24.0,
    seed: int = 101,
    sampler: ColumnSamplerConfig = ColumnSamplerConfig(),
    config: RCEConfig | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """Run ``cases`` RCE columns with RRTMG for ``days`` and write their states every ``every_hours`` to ``out``
    (netCDF, surface first, schema names and units; written aside, then renamed; an existing ``out`` is refused
    before anything runs). Returns the states."""
    if Path(out).exists() or Path(out).is_symlink():  # never replace a file the tool may not have made
        raise InputError(f"{out}: already exists; choose another --out or remove it")
    config = config or RCEConfig(days=days)
    step_hours = config.radiation_every_steps * config.time_step_s / SECONDS_PER_HOUR
    every_calls = int(round(every_hours / step_hours))
    if every_calls < 1 or abs(every_calls * step_hours - every_hours) > 1e-6:
        raise InputError(f"every_hours: must be a whole number of radiation steps ({step_hours:g} h), got {every_hours}")
    if every_hours >= days * 24.0:
        raise InputError(f"every_hours: {every_hours} h keeps nothing in a {days:g}-day run")
    recorder = StateRecorder(RRTMG(), every_calls)
    run = run_rce(online_cases(cases, sampler, seed=seed, config=config), recorder, config, progress=progress)
    crashed = int(np.asarray(run["crashed"]).sum())
    states = xr.Dataset(
        {name: (var.dims, np.concatenate([part[name] for part in recorder.kept]), var.attrs())
         for name, var in RADIATION_INPUTS.items() if name in recorder.kept[0]},
        attrs={"vertical_order": VERTICAL_ORDER,
               "source": f"RCE host (subgrid.hosts.rce), {cases} online cases (seed {seed}), RRTMG, states every "
                         f"{every_hours:g} h of days {every_hours / 24:g}-{days:g}; {crashed} case(s) crashed"},
    )  # fmt: skip
    write_netcdf_atomic(states, Path(out))
    return states
