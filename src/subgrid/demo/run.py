"""The end-to-end demo at small size, as a Python API (``subgrid demo`` and ``make demo`` are thin over it).

:func:`run_demo` runs the whole pipeline and writes ``OUT/report.html``
(:func:`subgrid.demo.report.write_demo_report`):

radiation
    RRTMG training and held-out datasets -> train a small ResCNN -> evaluate it -> export it as
    TorchScript and ONNX -> call the TorchScript artifact from the Fortran example host and
    compare with Python (:func:`fortran_host_check`) -> online in the RCE host side by side with
    RRTMG -> experience replay with the emulator alone -> a speed table against RRTMG on the same columns
    (:func:`speed_table`);
gravity waves
    QBO runs with the Alexander-Dunkerton (1999) drag column -> train an emulator of the drag ->
    run the QBO online with it, side by side with the physics; a tiny gridded simulation -> an
    Attention U-Net and PrithviGW on its fluxes -> their comparison (table, maps) on the held-out end.

Every step is one command, printed before it runs and recorded with its wall time in
``OUT/demo.json`` (the manifest the report reads): ``subgrid ...`` for the steps the CLI has,
``python -c "from subgrid.demo.run import ...; ..."`` for the two that only the demo has. Each
command runs in this process exactly as printed, so copying it from the report reproduces the
result. A notebook calls ``run_demo("demo")`` the same way the CLI does.

Layout of ``OUT``::

    demo.json, report.html
    radiation_train.zarr, radiation_test.zarr       RRTMG datasets (seeds 1 and 2)
    runs/rescnn/                                    the training run (model.json, weights, logs)
    evaluation/                                     metrics.json, heating_profiles/flux_scatter/regime_errors.png
    artifacts/torchscript/, artifacts/onnx/         exported emulators (emulator.json beside each)
    fortran/                                        fortran.json (max |Fortran - Python|), build/
    online/                                         online.json, metrics.zarr, drift.png
    replay/                                         replay.json, round_K/
    speed/                                          speed.json, speed.png
    gw.zarr, runs/gw_wavenet/, qbo_online/          QBO data, drag emulator, metrics.json + hovmoller.png
    gw_gridded.zarr, runs/gw_unet/, runs/gw_prithvi/, gw_gridded_comparison/
                                                    gridded GW fluxes, the two emulators, comparison.md/.json + maps
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import subgrid
from subgrid.core.errors import InputError, SubgridError
from subgrid.core.ownership import DEMO, MARKER, is_owned, mark, marker
from subgrid.demo.report import MANIFEST, REPORT
from subgrid.evaluation.timing import seconds_per_call
from subgrid.hosts.gcm.forecast import SHIPPED_EMULATOR, SPUN_UP_RESTART
from subgrid.core.stores import write_text_atomic



class DemoStepError(SubgridError, RuntimeError):
    """A step of the demo failed; the message names it and its command."""


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo. The defaults took 6.8 min on two cores shared with another job (README); quick() 1.4.

    Attributes:
        columns, test_columns: RRTMG columns of the training and held-out datasets.
        levels: layers per column.
        workers: Dask worker processes generating the datasets.
        width, depth, epochs, batch_size: the ResCNN and its training.
        fortran_columns: held-out columns sent through the Fortran example host.
        online_cases, online_days: RCE cases (one column each) and their length in the online test,
            which runs with the out-of-distribution guard (columns outside the training range go
            to RRTMG).
        replay_columns, replay_width, replay_depth, replay_epochs: the deliberately small ResCNN
            that experience replay is shown on (the emulator above rarely crashes in the host), and
            the RRTMG columns (another seed) it is trained on.
        replay_cases, replay_days, replay_rounds: replay's cases, their length, and at most this
            many fine-tuning rounds. Replay runs without the guard: the emulator alone, so its
            crashes are its own.
        speed_batches, speed_repeats: columns per call timed, and repeats (the best is kept).
        gw_years, gw_epochs: QBO years per physics run of the drag data; epochs of the drag emulator.
        gw_gridded_levels, gw_gridded_days, gw_gridded_epochs: the tiny gridded gravity-wave simulation
            (T21, fluxes on 16 x 32) and the epochs of its U-Net and PrithviGW.
        qbo_years, qbo_spinup_years: length of the online QBO runs and the years left out of their statistics.
        gcm_control_days, forecast_starts, forecast_days, forecast_lead_step_days: the 3-D GCM's RRTMG control
            from the shipped spun-up state, and the forecasts from it (scored every lead step).
        torch_threads: torch intra-op threads for every step in this process. The networks are
            small: a second thread mostly adds synchronisation, and on a core shared with another
            job a training step took 2 s with two threads instead of 0.05 s with one.
    """

    columns: int = 16000
    test_columns: int = 2000
    levels: int = 60
    workers: int = 2
    width: int = 32
    depth: int = 4
    epochs: int = 50
    batch_size: int = 128
    fortran_columns: int = 256
    online_cases: int = 8
    online_days: float = 15.0
    replay_columns: int = 2000
    replay_width: int = 8
    replay_depth: int = 2
    replay_epochs: int = 10
    replay_cases: int = 16
    replay_days: float = 30.0
    replay_rounds: int = 3
    speed_batches: tuple[int, ...] = (1, 1024)
    speed_repeats: int = 3
    gw_years: float = 4.0
    gw_epochs: int = 40
    qbo_years: float = 40.0
    qbo_spinup_years: float = 6.0
    gw_gridded_levels: int = 12
    gw_gridded_days: float = 3.0
    gw_gridded_epochs: int = 10
    gcm_control_days: float = 2.0
    forecast_starts: int = 2
    forecast_days: float = 2.0
    forecast_lead_step_days: float = 1.0
    torch_threads: int = 1

    def __post_init__(self) -> None:
        for setting in fields(self):
            value = getattr(self, setting.name)
            values = value if isinstance(value, tuple) else (value,)
            kind = int if isinstance(setting.default, int) or isinstance(value, tuple) else int | float
            if not values or any(isinstance(v, bool) or not isinstance(v, kind) or not v > 0 for v in values):
                what = "integer" if kind is int else "number"
                raise InputError(f"DemoConfig.{setting.name}: must be a positive {what}, got {value!r}")
        if self.test_columns < max(self.speed_batches):
            raise InputError(
                f"DemoConfig.speed_batches: the largest ({max(self.speed_batches)}) exceeds test_columns ({self.test_columns})"
            )
        if self.fortran_columns > self.test_columns:
            raise InputError(f"DemoConfig.fortran_columns: {self.fortran_columns} > test_columns ({self.test_columns})")
        if self.qbo_spinup_years >= self.qbo_years:
            raise InputError("DemoConfig.qbo_spinup_years: must be shorter than qbo_years")
        for name in ("forecast_days", "gcm_control_days"):  # the control's restarts come every lead step
            steps = getattr(self, name) / self.forecast_lead_step_days
            if abs(steps - round(steps)) > 1e-9:
                raise InputError(f"DemoConfig.forecast_lead_step_days: must divide {name} ({getattr(self, name):g})")

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smoke-test size: every step runs, the numbers mean little."""
        return cls(columns=1000, test_columns=300, width=16, depth=3, epochs=3, fortran_columns=32, online_cases=2,
                   online_days=2.0, replay_columns=500, replay_epochs=2, replay_cases=2, replay_days=2.0,
                   replay_rounds=1, speed_batches=(1, 256), speed_repeats=1, gw_years=1.0, gw_epochs=3, qbo_years=6.0,
                   qbo_spinup_years=2.0, gw_gridded_levels=6, gw_gridded_days=1.5, gw_gridded_epochs=2, gcm_control_days=0.5, forecast_starts=1, forecast_days=0.5,
                   forecast_lead_step_days=0.5)  # fmt: skip


@dataclass(frozen=True)
class DemoStep:
    """One step: a name (the report refers to it), what it does, and its command.

    ``arguments`` are those of the ``subgrid`` command line; a step with ``python`` instead is a
    call into this module, shown as ``python -c "..."``.
    """

    name: str
    title: str
    arguments: tuple[str, ...] = ()
    python: str = ""

    @property
    def command(self) -> str:
        if self.python:
            return shlex.join(["python", "-c", self.python])
        return shlex.join(["subgrid", *self.arguments])


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its manifest and report, and how long it took."""

    out: Path
    manifest: Path
    report: Path
    wall_s: float


# --------------------------------------------------------------------------------------------
# The two steps only the demo has


def fortran_host_check(artifact: str | Path, data: str | Path, out: str | Path, *, columns: int = 256) -> dict:
    """Run the Fortran example host on ``columns`` columns of ``data`` with the TorchScript ``artifact``.

    Builds the Fortran sources (package data) into ``OUT/build`` (:func:`subgrid.radiation.fortran.build_fortran`;
    incremental when it exists), writes the columns for ``radiation_columns``, runs it on one
    thread, and runs the same artifact from Python (:class:`~subgrid.radiation.emulator.Emulator`)
    on the same float32 inputs. Writes and returns ``OUT/fortran.json``: the largest absolute
    differences of fluxes (W m⁻²) and heating rates (K/day), the relative measure of
    :func:`~subgrid.radiation.export.output_discrepancy`, and the host's command and output.
    """
    import subprocess

    import torch

    from subgrid.radiation.emulator import Emulator
    from subgrid.radiation.export import output_discrepancy
    from subgrid.radiation.fortran import build_fortran, read_outputs, write_columns
    from subgrid.radiation.training_data import open_radiation_dataset, to_tensors

    artifact, out = Path(artifact), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    build = build_fortran(out / "build")
    emulator = Emulator.load(artifact, threads=1, ood_guard=False, validate=False)
    block = open_radiation_dataset(data, n_levels=emulator.n_levels, targets=False).isel(column=slice(0, columns))
    tensors = to_tensors(block.load(), targets=False)
    inputs = tuple(tensors[name].numpy() for name in ("level_inputs", "column_inputs", "pressure_interface_Pa"))
    write_columns(out / "columns.bin", *inputs)
    threads = 1
    command = [str(build.radiation_columns), str(artifact / "emulator.pt"), str(out / "columns.bin"),
               str(out / "outputs.bin"), str(threads)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise DemoStepError(f"the Fortran host failed (status {result.returncode}): {result.stderr.strip()}")
    fluxes, heating = read_outputs(out / "outputs.bin")
    python_fluxes, python_heating = emulator.predict(*inputs)
    relative = output_discrepancy(
        (torch.from_numpy(python_fluxes), torch.from_numpy(python_heating)),
        (torch.from_numpy(fluxes), torch.from_numpy(heating)),
        torch.from_numpy(inputs[2]),
    )
    report = {
        "artifact": str(artifact),
        "columns": int(fluxes.shape[0]),
        "levels": int(heating.shape[-1]),
        "threads": threads,
        "max_abs_flux_difference_W_m2": float(np.abs(fluxes - python_fluxes).max()),
        "max_abs_heating_difference_K_day": float(np.abs(heating - python_heating).max()),
        "relative_discrepancy": relative,
        "host_command": shlex.join(command),
        "host_output": result.stdout.strip(),
    }
    _write_json(out / "fortran.json", report)
    return report


def speed_table(
    artifacts: str | Path, data: str | Path, out: str | Path, *, batches: Sequence[int] = (1, 1024), repeats: int = 3
) -> dict:
    """Time RRTMG and the exported emulator on the same held-out columns; write ``OUT/speed.json`` and ``speed.png``.

    RRTMG LW+SW through :func:`~subgrid.physics.rrtmg.radiative_transfer_arrays` with the
    dataset's settings (its Fortran is single-threaded), the TorchScript and ONNX artifacts in
    ``artifacts/{torchscript,onnx}`` through :meth:`~subgrid.radiation.emulator.Emulator.tendencies`
    on one thread, without input validation or OOD guard (radiative_transfer_arrays validates
    nothing either). At one column per call the columns are cycled, so day and night count
    alike. Each time is the best of ``repeats``; speed-up = RRTMG time / emulator time.
    """
    import torch
    import xarray as xr

    from subgrid.radiation.emulator import Emulator
    from subgrid.physics.rrtmg import RRTMGConfig, radiative_transfer_arrays
    from subgrid.physics.schema import RADIATION_INPUTS

    artifacts, out = Path(artifacts), Path(out)
    batches = sorted(int(b) for b in batches)
    truth = xr.open_zarr(data)
    if truth.sizes["column"] < max(batches):
        raise InputError(f"{data}: {truth.sizes['column']} columns, fewer than the largest batch {max(batches)}")
    block = truth.isel(column=slice(0, max(batches))).load()
    arrays = {name: block[name].values for name in RADIATION_INPUTS if name in block}
    config = RRTMGConfig(**json.loads(truth.attrs.get("rrtmg_settings", "{}")))
    threads_before = torch.get_num_threads()
    runtimes: dict[str, Callable[[Mapping[str, np.ndarray]], object]] = {
        "rrtmg": lambda a: radiative_transfer_arrays(a, config, seed=1),
        **{fmt: Emulator.load(artifacts / fmt, threads=1, ood_guard=False, validate=False).tendencies
           for fmt in ("torchscript", "onnx")},
    }  # fmt: skip
    try:
        per_batch = {}
        for batch in batches:
            row = {"batch": batch}
            for name, run in runtimes.items():
                offsets = iter(range(10**12))

                def call(run=run, batch=batch, offsets=offsets) -> None:
                    first = next(offsets) % min(64, max(batches)) if batch == 1 else 0
                    run({k: v[first : first + batch] for k, v in arrays.items()})

                seconds, _ = seconds_per_call(call, repeats=repeats)
                row[f"{name}_ms_per_call"] = 1e3 * seconds
                row[f"{name}_columns_per_s"] = batch / seconds
            for fmt in ("torchscript", "onnx"):
                row[f"speedup_{fmt}"] = row["rrtmg_ms_per_call"] / row[f"{fmt}_ms_per_call"]
            per_batch[str(batch)] = row
    finally:
        torch.set_num_threads(threads_before)
    smallest, largest = per_batch[str(batches[0])], per_batch[str(batches[-1])]
    report = {
        "threads": 1,
        "repeats": repeats,
        "levels": int(block.sizes["level"]),
        "columns_from": str(data),
        "rrtmg_settings": asdict(config),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "batches": per_batch,
        # The headline uses the faster of the two runtimes at each end.
        "headline": {
            "one_column_batch": batches[0],
            "speedup_one_column": max(smallest["speedup_torchscript"], smallest["speedup_onnx"]),
            "large_batch": batches[-1],
            "speedup_large_batch": max(largest["speedup_torchscript"], largest["speedup_onnx"]),
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    _plot_speed(report, out / "speed.png")
    _write_json(out / "speed.json", report)
    return report


def _plot_speed(report: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = {"rrtmg": ("RRTMG", "0.4"), "torchscript": ("emulator, TorchScript", "tab:blue"),
             "onnx": ("emulator, ONNX Runtime", "tab:orange")}  # fmt: skip
    batches = list(report["batches"])
    figure = Figure(figsize=(8, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    width = 0.8 / len(names)
    for i, (name, (label, colour)) in enumerate(names.items()):
        values = [report["batches"][b][f"{name}_columns_per_s"] for b in batches]
        positions = np.arange(len(batches)) + (i - (len(names) - 1) / 2) * width
        bars = ax.bar(positions, values, width, label=label, color=colour)
        if name != "rrtmg":
            speedups = [report["batches"][b][f"speedup_{name}"] for b in batches]
            ax.bar_label(bars, labels=[f"×{s:.3g}" for s in speedups], fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(batches)), [f"{b} column{'s' if int(b) > 1 else ''} per call" for b in batches])
    ax.set_ylabel("columns per second (1 thread)")
    ax.set_title(f"Radiation, {report['levels']} levels: emulator vs RRTMG (labels: speed-up)")
    ax.legend(loc="upper left", fontsize=8)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    figure.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# The pipeline


#: What an earlier demo in the output directory leaves that a new one must not resume or be refused by.
EARLIER_RESULTS = ("runs", "replay", "online", "qbo_online", "evaluation", "speed", "fortran/fortran.json", "gcm", REPORT)


def _clear_earlier_demo(out: Path) -> None:
    """Create ``out`` (marked as a demo directory) and remove an earlier demo's results from it.

    They are removed only from a directory a demo marked (:mod:`subgrid.core.ownership`): in any
    other directory, files of those names are the user's, and the demo refuses to start.
    """
    record = marker(out)
    if record is not None and record.get("kind") != DEMO:
        raise InputError(f"{out}: holds a subgrid {record.get('kind')!r}, not a demo; choose another directory")
    earlier = [out / name for name in EARLIER_RESULTS if (out / name).exists() or (out / name).is_symlink()]
    if earlier and not is_owned(out, DEMO):
        names = ", ".join(str(path.relative_to(out)) for path in earlier)
        raise InputError(f"{out}: holds {names} not written by subgrid demo (no {MARKER} marker; demos of older "
                         "versions have none), which a demo would replace; choose a new or empty directory, or "
                         "remove them by hand")  # fmt: skip
    for path in earlier:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    if record is None:
        mark(out, DEMO, __name__)


def demo_steps(out: Path, config: DemoConfig) -> list[DemoStep]:
    """Every step of the demo for output directory ``out`` (paths in commands as ``out`` is given)."""
    c = config
    train, test = out / "radiation_train.zarr", out / "radiation_test.zarr"
    run, evaluation = out / "runs" / "rescnn", out / "evaluation"
    replay_data, replay_run = out / "radiation_replay.zarr", out / "runs" / "rescnn_small"
    torchscript, onnx = out / "artifacts" / "torchscript", out / "artifacts" / "onnx"
    gw_data, gw_run = out / "gw.zarr", out / "runs" / "gw_wavenet"
    gw_gridded = out / "gw_gridded.zarr"
    chunk = str(min(500, c.test_columns))

    def generate(path: Path, columns: int, seed: int) -> tuple[str, ...]:
        return ("generate", "radiation", "--columns", str(columns), "--levels", str(c.levels), "--seed", str(seed),
                "--chunk-size", chunk, "--workers", str(c.workers), "--out", str(path), "--overwrite")  # fmt: skip

    def train_rescnn(data: Path, path: Path, width: int, depth: int, epochs: int) -> tuple[str, ...]:
        return ("train", "radiation", "--data", str(data), "--out", str(path), "--model", "rescnn", "--model-option",
                f"width={width}", "--model-option", f"depth={depth}", "--epochs", str(epochs), "--batch-size",
                str(c.batch_size), "--no-resume")  # fmt: skip

    return [
        DemoStep("generate_train", "RRTMG training dataset", generate(train, c.columns, 1)),
        DemoStep("generate_test", "RRTMG held-out dataset (another seed)", generate(test, c.test_columns, 2)),
        DemoStep("train", "Train a small ResCNN", train_rescnn(train, run, c.width, c.depth, c.epochs)),
        DemoStep("evaluate", "Evaluate on the held-out set",
                 ("evaluate", "--run", str(run), "--data", str(test), "--out", str(evaluation))),
        DemoStep("export_torchscript", "Export as TorchScript",
                 ("export", "--run", str(run), "--format", "torchscript", "--out", str(torchscript), "--overwrite")),
        DemoStep("export_onnx", "Export as ONNX",
                 ("export", "--run", str(run), "--format", "onnx", "--out", str(onnx), "--overwrite")),
        DemoStep("fortran", "Call the emulator from the Fortran example host",
                 python=f"from subgrid.demo.run import fortran_host_check; fortran_host_check({_quoted(torchscript)}, "
                        f"{_quoted(test)}, {_quoted(out / 'fortran')}, columns={c.fortran_columns})"),
        DemoStep("online", "Online in the RCE host, side by side with RRTMG",
                 ("online", "radiation", "--emulator", str(torchscript), "--cases", str(c.online_cases), "--days",
                  f"{c.online_days:g}", "--seed", "101", "--out", str(out / "online"))),
        DemoStep("generate_replay", "RRTMG columns for a deliberately weak emulator (another seed)",
                 generate(replay_data, c.replay_columns, 3)),
        DemoStep("train_replay", "Train a tiny ResCNN, weak enough to crash online",
                 train_rescnn(replay_data, replay_run, c.replay_width, c.replay_depth, c.replay_epochs)),
        DemoStep("replay", "Experience replay of the tiny ResCNN",
                 ("replay", "radiation", "--run", str(replay_run), "--data", str(replay_data), "--cases",
                  str(c.replay_cases), "--days", f"{c.replay_days:g}", "--seed", "101", "--rounds",
                  str(c.replay_rounds), "--format", "onnx", "--no-ood-guard", "--out", str(out / "replay"))),
        DemoStep("speed", "Speed table against RRTMG",
                 python=f"from subgrid.demo.run import speed_table; speed_table({_quoted(out / 'artifacts')}, "
                        f"{_quoted(test)}, {_quoted(out / 'speed')}, batches={tuple(c.speed_batches)!r}, "
                        f"repeats={c.speed_repeats})"),
        DemoStep("generate_gw", "QBO runs with Alexander-Dunkerton gravity-wave drag",
                 ("generate", "gw", "--scheme", "ad99", "--years", f"{c.gw_years:g}", "--out", str(gw_data),
                  "--overwrite")),
        DemoStep("train_gw", "Train a gravity-wave drag emulator",
                 ("train", "gw", "--data", str(gw_data), "--out", str(gw_run), "--model", "wavenet", "--epochs",
                  str(c.gw_epochs), "--noise", "0.5", "--threads", "1")),
        DemoStep("online_gw", "Online QBO with the emulator, side by side with the physics",
                 ("online", "gw", "--emulator", str(gw_run), "--years", f"{c.qbo_years:g}", "--spinup-years",
                  f"{c.qbo_spinup_years:g}", "--out", str(out / "qbo_online"))),
        DemoStep("generate_gw_gridded", "Gridded gravity-wave fluxes from a tiny simulation (T21, mountains and heating)",
                 ("generate", "gw-simulation", "--resolution", "T21", "--levels", str(c.gw_gridded_levels),
                  "--time-step-minutes", "20", "--spinup-days", "2", "--days", f"{c.gw_gridded_days:g}",
                  "--output-interval-hours", "3", "--target-grid", "gaussian:16x32", "--truncation", "10", "--seed",
                  "1", "--threads", "1", "--out", str(gw_gridded), "--overwrite", "--no-progress")),
        DemoStep("train_gw_unet", "Train an Attention U-Net on the gridded fluxes",
                 ("train", "gw-gridded", "--data", str(gw_gridded), "--out", str(out / "runs" / "gw_unet"), "--model",
                  "unet", "--model-option", "base_width=8", "--epochs", str(c.gw_gridded_epochs), "--threads", "1",
                  "--no-resume", "--no-progress")),
        DemoStep("train_gw_prithvi", "Train PrithviGW (Prithvi WxC encoder/decoder, random init) on the same fluxes",
                 ("train", "gw-gridded", "--data", str(gw_gridded), "--out", str(out / "runs" / "gw_prithvi"), "--model",
                  "prithvi", "--model-option", "embed_dim=32", "--model-option", "window=[4,8]", "--epochs",
                  str(c.gw_gridded_epochs), "--threads", "1", "--no-resume", "--no-progress")),
        DemoStep("compare_gw", "Compare the two on the held-out end of the record (table and maps)",
                 ("evaluate", "--run", str(out / "runs" / "gw_unet"), "--run", str(out / "runs" / "gw_prithvi"),
                  "--label", "Attention U-Net", "--label", "PrithviGW", "--data", str(gw_gridded), "--out",
                  str(out / "gw_gridded_comparison"))),
        DemoStep("gcm_control", "3-D GCM: a short control run with RRTMG from the shipped spun-up state",
                 ("gcm", "run", "--restart", str(SPUN_UP_RESTART), "--out", str(out / "gcm" / "control"), "--days",
                  f"{c.gcm_control_days:g}", "--restart-every-days", f"{c.forecast_lead_step_days:g}", "--no-progress")),
        DemoStep("gcm_forecasts", "3-D GCM forecasts: RRTMG, the shipped emulator, and perturbed RRTMG",
                 ("gcm", "forecasts", "--control", str(out / "gcm" / "control"), "--emulator", str(SHIPPED_EMULATOR),
                  "--out", str(out / "gcm" / "forecasts"), "--starts", str(c.forecast_starts), "--spacing-days", "1",
                  "--days", f"{c.forecast_days:g}", "--lead-step-days", f"{c.forecast_lead_step_days:g}", "--reference", "run", "--perturbed-starts", "1", "--workers",
                  str(c.workers), "--plots", str(out / "gcm" / "forecasts" / "figures"), "--no-progress")),
    ]  # fmt: skip


def report_step(out: Path) -> DemoStep:
    """The last step, writing ``out/report.html`` from what the others wrote (not timed in the manifest)."""
    code = f"from subgrid.demo.report import write_demo_report; write_demo_report({_quoted(out)})"
    return DemoStep("report", "Write the report", python=code)


def _quoted(path: Path) -> str:
    """A path as a Python string literal in double quotes (the shell command around it uses single quotes)."""
    return json.dumps(str(path))


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


#: Runs ``subgrid ARGUMENTS`` and returns its exit status (0 or None: success).
CommandRunner = Callable[[list[str]], "int | None"]


def subprocess_cli(arguments: list[str]) -> int:
    """``python -m subgrid.cli ARGUMENTS`` in a child process: the default runner of the demo's CLI steps.

    The ``subgrid demo`` command passes its own app instead (the steps then run in its process);
    the demo never imports the CLI, so the CLI can import the demo without an import cycle.
    """
    return subprocess.run([sys.executable, "-m", "subgrid.cli", *arguments], check=False).returncode


def _run_step(step: DemoStep, progress: bool, cli: CommandRunner = subprocess_cli) -> None:
    """Run ``step`` as its command says: the ``subgrid`` CLI through ``cli``, or the Python call."""
    if step.python:
        # The very code shown in the command runs, so the command cannot drift from what the demo does.
        exec(compile(step.python, f"<demo step {step.name}>", "exec"), {})
        return
    arguments = list(step.arguments)
    # Progress bars only on a terminal (a log file would fill with them); the printed command keeps its own.
    if not progress and arguments[0] in ("generate", "train", "online", "replay") and arguments[:2] != ["online", "gw"]:
        arguments.append("--no-progress")
    status = cli(arguments)
    if status:
        raise DemoStepError(f"step {step.name!r} failed (exit {status}); reproduce with: {step.command}")


def run_demo(
    out: str | Path = "demo",
    *,
    columns: int | None = None,
    workers: int | None = None,
    epochs: int | None = None,
    quick: bool = False,
    config: DemoConfig | None = None,
    progress: bool | None = None,
    echo: Callable[[str], None] = print,
    cli: CommandRunner = subprocess_cli,
) -> DemoResult:
    """Run the demo into ``out`` and write ``out/report.html``; return the paths and the wall time.

    ``config`` sets every size (default :class:`DemoConfig`, or :meth:`DemoConfig.quick` with
    ``quick``); ``columns``, ``workers`` and ``epochs`` override it. Each step's command is passed
    to ``echo`` before it runs. ``progress`` shows progress bars (default: when stderr is a
    terminal). Results of an earlier demo in ``out`` are replaced (only in a directory a demo made:
    :func:`_clear_earlier_demo`). If a step fails, the manifest
    records it, the report shows what was done, and :class:`DemoStepError` (or the step's own
    error) is raised. ``cli`` runs the steps that are ``subgrid`` commands (default: a child
    process each; the ``subgrid demo`` command runs them in its own process).
    """
    out = Path(out)
    config = config if config is not None else (DemoConfig.quick() if quick else DemoConfig())
    overrides = {"columns": columns, "workers": workers, "epochs": epochs}
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    progress = sys.stderr.isatty() if progress is None else progress
    _clear_earlier_demo(out)

    import torch

    steps = demo_steps(out, config)
    final = report_step(out)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    started = time.perf_counter()
    manifest = {
        "subgrid_version": subgrid.__version__,
        "started_utc": _now(),
        "finished_utc": None,
        "status": "running",
        "wall_s": None,
        "cpu_count": os.cpu_count(),
        "config": asdict(config),
        "steps": [{"name": s.name, "title": s.title, "command": s.command, "wall_s": None, "status": "pending"}
                  for s in steps],
        "report_command": final.command,
    }  # fmt: skip
    _write_json(out / MANIFEST, manifest)
    failure: BaseException | None = None
    try:
        for number, (step, record) in enumerate(zip(steps, manifest["steps"], strict=True), start=1):
            echo(f"\n[{number}/{len(steps) + 1}] {step.title}\n      $ {step.command}")
            step_started = time.perf_counter()
            try:
                _run_step(step, progress, cli)
                record["status"] = "complete"
            except BaseException as error:  # recorded, then raised again after the report is written
                failure = error
                record["status"] = "failed"
            record["wall_s"] = time.perf_counter() - step_started
            if failure is not None:
                break
            _write_json(out / MANIFEST, manifest)
        wall_s = time.perf_counter() - started
        manifest.update(finished_utc=_now(), wall_s=wall_s, status="failed" if failure else "complete")
        _write_json(out / MANIFEST, manifest)
        # The report reads the finished manifest, so it is not itself one of the timed steps.
        echo(f"\n[{len(steps) + 1}/{len(steps) + 1}] {final.title}\n      $ {final.command}")
        _run_step(final, progress, cli)
    finally:
        torch.set_num_threads(threads_before)
    if failure is not None:
        raise failure
    echo(f"\ndemo complete in {wall_s / 60:.1f} min; open {out / REPORT}")
    return DemoResult(out, out / MANIFEST, out / REPORT, wall_s)
