"""Export a trained gravity-wave column drag emulator for a host model (C ABI and Fortran module ``subgrid_gw_drag``).

An artifact directory holds one model file and its sidecar, as the radiation exports do::

    OUT/emulator.pt     TorchScript (``fmt="torchscript"``), or
    OUT/emulator.pt2    an AOTInductor package (``fmt="aoti"``: ``torch.export`` compiled ahead of time)
    OUT/emulator.json   kind, format, levels, inputs and outputs (names, units, C and Fortran dims), the
                        run's description, the export's own verification and the sha256 of the model file

Both take physical inputs and return physical outputs, as
:class:`~subgrid.gravity_waves.column.training.GWEmulator` does in eval mode (normalisation, the
source-flux scaling and the momentum budget inside): ``forward(u_m_per_s[B, L],
source_flux_Pa[B], spectral_width_m_per_s[B]) -> drag[B, L]`` (m s⁻¹ day⁻¹), float32, surface
first, batch size free. Both record ``kind = "gw_drag"`` and ``n_levels`` (TorchScript module
attributes, AOTI package metadata), which the C ABI checks at load.

Each export is run on probe columns and must agree with the eager model to
:data:`EXPORT_TOLERANCE` of each column's largest drag before the directory is published (written
under a temporary name, then renamed).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

import subgrid
from subgrid.core.errors import InputError, SubgridError
from subgrid.core.ownership import ARTIFACT, check_replaceable, mark, publish, staging_path
from subgrid.gravity_waves.column.training import GWEmulator, load_gw_emulator

SIDECAR = "emulator.json"
ARTIFACTS = {"torchscript": "emulator.pt", "aoti": "emulator.pt2"}
INPUT_NAMES = ("u_m_per_s", "source_flux_Pa", "spectral_width_m_per_s")
#: Largest drag difference an export may show, relative to each column's largest drag (+1e-6 m/s/day).
EXPORT_TOLERANCE = 1e-5
PROBE_COLUMNS = 64


class DragExportError(SubgridError, RuntimeError):
    """An exporter failed, or its artifact does not reproduce the eager model."""


class FortranDrag(nn.Module):
    """TorchScript entry point: the traced emulator with ``kind`` and ``n_levels`` readable by the C ABI."""

    def __init__(self, traced: nn.Module, n_levels: int) -> None:
        super().__init__()
        self.traced = traced
        self.kind = "gw_drag"
        self.n_levels = n_levels

    def forward(
        self, u_m_per_s: torch.Tensor, source_flux_Pa: torch.Tensor, spectral_width_m_per_s: torch.Tensor
    ) -> torch.Tensor:
        if u_m_per_s.dim() != 2 or u_m_per_s.shape[1] != self.n_levels:
            raise ValueError(f"u_m_per_s [column, level]: expected {self.n_levels} levels, got shape {list(u_m_per_s.shape)}")
        return self.traced(u_m_per_s, source_flux_Pa, spectral_width_m_per_s)


def _export_torchscript(emulator: GWEmulator, path: Path, example: tuple[torch.Tensor, ...]) -> None:
    # The momentum budget uses torch.where/clamp only: no data-dependent branch, so a trace is exact.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        traced = torch.jit.trace(emulator, example, check_inputs=[tuple(x[:1] for x in example)])
        torch.jit.script(FortranDrag(traced, emulator.n_levels)).save(str(path))


def _export_aoti(emulator: GWEmulator, path: Path, example: tuple[torch.Tensor, ...]) -> None:
    column = torch.export.Dim("column", min=1)
    metadata = {"kind": "gw_drag", "n_levels": str(emulator.n_levels)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        program = torch.export.export(emulator, example, dynamic_shapes={n: {0: column} for n in INPUT_NAMES}, strict=False)
        torch._inductor.aoti_compile_and_package(
            program, package_path=str(path), inductor_configs={"aot_inductor.metadata": metadata}
        )


EXPORTERS = {"torchscript": _export_torchscript, "aoti": _export_aoti}


def run_drag_artifact(path: Path, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Run an exported drag artifact once (verification and tests): drag ``[B, L]``."""
    with torch.inference_mode():
        if path.suffix == ".pt2":
            return torch._inductor.aoti_load_package(str(path))(*inputs)  # the output as exported: one tensor
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")(*inputs)


def probe_inputs(emulator: GWEmulator, n_columns: int = PROBE_COLUMNS, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Wind profiles and source parameters spread over the emulator's normalisation ranges (3 standard deviations)."""
    rng = np.random.default_rng(seed)
    u = emulator.u_mean.numpy() + emulator.u_std.numpy() * rng.uniform(-3, 3, (n_columns, emulator.n_levels))
    source = emulator.source_mean.numpy() + emulator.source_std.numpy() * rng.uniform(-1, 1, (n_columns, 2))
    source = np.abs(source)  # flux and width are positive
    return tuple(torch.as_tensor(x, dtype=torch.float32) for x in (u, source[:, 0], source[:, 1]))


def drag_discrepancy(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    """max |ΔD| / (max |D| of the column + 1e-6 / EXPORT_TOLERANCE): ≤ 1 means within :data:`EXPORT_TOLERANCE`."""
    scale = reference.double().abs().amax(dim=1, keepdim=True) + 1e-6 / EXPORT_TOLERANCE
    return float(((candidate.double() - reference.double()).abs() / scale).max())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tensor(name: str, dims: list[str], units: str, n_levels: int) -> dict:
    shape = [None if d == "column" else n_levels for d in dims]
    return {"name": name, "dims": dims, "shape": shape, "fortran_dims": dims[::-1], "dtype": "float32", "units": units}


def export_gw_drag(
    emulator: GWEmulator, description: dict, out_dir: str | Path, fmt: str = "torchscript", *, overwrite: bool = False
) -> Path:
    """Export ``emulator`` (described by its run's ``model.json`` content) to artifact directory ``out_dir``."""
    if fmt not in EXPORTERS:
        raise InputError(f"fmt: unknown drag export format {fmt!r}; choose one of {', '.join(EXPORTERS)}")
    out_dir = Path(out_dir)
    check_replaceable(out_dir, ARTIFACT, overwrite=overwrite)
    emulator = emulator.eval()
    inputs = probe_inputs(emulator)
    with torch.no_grad():
        reference = emulator(*inputs)
    if not bool(torch.isfinite(reference).all()):
        raise DragExportError("drag: non-finite output on the probe columns (NaN/Inf weights?); nothing was exported")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(out_dir, "partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        artifact = tmp / ARTIFACTS[fmt]
        try:
            EXPORTERS[fmt](emulator, artifact, inputs)
        except Exception as error:  # exporters raise many types; report them as one failure of the export
            raise DragExportError(f"{fmt} export of the drag emulator failed: {error}") from error
        discrepancy = drag_discrepancy(reference, run_drag_artifact(artifact, inputs))
        if discrepancy > 1.0:
            raise DragExportError(f"{artifact.name}: differs from the eager model by {discrepancy:g} x the tolerance")
        n = emulator.n_levels
        sidecar = {
            "kind": "gw_drag_emulator_artifact",
            "format": fmt,
            "artifact": ARTIFACTS[fmt],
            "n_levels": n,
            "vertical_order": "surface_first",
            "inputs": [
                _tensor("u_m_per_s", ["column", "level"], "m s-1", n),
                _tensor("source_flux_Pa", ["column"], "Pa", n),
                _tensor("spectral_width_m_per_s", ["column"], "m s-1", n),
            ],
            "outputs": [_tensor("drag", ["column", "level"], "m s-1 day-1", n)],
            "model": description,
            "verification": {"columns": len(inputs[0]), "tolerance": EXPORT_TOLERANCE, "discrepancy": discrepancy},
            "versions": {"subgrid": subgrid.__version__, "torch": torch.__version__},
            "integrity": {"artifact_sha256": _sha256(artifact)},
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=2))
        publish(mark(tmp, ARTIFACT, __name__), out_dir, ARTIFACT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def export_gw_run(run: str | Path, out_dir: str | Path, fmt: str = "torchscript", *, overwrite: bool = False) -> Path:
    """Export the trained drag emulator of run directory ``run`` as a ``fmt`` artifact in ``out_dir``."""
    emulator, description = load_gw_emulator(run)
    return export_gw_drag(emulator, description, out_dir, fmt, overwrite=overwrite)


def write_drag_columns(path: str | Path, u_m_per_s: np.ndarray, source_flux_Pa: np.ndarray,
                       spectral_width_m_per_s: np.ndarray) -> Path:  # fmt: skip
    """Columns for example 02 (``gw_drag_columns``): ``u[column, level]``, flux and width ``[column]``, float32."""
    u = np.ascontiguousarray(u_m_per_s, dtype=np.float32)
    path = Path(path)
    with path.open("wb") as handle:
        handle.write(np.array(u.shape, dtype=np.int32).tobytes())
        for array in (u, source_flux_Pa, spectral_width_m_per_s):
            handle.write(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return path


def write_drag(path: str | Path, drag: np.ndarray) -> Path:
    """Drag ``[column, level]`` in example 02's output format (its expected-values file)."""
    drag = np.ascontiguousarray(drag, dtype=np.float32)
    path = Path(path)
    path.write_bytes(np.array(drag.shape, dtype=np.int32).tobytes() + drag.tobytes())
    return path


def read_drag(path: str | Path) -> np.ndarray:
    """Drag ``[column, level]`` (m s⁻¹ day⁻¹) written by example 02."""
    raw = Path(path).read_bytes()
    n_columns, n_levels = np.frombuffer(raw[:8], dtype=np.int32)
    values = np.frombuffer(raw[8:], dtype=np.float32).copy()
    if values.size != n_columns * n_levels:
        raise InputError(f"{path}: {values.size} values, expected {n_columns * n_levels}")
    return values.reshape(n_columns, n_levels)
