"""The RRTMG column dataset: sampled columns run through RRTMG LW + SW, written as chunked zarr.

Each chunk of columns is sampled with its own generator seeded by ``(seed, chunk index)`` and
run through RRTMG with a McICA seed derived the same way, so a dataset is fully determined by
``(seed, n_columns, chunk_size, sampler settings, RRTMG settings)`` and the same settings give an
identical dataset whatever the number of workers or interruptions.

McICA makes RRTMG's cloudy-sky output random (one draw samples one sub-grid cloud
arrangement). With ``mcica_samples = K > 1`` the outputs of cloudy columns are the mean of K
independent draws (clear columns are deterministic and run once): training targets closer to
the independent-column expectation an emulator can learn, with the draw-to-draw noise reduced
by √K. Fluxes and heating rates are averaged alike, so they stay energy-consistent.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm
import xarray as xr

import subgrid
from subgrid.core.chunked import JOB_ATTR, ChunkedRunReport, lazy_template, run_chunked
from subgrid.core.ownership import marker
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.core.errors import InputError
from subgrid.core import validation
from subgrid.core.stores import open_store
from subgrid.physics.rrtmg import (
    RRTMGConfig,
    in_schema_units,
    radiative_transfer_arrays,
    to_surface_first,
    validate_radiation_inputs,
)
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER

GENERATOR = "subgrid.radiation.dataset"


@dataclass(frozen=True)
class RadiationDatasetConfig:
    """Everything that determines a generated radiation dataset (recorded in its attrs)."""

    n_columns: int
    seed: int = 0
    chunk_size: int = 500
    sampler: ColumnSamplerConfig = field(default_factory=ColumnSamplerConfig)
    rrtmg: RRTMGConfig = field(default_factory=RRTMGConfig)
    mcica_samples: int = 1

    def __post_init__(self) -> None:
        if self.mcica_samples < 1:
            raise ValueError(f"mcica_samples: must be >= 1, got {self.mcica_samples}")
        if self.mcica_samples > 1 and not self.rrtmg.mcica:
            raise ValueError("mcica_samples: averaging draws needs McICA on (without it RRTMG is deterministic)")
        if self.n_columns < 1:
            raise ValueError(f"n_columns: must be >= 1, got {self.n_columns}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size: must be >= 1, got {self.chunk_size}")
        if self.seed < 0:
            raise ValueError(f"seed: must be >= 0, got {self.seed}")

    def to_dict(self) -> dict:
        return {
            "n_columns": self.n_columns,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "sampler": self.sampler.to_dict(),
            "rrtmg": self.rrtmg.to_dict(),
            "mcica_samples": self.mcica_samples,
        }


def chunk_seeds(seed: int, index: int) -> tuple[np.random.Generator, int]:
    """Independent sampler generator and McICA seed for one chunk."""
    sampler_seq, mcica_seq = np.random.SeedSequence([seed, index]).spawn(2)
    return np.random.default_rng(sampler_seq), int(mcica_seq.generate_state(1)[0])


def compute_radiation_chunk(config: RadiationDatasetConfig, index: int, columns: slice) -> xr.Dataset:
    """Sample the columns of chunk ``index`` and run RRTMG on them: inputs and outputs in one Dataset."""
    rng, mcica_seed = chunk_seeds(config.seed, index)
    inputs = sample_columns(columns.stop - columns.start, rng, config.sampler)
    validate_radiation_inputs(inputs, config.rrtmg)
    arrays = {name: inputs[name].values for name in RADIATION_INPUTS}
    outputs = mcica_mean(arrays, config.rrtmg, mcica_seed, config.mcica_samples)
    for name, var in RADIATION_OUTPUTS.items():
        if not np.isfinite(outputs[name]).all():
            raise FloatingPointError(f"RRTMG returned non-finite {name} in chunk {index}")
        inputs[name] = xr.Variable(var.dims, outputs[name], var.attrs())
    return inputs


def mcica_mean(arrays: dict[str, np.ndarray], rrtmg: RRTMGConfig, seed: int, samples: int) -> dict[str, np.ndarray]:
    """RRTMG outputs with cloudy columns averaged over ``samples`` McICA draws (seeds ``seed + k``).

    Draw 0 covers every column; draws 1..K-1 run only on columns with cloud, since clear columns
    give the same result on every draw.
    """
    outputs = radiative_transfer_arrays(arrays, rrtmg, seed=seed)
    cloudy = np.asarray(arrays["cloud_fraction"]).max(axis=1) > 0
    if samples == 1 or not cloudy.any():
        return outputs
    subset = {name: np.asarray(value)[cloudy] for name, value in arrays.items()}
    sums = {name: value[cloudy].copy() for name, value in outputs.items()}
    for k in range(1, samples):
        draw = radiative_transfer_arrays(subset, rrtmg, seed=seed + k)
        for name in sums:
            sums[name] += draw[name]
    for name, total in sums.items():
        outputs[name][cloudy] = total / samples
    return outputs


def _provenance(config: RadiationDatasetConfig) -> dict[str, str | int]:
    return {
        "title": "RRTMG LW+SW reference fluxes and heating rates on sampled atmospheric columns",
        "generator": GENERATOR,
        "generator_version": subgrid.__version__,
        "climt_version": version("climt"),
        "numpy_version": np.__version__,
        "seed": config.seed,
        "n_columns": config.n_columns,
        "chunk_size": config.chunk_size,
        "sampler_settings": json.dumps(config.sampler.to_dict(), sort_keys=True),
        "rrtmg_settings": json.dumps(config.rrtmg.to_dict(), sort_keys=True),
        "mcica_samples": config.mcica_samples,
        "vertical_order": VERTICAL_ORDER,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _template(config: RadiationDatasetConfig) -> xr.Dataset:
    example = sample_columns(1, np.random.default_rng(0), config.sampler)
    for name, var in RADIATION_OUTPUTS.items():
        shape = tuple(example.sizes[dim] for dim in var.dims)
        example[name] = xr.Variable(var.dims, np.zeros(shape), var.attrs())
    example.attrs = _provenance(config)
    return lazy_template(example, config.n_columns, config.chunk_size)


def _run_rrtmg_chunks(path, config, template: xr.Dataset, compute_chunk, **options) -> ChunkedRunReport:
    """:func:`~subgrid.core.chunked.run_chunked` of RRTMG chunks, the job being this generator and ``config``."""
    job = {"generator": GENERATOR, "version": subgrid.__version__, **config.to_dict()}
    return run_chunked(path, template, compute_chunk, chunk_size=config.chunk_size, job=job,
                       description="RRTMG chunks", **options)  # fmt: skip


def generate_radiation_dataset(
    path: str | Path,
    config: RadiationDatasetConfig,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ChunkedRunReport:
    """Generate the dataset at ``path`` (zarr), in parallel, resuming an interrupted run of the same config.

    See :func:`subgrid.core.chunked.run_chunked` for the parallel, resumable and atomic write.
    """
    return _run_rrtmg_chunks(path, config, _template(config), partial(compute_radiation_chunk, config),
                             workers=workers, scheduler=scheduler, overwrite=overwrite, progress=progress)  # fmt: skip


def finished_dataset(path: Path, config: RadiationDatasetConfig) -> bool:
    """True if ``path`` holds a finished dataset :func:`generate_radiation_dataset` wrote with exactly ``config``."""
    if marker(path) is None:
        return False
    job = {"generator": GENERATOR, "version": subgrid.__version__, **config.to_dict()}
    return open_store(path).attrs.get(JOB_ATTR) == json.dumps(job, sort_keys=True)


@dataclass
class GridFamilyReport:
    """What :func:`generate_grid_family` did: the datasets (one per grid) written and those already there."""

    paths: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def generate_grid_family(
    out: str | Path,
    config: RadiationDatasetConfig,
    grids: list[dict],
    *,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> GridFamilyReport:
    """One dataset per grid of ``grids`` (sampler settings over ``config.sampler``: ``n_levels``, ``top_pressure_Pa``,
    ``bottom_layer_thickness_Pa``), ``config.n_columns`` columns each, seeds ``config.seed + k``: the training data of a
    grid-agnostic emulator. Written to ``out/grid_KK_L<n>.zarr``; datasets already finished with the same settings
    are skipped (resumable grid by grid); nothing else in ``out`` is touched."""
    out = Path(out)
    report = GridFamilyReport()
    for k, grid in enumerate(tqdm(grids, desc="grids", unit="grid", disable=not progress)):
        try:
            sampler = replace(config.sampler, **grid)
        except (TypeError, ValueError) as error:
            raise InputError(f"grid {k} {grid}: {error}") from error
        grid_config = replace(config, sampler=sampler, seed=config.seed + k)
        path = out / f"grid_{k:02d}_L{sampler.n_levels}.zarr"
        report.paths.append(path)
        if finished_dataset(path, grid_config):
            report.skipped.append(path)
            continue
        generate_radiation_dataset(path, grid_config, workers=workers, overwrite=overwrite, progress=False)
        report.written.append(path)
    return report


# --------------------------------------------------------------------------------------------
# Your own columns: RRTMG labels for columns from a file (a model's output, reanalysis, ...)

#: Column descriptors copied from a columns file when present (regime splits, the RCE host's sun).
_DESCRIPTORS = ("latitude", "longitude", "day_of_year", "local_solar_time", "surface_type")
def open_columns_file(path: str | Path, units: Mapping[str, str] | None = None) -> xr.Dataset:
    """Open a file of radiation columns (netCDF, or a zarr directory) lazily, check it and convert its units.

    It holds the :data:`~subgrid.physics.schema.RADIATION_INPUTS` on dims ``column``,
    ``level`` and ``interface`` (surface or top first; a ``vertical_order`` attribute, else the
    pressures, tells which): e.g. the output of :func:`subgrid.radiation.merra2.columns_from_merra2`,
    or a host model's columns written with ``Dataset.to_netcdf``. Every variable's units come from
    ``units`` (name -> units, the user's word) or else its ``units`` attribute, and are converted
    once to the schema's (``hPa`` -> ``Pa``, ``ppmv`` -> ``mol mol-1``: :mod:`subgrid.core.units`).
    Raises :class:`~subgrid.core.errors.InputError` for a missing file or variable, wrong dims,
    a variable without units (no attribute and none stated) or with units not convertible to the
    schema's. Values (NaN, plausible ranges, monotonic pressure) are checked chunk by chunk when labelled.
    """
    path = Path(path)
    ds = open_store(path, what="columns file")
    optional = {"earth_sun_distance_factor"}
    validation.require_variables(ds, [n for n in RADIATION_INPUTS if n not in optional], what=f"columns file {path}")
    validation.check_dims(ds, {name: var.dims for name, var in RADIATION_INPUTS.items()})
    return in_schema_units(ds, units, require=True, where=str(path))


@dataclass(frozen=True)
class ColumnsLabellingConfig:
    """What determines a dataset of RRTMG labels for the columns of a file (recorded in its attrs).

    ``fingerprint`` identifies the file's content (size and modification time; a changed file is
    not resumed into a partial dataset made from the old one). ``units`` are the units the user
    stated for variables of the file (name -> units, over its ``units`` attributes).
    """

    source: str
    n_columns: int
    fingerprint: str
    chunk_size: int = 500
    rrtmg: RRTMGConfig = field(default_factory=RRTMGConfig)
    mcica_samples: int = 1
    seed: int = 0
    units: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_file(cls, source: str | Path, **settings) -> ColumnsLabellingConfig:
        source = Path(source).resolve()
        ds = open_columns_file(source, settings.get("units"))
        files = [source] if source.is_file() else sorted(f for f in source.rglob("*") if f.is_file())
        stamp = ";".join(f"{f.relative_to(source.parent)}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
        return cls(source=str(source), n_columns=int(ds.sizes["column"]), fingerprint=stamp, **settings)

    def __post_init__(self) -> None:
        RadiationDatasetConfig(n_columns=max(self.n_columns, 1), seed=self.seed, chunk_size=self.chunk_size,
                               rrtmg=self.rrtmg, mcica_samples=self.mcica_samples)  # the same checks  # fmt: skip
        if self.n_columns < 1:
            raise InputError(f"{self.source}: holds no columns")

    def to_dict(self) -> dict:
        return {"source": self.source, "n_columns": self.n_columns, "fingerprint": self.fingerprint,
                "chunk_size": self.chunk_size, "rrtmg": self.rrtmg.to_dict(), "mcica_samples": self.mcica_samples,
                "seed": self.seed, "units": dict(sorted(self.units.items()))}  # fmt: skip


def columns_block(config: ColumnsLabellingConfig, columns: slice | np.ndarray) -> xr.Dataset:
    """The file's columns ``columns`` (a slice or column indices), loaded, surface first: the radiation inputs
    and the descriptors present (``earth_sun_distance_factor`` 1 where the file has none)."""
    ds = open_columns_file(config.source, config.units)
    names = [n for n in (*RADIATION_INPUTS, *_DESCRIPTORS) if n in ds and "column" in ds[n].dims]
    block, _ = to_surface_first(ds[names].isel(column=columns).load())
    block = block.drop_vars([name for name in block.coords if name not in block.dims])
    block.attrs = {}
    if "earth_sun_distance_factor" not in block:
        block["earth_sun_distance_factor"] = xr.Variable(("column",), np.ones(block.sizes["column"]),
                                                         RADIATION_INPUTS["earth_sun_distance_factor"].attrs())  # fmt: skip
    return block


def compute_columns_chunk(config: ColumnsLabellingConfig, index: int, columns: slice) -> xr.Dataset:
    """Run RRTMG on chunk ``index`` of the file's columns: inputs (surface first) and outputs in one Dataset."""
    inputs = columns_block(config, columns)
    try:
        validate_radiation_inputs(inputs, config.rrtmg)
    except InputError as error:
        raise InputError(f"{config.source}, columns {columns.start}-{columns.stop - 1}: {error}") from error
    _, mcica_seed = chunk_seeds(config.seed, index)
    outputs = mcica_mean({name: inputs[name].values for name in RADIATION_INPUTS}, config.rrtmg, mcica_seed,
                         config.mcica_samples)  # fmt: skip
    for name, var in RADIATION_OUTPUTS.items():
        if not np.isfinite(outputs[name]).all():
            raise FloatingPointError(f"RRTMG returned non-finite {name} in chunk {index}")
        inputs[name] = xr.Variable(var.dims, outputs[name], var.attrs())
    return inputs


def label_columns(
    path: str | Path,
    config: ColumnsLabellingConfig,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ChunkedRunReport:
    """RRTMG on every column of ``config.source``: a dataset at ``path`` laid out as a generated one.

    Parallel, resumable and atomic like :func:`generate_radiation_dataset`; the result trains,
    evaluates and summarises the same way. Bad values are reported with the file and columns.
    """
    # Every column is checked before the store is made, one chunk at a time: a bad value found by a
    # worker would leave a partial store that no rerun of the same command could complete.
    for start in range(0, config.n_columns, config.chunk_size):
        columns = slice(start, min(start + config.chunk_size, config.n_columns))
        try:
            validate_radiation_inputs(columns_block(config, columns), config.rrtmg)
        except InputError as error:
            raise InputError(f"{config.source}, columns {columns.start}-{columns.stop - 1}: {error}") from error
    first = columns_block(config, slice(0, 1))
    for name, var in RADIATION_OUTPUTS.items():
        shape = tuple(first.sizes[dim] for dim in var.dims)
        first[name] = xr.Variable(var.dims, np.zeros(shape), var.attrs())
    first.attrs = {
        "title": f"RRTMG LW+SW reference fluxes and heating rates on the columns of {Path(config.source).name}",
        "generator": GENERATOR, "generator_version": subgrid.__version__, "climt_version": version("climt"),
        "source": config.source, "seed": config.seed, "n_columns": config.n_columns, "chunk_size": config.chunk_size,
        "rrtmg_settings": json.dumps(config.rrtmg.to_dict(), sort_keys=True), "mcica_samples": config.mcica_samples,
        "vertical_order": VERTICAL_ORDER,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    return _run_rrtmg_chunks(path, config, lazy_template(first, config.n_columns, config.chunk_size),
                             partial(compute_columns_chunk, config), workers=workers, scheduler=scheduler,
                             overwrite=overwrite, progress=progress)  # fmt: skip


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {}
    qs = (1, 5, 50, 95, 99)
    out = {f"p{q}": float(v) for q, v in zip(qs, np.percentile(values, qs), strict=True)}
    out["mean"] = float(values.mean())
    return out


def radiation_summary(ds: xr.Dataset) -> dict:
    """Distribution summary of a radiation dataset: regimes, OLR, surface SW down, heating-rate percentiles.

    Heating rates are summarised above the lowest layer and for the lowest layer separately (thin
    bottom layers carry extreme rates); SW quantities over daytime columns only. Raises
    :class:`~subgrid.core.errors.InputError` naming what is missing when ``ds`` is not such a dataset.
    """
    where = ds.encoding.get("source", "dataset")
    names = ("cos_solar_zenith_angle", "cloud_fraction", "lw_flux_up", "lw_flux_up_clear", "sw_flux_down",
             "sw_flux_up", "lw_heating_rate", "sw_heating_rate")  # fmt: skip
    validation.require_variables(ds, names, what=f"radiation dataset {where}")
    validation.check_dims(ds, {name: {**RADIATION_INPUTS, **RADIATION_OUTPUTS}[name].dims for name in names})
    if ds.sizes["column"] == 0 or ds.sizes["level"] < 2:
        raise InputError(f"radiation dataset {where}: {ds.sizes['column']} columns of {ds.sizes['level']} levels, "
                         "nothing to summarise (needs at least one column of two levels)")
    order = ds.attrs.get("vertical_order", VERTICAL_ORDER)
    top, surface = (-1, 0) if order == "surface_first" else (0, -1)
    lowest = 0 if order == "surface_first" else ds.sizes["level"] - 1
    day = ds["cos_solar_zenith_angle"].values > 0
    cloudy = (ds["cloud_fraction"] > 0).any("level").values
    above = ds.drop_isel(level=lowest)
    summary = {
        "columns": int(ds.sizes["column"]),
        "levels": int(ds.sizes["level"]),
        "fraction_day": float(day.mean()),
        "fraction_cloudy": float(cloudy.mean()),
        "olr_W_m2": _percentiles(ds["lw_flux_up"].isel(interface=top).values),
        "olr_clear_W_m2": _percentiles(ds["lw_flux_up_clear"].isel(interface=top).values),
        "surface_sw_down_day_W_m2": _percentiles(ds["sw_flux_down"].isel(interface=surface).values[day]),
        "toa_sw_up_day_W_m2": _percentiles(ds["sw_flux_up"].isel(interface=top).values[day]),
        "lw_heating_K_day_above_lowest_layer": _percentiles(above["lw_heating_rate"].values.ravel()),
        "sw_heating_K_day_above_lowest_layer_day": _percentiles(above["sw_heating_rate"].values[day].ravel()),
        "lw_heating_K_day_lowest_layer": _percentiles(ds["lw_heating_rate"].isel(level=lowest).values),
        "sw_heating_K_day_lowest_layer_day": _percentiles(ds["sw_heating_rate"].isel(level=lowest).values[day]),
    }
    return summary


def summary_table(summary: dict) -> str:
    """The summary as an aligned plain-text table (for the CLI and the demo)."""
    lines = [
        f"columns: {summary['columns']}   levels: {summary['levels']}   "
        f"day: {summary['fraction_day']:.1%}   cloudy: {summary['fraction_cloudy']:.1%}",
        f"{'quantity':44s} {'p1':>9s} {'p5':>9s} {'p50':>9s} {'p95':>9s} {'p99':>9s} {'mean':>9s}",
    ]
    for name, stats in summary.items():
        if isinstance(stats, dict) and stats:
            row = " ".join(f"{stats[k]:9.2f}" for k in ("p1", "p5", "p50", "p95", "p99", "mean"))
            lines.append(f"{name:44s} {row}")
    return "\n".join(lines)
