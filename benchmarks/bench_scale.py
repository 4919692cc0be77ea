"""Scale out: generation columns/s per Dask worker count, training samples/s on 1 and 2 DDP processes, peak memory vs dataset size.

Every measurement runs in its own process tree, and a thread of this process samples (every
0.2 s, with psutil) the summed RSS of that tree: the measured process and all its descendants,
i.e. the Dask nanny and worker processes, or the DDP ranks (pages shared between processes, such
as torch's libraries, count once per process). Prints one JSON line per measurement, each with a
``ratio`` against a reference measured in the same run:

* ``generation_speed``: columns/s generating the smallest dataset on a LocalCluster of 1, 2, ...
  workers (the chunks go through the cluster's address, as with ``--scheduler``), after a
  warm-up dataset on the same cluster so that worker start-up and RRTMG's first call are left
  out; ``ratio`` = over 1 worker;
* ``generation_peak_rss``: peak RSS generating each ``--sizes`` dataset on the most workers;
  ``ratio`` = over the smallest dataset (flat memory: ~1);
* ``training_speed``: training samples/s (columns of an epoch x epochs / seconds of the fit,
  DDP set-up and the 5 % validation included) on one process and with DDP on 2 processes
  started by torchrun (gloo on CPU, the same global batch); ``ratio`` = over one process;
* ``training_peak_rss``: peak RSS of one process training on each ``--sizes`` dataset, streamed
  from zarr (``in_memory: false``); ``ratio`` = over the smallest dataset.

    python benchmarks/bench_scale.py [--sizes 20000 60000] [--workers 1 2] [--levels 60]
        [--chunk-size 1000] [--workdir DIR] [--out benchmarks/results/scale_cpu.jsonl]

Datasets are written under ``--workdir`` (default: a temporary directory) and deleted once
measured; a 1M-column, 60-level dataset takes about 10 GB on disk while it exists.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

from _report import emit

MIB = 2**20


def _generate_worker(path: Path, columns: int, workers: int, levels: int, chunk_size: int, seed: int) -> None:
    """In the measured process: start a LocalCluster, warm it up, time generating ``path``."""
    from distributed import LocalCluster

    from subgrid.radiation.columns import ColumnSamplerConfig
    from subgrid.radiation.dataset import RadiationDatasetConfig, generate_radiation_dataset

    sampler = ColumnSamplerConfig(n_levels=levels)
    config = RadiationDatasetConfig(n_columns=columns, seed=seed, chunk_size=chunk_size, sampler=sampler)
    warm_up = RadiationDatasetConfig(n_columns=8 * workers, seed=seed + 1, chunk_size=8, sampler=sampler)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR)
    with cluster:
        address = cluster.scheduler_address
        generate_radiation_dataset(path.with_name("warm_up.zarr"), warm_up, scheduler=address, overwrite=True, progress=False)
        start = time.perf_counter()
        generate_radiation_dataset(path, config, scheduler=address, progress=False)
        seconds = time.perf_counter() - start
    shutil.rmtree(path.with_name("warm_up.zarr"))
    print(json.dumps({"seconds": seconds}), flush=True)


def run_sampled(command: list[str], interval: float = 0.2) -> tuple[str, int]:
    """Run ``command``; its stdout and the peak summed RSS (bytes) of its process tree."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            root = psutil.Process(process.pid)
            while not done.is_set():
                total = 0
                for member in [root, *root.children(recursive=True)]:
                    try:
                        total += member.memory_info().rss
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass  # a process that ended between listing and reading
                peak = max(peak, total)
                done.wait(interval)
        except psutil.NoSuchProcess:
            return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed:\n{stderr[-3000:]}")
    return stdout, peak


def generate(work: Path, columns: int, workers: int, args) -> dict:
    path = work / f"rad_{columns}_{workers}w.zarr"
    command = [sys.executable, __file__, "--worker", "generate", "--path", str(path), "--sizes", str(columns),
               "--workers", str(workers), "--levels", str(args.levels), "--chunk-size", str(args.chunk_size),
               "--seed", str(args.seed)]  # fmt: skip
    stdout, peak = run_sampled(command)
    seconds = json.loads(stdout.strip().splitlines()[-1])["seconds"]
    return {"path": path, "columns": columns, "workers": workers, "seconds": seconds,
            "columns_per_s": columns / seconds, "peak_rss_MiB": peak / MIB}  # fmt: skip


def train(work: Path, dataset: dict, processes: int, args) -> dict:
    """Train on the ``generate`` result ``dataset`` with ``processes`` DDP processes."""
    data, run = dataset["path"], work / f"run_{dataset['columns']}_{processes}p"
    config = {
        "model": "rescnn", "model_options": {"width": args.width, "depth": args.depth}, "epochs": args.epochs,
        "batch_size": args.batch_size // processes, "validation_fraction": 0.05, "in_memory": False, "seed": args.seed,
    }  # fmt: skip
    (work / "train.yaml").write_text(yaml.safe_dump(config))
    # torchrun starts every process before training (Lightning's own launcher would start the
    # others inside the timed fit); a single process runs the CLI alone.
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else []
    command = [sys.executable, *launch, "-m", "subgrid.cli", "train", "radiation", "--data", str(data), "--out", str(run),
               "--config", str(work / "train.yaml"), "--devices", str(processes), "--no-progress"]  # fmt: skip
    _, peak = run_sampled(command)
    described = json.loads((run / "model.json").read_text())
    samples = described["training_columns_per_epoch"] * described["trained_epochs"]
    shutil.rmtree(run)
    return {"columns": dataset["columns"], "processes": processes, "seconds": described["training_seconds"],
            "samples_per_s": samples / described["training_seconds"], "peak_rss_MiB": peak / MIB}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 60000], help="Dataset sizes (columns).")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Dask worker counts for the speed line.")
    parser.add_argument("--levels", type=int, default=60)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--width", type=int, default=32, help="ResCNN width.")
    parser.add_argument("--depth", type=int, default=4, help="ResCNN depth.")
    parser.add_argument("--batch-size", type=int, default=256, help="Global batch (per process: / processes).")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="Where datasets go (default: a temporary directory).")
    parser.add_argument("--out", type=Path, default=None, help="Also append the JSON lines to this file.")
    parser.add_argument("--worker", choices=("generate",), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        _generate_worker(args.path, args.sizes[0], args.workers[0], args.levels, args.chunk_size, args.seed)
        return

    sizes, worker_counts = sorted(args.sizes), sorted(args.workers)
    most = worker_counts[-1]
    common = {"benchmark": "scale", "levels": args.levels, "chunk_size": args.chunk_size,
              "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}  # fmt: skip
    model = {"model": "rescnn", "model_options": {"width": args.width, "depth": args.depth},
             "global_batch": args.batch_size, "epochs": args.epochs}  # fmt: skip

    def report(measure: str, figures: dict, ratio: float, reference: str, **extra) -> None:
        figures = {k: v for k, v in figures.items() if k != "path"}
        emit({**common, "measure": measure, **extra, **figures, "ratio": ratio, "reference": reference,
              "load_average_1min": os.getloadavg()[0]}, args.out)  # fmt: skip

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench_scale_", dir=args.workdir) as tmp:
        work = Path(tmp)
        generated, trained = {}, {}
        for columns in sizes:
            generated[columns] = generate(work, columns, most, args)
            if columns == sizes[0]:
                speeds = {most: generated[columns]}
                for workers in worker_counts[:-1]:
                    speeds[workers] = generate(work, columns, workers, args)
                    shutil.rmtree(speeds[workers]["path"])
                for workers in worker_counts:
                    report("generation_speed", speeds[workers], speeds[workers]["columns_per_s"] / speeds[worker_counts[0]]["columns_per_s"],
                           f"the same {columns} columns on {worker_counts[0]} worker(s)")  # fmt: skip
            report("generation_peak_rss", generated[columns],
                   generated[columns]["peak_rss_MiB"] / generated[sizes[0]]["peak_rss_MiB"],
                   f"peak RSS generating {sizes[0]} columns on {most} workers")  # fmt: skip

            trained[columns] = train(work, generated[columns], 1, args)
            if columns == sizes[0]:
                ddp = train(work, generated[columns], 2, args)
                for figures in (trained[columns], ddp):
                    report("training_speed", figures, figures["samples_per_s"] / trained[columns]["samples_per_s"],
                           f"one process on the same {columns} columns, same global batch", **model)  # fmt: skip
            report("training_peak_rss", trained[columns], trained[columns]["peak_rss_MiB"] / trained[sizes[0]]["peak_rss_MiB"],
                   f"peak RSS of one process training on {sizes[0]} columns", **model)  # fmt: skip
            shutil.rmtree(generated[columns]["path"])


if __name__ == "__main__":
    main()
