"""Hostile inputs that used to end in a traceback (issue 20, item 7): each now ends in one line.

Every CLI case asserts the exit status, a one-line message naming the file or variable, and that a
sentinel file beside the inputs is neither deleted nor changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from subgrid.cli.errors import INTERRUPTED, one_line_errors
from subgrid.cli.main import app
from subgrid.core.chunked import _writing
from subgrid.core.contract import Guarded
from subgrid.core.errors import InputError, Interrupted
from subgrid.core.stores import open_store
from subgrid.physics.schema import RADIATION_OUTPUTS
from subgrid.radiation.emulator import SIDECAR, Emulator

from conftest import make_columns


@pytest.fixture
def sentinel(tmp_path):
    """A file that no command may delete or change."""
    path = tmp_path / "sentinel.txt"
    path.write_text("keep me")
    yield path
    assert path.read_text() == "keep me"


def _one_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def _radiation_store(path, n_columns: int = 6, n_levels: int = 8):
    """A small dataset laid out as a generated one (inputs and outputs, surface first), as zarr."""
    ds = make_columns(n_columns, n_levels)
    for name, var in RADIATION_OUTPUTS.items():
        shape = tuple(ds.sizes[dim] for dim in var.dims)
        ds[name] = xr.Variable(var.dims, np.broadcast_to(np.arange(shape[-1], dtype=float), shape), var.attrs())
    ds.to_zarr(path, zarr_format=2, consolidated=True, encoding={n: {"chunks": ds[n].shape} for n in ds.data_vars})
    return path


# -- typed configs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [('epochs: "lots"\n', "epochs"), ("batch_size: 16.7\n", "batch_size"), ("epochs: [1, 2\n", "not valid YAML")],
)
def test_wrong_typed_or_malformed_yaml_is_one_line(tmp_path, sentinel, text, named):
    config = tmp_path / "train.yaml"
    config.write_text(text)
    line = _one_line(_invoke("train", "radiation", "--data", str(tmp_path / "none.zarr"), "--out",
                             str(tmp_path / "run"), "--config", str(config)))  # fmt: skip
    assert "train.yaml" in line and named in line
    assert not (tmp_path / "run").exists()


# -- summary of the wrong kind of dataset, damaged chunks ------------------------------------------


def test_summary_of_a_gravity_wave_dataset_names_what_is_missing(tmp_path, sentinel):
    gw = xr.Dataset({"u": (("column", "level"), np.zeros((3, 4))), "gw_drag": (("column", "level"), np.zeros((3, 4)))})
    gw.to_zarr(tmp_path / "gw.zarr", zarr_format=2)
    line = _one_line(_invoke("summary", str(tmp_path / "gw.zarr")))
    assert "gw.zarr" in line and "cos_solar_zenith_angle" in line


def test_summary_of_a_radiation_dataset_still_works(tmp_path, sentinel):
    result = _invoke("summary", str(_radiation_store(tmp_path / "rad.zarr")), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["columns"] == 6


def test_a_truncated_chunk_names_the_store_and_the_variable(tmp_path, sentinel):
    store = _radiation_store(tmp_path / "rad.zarr")
    chunk = store / "lw_flux_up" / "0.0"
    chunk.write_bytes(chunk.read_bytes()[:40])
    line = _one_line(_invoke("summary", str(store)))
    assert "rad.zarr" in line and "lw_flux_up" in line and "damaged or truncated" in line
    with pytest.raises(InputError, match="lw_flux_up"):
        open_store(store).load()


def test_open_store_reads_what_xarray_reads(tmp_path):
    store = _radiation_store(tmp_path / "rad.zarr")
    ours, theirs = open_store(store), xr.open_zarr(store)
    for name in theirs.variables:
        np.testing.assert_array_equal(ours[name].values, theirs[name].values)
    assert ours.attrs == theirs.attrs


# -- emulator sidecars and empty states ------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda s: s.pop("n_levels"), "n_levels"),
        (lambda s: s.update(n_levels="sixty"), "n_levels"),
        (lambda s: s.pop("fallback_scheme"), "fallback_scheme"),
        (lambda s: s["fallback_scheme"]["settings"].update(bogus=1), "fallback_scheme.settings"),
        (lambda s: s.pop("training_range"), "training_range"),
    ],
)
def test_a_sidecar_without_what_loading_needs_is_one_line(tmp_path, edit, named):
    sidecar = {"format": "torchscript", "artifact": "emulator.pt", "n_levels": 8,
               "fallback_scheme": {"settings": {}}, "training_range": {"features": {}}}  # fmt: skip
    edit(sidecar)
    (tmp_path / SIDECAR).write_text(json.dumps(sidecar))
    with pytest.raises(InputError, match=named) as error:
        Emulator.load(tmp_path)
    assert SIDECAR in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("content", [b"not json {", b"", b"[1, 2]", b"\xff\xfe\x00garbage"])
def test_a_sidecar_that_is_not_a_json_object_is_one_line(tmp_path, content):
    (tmp_path / SIDECAR).write_bytes(content)
    with pytest.raises(InputError, match=SIDECAR):
        Emulator.load(tmp_path)


def test_the_guard_on_zero_columns_returns_empty_outputs():
    class Twice:
        inputs = outputs = {}

        def tendencies(self, state):
            return {"y": 2 * np.asarray(state["x"])}

    guarded = Guarded(Twice(), Twice(), out_of_distribution=lambda state: np.zeros(len(state["x"]), dtype=bool))
    out = guarded.tendencies({"x": np.zeros((0, 5))})
    assert out["y"].shape == (0, 5)


# -- outputs: a file in the way, two runs on one output, Ctrl-C --------------------------------------


def test_generate_over_a_regular_file_is_refused_before_any_work(tmp_path, sentinel):
    target = tmp_path / "FILE"
    target.write_text("not a dataset")
    line = _one_line(_invoke("generate", "radiation", "--out", str(target), "--overwrite", "--columns", "4",
                             "--levels", "20", "--chunk-size", "2", "--workers", "1", "--no-summary"))  # fmt: skip
    assert "FILE" in line
    assert target.read_text() == "not a dataset"
    assert not (tmp_path / "FILE.partial").exists()


def test_the_second_run_on_one_output_is_refused_naming_the_first(tmp_path, sentinel):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "out.zarr.partial.lock").write_text(f"{holder.pid}\n")
        line = _one_line(_invoke("generate", "radiation", "--out", str(tmp_path / "out.zarr"), "--columns", "4",
                                 "--levels", "20", "--chunk-size", "2", "--workers", "1", "--no-summary"))  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert "out.zarr.partial.lock" in line and f"pid {holder.pid}" in line
    assert (tmp_path / "out.zarr.partial.lock").read_text() == f"{holder.pid}\n"  # the holder's lock is left alone


def test_the_lock_of_a_dead_run_is_taken_over_and_released(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    partial = tmp_path / "out.zarr.partial"
    lock = tmp_path / "out.zarr.partial.lock"
    lock.write_text(f"{dead.pid}\n")
    with _writing(partial):
        assert lock.read_text() == f"{os.getpid()}\n"
    assert not lock.exists()


def test_ctrl_c_in_a_chunked_run_says_what_is_kept(tmp_path):
    partial = tmp_path / "out.zarr.partial"
    partial.mkdir()
    with pytest.raises(Interrupted, match="finished chunks are kept in .*out.zarr.partial; run the same command"):
        with _writing(partial):
            raise KeyboardInterrupt
    assert partial.exists() and not (tmp_path / "out.zarr.partial.lock").exists()


def _command_raising(error: BaseException):
    import typer

    command = typer.Typer()

    @command.command()
    @one_line_errors
    def run() -> None:
        raise error

    return command


def test_the_cli_prints_ctrl_c_as_one_line_with_status_130():
    kept = Interrupted("interrupted: finished chunks are kept in X.zarr.partial; run the same command again to resume")
    line = _one_line(CliRunner().invoke(_command_raising(kept), []), INTERRUPTED)
    assert line == str(kept)
    assert _one_line(CliRunner().invoke(_command_raising(KeyboardInterrupt()), []), INTERRUPTED) == "interrupted"


def test_the_cli_prints_lightnings_ctrl_c_exit_with_the_runs_note():
    """Lightning turns Ctrl-C into sys.exit(1); the trainer's callback has noted what is kept on the interrupt."""
    interrupt = KeyboardInterrupt()
    interrupt.add_note("interrupted: the checkpoints of finished epochs are kept in run/checkpoints; run the same "
                       "command again to resume")  # fmt: skip
    exit_ = SystemExit(1)
    exit_.__context__ = interrupt
    line = _one_line(CliRunner().invoke(_command_raising(exit_), []), INTERRUPTED)
    assert line.startswith("interrupted: the checkpoints") and "run/checkpoints" in line
