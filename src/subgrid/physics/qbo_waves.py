"""Wave drag sources of the 1-D QBO model (Holton & Lindzen 1972; Plumb 1977; AD99), as in ``qbo1d``.

Each source is a :class:`~subgrid.core.contract.Parameterization`: ``tendencies(state)`` reads a
:class:`QBOState` (the wind and what else the column offers) and returns ``{"drag": m s⁻¹ day⁻¹}``
on the state's levels, without changing anything. :class:`PlumbTwoWave` (Plumb's two waves),
:class:`StochasticWaves` (``qbo1d``'s stochastic 20-wave spectrum) and :class:`AD99Column`
(Alexander & Dunkerton 1999 launched at the bottom) are provided; :func:`source_parameters` is the
day's ``(source flux, spectral width)`` of any of them, what a gravity-wave emulator reads besides
the wind.

The state is defined here, below the host (:mod:`subgrid.hosts.qbo.model` builds it each step),
so that schemes and emulators depend on the state's fields and not on the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from subgrid.core.contract import Variable
from subgrid.core.errors import InputError
from subgrid.physics.ad99 import AD99Config, gw_drag_component
from subgrid.physics.constants import SECONDS_PER_DAY

#: Equatorial circumference (m) that turns a zonal wavenumber into k (m⁻¹), as in ``qbo1d``.
EQUATOR_LENGTH_M = 4.0e7


@dataclass(frozen=True)
class QBOState:
    """One step of the 1-D QBO column as a drag source reads it.

    ``u_m_per_s`` is ``(..., level)`` (lowest level first; leading axes are independent columns
    sharing the background), ``height_m`` and ``density_kg_per_m3`` are ``(level,)``. ``step``
    and ``seed`` make stochastic sources a pure function of the state.
    """

    u_m_per_s: np.ndarray
    step: int
    time_days: float
    seed: int
    height_m: np.ndarray
    density_kg_per_m3: np.ndarray
    buoyancy_frequency_per_s: float
    level_spacing_m: float


#: The fields of :class:`QBOState` as contract variables (each source's ``inputs`` is a subset).
QBO_STATE_VARIABLES: Mapping[str, Variable] = {
    "u_m_per_s": Variable(("level",), "m s-1", "zonal-mean zonal wind"),
    "step": Variable((), "1", "time step index (0 at the start of the run)"),
    "seed": Variable((), "1", "seed of the run's random draws"),
    "height_m": Variable(("level",), "m", "height of the levels"),
    "density_kg_per_m3": Variable(("level",), "kg m-3", "background air density"),
    "buoyancy_frequency_per_s": Variable((), "s-1", "background buoyancy frequency N"),
    "level_spacing_m": Variable((), "m", "uniform level spacing"),
}
#: What every QBO drag source returns.
QBO_DRAG_OUTPUTS: Mapping[str, Variable] = {
    "drag": Variable(("level",), "m s-1 day-1", "wave drag -(1/rho) dF/dz"),
}


def _variables(*names: str) -> dict[str, Variable]:
    return {name: QBO_STATE_VARIABLES[name] for name in names}


_PLUMB_INPUTS = _variables("u_m_per_s", "height_m", "density_kg_per_m3", "buoyancy_frequency_per_s", "level_spacing_m")


def plumb_dissipation_rate_per_s(height_m: np.ndarray) -> np.ndarray:
    """Holton & Lindzen (1972) wave damping α(z) (s⁻¹).

    ``(1/21 + (2/21)(z - 17 km)/13 km) day⁻¹`` up to 30 km, ``1/7 day⁻¹`` above (continuous there).
    """
    height_m = np.asarray(height_m, dtype=float)
    per_day = np.where(height_m <= 30e3, 1.0 / 21.0 + (2.0 / 21.0) * (height_m - 17e3) / 13e3, 1.0 / 7.0)
    return per_day / SECONDS_PER_DAY


def plumb_wave_drag(
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
    u = np.asarray(state.u_m_per_s, dtype=float)[..., None, :]
    c = np.asarray(phase_speeds_m_per_s, dtype=float)[:, None]
    k = np.asarray(wavenumbers_per_m, dtype=float)[:, None]
    alpha = plumb_dissipation_rate_per_s(state.height_m)
    relative = c - u
    # A wave exactly at its critical level has infinite damping: exp(-inf) = 0 absorbs it.
    with np.errstate(divide="ignore"):
        damping = state.buoyancy_frequency_per_s * alpha / (k * relative * relative)
    steps = 0.5 * (damping[..., 1:] + damping[..., :-1]) * state.level_spacing_m
    optical_depth = np.concatenate([np.zeros(steps.shape[:-1] + (1,)), np.cumsum(steps, axis=-1)], axis=-1)
    flux = np.einsum("...w,...wz->...z", np.asarray(flux_amplitudes_Pa, dtype=float), np.exp(-optical_depth))
    drag = np.zeros(flux.shape)
    divergence = (flux[..., 2:] - flux[..., :-2]) / (2.0 * state.level_spacing_m)
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

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return _PLUMB_INPUTS

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return QBO_DRAG_OUTPUTS

    def tendencies(self, state: QBOState) -> dict[str, np.ndarray]:
        k = 2.0 * np.pi * np.asarray(self.zonal_wavenumbers, dtype=float) / EQUATOR_LENGTH_M
        amplitudes = np.asarray(self.flux_amplitudes_Pa)
        return {"drag": plumb_wave_drag(amplitudes, np.asarray(self.phase_speeds_m_per_s), k, state)}


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

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return {**_PLUMB_INPUTS, **_variables("step", "seed")}

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return QBO_DRAG_OUTPUTS

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

    def tendencies(self, state: QBOState) -> dict[str, np.ndarray]:
        flux, width = self.sample(state.seed, state.step)
        c = np.asarray(self.phase_speeds_m_per_s)
        ratio = c / width
        shape = np.sign(c) * np.exp(-np.log(2.0) * ratio * ratio)
        amplitudes = flux * shape / np.abs(shape).sum()
        k = np.full(c.shape, 2.0 * np.pi * self.zonal_wavenumber / EQUATOR_LENGTH_M)
        return {"drag": plumb_wave_drag(amplitudes, c, k, state)}


@dataclass(frozen=True)
class AD99Column:
    """AD99 (MiMA settings) launched at the bottom (17 km) with ``B_t`` = 3 mPa, ``c_w`` = 35 m/s.

    ``N`` and ``ρ`` are the column's; the damping level is the top, so flux reaching 35 km lands
    on the (fixed) boundary level and leaves the model, as in ``qbo1d``'s top boundary.
    """

    config: AD99Config = AD99Config(source_stress_Pa=3e-3, spectral_half_width_m_per_s=35.0)

    @property
    def inputs(self) -> Mapping[str, Variable]:
        return _variables("u_m_per_s", "height_m", "density_kg_per_m3", "buoyancy_frequency_per_s")

    @property
    def outputs(self) -> Mapping[str, Variable]:
        return QBO_DRAG_OUTPUTS

    def tendencies(self, state: QBOState) -> dict[str, np.ndarray]:
        drag = gw_drag_component(
            state.u_m_per_s,
            state.buoyancy_frequency_per_s,
            state.density_kg_per_m3,
            state.height_m,
            source_index=0,
            config=self.config,
            check_inputs=False,
        )
        return {"drag": drag.drag_m_per_s_per_day}


#: The physics drag sources of the QBO column.
QBOWaveSource = PlumbTwoWave | StochasticWaves | AD99Column


def source_parameters(source: QBOWaveSource, state: QBOState) -> tuple[float, float]:
    """The day's ``(source flux in Pa, spectral width in m/s)`` of ``source``: a GW emulator's inputs besides ``u``.

    Stochastic: the day's draw; AD99: ``(B_t, c_w)``; Plumb: ``(Σ|Aᵢ|, max |cᵢ|)``.
    """
    if isinstance(source, StochasticWaves):
        return source.sample(state.seed, state.step)
    if isinstance(source, AD99Column):
        return source.config.source_stress_Pa, source.config.spectral_half_width_m_per_s
    return float(np.abs(source.flux_amplitudes_Pa).sum()), float(np.abs(source.phase_speeds_m_per_s).max())
