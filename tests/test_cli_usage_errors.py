"""Usage errors typer finds while parsing are one line on stderr naming the option, exit status 2.

A value below an option's minimum, a value of the wrong type, an unknown option or command and a
missing required option used to print typer's usage panel (several lines in a box); now they print
``error: OPTION: problem (command)``, as every other error of the command line does
(:class:`subgrid.cli.errors.OneLineUsageErrors`). Help is unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from subgrid.cli.main import app

runner = CliRunner()

CASES = {
    "below_min_days": (["online", "radiation", "--emulator", "{tmp}", "--days", "0"], "--days", "at least one"),
    "below_min_source_flux_scale": (["online", "gw", "--emulator", "{tmp}", "--source-flux-scale", "0"],
                                    "--source-flux-scale", "> 0"),  # fmt: skip
    "below_min_columns": (["generate", "radiation", "--out", "{tmp}/x.zarr", "--columns", "0"], "--columns", "1"),
    "not_an_integer": (["generate", "radiation", "--out", "{tmp}/x.zarr", "--columns", "many"], "--columns", "integer"),
    "not_a_number": (["online", "radiation", "--emulator", "{tmp}", "--days", "ten"], "--days", "number"),
    "unknown_option": (["online", "radiation", "--emulator", "{tmp}", "--dayz", "1"], "--dayz", "no such option"),
    "unknown_top_level_option": (["--verbose"], "--verbose", "no such option"),
    "missing_required_option": (["generate", "radiation", "--columns", "10"], "--out", "required"),
    "missing_argument": (["summary"], "PATH", "required"),
    "unknown_command": (["generate", "weather"], "weather", "No such command"),
}


def _arguments(template: list[str], tmp_path: Path) -> list[str]:
    return [argument.replace("{tmp}", str(tmp_path)) for argument in template]


def _one_line(stderr: str, option: str, fragment: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and option in lines[0] and fragment in lines[0], stderr
    assert "Usage:" not in stderr and "╭" not in stderr and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_usage_error_is_one_line_naming_the_option(case, tmp_path):
    template, option, fragment = CASES[case]
    sentinel = tmp_path / "keep.txt"
    sentinel.write_text("the user's file")
    result = runner.invoke(app, _arguments(template, tmp_path))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    line = _one_line(result.stderr, option, fragment)
    assert result.output.strip() == line  # nothing else on either stream
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"] and sentinel.read_text() == "the user's file"


def test_usage_error_names_option_then_problem_then_command(tmp_path):
    result = runner.invoke(app, ["online", "gw", "--emulator", str(tmp_path), "--source-flux-scale", "0"], prog_name="subgrid")
    assert result.stderr.strip() == "error: --source-flux-scale: must be > 0, got 0 (subgrid online gw)"
    result = runner.invoke(app, ["generate", "radiation", "--columns", "10"], prog_name="subgrid")
    assert result.stderr.strip() == "error: --out: missing; this option is required (subgrid generate radiation)"
    result = runner.invoke(app, ["--verbose"], prog_name="subgrid")
    assert result.stderr.strip() == "error: --verbose: no such option; did you mean --version? (subgrid)"


def test_help_is_unchanged():
    for arguments in (["--help"], ["online", "radiation", "--help"], ["generate", "radiation", "--help"]):
        result = runner.invoke(app, arguments, terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output and "--help" in result.output and "error:" not in result.output
    group = runner.invoke(app, ["generate"])  # a group without a command shows its help, as before
    assert group.exit_code == 2 and "radiation" in group.output and "error:" not in group.output


def test_in_process_callers_get_the_line_and_status_2(capsys):
    """The demo runs its steps with ``app(arguments, standalone_mode=False)``: a status, not an exception."""
    status = app(["generate", "radiation", "--columns", "0", "--out", "x.zarr"], standalone_mode=False, prog_name="subgrid")
    assert status == 2
    assert capsys.readouterr().err.startswith("error: --columns: ")


@pytest.mark.slow  # a fresh interpreter imports the whole package: seconds
@pytest.mark.parametrize("launcher", ["subgrid", "python -m subgrid.cli"])
def test_installed_command_and_module_print_one_line(launcher, tmp_path):
    command = [str(Path(sys.executable).with_name("subgrid"))] if launcher == "subgrid" else [sys.executable, "-m", "subgrid.cli"]
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]}: the package is not installed with its script")
    done = subprocess.run([*command, "online", "radiation", "--emulator", str(tmp_path), "--days", "0"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    line = _one_line(done.stderr, "--days", "at least one")
    assert line.endswith("radiation)")
