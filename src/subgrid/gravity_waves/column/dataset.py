"""Gravity-wave training data from the 1-D QBO host: (wind profile, source parameters) -> drag, as zarr.

One sample (``column``) per recorded model day of a physics run of the QBO host
(:mod:`subgrid.hosts.qbo.model`): the wind profile ``u`` (m s⁻¹) the drag scheme saw, the two source
parameters of that day, and the drag the scheme returned (m s⁻¹ day⁻¹, as applied: zero at the
fixed boundary levels). Levels run from the bottom (17 km) up (``vertical_order =
"surface_first"``).

Source parameters, per scheme (every scheme's drag is *linear* in the first one):

* ``stochastic``: the day's lognormal draws ``F_S0`` (total source flux, Pa) and ``c_w``
  (spectral width, m s⁻¹) of :class:`~subgrid.physics.qbo_waves.StochasticWaves`;
* ``ad99``: ``B_t`` (total source stress, Pa) and ``c_w`` (m s⁻¹) of the AD99 column, constant
  in a run;
* ``plumb``: ``Σ|Aᵢ|`` (Pa) and the waves' largest ``|cᵢ|`` (m s⁻¹), constant in a run.

Diversity comes from several runs, each with its own seed and its own scaling of the source's mean
flux and width (:class:`GWDatasetConfig`). Running the host is the job of
:func:`subgrid.hosts.qbo.online.generate_gw_dataset`: data sits below hosts in the layering, so this
module owns the configuration, the layout, the provenance attrs, the atomic write and the reader,
and never runs the host itself. Pure numpy/xarray (no torch).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr

import subgrid
from subgrid.core import validation
from subgrid.core.chunked import open_finished_store
from subgrid.core.errors import InputError
from subgrid.core.ownership import DATASET, check_replaceable, publish, remove_owned, zarr_marker

SCHEMES = ("stochastic", "ad99", "plumb")
VERTICAL_ORDER = "surface_first"
ZARR_FORMAT = 2  # as the radiation datasets: readable by every xarray/zarr in the field
#: Attributes every gravity-wave dataset carries (checked when one is opened).
REQUIRED_ATTRS = ("scheme", "qbo_settings", "source_settings", "vertical_order", "generator_version", "seed")

#: The coordinates the readers use (levels for the momentum budget, run and time for the splits), with their dims.
COORDINATES = {"height": ("level",), "air_density": ("level",), "run": ("column",), "time": ("column",)}
VARIABLES = {
    "u": (("column", "level"), {"units": "m s-1", "long_name": "zonal-mean zonal wind seen by the drag scheme"}),
    "gw_drag": (("column", "level"), {"units": "m s-1 day-1", "long_name": "wave drag -(1/rho) dF/dz, as applied"}),
    "source_flux_Pa": (
        ("column",),
        {"units": "Pa", "long_name": "total launched momentum flux (F_S0, B_t or sum |A_i|); drag is linear in it"},
    ),
    "spectral_width_m_per_s": (
        ("column",),
        {"units": "m s-1", "long_name": "source spectral width c_w (plumb: largest |phase speed|)"},
    ),
}


@dataclass(frozen=True)
class GWDatasetConfig:
    """Everything that determines a generated gravity-wave dataset (recorded in its attrs).

    One physics run per entry of ``source_flux_scales``, zipped with ``spectral_width_scales``
    (a single width scale applies to every run); each scale multiplies the scheme's reference
    mean (and, for the stochastic case, its standard deviation) of the source flux or width.
    Run ``i`` has its own seed derived from ``(seed, i)``. Each run lasts ``spinup_years +
    years`` (360-day years) from the host's default initial wind and is recorded after
    ``spinup_years`` every ``sample_every_days``. ``upwelling_m_per_s`` ``None`` takes the
    scheme's reference value (docs/REFERENCE.md section 4).
    """

    scheme: Literal["stochastic", "ad99", "plumb"] = "stochastic"
    years: float = 10.0
    seed: int = 0
    source_flux_scales: tuple[float, ...] = (1.0, 1.0, 0.9, 1.1)
    spectral_width_scales: tuple[float, ...] = (1.0,)
    spinup_years: float = 0.0
    sample_every_days: int = 1
    upwelling_m_per_s: float | None = None
    chunk_size: int = 3600

    def __post_init__(self) -> None:
        # Lists from YAML or the CLI: store tuples so the config stays hashable and comparable.
        object.__setattr__(self, "source_flux_scales", tuple(float(s) for s in self.source_flux_scales))
        object.__setattr__(self, "spectral_width_scales", tuple(float(s) for s in self.spectral_width_scales))
        checks = {
            "scheme": self.scheme in SCHEMES,
            "years": self.years > 0,
            "seed": self.seed >= 0,
            "source_flux_scales": len(self.source_flux_scales) >= 1 and all(s > 0 for s in self.source_flux_scales),
            "spectral_width_scales": len(self.spectral_width_scales) in (1, len(self.source_flux_scales))
            and all(s > 0 for s in self.spectral_width_scales),
            "spinup_years": self.spinup_years >= 0,
            "sample_every_days": self.sample_every_days >= 1,
            "upwelling_m_per_s": self.upwelling_m_per_s is None or np.isfinite(self.upwelling_m_per_s),
            "chunk_size": self.chunk_size >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise InputError(f"gw dataset config: invalid {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")

    @property
    def runs(self) -> list[tuple[float, float]]:
        """``(source_flux_scale, spectral_width_scale)`` of each run."""
        widths = self.spectral_width_scales * (len(self.source_flux_scales) if len(self.spectral_width_scales) == 1 else 1)
        return list(zip(self.source_flux_scales, widths, strict=True))

    def run_seed(self, index: int) -> int:
        """Seed of run ``index``: independent streams per run, fixed by ``(seed, index)``."""
        return int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0])

    def to_dict(self) -> dict:
        values = asdict(self)
        values["source_flux_scales"] = list(self.source_flux_scales)
        values["spectral_width_scales"] = list(self.spectral_width_scales)
        return values


@dataclass(frozen=True)
class GWRun:
    """The record of one physics (or replayed online) run: ``T`` days on ``L`` levels."""

    index: int
    seed: int
    time_days: np.ndarray  # [T]
    u_m_per_s: np.ndarray  # [T, L]
    drag_m_per_s_per_day: np.ndarray  # [T, L]
    source_flux_Pa: np.ndarray  # [T]
    spectral_width_m_per_s: np.ndarray  # [T]


def gw_dataset(runs: Sequence[GWRun], height_m: np.ndarray, density_kg_per_m3: np.ndarray, attrs: dict) -> xr.Dataset:
    """Stack ``runs`` into the dataset layout (``column`` = run-day, ``level`` = height), with ``attrs``.

    The host's levels (m) and air density (kg m⁻³) are coordinates: an emulator needs the layer
    masses to keep its column momentum budget.
    """
    if not runs:
        raise InputError("runs: no run to write")
    height_m = np.asarray(height_m, dtype=float)
    density_kg_per_m3 = np.asarray(density_kg_per_m3, dtype=float)
    if density_kg_per_m3.shape != height_m.shape:
        raise InputError(f"density_kg_per_m3: shape {density_kg_per_m3.shape}, expected the levels' {height_m.shape}")
    for run in runs:
        if run.u_m_per_s.shape != run.drag_m_per_s_per_day.shape or run.u_m_per_s.shape[1:] != height_m.shape:
            raise InputError(f"run {run.index}: u {run.u_m_per_s.shape} and drag {run.drag_m_per_s_per_day.shape} "
                             f"must both be (days, {height_m.size})")

    def stacked(name: str) -> np.ndarray:
        return np.concatenate([getattr(run, name) for run in runs])

    def per_run(name: str) -> np.ndarray:
        return np.concatenate([np.full(run.time_days.size, getattr(run, name), dtype=np.int64) for run in runs])

    values = {
        "u": stacked("u_m_per_s"),
        "gw_drag": stacked("drag_m_per_s_per_day"),
        "source_flux_Pa": stacked("source_flux_Pa"),
        "spectral_width_m_per_s": stacked("spectral_width_m_per_s"),
    }
    for name, value in values.items():
        if not np.isfinite(value).all():
            raise InputError(f"{name}: non-finite values in the runs (a physics run blew up?)")
    return xr.Dataset(
        {name: (VARIABLES[name][0], values[name].astype(np.float64), dict(VARIABLES[name][1])) for name in VARIABLES},
        coords={
            "height": ("level", height_m, {"units": "m", "long_name": "height above the surface"}),
            "air_density": ("level", density_kg_per_m3, {"units": "kg m-3", "long_name": "background air density"}),
            "run": ("column", per_run("index"), {"long_name": "run index"}),
            "run_seed": ("column", per_run("seed")),
            "time": ("column", stacked("time_days"), {"units": "days", "calendar": "360_day", "long_name": "time in its run"}),
        },
        attrs=attrs,
    )


def provenance(config: GWDatasetConfig, qbo_settings: dict, source_settings: dict) -> dict:
    """The attrs of a generated dataset: what made it, with which settings, and when."""
    return {
        "title": f"1-D QBO host, {config.scheme} gravity-wave drag: (u profile, source parameters) -> drag",
        "generator": "subgrid.hosts.qbo.online.generate_gw_dataset",
        "generator_version": subgrid.__version__,
        "numpy_version": np.__version__,
        "scheme": config.scheme,
        "seed": config.seed,
        "dataset_settings": json.dumps(config.to_dict(), sort_keys=True),
        "qbo_settings": json.dumps(qbo_settings, sort_keys=True),
        "source_settings": json.dumps(source_settings, sort_keys=True),
        "vertical_order": VERTICAL_ORDER,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_gw_dataset(ds: xr.Dataset, path: str | Path, *, chunk_size: int = 3600, overwrite: bool = False) -> Path:
    """Write ``ds`` as zarr at ``path`` atomically (to ``PATH.partial``, swapped in when complete), chunked along ``column``.

    With ``overwrite`` only a subgrid dataset is replaced (:mod:`subgrid.core.ownership`), after the new one is written.
    """
    path = Path(path)
    check_replaceable(path, DATASET, overwrite=overwrite)
    partial = path.with_name(path.name + ".partial")
    remove_owned(partial, DATASET)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = {name: {"chunks": (min(chunk_size, ds.sizes["column"]),) + ds[name].shape[1:]} for name in ds.data_vars}
    ds = ds.assign_attrs(zarr_marker(__name__))
    ds.to_zarr(partial, mode="w", encoding=encoding, zarr_format=ZARR_FORMAT, consolidated=True)
    return publish(partial, path, DATASET)


def open_gw_dataset(path: str | Path) -> xr.Dataset:
    """Open a gravity-wave dataset lazily, checking its variables, dims and provenance attrs."""
    path = Path(path)
    ds = open_finished_store(path)
    for name, (dims, attrs) in VARIABLES.items():
        if name not in ds:
            raise InputError(f"{path}: not a gravity-wave dataset (no variable {name!r})")
        if ds[name].dims != dims or ds[name].attrs.get("units") != attrs["units"]:
            raise InputError(f"{path}: {name} has dims {ds[name].dims} and units {ds[name].attrs.get('units')!r}, "
                             f"expected {dims} in {attrs['units']!r}")
    missing = [name for name in COORDINATES if name not in ds.variables]
    if missing:
        raise InputError(f"{path}: not a gravity-wave dataset (no coordinate(s) {', '.join(missing)})")
    validation.check_data(ds, {**{name: dims for name, (dims, _) in VARIABLES.items()}, **COORDINATES}, where=str(path))
    missing = [name for name in REQUIRED_ATTRS if name not in ds.attrs]
    if missing:
        raise InputError(f"{path}: missing provenance attr(s) {', '.join(missing)}")
    return ds


def load_gw_arrays(paths: Sequence[str | Path]) -> dict[str, np.ndarray]:
    """All samples of one or more datasets (same scheme and levels) as float32 numpy arrays; NaN/Inf is refused.

    Keys: ``u`` and ``gw_drag`` ``[N, L]``, ``source_flux_Pa`` and ``spectral_width_m_per_s``
    ``[N]``, ``time`` ``[N]`` (days) and ``group`` ``[N]``: one id per (dataset, run), so a split
    by time within each group never puts two days of one trajectory on both sides; and the
    levels' ``height`` (m) and ``air_density`` (kg m⁻³), ``[L]``.
    """
    if not paths:
        raise InputError("data: no dataset given")
    datasets = [open_gw_dataset(path) for path in paths]
    first = datasets[0]
    for path, ds in zip(paths[1:], datasets[1:], strict=True):
        same_levels = all(np.array_equal(ds[name].values, first[name].values) for name in ("height", "air_density"))
        if ds.attrs["scheme"] != first.attrs["scheme"] or not same_levels:
            raise InputError(f"{path}: scheme or levels differ from {paths[0]}; datasets must share both")
    arrays: dict[str, list[np.ndarray]] = {key: [] for key in (*VARIABLES, "time", "group")}
    groups = 0
    for path, ds in zip(paths, datasets, strict=True):
        ds = ds.load()
        for name in (*VARIABLES, "time"):
            values = ds[name].values.astype(np.float32)
            if not np.isfinite(values).all():  # a NaN target or input trains every weight to NaN
                first = int(np.flatnonzero(~np.isfinite(values).reshape(len(values), -1).all(axis=1))[0])
                raise InputError(f"{path}: {name} has {int((~np.isfinite(values)).sum())} non-finite value(s) "
                                 f"(NaN or Inf), first at sample {first}")  # fmt: skip
            arrays[name].append(values)
        _, run_ids = np.unique(ds["run"].values, return_inverse=True)
        arrays["group"].append(groups + run_ids)
        groups += int(run_ids.max()) + 1
    levels = {name: first[name].values.astype(np.float32) for name in ("height", "air_density")}
    return {**{key: np.concatenate(value) for key, value in arrays.items()}, **levels}
