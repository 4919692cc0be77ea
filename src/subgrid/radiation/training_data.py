"""Radiation datasets (zarr, :mod:`subgrid.radiation.dataset`) as batches of emulator tensors.

Columns are read block by block (a block = a few zarr chunks), so a dataset larger than memory
streams; each epoch visits the blocks in a new seeded order and shuffles columns within a block.
Chunks are dealt out to distributed ranks and DataLoader workers (each *share* reads its own
chunks, nothing else), and with ``even_shares`` every share yields the same number of batches, as
DDP training needs (a rank with one batch more would wait forever for the others' gradients).
Small datasets can be held in memory instead (``in_memory``), which skips re-reading zarr.
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

from subgrid.core.chunked import open_finished_store
from subgrid.core.errors import InputError
from subgrid.models.radiation import COLUMN_FEATURES, FLUXES, HEATING_RATES, LEVEL_FEATURES
from subgrid.core import validation
from subgrid.core.stores import open_store
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER

REQUIRED = tuple(name for name, _ in LEVEL_FEATURES + COLUMN_FEATURES) + ("air_pressure_on_interface",)
TARGETS = FLUXES + HEATING_RATES


def open_radiation_dataset(
    path: str | Path, *, n_levels: int | None = None, targets: bool = True, check_finite: bool = True
) -> xr.Dataset:
    """Open a radiation zarr dataset lazily and check it can feed the emulator.

    Raises :class:`~subgrid.core.errors.InputError` naming the missing variable, the wrong dims, the
    level count that differs from ``n_levels`` (the trained model's), a vertical order other
    than surface first, an unfinished store (``*.partial``, or chunks its ``chunk_done`` record
    lacks) and, with ``check_finite``, the first NaN or Inf of a variable read (one pass over
    the data, chunk by chunk): one such value trains every weight to NaN.
    """
    path = Path(path)
    ds = open_finished_store(path)
    names = REQUIRED + (TARGETS if targets else ())
    validation.require_variables(ds, names, what=f"dataset {path}")
    validation.check_dims(ds, {name: {**RADIATION_INPUTS, **RADIATION_OUTPUTS}[name].dims for name in names})
    if ds.attrs.get("vertical_order", VERTICAL_ORDER) != VERTICAL_ORDER:
        raise InputError(f"dataset {path}: vertical_order is {ds.attrs['vertical_order']!r}, expected {VERTICAL_ORDER!r}")
    if n_levels is not None and ds.sizes["level"] != n_levels:
        raise InputError(f"dataset {path}: {ds.sizes['level']} levels but the model was trained on {n_levels}")
    if check_finite:
        validation.check_finite_lazy(ds, names, where=f"dataset {path}")
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
    ``blocks_per_read`` chunks are read and shuffled together; with ``batches_by_dataset`` only chunks
    of one dataset are (datasets on different grids cannot share a batch), and the blocks of all
    datasets are visited in a shuffled order. Call :meth:`set_epoch` (the
    training module does) for a new order each epoch; with the same seed and epoch the order is
    the same.

    ``rank`` of ``world_size`` (set by the training data module from the trainer) and the
    DataLoader worker pick one share of the chunks: the epoch's chunk order dealt round-robin
    to ``world_size x workers`` shares. With ``even_shares`` each share stops after as many
    batches as the smallest share has; the chunks left over (fewer than one per share) differ
    every epoch, since the order is reshuffled.
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
    even_shares: bool = False
    extra_chunks: list[tuple[str, slice]] = field(default_factory=list)
    batches_by_dataset: bool = False

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

    def _share(self, order: np.ndarray, index: int, n_shares: int) -> list[tuple[str, slice]]:
        chunks = self.chunks
        return [chunks[i] for i in order[index::n_shares]]

    def _blocks(self, share: list[tuple[str, slice]]) -> list[list[tuple[str, slice]]]:
        groups = [share]
        if self.batches_by_dataset:
            by_path: dict[str, list[tuple[str, slice]]] = {}
            for chunk in share:
                by_path.setdefault(chunk[0], []).append(chunk)
            groups = list(by_path.values())
        return [g[start : start + self.blocks_per_read] for g in groups for start in range(0, len(g), self.blocks_per_read)]

    def _n_batches(self, share: list[tuple[str, slice]]) -> int:
        sizes = [sum(columns.stop - columns.start for _, columns in block) for block in self._blocks(share)]
        return sum(-(-size // self.batch_size) for size in sizes)

    def _chunk(self, path: str, columns: slice) -> dict[str, torch.Tensor]:
        key = (path, columns.start, columns.stop)
        if key in self._memory:
            return self._memory[key]
        tensors = to_tensors(open_store(path).isel(column=columns).load())
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
        worker = get_worker_info()
        n_workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        n_shares = self.world_size * n_workers
        mine = self._share(order, self.rank * n_workers + worker_id, n_shares)
        limit = min(self._n_batches(self._share(order, i, n_shares)) for i in range(n_shares)) if self.even_shares else None
        produced = 0
        blocks = self._blocks(mine)
        if self.batches_by_dataset and self.shuffle:
            blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        for group in blocks:
            block = self._read(group)
            n = block["column_inputs"].shape[0]
            rows = torch.from_numpy(rng.permutation(n)) if self.shuffle else torch.arange(n)
            for first in range(0, n, self.batch_size):
                if produced == limit:
                    return
                take = rows[first : first + self.batch_size]
                yield {k: v[take] for k, v in block.items()}
                produced += 1
