"""The GCM's radiation scheme by name: RRTMG, or an exported emulator (guarded by default)."""

from __future__ import annotations

from pathlib import Path

from subgrid.core.contract import Parameterization
from subgrid.core.errors import InputError
from subgrid.hosts.gcm.config import GCMConfig
from subgrid.physics.rrtmg import RRTMG


def radiation_scheme(name: str | Path, config: GCMConfig, *, guard: bool = True, threads: int | None = 1) -> Parameterization:
    """``"rrtmg"``, or the emulator exported at ``name`` (wrapped in its guard unless ``guard`` is False).

    An emulator trained on another number of levels than the GCM's is refused in one line (a grid-agnostic
    one takes any).
    """
    if str(name).lower() == "rrtmg":
        return RRTMG(seed=config.radiation_seed)
    from subgrid.radiation.emulator import Emulator

    # inputs come from the model (checked by the crash guard), so they are not re-validated each call
    emulator = Emulator.load(Path(name), threads=threads, validate=False, non_finite="return" if guard else "raise")
    if emulator.n_levels is not None and emulator.n_levels != config.levels:  # None: a grid-agnostic emulator
        raise InputError(f"radiation {name}: the emulator was trained on {emulator.n_levels} levels, "
                         f"this GCM has {config.levels}; train one on the GCM's own columns")  # fmt: skip
    return emulator.guarded() if guard else emulator
