"""Open a report in headless Chromium, check every figure rendered, and save a screenshot of the whole page.

    python scripts/screenshot_report.py demo/report.html [--png demo/report.png] [--width 1280] [--height H]

Prints the picture's size, pixel statistics and the figures rendered of those on the page as
JSON; exits with status 1 (and one line on stderr) when Chromium is missing or fails, when a
figure did not render, or when the page is blank (:func:`subgrid.evaluation.report.screenshot`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from subgrid.core.errors import SubgridError
from subgrid.evaluation.report import screenshot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="The HTML report, e.g. demo/report.html.")
    parser.add_argument("--png", type=Path, default=None, help="Screenshot path (default: beside the report, .png).")
    parser.add_argument("--width", type=int, default=1280, help="Window width in pixels.")
    parser.add_argument("--height", type=int, default=None, help="Window height in pixels (default: the whole page).")
    args = parser.parse_args()
    try:
        stats = screenshot(args.report, args.png or args.report.with_suffix(".png"), width=args.width, height=args.height)
    except SubgridError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
