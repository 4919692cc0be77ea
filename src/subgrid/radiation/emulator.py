"""Run an exported radiation emulator inside a Python host, with the same contract as the physics scheme.

:class:`Emulator` is a :class:`~subgrid.core.contract.Parameterization`, as
:class:`~subgrid.physics.rrtmg.RRTMG` is: ``tendencies(state)`` takes an xarray Dataset of columns
(surface or top first) or a dict of ``(column, level|interface)`` arrays (surface first), and
returns the same names, dims and units as RRTMG: all-sky fluxes ``{lw,sw}_flux_{up,down}``
(W m⁻², interfaces) and heating rates ``{lw,sw}_heating_rate`` (K/day, levels). The emulator
predicts no clear-sky diagnostics. Swapping RRTMG for an emulator in a host is one argument::

    radiation = Emulator.load("artifacts/rescnn")               # or RRTMG(config)
    heating = radiation.tendencies(columns)["lw_heating_rate"]

``tendencies`` runs the emulator only. Inputs are validated first (the physics scheme's checks:
missing variables, NaN/Inf, ranges, pressure order), with errors naming variable and column. A
Dataset's ``units`` attributes are read as RRTMG's Dataset entry point reads them: known units
are converted once to the schema's (``hPa`` -> ``Pa``, ``ppmv`` -> ``mol mol-1``), unknown ones
refused; a variable without the attribute is taken in the schema's units and left to the
plausibility ranges (a surface pressure of 1013 Pa, ozone of 5 mol/mol are refused). Arrays are
always in the schema's units. :meth:`Emulator.load` refuses an artifact whose sidecar or model
file changed since export (sha256 recorded in the sidecar).

Out-of-distribution guard: :meth:`Emulator.out_of_distribution` flags a column whose predicted error
exceeds the threshold of the artifact's calibrated guard (``guard.json``, :mod:`subgrid.radiation.guard`,
written by ``subgrid guard calibrate``), or, for an artifact without one, any of whose inputs
lies outside the training range, widened by ``ood_tolerance`` times the range's width (per level,
per feature; ranges from the artifact's sidecar). :meth:`Emulator.guarded` wraps the emulator in a
:class:`~subgrid.core.contract.Guarded` that computes those columns (and any whose emulated output
is not finite) with RRTMG at the training data's settings (the sidecar's ``fallback_scheme``) and
counts them in ``Guarded.counts``::

    radiation = Emulator.load("artifacts/rescnn").guarded()
    radiation.tendencies(arrays); radiation.counts.out_of_distribution_columns

Threads: ``threads`` sets LibTorch's intra-op pool (process-wide, as ``torch.set_num_threads``)
or ONNX Runtime's session pool. ONNX Runtime's threads are told not to spin between calls: spinning
threads steal the cores the host (or torch in the same process) needs, which slowed torch 10x here.
On a busy node keep LibTorch at one thread per process: with 2 threads on 2 cores shared with other
jobs, a one-column TorchScript call took 240 ms instead of 0.6 ms here (ONNX Runtime, not
spinning, kept 0.3 ms).

Memory: loading a TorchScript or AOTI artifact sets glibc's malloc, once per process, to keep freed
memory (no trimming, no mmap for large blocks; :func:`keep_freed_memory`), as the C ABI does:
otherwise the activations' pages can go back to the kernel after every call and be faulted in
again on the next, which made C++ calls 2x slower (``fortran_sources/README.md``); from Python, a
1 024-column call of the TorchScript module took 142-238 ms without and 109-116 ms with it, while
64-column calls showed no difference beyond the noise. The process then keeps its peak heap. ``SUBGRID_MALLOC_TUNING=0`` in the environment leaves malloc
alone.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path

from collections.abc import Callable
from typing import Any, Literal, get_args

import numpy as np
import torch
import xarray as xr

from subgrid.core.contract import Guarded, Parameterization, Variable
from subgrid.core.errors import InputError, SubgridError
from subgrid.models.radiation import COLUMN_FEATURES, FLUXES, HEATING_RATES, LEVEL_FEATURES, MIN_GRID_LEVELS
from subgrid.physics.rrtmg import (
    RRTMG,
    RRTMGConfig,
    in_schema_units,
    inputs_as_dataset,
    to_surface_first,
    validate_radiation_inputs,
)
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER
from subgrid.radiation.export import (
    ARTIFACTS,
    INPUT_NAMES,
    OUTPUT_NAMES,
    SIDECAR,
    check_integrity,
    without_torchscript_deprecation,
)
from subgrid.radiation.export_aoti import load_package
from subgrid.radiation.guard import CalibratedGuard

LEVEL_NAMES = tuple(name for name, _ in LEVEL_FEATURES)
COLUMN_NAMES = tuple(name for name, _ in COLUMN_FEATURES)
OUTPUTS = FLUXES + HEATING_RATES
#: What the emulator returns: RRTMG's all-sky outputs.
EMULATED_OUTPUTS: dict[str, Variable] = {name: RADIATION_OUTPUTS[name] for name in OUTPUTS}
#: What :meth:`Emulator.tendencies` does with non-finite outputs (:meth:`Emulator.load`).
NonFinite = Literal["raise", "return"]
#: Calls made at load time: TorchScript's profiling executor optimises the graph on the third call.
WARMUP_CALLS = 3
#: Level count of the warm-up column of a grid-agnostic artifact.
WARMUP_LEVELS = 60


#: glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_MAX.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory in this process (module docstring, "Memory"); True if it was set.

    Once per process; a no-op without glibc or with ``SUBGRID_MALLOC_TUNING=0``.
    """
    if os.environ.get("SUBGRID_MALLOC_TUNING") == "0":
        return False
    libc_name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(libc_name), "mallopt", None) if libc_name else None
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # -1 as an unsigned size: never trim the top of the heap; no mmap: large blocks come from the heap too.
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, -1))


class _TorchScriptRuntime:
    def __init__(self, path: Path, threads: int | None) -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        keep_freed_memory()
        with without_torchscript_deprecation():
            self.module = torch.jit.load(str(path), map_location="cpu").eval()

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            fluxes, heating = self.module(*(torch.from_numpy(x) for x in inputs))
        return fluxes.numpy(), heating.numpy()


class _OnnxRuntime:
    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default (one per core)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fluxes, heating = self.session.run(list(OUTPUT_NAMES), dict(zip(INPUT_NAMES, inputs, strict=True)))
        return fluxes, heating


class _AotiRuntime:
    """An AOTInductor package. Its compiled kernels do not check input shapes: :class:`Emulator` checks the level count."""

    def __init__(self, path: Path, threads: int | None) -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        keep_freed_memory()
        self.model, _ = load_package(path)

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            fluxes, heating = self.model(*(torch.from_numpy(x) for x in inputs))
        return fluxes.numpy(), heating.numpy()


RUNTIMES = {"torchscript": _TorchScriptRuntime, "onnx": _OnnxRuntime, "aoti": _AotiRuntime}
#: Default columns per runtime call, measured with benchmarks/bench_speed.py (ResCNN 32x4, 60
#: levels, 1 and 2 threads): TorchScript 15 500 columns/s in calls of 64 vs 8 000 in calls of
#: 1 024; ONNX Runtime about flat from 64 to 8 192. That gap was mostly malloc's page faults (module
#: docstring, "Memory"): with malloc keeping freed memory, LibTorch from C++ ran 12 400 vs 11 500
#: columns/s. AOTI takes TorchScript's value (not measured separately).
BEST_BATCH = {"torchscript": 64, "onnx": 4096, "aoti": 64}


def read_sidecar(path: Path) -> dict:
    """The sidecar ``path`` parsed and checked for the entries loading needs (one-line InputError naming the entry)."""
    try:
        sidecar = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not JSON ({error})") from error
    if not isinstance(sidecar, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(sidecar).__name__}")
    if "n_levels" not in sidecar:
        raise InputError(f"{path}: n_levels missing (a level count, or null for a grid-agnostic emulator)")
    n_levels = sidecar["n_levels"]
    if n_levels is not None and (isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 1):
        raise InputError(f"{path}: n_levels must be a positive integer or null (any grid), got {n_levels!r}")
    for key in ("format", "artifact"):
        if not isinstance(sidecar.get(key), str):
            raise InputError(f"{path}: {key} must be a string, got {sidecar.get(key)!r}")
    fallback = sidecar.get("fallback_scheme")
    settings = fallback.get("settings") if isinstance(fallback, dict) else None
    if not isinstance(settings, dict):
        raise InputError(f"{path}: fallback_scheme.settings must be an object (the training data's RRTMG settings)")
    try:
        RRTMGConfig(**settings)
    except (TypeError, ValueError) as error:
        raise InputError(f"{path}: fallback_scheme.settings: {error}") from error
    ranges = sidecar.get("training_range")
    features = ranges.get("features") if isinstance(ranges, dict) else None
    if not isinstance(features, dict) or not all(isinstance(f, dict) and {"min", "max"} <= f.keys() for f in features.values()):
        raise InputError(f"{path}: training_range.features must map each input to its min and max")
    return sidecar


class Emulator:
    """An exported emulator loaded for inference, a :class:`~subgrid.core.contract.Parameterization`.

    Build it with :meth:`load`; :meth:`guarded` gives it an RRTMG fallback.

    Non-finite outputs: by default (``load(..., non_finite="raise")``) :meth:`tendencies` raises
    on a NaN or Inf output, naming it and the first such column, so a direct user never gets NaN
    silently. Hosts that handle such columns themselves load with ``non_finite="return"``: the
    RCE host crashes just those columns (:mod:`subgrid.hosts.rce.model`), and :meth:`guarded`
    always hands them back to its :class:`~subgrid.core.contract.Guarded`, which sends them to the
    fallback scheme.
    """

    def __init__(
        self,
        directory: Path,
        sidecar: dict,
        *,
        threads: int | None,
        max_batch_size: int,
        ood_guard: bool,
        ood_tolerance: float,
        validate: bool,
        fallback_seed: int,
        non_finite: NonFinite = "raise",
    ) -> None:
        self.directory = directory
        self.sidecar = sidecar
        self.format = sidecar["format"]
        #: The level count the artifact takes; None: any (a grid-agnostic emulator).
        self.n_levels: int | None = sidecar["n_levels"]
        self.max_batch_size = max_batch_size
        self.ood_guard = ood_guard
        self.ood_tolerance = ood_tolerance
        self.validate = validate
        self.fallback_seed = fallback_seed
        self.non_finite = non_finite
        #: The training data's RRTMG settings (the sidecar's ``fallback_scheme``).
        self.rrtmg_config = RRTMGConfig(**sidecar["fallback_scheme"]["settings"])
        #: The calibrated guard of the artifact (``guard.json``, :mod:`subgrid.radiation.guard`), used instead of the
        #: training min/max when present.
        self.calibrated_guard = CalibratedGuard.load(directory, sidecar) if ood_guard else None
        self._bounds = self._ood_bounds() if ood_guard and self.calibrated_guard is None else None
        self._run = RUNTIMES[self.format](directory / sidecar["artifact"], threads)
        self._warm_up()

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        threads: int | None = None,
        max_batch_size: int | None = None,
        ood_guard: bool = True,
        ood_tolerance: float = 0.05,
        validate: bool = True,
        fallback_seed: int = 0,
        non_finite: NonFinite = "raise",
    ) -> Emulator:
        """Load the artifact in ``directory`` (TorchScript, ONNX or AOTInductor, as its sidecar says) and warm it up.

        Args:
            threads: intra-op threads (``None``: the runtime's default). For LibTorch this is process-wide.
            max_batch_size: columns per call into the runtime; larger states are split. ``None``:
                :data:`BEST_BATCH` of the runtime (LibTorch's small convolutions ran 2x faster per
                column in calls of 64 columns than of 1 024: the activations stay in cache).
            ood_guard: read the artifact's calibrated guard (``guard.json``: columns whose predicted error is too
                large) or else the training ranges (min/max in the sidecar), so that :meth:`out_of_distribution`
                works and :meth:`guarded` sends those columns to RRTMG.
            ood_tolerance: widening of each training range, as a fraction of its width.
            validate: check inputs as the physics scheme does (off only for trusted, hot loops); the
                RRTMG fallback of :meth:`guarded` checks the columns it gets likewise.
            fallback_seed: McICA seed of the RRTMG fallback of :meth:`guarded`
                (:attr:`RRTMG.seed <subgrid.physics.rrtmg.RRTMG.seed>`: reproducible cloud sampling).
            non_finite: what :meth:`tendencies` does with a NaN or Inf output: ``"raise"`` (a
                :class:`~subgrid.core.errors.SubgridError` naming the output and the first column) or
                ``"return"`` it, for a host that handles such columns itself (:meth:`guarded` does).
        """
        directory = Path(directory)
        if not (directory / SIDECAR).exists():
            raise InputError(f"{directory}: not an exported emulator (missing {SIDECAR})")
        sidecar = read_sidecar(directory / SIDECAR)
        if sidecar.get("format") not in RUNTIMES or sidecar.get("artifact") != ARTIFACTS[sidecar["format"]]:
            raise InputError(f"{directory / SIDECAR}: unknown format {sidecar.get('format')!r}")
        if not (directory / sidecar["artifact"]).exists():
            raise InputError(f"{directory}: missing {sidecar['artifact']}")
        check_integrity(directory, sidecar)
        if threads is not None and threads < 1:
            raise InputError(f"threads: must be >= 1 (or None for the default), got {threads}")
        if max_batch_size is None:
            max_batch_size = BEST_BATCH.get(sidecar["format"], 4096)
        if max_batch_size < 1:
            raise InputError(f"max_batch_size: must be >= 1, got {max_batch_size}")
        if ood_tolerance < 0:
            raise InputError(f"ood_tolerance: must be >= 0, got {ood_tolerance}")
        if non_finite not in get_args(NonFinite):
            raise InputError(f"non_finite: expected 'raise' or 'return', got {non_finite!r}")
        return cls(
            directory,
            sidecar,
            threads=threads,
            max_batch_size=max_batch_size,
            ood_guard=ood_guard,
            ood_tolerance=ood_tolerance,
            validate=validate,
            fallback_seed=fallback_seed,
            non_finite=non_finite,
        )

    # -- set-up ------------------------------------------------------------------------------

    def _ood_bounds(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        features = self.sidecar["training_range"]["features"]
        if any(features[name]["min"] is None for name in features):
            raise InputError(
                f"{self.directory / SIDECAR}: no training min/max (the training dataset was not found at export); "
                "re-export with training_data=... or load with ood_guard=False"
            )
        bounds = {}
        for name, stats in features.items():
            low, high = np.asarray(stats["min"], dtype=float), np.asarray(stats["max"], dtype=float)
            margin = self.ood_tolerance * (high - low)
            bounds[name] = (low - margin, high + margin)
        return bounds

    def _warm_up(self) -> None:
        """A few calls on a synthetic column: allocation and graph optimisation happen here, not in the first step."""
        levels = self.n_levels or WARMUP_LEVELS
        level = np.ones((1, len(LEVEL_NAMES), levels), dtype=np.float32)
        column = np.ones((1, len(COLUMN_NAMES)), dtype=np.float32)
        pressure = np.linspace(1.0e5, 20.0, levels + 1, dtype=np.float32)[None]
        for _ in range(WARMUP_CALLS):
            self._run(level, column, pressure)

    def __repr__(self) -> str:
        return f"Emulator({str(self.directory)!r}, format={self.format!r})"

    # -- the contract --------------------------------------------------------------------------

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return RADIATION_INPUTS

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return EMULATED_OUTPUTS

    def tendencies(self, state: xr.Dataset | Mapping[str, np.ndarray]) -> xr.Dataset | dict[str, np.ndarray]:
        """Fluxes (W m⁻², interfaces) and heating rates (K/day, levels) for ``state``, all by the emulator.

        A Dataset comes back as a Dataset in its own vertical order, with the schema's attrs; a
        dict of ``(column, level|interface)`` arrays (surface first) as a dict of float64 arrays.
        """
        if isinstance(state, xr.Dataset):
            return self._dataset_tendencies(state)
        arrays = dict(state)
        if self.validate:
            validate_radiation_inputs(inputs_as_dataset(arrays), self.rrtmg_config)
        return self._compute(arrays)

    def guarded(
        self, fallback: Parameterization | None = None, *, blow_up: Callable[[Any], bool] | None = None
    ) -> Guarded:
        """This emulator guarded by ``fallback`` (default: RRTMG at the training data's settings).

        The default fallback is ``RRTMG(self.rrtmg_config, seed=fallback_seed, validate=validate)``.
        Columns :meth:`out_of_distribution` flags (when loaded with ``ood_guard``) and columns whose
        emulated output is not finite go to the fallback; ``blow_up`` as in
        :class:`~subgrid.core.contract.Guarded`. The counts are the returned object's ``counts``.
        """
        if fallback is None:
            fallback = RRTMG(self.rrtmg_config, seed=self.fallback_seed, validate=self.validate)
        returning = copy.copy(self)  # the same runtime, handing non-finite columns to the guard
        returning.non_finite = "return"
        guarding = self._bounds is not None or self.calibrated_guard is not None
        return _GuardedColumns(returning, fallback, out_of_distribution=guarding, blow_up=blow_up)

    def _dataset_tendencies(self, columns: xr.Dataset) -> xr.Dataset:
        arrays, flipped = _surface_first_arrays(columns, self.rrtmg_config if self.validate else None)
        return _as_dataset(self._compute(arrays), flipped, {"emulator": str(self.directory), "format": self.format})

    # -- computation -----------------------------------------------------------------------------

    def _column_count(self, arrays: Mapping[str, np.ndarray]) -> int:
        n_columns, n_levels = np.shape(arrays["air_temperature"])
        if self.n_levels is not None and n_levels != self.n_levels:
            raise InputError(f"air_temperature: {n_levels} levels but the emulator was trained on {self.n_levels}")
        if self.n_levels is None and n_levels < MIN_GRID_LEVELS:
            raise InputError(f"air_temperature: {n_levels} levels; a grid-agnostic emulator needs at least {MIN_GRID_LEVELS}")
        return n_columns

    def _inputs(self, arrays: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_columns = self._column_count(arrays)
        columns = {"earth_sun_distance_factor": np.ones(n_columns), **arrays}
        level = np.stack([np.asarray(columns[n], dtype=np.float32) for n in LEVEL_NAMES], axis=1)
        column = np.stack([np.asarray(columns[n], dtype=np.float32) for n in COLUMN_NAMES], axis=1)
        pressure = np.ascontiguousarray(columns["air_pressure_on_interface"], dtype=np.float32)
        return level, column, pressure

    def out_of_distribution(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean per column: the calibrated guard predicts too large an error, or (without one) some input lies
        outside its (widened) training range (NaN is not outside)."""
        if self.calibrated_guard is None and self._bounds is None:
            raise InputError("out_of_distribution: this emulator was loaded with ood_guard=False")
        needed = (*LEVEL_NAMES, *COLUMN_NAMES, "air_pressure_on_interface")
        missing = [name for name in needed if name not in arrays and name != "earth_sun_distance_factor"]
        if missing:
            raise InputError(f"radiation inputs: missing variable(s) {', '.join(missing)}")
        if self.calibrated_guard is not None:
            return self.calibrated_guard.flags(*self._inputs(arrays))
        n_columns = self._column_count(arrays)
        columns = {"earth_sun_distance_factor": np.ones(n_columns), **arrays}
        outside = np.zeros(n_columns, dtype=bool)
        if n_columns == 0:
            return outside
        for name, (low, high) in self._bounds.items():
            values = np.asarray(columns[name], dtype=float).reshape(n_columns, -1)
            outside |= ((values < low) | (values > high)).any(axis=1)
        return outside

    def predict(
        self, level_inputs: np.ndarray, column_inputs: np.ndarray, pressure_interface_Pa: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The raw artifact on float32 tensors (no validation, no guard), in batches of at most ``max_batch_size``."""
        if len(level_inputs) <= self.max_batch_size:
            return self._run(level_inputs, column_inputs, pressure_interface_Pa)
        fluxes, heating = [], []
        for start in range(0, len(level_inputs), self.max_batch_size):
            part = slice(start, start + self.max_batch_size)
            f, h = self._run(level_inputs[part], column_inputs[part], pressure_interface_Pa[part])
            fluxes.append(f)
            heating.append(h)
        return np.concatenate(fluxes), np.concatenate(heating)

    def _compute(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        level, column, pressure = self._inputs(arrays)
        fluxes, heating = self.predict(level, column, pressure)
        outputs = {name: np.asarray(fluxes[:, i], dtype=np.float64) for i, name in enumerate(FLUXES)}
        outputs.update({name: np.asarray(heating[:, i], dtype=np.float64) for i, name in enumerate(HEATING_RATES)})
        if self.non_finite == "raise":
            for name, values in outputs.items():
                bad = ~np.isfinite(values).all(axis=tuple(range(1, values.ndim)))
                if bad.any():
                    raise SubgridError(
                        f"{name}: the emulator {self.directory} returned NaN or Inf for {int(bad.sum())} of {len(bad)} "
                        f"column(s), first column {int(np.flatnonzero(bad)[0])} (guarded() sends such columns to RRTMG)"
                    )
        return outputs


def _surface_first_arrays(columns: xr.Dataset, config: RRTMGConfig | None) -> tuple[dict[str, np.ndarray], bool]:
    """A Dataset's radiation inputs as surface-first arrays in the schema's units (converted once, as RRTMG's
    :func:`~subgrid.physics.rrtmg.radiative_transfer` does; unknown units refused), validated when ``config``."""
    ordered, flipped = to_surface_first(in_schema_units(columns))
    if config is not None:
        validate_radiation_inputs(ordered, config)
    return {name: ordered[name].values for name in RADIATION_INPUTS if name in ordered}, flipped


def _as_dataset(outputs: Mapping[str, np.ndarray], flipped: bool, attrs: dict) -> xr.Dataset:
    """Emulated outputs (surface first) as a Dataset with the schema's attrs, in the input's vertical order."""
    result = xr.Dataset(
        {name: (RADIATION_OUTPUTS[name].dims, outputs[name], RADIATION_OUTPUTS[name].attrs()) for name in OUTPUTS},
        attrs={"vertical_order": VERTICAL_ORDER, **attrs},
    )
    if flipped:
        result = result.isel(level=slice(None, None, -1), interface=slice(None, None, -1))
        result.attrs["vertical_order"] = "top_first"
    return result


class _GuardedColumns(Guarded):
    """:class:`~subgrid.core.contract.Guarded` that also takes a Dataset of columns, as the emulator does.

    The Dataset is converted once (schema units, surface first) into the arrays both the emulator
    and the fallback get, so a column the guard sends to RRTMG is in the units RRTMG expects; the
    outputs come back as a Dataset in the input's vertical order.
    """

    def tendencies(self, state: Any) -> Any:
        if not isinstance(state, xr.Dataset):
            return super().tendencies(state)
        arrays, flipped = _surface_first_arrays(state, None)
        return _as_dataset(super().tendencies(arrays), flipped, {"guarded": repr(self)})
