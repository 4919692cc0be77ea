"""Restart files of the GCM: everything a run needs to continue bit for bit.

One file (``torch.save`` of tensors, numbers and a JSON string; read with ``weights_only=True``,
no pickle): the spectral state, the physics' memory (cloud condensate, Emanuel's cloud-base mass
flux, the held radiative heating and its diagnostics), the step count, the reference dry mass and
the configuration it was made with. Written to a temporary file and renamed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from dinosaur_torch import primitive_equations

from subgrid.core.errors import InputError
from subgrid.hosts.gcm.config import GCMConfig
from subgrid.hosts.gcm.dynamics import HUMIDITY, LOG_PRESSURE_REFERENCE_PA
from subgrid.hosts.gcm.physics import PhysicsMemory

#: Settings a restart fixes: the grid and the time step (the rest may change between runs).
GRID_SETTINGS = ("resolution", "levels", "time_step_s")
_SPECTRAL = ("vorticity", "divergence", "temperature_variation", "log_surface_pressure")


def save_restart(model, path: str | Path) -> Path:
    """Write ``model``'s full state to ``path`` (atomically)."""
    path = Path(path)
    memory = model.memory
    record = {name: getattr(model.state, name).clone() for name in _SPECTRAL}
    record[HUMIDITY] = model.state.tracers[HUMIDITY].clone()
    record["cloud_condensate"] = torch.from_numpy(memory.cloud_condensate.copy())
    record["cloud_base_mass_flux"] = torch.from_numpy(memory.cloud_base_mass_flux.copy())
    if memory.radiative_heating_K_per_s is not None:
        record["radiative_heating"] = torch.from_numpy(np.asarray(memory.radiative_heating_K_per_s).copy())
        for name, value in memory.radiation_diagnostics.items():
            record[f"radiation/{name}"] = torch.from_numpy(np.asarray(value, dtype=float).copy())
    record["log_surface_pressure_reference_Pa"] = float(LOG_PRESSURE_REFERENCE_PA)
    record["step"] = int(model.step_count)
    record["dry_mass"] = float(model.dry_mass)
    record["config"] = json.dumps(model.config.to_dict(), sort_keys=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(record, tmp)
    os.replace(tmp, path)
    return path


def read_restart(path: str | Path) -> dict:
    """The contents of a restart file; a missing or unreadable file is a one-line :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"restart {path}: no such file")
    try:
        record = torch.load(path, weights_only=True, map_location="cpu")
        json.loads(record["config"])
        return record
    except Exception as error:  # truncated, not a torch file, or not a GCM restart
        raise InputError(f"restart {path}: not a readable GCM restart file ({type(error).__name__})") from None


def restart_config(path: str | Path) -> GCMConfig:
    """The configuration a restart was written with."""
    return GCMConfig.from_dict(json.loads(read_restart(path)["config"]), source=path)


def load_restart(model, path: str | Path) -> None:
    """Put the state of ``path`` into ``model`` (same grid and time step, else a one-line error)."""
    record = read_restart(path)
    saved = json.loads(record["config"])
    different = [f"{name} {saved.get(name)!r} (model: {getattr(model.config, name)!r})"
                 for name in GRID_SETTINGS if saved.get(name) != getattr(model.config, name)]  # fmt: skip
    if different:
        raise InputError(f"restart {path}: made on another grid: {', '.join(different)}")
    dtype = model.dynamics.dtype  # a restart written at another precision continues at the model's
    spectral = {name: record[name].to(dtype) for name in _SPECTRAL}
    # restarts before the reference was recorded hold ln(ps) in dinosaur's pressure unit (3.3e-15 Pa)
    reference = float(record.get("log_surface_pressure_reference_Pa", model.dynamics.pressure_unit_Pa))
    if reference != LOG_PRESSURE_REFERENCE_PA:
        spectral["log_surface_pressure"] = model.dynamics.rebased_log_surface_pressure(record["log_surface_pressure"], reference)
    model.state = primitive_equations.State(**spectral, tracers={HUMIDITY: record[HUMIDITY].to(dtype)})
    heating = record.get("radiative_heating")
    model.memory = PhysicsMemory(
        record["cloud_condensate"].numpy().copy(), record["cloud_base_mass_flux"].numpy().copy(),
        None if heating is None else heating.numpy().copy(),
        {name.split("/", 1)[1]: value.numpy().copy() for name, value in record.items() if name.startswith("radiation/")})
    model.step_count = int(record["step"])
    model.dry_mass = float(record["dry_mass"])
