"""The gravity-wave column drag emulator as a :class:`~subgrid.core.contract.Parameterization`.

:class:`EmulatedDrag` puts a trained :class:`~subgrid.gravity_waves.column.training.GWEmulator`
(``(u[B, L], source_flux[B], spectral_width[B]) -> drag[B, L]``) behind the same contract as the
physics drag sources of :mod:`subgrid.physics.qbo_waves`: ``tendencies(state)`` reads a
:class:`~subgrid.physics.qbo_waves.QBOState` and returns ``{"drag": m s⁻¹ day⁻¹}``, so a host
(:func:`subgrid.hosts.qbo.model.run_qbo`) takes either as its one ``drag`` argument.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from subgrid.core.contract import Variable
from subgrid.physics.qbo_waves import (
    QBO_DRAG_OUTPUTS,
    QBO_STATE_VARIABLES,
    QBOState,
    QBOWaveSource,
    source_parameters,
)


class EmulatedDrag:
    """GW column drag from an emulator ``(u[B, L], flux[B], width[B]) -> drag[B, L]``.

    ``source`` is the physics source the emulator replaces: only its day's parameters are read
    (:func:`~subgrid.physics.qbo_waves.source_parameters`; the stochastic draws are a pure
    function of seed and step, so emulator and physics see the same waves). Computes in the
    emulator's own dtype (float32 for a trained one) and returns float64.
    """

    def __init__(self, emulator: torch.nn.Module, source: QBOWaveSource) -> None:
        self.emulator = emulator.eval()
        self.source = source
        tensors = [*emulator.parameters(), *emulator.buffers()]
        self.dtype = tensors[0].dtype if tensors else torch.get_default_dtype()

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return {name: QBO_STATE_VARIABLES[name] for name in ("u_m_per_s", "step", "seed")}

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return QBO_DRAG_OUTPUTS

    def tendencies(self, state: QBOState) -> dict[str, np.ndarray]:
        u = np.asarray(state.u_m_per_s, dtype=float)
        columns = torch.as_tensor(u.reshape(-1, u.shape[-1]), dtype=self.dtype)
        flux, width = source_parameters(self.source, state)
        n = columns.shape[0]
        with torch.inference_mode():
            flux_Pa, width_m_per_s = (torch.full((n,), value, dtype=self.dtype) for value in (flux, width))
            drag = self.emulator(columns, flux_Pa, width_m_per_s)
        return {"drag": drag.double().numpy().reshape(u.shape)}

    def __repr__(self) -> str:
        backbone = getattr(self.emulator, "backbone", self.emulator)
        return f"EmulatedDrag({type(backbone).__name__}, parameters of {self.source!r})"
