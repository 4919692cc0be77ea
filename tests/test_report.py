"""The HTML report: self-contained, every figure embedded, every number traceable to its JSON file, and it renders.

The report under test is built from real artefacts made here: metrics dicts written as JSON and
small matplotlib figures saved as PNG, laid out the way a run lays out its results. Rendering
is checked with headless Chromium (``make system-deps`` installs it), as a reader would open it.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from subgrid.demo.report import MANIFEST, demo_report, write_demo_report
from subgrid.evaluation.report import (
    NOT_RUN,
    UNDEFINED,
    Figure,
    Number,
    Report,
    Row,
    ScreenshotError,
    Section,
    Step,
    Table,
    lookup,
    screenshot,
    write_report,
)

METRICS = {
    "overall": {"flux_mae_percent": 1.0512345, "lw_heating_rmse_K_day": 0.33217, "sw_heating_rmse_K_day": 0.2718},
    "heating_rates": {"lw_heating_rate": {"rmse_by_level_K_day": [1.84, 0.52, 0.31]}},
    "columns": 2000,
}
ONLINE = {"emulator_survived": 5, "physics_survived": 6, "cases": 6, "days": 10.0, "survivors": "5/6",
          "temperature_rmse_last_K": {"mean": 0.95012, "max": 2.1}, "stable": True, "period": None}  # fmt: skip
STEPS = (
    Step("train", "Train", "subgrid train radiation --data rad.zarr --out runs/rad --epochs 3"),
    Step("evaluate", "Evaluate", "subgrid evaluate --run runs/rad --data test.zarr --out evaluation"),
    Step("online", "Online", "subgrid online radiation --emulator artifacts/ts --cases 6 --days 10 --out online"),
)


def _png(path: Path, kind: str) -> Path:
    figure = MplFigure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    if kind == "profile":
        rmse = METRICS["heating_rates"]["lw_heating_rate"]["rmse_by_level_K_day"]
        ax.plot(rmse, np.arange(len(rmse)), "r-o")
        ax.set_xlabel("LW heating RMSE (K/day)")
    else:
        x = np.random.default_rng(0).normal(size=200)
        ax.scatter(x, x + 0.1 * np.random.default_rng(1).normal(size=200), s=4)
        ax.set_xlabel("RRTMG flux")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=80)
    return path


@pytest.fixture
def run_directory(tmp_path: Path) -> Path:
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "online").mkdir()
    (tmp_path / "online" / "online.json").write_text(json.dumps(ONLINE))
    _png(tmp_path / "evaluation" / "heating_profiles.png", "profile")
    _png(tmp_path / "online" / "drift.png", "scatter")
    return tmp_path


REPORT = Report(
    "A test report",
    (
        Section(
            "Offline",
            "Held-out columns.",
            rows=(
                Row("Flux MAE", (Number("evaluation/metrics.json", "overall.flux_mae_percent", ".2f", "%"),)),
                Row("Heating RMSE, LW and SW",
                    (Number("evaluation/metrics.json", "overall.lw_heating_rmse_K_day", ".3f", "K/day"), " and ",
                     Number("evaluation/metrics.json", "overall.sw_heating_rmse_K_day", ".3f", "K/day"))),
                Row("Top-level RMSE", (Number("evaluation/metrics.json", "heating_rates.lw_heating_rate.rmse_by_level_K_day.0"),)),
                Row("Not measured", (Number("evaluation/metrics.json", "overall.no_such_number", ".2f"),)),
            ),
            figures=(Figure("evaluation/heating_profiles.png", "Per-level error.", ("train", "evaluate")),),
        ),
        Section(
            "Online",
            tables=(Table(("", "emulator", "physics"), (
                ("survived", (Number("online/online.json", "emulator_survived", "d"),
                              Number("online/online.json", "physics_survived", "d"))),
                ("all stable", (Number("online/online.json", "stable"), None)),
            )),),
            rows=(Row("Survivors", (Number("online/online.json", "survivors"),)),
                  Row("Period", (Number("online/online.json", "period", ".1f"),))),
            figures=(Figure("online/drift.png", "Drift.", ("train", "online")),
                     Figure("online/missing.png", "Never made.", ("online",))),
        ),
    ),
    STEPS,
)  # fmt: skip


class _Parsed(HTMLParser):
    """Numbers (``span.num``: attributes and text), images, every URL-bearing attribute and the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: list[dict] = []
        self.images: list[dict] = []
        self.urls: list[str] = []
        self.text_outside_numbers: list[str] = []
        self._number: dict | None = None
        self._skip = 0  # inside <style>, <pre>, <title>

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [value for name, value in attrs.items() if name in ("src", "href") and value]
        if tag == "img":
            self.images.append(attrs)
        if tag in ("style", "pre", "title", "script"):
            self._skip += 1
        if tag == "span" and "num" in attrs.get("class", "").split():
            self._number = {**attrs, "text": ""}

    def handle_endtag(self, tag):
        if tag in ("style", "pre", "title", "script"):
            self._skip -= 1
        if tag == "span" and self._number is not None:
            self.numbers.append(self._number)
            self._number = None

    def handle_data(self, data):
        if self._number is not None:
            self._number["text"] += data
        elif not self._skip:
            self.text_outside_numbers.append(data)


def _parse(path: Path) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(path.read_text(encoding="utf-8"))
    return parsed


def _shown_as(value: object, text: str) -> bool:
    """Whether ``text`` shows ``value``: the same string or yes/no, or the number rounded to the digits shown."""
    if isinstance(value, bool):
        return text == ("yes" if value else "no")
    if isinstance(value, str):
        return text == value
    shown = float(text.replace(",", ""))
    mantissa = text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
    return abs(shown - value) <= 0.5 * 10.0 ** (exponent - decimals) * (1 + 1e-9)


def test_the_report_is_self_contained_and_written_atomically(run_directory):
    path = write_report(run_directory / "report.html", REPORT)
    parsed = _parse(path)
    assert parsed.urls and all(url.startswith("data:image/png;base64,") for url in parsed.urls), parsed.urls
    assert not re.search(r"https?://", path.read_text())
    assert "<link" not in path.read_text()  # CSS inline, no stylesheet to fetch
    assert [p.name for p in run_directory.iterdir() if p.name.startswith(".")] == []


def test_every_figure_is_embedded_with_the_commands_that_reproduce_it(run_directory):
    path = write_report(run_directory / "report.html", REPORT)
    parsed = _parse(path)
    embedded = {image["data-path"]: image["src"] for image in parsed.images}
    assert set(embedded) == {"evaluation/heating_profiles.png", "online/drift.png"}
    for name, src in embedded.items():
        assert base64.b64decode(src.removeprefix("data:image/png;base64,")) == (run_directory / name).read_bytes()
    html = path.read_text()
    assert f"online/missing.png: {NOT_RUN}" in html
    figures = html.split("<figure>")[1:]
    assert "$ subgrid train radiation" in figures[0] and "$ subgrid evaluate" in figures[0]
    assert "$ subgrid online radiation" in figures[1] and "subgrid evaluate" not in figures[1]


def test_every_number_shown_comes_from_its_json_file(run_directory):
    parsed = _parse(write_report(run_directory / "report.html", REPORT))
    shown = [n for n in parsed.numbers if "missing" not in n["class"]]
    assert len(shown) == 8
    for number in shown:
        value = lookup(json.loads((run_directory / number["data-source"]).read_text()), number["data-key"])
        assert json.loads(number["data-value"]) == value
        assert _shown_as(value, number["text"]), number
    assert {n["text"] for n in shown} >= {"1.05", "0.332", "0.272", "1.84", "5", "6", "yes", "5/6"}
    missing = [n for n in parsed.numbers if "missing" in n["class"]]
    assert [(n["data-key"], n["text"]) for n in missing] == [("overall.no_such_number", NOT_RUN), ("period", UNDEFINED)]
    # Nothing typed in: outside the numbers, the commands and the style sheet there is no digit.
    assert not re.search(r"\d", "".join(parsed.text_outside_numbers))


def test_a_figure_that_names_an_unknown_step_is_an_error(run_directory):
    bad = Report("bad", (Section("s", figures=(Figure("online/drift.png", "x", ("nowhere",)),)),), STEPS)
    with pytest.raises(ValueError, match="unknown step"):
        write_report(run_directory / "report.html", bad)


def test_the_demo_report_shows_what_ran_and_marks_the_rest_not_run(run_directory):
    """A demo interrupted after evaluation: its numbers and figures show, the later ones say so."""
    manifest = {
        "subgrid_version": "0.1.0", "started_utc": "2026-01-01 10:00 UTC", "finished_utc": "2026-01-01 10:03 UTC",
        "status": "failed", "wall_s": 181.5, "cpu_count": 2,
        "steps": [{"name": s.name, "title": s.title, "command": s.command, "wall_s": 60.5, "status": "complete"}
                  for s in STEPS],
        "report_command": "python -c 'from subgrid.demo.report import write_demo_report; write_demo_report(\"demo\")'",
    }  # fmt: skip
    (run_directory / MANIFEST).write_text(json.dumps(manifest))
    assert [step.name for step in demo_report(run_directory).steps] == ["train", "evaluate", "online", "report"]
    with pytest.raises(ValueError, match="unknown step"):  # the demo's figures need the demo's steps
        write_demo_report(run_directory)
    names = ("generate_train", "generate_test", "train", "evaluate", "export_torchscript", "export_onnx", "fortran",
             "online", "generate_replay", "train_replay", "replay", "speed", "generate_gw", "train_gw", "online_gw", "generate_gw_gridded", "train_gw_unet",
             "train_gw_prithvi", "compare_gw", "gcm_control", "gcm_forecasts")  # fmt: skip
    manifest["steps"] = [{**manifest["steps"][0], "name": name, "title": name} for name in names]
    (run_directory / MANIFEST).write_text(json.dumps(manifest))
    parsed = _parse(write_demo_report(run_directory))
    shown = {n["data-key"]: n["text"] for n in parsed.numbers if "missing" not in n["class"]}
    assert shown["overall.flux_mae_percent"] == "1.05" and shown["status"] == "failed"
    assert shown["emulator_survived"] == "5" and shown["steps.12.wall_s"] == "60.5"
    not_run = {n["data-source"] for n in parsed.numbers if "missing" in n["class"]}
    assert {"fortran/fortran.json", "speed/speed.json", "qbo_online/metrics.json", "replay/replay.json"} <= not_run
    assert {image["data-path"] for image in parsed.images} == {"evaluation/heating_profiles.png", "online/drift.png"}
    for number in (n for n in parsed.numbers if "missing" not in n["class"]):
        value = lookup(json.loads((run_directory / number["data-source"]).read_text()), number["data-key"])
        assert _shown_as(value, number["text"]), number
    # The only digits outside numbers and commands name the QBO's reference heights and the pressure levels
    # of the forecast fields (T850, Z500, u250).
    assert set(re.findall(r"\d+", "".join(parsed.text_outside_numbers))) == {"25", "20", "850", "500", "250"}


def test_chromium_renders_the_report_and_the_figures_show(run_directory, tmp_path):
    report = write_report(run_directory / "report.html", REPORT)
    stats = screenshot(report, tmp_path / "report.png", width=1000)
    figures = report.read_text().count("<img ")
    assert figures > 0 and stats["figures"] == stats["figures_rendered"] == figures, stats
    # The whole page is in the picture: its height is the page's, more than a screen.
    assert stats["width"] == 1000 and stats["height"] == stats["page_height"] > 1000, stats
    assert stats["grey_std"] > 10 and stats["non_white_fraction"] > 0.02, stats

    # A figure whose data is corrupt is caught, not just a blank page.
    broken = run_directory / "broken.html"
    broken.write_text(report.read_text().replace("base64,iVBOR", "base64,AAAA", 1))
    with pytest.raises(ScreenshotError, match=f"{figures - 1} of {figures} figures rendered"):
        screenshot(broken, tmp_path / "broken.png", width=1000)

    blank = run_directory / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    with pytest.raises(ScreenshotError, match="blank"):
        screenshot(blank, tmp_path / "blank.png", width=400, height=300)
