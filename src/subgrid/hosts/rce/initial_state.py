"""The RCE host's initial state: prepared columns, fixed relative humidity, and harder (extreme) cases.

:func:`prepare_columns` checks an initial state and splits it into the radiation inputs a run
holds fixed and what evolves; :func:`fixed_relative_humidity` is the host's moisture closure
(:mod:`subgrid.hosts.rce.model`, step 5); :func:`extreme_initial_states` pushes columns to the
edges of (or out of) an emulator's training range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.hosts.rce.config import EVOLVING_INPUTS, SOLAR_DESCRIPTORS, RCEConfig
from subgrid.physics.insolation import solar_geometry_after
from subgrid.physics.rrtmg import to_surface_first, validate_radiation_inputs
from subgrid.physics.schema import RADIATION_INPUTS
from subgrid.physics.thermodynamics import (
    saturation_mole_fraction,
    saturation_specific_humidity_kg_per_kg,
    vapour_mole_fraction,
)

#: Kinds of :func:`extreme_initial_states` (``extreme_kind`` codes: index = code).
EXTREME_KINDS = ("warm", "cold", "moist", "dry", "polar_night")


def fixed_relative_humidity(
    temperature_K: np.ndarray,
    pressure_Pa: np.ndarray,
    relative_humidity: np.ndarray,
    fixed_specific_humidity: np.ndarray,
    troposphere: np.ndarray,
    max_specific_humidity_kg_per_kg: float,
) -> np.ndarray:
    """Specific humidity: ``relative_humidity`` kept where ``troposphere``, ``fixed_specific_humidity`` above;
    capped at saturation and at ``max_specific_humidity_kg_per_kg`` everywhere."""
    saturation = saturation_specific_humidity_kg_per_kg(temperature_K, pressure_Pa)
    moist = np.where(troposphere, relative_humidity * saturation, fixed_specific_humidity)
    return np.minimum(np.minimum(moist, saturation), max_specific_humidity_kg_per_kg)


@dataclass(frozen=True)
class PreparedColumns:
    """The prepared initial state: fixed radiation inputs and what the humidity and sun need."""

    fixed: dict[str, np.ndarray]
    temperature_K: np.ndarray
    surface_temperature_K: np.ndarray
    relative_humidity: np.ndarray
    specific_humidity: np.ndarray
    troposphere: np.ndarray
    latitude_deg: np.ndarray
    day_of_year: np.ndarray
    local_solar_time_h: np.ndarray
    coords: dict

    @property
    def pressure_Pa(self) -> np.ndarray:
        return self.fixed["air_pressure"]

    @property
    def pressure_interface_Pa(self) -> np.ndarray:
        return self.fixed["air_pressure_on_interface"]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.fixed):
            digest.update(name.encode() + np.ascontiguousarray(self.fixed[name], dtype=float).tobytes())
        for value in (self.temperature_K, self.surface_temperature_K, self.specific_humidity, self.latitude_deg,
                      self.day_of_year, self.local_solar_time_h):
            digest.update(np.ascontiguousarray(value, dtype=float).tobytes())  # fmt: skip
        return digest.hexdigest()


def prepare_columns(initial_state: xr.Dataset, config: RCEConfig) -> PreparedColumns:
    """``initial_state`` checked (errors name variable and column) and prepared for a run with ``config``."""
    if not isinstance(initial_state, xr.Dataset):
        raise InputError(f"initial_state: expected an xarray Dataset of columns, got {type(initial_state).__name__}")
    missing = [name for name in SOLAR_DESCRIPTORS if name not in initial_state]
    if missing:
        raise InputError(
            f"initial_state: missing {', '.join(missing)} (the host's sun needs them; "
            "subgrid.radiation.columns.sample_columns provides them)"
        )
    ordered, _ = to_surface_first(initial_state)
    validate_radiation_inputs(ordered)
    for name in SOLAR_DESCRIPTORS:
        values = ordered[name].values
        if ordered[name].dims != ("column",) or not np.isfinite(values).all():
            raise InputError(f"{name}: must be finite, on dims ('column',)")
    latitude = ordered["latitude"].values.astype(float)
    if np.abs(latitude).max() > 90.0:
        raise InputError(f"latitude: outside [-90, 90] degrees at column {int(np.argmax(np.abs(latitude) > 90))}")
    for name, value in (("air_temperature", ordered["air_temperature"].values),
                        ("surface_temperature", ordered["surface_temperature"].values)):  # fmt: skip
        outside = (value < config.min_temperature_K) | (value > config.max_temperature_K)
        if outside.any():
            column = int(np.argwhere(outside)[0][0])
            raise InputError(
                f"{name}: outside the host's [{config.min_temperature_K:g}, {config.max_temperature_K:g}] K "
                f"(a run would start crashed), first at column {column}"
            )
    arrays = {name: ordered[name].values.astype(float) for name in RADIATION_INPUTS if name in ordered}
    n_columns = arrays["air_temperature"].shape[0]
    arrays.setdefault("earth_sun_distance_factor", np.ones(n_columns))
    temperature, pressure, q = arrays["air_temperature"], arrays["air_pressure"], arrays["specific_humidity"]

    searched = pressure >= config.cold_point_min_pressure_Pa
    if not searched[:, 0].all():
        column = int(np.flatnonzero(~searched[:, 0])[0])
        raise InputError(
            f"cold_point_min_pressure_Pa: {config.cold_point_min_pressure_Pa:g} Pa is above the lowest level of "
            f"column {column}"
        )
    cold_point = np.argmin(np.where(searched, temperature, np.inf), axis=1)
    troposphere = np.arange(temperature.shape[1])[None, :] <= cold_point[:, None]
    saturation = np.minimum(saturation_mole_fraction(temperature, pressure), 1.0)
    relative_humidity = np.minimum(vapour_mole_fraction(q) / saturation, 1.0)
    fixed = {name: value for name, value in arrays.items() if name not in EVOLVING_INPUTS}
    humidity = fixed_relative_humidity(
        temperature, pressure, relative_humidity, q, troposphere, config.max_specific_humidity_kg_per_kg
    )
    coords = {"column": ordered["column"].values} if "column" in ordered.coords else {}
    return PreparedColumns(
        fixed=fixed,
        temperature_K=temperature,
        surface_temperature_K=arrays["surface_temperature"],
        relative_humidity=relative_humidity,
        specific_humidity=humidity,
        troposphere=troposphere,
        latitude_deg=latitude,
        day_of_year=ordered["day_of_year"].values.astype(float),
        local_solar_time_h=ordered["local_solar_time"].values.astype(float),
        coords=coords,
    )


# --------------------------------------------------------------------------------------------
# Harder cases


def extreme_initial_states(
    columns: xr.Dataset,
    rng: np.random.Generator | int,
    kinds: Sequence[str] = EXTREME_KINDS,
    config: RCEConfig = RCEConfig(),
) -> xr.Dataset:
    """Columns pushed to the edges of (or out of) an emulator's training range, kinds assigned cyclically.

    * ``warm`` / ``cold``: air and surface temperatures shifted by ±U(15, 30) K, relative
      humidity kept (so a warm column is moister);
    * ``moist``: saturated below the cold point; ``dry``: a tenth of the humidity there;
    * ``polar_night``: moved to latitude ±U(75, 89)° at its winter solstice, 10-20 K colder.

    Temperatures are clipped to [160, 340] K, humidity capped as the host caps it (``config``).
    Adds ``extreme_kind`` (column; flag meanings) and returns a surface-first Dataset.
    """
    unknown = [kind for kind in kinds if kind not in EXTREME_KINDS]
    if unknown or not kinds:
        raise InputError(f"kinds: {unknown or 'none'} not among {', '.join(EXTREME_KINDS)}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ordered, _ = to_surface_first(columns)
    ds = ordered.copy(deep=True)
    prepared = prepare_columns(ds, config)
    n_columns = ds.sizes["column"]
    codes = np.array([EXTREME_KINDS.index(kinds[i % len(kinds)]) for i in range(n_columns)], dtype=np.int8)
    kind = np.array(EXTREME_KINDS)[codes]

    sign = np.where(kind == "warm", 1.0, np.where(kind == "cold", -1.0, 0.0))
    shift = sign * generator.uniform(15.0, 30.0, n_columns)
    polar = kind == "polar_night"
    north = generator.random(n_columns) < 0.5
    shift = np.where(polar, -generator.uniform(10.0, 20.0, n_columns), shift)
    latitude = np.where(north, 1.0, -1.0) * generator.uniform(75.0, 89.0, n_columns)
    ds["latitude"] = ds["latitude"].copy(data=np.where(polar, latitude, ds["latitude"].values))
    solstice = np.where(north, 355.0, 172.0)  # the winter solstice of each hemisphere
    ds["day_of_year"] = ds["day_of_year"].copy(data=np.where(polar, solstice, ds["day_of_year"].values))
    temperature = np.clip(ds["air_temperature"].values + shift[:, None], 160.0, 340.0)
    surface = np.clip(ds["surface_temperature"].values + shift, 160.0, 340.0)
    cos_zenith, _ = solar_geometry_after(
        ds["latitude"].values, ds["day_of_year"].values, ds["local_solar_time"].values, 0.0
    )

    relative_humidity = prepared.relative_humidity.copy()
    relative_humidity[kind == "moist"] = 1.0
    relative_humidity[kind == "dry"] *= 0.1
    humidity = fixed_relative_humidity(
        temperature, prepared.pressure_Pa, relative_humidity, prepared.specific_humidity, prepared.troposphere,
        config.max_specific_humidity_kg_per_kg,
    )  # fmt: skip
    ds["air_temperature"] = ds["air_temperature"].copy(data=temperature)
    ds["surface_temperature"] = ds["surface_temperature"].copy(data=surface)
    ds["specific_humidity"] = ds["specific_humidity"].copy(data=np.maximum(humidity, 1e-7))
    ds["cos_solar_zenith_angle"] = ds["cos_solar_zenith_angle"].copy(data=cos_zenith)
    ds["extreme_kind"] = (("column",), codes, {"flag_values": np.arange(len(EXTREME_KINDS), dtype=np.int8),
                                               "flag_meanings": " ".join(EXTREME_KINDS)})  # fmt: skip
    return ds

