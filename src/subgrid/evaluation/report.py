"""A self-contained HTML report of a pipeline run: numbers read from its JSON results, figures from its PNGs.

The report is built from what a run wrote and nothing else. Every number shown is a
:class:`Number`: a key path into a JSON file of the run (``overall.flux_mae_percent`` in
``evaluation/metrics.json``), looked up when the report is written and rendered as

    <span class="num" data-source="evaluation/metrics.json" data-key="overall.flux_mae_percent"
          data-value="1.0512...">1.05</span>

so anyone (and ``tests/test_report.py``) can trace it back to its file; a number whose file or
key is missing shows as "not run", one the run recorded as null as "undefined". Figures are PNG
files of the run, embedded as base64 data URIs, and under each one are the exact commands that
reproduce it (the :class:`Step` commands recorded by the run). CSS is inline and nothing is fetched from the network, so the file can be
mailed, archived or opened offline. It is written atomically (temporary file, then rename).

:func:`screenshot` renders a report with headless Chromium and checks the picture is not blank.
The demo's layout is :mod:`subgrid.demo.report`.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from subgrid.core.errors import InputError, SubgridError

#: What a number whose file or key is missing shows.
NOT_RUN = "not run"
#: What a number shows whose run recorded it as null (e.g. a QBO period where the wind never turned).
UNDEFINED = "undefined"


# --------------------------------------------------------------------------------------------
# The content model


@dataclass(frozen=True)
class Number:
    """A value of the run: ``key`` (dots between keys; digits index lists) in JSON file ``source``.

    ``source`` is relative to the report's directory. ``fmt`` is the format spec of a number
    (``".2f"``); booleans show as yes/no and strings as they are. ``unit`` is printed after the value.
    """

    source: str
    key: str
    fmt: str = ".3g"
    unit: str = ""


@dataclass(frozen=True)
class Row:
    """A labelled line of a section: text pieces and numbers, in order (``("", Number(...), " of ", ...)``)."""

    label: str
    parts: tuple[str | Number, ...]


@dataclass(frozen=True)
class Table:
    """A table whose body cells are numbers (``None``: an empty cell).

    Each row is ``(label, cells)``; with ``labelled=False`` the label is not shown and every
    column holds numbers.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Number | None, ...]], ...]
    caption: str = ""
    labelled: bool = True

    def __post_init__(self) -> None:
        expected = len(self.columns) - (1 if self.labelled else 0)
        for label, cells in self.rows:
            if len(cells) != expected:
                raise InputError(f"Table row {label!r}: {len(cells)} cells for {expected} value columns")


@dataclass(frozen=True)
class Figure:
    """A PNG of the run (``path`` relative to the report) and the steps whose commands reproduce it, in order."""

    path: str
    caption: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    """A titled part of the report: prose, labelled rows, tables, figures, and commands of figure-less results."""

    title: str
    text: str = ""
    rows: tuple[Row, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One command of the run: its name (figures refer to it), what it does, the exact command line."""

    name: str
    title: str
    command: str


@dataclass(frozen=True)
class Report:
    """Everything a report shows; ``header`` rows come first (run, version, timing)."""

    title: str
    sections: tuple[Section, ...]
    steps: tuple[Step, ...]
    header: tuple[Row, ...] = ()
    footer: str = ""


# --------------------------------------------------------------------------------------------
# Looking values up


def lookup(document: object, key: str) -> object:
    """The value at dotted ``key`` in a parsed JSON document; ``KeyError`` if a part is missing.

    Parts that are digits index lists (``rounds.0.survivors``); any other part is a mapping key.
    A ``null`` on the way is the value (``rounds.3.harvested.precrash`` of a round that harvested
    nothing is ``None``, undefined, not missing).
    """
    value = document
    for part in key.split("."):
        if value is None:
            return None
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(key)
    return value


def format_value(value: object, fmt: str) -> str:
    """How a number is shown: booleans as yes/no, strings as they are, numbers with ``fmt``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return format(value, fmt)
    raise InputError(f"cannot show a {type(value).__name__} as a number: {value!r}")


def _document(directory: Path, source: str, cache: dict) -> object | None:
    if source not in cache:
        path = directory / source
        cache[source] = json.loads(path.read_text()) if path.is_file() else None
    return cache[source]


def _value(document: object | None, number: Number) -> tuple[object, str | None]:
    """The value of ``number`` in its parsed file and, when there is none to show, what to show instead."""
    if document is None:
        return None, NOT_RUN
    try:
        value = lookup(document, number.key)
    except KeyError:
        return None, NOT_RUN
    if value is None:
        return None, UNDEFINED
    if isinstance(value, dict | list):
        raise InputError(f"{number.source}: {number.key} is a {type(value).__name__}, not a number")
    return value, None


def _number_html(directory: Path, number: Number, cache: dict) -> str:
    attributes = f'data-source="{html.escape(number.source)}" data-key="{html.escape(number.key)}"'
    value, instead = _value(_document(directory, number.source, cache), number)
    if instead is not None:
        return f'<span class="num missing" {attributes}>{instead}</span>'
    unit = f'&nbsp;<span class="unit">{html.escape(number.unit)}</span>' if number.unit else ""
    shown = format_value(value, number.fmt)
    data_value = html.escape(json.dumps(value), quote=True)
    return f'<span class="num" {attributes} data-value="{data_value}">{html.escape(shown)}</span>{unit}'


def _parts_html(directory: Path, parts: Sequence[str | Number], cache: dict) -> str:
    return "".join(
        _number_html(directory, part, cache) if isinstance(part, Number) else html.escape(part) for part in parts
    )


# --------------------------------------------------------------------------------------------
# Rendering

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2430; background: #fff;
       margin: 0 auto; max-width: 1100px; padding: 24px 32px 64px; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 2px solid #d8dee8; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { padding: 4px 12px; border-bottom: 1px solid #e4e8ef; text-align: left; vertical-align: top; }
th { background: #f3f5f9; font-weight: 600; }
td.value { font-variant-numeric: tabular-nums; }
table.values td:not(:first-child), table.values th:not(:first-child), table.unlabelled td, table.unlabelled th {
  text-align: right; }
.num { font-weight: 600; font-variant-numeric: tabular-nums; }
.missing { color: #9a3b3b; font-weight: 400; font-style: italic; }
.unit { color: #4a5568; }
figure { margin: 1.4em 0; }
figure img { max-width: 100%; border: 1px solid #e4e8ef; }
figcaption { color: #4a5568; margin: 0.3em 0; }
.reproduce { font-size: 0.85em; color: #4a5568; margin: 0.3em 0 0; }
pre { background: #f6f8fa; border: 1px solid #e4e8ef; padding: 8px 12px; overflow-x: auto;
      white-space: pre-wrap; word-break: break-all; font-size: 0.82em; margin: 0.3em 0 1em; }
.header td { border: none; padding: 2px 12px 2px 0; }
footer { margin-top: 3em; color: #6b7280; font-size: 0.85em; }
"""


def _commands_html(steps: dict[str, Step], names: Sequence[str]) -> str:
    unknown = [name for name in names if name not in steps]
    if unknown:
        raise InputError(f"report: figure or section refers to unknown step(s) {', '.join(unknown)}")
    lines = "\n".join(f"$ {steps[name].command}" for name in names)
    return f'<p class="reproduce">Reproduce with:</p>\n<pre><code>{html.escape(lines)}</code></pre>'


def _image_html(directory: Path, figure: Figure) -> str:
    path = directory / figure.path
    if not path.is_file():
        return f'<p class="missing">{html.escape(figure.path)}: {NOT_RUN}</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(figure.caption)}" data-path="{html.escape(figure.path)}" src="data:image/png;base64,{data}">'


def _table_html(directory: Path, table: Table, cache: dict) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in table.columns)
    body = []
    for label, cells in table.rows:
        values = "".join(
            f'<td class="value">{_number_html(directory, cell, cache) if cell is not None else ""}</td>' for cell in cells
        )
        label_cell = f"<td>{html.escape(label)}</td>" if table.labelled else ""
        body.append(f"<tr>{label_cell}{values}</tr>")
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    css_class = "values" if table.labelled else "values unlabelled"
    return f'<table class="{css_class}">{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _rows_html(directory: Path, rows: Sequence[Row], cache: dict, css_class: str = "rows") -> str:
    lines = "".join(
        f'<tr><td>{html.escape(row.label)}</td><td class="value">{_parts_html(directory, row.parts, cache)}</td></tr>'
        for row in rows
    )
    return f'<table class="{css_class}"><tbody>{lines}</tbody></table>'


def render_report(directory: str | Path, report: Report) -> str:
    """The HTML of ``report``, reading numbers and figures from files under ``directory``."""
    directory = Path(directory)
    steps = {step.name: step for step in report.steps}
    cache: dict = {}
    body = [f"<h1>{html.escape(report.title)}</h1>"]
    if report.header:
        body.append(_rows_html(directory, report.header, cache, "header"))
    for section in report.sections:
        body.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.text:
            body.append(f"<p>{html.escape(section.text)}</p>")
        if section.rows:
            body.append(_rows_html(directory, section.rows, cache))
        body.extend(_table_html(directory, table, cache) for table in section.tables)
        for figure in section.figures:
            body.append(
                f"<figure>{_image_html(directory, figure)}<figcaption>{html.escape(figure.caption)}</figcaption>"
                f"{_commands_html(steps, figure.steps)}</figure>"
            )
        if section.steps:
            body.append(_commands_html(steps, section.steps))
        body.append("</section>")
    if report.footer:
        body.append(f"<footer>{html.escape(report.footer)}</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(report.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{RENDER_CHECK_SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_report(path: str | Path, report: Report) -> Path:
    """Render ``report`` from the files beside ``path`` and write it there atomically; return the path."""
    path = Path(path)
    text = render_report(path.parent, report)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------
# Looking at it: headless Chromium


#: Run by the page once loaded: how many figures Chromium decoded (a broken image has no natural
#: width), and the page height, as attributes of <body> that :func:`rendered_figures` reads back.
RENDER_CHECK_SCRIPT = (
    'window.addEventListener("load", function () {'
    " var images = Array.from(document.images);"
    " document.body.dataset.figures = images.length;"
    " document.body.dataset.figuresRendered = images.filter(function (i) { return i.complete && i.naturalWidth; }).length;"
    " document.body.dataset.pageHeight = Math.ceil(document.documentElement.scrollHeight); });"
)
#: Tallest screenshot taken (Chromium's limit for one window is about this).
MAX_SCREENSHOT_HEIGHT = 16384


class ScreenshotError(SubgridError, RuntimeError):
    """Chromium is missing, failed, or rendered a blank page."""


def find_chromium() -> str:
    """The Chromium executable (``chromium``, ``chromium-browser`` or ``google-chrome``)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise ScreenshotError("no Chromium found (apt-get install -y chromium, or make system-deps)")


def _chromium(report: Path, options: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="subgrid-chromium-") as profile:
        command = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", f"--user-data-dir={profile}", *options, report.as_uri()]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as error:
            raise ScreenshotError(f"chromium took more than {timeout_s:g} s on {report}") from error
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-5:])
        raise ScreenshotError(f"chromium failed on {report} (exit {result.returncode}): {tail}")
    return result


def rendered_figures(report: str | Path, *, width: int = 1280, timeout_s: float = 120.0) -> dict:
    """Load ``report`` in headless Chromium and ask the page which figures it decoded.

    The report's own script (:data:`RENDER_CHECK_SCRIPT`) counts, once the page has loaded, the
    images Chromium decoded to a non-zero size, and the page height; this reads them back from
    the rendered DOM. Returns ``{"figures", "figures_rendered", "page_height"}`` (``None`` where
    the page carries no such script).
    """
    report = Path(report).resolve()
    if not report.is_file():
        raise InputError(f"{report}: no such report")
    dom = _chromium(report, [f"--window-size={width},1000", "--virtual-time-budget=10000", "--dump-dom"],
                    timeout_s).stdout  # fmt: skip
    body = re.search(r"<body([^>]*)>", dom)
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1))) if body else {}

    def number(name: str) -> int | None:
        value = attributes.get(f"data-{name}")
        return int(value) if value is not None and value.isdigit() else None

    return {name.replace("-", "_"): number(name) for name in ("figures", "figures-rendered", "page-height")}


def screenshot(
    report: str | Path, png: str | Path, *, width: int = 1280, height: int | None = None, timeout_s: float = 120.0
) -> dict:
    """Render ``report`` with headless Chromium into ``png``; check the figures rendered; return statistics.

    ``height``: of the window, pixels; by default the whole page (at most 16 384). Raises
    :class:`ScreenshotError` when Chromium fails, when a figure of the page did not render
    (:func:`rendered_figures`), or when the picture is blank (a single colour: no text or figure
    rendered). The statistics: size, standard deviation of the grey levels (0-255), the fraction
    of pixels that are not near-white, and the figures rendered of those on the page.
    """
    from PIL import Image

    report, png = Path(report).resolve(), Path(png).resolve()
    figures = rendered_figures(report, width=width, timeout_s=timeout_s)
    if figures["figures"] is not None and figures["figures_rendered"] != figures["figures"]:
        raise ScreenshotError(f"{report}: {figures['figures_rendered']} of {figures['figures']} figures rendered")
    if height is None:
        height = min(figures["page_height"] or 4000, MAX_SCREENSHOT_HEIGHT)
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _chromium(report, [f"--window-size={width},{height}", f"--screenshot={png}"], timeout_s)
    if not png.is_file():
        raise ScreenshotError(f"chromium wrote no screenshot of {report}")
    with Image.open(png) as image:
        grey = np.asarray(image.convert("L"), dtype=float)
    stats = {
        "png": str(png),
        "width": int(grey.shape[1]),
        "height": int(grey.shape[0]),
        "grey_std": float(grey.std()),
        "non_white_fraction": float((grey < 235).mean()),
        **figures,
    }
    if stats["grey_std"] < 1.0 or stats["non_white_fraction"] < 0.001:
        raise ScreenshotError(f"{png}: the rendered page is blank ({stats})")
    return stats
