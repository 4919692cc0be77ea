"""The command line: complete help, one-line errors, and the same results as the Python API."""

from __future__ import annotations

import xarray as xr
from typer.testing import CliRunner

from subgrid.cli.main import app

runner = CliRunner()


def test_help_lists_commands_and_options():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("generate", "summary", "demo"):
        assert command in result.output
    result = runner.invoke(app, ["generate", "radiation", "--help"])
    assert result.exit_code == 0
    for option in ("--columns", "--levels", "--seed", "--workers", "--out", "--chunk-size", "--scheduler"):
        assert option in result.output


def test_generate_writes_a_dataset_and_prints_a_summary(tmp_path):
    out = tmp_path / "rad.zarr"
    args = ["generate", "radiation", "--columns", "40", "--levels", "12", "--seed", "5", "--chunk-size", "20",
            "--workers", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "40 columns x 12 levels in 2 chunks (2 computed, 0 resumed)" in result.output
    assert "olr_W_m2" in result.output
    assert xr.open_zarr(out).sizes == {"column": 40, "level": 12, "interface": 13}

    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert again.output.strip().splitlines() == [f"error: {out}: already exists (pass overwrite to replace it)"]

    summary = runner.invoke(app, ["summary", str(out), "--json"])
    assert summary.exit_code == 0 and '"columns": 40' in summary.output


def test_errors_are_one_line_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["summary", str(tmp_path / "missing.zarr")])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'missing.zarr'}: no such dataset"
    result = runner.invoke(app, ["generate", "radiation", "--columns", "0", "--out", str(tmp_path / "x.zarr")])
    assert result.exit_code == 2 and "Traceback" not in result.output
