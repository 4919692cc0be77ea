"""Experience replay for radiation emulators: harvest the states where online runs failed, label them with RRTMG.

An emulator can be accurate offline and still crash a coupled run (NaN/Inf or runaway
temperatures after days on extreme states). The remedy of the seed study is to retrain on the
states the coupled runs visited just before they failed (DAgger-style experience replay):

1. :func:`~subgrid.hosts.rce.comparison.compare_online` runs the cases; the emulator run keeps, for
   every crashed column, the radiation inputs of its last radiation calls (``precrash_*``).
   :class:`OODRecorder` wrapped around a guarded emulator (:class:`~subgrid.core.contract.Guarded`,
   e.g. :meth:`Emulator.guarded() <subgrid.radiation.emulator.Emulator.guarded>`) also keeps the
   columns its out-of-distribution test flagged (and sent to RRTMG).
2. :func:`harvest_replay_states` gathers both kinds as one column dataset.
3. :func:`label_with_rrtmg` runs RRTMG (the training data's settings) on them.
4. :func:`write_replay_dataset` writes them as a radiation dataset (zarr, chunked along
   ``column``, atomic) that :func:`subgrid.radiation.training_data.open_radiation_dataset` reads
   like a generated one, with ``origin = "online_replay"`` in its attrs.

:func:`replay_radiation_dataset` does 2-4 in one call. Fine-tuning on the result is the
training layer's job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from subgrid.core.contract import GuardCounts, Guarded, Variable
from subgrid.core.errors import InputError
from subgrid.hosts.rce.comparison import OnlineComparison
from subgrid.hosts.rce.model import precrash_states
from subgrid.physics.rrtmg import RRTMGConfig
from subgrid.physics.schema import RADIATION_INPUTS, VERTICAL_ORDER
from subgrid.radiation.replay_data import label_with_rrtmg, write_replay_dataset

#: ``replay_origin`` codes (index = code).
REPLAY_ORIGINS = ("precrash", "out_of_distribution")


class OODRecorder:
    """A guarded emulator that also keeps the input columns its out-of-distribution test flags.

    A :class:`~subgrid.core.contract.Parameterization`: ``tendencies`` returns what ``guarded``'s
    does, and ``counts`` are its counts. Flagged columns are recorded on every ``every_calls``-th
    call only (a column stays out of range for many calls in a row; one sample a day is plenty at
    hourly radiation), up to ``max_states`` in all.
    """

    def __init__(self, guarded: Guarded, *, every_calls: int = 24, max_states: int = 10000) -> None:
        if not isinstance(guarded, Guarded) or guarded.out_of_distribution is None:
            raise InputError(
                f"guarded: {guarded!r} has no out-of-distribution test, so it flags no columns to record "
                "(load the emulator with ood_guard=True and pass emulator.guarded())"
            )
        if every_calls < 1 or max_states < 1:
            raise InputError(f"every_calls, max_states: must be >= 1, got {every_calls}, {max_states}")
        self.guarded = guarded
        self.every_calls = every_calls
        self.max_states = max_states
        self.calls = 0
        self._recorded: list[dict[str, np.ndarray]] = []

    def __repr__(self) -> str:
        return f"OODRecorder({self.guarded!r})"

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return self.guarded.inputs

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return self.guarded.outputs

    @property
    def counts(self) -> GuardCounts:
        """The guarded scheme's counts (columns it sent to the fallback, ...)."""
        return self.guarded.counts

    @property
    def n_states(self) -> int:
        return sum(len(part["air_temperature"]) for part in self._recorded)

    def tendencies(self, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.calls % self.every_calls == 0 and self.n_states < self.max_states:
            flagged = self.guarded.out_of_distribution(state)
            keep = np.flatnonzero(flagged)[: self.max_states - self.n_states]
            if keep.size:
                self._recorded.append({name: np.array(np.asarray(value)[keep]) for name, value in state.items()})
        self.calls += 1
        return self.guarded.tendencies(state)

    def states(self) -> xr.Dataset:
        """The recorded columns as a radiation-input dataset (dim ``column``, surface first; empty if none)."""
        variables = {
            name: (var.dims, np.concatenate([part[name] for part in self._recorded]).astype(float), var.attrs())
            for name, var in RADIATION_INPUTS.items()
            if self._recorded and name in self._recorded[0]
        }
        return xr.Dataset(variables, attrs={"vertical_order": VERTICAL_ORDER})


def harvest_replay_states(
    comparison: OnlineComparison, initial_states: xr.Dataset, *, ood: OODRecorder | None = None
) -> xr.Dataset:
    """The emulator run's pre-crash states (and ``ood``'s flagged states) as one column dataset.

    ``initial_states`` are those ``comparison`` started from (they supply the inputs a run holds
    fixed). Adds ``replay_origin`` (:data:`REPLAY_ORIGINS` codes), ``source_column`` (case; -1
    for OOD states) and ``time_days`` (model time of the radiation call; NaN for OOD states).
    """
    parts = []
    crashed = precrash_states(comparison.emulator, initial_states)
    if crashed.sizes["column"]:
        parts.append(crashed.assign(replay_origin=("column", np.zeros(crashed.sizes["column"], dtype=np.int8))))
    if ood is not None and ood.n_states:
        flagged = ood.states()
        n = flagged.sizes["column"]
        parts.append(flagged.assign(
            replay_origin=("column", np.ones(n, dtype=np.int8)),
            source_column=("column", np.full(n, -1)),
            time_days=("column", np.full(n, np.nan)),
        ))  # fmt: skip
    if not parts:
        raise InputError("comparison: the emulator run never crashed and recorded no OOD states; nothing to replay")
    states = xr.concat(parts, "column", data_vars="all", join="exact") if len(parts) > 1 else parts[0]
    states["replay_origin"].attrs = {
        "flag_values": np.arange(len(REPLAY_ORIGINS), dtype=np.int8),
        "flag_meanings": " ".join(REPLAY_ORIGINS),
    }
    states.attrs = {"vertical_order": VERTICAL_ORDER}
    return states


def replay_radiation_dataset(
    comparison: OnlineComparison,
    initial_states: xr.Dataset,
    path: str | Path,
    *,
    rrtmg: RRTMGConfig = RRTMGConfig(),
    seed: int = 0,
    ood: OODRecorder | None = None,
    chunk_size: int = 64,
    overwrite: bool = False,
) -> Path:
    """Harvest (:func:`harvest_replay_states`), label (:func:`label_with_rrtmg`), write (:func:`write_replay_dataset`).

    ``rrtmg`` should be the emulator's training settings (its sidecar's ``fallback_scheme``).
    """
    states = harvest_replay_states(comparison, initial_states, ood=ood)
    labelled = label_with_rrtmg(states, rrtmg, seed)
    counts = np.bincount(states["replay_origin"].values, minlength=len(REPLAY_ORIGINS))
    attrs = {f"{origin}_states": int(count) for origin, count in zip(REPLAY_ORIGINS, counts, strict=True)}
    attrs["online_summary"] = json.dumps(comparison.summary)
    return write_replay_dataset(labelled, path, chunk_size=chunk_size, overwrite=overwrite, attrs=attrs)
