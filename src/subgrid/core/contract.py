"""The one parameterization contract, shared by physics schemes, emulators and hosts.

A :class:`Parameterization` declares what it reads and what it returns (:class:`Variable`: dims
and units) and computes ``tendencies(state) -> dict`` without changing ``state`` or itself
(counters of calls aside). Hosts call nothing else, so swapping a physics scheme for an emulator
is one argument::

    run_rce(cases, RRTMG(), config)                                   # physics
    run_rce(cases, Emulator.load("artifacts/rescnn"), config)         # emulator
    run_rce(cases, Guarded(Emulator.load(...), RRTMG()), config)      # with a guard

What ``state`` is depends on the host's contract, stated by each parameterization's ``inputs``:
the radiation schemes take a mapping of ``(column, level|interface)`` arrays (surface first) or an
xarray Dataset; the QBO drag sources take a :class:`~subgrid.physics.qbo_waves.QBOState` (the wind and the column's
background, built by the host each step).
Optional: ``diagnostics(state) -> dict`` (extra outputs a host may record; :func:`diagnostics`
returns ``{}`` for schemes without it).

:class:`Guarded` wraps an emulator with a fallback scheme and owns every safety check: columns
out of the emulator's training distribution and columns whose output is not finite go to the
fallback; a whole state that has blown up (a host-specific test) stops the emulator for good.
It counts each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Variable:
    """One variable of a contract: its dims, units and a long name."""

    dims: tuple[str, ...]
    units: str
    long_name: str

    def attrs(self) -> dict[str, str]:
        return {"units": self.units, "long_name": self.long_name}


@runtime_checkable
class Parameterization(Protocol):
    """A physics scheme or an emulator as a host sees it."""

    @property
    def inputs(self) -> Mapping[str, Variable]:
        """What :meth:`tendencies` reads from the state."""

    @property
    def outputs(self) -> Mapping[str, Variable]:
        """What :meth:`tendencies` returns."""

    def tendencies(self, state: Any) -> Mapping[str, Any]:
        """The outputs for ``state``; pure: ``state`` is not changed."""


def diagnostics(scheme: Parameterization, state: Any) -> dict:
    """``scheme.diagnostics(state)`` where the scheme has them, else ``{}``."""
    method = getattr(scheme, "diagnostics", None)
    return dict(method(state)) if callable(method) else {}


@dataclass
class GuardCounts:
    """What a :class:`Guarded` did since it was built."""

    calls: int = 0
    columns: int = 0
    #: Columns outside the emulator's training distribution, computed by the fallback.
    out_of_distribution_columns: int = 0
    #: Columns whose emulator output was not finite, computed by the fallback.
    non_finite_columns: int = 0
    #: Call (0-based) at which the state was first found blown up; None while it has not.
    blow_up_call: int | None = None

    @property
    def fallback_columns(self) -> int:
        return self.out_of_distribution_columns + self.non_finite_columns


def _rows(state: Mapping[str, Any], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: np.asarray(value)[rows] for name, value in state.items()}


@dataclass
class Guarded:
    """``emulator`` guarded by ``fallback`` (both :class:`Parameterization`, same contract).

    Args:
        emulator: the scheme to use where it can be trusted.
        fallback: the scheme for the columns the guard sends away (None: no per-column fallback;
            non-finite outputs are then returned as they are, for the host to catch).
        out_of_distribution: ``state -> bool[column]`` of columns to send to the fallback before the
            emulator runs; ``True`` (default) takes the emulator's own ``out_of_distribution``
            method where it has one, ``None``/``False`` sends none. Per-column checks need a state
            that maps names to arrays whose first axis is the column.
        blow_up: ``state -> bool``; from the first call where it is true, every output is NaN
            and neither scheme is called again (a blown-up run stays NaN at no cost).
    """

    emulator: Parameterization
    fallback: Parameterization | None = None
    out_of_distribution: Callable[[Any], np.ndarray] | bool | None = True
    blow_up: Callable[[Any], bool] | None = None
    counts: GuardCounts = field(default_factory=GuardCounts)
    _nan_template: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.out_of_distribution is True:
            self.out_of_distribution = getattr(self.emulator, "out_of_distribution", None)
        elif self.out_of_distribution is False:
            self.out_of_distribution = None
        if self.out_of_distribution is not None and self.fallback is None:
            raise ValueError("Guarded: an out-of-distribution test needs a fallback scheme for the columns it flags")

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return self.emulator.inputs

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return self.emulator.outputs

    def __repr__(self) -> str:
        return f"Guarded({self.emulator!r}, fallback={self.fallback!r})"

    def tendencies(self, state: Any) -> dict:
        call = self.counts.calls
        self.counts.calls += 1
        if self.blow_up is not None and self.counts.blow_up_call is None and self.blow_up(state):
            self.counts.blow_up_call = call
        if self.counts.blow_up_call is not None:
            return self._nan_outputs(state)
        if self.out_of_distribution is None and self.fallback is None:
            outputs = dict(self.emulator.tendencies(state))
            self._remember(outputs)
            return outputs
        return self._by_column(state)

    def _remember(self, outputs: Mapping[str, Any]) -> None:
        if self.blow_up is not None and self._nan_template is None:
            self._nan_template = {name: np.shape(value) for name, value in outputs.items()}

    def _nan_outputs(self, state: Any) -> dict:
        if self._nan_template is None:  # blown up at the first call: one call to learn the shapes
            self._remember(self.emulator.tendencies(state))
        return {name: np.full(shape, np.nan) for name, shape in self._nan_template.items()}

    def _by_column(self, state: Mapping[str, Any]) -> dict:
        first = next(iter(state.values()))
        n_columns = np.shape(first)[0]
        self.counts.columns += n_columns
        flagged = (np.zeros(n_columns, dtype=bool) if self.out_of_distribution is None
                   else np.asarray(self.out_of_distribution(state), dtype=bool))  # fmt: skip
        kept = ~flagged
        outputs: dict[str, np.ndarray] = {}
        if kept.any() or n_columns == 0:  # no columns: the emulator's empty outputs, not none
            emulated = self.emulator.tendencies(state if kept.all() else _rows(state, kept))
            outputs = {name: np.empty((n_columns, *np.shape(value)[1:])) for name, value in emulated.items()}
            for name, value in emulated.items():
                outputs[name][kept] = value
        non_finite = np.zeros(n_columns, dtype=bool)
        if self.fallback is not None and outputs and n_columns:
            for value in outputs.values():
                with np.errstate(invalid="ignore"):
                    non_finite |= kept & ~np.isfinite(value.reshape(n_columns, -1)).all(axis=1)
        away = flagged | non_finite
        if away.any():
            physics = self.fallback.tendencies(_rows(state, away))
            if not outputs:  # every column went away: the emulator's outputs, from the fallback
                outputs = {name: np.empty((n_columns, *np.shape(physics[name])[1:])) for name in self.outputs}
            for name in outputs:
                outputs[name][away] = physics[name]
        self.counts.out_of_distribution_columns += int(flagged.sum())
        self.counts.non_finite_columns += int(non_finite.sum())
        self._remember(outputs)
        return outputs
