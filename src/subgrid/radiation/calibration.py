"""Calibrating the error-predicting guard of an exported radiation emulator (:mod:`subgrid.radiation.guard`).

:func:`calibrate_guard` runs the artifact on labelled calibration datasets, fits the error model to its actual
column errors, chooses the threshold and writes ``guard.json`` beside the artifact, bound to it and sealed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from subgrid.core.errors import InputError
from subgrid.core.stores import write_text_atomic
from subgrid.models.radiation import COLUMN_FEATURES
from subgrid.radiation.emulator import Emulator, read_sidecar
from subgrid.radiation.export import INTEGRITY, SIDECAR, sidecar_sha256
from subgrid.radiation.guard import (
    DESCRIPTORS,
    ERROR_FLOOR_K_DAY,
    GUARD_FILE,
    KIND,
    SHAPE_DESCRIPTORS,
    VERSION,
    all_descriptors,
    choose_threshold,
    column_errors,
    design_matrix,
    feature_model,
    fit_error_model,
    normalisation_tables,
    regressors,
)
from subgrid.radiation.training import load_emulator
from subgrid.radiation.training_data import open_radiation_dataset, to_tensors


def calibrate_guard(
    artifact: str | Path,
    run: str | Path,
    data: Sequence[str | Path],
    *,
    target_rmse_K_day: float = 0.5,
    max_columns: int = 20000,
    seed: int = 0,
) -> dict:
    """Fit the guard of ``artifact`` (exported from ``run``) on the labelled datasets ``data`` and write
    ``artifact/guard.json`` (atomically); returns the record.

    Errors are those of the artifact itself; the normalisation tables come from ``run`` (its weights
    must be the artifact's: the sidecar's model description is checked against ``run/model.json``).
    At most ``max_columns`` columns (a random subset, ``seed``) of each dataset are used.
    """
    artifact, run = Path(artifact), Path(run)
    if not 0.0 < target_rmse_K_day < 10.0:
        raise InputError(f"target_rmse_K_day: must be in (0, 10) K/day, got {target_rmse_K_day}")
    if not data:
        raise InputError("data: give at least one labelled dataset to calibrate on")
    if not (artifact / SIDECAR).is_file():
        raise InputError(f"{artifact}: not an exported emulator (missing {SIDECAR})")
    sidecar = read_sidecar(artifact / SIDECAR)
    emulator, description = load_emulator(run)
    if sidecar.get("model") != description:
        raise InputError(f"{artifact}: was not exported from {run} (model descriptions differ)")
    runtime = Emulator.load(artifact, ood_guard=False, validate=False)
    tables = normalisation_tables(emulator)
    model = feature_model(tables)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"descriptors": [], "lw": [], "sw": [], "day": [], "group": []}
    used = []
    for path in map(Path, data):
        ds = open_radiation_dataset(path, n_levels=emulator.n_levels)
        n = ds.sizes["column"]
        if n == 0:
            raise InputError(f"{path}: holds no columns to calibrate on")
        picked = np.sort(rng.choice(n, min(n, max_columns), replace=False))
        block = to_tensors(ds.isel(column=picked).load())
        inputs = tuple(block[name].numpy() for name in ("level_inputs", "column_inputs", "pressure_interface_Pa"))
        _, heating = runtime.predict(*inputs)
        day = block["column_inputs"][:, [n for n, _ in COLUMN_FEATURES].index("cos_solar_zenith_angle")].numpy() > 0
        lw, sw = column_errors(block["heating"][:, 0].numpy(), block["heating"][:, 1].numpy(), heating[:, 0], heating[:, 1], day)
        for key, value in (("descriptors", all_descriptors(model, *inputs)), ("lw", lw), ("sw", sw), ("day", day),
                           ("group", np.full(len(lw), len(used)))):  # fmt: skip
            parts[key].append(value)
        used.append({"path": str(path.resolve()), "columns": int(len(picked)), "levels": int(ds.sizes["level"])})
    descriptors, lw, sw, day, groups = (np.concatenate(parts[key]) for key in ("descriptors", "lw", "sw", "day", "group"))
    low, high = descriptors.min(axis=0), descriptors.max(axis=0)
    terms = regressors(descriptors, low, high)
    coefficients = fit_error_model(terms, np.maximum(lw, sw))
    predicted = design_matrix(terms) @ coefficients
    threshold, report = choose_threshold(predicted, lw, sw, day, target_rmse_K_day, groups)
    for dataset, scores in zip(used, report.pop("datasets"), strict=True):
        dataset.update(scores)
    actual = np.log(np.maximum(lw, sw) + ERROR_FLOOR_K_DAY)
    report["log_error_correlation"] = float(np.corrcoef(predicted, actual)[0, 1])
    record = {
        "kind": KIND,
        "version": VERSION,
        "artifact": sidecar["artifact"],
        "target_rmse_K_day": target_rmse_K_day,
        "descriptors": list(DESCRIPTORS) + list(SHAPE_DESCRIPTORS),
        "regressors": "intercept, the descriptors held to regressor_range, their squares",
        "regressor_range": {"low": low.tolist(), "high": high.tolist()},
        "coefficients": coefficients.tolist(),
        "descriptor_max": descriptors[:, : len(DESCRIPTORS)].max(axis=0).tolist(),  # the calibrated domain (novelty)
        "threshold_rules": "every dataset's kept LW and SW heating RMSE below the target; every bin of predicted "
                           "error's LW and SW heating RMSE below it (made non-decreasing)",
        "threshold_log_error": threshold,
        "threshold_K_day": float(np.exp(threshold) - ERROR_FLOOR_K_DAY) if np.isfinite(threshold) else None,
        "calibration": {"data": used, **report},
        "tables": tables,
    }
    record[INTEGRITY] = {"guard_sha256": sidecar_sha256(record), "sidecar_sha256": sidecar[INTEGRITY]["sidecar_sha256"]}
    write_text_atomic(artifact / GUARD_FILE, json.dumps(record, indent=1))
    return record
