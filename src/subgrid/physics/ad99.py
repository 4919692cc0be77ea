"""Alexander & Dunkerton (1999) non-orographic gravity-wave drag, as in MiMA's ``cg_drag.f90``.

Alexander, M. J. and T. J. Dunkerton (1999): A spectral parameterization of mean-flow forcing
due to breaking gravity waves. *J. Atmos. Sci.* 56, 4167-4182. The discretisation follows the
``gwfc`` subroutine of MiMA (Jucker & Gerber 2017, *J. Climate* 30, 7339-7358; SKYHI lineage,
Alexander & Bruhwiler 1998), with MiMA's namelist defaults (docs/REFERENCE.md section 4).

Per column and per wind component ``u`` (MiMA calls the scheme once with the zonal and once with
the meridional wind, each with the whole spectrum), with index ``s`` the source level:

* phase speeds ``c`` = -99.6 ... 99.6 m/s in steps of 1.2 (167 waves), one horizontal
  wavenumber ``k = 2π / 300 km``;
* source spectrum ``B0(c) = sgn(c - u_s) B_w exp[-ln2 ((c - u_s) / c_w)²]`` (m² s⁻²);
* intermittency ``ε = B_t / (ρ_s Σ|B0|)`` so the launched stress totals ``B_t`` (Pa);
* going up from the source, a wave is removed at the first level where

  - ``k |c - u| >= N k / sqrt(k² + 1/(4H²))``: total internal reflection, *no deposition*;
  - ``B0 / (c - u)³ >= (ρ/ρ_s) k / (2N)``: breaking, or ``(c - u)(c - u_s) <= 0``: critical
    level; both *deposit all its flux*;

  waves removed at the source level itself are discarded, as in MiMA;
* flux deposited between levels ``i-1`` and ``i`` accelerates the half level there by
  ``X = (ρ_s / ρ_half) ε Σ B0 / Δz`` (m s⁻²), ``ρ_half = sqrt(ρ_{i-1} ρ_i)``, and each level gets
  the mean of the two half levels around it;
* a ghost level above the top (height and wind extrapolated linearly, density geometrically,
  ``N`` held) absorbs every wave still propagating; that momentum is spread as a uniform
  acceleration over the levels from the damping level (the lowest with pressure below
  0.85 hPa; the top level if none) to the top, weighted by layer mass, so nothing escapes
  the column.

The density scale height ``H`` of a level is that of the layer below it (the lowest level borrows
the layer above). ``N² = (g/T)(∂T/∂z + g/c_p)`` is floored at 2.5e-5 s⁻². The source level is the
highest level with pressure above 315 hPa at the equator, moved down poleward as
``i_s = max(floor((i_eq + 1) cos φ + 0.5) - 1, 1)`` (surface-first indices), MiMA's rule; here
it is applied to each column's own pressure rather than MiMA's reference profile.

Momentum budget (tested): exact per layer (its deposit is the flux lost across it); on levels,
weighting each by half of its two adjacent layers' masses, ``Σ m X = launched flux - flux removed
without deposition`` up to the error of MiMA's averaging onto levels (< 1e-3 ``B_t`` in the tests).

Arrays are ``(..., level)`` with the lowest level first (``surface_first``); the leading axes are
flattened into columns, and every step is vectorised over columns and waves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

from subgrid.core import validation
from subgrid.core.errors import InputError
from subgrid.physics.constants import AD99 as CONSTANTS
from subgrid.physics.constants import SECONDS_PER_DAY

# FMS constants_mod, as MiMA uses them (g = 9.80, c_p = R_d / (2/7)).
_G = CONSTANTS.gravity_m_per_s2
_R_D = CONSTANTS.dry_air_gas_constant_J_per_kg_K
_C_P = CONSTANTS.cp_dry_air_J_per_kg_K

#: Elements per (column × wave × level) block; bounds the temporary arrays to ~30 MB each.
_BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class AD99Config:
    """Settings of the AD99 scheme; defaults are MiMA's ``cg_drag_nml`` (docs/REFERENCE.md section 4)."""

    max_phase_speed_m_per_s: float = 99.6
    phase_speed_step_m_per_s: float = 1.2
    horizontal_wavelength_m: float = 300e3
    #: ``B_w``: amplitude of one wave packet; sets where waves break (ε rescales the flux).
    source_flux_amplitude_m2_per_s2: float = 0.4
    #: ``c_w``: half width at half maximum of the source spectrum.
    spectral_half_width_m_per_s: float = 35.0
    #: ``B_t``: total launched stress Σ|ρ_s ε B0|.
    source_stress_Pa: float = 4.3e-3
    min_buoyancy_frequency_squared_per_s2: float = 2.5e-5
    source_pressure_Pa: float = 31500.0
    damp_pressure_Pa: float = 85.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (np.isfinite(value) and value > 0.0):
                raise InputError(f"AD99Config.{name}: must be finite and > 0, got {value!r}")
        steps = 2.0 * self.max_phase_speed_m_per_s / self.phase_speed_step_m_per_s
        if abs(steps - round(steps)) > 1e-9 * max(steps, 1.0):
            raise InputError(
                "AD99Config.phase_speed_step_m_per_s: must divide 2 x max_phase_speed_m_per_s "
                f"({2 * self.max_phase_speed_m_per_s:g}) into whole steps, got "
                f"{self.phase_speed_step_m_per_s:g}"
            )
        if self.damp_pressure_Pa >= self.source_pressure_Pa:
            raise InputError(
                f"AD99Config.damp_pressure_Pa: {self.damp_pressure_Pa:g} Pa must be below "
                f"source_pressure_Pa ({self.source_pressure_Pa:g} Pa)"
            )

    @property
    def phase_speeds_m_per_s(self) -> np.ndarray:
        """Ground-relative phase speeds, symmetric about 0 (167 by default)."""
        n = round(2.0 * self.max_phase_speed_m_per_s / self.phase_speed_step_m_per_s) + 1
        return -self.max_phase_speed_m_per_s + self.phase_speed_step_m_per_s * np.arange(n)

    @property
    def wavenumber_per_m(self) -> float:
        return 2.0 * np.pi / self.horizontal_wavelength_m

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WaveDrag:
    """AD99 result for one wind component; leading axes are those of the input wind.

    ``flux_Pa`` is the momentum flux ``ρ_s ε Σ B0`` of the waves still propagating through each
    interface (``interface i+1`` lies above level ``i``; zero at and below the source level's
    lower interface); its value at the top interface is what the ghost level absorbs.
    """

    drag_m_per_s_per_day: np.ndarray  #: (..., level)
    flux_Pa: np.ndarray  #: (..., level + 1)
    launched_flux_Pa: np.ndarray  #: (...,) flux leaving the source level upward
    removed_flux_Pa: np.ndarray  #: (...,) flux removed above the source without deposition


@dataclass(frozen=True)
class AD99Drag:
    """Drag on both wind components (MiMA projects the wind on each direction in turn)."""

    eastward: WaveDrag
    northward: WaveDrag


# --------------------------------------------------------------------------------------------
# Profiles from temperature and pressure (MiMA's cg_drag_calc)


def buoyancy_frequency(
    temperature_K: np.ndarray, height_m: np.ndarray, config: AD99Config = AD99Config()
) -> np.ndarray:
    """``N = sqrt(max((g/T)(∂T/∂z + g/c_p), N²_min))`` (s⁻¹) on levels.

    ``∂T/∂z`` is centred over two layers inside the column and one-sided at its ends, as in
    ``cg_drag_calc``. Arrays are ``(..., level)``.
    """
    t = np.asarray(temperature_K, dtype=float)
    z = np.asarray(height_m, dtype=float)
    lapse = np.empty(np.broadcast_shapes(t.shape, z.shape))
    lapse[..., 1:-1] = (t[..., 2:] - t[..., :-2]) / (z[..., 2:] - z[..., :-2])
    lapse[..., :1] = (t[..., 1:2] - t[..., :1]) / (z[..., 1:2] - z[..., :1])
    lapse[..., -1:] = (t[..., -1:] - t[..., -2:-1]) / (z[..., -1:] - z[..., -2:-1])
    n_squared = _G / t * (lapse + _G / _C_P)
    return np.sqrt(np.maximum(n_squared, config.min_buoyancy_frequency_squared_per_s2))


def air_density(pressure_Pa: np.ndarray, temperature_K: np.ndarray) -> np.ndarray:
    """Ideal-gas density ``p / (R_d T)`` (kg m⁻³)."""
    return np.asarray(pressure_Pa, dtype=float) / (_R_D * np.asarray(temperature_K))


def source_level_index(
    pressure_Pa: np.ndarray, latitude_deg: np.ndarray, config: AD99Config = AD99Config()
) -> np.ndarray:
    """MiMA's source level per column (surface-first index; pressure ``(..., level)`` decreasing up).

    At the equator: the highest level with pressure above ``source_pressure_Pa`` (``i_eq``);
    poleward it descends as ``max(floor((i_eq + 1) cos φ + 0.5) - 1, 1)``.
    """
    pressure_Pa = np.asarray(pressure_Pa, dtype=float)
    below = pressure_Pa > config.source_pressure_Pa
    if not below[..., 0].all():
        column = int(np.flatnonzero(~below[..., 0].ravel())[0])
        raise InputError(
            f"pressure_Pa: lowest level is above the {config.source_pressure_Pa:g} Pa source level "
            f"at column {column}"
        )
    i_equator = below.sum(axis=-1) - 1
    cos_lat = np.cos(np.deg2rad(np.asarray(latitude_deg, dtype=float)))
    return np.maximum(np.floor((i_equator + 1) * cos_lat + 0.5).astype(int) - 1, 1)


def damp_level_index(pressure_Pa: np.ndarray, config: AD99Config = AD99Config()) -> np.ndarray:
    """Lowest level with pressure below ``damp_pressure_Pa`` (the top level if none), per column."""
    above = np.asarray(pressure_Pa, dtype=float) < config.damp_pressure_Pa
    n_levels = above.shape[-1]
    return np.where(above.any(axis=-1), np.argmax(above, axis=-1), n_levels - 1)


# --------------------------------------------------------------------------------------------
# Core scheme on arrays


def _as_columns(name: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    try:
        full = np.broadcast_to(np.asarray(values, dtype=float), shape)
    except ValueError:
        raise InputError(
            f"{name}: shape {np.shape(values)} does not broadcast to the wind's shape {shape}"
        ) from None
    return full.reshape(-1, shape[-1])


def _level_index(name: str, values: np.ndarray | int, n_columns: int, n_levels: int) -> np.ndarray:
    index = np.asarray(values)
    if not np.issubdtype(index.dtype, np.integer):
        raise InputError(f"{name}: must be integer level indices, got dtype {index.dtype}")
    try:
        index = np.broadcast_to(index.reshape(-1) if index.ndim else index, (n_columns,))
    except ValueError:
        raise InputError(f"{name}: {index.size} values for {n_columns} columns") from None
    bad = (index < 0) | (index >= n_levels)
    if bad.any():
        column = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name}: {index[column]} outside [0, {n_levels - 1}] at column {column}")
    return index.astype(np.intp)


def _columns(
    winds: dict[str, np.ndarray],
    buoyancy_frequency_per_s: np.ndarray,
    density_kg_per_m3: np.ndarray,
    height_m: np.ndarray,
    check: bool = True,
) -> dict[str, np.ndarray]:
    """``(column, level)`` float arrays, validated unless ``check`` is False.

    Raises InputError naming variable and column: shapes, NaN/Inf, N >= 0, ρ > 0 and decreasing
    upward, height increasing upward.
    """
    shape = np.shape(next(iter(winds.values())))
    if len(shape) < 1 or shape[-1] < 3:
        raise InputError(f"{next(iter(winds))}: need (..., level) with at least 3 levels, got shape {shape}")
    for name, wind in winds.items():
        if np.shape(wind) != shape:
            raise InputError(f"{name}: shape {np.shape(wind)} differs from {next(iter(winds))} shape {shape}")
    profiles = {name: _as_columns(name, wind, shape) for name, wind in winds.items()}
    profiles["buoyancy_frequency_per_s"] = _as_columns("buoyancy_frequency_per_s", buoyancy_frequency_per_s, shape)
    profiles["density_kg_per_m3"] = _as_columns("density_kg_per_m3", density_kg_per_m3, shape)
    profiles["height_m"] = _as_columns("height_m", height_m, shape)
    if not check:
        return profiles
    ds = xr.Dataset({name: (("column", "level"), values) for name, values in profiles.items()})
    validation.check_finite(ds, list(profiles))
    validation.check_range(ds, "buoyancy_frequency_per_s", 0.0, units="s-1")
    validation.check_range(ds, "density_kg_per_m3", 0.0, units="kg m-3", low_inclusive=False)
    validation.check_monotonic(ds, "height_m", "level", decreasing=False)
    validation.check_monotonic(ds, "density_kg_per_m3", "level", decreasing=True)
    return profiles


def _column_drag(
    wind: np.ndarray,
    buoyancy_frequency_per_s: np.ndarray,
    density: np.ndarray,
    height: np.ndarray,
    source: np.ndarray,
    damp: np.ndarray,
    config: AD99Config,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The scheme on validated ``(column, level)`` arrays.

    Returns drag (m s⁻², levels), flux (Pa, interfaces), launched and removed flux (Pa).
    Instead of stepping level by level, each wave's removal level is the first level at or above
    the source where any criterion holds (the criteria depend only on the local state), found
    with one ``argmax`` over a (column, wave, level) block.
    """
    n_columns, n_levels = wind.shape
    c = config.phase_speeds_m_per_s
    k = config.wavenumber_per_m
    columns = np.arange(n_columns)
    n_freq = np.maximum(buoyancy_frequency_per_s, np.sqrt(config.min_buoyancy_frequency_squared_per_s2))

    # Ghost level above the top (cg_drag_calc): z and u extrapolated linearly, ρ geometrically, N held.
    z = np.concatenate([height, 2.0 * height[:, -1:] - height[:, -2:-1]], axis=1)
    u = np.concatenate([wind, 2.0 * wind[:, -1:] - wind[:, -2:-1]], axis=1)
    rho = np.concatenate([density, density[:, -1:] * density[:, -1:] / density[:, -2:-1]], axis=1)
    n_freq = np.concatenate([n_freq, n_freq[:, -1:]], axis=1)

    # Layer j lies between levels j and j+1; layer n_levels-1 is the ghost layer.
    dz = np.diff(z, axis=1)
    rho_half = np.sqrt(rho[:, 1:] * rho[:, :-1])
    scale_height = dz / np.log(rho[:, :-1] / rho[:, 1:])
    scale_height = np.concatenate([scale_height[:, :1], scale_height], axis=1)
    reflection_frequency = n_freq * k / np.sqrt(k * k + 0.25 / (scale_height * scale_height))

    rho_source = density[columns, source]
    c_minus_u_source = c[None, :] - wind[columns, source][:, None]
    ratio = c_minus_u_source / config.spectral_half_width_m_per_s
    b0 = np.sign(c_minus_u_source) * config.source_flux_amplitude_m2_per_s2 * np.exp(-np.log(2.0) * ratio * ratio)
    # ρ_s ε: turns B0 (m² s⁻²) into launched stress (Pa) with Σ|ρ_s ε B0| = B_t.
    stress_per_b0 = config.source_stress_Pa / np.abs(b0).sum(axis=1)
    breaking_threshold = 0.5 * (rho / rho_source[:, None]) * k / n_freq

    levels = np.arange(n_levels + 1)
    removal_level = np.empty(b0.shape, dtype=np.intp)
    silent = np.empty(b0.shape, dtype=bool)
    block = max(1, _BLOCK_ELEMENTS // (c.size * (n_levels + 1)))
    for start in range(0, n_columns, block):
        cols = slice(start, start + block)
        c_minus_u = c[None, :, None] - u[cols, None, :]
        no_deposit = (c_minus_u == 0.0) | (np.abs(c_minus_u) * k >= reflection_frequency[cols, None, :])
        cube = np.where(c_minus_u == 0.0, 1.0, c_minus_u)
        cube = cube * cube * cube
        gone = (
            no_deposit
            | (b0[cols, :, None] / cube >= breaking_threshold[cols, None, :])
            | (c_minus_u_source[cols, :, None] * c_minus_u <= 0.0)
        )
        # MiMA deposits every wave reaching the ghost level there (unless it reflects), so that
        # no momentum leaves through the model lid (Shaw & Shepherd 2009).
        gone[..., -1] = True
        gone &= levels[None, None, :] >= source[cols, None, None]
        first = np.argmax(gone, axis=2)
        removal_level[cols] = first
        silent[cols] = np.take_along_axis(no_deposit, first[..., None], axis=2)[..., 0]

    above_source = removal_level > source[:, None]
    deposited = above_source & ~silent
    row = np.broadcast_to(columns[:, None], b0.shape)
    deposit_b0 = np.bincount(
        (row * n_levels + removal_level - 1)[deposited], weights=b0[deposited], minlength=n_columns * n_levels
    ).reshape(n_columns, n_levels)
    removed_b0 = np.bincount(
        (row * (n_levels + 1) + removal_level).ravel(), weights=b0.ravel(), minlength=n_columns * (n_levels + 1)
    ).reshape(n_columns, n_levels + 1)

    layer_mass = rho_half * dz
    layer_drag = stress_per_b0[:, None] * deposit_b0 / layer_mass
    drag = np.zeros((n_columns, n_levels))
    drag[:, 1:] += 0.5 * layer_drag[:, :-1]
    drag[:, :-1] += 0.5 * layer_drag[:, :-1]
    # Ghost-layer momentum: a uniform acceleration over damp..top, each level weighted by the
    # mass of the layer below it (MiMA's mass_top).
    level_mass = np.concatenate([layer_mass[:, :1], layer_mass[:, :-1]], axis=1)
    in_damp = levels[None, :n_levels] >= damp[:, None]
    top_stress = stress_per_b0 * deposit_b0[:, -1]
    drag += in_damp * (top_stress / (level_mass * in_damp).sum(axis=1))[:, None]

    remaining_b0 = b0.sum(axis=1)[:, None] - np.cumsum(removed_b0[:, :n_levels], axis=1)
    flux_above = stress_per_b0[:, None] * remaining_b0 * (levels[None, :n_levels] >= source[:, None])
    flux = np.concatenate([np.zeros((n_columns, 1)), flux_above], axis=1)
    launched = flux_above[columns, source]
    removed = stress_per_b0 * np.where(above_source & silent, b0, 0.0).sum(axis=1)
    return drag, flux, launched, removed


def _wave_drag(drag: np.ndarray, flux: np.ndarray, launched: np.ndarray, removed: np.ndarray, lead: tuple) -> WaveDrag:
    return WaveDrag(
        drag_m_per_s_per_day=drag.reshape(*lead, -1) * SECONDS_PER_DAY,
        flux_Pa=flux.reshape(*lead, -1),
        launched_flux_Pa=launched.reshape(lead),
        removed_flux_Pa=removed.reshape(lead),
    )


def gw_drag_component(
    wind_m_per_s: np.ndarray,
    buoyancy_frequency_per_s: np.ndarray,
    density_kg_per_m3: np.ndarray,
    height_m: np.ndarray,
    source_index: np.ndarray | int,
    damp_index: np.ndarray | int | None = None,
    config: AD99Config = AD99Config(),
    *,
    check_inputs: bool = True,
) -> WaveDrag:
    """AD99 drag on one wind component (the wind projected on the waves' direction).

    ``wind_m_per_s`` is ``(..., level)``, lowest level first, at least 3 levels;
    ``buoyancy_frequency_per_s`` (floored at ``sqrt(N²_min)``), ``density_kg_per_m3`` and
    ``height_m`` broadcast to it (one profile may serve all columns). ``source_index`` and
    ``damp_index`` (default: the top level) are level indices, one per column or one for all.
    Raises :class:`~subgrid.core.errors.InputError` naming the variable and the (flattened) column;
    ``check_inputs=False`` skips the profile checks (a few hundred µs) for hot loops whose
    background profiles were validated once, e.g. a host model stepping one column.
    """
    profiles = _columns(
        {"wind_m_per_s": wind_m_per_s}, buoyancy_frequency_per_s, density_kg_per_m3, height_m, check_inputs
    )
    n_columns, n_levels = profiles["wind_m_per_s"].shape
    source = _level_index("source_index", source_index, n_columns, n_levels)
    damp = _level_index("damp_index", n_levels - 1 if damp_index is None else damp_index, n_columns, n_levels)
    return _wave_drag(*_column_drag(*profiles.values(), source, damp, config), np.shape(wind_m_per_s)[:-1])


def gw_drag(
    u_m_per_s: np.ndarray,
    v_m_per_s: np.ndarray,
    buoyancy_frequency_per_s: np.ndarray,
    density_kg_per_m3: np.ndarray,
    height_m: np.ndarray,
    source_index: np.ndarray | int,
    damp_index: np.ndarray | int | None = None,
    config: AD99Config = AD99Config(),
) -> AD99Drag:
    """AD99 drag on both wind components; arguments as :func:`gw_drag_component`.

    Each component sees the whole spectrum and the full ``B_t``, as in MiMA. Drag in
    m s⁻¹ day⁻¹, fluxes in Pa.
    """
    profiles = _columns(
        {"u_m_per_s": u_m_per_s, "v_m_per_s": v_m_per_s}, buoyancy_frequency_per_s, density_kg_per_m3, height_m
    )
    n_columns, n_levels = profiles["u_m_per_s"].shape
    source = _level_index("source_index", source_index, n_columns, n_levels)
    damp = _level_index("damp_index", n_levels - 1 if damp_index is None else damp_index, n_columns, n_levels)
    twice = lambda a: np.concatenate([a, a])  # noqa: E731 - both components share the column state
    stacked = _column_drag(
        np.concatenate([profiles["u_m_per_s"], profiles["v_m_per_s"]]),
        twice(profiles["buoyancy_frequency_per_s"]),
        twice(profiles["density_kg_per_m3"]),
        twice(profiles["height_m"]),
        twice(source),
        twice(damp),
        config,
    )
    lead = np.shape(u_m_per_s)[:-1]
    return AD99Drag(
        eastward=_wave_drag(*(a[:n_columns] for a in stacked), lead),
        northward=_wave_drag(*(a[n_columns:] for a in stacked), lead),
    )


def gw_drag_from_state(
    u_m_per_s: np.ndarray,
    v_m_per_s: np.ndarray,
    temperature_K: np.ndarray,
    pressure_Pa: np.ndarray,
    height_m: np.ndarray,
    latitude_deg: np.ndarray | float,
    config: AD99Config = AD99Config(),
) -> AD99Drag:
    """AD99 drag from a GCM-like state, as MiMA's ``cg_drag_calc`` prepares it.

    ``(..., level)`` arrays, lowest level first; ``latitude_deg`` has the leading shape (or is a
    scalar). ``N`` from the temperature lapse rate (:func:`buoyancy_frequency`), ``ρ = p/(R_d T)``,
    source and damping levels from pressure and latitude (:func:`source_level_index`,
    :func:`damp_level_index`).
    """
    shape = np.shape(u_m_per_s)
    state = {
        "temperature_K": _as_columns("temperature_K", temperature_K, shape),
        "pressure_Pa": _as_columns("pressure_Pa", pressure_Pa, shape),
        "height_m": _as_columns("height_m", height_m, shape),
    }
    ds = xr.Dataset({name: (("column", "level"), values) for name, values in state.items()})
    validation.check_finite(ds, list(state))
    validation.check_range(ds, "temperature_K", 0.0, units="K", low_inclusive=False)
    validation.check_range(ds, "pressure_Pa", 0.0, units="Pa", low_inclusive=False)
    validation.check_monotonic(ds, "pressure_Pa", "level", decreasing=True)
    validation.check_monotonic(ds, "height_m", "level", decreasing=False)
    latitude = np.broadcast_to(np.asarray(latitude_deg, dtype=float), shape[:-1]).reshape(-1)
    if not np.isfinite(latitude).all() or (np.abs(latitude) > 90.0).any():
        column = int(np.flatnonzero(~(np.abs(latitude) <= 90.0))[0])
        raise InputError(f"latitude_deg: {latitude[column]} is not a latitude in [-90, 90] at column {column}")
    return gw_drag(
        u_m_per_s,
        v_m_per_s,
        buoyancy_frequency(state["temperature_K"], state["height_m"], config).reshape(shape),
        air_density(state["pressure_Pa"], state["temperature_K"]).reshape(shape),
        state["height_m"].reshape(shape),
        source_level_index(state["pressure_Pa"], latitude, config),
        damp_level_index(state["pressure_Pa"], config),
        config,
    )
