"""Radiation emulator throughput (columns/s, 60 levels) per format, runtime and batch size, against RRTMG LW+SW.

On the same realistic sampled columns (day and night, clear and cloudy), measured in this run:

* reference: RRTMG LW+SW through ``radiative_transfer_arrays`` (climt) at the emulator's own
  training settings (``rrtmg_settings`` of its training data, McICA on; the defaults for an
  untrained model), one process (its Fortran is single-threaded); above ``--rrtmg-columns``
  columns per call it is measured at that batch size and reported per column (its throughput no
  longer grows with the batch there);
* the emulator in every format and runtime: eager PyTorch; from Python via
  :class:`subgrid.radiation.emulator.Emulator` (``torchscript``, ``aoti``, ``onnx``: its default
  batching); from C++ calling LibTorch directly (``cpp_torchscript``, ``cpp_aoti``:
  ``bench_libtorch``); from Fortran through the C ABI (``fortran_torchscript``, ``fortran_aoti``:
  ``bench_fortran``). ONNX runs from Python only (no ONNX Runtime C/C++ library is shipped here).

Each runtime and thread setting runs in its own process, one after the other (ONNX Runtime's
spinning threads slowed torch 10x in a shared process). Prints one JSON line per (runtime,
threads, batch) with ``ratio`` = emulator columns/s over RRTMG's at the same batch size and
``ratio_per_core`` = that ratio divided by the thread count (RRTMG would use one process per
core), then one line per format and batch size on the Fortran path's per-call overhead (Fortran
path minus the same artifact called directly from C++; the two programs alternate, best of two).

    python benchmarks/bench_speed.py [--run RUN | --width 32 --depth 4] [--batches 1 64 1024 8192]
        [--threads 1] [--runtimes eager torchscript aoti ...] [--out benchmarks/results/speed_cpu.jsonl]

Without ``--run`` an untrained ResCNN of the given size is used, its normalisation statistics
fitted on RRTMG columns so values are realistic: speed does not depend on training.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _report import emit

from subgrid.evaluation.timing import seconds_per_call

N_LEVELS = 60
PYTHON_RUNTIMES = ("eager", "torchscript", "aoti", "onnx")
COMPILED_RUNTIMES = ("cpp_torchscript", "cpp_aoti", "fortran_torchscript", "fortran_aoti")
EMULATOR_RUNTIMES = PYTHON_RUNTIMES + COMPILED_RUNTIMES
MODEL_FILES = {"torchscript": "emulator.pt", "aoti": "emulator.pt2"}


# ----------------------------------------------------------------------------------------------
# Timing workers (one process per runtime and thread setting)


def worker(runtime: str, work: Path, threads: int, batches: list[int], seconds: float, repeats: int) -> None:
    """Time one runtime in this process and print one JSON line per batch size."""
    import torch

    inputs = np.load(work / "columns.npz")
    level, column, pressure = (inputs[name] for name in ("level_inputs", "column_inputs", "pressure_interface_Pa"))
    if runtime == "rrtmg":
        from subgrid.physics.rrtmg import RRTMGConfig, radiative_transfer_arrays

        arrays = dict(np.load(work / "rrtmg_columns.npz"))
        config = RRTMGConfig(**json.loads((work / "rrtmg_settings.json").read_text()))
        radiative_transfer_arrays({k: v[:8] for k, v in arrays.items()}, config)  # build the components
        for batch in batches:
            # One column per call cycles through 64 columns, so day and night columns count alike.
            offsets = iter(range(10**9))

            def call(batch: int = batch) -> None:
                first = next(offsets) % 64 if batch == 1 else 0
                radiative_transfer_arrays({k: v[first : first + batch] for k, v in arrays.items()}, config, seed=1)

            best, calls = seconds_per_call(call, seconds, repeats)
            print(json.dumps({"batch": batch, "seconds_per_call": best, "calls": calls}), flush=True)
        return

    torch.set_num_threads(threads)
    if runtime == "eager":
        from subgrid.radiation.training import load_emulator

        model, _ = load_emulator(work / "run")
        tensors = [torch.from_numpy(x) for x in (level, column, pressure)]

        def run(batch: int) -> None:
            with torch.inference_mode():
                model(*(x[:batch] for x in tensors))
    else:
        from subgrid.radiation.emulator import Emulator

        emulator = Emulator.load(
            work / runtime, threads=threads, ood_guard=False, validate=False  # the runtime's default batching
        )

        def run(batch: int) -> None:
            emulator.predict(level[:batch], column[:batch], pressure[:batch])

    for batch in batches:
        best, calls = seconds_per_call(lambda batch=batch: run(batch), seconds, repeats)
        print(json.dumps({"batch": batch, "seconds_per_call": best, "calls": calls}), flush=True)


# ----------------------------------------------------------------------------------------------
# Set-up and the driver


def _untrained_run(path: Path, width: int, depth: int) -> None:
    """A run directory holding an untrained ResCNN with statistics fitted on RRTMG columns."""
    import torch

    from subgrid.models.radiation import DERIVED_LEVEL_FEATURES
    from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
    from subgrid.physics.rrtmg import radiative_transfer_arrays
    from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS
    from subgrid.radiation.training import build_emulator, fit_statistics
    from subgrid.training.runs import save_weights
    from subgrid.radiation.training_data import to_tensors

    ds = sample_columns(300, np.random.default_rng(0), ColumnSamplerConfig(n_levels=N_LEVELS))
    outputs = radiative_transfer_arrays({name: ds[name].values for name in RADIATION_INPUTS})
    for name, variable in RADIATION_OUTPUTS.items():
        ds[name] = (variable.dims, outputs[name])
    torch.manual_seed(0)
    options = {"width": width, "depth": depth}
    emulator = build_emulator("rescnn", options, N_LEVELS)
    fit_statistics(emulator, to_tensors(ds))
    path.mkdir(parents=True)
    save_weights(emulator, path / "model.safetensors")
    parameters = sum(p.numel() for p in emulator.parameters())
    description = {
        "model": "rescnn", "model_options": options, "n_levels": N_LEVELS, "parameters": parameters,
        "derived_level_features": list(DERIVED_LEVEL_FEATURES),
    }  # fmt: skip
    (path / "model.json").write_text(json.dumps(description))


def _prepare(work: Path, run: Path | None, width: int, depth: int, n_columns: int, runtimes: list[str]) -> dict:
    import torch

    from subgrid.physics.rrtmg import RRTMGConfig
    from subgrid.radiation.export import INPUT_NAMES, export_emulator
    from subgrid.radiation.fortran import write_columns
    from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
    from subgrid.physics.schema import RADIATION_INPUTS
    from subgrid.radiation.training import load_emulator
    from subgrid.training.runs import save_weights
    from subgrid.radiation.training_data import to_tensors

    columns = sample_columns(n_columns, np.random.default_rng(2024), ColumnSamplerConfig(n_levels=N_LEVELS))
    tensors = {k: v.numpy() for k, v in to_tensors(columns, targets=False).items()}
    np.savez(work / "columns.npz", **tensors)
    np.savez(work / "rrtmg_columns.npz", **{name: columns[name].values for name in RADIATION_INPUTS})
    write_columns(work / "columns.bin", *(tensors[name] for name in INPUT_NAMES))

    if run is None:
        _untrained_run(work / "run", width, depth)
    else:
        emulator, description = load_emulator(run)
        if description["n_levels"] not in (N_LEVELS, None):  # None: a grid-agnostic run takes 60 levels too
            raise SystemExit(f"--run {run}: {description['n_levels']} levels; this benchmark uses {N_LEVELS}")
        (work / "run").mkdir()
        save_weights(emulator, work / "run" / "model.safetensors")
        (work / "run" / "model.json").write_text(json.dumps(description))
    emulator, description = load_emulator(work / "run")
    recorded = description.get("training_data", {}).get("rrtmg_settings")
    settings = RRTMGConfig(**json.loads(recorded)).to_dict() if recorded else RRTMGConfig().to_dict()
    (work / "rrtmg_settings.json").write_text(json.dumps(settings))
    torch.set_num_threads(1)
    for fmt in ("torchscript", "aoti", "onnx"):
        if any(runtime.split("_")[-1] == fmt for runtime in runtimes):
            export_emulator(emulator, description, work / fmt, fmt)
    return {
        "model": description["model"],
        "model_options": description["model_options"],
        "vertical_grid": description.get("vertical_grid", "fixed"),
        "parameters": sum(p.numel() for p in emulator.parameters()),
        "rrtmg_settings": settings,
        "rrtmg_settings_source": "the training data" if recorded else "defaults (untrained model)",
    }


def _measure(command: list[str], threads: int) -> dict[int, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{result.stderr[-3000:]}")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {line["batch"]: line["seconds_per_call"] for line in lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="Trained run directory (60 levels, or grid-agnostic).")
    parser.add_argument("--width", type=int, default=32, help="ResCNN width when no --run is given.")
    parser.add_argument("--depth", type=int, default=4, help="ResCNN depth when no --run is given.")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024, 8192])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--runtimes", nargs="+", default=list(EMULATOR_RUNTIMES), choices=EMULATOR_RUNTIMES)
    parser.add_argument("--rrtmg-columns", type=int, default=256, help="Largest RRTMG batch measured.")
    parser.add_argument("--seconds", type=float, default=0.3, help="Target duration of one timing.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--build-dir", type=Path, default=Path("build/fortran"), help="Fortran build directory.")
    parser.add_argument("--out", type=Path, default=None, help="Also append the JSON lines to this file.")
    parser.add_argument("--worker", choices=("rrtmg", *PYTHON_RUNTIMES), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        worker(args.worker, args.work, args.threads[0], args.batches, args.seconds, args.repeats)
        return

    batches = sorted(args.batches)
    timing = ["--seconds", str(args.seconds), "--repeats", str(args.repeats)]
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp:
        work = Path(tmp)
        model = _prepare(work, args.run, args.width, args.depth, max(batches), args.runtimes)
        if any(runtime in COMPILED_RUNTIMES for runtime in args.runtimes):
            from subgrid.radiation.fortran import build_fortran

            build = build_fortran(args.build_dir, benchmarks=True)

        def python_worker(runtime: str, threads: int, worker_batches: list[int]) -> dict[int, float]:
            me = [sys.executable, __file__, "--worker", runtime, "--work", str(work), "--threads", str(threads)]
            return _measure(me + ["--batches", *map(str, worker_batches), *timing], threads)

        rrtmg_batches = sorted({min(b, args.rrtmg_columns) for b in batches})
        rrtmg = python_worker("rrtmg", 1, rrtmg_batches)
        common = {
            "benchmark": "emulator_speed",
            "run": str(args.run) if args.run is not None else None,  # which trained weights (None: an untrained net)
            "levels": N_LEVELS,
            **model,
            "machine": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "reference": "RRTMG LW+SW (climt) via radiative_transfer_arrays at the emulator's training settings "
            "(rrtmg_settings), 1 process, same columns",
        }
        overhead: dict[tuple[int, str], dict[int, tuple[float, float]]] = {}
        compiled: dict[tuple[int, str], dict[int, float]] = {}
        for threads in args.threads:
            for fmt in ("torchscript", "aoti"):
                if f"fortran_{fmt}" not in args.runtimes and f"cpp_{fmt}" not in args.runtimes:
                    continue
                timing_arguments = [str(work / "columns.bin"), str(threads), str(args.seconds), str(args.repeats)]
                fortran_command = [str(build.bench_fortran), str(work / fmt), *timing_arguments, *map(str, batches)]
                cpp_command = [str(build.bench_libtorch), str(work / fmt / MODEL_FILES[fmt]), *timing_arguments]
                cpp_command += list(map(str, batches))
                # Alternate the two programs and keep each one's best: the overhead is a small
                # difference of two times, and a load spike in one run would swamp it.
                runs = [_measure(fortran_command, threads), _measure(cpp_command, threads)]
                runs += [_measure(fortran_command, threads), _measure(cpp_command, threads)]
                fortran = {b: min(runs[0][b], runs[2][b]) for b in batches}
                direct = {b: min(runs[1][b], runs[3][b]) for b in batches}
                compiled[threads, f"fortran_{fmt}"], compiled[threads, f"cpp_{fmt}"] = fortran, direct
                overhead[threads, fmt] = {b: (fortran[b], direct[b]) for b in batches}
            for runtime in args.runtimes:
                if runtime in COMPILED_RUNTIMES:
                    seconds = compiled[threads, runtime]
                else:
                    seconds = python_worker(runtime, threads, batches)
                for batch in batches:
                    measured = min(batch, args.rrtmg_columns)
                    rrtmg_columns_per_s = measured / rrtmg[measured]
                    columns_per_s = batch / seconds[batch]
                    emit(
                        {
                            **common,
                            "runtime": runtime,
                            "threads": threads,
                            "batch": batch,
                            "columns_per_s": columns_per_s,
                            "ms_per_call": 1e3 * seconds[batch],
                            "rrtmg_columns_per_s": rrtmg_columns_per_s,
                            "rrtmg_batch_measured": measured,
                            "ratio": columns_per_s / rrtmg_columns_per_s,
                            "ratio_per_core": columns_per_s / rrtmg_columns_per_s / threads,
                            "load_average_1min": os.getloadavg()[0],
                        },
                        args.out,
                    )
        for (threads, fmt), by_batch in overhead.items():
            for batch, (fortran, direct) in by_batch.items():
                emit(
                    {
                        "benchmark": "fortran_call_overhead",
                        "format": fmt,
                        "threads": threads,
                        "batch": batch,
                        "fortran_ms_per_call": 1e3 * fortran,
                        "libtorch_ms_per_call": 1e3 * direct,
                        "overhead_us_per_call": 1e6 * (fortran - direct),
                        "reference": f"the same {fmt} artifact called directly from C++ (bench_libtorch)",
                    },
                    args.out,
                )


if __name__ == "__main__":
    main()
