"""One-dimensional QBO model (Holton & Lindzen 1972; Plumb 1977), as in DataWave's ``qbo1d``.

The zonal-mean zonal wind ``u(z, t)`` over the equator obeys

    ∂u/∂t + w ∂u/∂z - κ ∂²u/∂z² = -(1/ρ) ∂F/∂z   (the right-hand side is the *drag*),

on 17-35 km with Δz = 250 m (73 levels), Δt = 1 day, κ = 0.3 m² s⁻¹, N = 0.0216 s⁻¹ and an
isothermal density ``ρ = p_s/(R T) exp(-z/H)`` (T = 204 K, H = RT/g ≈ 5.97 km); ``u = 0`` at both
boundaries (docs/REFERENCE.md section 4; O. Shamir's ``qbo1d``, github.com/ofershamir/qbo1d).

Time stepping is ``qbo1d``'s: advection-diffusion centred in space and trapezoidal over two
steps, drag by leapfrog,

    (I + Δt L) u⁺ = (I - Δt L) u⁻ + 2 Δt S(u),   L = w D₁ - κ D₂,

started by one forward step. ``L`` is tridiagonal and constant, so its system is solved once for
all right-hand sides (the inverse is stored: one 73×73 product per step instead of a Thomas
sweep of 72 interpreted steps). Boundary rows of ``L`` and of the drag are zero, which holds
``u`` at its (zero) boundary values.

The drag is a :class:`~subgrid.core.contract.Parameterization`: each step the host builds a
:class:`~subgrid.physics.qbo_waves.QBOState` (the wind ``u_m_per_s`` with the step, seed and the
column's background) and calls only ``drag.tendencies(state)["drag"]`` (m s⁻¹ day⁻¹ on the
levels); physics schemes and emulators plug in the same way. The physics sources
(:class:`~subgrid.physics.qbo_waves.PlumbTwoWave`, :class:`~subgrid.physics.qbo_waves.StochasticWaves`,
:class:`~subgrid.physics.qbo_waves.AD99Column`) live in :mod:`subgrid.physics.qbo_waves`.

Diagnostics use a 360-day year and 30-day months, as ``qbo1d`` does.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import xarray as xr

from subgrid.core.contract import Parameterization
from subgrid.core.errors import InputError
from subgrid.physics.constants import QBO1D, SECONDS_PER_DAY
from subgrid.physics.qbo_waves import QBOState

#: The model's calendar (``qbo1d``'s), not physical constants.
DAYS_PER_YEAR = 360.0
DAYS_PER_MONTH = 30.0
#: |u| (m/s) beyond which a run has blown up: twice any wind the QBO host produces.
BLOWUP_WIND_M_PER_S = 200.0


@dataclass(frozen=True)
class QBOConfig:
    """Grid, coefficients and background atmosphere of the 1-D QBO model (``qbo1d`` defaults).

    ``upwelling_m_per_s`` differs by forcing in the literature: 1e-5 for ``qbo1d``'s two-wave
    example, 3e-4 for its stochastic control run, ≈4.5e-4 with an AD99 source (docs/REFERENCE.md section 4).
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
        return QBO1D.dry_air_gas_constant_J_per_kg_K * self.temperature_K / QBO1D.gravity_m_per_s2

    @property
    def density_kg_per_m3(self) -> np.ndarray:
        """Isothermal ``ρ(z) = p_s / (R T) exp(-z / H)``."""
        surface = self.surface_pressure_Pa / (QBO1D.dry_air_gas_constant_J_per_kg_K * self.temperature_K)
        return surface * np.exp(-self.height_m / self.scale_height_m)

    def to_dict(self) -> dict:
        return asdict(self)

    def state(self, u_m_per_s: np.ndarray, step: int = 0, seed: int = 0) -> QBOState:
        """The state a drag source sees at ``step`` of a run seeded ``seed`` with wind ``u_m_per_s``."""
        return QBOState(
            u_m_per_s=np.asarray(u_m_per_s, dtype=float),
            step=step,
            time_days=step * self.time_step_days,
            seed=seed,
            height_m=self.height_m,
            density_kg_per_m3=self.density_kg_per_m3,
            buoyancy_frequency_per_s=self.buoyancy_frequency_per_s,
            level_spacing_m=self.level_spacing_m,
        )


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


def blew_up(state: QBOState) -> bool:
    """A run has blown up once its wind is non-finite or beyond :data:`BLOWUP_WIND_M_PER_S` anywhere.

    The ``blow_up`` test of a :class:`~subgrid.core.contract.Guarded` drag in this host."""
    u = state.u_m_per_s
    return not (np.isfinite(u).all() and np.abs(u).max() <= BLOWUP_WIND_M_PER_S)


def run_qbo(
    config: QBOConfig,
    drag: Parameterization,
    years: float,
    u0: np.ndarray | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """Integrate the 1-D QBO model for ``years`` (360-day years), saving every step.

    ``drag`` is called once a step, from step 0 on, as ``drag.tendencies(state)["drag"]`` with a
    :class:`~subgrid.physics.qbo_waves.QBOState` holding ``u`` of that step (so a wrapper counting
    its calls, e.g. :class:`~subgrid.core.contract.Guarded`, counts steps).

    Returns a Dataset with ``u`` (m s⁻¹) and ``drag`` (m s⁻¹ day⁻¹, as applied: zero at the
    boundaries) on ``(time, height)``, time in days; settings in attrs. ``u0`` (m/s, ``nz``
    values, zero at both ends) defaults to :func:`default_initial_wind`; ``seed`` reaches
    stochastic sources through the state.
    """
    if not isinstance(drag, Parameterization):
        raise InputError(f"drag: {drag!r} is not a Parameterization (inputs, outputs, tendencies(state))")
    if "drag" not in drag.outputs:
        raise InputError(f"drag: {drag!r} has outputs {list(drag.outputs)}, not 'drag'")
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
    buoyancy_frequency, spacing = config.buoyancy_frequency_per_s, config.level_spacing_m

    u = np.empty((n_steps + 1, n_levels))
    applied = np.empty((n_steps + 1, n_levels))

    def tendency(step: int) -> np.ndarray:
        state = QBOState(u[step], step, step * config.time_step_days, seed, height, density, buoyancy_frequency, spacing)
        value = np.asarray(drag.tendencies(state)["drag"], dtype=float)
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
