"""A guard that predicts the emulator's error: a calibrated score replaces the training min/max.

The min/max guard flags a column if any input at any level leaves the training range. It flagged
60-100 % of columns the emulator handled well (+4 K, other CO2) and cannot tell which flagged columns
it would get wrong. This guard scores every column by how far its inputs lie from the training
data, as the emulator itself sees them, and turns that into a predicted error:

1. **Novelty descriptors.** The z-scores of the emulator's transformed input features (the 9 level
   inputs, the 8 derived path and thickness features, the 7 column inputs) under its own
   normalisation (per level, or a grid-agnostic model's log-pressure tables); per feature the
   largest |z| over the column's levels, as ``log1p`` (25 values with the column's RMS |z|).
   **Shape descriptors** keep the sign, which |z| throws away (CO2 above the training data is not
   CO2 below it): per level feature the largest, smallest and mean z over levels, and the column
   inputs' z (58 values, :data:`SHAPE_DESCRIPTORS`).
2. **Predicted error.** ``ln(e + 0.01 K/day)`` of the column's heating error ``e`` (the larger of
   its LW and SW heating RMSE over levels, SW by day) is a ridge regression on all 83 descriptors, held
   to their calibration range, and their squares (:func:`regressors`), fitted on calibration columns labelled by RRTMG: held-out
   columns of the training sampler and the ``stress`` set (:class:`~subgrid.radiation.shifted_sets.Stress`:
   generic shifts at random strengths) or any other labelled data, never the suite's test sets.
   Measured on ``ga_ft2`` (issue 18): the correlation of predicted and actual log error on the
   calibration columns rose from 0.62 (novelty descriptors alone, linear) to 0.75.
3. **Threshold**, the stricter of two rules (:func:`choose_threshold`):

   * *every dataset*: columns are kept in order of predicted error while the kept columns' LW and SW
     heating RMSE stay below ``target_rmse_K_day`` in every calibration dataset (the held-out columns
     and the shifted ones alike: pooling them would let a mostly easy dataset hide a hard one);
   * *every column*: a column is sent when the calibration columns with its predicted error have a
     LW or a SW heating RMSE above the target (their RMSEs in bins of predicted error, each made
     non-decreasing, :func:`conditional_threshold`). The first rule alone keeps everything once every
     calibration dataset is below the target, however wrong the emulator is on a kind of column a
     shifted dataset holds more of (CO2 at 2-4x: 0 % sent, 0.52 K/day kept). The bins' LW and SW
     RMSEs are tested separately, as the target is defined: until December 2026 the rule tested the
     RMSE of each column's larger error, max(LW, SW), which is larger than both and sent columns
     whose LW and SW were each below the target (measured on ``ga5c``: 14.2 % of the calibration
     columns sent against 12.1 %).

   The predicted error of the last kept column is the threshold. Columns above it go to RRTMG.
4. **Calibrated domain.** A regression says nothing about a kind of novelty its calibration data did
   not show (a top pressure the grid never had, say): a column with any novelty descriptor beyond the
   largest the calibration columns had (plus :data:`DOMAIN_MARGIN`) goes to RRTMG too, whatever its
   predicted error.

:func:`subgrid.radiation.calibration.calibrate_guard` writes ``guard.json`` into an exported artifact's directory, bound to that
artifact (the sidecar's sha256) and sealed (its own sha256), so an edited threshold is refused;
:meth:`~subgrid.radiation.emulator.Emulator.load` then uses it instead of min/max.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from subgrid.core.errors import InputError
from subgrid.models.radiation import COLUMN_FEATURES, DERIVED_LEVEL_FEATURES, LEVEL_FEATURES, RadiationEmulator

GUARD_FILE = "guard.json"
KIND = "calibrated_guard"
#: Version 2: shape descriptors, squared terms and the per-column threshold rule. A version-1 guard.json
#: (novelty descriptors alone, linear) is refused with a request to recalibrate.
VERSION = 2
#: Added to the column error before the log: errors below ~0.01 K/day are all "right".
ERROR_FLOOR_K_DAY = 0.01
#: Ridge penalty of the regression (descriptors are O(1)).
RIDGE = 1e-3
#: Allowance beyond the calibration columns' largest descriptor (log1p of |z|: ~10 % more |z|).
DOMAIN_MARGIN = 0.1
#: Calibration columns per bin of predicted error in the per-column threshold rule.
CONDITIONAL_BIN = 400
DESCRIPTORS = tuple(
    [f"max_abs_z_{name}" for name, _ in LEVEL_FEATURES]
    + [f"max_abs_z_{name}" for name in DERIVED_LEVEL_FEATURES]
    + [f"abs_z_{name}" for name, _ in COLUMN_FEATURES]
    + ["rms_abs_z"]
)
SHAPE_DESCRIPTORS = tuple(
    [f"{stat}_z_{name}" for stat in ("max", "min", "mean") for name in [n for n, _ in LEVEL_FEATURES] + list(DERIVED_LEVEL_FEATURES)]
    + [f"z_{name}" for name, _ in COLUMN_FEATURES]
)


def normalisation_tables(emulator: RadiationEmulator) -> dict:
    """The emulator's input normalisation (per level, or per log-pressure node) as JSON-ready lists."""
    names = ("level_mean", "level_std", "column_mean", "column_std")
    return {"n_levels": emulator.n_levels, **{name: getattr(emulator, name).tolist() for name in names}}


def feature_model(tables: dict) -> RadiationEmulator:
    """A :class:`RadiationEmulator` without a backbone, holding ``tables``: its features and normalisation only."""
    model = RadiationEmulator(nn.Identity(), tables["n_levels"])
    with torch.no_grad():
        for name in ("level_mean", "level_std", "column_mean", "column_std"):
            getattr(model, name).copy_(torch.tensor(tables[name]))
    return model.eval()


def _z_scores(model: RadiationEmulator, level_inputs, column_inputs, pressure_interface_Pa):
    """The signed z-scores ``[B, F_level + F_derived, L]`` and ``[B, F_column]`` of columns under the model's tables."""
    level_inputs, column_inputs, pressure = (torch.as_tensor(np.asarray(x, dtype=np.float32))
                                             for x in (level_inputs, column_inputs, pressure_interface_Pa))  # fmt: skip
    with torch.no_grad():
        level, column = model.physical_features(level_inputs, column_inputs, pressure)
        z_level = (level - model.profiles(model.level_mean, level_inputs)) / model.profiles(model.level_std, level_inputs)
        return z_level, (column - model.column_mean) / model.column_std


def _novelty(z_level: torch.Tensor, z_column: torch.Tensor) -> np.ndarray:
    """The :data:`DESCRIPTORS` ``[B, 25]`` from the signed z-scores."""
    z_level, z_column = z_level.abs(), z_column.abs()
    rms = torch.sqrt((z_level**2).mean(dim=(1, 2)) * 0.5 + (z_column**2).mean(dim=1) * 0.5)
    return torch.cat([torch.log1p(z_level.amax(dim=2)), torch.log1p(z_column), torch.log1p(rms)[:, None]], 1).double().numpy()


def all_descriptors(model: RadiationEmulator, level_inputs, column_inputs, pressure_interface_Pa) -> np.ndarray:
    """The novelty :data:`DESCRIPTORS` then the signed :data:`SHAPE_DESCRIPTORS`, ``[B, 25 + 58]``, of columns (float32
    tensors or arrays, as the artifact takes them)."""
    z_level, z_column = _z_scores(model, level_inputs, column_inputs, pressure_interface_Pa)
    shape = torch.cat([z_level.amax(dim=2), z_level.amin(dim=2), z_level.mean(dim=2), z_column], 1).double().numpy()
    return np.concatenate([_novelty(z_level, z_column), shape], axis=1)


def column_errors(truth_lw, truth_sw, pred_lw, pred_sw, day) -> tuple[np.ndarray, np.ndarray]:
    """Per column: LW heating RMSE over levels, and SW (0 at night), K/day."""
    lw = np.sqrt(np.mean((pred_lw - truth_lw) ** 2, axis=1))
    sw = np.where(day, np.sqrt(np.mean((pred_sw - truth_sw) ** 2, axis=1)), 0.0)
    return lw, sw


def design_matrix(descriptors: np.ndarray) -> np.ndarray:
    """The descriptors with a leading column of ones (the intercept)."""
    return np.concatenate([np.ones((len(descriptors), 1)), descriptors], axis=1)


def regressors(descriptors: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The error model's terms: the descriptors, held to the calibration columns' range [``low``, ``high``] (a
    quadratic does not extrapolate: measured, unclipped squares sent 42 % of a 5 Pa-top set whose error was fine;
    beyond the range is the calibrated domain's business), and their squares (the intercept is :func:`design_matrix`'s)."""
    held = np.clip(descriptors, low, high)
    return np.concatenate([held, held**2], axis=1)


def fit_error_model(descriptors: np.ndarray, error_K_day: np.ndarray) -> np.ndarray:
    """Ridge coefficients (intercept first) of ``ln(error + floor)`` on ``descriptors`` (the regression's terms)."""
    x, y = design_matrix(descriptors), np.log(error_K_day + ERROR_FLOOR_K_DAY)
    scale = np.maximum(x.std(axis=0), 1e-6)  # terms of unlike size (z, z^2): the penalty acts on standardised ones
    scale[0] = 1.0
    xs = x / scale
    penalty = RIDGE * len(x) * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(xs.T @ xs + penalty, xs.T @ y) / scale


def _kept_rmse(order: np.ndarray, lw: np.ndarray, sw: np.ndarray, day: np.ndarray, member: np.ndarray):
    """Pooled LW and SW heating RMSE of the columns ``member`` among the first k of ``order``, for every k."""
    inside = member[order]
    kept = np.maximum(np.cumsum(inside), 1)
    day_kept = np.maximum(np.cumsum(inside & day[order]), 1)
    return np.sqrt(np.cumsum(np.where(inside, lw[order] ** 2, 0.0)) / kept), \
        np.sqrt(np.cumsum(np.where(inside, sw[order] ** 2, 0.0)) / day_kept)  # fmt: skip


def _non_decreasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-decreasing fit of ``values`` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([value * weight, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, weight_sum, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += weight_sum
            blocks[-1][2] += count
    return np.repeat([total / weight_sum for total, weight_sum, _ in blocks], [count for *_, count in blocks])


def conditional_threshold(order: np.ndarray, lw: np.ndarray, sw: np.ndarray, day: np.ndarray, target_rmse_K_day: float,
                          bin_columns: int = CONDITIONAL_BIN) -> int:  # fmt: skip
    """How many columns, in ``order`` of predicted error, come before the first whose neighbours in predicted error
    (bins of ``bin_columns``, or of a tenth of the columns when there are fewer than ten such bins, and at least 20)
    have a LW heating RMSE, or a SW heating RMSE over their daytime columns, above the target; each RMSE made
    non-decreasing in predicted error."""
    bins = np.array_split(order, max(1, len(order) // min(bin_columns, max(20, len(order) // 10))))
    sizes = np.array([len(b) for b in bins], dtype=float)
    days = np.array([day[b].sum() for b in bins], dtype=float)
    lw_mean_square = _non_decreasing(np.array([np.mean(lw[b] ** 2) for b in bins]), sizes)
    sw_sums = np.array([np.sum(np.where(day[b], sw[b] ** 2, 0.0)) for b in bins])
    # a bin without daytime columns says nothing about SW: ~no weight in the fit
    sw_mean_square = _non_decreasing(sw_sums / np.maximum(days, 1.0), np.maximum(days, 1e-9))
    over = np.flatnonzero((lw_mean_square > target_rmse_K_day**2) | (sw_mean_square > target_rmse_K_day**2))
    return int(sizes[: over[0]].sum()) if len(over) else len(order)


def choose_threshold(
    predicted: np.ndarray, lw: np.ndarray, sw: np.ndarray, day: np.ndarray, target_rmse_K_day: float,
    groups: np.ndarray | None = None, *, per_column: bool = True,
) -> tuple[float, dict]:  # fmt: skip
    """The largest predicted log error whose kept columns (those at or below it) keep both heating RMSEs below the
    target in every group (calibration dataset) and, with ``per_column``, lie below the first bin of predicted error
    whose columns' LW or SW RMSE exceeds it (:func:`conditional_threshold`); and what that threshold does on these columns,
    in all and per group (``datasets``, in group order: its share sent and kept RMSEs, and ``sent_fraction_alone``, the
    share of all the columns the every-dataset rule would send for that group alone: the largest is the one that binds)."""
    groups = np.zeros(len(predicted), dtype=int) if groups is None else np.asarray(groups)
    order = np.argsort(predicted, kind="stable")
    fine = np.ones(len(order), dtype=bool)
    alone, group_ids = [], np.unique(groups)
    for group in group_ids:
        lw_rmse, sw_rmse = _kept_rmse(order, lw, sw, day, groups == group)
        group_fine = (lw_rmse < target_rmse_K_day) & (sw_rmse < target_rmse_K_day)
        alone.append(1.0 - (int(np.flatnonzero(group_fine)[-1]) + 1 if group_fine.any() else 0) / len(order))
        fine &= group_fine
    # The most columns kept with every group fine (a group's first few kept columns may not be: a noisy RMSE of a
    # handful); none fine: send everything.
    by_dataset = int(np.flatnonzero(fine)[-1]) + 1 if fine.any() else 0
    by_column = conditional_threshold(order, lw, sw, day, target_rmse_K_day) if per_column else len(order)
    k = min(by_dataset, by_column)
    threshold = float(predicted[order[k - 1]]) if k else -np.inf
    everything = np.ones(len(order), dtype=bool)
    lw_rmse, sw_rmse = _kept_rmse(order, lw, sw, day, everything)
    report = {"columns": int(len(order)), "sent_fraction": 1.0 - k / len(order),
              "sent_fraction_dataset_rule": 1.0 - by_dataset / len(order),
              "sent_fraction_column_rule": 1.0 - by_column / len(order),
              "kept_lw_heating_rmse_K_day": float(lw_rmse[k - 1]) if k else None,
              "kept_sw_heating_rmse_K_day": float(sw_rmse[k - 1]) if k else None,
              "all_lw_heating_rmse_K_day": float(lw_rmse[-1]), "all_sw_heating_rmse_K_day": float(sw_rmse[-1])}  # fmt: skip
    kept = np.zeros(len(order), dtype=bool)
    kept[order[:k]] = True
    report["datasets"] = [_dataset_report(lw, sw, day, kept, groups == group, share)
                          for group, share in zip(group_ids, alone, strict=True)]  # fmt: skip
    return threshold, report


def _dataset_report(lw: np.ndarray, sw: np.ndarray, day: np.ndarray, kept: np.ndarray, member: np.ndarray,
                    alone: float) -> dict:  # fmt: skip
    """One calibration dataset's line of :func:`choose_threshold`'s report."""

    def rmse(values: np.ndarray, mask: np.ndarray) -> float | None:
        return float(np.sqrt(np.mean(values[mask] ** 2))) if mask.any() else None

    return {"sent_fraction": float(1.0 - kept[member].mean()), "sent_fraction_alone": alone,
            "all_lw_heating_rmse_K_day": rmse(lw, member), "all_sw_heating_rmse_K_day": rmse(sw, member & day),
            "kept_lw_heating_rmse_K_day": rmse(lw, member & kept),
            "kept_sw_heating_rmse_K_day": rmse(sw, member & kept & day)}  # fmt: skip


@dataclass
class CalibratedGuard:
    """A loaded ``guard.json``: :meth:`predicted_error` and :meth:`flags` on the artifact's three input arrays."""

    path: Path
    record: dict

    def __post_init__(self) -> None:
        self._model = feature_model(self.record["tables"])
        self._coefficients = np.asarray(self.record["coefficients"], dtype=float)
        self._domain = np.asarray(self.record["descriptor_max"], dtype=float) + DOMAIN_MARGIN
        self._range = tuple(np.asarray(self.record["regressor_range"][key], dtype=float) for key in ("low", "high"))
        self.threshold = float(self.record["threshold_log_error"])

    @classmethod
    def load(cls, directory: str | Path, sidecar: dict) -> CalibratedGuard | None:
        """The guard of the artifact in ``directory`` (None: it has none); refuses one edited or made for another."""
        from subgrid.radiation.export import INTEGRITY, sidecar_sha256

        path = Path(directory) / GUARD_FILE
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"{path}: not JSON ({error})") from error
        integrity = record.get(INTEGRITY) if isinstance(record, dict) else None
        if record.get("kind") != KIND or not isinstance(integrity, dict):
            raise InputError(f"{path}: not a subgrid calibrated guard; recalibrate with `subgrid guard calibrate`")
        if record.get("version") != VERSION:
            raise InputError(f"{path}: a guard of version {record.get('version', 1)} (this subgrid reads version "
                             f"{VERSION}: shape descriptors, per-column rule); recalibrate with `subgrid guard calibrate`")
        if integrity.get("guard_sha256") != sidecar_sha256(record):
            raise InputError(f"{path}: content does not match its recorded sha256 (edited?); recalibrate instead")
        if integrity.get("sidecar_sha256") != sidecar.get(INTEGRITY, {}).get("sidecar_sha256"):
            raise InputError(f"{path}: calibrated for another export of this directory; recalibrate it")
        return cls(path, record)

    def _descriptors(self, level_inputs, column_inputs, pressure_interface_Pa) -> np.ndarray:
        return all_descriptors(self._model, level_inputs, column_inputs, pressure_interface_Pa)

    def _log_error(self, descriptors: np.ndarray) -> np.ndarray:
        return design_matrix(regressors(descriptors, *self._range)) @ self._coefficients

    def predicted_error(self, level_inputs, column_inputs, pressure_interface_Pa) -> np.ndarray:
        """Predicted column heating error (K/day) of the emulator."""
        return np.exp(self._log_error(self._descriptors(level_inputs, column_inputs, pressure_interface_Pa))) - ERROR_FLOOR_K_DAY

    def flags(self, level_inputs, column_inputs, pressure_interface_Pa) -> np.ndarray:
        """Columns to send to the physics: predicted error above the threshold, or outside the calibrated domain."""
        if len(level_inputs) == 0:
            return np.zeros(0, dtype=bool)
        descriptors = self._descriptors(level_inputs, column_inputs, pressure_interface_Pa)
        outside = (descriptors[:, : len(DESCRIPTORS)] > self._domain).any(axis=1)
        return outside | (self._log_error(descriptors) > self.threshold)
