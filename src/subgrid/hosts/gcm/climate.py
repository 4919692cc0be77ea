"""Climate sanity of a GCM run: global means and jets over its last days, checked against plausible ranges.

The ranges are those of aquaplanet intercomparisons with the Qobs SST (APE; Blackburn et al. 2013)
and of Earth's observed global means: OLR 220-260 W m⁻², total cloud cover 0.45-0.75,
precipitation 2.5-3.5 mm/day, a jet of 25-50 m/s at 250 hPa between 25° and 55° in each
hemisphere; humidity never negative; the global water budget (vapour + condensate changes by
evaporation minus precipitation) closing to 1e-6 of the global water in every step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from subgrid.hosts.gcm.run import open_history

#: name -> (low, high, units)
RANGES = {
    "olr": (220.0, 260.0, "W m-2"),
    "cloud_cover": (0.45, 0.75, "1"),
    "precipitation": (2.5, 3.5, "mm day-1"),
    "jet_north": (25.0, 50.0, "m s-1"),
    "jet_south": (25.0, 50.0, "m s-1"),
    "jet_north_latitude": (25.0, 55.0, "degrees_north"),
    "jet_south_latitude": (-55.0, -25.0, "degrees_north"),
    "minimum_humidity": (0.0, np.inf, "kg kg-1"),
    "max_water_budget_residual": (0.0, 1e-6, "1"),
}


def global_mean(field: xr.DataArray) -> xr.DataArray:
    """Area-weighted (cos latitude) mean over lat and lon."""
    weights = np.cos(np.deg2rad(field["lat"]))
    return field.weighted(weights).mean(("lat", "lon"))


def jet_peak(latitude_deg: np.ndarray, wind: np.ndarray) -> tuple[float, float]:
    """Speed and latitude of a jet's maximum, from the parabola through the largest grid value and its neighbours.

    At T21 the Gaussian latitudes are 5.6° apart; the parabola places the peak between them
    (at the grid value itself when it lies on the edge of the range).
    """
    i = int(np.argmax(wind))
    if i == 0 or i == wind.size - 1:
        return float(wind[i]), float(latitude_deg[i])
    x, y = latitude_deg[i - 1:i + 2], wind[i - 1:i + 2]
    a, b, c = np.polyfit(x - x[1], y, 2)
    if a >= 0:
        return float(wind[i]), float(latitude_deg[i])
    offset = float(np.clip(-b / (2 * a), min(x - x[1]), max(x - x[1])))
    return float(a * offset**2 + b * offset + c), float(x[1] + offset)


def climate_summary(out: str | Path, last_days: float = 30.0) -> dict[str, float]:
    """Global means, jets and budgets of the last ``last_days`` of the run in ``out``."""
    history = open_history(out)
    end = float(history["time"].max())
    recent = history.sel(time=history["time"] > end - last_days + 1e-9)  # intervals ending after the window opens
    summary = {name: float(global_mean(recent[name]).mean()) for name in
               ("olr", "asr", "cloud_cover", "precipitation", "evaporation", "surface_latent_heat_flux",
                "surface_sensible_heat_flux", "column_condensate")}  # fmt: skip
    summary["convective_fraction"] = float(global_mean(recent["convective_precipitation"]).mean()) / summary["precipitation"]
    jet = recent["u250"].mean(("time", "lon"))
    for hemisphere, sign in (("north", 1), ("south", -1)):
        side = jet.where(sign * jet["lat"] > 0, drop=True)
        summary[f"jet_{hemisphere}"], summary[f"jet_{hemisphere}_latitude"] = jet_peak(side["lat"].values, side.values)
    summary["minimum_humidity"] = float(recent["q"].min())
    interval = float(history["time"].diff("time").median()) if history.sizes["time"] > 1 else end
    summary["days"] = end - float(recent["time"].min()) + interval
    rows = [json.loads(line) for line in (Path(out) / "timing.jsonl").read_text().splitlines() if line.strip()]
    rows = [row for row in rows if row["day"] > end - last_days + 1e-9]
    for name in ("max_water_budget_residual", "max_dry_mass_residual", "max_water_fix", "max_mass_fix", "max_filled_water_fraction"):
        summary[name] = max((row.get(name, np.nan) for row in rows), default=np.nan)
    return summary


def sanity_table(summary: dict[str, float]) -> tuple[str, bool]:
    """The summary as a table with each checked value's range and verdict; and whether all hold."""
    lines = [f"{'quantity':32s} {'value':>12s} {'range':>20s}  ok"]
    good = True
    for name, value in summary.items():
        if name in RANGES:
            low, high, units = RANGES[name]
            ok = bool(low <= value <= high)
            good &= ok
            lines.append(f"{name + ' (' + units + ')':32s} {value:12.4g} {f'[{low:g}, {high:g}]':>20s}  {'yes' if ok else 'NO'}")
        else:
            lines.append(f"{name:32s} {value:12.4g}")
    return "\n".join(lines), good
