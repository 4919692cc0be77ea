"""What evolves in an RCE run (:class:`RunState`), and its checkpoints.

Checkpoints hold the full run state and the trajectory so far; they are written atomically
(temporary file + rename). :func:`run_fingerprint` is what a checkpoint must match to be resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from subgrid.core.errors import InputError
from subgrid.hosts.rce.config import EVOLVING_INPUTS, RCEConfig
from subgrid.hosts.rce.initial_state import PreparedColumns

#: The trajectory's per-interval records (all but the last are interval means).
RECORDS = ("air_temperature", "surface_temperature", "toa_net_downward_flux", "outgoing_longwave_radiation",
           "surface_net_downward_flux", "large_scale_heat_flux", "column_energy")  # fmt: skip
#: What is kept of the radiation calls before a crash.
#: Columns a guarded radiation (:class:`~subgrid.core.contract.GuardCounts`) sent to its fallback, by cause.
GUARD_COUNTS = ("out_of_distribution_columns", "non_finite_columns")
PRECRASH = ("precrash_column", "precrash_time_days", *(f"precrash_{name}" for name in EVOLVING_INPUTS))
_STATE_ARRAYS = ("temperature_K", "surface_temperature_K", "specific_humidity", "heating_K_per_day",
                 "toa_net_W_per_m2", "olr_W_per_m2", "surface_radiation_W_per_m2", "crashed", "crash_step",
                 "crash_reason", "ring_step")  # fmt: skip


@dataclass
class RunState:
    """Everything that evolves, as plain arrays (what a checkpoint holds)."""

    step: int
    temperature_K: np.ndarray
    surface_temperature_K: np.ndarray
    specific_humidity: np.ndarray
    heating_K_per_day: np.ndarray
    toa_net_W_per_m2: np.ndarray
    olr_W_per_m2: np.ndarray
    surface_radiation_W_per_m2: np.ndarray
    crashed: np.ndarray
    crash_step: np.ndarray
    crash_reason: np.ndarray
    radiation_calls: int
    ring: dict[str, np.ndarray]
    ring_step: np.ndarray
    precrash: dict[str, list]
    records: dict[str, list]
    timing: dict[str, float]
    #: What the radiation's guard did over the whole run (:data:`GUARD_COUNTS`), kept across resumes.
    guard: dict[str, int]

    @classmethod
    def initial(cls, columns: PreparedColumns, config: RCEConfig) -> RunState:
        n_columns, n_levels = columns.temperature_K.shape
        depth = config.precrash_states
        return cls(
            step=0,
            temperature_K=columns.temperature_K.copy(),
            surface_temperature_K=columns.surface_temperature_K.copy(),
            specific_humidity=columns.specific_humidity.copy(),
            heating_K_per_day=np.zeros((n_columns, n_levels)),
            toa_net_W_per_m2=np.zeros(n_columns),
            olr_W_per_m2=np.zeros(n_columns),
            surface_radiation_W_per_m2=np.zeros(n_columns),
            crashed=np.zeros(n_columns, dtype=bool),
            crash_step=np.full(n_columns, -1),
            crash_reason=np.zeros(n_columns, dtype=np.int8),
            radiation_calls=0,
            ring={
                "air_temperature": np.zeros((depth, n_columns, n_levels)),
                "specific_humidity": np.zeros((depth, n_columns, n_levels)),
                "surface_temperature": np.zeros((depth, n_columns)),
                "cos_solar_zenith_angle": np.zeros((depth, n_columns)),
                "earth_sun_distance_factor": np.zeros((depth, n_columns)),
            },
            ring_step=np.full((depth, n_columns), -1),
            precrash={name: [] for name in PRECRASH},
            records={name: [] for name in RECORDS},
            timing=dict.fromkeys(("radiation_wall_s", "radiation_cpu_s", "radiation_first_call_wall_s", "total_wall_s",
                                  "total_cpu_s", "radiation_columns"), 0.0),  # fmt: skip
            guard=dict.fromkeys(GUARD_COUNTS, 0),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in _STATE_ARRAYS}
        arrays.update({f"ring/{name}": value for name, value in self.ring.items()})
        arrays.update({f"precrash/{name}": np.asarray(value) for name, value in self.precrash.items()})
        arrays.update({f"records/{name}": np.asarray(value) for name, value in self.records.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: dict) -> RunState:
        def group(prefix: str, as_list: bool) -> dict:
            return {k[len(prefix):]: list(v) if as_list else v for k, v in arrays.items() if k.startswith(prefix)}

        plain = {k: v for k, v in arrays.items() if "/" not in k}
        return cls(
            step=int(meta["step"]),
            radiation_calls=int(meta["radiation_calls"]),
            timing=dict(meta["timing"]),
            guard={**dict.fromkeys(GUARD_COUNTS, 0), **meta.get("guard", {})},
            ring=group("ring/", False),
            precrash=group("precrash/", True),
            records=group("records/", True),
            **plain,
        )


def run_fingerprint(columns: PreparedColumns, config: RCEConfig) -> str:
    """What a checkpoint must match to be resumed: the initial state and every setting but the run length."""
    settings = {k: v for k, v in config.to_dict().items() if k not in ("days", "checkpoint_interval_days")}
    return hashlib.sha256((json.dumps(settings, sort_keys=True) + columns.fingerprint()).encode()).hexdigest()


def write_checkpoint(path: Path, state: RunState, fingerprint: str) -> None:
    """``state`` to ``path``, whole or not at all (temporary file, fsync, rename)."""
    meta = {"fingerprint": fingerprint, "step": state.step, "radiation_calls": state.radiation_calls,
            "timing": state.timing, "guard": state.guard}  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as file:
        np.savez(file, meta=np.array(json.dumps(meta)), **state.to_arrays())
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: Path, fingerprint: str) -> RunState:
    """The state in ``path``; refused unless written by a run with this ``fingerprint``."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta["fingerprint"] != fingerprint:
            raise InputError(
                f"checkpoint {path}: written by a run with another initial state or settings "
                "(only days and checkpoint_interval_days may change); use another checkpoint path"
            )
        return RunState.from_arrays({name: data[name] for name in data.files if name != "meta"}, meta)

