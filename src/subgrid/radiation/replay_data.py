"""Replayed states as training data: label columns with RRTMG, write them as a radiation dataset, fine-tune settings.

Shared by the hosts' experience-replay loops (:mod:`subgrid.hosts.rce.online`, :mod:`subgrid.hosts.gcm.replay`),
which may not import each other.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import xarray as xr

import subgrid
from subgrid.core.chunked import write_zarr_atomic
from subgrid.core.errors import InputError
from subgrid.core.ownership import DATASET, check_replaceable
from subgrid.physics.rrtmg import RRTMGConfig, radiative_transfer_arrays, to_surface_first, validate_radiation_inputs
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER
from subgrid.radiation.training import RadiationTrainingConfig

GENERATOR = "subgrid.radiation.replay_data"


def label_with_rrtmg(states: xr.Dataset, config: RRTMGConfig = RRTMGConfig(), seed: int = 0) -> xr.Dataset:
    """``states`` with RRTMG's fluxes and heating rates (:data:`~subgrid.physics.schema.RADIATION_OUTPUTS`) added.

    Inputs are validated as the scheme validates user data (an error names variable and column);
    ``seed`` seeds McICA. Raises :class:`FloatingPointError` on a non-finite label.
    """
    ordered, _ = to_surface_first(states)
    validate_radiation_inputs(ordered, config)
    arrays = {name: ordered[name].values for name in RADIATION_INPUTS if name in ordered}
    outputs = radiative_transfer_arrays(arrays, config, seed)
    labelled = ordered.copy()
    for name, var in RADIATION_OUTPUTS.items():
        if not np.isfinite(outputs[name]).all():
            raise FloatingPointError(f"RRTMG returned non-finite {name} for a replay state")
        labelled[name] = xr.Variable(var.dims, outputs[name], var.attrs())
    labelled.attrs = {
        **ordered.attrs,
        "vertical_order": VERTICAL_ORDER,
        "rrtmg_settings": json.dumps(config.to_dict(), sort_keys=True),
        "rrtmg_seed": seed,
    }
    return labelled


def write_replay_dataset(
    labelled: xr.Dataset,
    path: str | Path,
    *,
    chunk_size: int = 64,
    overwrite: bool = False,
    attrs: Mapping[str, str | int | float] | None = None,
) -> Path:
    """Write RRTMG-labelled states as a radiation dataset (zarr v2, consolidated, chunked along ``column``).

    Written under a temporary name next to ``path`` and renamed, so ``path`` is always whole.
    ``attrs`` (e.g. the emulator and round) are added to the provenance attrs.
    """
    path = Path(path)
    missing = [name for name in (*RADIATION_INPUTS, *RADIATION_OUTPUTS) if name not in labelled]
    missing = [name for name in missing if name != "earth_sun_distance_factor"]
    if missing:
        raise InputError(f"labelled: missing {', '.join(missing)} (label the states with label_with_rrtmg first)")
    if chunk_size < 1:
        raise InputError(f"chunk_size: must be >= 1, got {chunk_size}")
    check_replaceable(path, DATASET, overwrite=overwrite)
    ds = labelled.copy()
    ds.attrs = {
        **labelled.attrs,
        "title": "States preceding online failures (and out-of-distribution states) of a radiation emulator, "
        "labelled by RRTMG",
        "origin": "online_replay",
        "generator": GENERATOR,
        "generator_version": subgrid.__version__,
        "n_columns": int(ds.sizes["column"]),
        "chunk_size": chunk_size,
        "vertical_order": VERTICAL_ORDER,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(attrs or {}),
    }
    return write_zarr_atomic(ds.chunk({"column": chunk_size}), path, __name__)



def fine_tuning_config(
    run: str | Path, *, epochs: int = 10, learning_rate_factor: float = 0.3, extra_data_repeats: int = 4
) -> RadiationTrainingConfig:
    """``run``'s own training config for fine-tuning: ``epochs`` epochs at its learning rate times the factor.

    The defaults are the measured better of two settings: a ResCNN 8x2 that crashed in 62 of
    64 30-day cases survived all 64 after 3 rounds with these, and 39 of 64 after 4 rounds with 5
    epochs, a factor 0.1 and no oversampling of the replayed states (README, "Online tests").

    The seed and validation fraction stay, so fine-tuning validates on the run's own held-out chunks.
    """
    if learning_rate_factor <= 0:
        raise InputError(f"learning_rate_factor: must be > 0, got {learning_rate_factor}")
    config = RadiationTrainingConfig.from_yaml(Path(run) / "config.yaml")
    return replace(config, epochs=epochs, learning_rate=config.learning_rate * learning_rate_factor,
                   max_minutes=None, extra_data_repeats=extra_data_repeats)  # fmt: skip
