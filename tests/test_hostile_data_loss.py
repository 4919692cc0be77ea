"""Nothing lost: the tool deletes or replaces only what it made, and only once the replacement is complete.

Hostile and careless uses of ``--overwrite``, ``--no-resume`` and output paths (issue 20, item 1).
Each refusal is exit 2 with one line naming the path, and whatever was there is untouched.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.core.chunked import lazy_template, partial_path, run_chunked, write_zarr_atomic
from subgrid.core.errors import InputError, SchemeFailure
from subgrid.core.ownership import DEMO, MARKER, RUN, ZARR_ATTR, mark, marker
from subgrid.demo.run import run_demo
from subgrid.gravity_waves.column.dataset import write_gw_dataset
from subgrid.training.runs import start_run_directory

runner = CliRunner()
SENTINEL = "keep-me.txt"
TINY_TRAINING = ["--model", "rescnn", "--model-option", "width=8", "--model-option", "depth=1", "--epochs", "1",
                 "--batch-size", "64", "--no-progress"]  # fmt: skip


def _foreign(path, *, logs: bool = False):
    """A directory of the user's: a sentinel file (and a ``logs/`` folder, which once passed for a run)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / SENTINEL).write_text("the user's work")
    if logs:
        (path / "logs").mkdir()
        (path / "logs" / SENTINEL).write_text("the user's logs")
    return path


def _untouched(path, *, logs: bool = False) -> None:
    assert path.is_dir()
    assert (path / SENTINEL).read_text() == "the user's work"
    if logs:
        assert (path / "logs" / SENTINEL).read_text() == "the user's logs"


def _refused(result, path) -> None:
    """Exit 2 and exactly one line, naming ``path``."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert str(path) in lines[0], lines[0]


def _generate(out, *extra: str) -> list[str]:
    return ["generate", "radiation", "--columns", "120", "--levels", "12", "--chunk-size", "60", "--workers", "1",
            "--no-progress", "--out", str(out), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "rad.zarr"
    result = runner.invoke(app, _generate(path))
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    result = runner.invoke(app, ["train", "radiation", "--data", str(dataset), "--out", str(run), *TINY_TRAINING])
    assert result.exit_code == 0, result.output
    return run


# generate radiation --overwrite


def test_generate_overwrite_from_a_subdirectory_leaves_the_parent_alone(tmp_path, monkeypatch):
    parent = _foreign(tmp_path / "parent")
    (parent / "sub").mkdir()
    monkeypatch.chdir(parent / "sub")
    result = runner.invoke(app, _generate("..", "--overwrite"))
    _refused(result, "..")
    assert "not written by subgrid" in result.output
    _untouched(parent)
    assert (parent / "sub").is_dir()


@pytest.mark.parametrize("what", ["directory", "file", "symlink", "older_subgrid_dataset"])
def test_generate_overwrite_refuses_what_subgrid_did_not_make(tmp_path, what):
    user = _foreign(tmp_path / "user")
    out = tmp_path / "out.zarr"
    if what == "directory":
        out = user
    elif what == "file":
        out.write_text("not a dataset")
    elif what == "symlink":
        out.symlink_to(user, target_is_directory=True)
    else:  # a store of a version without the marker: removed by hand once
        xr.Dataset({"x": ("column", np.arange(3.0))}).to_zarr(out, zarr_format=2)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = runner.invoke(app, _generate(out, "--overwrite"))
    _refused(result, out)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    _untouched(user)
    if what == "older_subgrid_dataset":
        assert "remove it by hand" in result.output
        assert xr.open_zarr(out)["x"].values.tolist() == [0.0, 1.0, 2.0]


def _example() -> xr.Dataset:
    return xr.Dataset({"x": (("column", "level"), np.zeros((1, 3)))}, attrs={"title": "test"})


def _ones(index: int, columns: slice) -> xr.Dataset:
    return xr.Dataset({"x": (("column", "level"), np.ones((columns.stop - columns.start, 3)))})


def _twos_but_chunk_1_fails(index: int, columns: slice) -> xr.Dataset:
    if index == 1:
        raise RuntimeError("interrupted")
    return xr.Dataset({"x": (("column", "level"), np.full((columns.stop - columns.start, 3), 2.0))})


def _twos(index: int, columns: slice) -> xr.Dataset:
    return xr.Dataset({"x": (("column", "level"), np.full((columns.stop - columns.start, 3), 2.0))})


def test_interrupted_overwrite_keeps_the_previous_dataset_and_a_rerun_replaces_it(tmp_path):
    path = tmp_path / "out.zarr"
    template = lazy_template(_example(), 20, 10)
    options = {"chunk_size": 10, "workers": 1, "progress": False}
    run_chunked(path, template, _ones, job={"k": 1}, **options)
    assert marker(path)["kind"] == "dataset"
    with pytest.raises(SchemeFailure, match="1 of 2 chunks failed"):
        run_chunked(path, template, _twos_but_chunk_1_fails, job={"k": 2}, overwrite=True, **options)
    assert (xr.open_zarr(path)["x"].values == 1.0).all()  # the previous, complete dataset, as it was
    assert partial_path(path).exists()

    report = run_chunked(path, template, _twos, job={"k": 2}, overwrite=True, **options)  # the same command resumes
    assert report.skipped == [0] and report.computed == [1]
    assert (xr.open_zarr(path)["x"].values == 2.0).all()
    assert not partial_path(path).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]  # nothing set aside is left behind


# export --overwrite


def test_export_overwrite_refuses_a_foreign_directory_and_a_training_run(trained, tmp_path):
    user = _foreign(tmp_path / "user")
    result = runner.invoke(app, ["export", "--run", str(trained), "--out", str(user), "--overwrite"])
    _refused(result, user)
    _untouched(user)

    before = sorted(p.name for p in trained.iterdir())
    result = runner.invoke(app, ["export", "--run", str(trained), "--out", str(trained), "--overwrite"])
    _refused(result, trained)
    assert "training_run" in result.output
    assert sorted(p.name for p in trained.iterdir()) == before


def test_export_overwrite_replaces_its_own_artifact(trained, tmp_path):
    out = tmp_path / "artifact"
    args = ["export", "--run", str(trained), "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    created = json.loads((out / "emulator.json").read_text())["created_utc"]
    assert runner.invoke(app, args).exit_code == 2
    result = runner.invoke(app, [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (out / "emulator.json").exists() and json.loads((out / MARKER).read_text())["kind"] == "emulator_artifact"
    assert json.loads((out / "emulator.json").read_text())["created_utc"] >= created
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]


# train --no-resume


def test_train_no_resume_refuses_a_directory_that_merely_holds_logs(dataset, tmp_path):
    user = _foreign(tmp_path / "user", logs=True)
    result = runner.invoke(app, ["train", "radiation", "--data", str(dataset), "--out", str(user), "--no-resume",
                                 *TINY_TRAINING])  # fmt: skip
    _refused(result, user)
    _untouched(user, logs=True)
    assert sorted(p.name for p in user.iterdir()) == ["keep-me.txt", "logs"]


def test_train_no_resume_replaces_its_own_interrupted_run(dataset, tmp_path):
    run = tmp_path / "run"
    start_run_directory(run, resuming=False, generator="test")
    (run / "logs").mkdir()
    (run / "logs" / "stale.csv").write_text("epoch\n")
    result = runner.invoke(app, ["train", "radiation", "--data", str(dataset), "--out", str(run), "--no-resume",
                                 *TINY_TRAINING])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (run / "logs" / "stale.csv").exists() and (run / "model.safetensors").exists()
    assert marker(run)["kind"] == RUN


# zarr writers with overwrite


def test_zarr_writers_replace_only_their_own_stores(tmp_path):
    ds = xr.Dataset({"u": (("column", "level"), np.zeros((4, 2)))})
    user = _foreign(tmp_path / "user")
    for write in (lambda path: write_gw_dataset(ds, path, overwrite=True), lambda path: write_zarr_atomic(ds, path)):
        with pytest.raises(InputError, match="not written by subgrid") as refused:
            write(user)
        assert str(user) in str(refused.value) and "\n" not in str(refused.value)
        _untouched(user)

        own = tmp_path / "own.zarr"
        write(own)
        write(own)  # its own store: replaced
        assert json.loads(xr.open_zarr(own).attrs[ZARR_ATTR])["kind"] == "dataset"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["own.zarr", "user"]


# the demo's earlier results


def test_demo_refuses_a_directory_whose_runs_it_did_not_write(tmp_path):
    out = _foreign(tmp_path / "project")
    runs = _foreign(out / "runs")
    with pytest.raises(InputError, match="runs not written by subgrid demo") as refused:
        run_demo(out, quick=True, echo=lambda line: None)
    assert str(out) in str(refused.value)
    _untouched(out)
    _untouched(runs)
    assert sorted(p.name for p in out.iterdir()) == [SENTINEL, "runs"]


def test_demo_clears_its_own_earlier_results_only(tmp_path):
    from subgrid.demo.run import _clear_earlier_demo

    out = mark(_foreign(tmp_path / "demo"), DEMO, "test")
    (out / "runs" / "rescnn").mkdir(parents=True)
    (out / "radiation_train.zarr").mkdir()  # replaced by its own step (--overwrite), not here
    _clear_earlier_demo(out)
    assert not (out / "runs").exists()
    assert sorted(p.name for p in out.iterdir()) == [MARKER, SENTINEL, "radiation_train.zarr"]

    run = tmp_path / "run"
    start_run_directory(run, resuming=False, generator="test")
    with pytest.raises(InputError, match="training_run"):
        _clear_earlier_demo(run)  # a demo never takes over a directory of another kind
    assert marker(run)["kind"] == RUN
