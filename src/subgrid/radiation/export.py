"""Export a trained radiation emulator as a self-contained artifact for a host model.

An artifact directory holds one model file and its sidecar::

    OUT/emulator.pt     TorchScript (``fmt="torchscript"``), loadable by ``torch.jit.load``,
                        LibTorch C++, FTorch and subgrid's Fortran adapter (``fortran/``)
    OUT/emulator.onnx   or ONNX (``fmt="onnx"``), for ONNX Runtime
    OUT/emulator.pt2    or an AOTInductor package (``fmt="aoti"``: ``torch.export`` compiled ahead of
                        time, :mod:`subgrid.radiation.export_aoti`), loadable from Python, from C++
                        (``AOTIModelPackageLoader``) and through subgrid's C ABI and Fortran module
    OUT/emulator.json   inputs and outputs (names, units, dims, shapes), vertical order, the
                        model description, training ranges for an out-of-distribution check,
                        the fallback scheme's settings, the export's own verification, and
                        ``integrity``: the sha256 of the model file and of the sidecar's other
                        content (:func:`check_integrity`; the runtime refuses an edited sidecar
                        or a corrupted model file)

All artifacts take physical inputs and return physical outputs, as
:class:`~subgrid.models.radiation.RadiationEmulator` does (feature transforms, normalisation and
the flux constraints are inside), in the FTorch convention: ``forward(level_inputs[B, 9, L],
column_inputs[B, 7], pressure_interface_Pa[B, L+1]) -> (fluxes[B, 4, L+1], heating[B, 2, L])``,
float32, surface first, batch size free. FTorch passes several outputs through
``torch_model_forward``'s output array, so no single-tensor variant is needed. A grid-agnostic
emulator's artifact takes any level count ``L`` too: its sidecar's ``n_levels`` is ``null`` (shapes
``null`` along ``level``/``interface``), the TorchScript module's and the AOTI package's ``n_levels``
is 0, and the C ABI / Fortran module take the host's level count at ``init``. It is verified on
two grids (the training data's and :data:`SECOND_PROBE_GRID`).

Training ranges (``training_range`` in the sidecar), per input feature:

* ``min``/``max``: physical units, per level (per interface for pressure), over every column of
  the training dataset named in ``model.json`` (or ``training_data=``); ``null`` when that
  dataset is not found, and then the runtime's OOD guard cannot be used. Grid-agnostic: one
  min/max per feature over every level of every training dataset.
* ``mean``/``std``: of the *transformed* feature (``transform``: identity, log or log1p), per
  level (grid-agnostic: per node of ``log_pressure_nodes``, ln Pa): the emulator's normalisation
  buffers, fitted on a sample of the training split.

Every export is checked before it is published: the artifact is run on sampled columns (day,
night, clear and cloudy) and must agree with the eager model to :data:`EXPORT_TOLERANCE` (see
:func:`output_discrepancy`). The directory is written under a temporary name and renamed, so an
interrupted or failed export never leaves a half-written artifact.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn

import subgrid
from subgrid.radiation.columns import sample_columns
from subgrid.radiation.export_aoti import compile_package, run_package
from subgrid.core.errors import InputError, SubgridError
from subgrid.core.ownership import ARTIFACT, check_replaceable, mark, publish, staging_path
from subgrid.models.radiation import (
    COLUMN_FEATURES,
    FLUXES,
    HEATING_FACTOR,
    HEATING_RATES,
    LEVEL_FEATURES,
    MIN_GRID_LEVELS,
    RadiationEmulator,
)
from subgrid.physics.rrtmg import RRTMGConfig
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER
from subgrid.radiation.training import load_emulator, sampler_settings
from subgrid.radiation.training_data import open_radiation_dataset, to_tensors

SIDECAR = "emulator.json"
ARTIFACTS = {"torchscript": "emulator.pt", "onnx": "emulator.onnx", "aoti": "emulator.pt2"}
INPUT_NAMES = ("level_inputs", "column_inputs", "pressure_interface_Pa")
OUTPUT_NAMES = ("fluxes", "heating")
#: Largest discrepancy (relative to each column's flux scale) an export may show; see output_discrepancy.
EXPORT_TOLERANCE = 1e-5
PROBE_COLUMNS = 64
#: Sampler grid (level count, top, lowest layer) a grid-agnostic artifact is also verified on.
SECOND_PROBE_GRID = {"n_levels": 31, "top_pressure_Pa": 100.0, "bottom_layer_thickness_Pa": 2500.0}


class ExportError(SubgridError, RuntimeError):
    """An exporter failed, or its artifact does not reproduce the eager model."""


# ----------------------------------------------------------------------------------------------
# Integrity: the sidecar is tied to its artifact and to its own content

#: Sidecar key of the sha256 of the artifact file and of the sidecar's other content.
INTEGRITY = "integrity"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_sha256(sidecar: dict) -> str:
    """sha256 of the sidecar's content without its ``integrity`` entry (canonical JSON: sorted keys)."""
    body = json.loads(json.dumps({key: value for key, value in sidecar.items() if key != INTEGRITY}))
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def seal_sidecar(sidecar: dict, artifact: Path) -> dict:
    """``sidecar`` with its ``integrity`` entry: the sha256 of ``artifact`` and of the sidecar's content."""
    integrity = {"artifact_sha256": file_sha256(artifact), "sidecar_sha256": sidecar_sha256(sidecar)}
    return {**sidecar, INTEGRITY: integrity}


def check_integrity(directory: Path, sidecar: dict) -> None:
    """Refuse an artifact directory whose sidecar or artifact changed since export (one line naming the file).

    Widening ``training_range`` in the sidecar would silently disable the out-of-distribution guard, and a
    corrupted artifact could load and run: both are refused here.
    """
    integrity = sidecar.get(INTEGRITY)
    if not isinstance(integrity, dict):
        raise InputError(f"{directory / SIDECAR}: no integrity record (sha256 of artifact and sidecar); re-export "
                         "the run with this subgrid")  # fmt: skip
    if integrity.get("sidecar_sha256") != sidecar_sha256(sidecar):
        raise InputError(f"{directory / SIDECAR}: content does not match its recorded sha256 (edited after export?); "
                         "re-export instead of editing it")  # fmt: skip
    artifact = directory / sidecar["artifact"]
    if integrity.get("artifact_sha256") != file_sha256(artifact):
        raise InputError(f"{artifact}: does not match the sha256 recorded in {SIDECAR} (corrupted or replaced); "
                         "re-export the run")  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Comparing outputs


def output_discrepancy(
    reference: tuple[torch.Tensor, torch.Tensor],
    candidate: tuple[torch.Tensor, torch.Tensor],
    pressure_interface_Pa: torch.Tensor,
) -> dict[str, float]:
    """Largest differences between two (fluxes, heating) outputs, relative to each column's flux scale.

    ``fluxes``: max |ΔF| / max |F| (the column's largest reference flux, W m⁻²).
    ``heating``: max |ΔH|·|Δp| / (g/cp · 86400) / max |F|: the heating difference expressed as the
    difference of net-flux divergence it implies (W m⁻²). A plain relative test on heating rates
    cannot hold across runtimes in float32: one rounding step of a 1 400 W m⁻² flux (1.2e-4) over
    the 13 Pa top layer is already 0.008 K/day. TorchScript reproduces eager PyTorch bit for bit;
    ONNX Runtime's kernels round differently, and this measure stays near 1e-7 for them.
    """
    f_ref, h_ref = (x.double() for x in reference)
    f_new, h_new = (x.double() for x in candidate)
    scale = f_ref.abs().amax(dim=(1, 2)).clamp(min=1.0)[:, None, None]
    dp = (pressure_interface_Pa[:, :-1] - pressure_interface_Pa[:, 1:]).double().abs().unsqueeze(1)
    return {
        "fluxes": float(((f_new - f_ref).abs() / scale).max()),
        "heating": float(((h_new - h_ref).abs() * dp / HEATING_FACTOR / scale).max()),
    }


# ----------------------------------------------------------------------------------------------
# Exporters (registry: fmt -> function writing the artifact file)


class FTorchRadiation(nn.Module):
    """TorchScript entry point: shape and dtype checks with plain messages, then the traced emulator.

    The checks catch the usual coupling mistakes (transposed Fortran arrays, double precision,
    another level count) with a message instead of garbage. ``n_levels``, ``n_level_features``
    and ``n_column_features`` stay readable as module attributes (the C++ adapter checks them);
    ``n_levels`` 0: a grid-agnostic emulator, any level count (interfaces one more than levels).
    """

    def __init__(self, traced: nn.Module, n_levels: int | None) -> None:
        super().__init__()
        self.traced = traced
        self.n_levels = 0 if n_levels is None else n_levels
        self.n_level_features = len(LEVEL_FEATURES)
        self.n_column_features = len(COLUMN_FEATURES)

    def forward(
        self, level_inputs: torch.Tensor, column_inputs: torch.Tensor, pressure_interface_Pa: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = level_inputs.shape[0] if level_inputs.dim() == 3 else -1
        levels = self.n_levels
        if levels == 0:
            levels = level_inputs.shape[2] if level_inputs.dim() == 3 else -1
        expected = (
            (level_inputs, [n, self.n_level_features, levels], "level_inputs [column, feature, level]"),
            (column_inputs, [n, self.n_column_features], "column_inputs [column, feature]"),
            (pressure_interface_Pa, [n, levels + 1], "pressure_interface_Pa [column, interface]"),
        )
        for tensor, shape, name in expected:
            if list(tensor.shape) != shape:
                raise ValueError(f"{name}: expected shape {shape}, got {list(tensor.shape)}")
            if tensor.dtype != torch.float32:
                raise ValueError(f"{name}: expected float32, got {tensor.dtype}")
        return self.traced(level_inputs, column_inputs, pressure_interface_Pa)


@contextlib.contextmanager
def without_torchscript_deprecation() -> Iterator[None]:
    """torch 2.13 deprecates ``torch.jit`` in favour of ``torch.export``; LibTorch C++ and FTorch load
    only TorchScript, so this format stays until they move (the warning says nothing about our model)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        yield


def export_torchscript(emulator: RadiationEmulator, path: Path, example: tuple[torch.Tensor, ...]) -> None:
    """Trace the emulator (its helpers use module-level constants, which ``torch.jit.script`` rejects).

    The forward pass has no data-dependent branches (night, clipping and constraints use
    ``torch.where``/``relu``), so a trace is exact for every input; the trace is checked at batch
    size 1 too, since the example batch is larger.
    """
    single = tuple(x[:1] for x in example)
    with torch.no_grad(), without_torchscript_deprecation():
        traced = torch.jit.trace(emulator, example, check_inputs=[single])
        torch.jit.script(FTorchRadiation(traced, emulator.n_levels)).save(str(path))


@contextlib.contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """Silence the exporter's noise about itself (not about our model), restoring the settings after.

    It logs one warning per torchvision operator it cannot register, warns that the dynamic axis
    named ``column`` is shared by all inputs (intended), and trips torch's own deprecations.
    """
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will not be used, since it shares the same shape constraints")
            warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def dynamic_shapes(emulator: RadiationEmulator) -> dict[str, dict]:
    """``torch.export`` dynamic dims of the three inputs: ``column``, and for a grid-agnostic emulator ``level``
    (interfaces: ``level + 1``)."""
    column = torch.export.Dim("column", min=1)
    if not emulator.grid_agnostic:
        return {name: {0: column} for name in INPUT_NAMES}
    level = torch.export.Dim("level", min=MIN_GRID_LEVELS, max=1000)
    return {"level_inputs": {0: column, 2: level}, "column_inputs": {0: column},
            "pressure_interface_Pa": {0: column, 1: level + 1}}  # fmt: skip


def export_onnx(emulator: RadiationEmulator, path: Path, example: tuple[torch.Tensor, ...]) -> None:
    """``torch.onnx.export`` (the torch.export-based exporter) with a dynamic ``column`` dim (grid-agnostic: and
    ``level``), weights inline."""
    with _quiet_onnx_exporter():
        program = torch.onnx.export(
            emulator,
            example,
            dynamo=True,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=dynamic_shapes(emulator),
            external_data=False,
            verbose=False,
        )
    program.save(str(path))


def export_aoti(emulator: RadiationEmulator, path: Path, example: tuple[torch.Tensor, ...]) -> None:
    """AOTInductor package (dynamic ``column`` dim) whose metadata gives the level and feature counts."""
    metadata = {
        "kind": "radiation",
        "n_levels": emulator.n_levels or 0,  # 0: grid-agnostic
        "n_level_features": len(LEVEL_FEATURES),
        "n_column_features": len(COLUMN_FEATURES),
    }
    compile_package(emulator, path, example, INPUT_NAMES, metadata, dynamic_shapes(emulator))


EXPORTERS: dict[str, Callable[[RadiationEmulator, Path, tuple[torch.Tensor, ...]], None]] = {
    "torchscript": export_torchscript,
    "onnx": export_onnx,
    "aoti": export_aoti,
}


def run_artifact(path: Path, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Run an exported artifact once (no warm-up, default threads): for verification and tests."""
    if path.suffix == ".pt":
        with torch.inference_mode(), without_torchscript_deprecation():
            fluxes, heating = torch.jit.load(str(path), map_location="cpu")(*inputs)
        return fluxes, heating
    if path.suffix == ".pt2":
        fluxes, heating = run_package(path, inputs)
        return fluxes, heating
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fluxes, heating = session.run(list(OUTPUT_NAMES), {n: x.numpy() for n, x in zip(INPUT_NAMES, inputs, strict=True)})
    return torch.from_numpy(fluxes), torch.from_numpy(heating)


# ----------------------------------------------------------------------------------------------
# Sidecar


def _features(names: tuple[str, ...], table: dict) -> list[dict]:
    return [{"name": n, "units": table[n].units, "long_name": table[n].long_name} for n in names]


def _tensor(name: str, dims: list[str], shape: list[int | None], **described) -> dict:
    """One input or output: C-order dims and shape (``None``: any column count), and the Fortran order."""
    return {"name": name, "dims": dims, "shape": shape, "fortran_dims": dims[::-1], "dtype": "float32", **described}


def io_spec(n_levels: int | None) -> dict:
    """Inputs and outputs of an artifact: names in order, dims (C order and Fortran order), shapes, units
    (``None`` in a shape: any size; ``n_levels`` None: a grid-agnostic emulator)."""
    interfaces = None if n_levels is None else n_levels + 1
    level_names = tuple(n for n, _ in LEVEL_FEATURES)
    column_names = tuple(n for n, _ in COLUMN_FEATURES)
    pressure = RADIATION_INPUTS["air_pressure_on_interface"]
    return {
        "inputs": [
            _tensor(
                "level_inputs", ["column", "feature", "level"], [None, len(level_names), n_levels],
                features=_features(level_names, RADIATION_INPUTS),
            ),
            _tensor(
                "column_inputs", ["column", "feature"], [None, len(column_names)],
                features=_features(column_names, RADIATION_INPUTS),
            ),
            _tensor(
                "pressure_interface_Pa", ["column", "interface"], [None, interfaces],
                variable="air_pressure_on_interface", units=pressure.units, long_name=pressure.long_name,
            ),
        ],
        "outputs": [
            _tensor(
                "fluxes", ["column", "flux", "interface"], [None, len(FLUXES), interfaces],
                features=_features(FLUXES, RADIATION_OUTPUTS),
            ),
            _tensor(
                "heating", ["column", "band", "level"], [None, len(HEATING_RATES), n_levels],
                features=_features(HEATING_RATES, RADIATION_OUTPUTS),
            ),
        ],
    }  # fmt: skip


def _dataset_extremes(path: Path, n_levels: int | None) -> dict[str, tuple[list, list]]:
    """Per-level min and max of every input over the dataset's columns (``n_levels`` None: over every level too)."""
    ds = open_radiation_dataset(path, n_levels=n_levels, targets=False)
    names = [n for n, _ in LEVEL_FEATURES + COLUMN_FEATURES] + ["air_pressure_on_interface"]
    low, high = ds[names].min("column").compute(), ds[names].max("column").compute()
    if n_levels is None:
        low, high = low.min(), high.max()
    return {n: (np.atleast_1d(low[n].values).tolist(), np.atleast_1d(high[n].values).tolist()) for n in names}


def _union_extremes(paths: list[Path], n_levels: int | None) -> dict[str, tuple[list, list]]:
    union: dict[str, tuple[list, list]] = {}
    for path in paths:
        for name, (low, high) in _dataset_extremes(path, n_levels).items():
            if name in union:
                low = np.minimum(union[name][0], low).tolist()
                high = np.maximum(union[name][1], high).tolist()
            union[name] = (low, high)
    return union


def training_range(emulator: RadiationEmulator, training_data: Path | list[Path] | None) -> dict:
    """Per-feature training statistics (module docstring): min/max from the data, mean/std from the buffers.

    ``training_data``: the dataset, or every dataset the run trained on (a fine-tune's replayed
    states widen the range the out-of-distribution guard accepts); missing ones are skipped.
    """
    paths = [] if training_data is None else [training_data] if isinstance(training_data, Path) else list(training_data)
    existing = [path for path in paths if path.exists()]
    found = bool(existing)
    extremes = _union_extremes(existing, emulator.n_levels)
    training_data = ", ".join(str(path) for path in existing) or None
    features: dict[str, dict] = {}
    level_dims = ["log_pressure_node"] if emulator.grid_agnostic else ["level"]
    sources = [
        (LEVEL_FEATURES, emulator.level_mean, emulator.level_std, level_dims),
        (COLUMN_FEATURES, emulator.column_mean.unsqueeze(-1), emulator.column_std.unsqueeze(-1), []),
    ]
    for table, mean, std, dims in sources:
        for i, (name, transform) in enumerate(table):
            low, high = extremes.get(name, (None, None))
            per_level = bool(dims)
            by_level = per_level and not emulator.grid_agnostic  # min/max per level, not one per feature
            features[name] = {
                "units": RADIATION_INPUTS[name].units,
                "dims": dims,
                "min": low if by_level or low is None else low[0],
                "max": high if by_level or high is None else high[0],
                "transform": transform,
                "mean": mean[i].tolist() if per_level else float(mean[i, 0]),
                "std": std[i].tolist() if per_level else float(std[i, 0]),
            }
    low, high = extremes.get("air_pressure_on_interface", (None, None))
    if emulator.grid_agnostic and low is not None:
        low, high = low[0], high[0]
    features["air_pressure_on_interface"] = {"units": "Pa", "dims": [] if emulator.grid_agnostic else ["interface"],
                                             "min": low, "max": high}  # fmt: skip
    source = f"min/max over the training dataset {training_data}" if found else "training dataset not found: no min/max"
    ranges = {
        "source": f"{source}; mean/std of the transformed features are the normalisation statistics",
        "features": features,
    }
    if emulator.grid_agnostic:
        ranges["log_pressure_nodes"] = emulator.log_pressure_nodes.tolist()
    return ranges


def _rrtmg_settings(description: dict) -> dict:
    settings = description.get("training_data", {}).get("rrtmg_settings")
    if settings:
        return {"source": "training data", "settings": RRTMGConfig(**json.loads(settings)).to_dict()}
    return {"source": "defaults (the training data recorded none)", "settings": RRTMGConfig().to_dict()}


# ----------------------------------------------------------------------------------------------
# Probe columns and the export itself


def probe_inputs(
    description: dict, n_columns: int = PROBE_COLUMNS, seed: int = 0, grid: dict | None = None
) -> tuple[torch.Tensor, ...]:
    """Sampled columns (same sampler settings as the training data when recorded, on ``grid`` when given) as the
    three input tensors."""
    config = sampler_settings(description, **(grid or {}))
    tensors = to_tensors(sample_columns(n_columns, np.random.default_rng(seed), config), targets=False)
    return tuple(tensors[name] for name in INPUT_NAMES)


def _check_finite(emulator: RadiationEmulator, inputs: tuple[torch.Tensor, ...], description: dict) -> None:
    """Refuse to export NaN/Inf weights or buffers, or a model whose outputs on the probe columns are not finite
    (NaN outputs would also pass :func:`_verify`: NaN compares as no discrepancy)."""
    for name, tensor in emulator.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ExportError(f"model.safetensors: {name} holds {int((~torch.isfinite(tensor)).sum())} non-finite "
                              f"value(s) (NaN or Inf: the {description.get('model')} run diverged); nothing was exported")  # fmt: skip
    with torch.no_grad():
        outputs = emulator(*inputs)
    for name, values in zip(("fluxes", "heating rates"), outputs, strict=True):
        if not bool(torch.isfinite(values).all()):
            raise ExportError(f"{name}: non-finite output on {int((~torch.isfinite(values)).flatten(1).any(1).sum())} "
                              f"of {len(values)} probe columns; nothing was exported")  # fmt: skip


def _verify(artifact: Path, emulator: RadiationEmulator, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
    with torch.no_grad():
        reference = emulator(*inputs)
    discrepancy = output_discrepancy(reference, run_artifact(artifact, inputs), inputs[2])
    if max(discrepancy.values()) > EXPORT_TOLERANCE:
        raise ExportError(
            f"{artifact.name}: differs from the eager model by {discrepancy} (tolerance {EXPORT_TOLERANCE:g})"
        )
    return discrepancy


def export_emulator(
    emulator: RadiationEmulator,
    description: dict,
    out_dir: str | Path,
    fmt: str = "torchscript",
    *,
    training_data: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Export ``emulator`` (described by its run's ``model.json`` content) to artifact directory ``out_dir``."""
    if fmt not in EXPORTERS:
        raise InputError(f"fmt: unknown export format {fmt!r}; choose one of {', '.join(EXPORTERS)}")
    out_dir = Path(out_dir)
    # Only an artifact directory subgrid exported is replaced, and only once the new one is verified.
    check_replaceable(out_dir, ARTIFACT, overwrite=overwrite)
    if training_data is not None:
        data = [Path(training_data)]
    else:  # the main dataset and any extra (replay) datasets the run was trained on
        recorded = [description.get("training_data", {}).get("path")]
        recorded += [extra.get("path") for extra in description.get("extra_data", [])]
        data = [Path(path) for path in recorded if path]
    emulator = emulator.eval()
    inputs = probe_inputs(description)
    _check_finite(emulator, inputs, description)
    ranges = training_range(emulator, data)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(out_dir, "partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        artifact = tmp / ARTIFACTS[fmt]
        try:
            EXPORTERS[fmt](emulator, artifact, inputs)
        except Exception as error:  # exporters raise many types; report them as one failure of the export
            raise ExportError(f"{fmt} export failed: {error}") from error
        discrepancy = _verify(artifact, emulator, inputs)
        if emulator.grid_agnostic:  # the same artifact on another level count, top and stretching
            second = _verify(artifact, emulator, probe_inputs(description, grid=SECOND_PROBE_GRID))
            discrepancy = {name: max(value, second[name]) for name, value in discrepancy.items()}
        sidecar = {
            "kind": "radiation_emulator_artifact",
            "format": fmt,
            "artifact": ARTIFACTS[fmt],
            "n_levels": emulator.n_levels,  # None: any
            "vertical_grid": "any" if emulator.grid_agnostic else "fixed",
            "vertical_order": VERTICAL_ORDER,
            "solar_constant_W_per_m2": emulator.solar_constant_W_per_m2,
            **io_spec(emulator.n_levels),
            "model": description,
            "training_range": ranges,
            "fallback_scheme": {"name": "RRTMG LW+SW (climt), subgrid.physics.rrtmg", **_rrtmg_settings(description)},
            "verification": {"columns": len(inputs[0]), "tolerance": EXPORT_TOLERANCE, "discrepancy": discrepancy},
            "versions": {"subgrid": subgrid.__version__, "torch": torch.__version__, "xarray": xr.__version__},
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / SIDECAR).write_text(json.dumps(seal_sidecar(sidecar, artifact), indent=2))
        publish(mark(tmp, ARTIFACT, __name__), out_dir, ARTIFACT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def export_run(
    run: str | Path,
    out_dir: str | Path,
    fmt: str = "torchscript",
    *,
    training_data: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Export the trained emulator of run directory ``run`` as a ``fmt`` artifact in ``out_dir``; returns ``out_dir``.

    ``training_data`` overrides the dataset path recorded in ``model.json`` (used only for the
    training min/max of the OOD check), e.g. when the dataset has moved.
    """
    emulator, description = load_emulator(run)
    return export_emulator(emulator, description, out_dir, fmt, training_data=training_data, overwrite=overwrite)
