"""Score a radiation emulator on every set of a generalisation suite (:mod:`subgrid.radiation.shifted_sets`).

One row per set: the flux MAE % of the project's headline
(:data:`~subgrid.evaluation.metrics.FLUX_MAE_PERCENT_DEFINITION`), the LW and SW heating-rate RMSE
(K/day) on all levels, above 10 hPa (layers whose centre is at p < 10 hPa) and below, the top
layer's LW heating RMSE and bias (JSON only: the layer under the model top, where the LW error of the
shifted sets concentrates: 30-70 % of the LW MSE on CO2 at 2-4x, the 5 Pa top and L90), the OLR bias
and the surface downward SW bias (emulator minus RRTMG, W m⁻²; SW over daytime columns only), the
number of columns and, for an exported artifact with a guard, the share of columns it sends to RRTMG
(:meth:`Emulator.guarded() <subgrid.radiation.emulator.Emulator.guarded>`: the calibrated guard's
predicted error above its threshold, :mod:`subgrid.radiation.guard`, or else an input outside the
training ranges) and the flux MAE and heating RMSE of the columns it keeps.

A fixed-grid emulator (normalisation statistics per level) gets a set on another level count as a
row ``refused: ...`` instead of an error, as is a set whose inputs an exported emulator's input
checks refuse; a grid-agnostic one is scored on every set. :func:`evaluate_suite` writes ``comparison.md`` (the
table) and ``suite_metrics.json`` into its output directory and appends one JSON line per set,
naming the model, to a results file.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

import subgrid
from subgrid.core.errors import InputError
from subgrid.core.ownership import EVALUATION, check_replaceable, write_directory
from subgrid.core.stores import append_json_line
from subgrid.evaluation.metrics import FLUX_MAE_PERCENT_DEFINITION, radiation_metrics, vertical_indices
from subgrid.physics.schema import RADIATION_INPUTS
from subgrid.radiation.emulator import Emulator, read_sidecar
from subgrid.radiation.export import SIDECAR
from subgrid.radiation.guard import GUARD_FILE
from subgrid.radiation.shifted_sets import SET_ATTR, finished_set, set_order
from subgrid.radiation.training import load_emulator, predict_radiation
from subgrid.radiation.training_data import open_radiation_dataset

#: Heating rates are split at this pressure: the stratosphere above 10 hPa is where grids differ most.
SPLIT_PRESSURE_PA = 1000.0
REGIONS = ("all_levels", "above_10hPa", "below_10hPa")
#: Scores also reported for the columns a guard keeps (``kept_<score>``).
KEPT_SCORES = ("flux_mae_percent", "lw_heating_rmse_all_levels_K_day", "sw_heating_rmse_all_levels_K_day")


#: :attr:`ScoredEmulator.kind` of a training run directory (an artifact's is "<format> artifact").
TRAINING_RUN = "training run"


@dataclass(frozen=True)
class ScoredEmulator:
    """The emulator under test: a training run directory or an exported artifact, loaded once.

    ``predict(truth)`` returns the emulated outputs of a surface-first set; ``outside_training_range``
    (artifacts with a guard only) flags the columns the guard sends to RRTMG; ``guard`` names it and
    ``guard_settings`` holds a calibrated guard's version, target and threshold (each row records them).
    """

    path: Path
    model: str
    parameters: int | None
    kind: str
    n_levels: int | None
    predict: Callable[[xr.Dataset], xr.Dataset]
    outside_training_range: Callable[[xr.Dataset], np.ndarray] | None = None
    guard: str | None = None
    guard_settings: dict | None = None

    @property
    def is_training_run(self) -> bool:
        return self.kind == TRAINING_RUN

    def output_directory(self, out: str | Path | None, name: str) -> Path:
        """``out``, else ``<run>/evaluation/<name>``; an exported artifact's directory is never written into. Refused
        here, before any scoring, if it holds anything but an earlier evaluation (it is written with
        :func:`~subgrid.core.ownership.write_directory`)."""
        if out is None and not self.is_training_run:
            raise InputError(f"out (--out): needed for an exported artifact ({self.path} is not written into)")
        directory = Path(out) if out is not None else self.path / "evaluation" / name
        check_replaceable(directory, EVALUATION)
        return directory

    @property
    def label(self) -> str:
        size = f", {self.parameters:,} parameters" if self.parameters else ""
        return f"{self.model} ({self.kind}{size})"


def _inputs(truth: xr.Dataset) -> xr.Dataset:
    return truth[[name for name in RADIATION_INPUTS if name in truth]].load()


def load_scored_emulator(path: str | Path) -> ScoredEmulator:
    """The emulator of a run directory (``model.json``) or of an exported artifact (its sidecar), for scoring."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such run or artifact directory")
    if not (path / SIDECAR).is_file():
        emulator, description = load_emulator(path)
        return ScoredEmulator(path, description["model"], description.get("parameters"), TRAINING_RUN,
                          description["n_levels"], lambda truth: predict_radiation(emulator, truth))  # fmt: skip
    sidecar = read_sidecar(path / SIDECAR)
    features = sidecar["training_range"]["features"]
    ranges = all(features[name]["min"] is not None for name in features)
    calibrated = (path / GUARD_FILE).is_file()
    emulator = Emulator.load(path, threads=1, ood_guard=ranges or calibrated)
    guard = "calibrated" if calibrated else "training range" if ranges else None
    model = sidecar.get("model") if isinstance(sidecar.get("model"), dict) else {}
    guard_record = emulator.calibrated_guard.record if emulator.calibrated_guard is not None else None
    settings = None if guard_record is None else {
        key: guard_record[key] for key in ("version", "target_rmse_K_day", "threshold_K_day")}

    def outside(truth: xr.Dataset) -> np.ndarray:
        inputs = _inputs(truth)
        return emulator.out_of_distribution({name: inputs[name].values for name in inputs.data_vars})

    return ScoredEmulator(path, str(model.get("model", "emulator")), model.get("parameters"),
                          f"{emulator.format} artifact", emulator.n_levels,
                          lambda truth: emulator.tendencies(_inputs(truth)),
                          outside if guard else None, guard, settings)  # fmt: skip


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _rmse(error: np.ndarray, mask: np.ndarray) -> float | None:
    return _finite(float(np.sqrt(np.mean(error[mask] ** 2)))) if mask.any() else None


def set_scores(truth: xr.Dataset, pred: xr.Dataset, split_pressure_Pa: float = SPLIT_PRESSURE_PA) -> dict:
    """The suite's numbers for one set (module docstring): a JSON-ready dict, ``None`` where undefined.

    ``truth`` holds RRTMG's outputs, the inputs ``air_pressure`` and ``cos_solar_zenith_angle`` and the
    descriptors :func:`~subgrid.evaluation.metrics.radiation_metrics` reads; ``pred`` the emulated
    fluxes and heating rates, in the same vertical order.
    """
    headline = radiation_metrics(truth, pred, exclude_lowest_layer=False)["overall"]
    vertical = vertical_indices(truth)
    day = truth["cos_solar_zenith_angle"].values > 0
    above = truth["air_pressure"].values < split_pressure_Pa
    scores = {"columns": int(truth.sizes["column"]), "day_columns": int(day.sum()),
              "flux_mae_percent": headline["flux_mae_percent"]}  # fmt: skip
    for band, columns in (("lw", np.ones_like(day)), ("sw", day)):
        error = (pred[f"{band}_heating_rate"].values - truth[f"{band}_heating_rate"].values)[columns]
        for region, mask in zip(REGIONS, (np.ones_like(above), above, ~above), strict=True):
            scores[f"{band}_heating_rmse_{region}_K_day"] = _rmse(error, mask[columns])
    top, surface = vertical.top_interface, vertical.surface_interface
    top_layer = truth.sizes["level"] - 1 - vertical.lowest_level  # the layer under the top interface
    lw_top_error = pred["lw_heating_rate"].values[:, top_layer] - truth["lw_heating_rate"].values[:, top_layer]
    scores["lw_heating_rmse_top_layer_K_day"] = _finite(float(np.sqrt(np.mean(lw_top_error**2))))
    scores["lw_heating_bias_top_layer_K_day"] = _finite(float(lw_top_error.mean()))
    olr_error = pred["lw_flux_up"].values[:, top] - truth["lw_flux_up"].values[:, top]
    sw_error = (pred["sw_flux_down"].values[:, surface] - truth["sw_flux_down"].values[:, surface])[day]
    scores["olr_bias_W_m2"] = _finite(float(olr_error.mean()))
    scores["surface_sw_down_bias_W_m2"] = _finite(float(sw_error.mean())) if day.any() else None
    return scores


def suite_sets(suite: str | Path) -> dict[str, Path]:
    """The finished sets of suite directory ``suite`` by name, in the registry's order (hosts last)."""
    suite = Path(suite)
    if not suite.is_dir():
        raise InputError(f"{suite}: no such suite directory")
    sets = {path.name.removesuffix(".zarr"): path for path in suite.glob("*.zarr") if finished_set(path) is not None}
    if not sets:
        raise InputError(f"{suite}: holds no suite set (NAME.zarr written by `subgrid generate suite`)")
    return dict(sorted(sets.items(), key=lambda item: set_order(item[0])))


def score_set(model: ScoredEmulator, name: str, path: Path) -> dict:
    """One row of the table: the set's identity, and its scores or the reason the model refuses it."""
    truth = open_radiation_dataset(path)
    record = json.loads(truth.attrs[SET_ATTR])
    row = {"set": name, "kind": record["kind"], "spec": record["spec"], "seed": record["seed"],
           "columns": int(truth.sizes["column"]), "levels": int(truth.sizes["level"]), "refused": None}  # fmt: skip
    if model.n_levels is not None and row["levels"] != model.n_levels:  # None: a grid-agnostic model
        return {**row, "refused": f"{row['levels']} levels; the model takes {model.n_levels}"}
    try:
        pred = model.predict(truth)
    except InputError as error:  # an exported emulator's input checks refuse the set
        return {**row, "refused": str(error)}
    row.update(set_scores(truth, pred))
    if model.outside_training_range is not None:
        sent = model.outside_training_range(truth)
        row["guard"] = model.guard
        if model.guard_settings is not None:
            row["guard_settings"] = model.guard_settings
        row["sent_to_rrtmg_fraction"] = float(sent.mean())
        if model.guard == "training range":
            row["outside_training_range_fraction"] = row["sent_to_rrtmg_fraction"]
        if not sent.all():
            kept = {"column": np.flatnonzero(~sent)}
            scores = set_scores(truth.isel(kept), pred.isel(kept))
            row.update({f"kept_{key}": scores[key] for key in KEPT_SCORES})
    return row


_COLUMNS = (  # heading, key, format
    ("columns", "columns", "{:d}"),
    ("flux MAE %", "flux_mae_percent", "{:.2f}"),
    *((f"{band.upper()} HR {where}", f"{band}_heating_rmse_{region}_K_day", "{:.3f}")
      for band in ("lw", "sw")
      for where, region in zip(("all", "p<10 hPa", "p≥10 hPa"), REGIONS, strict=True)),
    ("OLR bias", "olr_bias_W_m2", "{:+.2f}"),
    ("sfc SW↓ bias", "surface_sw_down_bias_W_m2", "{:+.2f}"),
    ("sent to RRTMG", "sent_to_rrtmg_fraction", "{:.1%}"),
    ("kept flux MAE %", "kept_flux_mae_percent", "{:.2f}"),
    ("kept LW HR", "kept_lw_heating_rmse_all_levels_K_day", "{:.3f}"),
    ("kept SW HR", "kept_sw_heating_rmse_all_levels_K_day", "{:.3f}"),
)  # fmt: skip


def suite_table(rows: list[dict]) -> str:
    """The rows as one markdown table; a refused set shows its reason in place of the scores."""
    lines = ["| set | " + " | ".join(heading for heading, _, _ in _COLUMNS) + " |",
             "|---|" + "---:|" * len(_COLUMNS)]  # fmt: skip
    for row in rows:
        if row["refused"]:
            cells = [str(row["columns"]), f"refused: {row['refused']}"] + [""] * (len(_COLUMNS) - 2)
        else:
            cells = ["—" if row.get(key) is None else fmt.format(row[key]) for _, key, fmt in _COLUMNS]
        lines.append(f"| {row['set']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate_suite(
    model: str | Path, suite: str | Path, *, out: str | Path | None = None, results: str | Path | None = None,
    progress: bool = True,
) -> dict:  # fmt: skip
    """Score the emulator at ``model`` (run directory or exported artifact) on every set of ``suite``.

    Writes ``comparison.md`` and ``suite_metrics.json`` into ``out`` (default ``RUN/evaluation/suite_<suite
    name>``; required for an artifact, whose directory is not written into), replacing only an
    evaluation subgrid wrote there; appends one JSON line per set to ``results`` if given. Returns
    ``{"model", "suite", "rows", "table", "output_directory"}``.
    """
    suite = Path(suite)
    sets = suite_sets(suite)
    loaded = load_scored_emulator(model)
    out = loaded.output_directory(out, f"suite_{suite.resolve().name}")
    rows = [score_set(loaded, name, path) for name, path in tqdm(sets.items(), desc="suite sets", unit="set",
                                                                  disable=not progress)]  # fmt: skip
    identity = {"model": loaded.model, "model_path": str(loaded.path), "model_kind": loaded.kind,
                "parameters": loaded.parameters, "suite": str(suite)}  # fmt: skip
    table = suite_table(rows)
    heading = (
        f"# Generalisation suite: {loaded.label}\n\nModel `{loaded.path}`, suite `{suite}`. Flux MAE %: "
        f"{FLUX_MAE_PERCENT_DEFINITION}. HR: heating-rate RMSE (K/day) on all levels, on the layers above 10 hPa "
        "(p < 10 hPa) and below; SW over daytime columns. OLR and surface downward SW biases: emulator minus RRTMG "
        "(W/m²). Sent to RRTMG: share of columns the artifact's guard sends to the physics "
        f"({loaded.guard or 'none'}); kept: the scores of the other columns.\n\n"
    )
    summary = {**identity, "rows": rows, "table": table}

    def write(directory: Path) -> None:
        (directory / "comparison.md").write_text(heading + table + "\n")
        (directory / "suite_metrics.json").write_text(json.dumps(summary, indent=2, allow_nan=False))

    output = write_directory(Path(out), EVALUATION, __name__, write)
    if results is not None:
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        for row in rows:
            append_json_line(results, {"benchmark": "generalization", **identity, **row,
                                       "subgrid_version": subgrid.__version__, "created_utc": created})  # fmt: skip
    return {**summary, "output_directory": str(output)}
