"""The demo: every step is a command the CLI accepts, the README states its real sizes, and it runs end to end."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.demo.run import DemoConfig, demo_steps, report_step, run_demo
from subgrid.core.errors import InputError
from subgrid.evaluation.report import lookup, screenshot

README = Path(__file__).resolve().parents[1] / "README.md"
runner = CliRunner()


@pytest.mark.parametrize("config", [DemoConfig(), DemoConfig.quick()], ids=["default", "quick"])
def test_every_cli_step_is_accepted_by_the_cli(config, tmp_path):
    """Appending --help parses every option of the command (an unknown one is an error) without running it."""
    for step in demo_steps(tmp_path / "demo", config):
        if step.python:
            continue
        result = runner.invoke(app, [*step.arguments, "--help"])
        assert result.exit_code == 0, f"{step.command}\n{result.output}"


def test_python_steps_call_functions_that_exist(tmp_path):
    steps = [s for s in (*demo_steps(tmp_path, DemoConfig()), report_step(tmp_path)) if s.python]
    assert [s.name for s in steps] == ["fortran", "speed", "report"]
    for step in steps:
        module, name = re.match(r"from ([\w.]+) import (\w+);", step.python).groups()
        assert callable(getattr(__import__(module, fromlist=[name]), name))
        compile(step.python, step.name, "exec")
        assert step.command.startswith("python -c 'from subgrid.")  # one shell word, paths in double quotes


def test_the_readme_states_the_demo_sizes():
    text = README.read_text().replace("\u202f", " ")
    c = DemoConfig()
    for stated in (f"{c.columns:,} sampled columns".replace(",", " "), f"{c.test_columns:,} with another".replace(",", " "),
                   f"width {c.width}, depth {c.depth}, {c.epochs} epochs", f"{c.online_cases} single-column cases for "
                   f"{c.online_days:g} days", f"{c.qbo_years:g} years of online QBO", f"{c.fortran_columns} held-out columns",
                   f"width {c.replay_width}, depth {c.replay_depth},\n   {c.replay_epochs} epochs on "
                   + f"{c.replay_columns:,} columns".replace(",", " "), f"{c.replay_cases} cases of {c.replay_days:g} days",
                   f"up to {c.replay_rounds} rounds", f"{c.gcm_control_days:g}-day RRTMG control",
                   f"{c.forecast_starts} starts of {c.forecast_days:g} days", f"T21, {c.gw_gridded_levels} σ levels",
                   f"{c.gw_gridded_days:g} recorded days", f"trained {c.gw_gridded_epochs} epochs each"):  # fmt: skip
        assert stated in text, stated


def test_bad_sizes_are_refused():
    with pytest.raises(InputError, match="DemoConfig.epochs: must be a positive integer"):
        DemoConfig(epochs=0)
    with pytest.raises(InputError, match="DemoConfig.columns: must be a positive integer"):
        DemoConfig(columns=1.5e4)
    assert DemoConfig(online_days=0.5).online_days == 0.5
    with pytest.raises(InputError, match="speed_batches"):
        DemoConfig(test_columns=500, speed_batches=(1, 1024))
    with pytest.raises(InputError, match="qbo_spinup_years"):
        DemoConfig(qbo_years=4.0, qbo_spinup_years=4.0)
    with pytest.raises(InputError, match="forecast_lead_step_days: must divide gcm_control_days"):
        DemoConfig(forecast_lead_step_days=0.75, forecast_days=1.5, gcm_control_days=2.0)


@pytest.mark.slow
def test_the_quick_demo_runs_every_step_and_its_report_renders(tmp_path):
    lines: list[str] = []
    result = run_demo(tmp_path / "demo", quick=True, progress=False, echo=lines.append,
                      cli=lambda arguments: app(arguments, standalone_mode=False, prog_name="subgrid"))
    manifest = json.loads(result.manifest.read_text())
    assert manifest["status"] == "complete"
    assert all(step["status"] == "complete" and step["wall_s"] > 0 for step in manifest["steps"])
    printed = "\n".join(lines)
    for step in manifest["steps"]:
        assert f"$ {step['command']}" in printed

    html = result.report.read_text()
    assert "not run" not in html and not re.search(r"(src|href)=\"https?:", html)
    assert html.count('src="data:image/png;base64,') == 11
    for source, key, value in re.findall(r'data-source="([^"]+)" data-key="([^"]+)" data-value="([^"]+)"', html):
        assert lookup(json.loads((result.out / source).read_text()), key) == json.loads(unescape(value))
    fortran = json.loads((result.out / "fortran" / "fortran.json").read_text())
    assert fortran["max_abs_flux_difference_W_m2"] <= 1e-3 and fortran["columns"] == DemoConfig.quick().fortran_columns
    speed = json.loads((result.out / "speed" / "speed.json").read_text())
    assert set(speed["batches"]) == {str(b) for b in DemoConfig.quick().speed_batches}
    forecasts = json.loads((result.out / "gcm" / "forecasts" / "summary.json").read_text())
    assert forecasts["scored_starts"] == DemoConfig.quick().forecast_starts == forecasts["emulator_completed"]
    assert forecasts["speed"]["radiation_speedup"] > 1.0  # the emulator's radiation is faster than RRTMG's
    gridded = json.loads((result.out / "gw_gridded_comparison" / "comparison.json").read_text())
    assert [row["run"] for row in gridded["rows"]] == ["Attention U-Net", "PrithviGW"]
    assert all(0 <= row["hellinger_mean"] <= 1 and row["parameters"] > 0 for row in gridded["rows"])

    stats = screenshot(result.report, tmp_path / "report.png")
    assert stats["grey_std"] > 10 and stats["non_white_fraction"] > 0.02, stats
