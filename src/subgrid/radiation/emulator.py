"""Run an exported radiation emulator inside a Python host, with the same contract as the physics scheme.

``Emulator.tendencies(state)`` takes what :func:`subgrid.physics.rrtmg.radiative_transfer`
takes (an xarray Dataset of columns, surface or top first) or what
:func:`~subgrid.physics.rrtmg.radiative_transfer_arrays` takes (a dict of ``(column, level)``
arrays, surface first), and returns the same names, dims and units: all-sky fluxes
``{lw,sw}_flux_{up,down}`` (W m⁻², interfaces) and heating rates ``{lw,sw}_heating_rate``
(K/day, levels). The emulator predicts no clear-sky diagnostics. Swapping RRTMG for an emulator
in a host is one argument::

    radiation = Emulator.load("artifacts/rescnn").tendencies   # or partial(radiative_transfer, config=...)
    heating = radiation(columns)["lw_heating_rate"]

Out-of-distribution guard (on by default): a column any of whose inputs lies outside the training
range, widened by ``ood_tolerance`` times the range's width (per level, per feature; ranges from
the artifact's sidecar), is computed by RRTMG with the training data's settings instead, and
counted in :attr:`Emulator.fallback_count`. Inputs are validated first (the physics scheme's
checks: missing variables, NaN/Inf, ranges, pressure order), with errors naming variable and column.

Threads: ``threads`` sets LibTorch's intra-op pool (process-wide, as ``torch.set_num_threads``)
or ONNX Runtime's session pool. ONNX Runtime's threads are told not to spin between calls: spinning
threads steal the cores the host (or torch in the same process) needs, which slowed torch 10x here.
On a busy node keep LibTorch at one thread per process: with 2 threads on 2 cores shared with other
jobs, a one-column TorchScript call took 240 ms instead of 0.6 ms here (ONNX Runtime, not
spinning, kept 0.3 ms).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from subgrid.radiation.export import ARTIFACTS, INPUT_NAMES, OUTPUT_NAMES, SIDECAR, without_torchscript_deprecation
from subgrid.core.errors import InputError
from subgrid.models.radiation import COLUMN_FEATURES, FLUXES, HEATING_RATES, LEVEL_FEATURES
from subgrid.physics.rrtmg import RRTMGConfig, to_surface_first, radiative_transfer_arrays, validate_radiation_inputs
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER

LEVEL_NAMES = tuple(name for name, _ in LEVEL_FEATURES)
COLUMN_NAMES = tuple(name for name, _ in COLUMN_FEATURES)
OUTPUTS = FLUXES + HEATING_RATES
#: Calls made at load time: TorchScript's profiling executor optimises the graph on the third call.
WARMUP_CALLS = 3


class _TorchScriptRuntime:
    def __init__(self, path: Path, threads: int | None) -> None:
        if threads is not None:
            torch.set_num_threads(threads)
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


RUNTIMES = {"torchscript": _TorchScriptRuntime, "onnx": _OnnxRuntime}
#: Default columns per runtime call, measured with benchmarks/bench_speed.py (ResCNN 32x4, 60
#: levels, 1 and 2 threads): TorchScript 15 500 columns/s in calls of 64 vs 8 000 in calls of
#: 1 024; ONNX Runtime about flat from 64 to 8 192.
BEST_BATCH = {"torchscript": 64, "onnx": 4096}


class Emulator:
    """An exported emulator loaded for inference; build it with :meth:`load`."""

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
    ) -> None:
        self.directory = directory
        self.sidecar = sidecar
        self.format = sidecar["format"]
        self.n_levels = int(sidecar["n_levels"])
        self.max_batch_size = max_batch_size
        self.ood_guard = ood_guard
        self.ood_tolerance = ood_tolerance
        self.validate = validate
        self.fallback_seed = fallback_seed
        self.rrtmg_config = RRTMGConfig(**sidecar["fallback_scheme"]["settings"])
        #: Columns computed by the physics scheme instead of the emulator, since load.
        self.fallback_count = 0
        self._bounds = self._ood_bounds() if ood_guard else None
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
    ) -> Emulator:
        """Load the artifact in ``directory`` (TorchScript or ONNX, as its sidecar says) and warm it up.

        Args:
            threads: intra-op threads (``None``: the runtime's default). For LibTorch this is process-wide.
            max_batch_size: columns per call into the runtime; larger states are split. ``None``:
                :data:`BEST_BATCH` of the runtime (LibTorch's small convolutions ran 2x faster per
                column in calls of 64 columns than of 1 024: the activations stay in cache).
            ood_guard: compute out-of-range columns with RRTMG (needs training min/max in the sidecar).
            ood_tolerance: widening of each training range, as a fraction of its width.
            validate: check inputs as the physics scheme does (off only for trusted, hot loops).
            fallback_seed: McICA seed of the RRTMG fallback (reproducible cloud sampling).
        """
        directory = Path(directory)
        if not (directory / SIDECAR).exists():
            raise InputError(f"{directory}: not an exported emulator (missing {SIDECAR})")
        sidecar = json.loads((directory / SIDECAR).read_text())
        if sidecar.get("format") not in RUNTIMES or sidecar.get("artifact") != ARTIFACTS[sidecar["format"]]:
            raise InputError(f"{directory / SIDECAR}: unknown format {sidecar.get('format')!r}")
        if not (directory / sidecar["artifact"]).exists():
            raise InputError(f"{directory}: missing {sidecar['artifact']}")
        if threads is not None and threads < 1:
            raise InputError(f"threads: must be >= 1 (or None for the default), got {threads}")
        if max_batch_size is None:
            max_batch_size = BEST_BATCH.get(sidecar["format"], 4096)
        if max_batch_size < 1:
            raise InputError(f"max_batch_size: must be >= 1, got {max_batch_size}")
        if ood_tolerance < 0:
            raise InputError(f"ood_tolerance: must be >= 0, got {ood_tolerance}")
        return cls(
            directory,
            sidecar,
            threads=threads,
            max_batch_size=max_batch_size,
            ood_guard=ood_guard,
            ood_tolerance=ood_tolerance,
            validate=validate,
            fallback_seed=fallback_seed,
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
        level = np.ones((1, len(LEVEL_NAMES), self.n_levels), dtype=np.float32)
        column = np.ones((1, len(COLUMN_NAMES)), dtype=np.float32)
        pressure = np.linspace(1.0e5, 20.0, self.n_levels + 1, dtype=np.float32)[None]
        for _ in range(WARMUP_CALLS):
            self._run(level, column, pressure)

    # -- the contract --------------------------------------------------------------------------

    def tendencies(self, state: xr.Dataset | Mapping[str, np.ndarray]) -> xr.Dataset | dict[str, np.ndarray]:
        """Fluxes (W m⁻², interfaces) and heating rates (K/day, levels) for ``state``.

        A Dataset comes back as a Dataset in its own vertical order, with the schema's attrs; a
        dict of ``(column, level|interface)`` arrays (surface first) as a dict of float64 arrays.
        """
        if isinstance(state, xr.Dataset):
            return self._dataset_tendencies(state)
        arrays = dict(state)
        if self.validate:
            validate_radiation_inputs(self._as_dataset(arrays), self.rrtmg_config)
        return self._compute(arrays)

    def _dataset_tendencies(self, columns: xr.Dataset) -> xr.Dataset:
        ordered, flipped = to_surface_first(columns)
        if self.validate:
            validate_radiation_inputs(ordered, self.rrtmg_config)
        outputs = self._compute({name: ordered[name].values for name in RADIATION_INPUTS if name in ordered})
        result = xr.Dataset(
            {name: (RADIATION_OUTPUTS[name].dims, outputs[name], RADIATION_OUTPUTS[name].attrs()) for name in OUTPUTS},
            attrs={"vertical_order": VERTICAL_ORDER, "emulator": str(self.directory), "format": self.format},
        )
        if flipped:
            result = result.isel(level=slice(None, None, -1), interface=slice(None, None, -1))
            result.attrs["vertical_order"] = "top_first"
        return result

    @staticmethod
    def _as_dataset(arrays: Mapping[str, np.ndarray]) -> xr.Dataset:
        unknown = set(arrays) - set(RADIATION_INPUTS)
        if unknown:
            raise InputError(f"radiation inputs: unknown variable(s) {', '.join(sorted(unknown))}")
        try:
            return xr.Dataset({name: (RADIATION_INPUTS[name].dims, np.asarray(v)) for name, v in arrays.items()})
        except ValueError as error:  # xarray names the dimension whose sizes disagree
            raise InputError(f"radiation inputs: inconsistent shapes ({error})") from error

    # -- computation -----------------------------------------------------------------------------

    def _inputs(self, arrays: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_columns, n_levels = np.shape(arrays["air_temperature"])
        if n_levels != self.n_levels:
            raise InputError(f"air_temperature: {n_levels} levels but the emulator was trained on {self.n_levels}")
        columns = {"earth_sun_distance_factor": np.ones(n_columns), **arrays}
        level = np.stack([np.asarray(columns[n], dtype=np.float32) for n in LEVEL_NAMES], axis=1)
        column = np.stack([np.asarray(columns[n], dtype=np.float32) for n in COLUMN_NAMES], axis=1)
        pressure = np.ascontiguousarray(columns["air_pressure_on_interface"], dtype=np.float32)
        return level, column, pressure

    def out_of_distribution(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean per column: some input lies outside its (widened) training range."""
        if self._bounds is None:
            raise InputError("out_of_distribution: this emulator was loaded with ood_guard=False")
        n_columns = np.shape(arrays["air_temperature"])[0]
        columns = {"earth_sun_distance_factor": np.ones(n_columns), **arrays}
        outside = np.zeros(n_columns, dtype=bool)
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
        n_columns = len(level)
        fallback = self.out_of_distribution(arrays) if self.ood_guard else np.zeros(n_columns, dtype=bool)
        outputs = {
            name: np.zeros((n_columns, self.n_levels + (1 if name in FLUXES else 0))) for name in OUTPUTS
        }
        emulated = ~fallback
        if emulated.any():
            fluxes, heating = self.predict(level[emulated], column[emulated], pressure[emulated])
            for i, name in enumerate(FLUXES):
                outputs[name][emulated] = fluxes[:, i]
            for i, name in enumerate(HEATING_RATES):
                outputs[name][emulated] = heating[:, i]
        if fallback.any():
            outside = {name: np.asarray(value)[fallback] for name, value in arrays.items()}
            physics = radiative_transfer_arrays(outside, self.rrtmg_config, self.fallback_seed)
            for name in OUTPUTS:
                outputs[name][fallback] = physics[name]
            self.fallback_count += int(fallback.sum())
        return outputs
