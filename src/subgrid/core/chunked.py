"""Build a zarr dataset chunk by chunk on a Dask cluster: resumable, atomic, failures reported per chunk.

The dataset is written to ``NAME.zarr.partial`` next to the target and renamed to ``NAME.zarr``
only when every chunk is in, so a finished path is always a complete dataset. An existing
dataset is replaced (``overwrite``) only if subgrid wrote it, and only once the new one is
complete (:mod:`subgrid.core.ownership`): an interrupted overwrite keeps the old one. Each task computes
one chunk of columns in a worker *process* and writes it straight into its zarr region (peak memory
is one chunk per worker, whatever the dataset size), then flags it in a ``chunk_done`` array.
Re-running the same job after an interrupt skips the flagged chunks. A worker that dies (a Fortran
``STOP`` inside a physics scheme ends its process) fails only its chunk, which is named in the
error; the other chunks finish and stay done for the next run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from contextlib import contextmanager
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr
from tqdm.auto import tqdm

from subgrid.core.errors import InputError, Interrupted, SchemeFailure
from subgrid.core.stores import open_store
from subgrid.core.ownership import DATASET, check_replaceable, publish, remove_owned, staging_path, zarr_marker

DONE = "chunk_done"
JOB_ATTR = "subgrid_job"
ZARR_FORMAT = 2  # v2 with consolidated metadata: readable by every xarray/zarr in the field

#: ``compute_chunk(chunk_index, column_slice) -> Dataset`` of that chunk's columns.
ChunkFunction = Callable[[int, slice], xr.Dataset]


@dataclass
class ChunkedRunReport:
    """What one run of a chunked job did."""

    path: Path
    n_chunks: int
    computed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    seconds: float = 0.0


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def refuse_incomplete_store(path: Path, ds: xr.Dataset | None = None) -> None:
    """Refuse a store a chunked run has not finished: a ``*.partial`` path, or one (``ds``, opened) whose
    ``chunk_done`` record says some chunks were never computed (they read as fill values)."""
    path = Path(path)
    if path.name.endswith(".partial"):
        raise InputError(f"{path}: an unfinished dataset (its run was interrupted); rerun the command that made it "
                         f"to complete {path.name.removesuffix('.partial')}, and use that")  # fmt: skip
    if ds is not None and DONE in ds.variables:
        done = np.asarray(ds[DONE].values).astype(bool)
        if not done.all():
            raise InputError(f"{path}: an unfinished dataset: {int((~done).sum())} of {done.size} chunks were never "
                             "computed (its chunk_done record); rerun the command that made it to complete it")  # fmt: skip


def open_finished_store(path: Path, *, what: str = "dataset") -> xr.Dataset:
    """Open a store a chunked run wrote (lazily, reads failing in one line), refusing one that is missing or unfinished."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such {what}")
    refuse_incomplete_store(path)
    ds = open_store(path, what=what)
    refuse_incomplete_store(path, ds)
    return ds


def write_zarr_atomic(ds: xr.Dataset, path: Path, generator: str = __name__) -> Path:
    """Write ``ds`` as consolidated zarr v2 under a temporary name beside ``path``, then swap it in at ``path``.

    An existing ``path`` is replaced only if it is a subgrid dataset (:func:`~subgrid.core.ownership.publish`),
    after the new store is complete. Encodings carried over from where ``ds`` was read are dropped
    (a zarr v3 codec in a v2 store fails).
    """
    path = Path(path)
    check_replaceable(path, DATASET)
    ds = ds.copy().assign_attrs(zarr_marker(generator))
    for var in ds.variables.values():
        var.encoding = {}
    tmp = staging_path(path, "tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        ds.to_zarr(tmp, mode="w", zarr_format=ZARR_FORMAT, consolidated=True)
        return publish(tmp, path, DATASET)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written is left behind


def lazy_template(example: xr.Dataset, n_columns: int, chunk_size: int) -> xr.Dataset:
    """A lazy (dask zeros) dataset shaped like ``example`` but with ``n_columns`` columns.

    ``example`` is a small dataset with the right variables, dtypes and attrs (e.g. one sampled
    column); only its structure is used.
    """
    variables = {}
    for name, var in example.data_vars.items():
        shape = tuple(n_columns if dim == "column" else example.sizes[dim] for dim in var.dims)
        chunks = tuple(chunk_size if dim == "column" else size for dim, size in zip(var.dims, shape, strict=True))
        variables[name] = xr.Variable(var.dims, da.zeros(shape, dtype=var.dtype, chunks=chunks), var.attrs)
    coords = {name: c for name, c in example.coords.items() if "column" not in c.dims}
    return xr.Dataset(variables, coords=coords, attrs=example.attrs)


def _chunk_slices(n_columns: int, chunk_size: int) -> list[slice]:
    return [slice(start, min(start + chunk_size, n_columns)) for start in range(0, n_columns, chunk_size)]


def _write_chunk(store: str, compute_chunk: ChunkFunction, index: int, columns: slice) -> float:
    """Worker task: compute one chunk, write its region, then flag it done. Returns seconds spent."""
    start = time.perf_counter()
    chunk = compute_chunk(index, columns)
    region = chunk.drop_vars([name for name, v in chunk.variables.items() if "column" not in v.dims])
    region.to_zarr(store, region={"column": columns}, zarr_format=ZARR_FORMAT, consolidated=False)
    flag = xr.Dataset({DONE: ("chunk", np.ones(1, dtype="int8"))})
    flag.to_zarr(store, region={"chunk": slice(index, index + 1)}, zarr_format=ZARR_FORMAT, consolidated=False)
    return time.perf_counter() - start


def _interrupted_job(partial: Path) -> tuple[str | None, np.ndarray | None]:
    """The job and done flags of the partial store an interrupted run left (None, None: not one)."""
    try:
        existing = xr.open_zarr(partial, consolidated=False)
        return existing.attrs.get(JOB_ATTR), existing[DONE].values.astype(bool)
    except Exception:  # zarr and xarray raise many types for a directory that is not such a store
        return None, None


def _prepare_store(
    partial: Path, template: xr.Dataset, job: dict, n_chunks: int, chunk_size: int, overwrite: bool
) -> np.ndarray:
    """Create the partial store, or reopen one left by an interrupted run of the same job.

    With ``overwrite`` a partial store of other settings is replaced, if subgrid wrote it.
    """
    job_json = json.dumps(job, sort_keys=True)
    if partial.exists() or partial.is_symlink():
        recorded, done = _interrupted_job(partial)
        if recorded == job_json and not partial.is_symlink():
            return done
        if not overwrite:
            what = "an interrupted run with other settings" if recorded else "something that is not an interrupted run"
            raise InputError(f"{partial}: {what} is there; delete it, pass overwrite, or rerun with the same "
                             f"settings to resume (its settings: {recorded})")  # fmt: skip
        remove_owned(partial, DATASET)
    flags = xr.Variable("chunk", da.zeros(n_chunks, dtype="int8", chunks=1))
    store = template.assign({DONE: flags})
    store.attrs.update({JOB_ATTR: job_json, **zarr_marker(job.get("generator", __name__))})
    encoding = {name: {"chunks": tuple(c[0] for c in store[name].chunks)} for name in store.data_vars}
    store.to_zarr(partial, mode="w-", compute=False, encoding=encoding, zarr_format=ZARR_FORMAT, consolidated=False)
    return np.zeros(n_chunks, dtype=bool)


def _finalise(partial: Path, path: Path, overwrite: bool, generator: str) -> None:
    check_replaceable(path, DATASET, overwrite=overwrite)  # e.g. written meanwhile by another run
    group = zarr.open_group(str(partial), mode="r+", zarr_format=ZARR_FORMAT)
    del group[DONE]
    group.attrs.update(zarr_marker(generator))  # also on a partial store an older subgrid began
    zarr.consolidate_metadata(str(partial))
    publish(partial, path, DATASET)


def _client(workers: int, scheduler: str | None):
    from distributed import Client

    if scheduler is not None:
        return Client(scheduler), None
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536: glibc then returns freed memory to the
    # kernel after every large array and faults it back in on the next. Measured on the GCM host (30 steps
    # at T21, one worker): dynamics 2.8-3.1 s and column physics 2.2-2.3 s with it, 1.6-1.7 s and 0.82-0.86 s
    # without, 1.2 s and 0.75 s outside Dask. The workers keep the other settings (one OpenMP/BLAS thread).
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return _local_client(workers)


def _local_client(workers: int):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,  # the Fortran schemes are single-threaded; parallelise with processes
        processes=True,
        dashboard_address=":0",  # any free port: never collide with another cluster on 8787
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def _describe_failure(error: BaseException) -> str:
    from distributed.scheduler import KilledWorker

    if isinstance(error, KilledWorker):
        return "its worker process died (a Fortran STOP or abort inside the physics scheme ends the process)"
    return f"{type(error).__name__}: {error}"


def _lock_holder(lock: Path) -> int | None:
    """The pid written in ``lock`` if that process is alive on this machine, else None (a stale lock)."""
    try:
        pid = int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):  # gone meanwhile, or garbage
        return None
    try:
        os.kill(pid, 0)
    except PermissionError:  # alive, owned by another user
        return pid
    except OSError:  # no such process
        return None
    return pid


@contextmanager
def _writing(partial: Path):
    """Hold ``PARTIAL.lock`` (this pid) while writing ``partial``; a Ctrl-C says the finished chunks are kept.

    A second run on the same output is refused in one line naming the holder; the lock of a process
    that died (kill -9) is taken over.
    """
    lock = partial.with_name(partial.name + ".lock")
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None:
                raise InputError(f"{lock}: another run (pid {holder}) is writing this output; wait for it to finish "
                                 "or stop it (a rerun then resumes its finished chunks)") from None  # fmt: skip
            lock.unlink(missing_ok=True)  # stale: its process is gone
    else:
        raise InputError(f"{lock}: could not take the lock of this output (another run keeps taking it)")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    try:
        yield
    except KeyboardInterrupt as error:
        kept = f"finished chunks are kept in {partial}" if partial.exists() else "nothing was written"
        raise Interrupted(f"interrupted: {kept}; run the same command again to resume") from error
    finally:
        lock.unlink(missing_ok=True)


def run_chunked(
    path: str | Path,
    template: xr.Dataset,
    compute_chunk: ChunkFunction,
    *,
    chunk_size: int,
    job: dict,
    workers: int = 2,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    description: str = "chunks",
) -> ChunkedRunReport:
    """Write ``template``-shaped data to zarr at ``path``, one ``compute_chunk`` task per column chunk.

    ``job`` (JSON-serialisable settings: seed, sampler, scheme...) is stored in the dataset attrs
    and must match for an interrupted run to be resumed. ``workers`` local worker processes are
    started unless ``scheduler`` names an existing Dask scheduler (its workers must see ``path``).
    Raises :class:`~subgrid.core.errors.SchemeFailure` naming every failed chunk after the others finish.
    """
    path = Path(path)
    partial = partial_path(path)
    n_columns = template.sizes["column"]
    if chunk_size < 1:
        raise InputError(f"chunk_size: must be >= 1, got {chunk_size}")
    if workers < 1 and scheduler is None:
        raise InputError(f"workers: must be >= 1, got {workers}")
    # Nothing is deleted here: a subgrid dataset at ``path`` is replaced when the new one is complete.
    check_replaceable(path, DATASET, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)

    with _writing(partial):  # one run at a time per output; Ctrl-C says what is kept
        slices = _chunk_slices(n_columns, chunk_size)
        done = _prepare_store(partial, template, job, len(slices), chunk_size, overwrite)
        report = ChunkedRunReport(path=path, n_chunks=len(slices), skipped=[int(i) for i in np.flatnonzero(done)])
        todo = [i for i in range(len(slices)) if not done[i]]
        started = time.perf_counter()
        failures: dict[int, BaseException] = {}
        if todo:
            from distributed import as_completed
            from distributed.scheduler import KilledWorker

            # A dead worker fails its chunks at once instead of killing worker after worker on
            # retries; one task per worker at a time keeps the damage to the chunk it ran.
            settings = {"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}
            with dask.config.set(settings):
                client, cluster = _client(workers, scheduler)

                def submit(index: int):
                    return client.submit(_write_chunk, str(partial), compute_chunk, index, slices[index], pure=False)

                try:
                    futures = {submit(i): i for i in todo}
                    bar = tqdm(
                        total=len(slices), initial=len(report.skipped), unit="chunk", desc=description, disable=not progress
                    )
                    with bar:
                        for future in as_completed(futures):
                            index = futures[future]
                            error = future.exception()
                            if error is None:
                                report.computed.append(index)
                                bar.update(1)
                            else:
                                failures[index] = error
                        # A task the scheduler had already handed to a dying worker dies with it. Rerun
                        # each such chunk alone: only a chunk that kills its worker by itself fails.
                        for index in [i for i, error in failures.items() if isinstance(error, KilledWorker)]:
                            error = submit(index).exception()
                            if error is None:
                                report.computed.append(index)
                                del failures[index]
                            else:
                                failures[index] = error
                        bar.update(len(failures))
                finally:
                    client.close()
                    if cluster is not None:
                        cluster.close()
        report.seconds = time.perf_counter() - started
        if failures:
            lines = [
                f"chunk {i} (columns {slices[i].start}-{slices[i].stop - 1}): {_describe_failure(error)}"
                for i, error in sorted(failures.items())
            ]
            raise SchemeFailure(
                f"{len(failures)} of {len(slices)} chunks failed; the others are kept in {partial} and a rerun "
                "of the same command resumes:\n  " + "\n  ".join(lines)
            )
        _finalise(partial, path, overwrite, job.get("generator", __name__))
        return report
