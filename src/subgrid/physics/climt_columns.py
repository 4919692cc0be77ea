"""climt's compiled column schemes that the 3-D host uses, on ``(column, level)`` arrays, surface first.

* :class:`EmanuelConvection` — Emanuel (1991) / Emanuel & Živković-Rothman (1999) moist convection
  (climt's Fortran). Its cloud-base mass flux is a memory the scheme relaxes over time: it is an
  input and an output of ``tendencies`` (the host carries it), so the call stays pure.
* :class:`FriersonBoundaryLayer` — climt's ``SimpleBoundaryLayer`` (Frierson et al. 2006): a
  K-profile boundary layer with a bulk-Richardson height, here in no-flux mode (the surface fluxes
  come from :func:`subgrid.physics.surface.implicit_bulk_exchange` first).

Layouts climt wants (DESIGN.md section 8): Emanuel (column, level) with pressures in hPa, the
boundary layer (level, column) in Pa; both surface first. The boundary layer's kernel is numba
``parallel=True``: call ``numba.set_num_threads(1)`` (thread-local) on shared cores, as the 3-D
host's model does, or its idle threads spin on the other cores; its first call compiles (~15 s).

Water: Emanuel's convective precipitation here is the column's loss of vapour,
``−Σ (∂q/∂t) Δp / g``, so the column budget closes exactly (the scheme's own precipitation
diagnostic differs from it by its internal round-off; the host records both).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping

import numpy as np

from subgrid.core.contract import Variable
from subgrid.physics.schema import RADIATION_INPUTS
from subgrid.physics.thermodynamics import saturation_specific_humidity_kg_per_kg
from subgrid.physics.water import layer_mass_kg_per_m2

_LEV = ("column", "level")
_COL = ("column",)
_WINDS = {
    "eastward_wind": Variable(_LEV, "m s-1", "eastward wind"),
    "northward_wind": Variable(_LEV, "m s-1", "northward wind"),
}
_THERMO = {name: RADIATION_INPUTS[name]
           for name in ("air_temperature", "specific_humidity", "air_pressure", "air_pressure_on_interface")}  # fmt: skip
_TENDENCIES = {
    "air_temperature_tendency": Variable(_LEV, "K s-1", "temperature tendency"),
    "specific_humidity_tendency": Variable(_LEV, "s-1", "specific humidity tendency"),
    "eastward_wind_tendency": Variable(_LEV, "m s-2", "eastward wind tendency"),
    "northward_wind_tendency": Variable(_LEV, "m s-2", "northward wind tendency"),
}
_STATE_NAMES = ("air_temperature", "specific_humidity", "eastward_wind", "northward_wind")


def _contiguous(x: np.ndarray) -> np.ndarray:
    """A C-ordered float64 copy: climt's kernels write into some of their inputs (Emanuel's mass flux)."""
    return np.array(x, dtype=np.float64, order="C", copy=True)


class EmanuelConvection:
    """climt's Emanuel convection as a :class:`~subgrid.core.contract.Parameterization` (module docstring)."""

    def __init__(self, time_step_s: float) -> None:
        import climt  # the compiled scheme; imported when a host builds one

        self.time_step_s = float(time_step_s)
        self._scheme = climt.EmanuelConvection()

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return {**_THERMO, **_WINDS, "cloud_base_mass_flux": Variable(_COL, "kg m-2 s-1", "convective cloud-base mass flux")}

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return {**_TENDENCIES,
                "convective_precipitation_flux": Variable(_COL, "kg m-2 s-1", "convective precipitation (column vapour loss)"),
                "cloud_base_mass_flux": self.inputs["cloud_base_mass_flux"]}  # fmt: skip

    def tendencies(self, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        interfaces = np.asarray(state["air_pressure_on_interface"], dtype=float)
        call = {name: _contiguous(state[name]) for name in _STATE_NAMES}
        call["air_pressure"] = _contiguous(np.asarray(state["air_pressure"]) / 100.0)
        call["air_pressure_on_interface_levels"] = _contiguous(interfaces / 100.0)
        call["cloud_base_mass_flux"] = _contiguous(state["cloud_base_mass_flux"])
        rates, diagnostics = self._scheme.array_call(call, _dt.timedelta(seconds=self.time_step_s))
        out = {f"{name}_tendency": np.array(rates[name], dtype=float) for name in _STATE_NAMES}
        loss = -np.sum(out["specific_humidity_tendency"] * layer_mass_kg_per_m2(interfaces), axis=1)
        out["convective_precipitation_flux"] = loss
        out["cloud_base_mass_flux"] = np.array(diagnostics["cloud_base_mass_flux"], dtype=float)
        return out


class FriersonBoundaryLayer:
    """climt's ``SimpleBoundaryLayer`` (Frierson 2006) in no-flux mode as a Parameterization (module docstring)."""

    def __init__(self, time_step_s: float) -> None:
        import climt

        self.time_step_s = float(time_step_s)
        self._scheme = climt.SimpleBoundaryLayer(surface_fluxes=None)

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return {**_THERMO, **_WINDS, "surface_temperature": RADIATION_INPUTS["surface_temperature"]}

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return {**_TENDENCIES, "boundary_layer_height": Variable(_COL, "m", "boundary-layer height")}

    def tendencies(self, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        interfaces = np.asarray(state["air_pressure_on_interface"], dtype=float)
        surface_pressure = interfaces[:, 0]
        call = {name: _contiguous(np.asarray(state[name]).T) for name in (*_STATE_NAMES, "air_pressure")}
        call["air_pressure_on_interface_levels"] = _contiguous(interfaces.T)
        call["surface_air_pressure"] = _contiguous(surface_pressure)
        call["surface_temperature"] = _contiguous(state["surface_temperature"])
        # read by climt's state check; with no surface fluxes the mixing does not use it
        call["surface_specific_humidity"] = saturation_specific_humidity_kg_per_kg(call["surface_temperature"], surface_pressure)
        diagnostics, new = self._scheme.array_call(call, _dt.timedelta(seconds=self.time_step_s))
        out = {f"{name}_tendency": (np.asarray(new[name], dtype=float).T - np.asarray(state[name], dtype=float))
               / self.time_step_s for name in _STATE_NAMES}  # fmt: skip
        out["boundary_layer_height"] = np.array(diagnostics["boundary_layer_height"], dtype=float)
        return out

