"""What subgrid made, and so may replace: a marker in every directory it writes, and replacement by swap.

Every output the tool writes as a directory (a training run, an exported artifact, an
evaluation, a demo) carries a small ``.subgrid.json`` file naming its ``kind`` and
``generator``; a zarr store carries the same record as its ``subgrid_marker`` attribute (zarr
warns about foreign files in a store). Only a path whose marker has the expected kind is ever deleted or replaced
(``--overwrite``, ``--no-resume``, an earlier demo's results); anything else is refused with a
one-line :class:`~subgrid.core.errors.InputError` naming it: a directory of the user's, the
parent of the output (``--out ..``), a file, a symbolic link, an output of another kind (an
export over a training run), and an output of a subgrid older than the marker, which is to be
removed by hand once.

Replacement writes aside, then swaps (:func:`publish`): the new result is built whole in a
temporary sibling, the old one is renamed out of the way, the new one renamed into place, and
only then is the old one removed. An overwrite that fails or is interrupted leaves the previous
result as it was.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import subgrid
from subgrid.core.errors import InputError
from subgrid.core.stores import write_text_atomic

MARKER = ".subgrid.json"
ZARR_ATTR = "subgrid_marker"  # the marker of a zarr (v2) store, in its root attributes

# Kinds of output. A replacement must be of the kind it replaces.
DATASET = "dataset"  # a zarr store (radiation, gravity-wave, flux, simulation, replay, metrics)
RUN = "training_run"
ARTIFACT = "emulator_artifact"
EVALUATION = "evaluation"
DEMO = "demo"
ONLINE = "online_results"  # an online comparison or replay output directory
GCM_RUN = "gcm_run"  # a run directory of the 3-D GCM host (restarts, history, harvested columns)
FORECASTS = "gcm_forecasts"  # a forecast experiment of the 3-D GCM host (its forecast runs and scores)


def _record(kind: str, generator: str) -> dict:
    return {"kind": kind, "generator": generator, "subgrid_version": subgrid.__version__,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}  # fmt: skip


def mark(path: Path, kind: str, generator: str) -> Path:
    """Write the marker into directory ``path``: ``kind`` of output, written by ``generator`` (a module name)."""
    write_text_atomic(Path(path) / MARKER, json.dumps(_record(kind, generator), indent=1))
    return Path(path)


def zarr_marker(generator: str) -> dict[str, str]:
    """The root attribute that marks a zarr store written by ``generator`` as subgrid's dataset."""
    return {ZARR_ATTR: json.dumps(_record(DATASET, generator), sort_keys=True)}


def marker(path: Path) -> dict | None:
    """The marker of ``path`` (None: not a directory, or no readable marker: not made by this subgrid)."""
    path = Path(path)
    try:
        record = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        try:  # a zarr v2 store keeps its root attributes in .zattrs
            record = json.loads(json.loads((path / ".zattrs").read_text())[ZARR_ATTR])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return record if isinstance(record, dict) else None


def is_owned(path: Path, kind: str) -> bool:
    """Whether ``path`` is a real directory (no symbolic link) whose marker says ``kind``."""
    path = Path(path)
    record = marker(path)
    return not path.is_symlink() and path.is_dir() and record is not None and record.get("kind") == kind


def check_replaceable(path: Path, kind: str, *, overwrite: bool = True, option: str = "overwrite") -> None:
    """Refuse to replace ``path`` unless it is absent, an empty directory, or (with ``overwrite``) subgrid's ``kind``.

    ``option`` names the switch that allows replacing in the message (``--overwrite`` on the CLI).
    Called before any work starts, so a refusal costs nothing.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return
    if not overwrite:
        raise InputError(f"{path}: already exists (pass {option} to replace it)")
    if is_owned(path, kind):
        return
    record = marker(path)
    if path.is_symlink() or not path.is_dir():
        what = "is a symbolic link" if path.is_symlink() else "is a file"
    elif record is not None:
        what = f"holds a subgrid {record.get('kind')!r}, not a {kind.replace('_', ' ')}"
    else:
        what = (f"was not written by subgrid (no {MARKER} marker; outputs of older versions have none), so it is "
                "not deleted; remove it by hand or choose another path")  # fmt: skip
    raise InputError(f"{path}: {what}")


def remove_owned(path: Path, kind: str) -> None:
    """Delete ``path`` if it is subgrid's ``kind`` (or an empty directory); refuse anything else (:func:`check_replaceable`)."""
    path = Path(path)
    check_replaceable(path, kind)
    if path.is_dir():
        shutil.rmtree(path)


def staging_path(path: Path, label: str) -> Path:
    """A hidden sibling of ``path`` to build a replacement in (same file system, so it renames)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{label}-{os.getpid()}")


def publish(staged: Path, path: Path, kind: str) -> Path:
    """Swap the complete, marked (:func:`mark`, :func:`zarr_marker`) ``staged`` directory in at ``path``.

    ``path`` must be replaceable (:func:`check_replaceable`); it is renamed aside, ``staged``
    renamed into place, and only then is the old one deleted.
    """
    staged, path = Path(staged), Path(path)
    if not is_owned(staged, kind):
        raise RuntimeError(f"{staged}: not marked as a subgrid {kind}; mark it before publishing it")
    check_replaceable(path, kind)
    old = staging_path(path, "old")
    if path.exists():
        os.replace(path, old)
    try:
        os.replace(staged, path)
    except BaseException:
        if old.exists() and not path.exists():
            os.replace(old, path)  # put the previous result back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def write_directory(out: Path, kind: str, generator: str, write: Callable[[Path], None]) -> Path:
    """Call ``write(staging)`` in a temporary directory, mark it ``kind``, then swap it in at ``out`` (:func:`publish`).

    Only an output of subgrid's ``kind`` at ``out`` is replaced; anything else there is refused, untouched,
    before ``write`` runs.
    """
    out = Path(out)
    check_replaceable(out, kind)
    staging = staging_path(out, "tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write(staging)
        return publish(mark(staging, kind, generator), out, kind)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
