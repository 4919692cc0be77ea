"""How predictable a gridded gravity-wave flux target is, measured on the data before any model trains.

A study whose target no model can predict measures noise: every model then scores R² ≈ 0 and the
comparison between them says nothing. :func:`target_predictability` reports, per flux (``uw_flux``,
``vw_flux``), on the target levels:

* ``lag_autocorrelation``: the correlation of the flux anomaly (from its time mean per grid point and
  level) with itself one record interval later (``lag_hours``) in the test period. Near 0: the flux
  forgets itself between two records, so nothing slower than the record interval sets it.
* ``time_mean_to_rms``: the mean over grid points and levels of |time mean| divided by the rms of
  the flux (training period). Near 0: the flux has no systematic sign anywhere (no net momentum
  transport), only fluctuations.
* ``climatology_r2``: R² on the test period of the training period's time mean per grid point.
* ``linear_probe_r2``: R² on the test period of a ridge regression (``ridge`` on standardised
  features, fitted on the training period) from each grid column's inputs (every level of ``u``,
  ``v``, ``temperature``, plus ``surface_height`` and sin/cos latitude when present; with a
  ``convective_heating`` input also the heating Q, Q² and Q times ``u`` and ``v`` on every level,
  since a source's flux scales with its strength and its sign is set by the wind it meets) to its
  fluxes on the target levels. It is a floor for what a model that sees the column can reach, not a ceiling:
  a network may find non-linear or non-local signal the probe misses. A target with probe R² ≈ 0
  *and* no persistence and no time mean leaves a network little to find.
* ``neighbourhood_probe_r2`` (with ``nonlinear=True``): R² on the test period of a small
  convolutional network (two 3 x 3 layers of ``hidden`` channels, periodic in longitude, so each box
  sees the 5 x 5 boxes around it) from the same per-column features to the fluxes on the target
  levels, trained on the first part of the training period with the rest as validation (the
  epoch with the lowest validation loss is kept). It finds non-linear and neighbour-dependent
  signal (a source in the next box, a product of heating and shear) that the linear probe cannot,
  at the cost of a minute or so of CPU for a study-sized record.

R² is :func:`subgrid.evaluation.metrics.r2` over every element (1 - SSE / SST about the test period's
overall mean).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.evaluation.metrics import r2

FLUXES = ("uw_flux", "vw_flux")
#: Inputs of the linear probe read on every level (those present are used).
PROBE_INPUTS = ("u", "v", "temperature")


def _r2(predicted: np.ndarray, truth: np.ndarray) -> float:
    """:func:`subgrid.evaluation.metrics.r2` over every element (NaN for a constant truth)."""
    return float(r2(xr.DataArray(truth), xr.DataArray(np.broadcast_to(predicted, truth.shape)), dim=None))


def _column_features(ds: xr.Dataset) -> np.ndarray:
    """``[time * lat * lon, F]``: every level of the probe inputs, surface height and sin/cos latitude."""
    shape = (ds.sizes["time"], ds.sizes["lat"], ds.sizes["lon"])
    parts = [ds[name].transpose("time", "level", "lat", "lon").values.astype(np.float64)
             for name in PROBE_INPUTS if name in ds]  # fmt: skip
    if not parts:
        raise InputError(f"linear probe: none of the inputs {PROBE_INPUTS} in the dataset")
    columns = [np.moveaxis(np.concatenate(parts, axis=1), 1, -1).reshape(-1, sum(p.shape[1] for p in parts))]
    lat = np.radians(ds["lat"].values.astype(np.float64))[None, :, None]
    for extra in (np.sin(lat), np.cos(lat)) + ((ds["surface_height"].values.astype(np.float64),) if "surface_height" in ds else ()):
        columns.append(np.broadcast_to(extra, shape).reshape(-1, 1))
    if "convective_heating" in ds:
        heating = ds["convective_heating"].transpose("time", "lat", "lon").values.astype(np.float64).reshape(-1, 1)
        columns += [heating, heating**2]
        columns += [heating * ds[name].transpose("time", "lat", "lon", "level").values.reshape(-1, ds.sizes["level"])
                    for name in ("u", "v") if name in ds]  # fmt: skip
    return np.concatenate(columns, axis=1)


def neighbourhood_probe(features_train: np.ndarray, targets_train: np.ndarray, features_test: np.ndarray, *,
                        hidden: int = 32, epochs: int = 40, validation_fraction: float = 0.2, batch_size: int = 8,
                        seed: int = 0) -> np.ndarray:
    """Fit the convolutional probe (module docstring) on ``[time, F, lat, lon]`` -> ``[time, C, lat, lon]``; predict test."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    n_fit = max(1, int(round(len(features_train) * (1 - validation_fraction))))
    if n_fit >= len(features_train):
        raise InputError("neighbourhood probe: the training period is too short to hold out a validation part")
    mean_x, std_x = features_train.mean((0, 2, 3), keepdims=True), features_train.std((0, 2, 3), keepdims=True)
    mean_y, std_y = targets_train.mean((0, 2, 3), keepdims=True), targets_train.std((0, 2, 3), keepdims=True)
    std_x[std_x == 0], std_y[std_y == 0] = 1.0, 1.0
    as_tensor = lambda a, m, s: torch.as_tensor((a - m) / s, dtype=torch.float32)  # noqa: E731
    x, y, x_test = as_tensor(features_train, mean_x, std_x), as_tensor(targets_train, mean_y, std_y), as_tensor(features_test, mean_x, std_x)
    conv = lambda c_in, c_out: nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="circular")  # noqa: E731
    net = nn.Sequential(conv(x.shape[1], hidden), nn.GELU(), conv(hidden, hidden), nn.GELU(), nn.Conv2d(hidden, y.shape[1], 1))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    best, best_state = float("inf"), None
    for _ in range(epochs):
        net.train()
        for batch in torch.randperm(n_fit, generator=generator).split(batch_size):
            loss = ((net(x[batch]) - y[batch]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        net.eval()
        with torch.no_grad():
            validation = float(((net(x[n_fit:]) - y[n_fit:]) ** 2).mean())
        if validation < best:
            best, best_state = validation, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    with torch.no_grad():
        return net(x_test).double().numpy() * std_y + mean_y


def _on_grid(columns: np.ndarray, ds: xr.Dataset) -> np.ndarray:
    """``[time * lat * lon, F]`` -> ``[time, F, lat, lon]``."""
    shape = (ds.sizes["time"], ds.sizes["lat"], ds.sizes["lon"], columns.shape[-1])
    return np.ascontiguousarray(np.moveaxis(columns.reshape(shape), -1, 1))


def _targets(ds: xr.Dataset, name: str, levels: Sequence[int]) -> np.ndarray:
    """``[time, level, lat, lon]`` of flux ``name`` on ``levels``."""
    if name not in ds:
        raise InputError(f"{name}: missing from the dataset")
    return ds[name].transpose("time", "level", "lat", "lon").values[:, list(levels)].astype(np.float64)


def target_predictability(train: xr.Dataset, test: xr.Dataset, target_levels: Sequence[int],
                          fluxes: Sequence[str] = FLUXES, ridge: float = 10.0, nonlinear: bool = False,
                          seed: int = 0) -> dict:
    """The measures of the module docstring for each flux, and the record interval (hours) of ``test``.

    ``nonlinear`` adds the convolutional ``neighbourhood_probe_r2`` (seeded by ``seed``).
    """
    if test.sizes.get("time", 0) < 2 or train.sizes.get("time", 0) < 2:
        raise InputError("predictability: the training and test periods need at least 2 times each")
    if not target_levels:
        raise InputError("predictability: no target levels")
    lag_hours = float((test["time"].values[1] - test["time"].values[0]) / np.timedelta64(1, "h"))
    features_train, features_test = _column_features(train), _column_features(test)
    mean, std = features_train.mean(0), features_train.std(0)
    std[std == 0] = 1.0
    a, b = (features_train - mean) / std, (features_test - mean) / std
    gram = a.T @ a + ridge * np.eye(a.shape[1])
    out: dict = {"lag_hours": lag_hours, "ridge": ridge, "probe_features": int(a.shape[1])}
    for name in fluxes:
        y_train, y_test = _targets(train, name, target_levels), _targets(test, name, target_levels)
        time_mean = y_train.mean(0)
        anomaly = y_test - y_test.mean(0)
        flat = lambda y: np.moveaxis(y, 1, -1).reshape(-1, y.shape[1])  # noqa: E731  [time*lat*lon, level]
        targets_train = flat(y_train)
        weights = np.linalg.solve(gram, a.T @ (targets_train - targets_train.mean(0)))
        probe = b @ weights + targets_train.mean(0)
        out[name] = {
            "lag_autocorrelation": float((anomaly[1:] * anomaly[:-1]).sum() / max((anomaly**2).sum(), 1e-300)),
            "time_mean_to_rms": float(np.abs(time_mean).mean() / max(y_train.std(), 1e-300)),
            "climatology_r2": _r2(time_mean, y_test),
            "linear_probe_r2": _r2(probe, flat(y_test)),
        }
        if nonlinear:
            predicted = neighbourhood_probe(_on_grid(features_train, train), y_train, _on_grid(features_test, test), seed=seed)
            out[name]["neighbourhood_probe_r2"] = _r2(predicted, y_test)
    return out


def sigma_target_levels(ds: xr.Dataset, max_sigma: float) -> list[int]:
    """Level indices with sigma <= ``max_sigma`` when ``level`` holds sigma (all in (0, 1]); every level otherwise."""
    level = np.asarray(ds["level"].values, dtype=float)
    if level.size and np.all((level > 0) & (level <= 1)):
        return [int(k) for k in np.flatnonzero(level <= max_sigma)]
    return list(range(level.size))


def window_mean_target(ds: xr.Dataset, hours: float, fluxes: Sequence[str] = FLUXES) -> xr.Dataset:
    """``ds`` with each flux averaged over consecutive ``hours``-long windows and the other variables at the
    window's centre record (a parameterization sees the instantaneous state and should give the flux
    expected for it; the window mean keeps the part of the flux that outlives the window's fluctuations).

    ``hours`` must be a multiple (>= 2) of the record interval; a last incomplete window is dropped.
    """
    if ds.sizes.get("time", 0) < 2:
        raise InputError("window mean: the dataset needs at least 2 times")
    interval_h = float((ds["time"].values[1] - ds["time"].values[0]) / np.timedelta64(1, "h"))
    records = hours / interval_h
    if not (np.isfinite(records) and records >= 2 and abs(records - round(records)) < 1e-6):
        raise InputError(f"window mean: {hours:g} h is not a multiple (>= 2) of the record interval {interval_h:g} h")
    records = round(records)
    windows = ds.sizes["time"] // records
    if windows < 1:
        raise InputError(f"window mean: {ds.sizes['time']} times do not fill one {hours:g} h window")
    centre = ds.isel(time=np.arange(windows) * records + records // 2)
    for name in fluxes:
        if name not in ds:
            raise InputError(f"{name}: missing from the dataset")
        flux = ds[name].isel(time=slice(0, windows * records))
        mean = flux.coarsen(time=records).mean().values.astype(ds[name].dtype)
        centre[name] = (flux.dims, mean, dict(ds[name].attrs, cell_methods=f"time: mean (interval: {hours:g} hours)"))
    return centre


def split_record(ds: xr.Dataset, train_fraction: float) -> tuple[xr.Dataset, xr.Dataset]:
    """The first ``train_fraction`` of the times (fitting) and the rest (testing)."""
    if not 0 < train_fraction < 1:
        raise InputError(f"train_fraction {train_fraction}: expected a number in (0, 1)")
    n = ds.sizes.get("time", 0)
    split = int(n * train_fraction)
    if split < 2 or n - split < 2:
        raise InputError(f"predictability: {n} times leave fewer than 2 for fitting or testing at train_fraction {train_fraction}")
    return ds.isel(time=slice(0, split)), ds.isel(time=slice(split, None))


def predictability_lines(report: dict) -> list[str]:
    """One readable line per flux of :func:`target_predictability`."""
    return [f"{name}: lag-{report['lag_hours']:g} h autocorrelation {s['lag_autocorrelation']:.2f}, "
            f"|time mean| / rms {s['time_mean_to_rms']:.2f}, climatology R² {s['climatology_r2']:.3f}, "
            f"linear probe R² {s['linear_probe_r2']:.3f}"
            + (f", neighbourhood probe R² {s['neighbourhood_probe_r2']:.3f}" if "neighbourhood_probe_r2" in s else "")
            for name, s in report.items() if isinstance(s, dict)]  # fmt: skip
