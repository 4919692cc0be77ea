"""The generalisation suite's data: named sets of columns shifted away from the training data, labelled by RRTMG.

Each set is a typed spec (a frozen dataclass with ``build``) in the registry :data:`SHIFTED_SETS`,
built from the suite's base sampler settings (those of the training data, :meth:`SuiteConfig.like`)
and seed, and labelled by RRTMG as training data is (McICA draws seeded per chunk of columns,
:func:`subgrid.radiation.dataset.mcica_mean`), so ``subgrid evaluate --suite`` scores any of them:

======================  =========================================================================
set                     columns
======================  =========================================================================
another_seed            (a) the sampler with the suite's seed, not the training data's: today's test
warmer_4K               (b) those columns 4 K warmer (air, interface and skin temperature), specific
                        humidity rescaled to the same relative humidity (:func:`warmer`)
co2_low, co2_high       (c) those columns with CO2 at 0.5-0.9x the sampler's minimum / 2-4x its
                        maximum (log-uniform per column)
ozone_low, ozone_high   (c) those columns with ozone x0.5 / x2 at every level: every column's ozone
                        peak leaves the sampled 6-10 ppmv (x1.5 would keep the lightest peaks inside)
levels_30, levels_90    (d) the sampler on 30 / 90 layers
top_1hPa, top_0p05hPa   (d) the sampler with its top interface at 100 Pa / 5 Pa and a lowest layer
                        of 10 / 25 hPa (other stretching)
high_ground             (d) land only, elevations near-uniform in 0-6000 m: surfaces down to ~470 hPa
standard_perturbed      (f) the three AFGL standard atmospheres with random smooth perturbations
stress                  not a test set (:data:`CALIBRATION_SETS`, made only when named): generic shifts of
                        every kind at random strengths, for calibrating the guard (:class:`Stress`)
host_<name>             (e) a random subset of a host's columns from a file (``subgrid gcm columns``,
                        an RCE run's states) :class:`HostStates`
======================  =========================================================================

The derived sets (warmer, CO2, ozone) shift the very columns of ``another_seed`` and share its
McICA draws, so their differences from it are the shift's alone. A set is written to
``DIR/<name>.zarr`` whole (write aside, then rename) with its spec in the ``suite_set`` attribute;
a rerun skips the sets already there with the same spec (resumable), and replaces a set only with
``overwrite`` and only if subgrid wrote it (:mod:`subgrid.core.ownership`).
"""

from __future__ import annotations

import datetime as _dt
import json
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

import subgrid
from subgrid.core import validation
from subgrid.core.chunked import write_zarr_atomic
from subgrid.core.errors import InputError
from subgrid.core.ownership import DATASET, check_replaceable, marker
from subgrid.core.stores import open_store
from subgrid.physics.rrtmg import RRTMGConfig, validate_radiation_inputs
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS, VERTICAL_ORDER
from subgrid.physics.thermodynamics import (
    saturation_mole_fraction,
    specific_humidity_kg_per_kg,
    vapour_mole_fraction,
)
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns, standard_column
from subgrid.radiation.columns.grid import log_pressure_height_km
from subgrid.radiation.columns.sampler import smooth_bumps
from subgrid.radiation.dataset import ColumnsLabellingConfig, chunk_seeds, columns_block, mcica_mean

GENERATOR = "subgrid.radiation.shifted_sets"
#: The root attribute of a written set: its name, spec and the suite settings that made it (JSON).
SET_ATTR = "suite_set"
#: Temperatures a warming shifts (interface temperatures only where a host's file carries them).
TEMPERATURES = ("air_temperature", "surface_temperature", "air_temperature_on_interface")
STANDARD_ATMOSPHERES = ("tropical", "midlatitude_summer", "subarctic_winter")


# --------------------------------------------------------------------------------------------
# Shifts: pure functions of a column Dataset (surface first, schema units)


def humidity_after_warming(
    specific_humidity: np.ndarray, old_temperature_K: np.ndarray, new_temperature_K: np.ndarray,
    pressure_Pa: np.ndarray, relative_humidity_factor: np.ndarray | float = 1.0,
) -> np.ndarray:  # fmt: skip
    """Specific humidity (kg/kg) after the air goes from ``old_temperature_K`` to ``new_temperature_K`` at the
    same relative humidity (times ``relative_humidity_factor``), capped at saturation at the new temperature.

    Relative humidity is the vapour mole fraction over the saturation mole fraction (over water above
    273.15 K, over ice below; Alduchov & Eskridge 1996), so a warming raises ``q`` by about 7 %/K near
    the surface (Clausius-Clapeyron).
    """
    # Saturation is capped at a mole fraction of 1 (pure vapour): at the lowest pressures aloft it does not bind,
    # and q stays as it was.
    relative_humidity = vapour_mole_fraction(specific_humidity) / np.minimum(
        saturation_mole_fraction(old_temperature_K, pressure_Pa), 1.0
    )
    saturation = np.minimum(saturation_mole_fraction(new_temperature_K, pressure_Pa), 1.0)
    return specific_humidity_kg_per_kg(np.minimum(relative_humidity * relative_humidity_factor * saturation,
                                                  saturation))  # fmt: skip


def warmer(columns: xr.Dataset, kelvin: float = 4.0) -> xr.Dataset:
    """``columns`` ``kelvin`` warmer: air, interface (if present) and skin temperature + ΔK, specific humidity
    at the same relative humidity (:func:`humidity_after_warming`); clouds unchanged."""
    validation.require_variables(columns, ("air_temperature", "surface_temperature", "specific_humidity",
                                           "air_pressure"), what="columns")  # fmt: skip
    shifted = columns.copy()
    for name in (n for n in TEMPERATURES if n in columns):
        shifted[name] = columns[name] + kelvin
    shifted["specific_humidity"] = columns["specific_humidity"].copy(
        data=humidity_after_warming(columns["specific_humidity"].values, columns["air_temperature"].values,
                                    shifted["air_temperature"].values, columns["air_pressure"].values)
    )
    return shifted


def with_mole_fraction(columns: xr.Dataset, name: str, values_mol_per_mol: np.ndarray) -> xr.Dataset:
    """``columns`` with gas ``name`` (``co2_mole_fraction``, ``ozone_mole_fraction``) set to ``values_mol_per_mol``
    (broadcast to the variable's shape); units and long name kept."""
    validation.require_variables(columns, (name,), what="columns")
    shifted = columns.copy()
    shifted[name] = columns[name].copy(data=np.broadcast_to(values_mol_per_mol, columns[name].shape).copy())
    return shifted


def perturbed_standard_columns(
    n_columns: int, rng: np.random.Generator, spec: PerturbedStandard, sampler: ColumnSamplerConfig
) -> xr.Dataset:
    """``n_columns`` copies of the AFGL standard atmospheres (in turn) on ``sampler.n_levels`` layers of the
    default grid (:func:`~subgrid.radiation.columns.standard_column`), each perturbed at random (``spec``).

    Temperature: a column offset N(0, ``temperature_offset_K``) plus three Gaussian bumps in
    log-pressure height (amplitude up to ``temperature_bump_K``, 1-5 km wide); the skin follows the
    offset, plus N(0, 1) K; humidity at the same relative humidity, then times lognormal(0,
    ``humidity_log_sigma``), capped at saturation; ozone times U(``ozone_factors``); CO2 log-uniform in
    the sampler's range; the sun anywhere from night to overhead. Clear sky, as the tables are.
    """
    atmospheres = xr.concat([standard_column(name, sampler.n_levels) for name in STANDARD_ATMOSPHERES], "column")
    columns = atmospheres.isel(column=np.arange(n_columns) % len(STANDARD_ATMOSPHERES))
    z_km = log_pressure_height_km(columns["air_pressure"].values)
    offset_K = rng.normal(0.0, spec.temperature_offset_K, n_columns)
    bumps = (-spec.temperature_bump_K, spec.temperature_bump_K)
    temperature = columns["air_temperature"].values + offset_K[:, None] + smooth_bumps(rng, z_km, 3, bumps, (1.0, 5.0))
    moistening = rng.lognormal(0.0, spec.humidity_log_sigma, (n_columns, 1))
    humidity = humidity_after_warming(columns["specific_humidity"].values, columns["air_temperature"].values,
                                      temperature, columns["air_pressure"].values, moistening)  # fmt: skip
    low, high = np.log(sampler.co2_min_mol_per_mol), np.log(sampler.co2_max_mol_per_mol)
    values = {
        "air_temperature": temperature,
        "surface_temperature": columns["surface_temperature"].values + offset_K + rng.normal(0.0, 1.0, n_columns),
        "specific_humidity": humidity,
        "ozone_mole_fraction": columns["ozone_mole_fraction"].values * rng.uniform(*spec.ozone_factors, (n_columns, 1)),
        "co2_mole_fraction": np.exp(rng.uniform(low, high, n_columns)),
        "cos_solar_zenith_angle": rng.uniform(-0.2, 1.0, n_columns),
    }
    perturbed = columns.assign({name: columns[name].copy(data=value) for name, value in values.items()})
    perturbed.attrs = {"vertical_order": VERTICAL_ORDER}
    return perturbed.drop_vars([name for name in perturbed.coords])


# --------------------------------------------------------------------------------------------
# The specs: one frozen dataclass per kind of set, each building its inputs from a SetContext


@dataclass(frozen=True)
class SetContext:
    """What every set is built from: the number of columns, the suite's seed and its base sampler settings."""

    n_columns: int
    seed: int
    sampler: ColumnSamplerConfig

    def base_columns(self, sampler: ColumnSamplerConfig | None = None) -> xr.Dataset:
        """The sampler's columns for the suite's seed (the derived sets shift these very columns)."""
        return sample_columns(self.n_columns, np.random.default_rng(self.seed), sampler or self.sampler)


@dataclass(frozen=True)
class AnotherSeed:
    """(a) The base sampler with the suite's seed."""

    kind: ClassVar[str] = "another_seed"

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        return context.base_columns()


@dataclass(frozen=True)
class Warmer:
    """(b) The base columns ``kelvin`` warmer at constant relative humidity (:func:`warmer`)."""

    kelvin: float = 4.0
    kind: ClassVar[str] = "warmer"

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        return warmer(context.base_columns(), self.kelvin)


@dataclass(frozen=True)
class Co2Outside:
    """(c) The base columns with CO2 = the sampler's ``bound`` (min or max) x log-uniform(``factors``)."""

    bound: Literal["min", "max"]
    factors: tuple[float, float]
    kind: ClassVar[str] = "co2_outside"

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        bound = context.sampler.co2_min_mol_per_mol if self.bound == "min" else context.sampler.co2_max_mol_per_mol
        factor = np.exp(rng.uniform(*np.log(self.factors), context.n_columns))
        return with_mole_fraction(context.base_columns(), "co2_mole_fraction", bound * factor)


@dataclass(frozen=True)
class OzoneScaled:
    """(c) The base columns with ozone times ``factor`` at every level."""

    factor: float
    kind: ClassVar[str] = "ozone_scaled"

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        base = context.base_columns()
        return with_mole_fraction(base, "ozone_mole_fraction", base["ozone_mole_fraction"].values * self.factor)


@dataclass(frozen=True)
class OtherGrid:
    """(d) The sampler on another grid: level count, top pressure, lowest-layer thickness (None: the base's)."""

    n_levels: int | None = None
    top_pressure_Pa: float | None = None
    bottom_layer_thickness_Pa: float | None = None
    kind: ClassVar[str] = "other_grid"

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        changes = {name: value for name, value in asdict(self).items() if value is not None}
        return context.base_columns(replace(context.sampler, **changes))


@dataclass(frozen=True)
class HighGround:
    """(d) Land only, elevations from an exponential with a ``land_elevation_mean_m`` mean (50 km: nearly
    uniform) truncated at ``land_elevation_max_m``: surface pressures from ~1000 down to ~470 hPa."""

    land_elevation_mean_m: float = 50_000.0
    land_elevation_max_m: float = 6000.0
    kind: ClassVar[str] = "high_ground"

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        return context.base_columns(replace(context.sampler, ocean_fraction=0.0, **asdict(self)))


@dataclass(frozen=True)
class PerturbedStandard:
    """(f) The AFGL standard atmospheres, randomly perturbed (:func:`perturbed_standard_columns`)."""

    temperature_offset_K: float = 2.0
    temperature_bump_K: float = 3.0
    humidity_log_sigma: float = 0.2
    ozone_factors: tuple[float, float] = (0.8, 1.2)
    kind: ClassVar[str] = "standard_perturbed"

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        return perturbed_standard_columns(context.n_columns, rng, self, context.sampler)


@dataclass(frozen=True)
class HostStates:
    """(e) A random subset (at most the suite's column count) of the columns of a host's file.

    ``fingerprint`` (sizes and modification times, :meth:`ColumnsLabellingConfig.for_file`) ties a
    written set to the file's content. Descriptors the file lacks are added: ``latitude`` as NaN
    (unknown; the metrics' regime masks read it).
    """

    path: str
    fingerprint: str = ""
    kind: ClassVar[str] = "host_states"

    @classmethod
    def for_file(cls, path: str | Path) -> HostStates:
        path = Path(path)
        if not path.exists():
            raise InputError(f"host columns file {path}: no such file")
        labelling = ColumnsLabellingConfig.for_file(path)
        return cls(path=labelling.source, fingerprint=labelling.fingerprint)

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        labelling = ColumnsLabellingConfig.for_file(self.path)
        if labelling.fingerprint != self.fingerprint:
            raise InputError(f"host columns file {self.path}: changed since the suite was configured")
        chosen = np.sort(rng.choice(labelling.n_columns, min(context.n_columns, labelling.n_columns), replace=False))
        columns = columns_block(labelling, chosen)
        if "latitude" not in columns:
            unknown = {"units": "degrees_north", "long_name": "latitude (not in the host's file)"}
            columns["latitude"] = ("column", np.full(columns.sizes["column"], np.nan), unknown)
        columns.attrs = {"vertical_order": VERTICAL_ORDER, "source": self.path}
        return columns


@dataclass(frozen=True)
class Stress:
    """Calibration columns for the error-predicting guard (:mod:`subgrid.radiation.guard`), not a test set: the base
    sampler's columns with generic shifts of every kind, each applied to a column with probability one half, at a
    random strength from none to well outside the training data, so the emulator's errors span a continuum.

    Shifts: temperature offset U(±``temperature_offset_K``) plus three bumps up to ±``temperature_bump_K`` (1-8 km
    wide), humidity at the new temperature's relative humidity times lognormal(0, ``humidity_log_sigma``) (capped at
    saturation); ozone times log-uniform(``ozone_factors``); CO2 log-uniform in ``co2_mol_per_mol``; cloud water
    paths times lognormal(0, ``cloud_log_sigma``)."""

    temperature_offset_K: float = 8.0
    temperature_bump_K: float = 8.0
    humidity_log_sigma: float = 0.7
    ozone_factors: tuple[float, float] = (0.3, 3.0)
    co2_mol_per_mol: tuple[float, float] = (100e-6, 3000e-6)
    cloud_log_sigma: float = 1.0
    kind: ClassVar[str] = "stress"

    def build(self, context: SetContext, rng: np.random.Generator) -> xr.Dataset:
        base = context.base_columns()
        n = context.n_columns

        def chosen() -> np.ndarray:
            return rng.random(n) < 0.5

        strength = rng.random(n)  # one strength per column for all its shifts: mild to strong columns
        z_km = log_pressure_height_km(base["air_pressure"].values)
        warming = np.where(chosen(), strength * rng.uniform(-1.0, 1.0, n) * self.temperature_offset_K, 0.0)
        bump = smooth_bumps(rng, z_km, 3, (-self.temperature_bump_K, self.temperature_bump_K), (1.0, 8.0))
        bump *= np.where(chosen(), strength, 0.0)[:, None]
        temperature = base["air_temperature"].values + warming[:, None] + bump
        moistening = np.exp(np.where(chosen(), strength * rng.normal(0.0, self.humidity_log_sigma, n), 0.0))[:, None]
        humidity = humidity_after_warming(base["specific_humidity"].values, base["air_temperature"].values,
                                          temperature, base["air_pressure"].values, moistening)  # fmt: skip
        ozone = np.exp(np.where(chosen(), strength * rng.uniform(*np.log(self.ozone_factors), n), 0.0))[:, None]
        co2 = np.where(chosen(), np.exp(rng.uniform(*np.log(self.co2_mol_per_mol), n)), base["co2_mole_fraction"].values)
        cloud = np.exp(np.where(chosen(), strength * rng.normal(0.0, self.cloud_log_sigma, n), 0.0))[:, None]
        values = {
            "air_temperature": temperature,
            "surface_temperature": base["surface_temperature"].values + warming,
            "specific_humidity": humidity,
            "ozone_mole_fraction": base["ozone_mole_fraction"].values * ozone,
            "co2_mole_fraction": co2,
            "cloud_liquid_water_path": base["cloud_liquid_water_path"].values * cloud,
            "cloud_ice_water_path": base["cloud_ice_water_path"].values * cloud,
        }
        return base.assign({name: base[name].copy(data=value) for name, value in values.items()})


SetSpec = AnotherSeed | Warmer | Co2Outside | OzoneScaled | OtherGrid | HighGround | PerturbedStandard | HostStates | Stress

#: The named sets, in the order of the issue's list and of the suite's table.
SHIFTED_SETS: dict[str, SetSpec] = {
    "another_seed": AnotherSeed(),
    "warmer_4K": Warmer(4.0),
    "co2_low": Co2Outside("min", (0.5, 0.9)),
    "co2_high": Co2Outside("max", (2.0, 4.0)),
    "ozone_low": OzoneScaled(0.5),
    "ozone_high": OzoneScaled(2.0),
    "levels_30": OtherGrid(n_levels=30),
    "levels_90": OtherGrid(n_levels=90),
    "top_1hPa": OtherGrid(top_pressure_Pa=100.0, bottom_layer_thickness_Pa=1000.0),
    "top_0p05hPa": OtherGrid(top_pressure_Pa=5.0, bottom_layer_thickness_Pa=2500.0),
    "high_ground": HighGround(),
    "standard_perturbed": PerturbedStandard(),
}
#: Sets for calibrating the guard, not for scoring: made by ``subgrid generate suite --sets stress`` only when named.
CALIBRATION_SETS: dict[str, SetSpec] = {"stress": Stress()}
HOST_PREFIX = "host_"


def set_order(name: str) -> tuple[int, str]:
    """Sort key of set names: the registry's order, then host sets by name."""
    names = list(SHIFTED_SETS)
    return (names.index(name), name) if name in names else (len(names), name)


# --------------------------------------------------------------------------------------------
# The suite: settings, labelling, generation


def _training_settings(path: Path) -> tuple[ColumnSamplerConfig, RRTMGConfig, int]:
    """Sampler, RRTMG settings and McICA samples of a training dataset (zarr attrs) or of a run's (model.json)."""
    if (path / "model.json").is_file():
        description = json.loads((path / "model.json").read_text())
        record, levels = description.get("training_data") or {}, description.get("n_levels")
    else:
        ds = open_store(path, what="training dataset")
        record, levels = dict(ds.attrs), ds.sizes.get("level")
    # Data labelled from a columns file (`generate radiation --from`: a host's states) has no sampler: the
    # suite then draws from the default sampler, as the online cases do, on the data's levels where known
    # (a grid-agnostic run records none: the default grid).
    try:
        recorded = record.get("sampler_settings")
        sampler = json.loads(recorded) if recorded else {"n_levels": levels} if levels else {}
        rrtmg = json.loads(record["rrtmg_settings"]) if record.get("rrtmg_settings") else {}
        return ColumnSamplerConfig(**sampler), RRTMGConfig(**rrtmg), int(record.get("mcica_samples", 1))
    except (TypeError, ValueError) as error:
        raise InputError(f"{path}: its sampler or RRTMG settings cannot be read ({error})") from error


@dataclass(frozen=True)
class SuiteConfig:
    """What determines a generalisation suite (each set's ``suite_set`` attribute records it).

    Attributes:
        n_columns: columns per set (host sets: at most this many of the file's).
        seed: seed of the sampled columns and the random shifts; use one the training data did not.
        sets: names from :data:`SHIFTED_SETS` (default all).
        hosts: host set name (without ``host_``) -> columns file (netCDF or zarr, schema variables).
        sampler: the base sampler settings: the training data's (:meth:`like`).
        rrtmg, mcica_samples: RRTMG settings and McICA draws averaged, as the training data's.
        chunk_size: columns per RRTMG call and per McICA seed (as in generated datasets).
    """

    n_columns: int = 500
    seed: int = 1000
    sets: tuple[str, ...] = tuple(SHIFTED_SETS)
    hosts: Mapping[str, str] = field(default_factory=dict)
    sampler: ColumnSamplerConfig = field(default_factory=ColumnSamplerConfig)
    rrtmg: RRTMGConfig = field(default_factory=RRTMGConfig)
    mcica_samples: int = 1
    chunk_size: int = 500

    def __post_init__(self) -> None:
        known = {**SHIFTED_SETS, **CALIBRATION_SETS}
        unknown = [name for name in self.sets if name not in known]
        if unknown:
            raise InputError(f"sets: unknown set(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
        for name, value in (("n_columns", self.n_columns), ("chunk_size", self.chunk_size),
                            ("mcica_samples", self.mcica_samples)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}: must be an integer >= 1, got {value!r}")
        if self.seed < 0:
            raise InputError(f"seed: must be >= 0, got {self.seed}")
        for name in self.hosts:
            if not name.replace("_", "").isalnum():
                raise InputError(f"hosts: set name {name!r} must be letters, digits and underscores")
        if not self.sets and not self.hosts:
            raise InputError("sets: no set chosen (name sets or give host files)")

    @classmethod
    def like(cls, training: str | Path, **settings) -> SuiteConfig:
        """Settings whose base sampler, RRTMG settings and McICA samples are those of ``training``: a radiation
        dataset (zarr) or a training run directory (its ``model.json`` records its data's)."""
        training = Path(training)
        if not training.exists():
            raise InputError(f"{training}: no such training dataset or run directory")
        sampler, rrtmg, samples = _training_settings(training)
        return cls(sampler=sampler, rrtmg=rrtmg, mcica_samples=samples, **settings)

    def specs(self) -> dict[str, SetSpec]:
        """Every set of the suite, named: the registry's chosen ones, then one per host file."""
        hosts = {f"{HOST_PREFIX}{name}": HostStates.for_file(path) for name, path in sorted(self.hosts.items())}
        known = {**SHIFTED_SETS, **CALIBRATION_SETS}
        return {**{name: known[name] for name in self.sets}, **hosts}

    def record(self, name: str, spec: SetSpec) -> str:
        """The JSON that identifies set ``name`` as this suite makes it (its ``suite_set`` attribute)."""
        record = {"set": name, "kind": spec.kind, "spec": asdict(spec), "n_columns": self.n_columns, "seed": self.seed,
                  "sampler": self.sampler.to_dict(), "rrtmg": self.rrtmg.to_dict(),
                  "mcica_samples": self.mcica_samples, "chunk_size": self.chunk_size}  # fmt: skip
        return json.dumps(record, sort_keys=True)


def label_with_mcica(
    inputs: xr.Dataset, rrtmg: RRTMGConfig, seed: int, samples: int, chunk_size: int, *, progress: bool = True,
    description: str = "RRTMG",
) -> xr.Dataset:  # fmt: skip
    """``inputs`` (surface first, schema units) with RRTMG's outputs added, chunk by chunk as a generated dataset
    is labelled: chunk ``k`` takes the McICA seed of ``chunk_seeds(seed, k)``, cloudy columns averaged over
    ``samples`` draws. Inputs are validated first (an error names variable and column)."""
    validate_radiation_inputs(inputs, rrtmg)
    arrays = {name: inputs[name].values for name in RADIATION_INPUTS if name in inputs}
    n = inputs.sizes["column"]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in RADIATION_OUTPUTS}
    for index, start in enumerate(tqdm(range(0, n, chunk_size), desc=description, unit="chunk", disable=not progress)):
        chunk = {name: value[start : start + chunk_size] for name, value in arrays.items()}
        for name, value in mcica_mean(chunk, rrtmg, chunk_seeds(seed, index)[1], samples).items():
            parts[name].append(value)
    labelled = inputs.copy()
    for name, var in RADIATION_OUTPUTS.items():
        values = np.concatenate(parts[name])
        if not np.isfinite(values).all():
            raise FloatingPointError(f"RRTMG returned non-finite {name} for set {description}")
        labelled[name] = xr.Variable(var.dims, values, var.attrs())
    return labelled


@dataclass
class SuiteReport:
    """What one :func:`generate_suite` did: the sets written and those already there (resumed)."""

    directory: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def finished_set(path: Path) -> str | None:
    """The ``suite_set`` record of a finished set at ``path`` (None: nothing there, or not a set subgrid wrote)."""
    if marker(path) is None:
        return None
    return open_store(path, what="suite set").attrs.get(SET_ATTR)


def generate_suite(
    out: str | Path, config: SuiteConfig, *, overwrite: bool = False, progress: bool = True
) -> SuiteReport:
    """Build, label and write every set of ``config`` as ``out/<name>.zarr``; resumable set by set.

    A set already at its path with the same record is skipped; one with another record is refused
    unless ``overwrite``, and then replaced only if subgrid wrote it, after the new one is complete.
    Nothing else in ``out`` is touched.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file, not a suite directory")
    specs = config.specs()
    paths = {name: out / f"{name}.zarr" for name in specs}
    done = {name for name, spec in specs.items() if finished_set(paths[name]) == config.record(name, spec)}
    for name in (name for name in specs if name not in done):  # refuse before any work, not after hours of it
        check_replaceable(paths[name], DATASET, overwrite=overwrite, option="--overwrite")
    out.mkdir(parents=True, exist_ok=True)
    report = SuiteReport(out, skipped=[name for name in specs if name in done])
    context = SetContext(config.n_columns, config.seed, config.sampler)
    for name, spec in specs.items():
        if name in done:
            continue
        rng = np.random.default_rng([config.seed, zlib.crc32(name.encode())])
        labelled = label_with_mcica(spec.build(context, rng), config.rrtmg, config.seed, config.mcica_samples,
                                    config.chunk_size, progress=progress, description=name)  # fmt: skip
        labelled.attrs = {
            "title": f"generalisation set {name}: RRTMG LW+SW fluxes and heating rates on shifted columns",
            "generator": GENERATOR, "generator_version": subgrid.__version__, "seed": config.seed,
            "n_columns": int(labelled.sizes["column"]), "chunk_size": config.chunk_size,
            "rrtmg_settings": json.dumps(config.rrtmg.to_dict(), sort_keys=True),
            "mcica_samples": config.mcica_samples, "vertical_order": VERTICAL_ORDER,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            SET_ATTR: config.record(name, spec),
        }  # fmt: skip
        write_zarr_atomic(labelled.chunk({"column": config.chunk_size}), paths[name], GENERATOR)
        report.written.append(name)
    return report
