"""One-dimensional QBO model (Holton & Lindzen 1972; Plumb 1977), as in DataWave's ``qbo1d``.

The zonal-mean zonal wind ``u(z, t)`` over the equator obeys

    ∂u/∂t + w ∂u/∂z - κ ∂²u/∂z² = -(1/ρ) ∂F/∂z   (the right-hand side is the *drag*),

on 17-35 km with Δz = 250 m (73 levels), Δt = 1 day, κ = 0.3 m² s⁻¹, N = 0.0216 s⁻¹ and an
isothermal density ``ρ = p_s/(R T) exp(-z/H)`` (T = 204 K, H = RT/g ≈ 5.97 km); ``u = 0`` at both
boundaries (DESIGN.md section 4; O. Shamir's ``qbo1d``, github.com/ofershamir/qbo1d).

Time stepping is ``qbo1d``'s: advection-diffusion centred in space and trapezoidal over two
steps, drag by leapfrog,

    (I + Δt L) u⁺ = (I - Δt L) u⁻ + 2 Δt S(u),   L = w D₁ - κ D₂,

started by one forward step. ``L`` is tridiagonal and constant, so its system is solved once for
all right-hand sides (the inverse is stored: one 73×73 product per step instead of a Thomas
sweep of 72 interpreted steps). Boundary rows of ``L`` and of the drag are zero, which holds
``u`` at its (zero) boundary values.

A drag source is any callable ``drag(u[..., nz], state) -> m s⁻¹ day⁻¹`` with
:class:`QBOState` as ``state``; physics schemes and emulators plug in the same way. Provided:
:class:`PlumbTwoWave`, :class:`StochasticWaves`, :class:`AD99Column`.

Diagnostics use a 360-day year and 30-day months, as ``qbo1d`` does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.physics.ad99 import AD99Config, gw_drag_component

GRAVITY_M_PER_S2 = 9.8
DRY_AIR_GAS_CONSTANT_J_PER_KG_K = 287.04
SECONDS_PER_DAY = 86400.0
DAYS_PER_YEAR = 360.0
DAYS_PER_MONTH = 30.0
#: Equatorial circumference (m) that turns a zonal wavenumber into k (m⁻¹), as in ``qbo1d``.
EQUATOR_LENGTH_M = 4.0e7


@dataclass(frozen=True)
class QBOConfig:
    """Grid, coefficients and background atmosphere of the 1-D QBO model (``qbo1d`` defaults).

    ``upwelling_m_per_s`` differs by forcing in the literature: 1e-5 for ``qbo1d``'s two-wave
    example, 3e-4 for its stochastic control run, ≈4.5e-4 with an AD99 source (DESIGN.md).
    """

    bottom_height_m: float = 17e3
    top_height_m: float = 35e3
    level_spacing_m: float = 250.0
    time_step_days: float = 1.0
    upwelling_m_per_s: float = 1e-5
    diffusivity_m2_per_s: float = 0.3
    buoyancy_frequency_per_s: float = 0.0216
    temperature_K: float = 204.0
    surface_pressure_Pa: float = 101325.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not np.isfinite(value):
                raise InputError(f"QBOConfig.{name}: must be finite, got {value!r}")
        for name in ("level_spacing_m", "time_step_days", "buoyancy_frequency_per_s", "temperature_K",
                     "surface_pressure_Pa"):
            if getattr(self, name) <= 0.0:
                raise InputError(f"QBOConfig.{name}: must be > 0, got {getattr(self, name)!r}")
        if self.diffusivity_m2_per_s < 0.0:
            raise InputError(f"QBOConfig.diffusivity_m2_per_s: must be >= 0, got {self.diffusivity_m2_per_s!r}")
        intervals = (self.top_height_m - self.bottom_height_m) / self.level_spacing_m
        if intervals < 2.0 or abs(intervals - round(intervals)) > 1e-9 * intervals:
            raise InputError(
                f"QBOConfig.level_spacing_m: {self.level_spacing_m:g} m must divide "
                f"{self.bottom_height_m:g}-{self.top_height_m:g} m into at least 2 whole intervals"
            )

    @property
    def height_m(self) -> np.ndarray:
        n = round((self.top_height_m - self.bottom_height_m) / self.level_spacing_m) + 1
        return self.bottom_height_m + self.level_spacing_m * np.arange(n)

    @property
    def scale_height_m(self) -> float:
        return DRY_AIR_GAS_CONSTANT_J_PER_KG_K * self.temperature_K / GRAVITY_M_PER_S2

    @property
    def density_kg_per_m3(self) -> np.ndarray:
        """Isothermal ``ρ(z) = p_s / (R T) exp(-z / H)``."""
        surface = self.surface_pressure_Pa / (DRY_AIR_GAS_CONSTANT_J_PER_KG_K * self.temperature_K)
        return surface * np.exp(-self.height_m / self.scale_height_m)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class QBOState:
    """What a drag source may read besides the wind: clock, seed and the model's background."""

    step: int
    time_days: float
    seed: int
    config: QBOConfig
    height_m: np.ndarray
    density_kg_per_m3: np.ndarray


#: The one drag contract: ``(u[..., nz] in m/s, state) -> drag[..., nz] in m s⁻¹ day⁻¹``.
DragSource = Callable[[np.ndarray, QBOState], np.ndarray]


# --------------------------------------------------------------------------------------------
# Drag sources


def plumb_dissipation_rate_per_s(height_m: np.ndarray) -> np.ndarray:
    """Holton & Lindzen (1972) wave damping α(z) (s⁻¹).

    ``(1/21 + (2/21)(z - 17 km)/13 km) day⁻¹`` up to 30 km, ``1/7 day⁻¹`` above (continuous there).
    """
    height_m = np.asarray(height_m, dtype=float)
    per_day = np.where(height_m <= 30e3, 1.0 / 21.0 + (2.0 / 21.0) * (height_m - 17e3) / 13e3, 1.0 / 7.0)
    return per_day / SECONDS_PER_DAY


def plumb_wave_drag(
    u_m_per_s: np.ndarray,
    flux_amplitudes_Pa: np.ndarray,
    phase_speeds_m_per_s: np.ndarray,
    wavenumbers_per_m: np.ndarray,
    state: QBOState,
) -> np.ndarray:
    """Drag ``-(1/ρ) ∂F/∂z`` (m s⁻¹ day⁻¹) of damped waves, ``F = Σ Aᵢ exp(-∫ αN / (kᵢ (cᵢ-u)²) dz)``.

    ``Aᵢ`` (Pa, sign = direction) is the flux at the bottom, so ``Aᵢ = ρ₀ Aᵢ'`` in Plumb's notation.
    As in ``qbo1d``: the integral is a cumulative trapezoid from the bottom, ``∂F/∂z`` a centred
    difference, zero at both boundaries. Amplitudes may carry leading axes ``(..., wave)``.
    """
    u = np.asarray(u_m_per_s, dtype=float)[..., None, :]
    c = np.asarray(phase_speeds_m_per_s, dtype=float)[:, None]
    k = np.asarray(wavenumbers_per_m, dtype=float)[:, None]
    alpha = plumb_dissipation_rate_per_s(state.height_m)
    relative = c - u
    # A wave exactly at its critical level has infinite damping: exp(-inf) = 0 absorbs it.
    with np.errstate(divide="ignore"):
        damping = state.config.buoyancy_frequency_per_s * alpha / (k * relative * relative)
    steps = 0.5 * (damping[..., 1:] + damping[..., :-1]) * state.config.level_spacing_m
    optical_depth = np.concatenate([np.zeros(steps.shape[:-1] + (1,)), np.cumsum(steps, axis=-1)], axis=-1)
    flux = np.einsum("...w,...wz->...z", np.asarray(flux_amplitudes_Pa, dtype=float), np.exp(-optical_depth))
    drag = np.zeros(flux.shape)
    divergence = (flux[..., 2:] - flux[..., :-2]) / (2.0 * state.config.level_spacing_m)
    drag[..., 1:-1] = -divergence / state.density_kg_per_m3[1:-1]
    return drag * SECONDS_PER_DAY


@dataclass(frozen=True)
class PlumbTwoWave:
    """Plumb (1977) two-wave forcing: ±32 m/s, zonal wavenumber 1, ±0.6 mPa at 17 km (``qbo1d``)."""

    flux_amplitudes_Pa: tuple[float, ...] = (6e-4, -6e-4)
    phase_speeds_m_per_s: tuple[float, ...] = (32.0, -32.0)
    zonal_wavenumbers: tuple[int, ...] = (1, 1)

    def __post_init__(self) -> None:
        sizes = {len(self.flux_amplitudes_Pa), len(self.phase_speeds_m_per_s), len(self.zonal_wavenumbers)}
        if len(sizes) != 1:
            raise InputError(
                "PlumbTwoWave: flux_amplitudes_Pa, phase_speeds_m_per_s and zonal_wavenumbers differ in length"
            )
        if any(k <= 0 for k in self.zonal_wavenumbers):
            raise InputError(f"PlumbTwoWave.zonal_wavenumbers: must be > 0, got {self.zonal_wavenumbers}")

    def __call__(self, u_m_per_s: np.ndarray, state: QBOState) -> np.ndarray:
        k = 2.0 * np.pi * np.asarray(self.zonal_wavenumbers, dtype=float) / EQUATOR_LENGTH_M
        amplitudes = np.asarray(self.flux_amplitudes_Pa)
        return plumb_wave_drag(u_m_per_s, amplitudes, np.asarray(self.phase_speeds_m_per_s), k, state)


def _default_stochastic_speeds() -> tuple[float, ...]:
    return tuple(float(c) for c in np.concatenate([np.arange(-100.0, 0.0, 10.0), np.arange(10.0, 110.0, 10.0)]))


@dataclass(frozen=True)
class StochasticWaves:
    """``qbo1d``'s stochastic spectrum: 20 waves ±10...±100 m/s, zonal wavenumber 2.

    Each day the total source flux ``F_S0`` (Pa) and spectral width ``c_w`` (m/s) are drawn from
    a bivariate lognormal (given means and variances; the underlying normals have correlation
    ``correlation``), and ``Aᵢ ∝ sgn(cᵢ) exp(-ln2 (cᵢ/c_w)²)`` with ``Σ|Aᵢ| = F_S0``; drag as
    :func:`plumb_wave_drag`. Draws are a pure function of ``(state.seed, state.step)``, so a
    run is reproducible and the source can be re-evaluated for any day.
    """

    phase_speeds_m_per_s: tuple[float, ...] = field(default_factory=_default_stochastic_speeds)
    zonal_wavenumber: int = 2
    mean_source_flux_Pa: float = 3.7e-3
    source_flux_variance_Pa2: float = 1e-8
    mean_spectral_width_m_per_s: float = 32.0
    spectral_width_variance_m2_per_s2: float = 225.0
    correlation: float = 0.75

    def __post_init__(self) -> None:
        for name in ("mean_source_flux_Pa", "source_flux_variance_Pa2", "mean_spectral_width_m_per_s",
                     "spectral_width_variance_m2_per_s2"):
            if not getattr(self, name) > 0.0:
                raise InputError(f"StochasticWaves.{name}: must be > 0, got {getattr(self, name)!r}")
        if not -1.0 <= self.correlation <= 1.0:
            raise InputError(f"StochasticWaves.correlation: must lie in [-1, 1], got {self.correlation!r}")
        if self.zonal_wavenumber <= 0:
            raise InputError(f"StochasticWaves.zonal_wavenumber: must be > 0, got {self.zonal_wavenumber!r}")

    def sample(self, seed: int, step: int) -> tuple[float, float]:
        """``(F_S0 in Pa, c_w in m/s)`` for one day."""
        means = np.array([self.mean_source_flux_Pa, self.mean_spectral_width_m_per_s])
        variances = np.array([self.source_flux_variance_Pa2, self.spectral_width_variance_m2_per_s2])
        # Lognormal with mean m and variance v: log-variance s² = ln(1 + v/m²), log-mean ln m - s²/2.
        log_variance = np.log1p(variances / (means * means))
        log_mean = np.log(means) - 0.5 * log_variance
        z1, z2 = np.random.default_rng([seed, step]).standard_normal(2)
        correlated = np.array([z1, self.correlation * z1 + np.sqrt(1.0 - self.correlation**2) * z2])
        flux, width = np.exp(log_mean + np.sqrt(log_variance) * correlated)
        return float(flux), float(width)

    def __call__(self, u_m_per_s: np.ndarray, state: QBOState) -> np.ndarray:
        flux, width = self.sample(state.seed, state.step)
        c = np.asarray(self.phase_speeds_m_per_s)
        ratio = c / width
        shape = np.sign(c) * np.exp(-np.log(2.0) * ratio * ratio)
        amplitudes = flux * shape / np.abs(shape).sum()
        k = np.full(c.shape, 2.0 * np.pi * self.zonal_wavenumber / EQUATOR_LENGTH_M)
        return plumb_wave_drag(u_m_per_s, amplitudes, c, k, state)


@dataclass(frozen=True)
class AD99Column:
    """AD99 (MiMA settings) launched at the bottom (17 km) with ``B_t`` = 3 mPa, ``c_w`` = 35 m/s.

    ``N`` and ``ρ`` are the model's; the damping level is the top, so flux reaching 35 km lands
    on the (fixed) boundary level and leaves the model, as in ``qbo1d``'s top boundary.
    """

    config: AD99Config = AD99Config(source_stress_Pa=3e-3, spectral_half_width_m_per_s=35.0)

    def __call__(self, u_m_per_s: np.ndarray, state: QBOState) -> np.ndarray:
        drag = gw_drag_component(
            u_m_per_s,
            state.config.buoyancy_frequency_per_s,
            state.density_kg_per_m3,
            state.height_m,
            source_index=0,
            config=self.config,
            check_inputs=False,
        )
        return drag.drag_m_per_s_per_day


# --------------------------------------------------------------------------------------------
# Model


def _operator(config: QBOConfig) -> np.ndarray:
    """``L = w D₁ - κ D₂`` (s⁻¹) with centred differences and zero boundary rows."""
    n = config.height_m.size
    dz = config.level_spacing_m
    interior = np.arange(1, n - 1)
    op = np.zeros((n, n))
    op[interior, interior - 1] = -config.upwelling_m_per_s / (2.0 * dz) - config.diffusivity_m2_per_s / (dz * dz)
    op[interior, interior] = 2.0 * config.diffusivity_m2_per_s / (dz * dz)
    op[interior, interior + 1] = config.upwelling_m_per_s / (2.0 * dz) - config.diffusivity_m2_per_s / (dz * dz)
    return op


def default_initial_wind(config: QBOConfig) -> np.ndarray:
    """``qbo1d``'s start: a parabola vanishing at both boundaries, 14 m/s at mid-domain."""
    z = config.height_m
    half_depth = 0.5 * (config.top_height_m - config.bottom_height_m)
    return -14.0 / half_depth**2 * (z - config.bottom_height_m) * (z - config.top_height_m)


def run_qbo(
    config: QBOConfig,
    drag: DragSource,
    years: float,
    u0: np.ndarray | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """Integrate the 1-D QBO model for ``years`` (360-day years), saving every step.

    Returns a Dataset with ``u`` (m s⁻¹) and ``drag`` (m s⁻¹ day⁻¹, as applied: zero at the
    boundaries) on ``(time, height)``, time in days; settings in attrs. ``u0`` (m/s, ``nz``
    values, zero at both ends) defaults to :func:`default_initial_wind`; ``seed`` reaches
    stochastic sources through :class:`QBOState`.
    """
    height = config.height_m
    n_levels = height.size
    u_start = default_initial_wind(config) if u0 is None else np.asarray(u0, dtype=float)
    if u_start.shape != (n_levels,):
        raise InputError(f"u0: shape {u_start.shape}, expected ({n_levels},) on the model's levels")
    if not np.isfinite(u_start).all():
        raise InputError(f"u0: non-finite value at level {int(np.flatnonzero(~np.isfinite(u_start))[0])}")
    if u_start[0] != 0.0 or u_start[-1] != 0.0:
        raise InputError(f"u0: must be 0 at both boundaries (u = 0 there), got {u_start[0]:g} and {u_start[-1]:g} m/s")
    n_steps = round(years * DAYS_PER_YEAR / config.time_step_days)
    if n_steps < 1:
        raise InputError(f"years: {years!r} is shorter than one time step")

    dt_s = config.time_step_days * SECONDS_PER_DAY
    op = _operator(config)
    identity = np.eye(n_levels)
    implicit_inverse = np.linalg.inv(identity + dt_s * op)
    # u⁺ = R u⁻ + Q S with R = (I + ΔtL)⁻¹(I - ΔtL), Q = 2 Δt(days) (I + ΔtL)⁻¹, S in m/s/day.
    recycle = implicit_inverse @ (identity - dt_s * op)
    forcing = 2.0 * config.time_step_days * implicit_inverse
    density = config.density_kg_per_m3

    u = np.empty((n_steps + 1, n_levels))
    applied = np.empty((n_steps + 1, n_levels))

    def tendency(step: int) -> np.ndarray:
        state = QBOState(step, step * config.time_step_days, seed, config, height, density)
        value = np.asarray(drag(u[step], state), dtype=float)
        if value.shape != (n_levels,):
            raise InputError(f"drag: returned shape {value.shape} for a ({n_levels},) wind profile")
        value = value.copy()
        value[0] = value[-1] = 0.0  # Dirichlet u = 0: the boundaries take no tendency
        return value

    started = time.perf_counter()
    u[0] = u_start
    applied[0] = tendency(0)
    u[1] = (identity - dt_s * op) @ u[0] + config.time_step_days * applied[0]
    for step in range(1, n_steps):
        applied[step] = tendency(step)
        u[step + 1] = recycle @ u[step - 1] + forcing @ applied[step]
    applied[n_steps] = tendency(n_steps)
    wall_s = time.perf_counter() - started

    return xr.Dataset(
        {
            "u": (("time", "height"), u, {"units": "m s-1", "long_name": "zonal-mean zonal wind"}),
            "drag": (("time", "height"), applied, {"units": "m s-1 day-1", "long_name": "wave drag -(1/rho) dF/dz"}),
        },
        coords={
            "time": ("time", config.time_step_days * np.arange(n_steps + 1), {"units": "days", "calendar": "360_day"}),
            "height": ("height", height, {"units": "m"}),
        },
        attrs={
            "model": "1-D QBO (Holton & Lindzen 1972; Plumb 1977), qbo1d numerics",
            "qbo_settings": json.dumps(config.to_dict()),
            "drag_source": repr(drag),
            "seed": seed,
            "years": years,
            "wall_time_s": wall_s,
        },
    )


# --------------------------------------------------------------------------------------------
# Diagnostics


def _wind_after_spinup(run: xr.Dataset, height_m: float, spinup_years: float) -> tuple[np.ndarray, float]:
    """``u`` at the level nearest ``height_m`` after spin-up, and the sampling interval (days)."""
    if "u" not in run or not {"time", "height"} <= set(run["u"].dims):
        raise InputError("run: needs a variable 'u' on (time, height), as run_qbo returns")
    time_days = run["time"].values.astype(float)
    if time_days.size < 2:
        raise InputError("run: fewer than 2 times")
    interval = float(time_days[1] - time_days[0])
    after = time_days >= time_days[0] + spinup_years * DAYS_PER_YEAR
    if after.sum() < 2:
        length = time_days[-1] - time_days[0]
        raise InputError(f"spinup_years: {spinup_years:g} leaves fewer than 2 samples of a {length:g}-day run")
    wind = run["u"].sel(height=height_m, method="nearest").values[after]
    if not np.isfinite(wind).all():
        raise InputError(f"u: non-finite values at {height_m:g} m after spin-up (the run blew up)")
    return wind, interval


def qbo_period_months(
    run: xr.Dataset,
    *,
    spinup_years: float,
    height_m: float = 25e3,
    method: Literal["fourier", "transitions"] = "fourier",
) -> float:
    """QBO period (30-day months) of ``u`` at ``height_m`` after ``spinup_years``.

    ``"fourier"``: period of the largest Fourier amplitude of the mean-removed series
    (zero-padded 64-fold for a fine period grid; periods longer than the record excluded), as
    ``qbo1d``'s ``estimate_period``. ``"transitions"``: mean interval between westerly onsets,
    the upward zero crossings of the 5-month running mean (crossing times interpolated);
    NaN with fewer than two onsets.
    """
    wind, interval = _wind_after_spinup(run, height_m, spinup_years)
    if method == "fourier":
        n_fft = 64 * 2 ** int(np.ceil(np.log2(wind.size)))
        amplitude = np.abs(np.fft.rfft(wind - wind.mean(), n=n_fft))
        frequency = np.fft.rfftfreq(n_fft, d=interval)
        resolved = (frequency > 0.0) & (frequency >= 1.0 / (wind.size * interval))
        best = np.flatnonzero(resolved)[np.argmax(amplitude[resolved])]
        return float(1.0 / frequency[best] / DAYS_PER_MONTH)
    if method == "transitions":
        window = max(1, round(5 * DAYS_PER_MONTH / interval))
        if wind.size < window + 1:
            raise InputError("spinup_years: record after spin-up is shorter than the 5-month running mean")
        smooth = np.convolve(wind, np.ones(window) / window, mode="valid")
        onset = np.flatnonzero((smooth[:-1] < 0.0) & (smooth[1:] >= 0.0))
        if onset.size < 2:
            return float("nan")
        crossing = onset + smooth[onset] / (smooth[onset] - smooth[onset + 1])
        return float(np.mean(np.diff(crossing)) * interval / DAYS_PER_MONTH)
    raise InputError(f"method: {method!r} is neither 'fourier' nor 'transitions'")


def qbo_amplitude(run: xr.Dataset, *, spinup_years: float, height_m: float = 25e3) -> float:
    """QBO amplitude (m s⁻¹): standard deviation of ``u`` at ``height_m`` after spin-up."""
    wind, _ = _wind_after_spinup(run, height_m, spinup_years)
    return float(np.std(wind))


def plot_hovmoller(run: xr.Dataset, variable: str = "u", ax=None):
    """Time-height (Hovmöller) plot of ``run[variable]``, years vs km, symmetric red-blue colours.

    Returns the Axes. matplotlib is imported here to keep importing the host model fast.
    """
    import matplotlib.pyplot as plt

    if variable not in run:
        raise InputError(f"run: no variable {variable!r} to plot")
    values = run[variable].transpose("height", "time")
    limit = float(np.nanmax(np.abs(values.values))) or 1.0
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4))
    mesh = ax.contourf(
        run["time"].values / DAYS_PER_YEAR,
        run["height"].values / 1e3,
        values.values,
        levels=np.linspace(-limit, limit, 22),
        cmap="RdBu_r",
    )
    ax.figure.colorbar(mesh, ax=ax, label=f"{variable} ({values.attrs.get('units', '')})")
    ax.set_xlabel("time (years)")
    ax.set_ylabel("height (km)")
    return ax
