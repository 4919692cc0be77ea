"""Normalisation statistics of a radiation emulator and the loss scales, fitted on a sample of its training split.

A fixed-grid emulator gets one mean and σ per feature and level; a grid-agnostic one a table over the
log-pressure nodes (:data:`~subgrid.models.radiation.LOG_PRESSURE_NODES`), each layer counting at the nodes
by its interpolation weights, fitted on every grid's columns together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from subgrid.core.errors import InputError
from subgrid.models.radiation import RadiationEmulator
from subgrid.radiation.training_data import ColumnStream, chunk_slices, open_radiation_dataset

#: Per-level input σ is floored at this fraction of the feature's σ over all levels.
LEVEL_STD_FLOOR = 0.1


def _mean_std(x: torch.Tensor, dims: tuple[int, ...], mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.double()
    if mask is None:
        mean, std = x.mean(dim=dims), x.std(dim=dims)
    else:
        weight = mask.double().expand_as(x)
        count = weight.sum(dim=dims).clamp(min=1.0)
        mean = (x * weight).sum(dim=dims) / count
        std = (((x - mean.unsqueeze(0)) ** 2 * weight).sum(dim=dims) / count).sqrt()
    # Constant features (e.g. a fixed top pressure) would divide by zero: leave them unscaled.
    return mean.float(), torch.where(std > 1e-8, std, torch.ones_like(std)).float()


def _node_mean_std(
    values: Sequence[torch.Tensor], weights: Sequence[torch.Tensor], rows: Sequence[torch.Tensor | None]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and σ ``[C, K]`` of ``values`` (each ``[B, C, L]``) at each log-pressure node, layers weighted by their
    interpolation weights ``[B, K, L]`` (:func:`~subgrid.models.radiation.log_pressure_weights`); ``rows``: the
    columns of each batch that count (None: all). Nodes no layer reaches take the nearest node's values."""
    s0 = s1 = s2 = 0.0
    for x, w, keep in zip(values, weights, rows, strict=True):
        if keep is not None:
            x, w = x[keep], w[keep]
        x, w = x.double(), w.double()
        s0 = s0 + w.sum(dim=(0, 2))
        s1 = s1 + torch.einsum("bcl,bkl->ck", x, w)
        s2 = s2 + torch.einsum("bcl,bkl->ck", x * x, w)
    reached = s0 >= 1.0  # at least one layer's worth of weight
    mean = s1 / s0.clamp(min=1e-12)
    std = (s2 / s0.clamp(min=1e-12) - mean**2).clamp(min=0.0).sqrt()
    index = torch.arange(len(s0))
    valid = index[reached]
    nearest = valid[torch.argmin((index[:, None] - valid[None, :]).abs(), dim=1)]
    mean, std = mean[:, nearest], std[:, nearest]
    return mean.float(), torch.where(std > 1e-8, std, torch.ones_like(std)).float()


def fit_statistics(
    emulator: RadiationEmulator, batch: dict[str, torch.Tensor] | Sequence[dict[str, torch.Tensor]]
) -> dict[str, list[float]]:
    """Set the emulator's normalisation buffers from ``batch``; return the loss scales σ_F and σ_H.

    A grid-agnostic emulator takes a list of batches (one per grid; level counts may differ) and fits
    its log-pressure tables on all of them together.
    """
    batches = [batch] if isinstance(batch, dict) else list(batch)
    if not emulator.grid_agnostic and len(batches) != 1:
        raise InputError("training data: a fixed-grid emulator fits its statistics on one dataset's columns")
    level, column, heating, anchors, days = [], [], [], [], []
    for b in batches:
        features = emulator.physical_features(b["level_inputs"], b["column_inputs"], b["pressure_interface_Pa"])
        contributions = emulator.heating_contributions(b["fluxes"], b["pressure_interface_Pa"], b["column_inputs"])
        level.append(features[0]), column.append(features[1])
        heating.append(contributions[0]), anchors.append(contributions[1])
        days.append(emulator.insolation_W_per_m2(b["column_inputs"]) > 0)
    day = torch.cat(days)
    if not day.any() or day.all():
        raise InputError("training data: needs both day and night columns to fit statistics")
    column, anchors = torch.cat(column), torch.cat(anchors)
    residual_mean, residual_std = _mean_std(anchors[:, :1], (0,))
    albedo_mean, albedo_std = _mean_std(anchors[day][:, 1:], (0,))
    # σ of each feature over all levels (and grids): the floor of the per-level σ below.
    pooled = torch.cat([x.transpose(1, 2).reshape(-1, x.shape[1]) for x in level])
    _, pooled_std = _mean_std(pooled, (0,))
    if emulator.grid_agnostic:
        weights = [emulator.profiles(torch.eye(len(emulator.log_pressure_nodes)), b["level_inputs"]) for b in batches]
        level_mean, level_std = _node_mean_std(level, weights, [None] * len(batches))
        lw_mean, lw_std = _node_mean_std([h[:, :2] for h in heating], weights, [None] * len(batches))
        sw_mean, sw_std = _node_mean_std([h[:, 2:] for h in heating], weights, days)
    else:
        sw_mask = day[:, None, None].expand(-1, 2, 1)
        lw_mean, lw_std = _mean_std(heating[0][:, :2], (0,))
        sw_mean, sw_std = _mean_std(heating[0][:, 2:], (0,), sw_mask)
        level_mean, level_std = _mean_std(level[0], (0,))
    # Features that are almost always 0 at some levels (cloud in the stratosphere) have a tiny
    # per-level σ there, so a rare column gets z-scores in the hundreds and the network output
    # explodes (seen: one stratospheric ice cloud, SW error 94 K/day). Floor each level's σ at a
    # fraction of the feature's σ over all levels.
    level_std = torch.maximum(level_std, LEVEL_STD_FLOOR * pooled_std[:, None])
    with torch.no_grad():
        emulator.level_mean[:], emulator.level_std[:] = level_mean, level_std
        emulator.column_mean[:], emulator.column_std[:] = _mean_std(column, (0,))
        emulator.heating_mean[:] = torch.cat([lw_mean, sw_mean])
        emulator.heating_std[:] = torch.cat([lw_std, sw_std])
        emulator.anchor_mean[:] = torch.cat([residual_mean, albedo_mean])
        emulator.anchor_std[:] = torch.cat([residual_std, albedo_std])

    def spread(name: str, channel: int, daytime: bool) -> float:
        values = [(b[name][d] if daytime else b[name])[:, channel].reshape(-1) for b, d in zip(batches, days, strict=True)]
        return float(torch.cat(values).std())

    flux_scale = [spread("fluxes", c, daytime=c >= 2) for c in range(4)]
    heating_scale = [spread("heating", 0, daytime=False), spread("heating", 1, daytime=True)]
    return {"flux_scale": flux_scale, "heating_scale": heating_scale}


def _statistics_batch(path: str, slices: list[slice], seed: int, n_columns: int) -> dict[str, torch.Tensor]:
    """The first ``n_columns`` of a shuffled pass over ``slices`` of dataset ``path``."""
    picked, total = [], 0
    for batch in ColumnStream(path=path, slices=slices, batch_size=4096, seed=seed):
        picked.append(batch)
        total += batch["fluxes"].shape[0]
        if total >= n_columns:
            break
    return {k: torch.cat([b[k] for b in picked])[:n_columns] for k in picked[0]}


def statistics_batches(train: ColumnStream, extra_paths: Sequence[Path], config):
    """The training sample the statistics are fitted on: the main dataset's ``config.statistics_columns`` (a fixed
    ``config.vertical_grid``), or as many of every dataset (``any``: every grid's columns shape the log-pressure
    tables; also the top-layer head's fit)."""
    main = _statistics_batch(train.path, train.slices, train.seed, config.statistics_columns)
    if config.vertical_grid == "fixed":
        return main
    extra = [_statistics_batch(str(path), chunk_slices(open_radiation_dataset(path, check_finite=False)), train.seed,
                               config.statistics_columns) for path in dict.fromkeys(extra_paths)]  # fmt: skip
    return [main, *extra]
