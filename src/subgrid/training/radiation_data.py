"""Radiation datasets (zarr, :mod:`subgrid.data.radiation`) as batches of emulator tensors.

Columns are read block by block (a block = a few zarr chunks), so a dataset larger than memory
streams; each epoch visits the blocks in a new seeded order and shuffles columns within a block.
Blocks are split between DataLoader workers and distributed ranks, so each rank reads its own
share. Small datasets can be held in memory instead (``in_memory``), which skips re-reading zarr.
Chunks of further datasets (replayed online states) can join a stream's own, oversampled by
listing them more than once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch.utils.data import IterableDataset, get_worker_info

from subgrid.errors import InputError
from subgrid.models.radiation import COLUMN_FEATURES, FLUXES, HEATING_RATES, LEVEL_FEATURES
from subgrid.physics import validation
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER

REQUIRED = tuple(name for name, _ in LEVEL_FEATURES + COLUMN_FEATURES) + ("air_pressure_on_interface",)
TARGETS = FLUXES + HEATING_RATES


def open_radiation_dataset(path: str | Path, *, n_levels: int | None = None, targets: bool = True) -> xr.Dataset:
    """Open a radiation zarr dataset lazily and check it can feed the emulator.

    Raises :class:`~subgrid.errors.InputError` naming the missing variable, the wrong dims, the
    level count that differs from ``n_levels`` (the trained model's), or a vertical order other
    than surface first.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such dataset")
    ds = xr.open_zarr(path)
    names = REQUIRED + (TARGETS if targets else ())
    validation.require_variables(ds, names, what=f"dataset {path}")
    validation.check_dims(ds, {name: {**RADIATION_INPUTS, **RADIATION_OUTPUTS}[name].dims for name in names})
    if ds.attrs.get("vertical_order", VERTICAL_ORDER) != VERTICAL_ORDER:
        raise InputError(f"dataset {path}: vertical_order is {ds.attrs['vertical_order']!r}, expected {VERTICAL_ORDER!r}")
    if n_levels is not None and ds.sizes["level"] != n_levels:
        raise InputError(f"dataset {path}: {ds.sizes['level']} levels but the model was trained on {n_levels}")
    return ds


def to_tensors(block: xr.Dataset, *, targets: bool = True) -> dict[str, torch.Tensor]:
    """float32 tensors of a (loaded) block: inputs, and fluxes ``[B, 4, L+1]`` / heating ``[B, 2, L]``."""

    def stack(names: Sequence[str], axis: int) -> torch.Tensor:
        return torch.from_numpy(np.stack([block[n].values for n in names], axis=axis).astype(np.float32))

    tensors = {
        "level_inputs": stack([n for n, _ in LEVEL_FEATURES], 1),
        "column_inputs": stack([n for n, _ in COLUMN_FEATURES], 1),
        "pressure_interface_Pa": torch.from_numpy(block["air_pressure_on_interface"].values.astype(np.float32)),
    }
    if targets:
        tensors["fluxes"] = stack(FLUXES, 1)
        tensors["heating"] = stack(HEATING_RATES, 1)
    return tensors


def chunk_slices(ds: xr.Dataset) -> list[slice]:
    """The dataset's zarr chunks along ``column`` as slices (reading whole chunks is cheapest)."""
    sizes = ds[REQUIRED[0]].chunks[0] if ds[REQUIRED[0]].chunks else (ds.sizes["column"],)
    edges = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def split_chunks(slices: list[slice], validation_fraction: float, seed: int) -> tuple[list[slice], list[slice]]:
    """Seeded split of whole chunks into training and validation (at least one validation chunk)."""
    if not 0.0 < validation_fraction < 1.0:
        raise InputError(f"validation_fraction: must be in (0, 1), got {validation_fraction}")
    if len(slices) < 2:
        raise InputError("dataset: needs at least 2 chunks to split into training and validation")
    order = np.random.default_rng(seed).permutation(len(slices))
    n_validation = max(1, int(round(validation_fraction * len(slices))))
    return [slices[i] for i in sorted(order[n_validation:])], [slices[i] for i in sorted(order[:n_validation])]


@dataclass
class ColumnStream(IterableDataset):
    """Shuffled batches of emulator tensors from a radiation zarr dataset (and, optionally, others).

    ``slices`` are the column ranges (whole chunks) of ``path`` this stream covers;
    ``extra_chunks`` are ``(path, slice)`` chunks of further datasets (e.g. replayed online
    states) that join them, a chunk listed k times being visited k times an epoch.
    ``blocks_per_read`` chunks are read and shuffled together. Call :meth:`set_epoch` (the
    training module does) for a new order each epoch; with the same seed and epoch the order is
    the same.
    """

    path: str
    slices: list[slice]
    batch_size: int
    shuffle: bool = True
    seed: int = 0
    blocks_per_read: int = 8
    in_memory: bool = False
    rank: int = 0
    world_size: int = 1
    extra_chunks: list[tuple[str, slice]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self._memory: dict[tuple[str, int, int], dict[str, torch.Tensor]] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def chunks(self) -> list[tuple[str, slice]]:
        """Every chunk the stream visits in an epoch, as ``(path, columns)``: its own, then the extra ones."""
        return [(self.path, columns) for columns in self.slices] + list(self.extra_chunks)

    def n_columns(self) -> int:
        return sum(columns.stop - columns.start for _, columns in self.chunks)

    def _my_chunks(self, order: np.ndarray) -> list[tuple[str, slice]]:
        worker = get_worker_info()
        n_workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        share = self.world_size * n_workers
        me = self.rank * n_workers + worker_id
        chunks = self.chunks
        return [chunks[i] for i in order[me::share]]

    def _chunk(self, path: str, columns: slice) -> dict[str, torch.Tensor]:
        key = (path, columns.start, columns.stop)
        if key in self._memory:
            return self._memory[key]
        tensors = to_tensors(xr.open_zarr(path).isel(column=columns).load())
        if self.in_memory:
            self._memory[key] = tensors
        return tensors

    def _read(self, group: list[tuple[str, slice]]) -> dict[str, torch.Tensor]:
        parts = [self._chunk(path, columns) for path, columns in group]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n_chunks = len(self.slices) + len(self.extra_chunks)
        order = rng.permutation(n_chunks) if self.shuffle else np.arange(n_chunks)
        mine = self._my_chunks(order)
        for start in range(0, len(mine), self.blocks_per_read):
            block = self._read(mine[start : start + self.blocks_per_read])
            n = block["column_inputs"].shape[0]
            rows = torch.from_numpy(rng.permutation(n)) if self.shuffle else torch.arange(n)
            for first in range(0, n, self.batch_size):
                take = rows[first : first + self.batch_size]
                yield {k: v[take] for k, v in block.items()}
