"""The gridded gravity-wave flux emulator online: a trained run as a :class:`~subgrid.core.contract.Parameterization`.

:class:`GriddedFluxEmulator` wraps a :class:`~subgrid.gravity_waves.gridded.training.GriddedGWEmulator`
and the description of its run (``model.json``): its ``inputs`` are the run's input variables as
:func:`~subgrid.gravity_waves.gridded.dataset.open_gw_gridded` names them (static ones on
``(lat, lon)``, the others on ``(level, lat, lon)`` with every level, in file order), its
``outputs`` the run's targets (by default ``uw_flux``, ``vw_flux``) on ``(level, lat, lon)`` at
the run's target levels. ``tendencies(state)`` predicts them for one state (one time step): a
mapping of those names to arrays, or an xarray Dataset holding them.

Units are those of the training data: the public fine-tuning files are normalised by their
producer (units ``"1"``), our own datasets are in physical units
(:data:`subgrid.gravity_waves.gridded.fluxes.UNITS`: fluxes in Pa).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from subgrid.core.contract import Variable
from subgrid.core.errors import InputError
from subgrid.gravity_waves.gridded.dataset import LONG_NAMES, NORMALISATION, SINGLE_CHANNEL_INPUTS
from subgrid.gravity_waves.gridded.fluxes import UNITS as OWN_DATASET_UNITS
from subgrid.gravity_waves.gridded.training import GriddedGWEmulator, load_gw_gridded_emulator

#: Units of the named variables of our own datasets (as :func:`~subgrid.gravity_waves.gridded.dataset.open_gw_gridded` reads them).
OWN_UNITS = {"latitude_feature": "degrees_north", "longitude_feature": "degrees_east", **OWN_DATASET_UNITS}


class GriddedFluxEmulator:
    """Gravity-wave momentum fluxes on a lat-lon grid from a trained gridded emulator.

    Args:
        emulator: the trained network (file units in, file units out).
        description: its run's ``model.json`` (``inputs``, ``targets``, ``target_levels``,
            ``input_channels``, ``units``), as :func:`load_gw_gridded_emulator` returns it.
    """

    def __init__(self, emulator: GriddedGWEmulator, description: Mapping[str, Any]) -> None:
        self.emulator = emulator.eval()
        self.description = dict(description)
        names = list(description["inputs"])
        n_static = sum(name in SINGLE_CHANNEL_INPUTS for name in names)
        n_level_inputs = len(names) - n_static
        self.n_levels = (len(description["input_channels"]) - n_static) // max(n_level_inputs, 1)
        self.target_levels = list(description["target_levels"])
        normalised = description.get("units") == NORMALISATION
        units = {name: "1" if normalised else OWN_UNITS.get(name, "1") for name in (*names, *description["targets"])}
        self._inputs = {
            name: Variable(("lat", "lon") if name in SINGLE_CHANNEL_INPUTS else ("level", "lat", "lon"), units[name], LONG_NAMES[name])
            for name in names
        }
        self._outputs = {
            name: Variable(("level", "lat", "lon"), units[name], f"predicted {LONG_NAMES[name]}")
            for name in description["targets"]
        }
        self.dtype = emulator.target_std.dtype

    @classmethod
    def load(cls, run: str | Path) -> GriddedFluxEmulator:
        """The emulator of the trained run directory ``run``."""
        return cls(*load_gw_gridded_emulator(run))

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return self._inputs

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return self._outputs

    def _field(self, state: Mapping[str, Any] | xr.Dataset, name: str) -> np.ndarray:
        if name not in state:
            raise InputError(f"state: no {name!r} (the emulator reads {list(self._inputs)})")
        dims = self._inputs[name].dims
        value = state[name]
        if isinstance(value, xr.DataArray):
            if set(value.dims) != set(dims):
                raise InputError(f"{name}: dims {value.dims}, expected {dims} (one time step)")
            value = value.transpose(*dims).values
        value = np.asarray(value)
        if value.ndim != len(dims) or (len(dims) == 3 and value.shape[0] != self.n_levels):
            expected = ", ".join(f"{self.n_levels} levels" if d == "level" else d for d in dims)
            raise InputError(f"{name}: shape {value.shape}, expected ({expected})")
        return value.reshape(-1, *value.shape[-2:])

    def tendencies(self, state: Mapping[str, Any] | xr.Dataset) -> dict[str, np.ndarray]:
        """The targets ``(target level, lat, lon)`` (float64) for one state; ``state`` is not changed."""
        blocks = [self._field(state, name) for name in self._inputs]
        grids = {block.shape[-2:] for block in blocks}
        if len(grids) != 1:
            raise InputError(f"state: the inputs are on different grids {sorted(grids)}")
        x = torch.as_tensor(np.concatenate(blocks)[None], dtype=self.dtype)
        with torch.inference_mode():
            y = self.emulator(x)[0].double().numpy()
        n = len(self.target_levels)
        return {name: y[k * n : (k + 1) * n] for k, name in enumerate(self._outputs)}

    def __repr__(self) -> str:
        return f"GriddedFluxEmulator({self.description.get('model')}, {list(self._inputs)} -> {list(self._outputs)})"
