"""A spectral primitive-equation atmosphere that makes gravity waves: dinosaur-torch with mountains and heating.

The dynamical core is ``dinosaur-torch`` 0.1.1 (an idiomatic PyTorch rewrite of Dinosaur, the
NeuralGCM dycore; validated against it): dry hydrostatic primitive equations on sigma levels,
vorticity / divergence / temperature / log surface pressure in spherical harmonics (Gaussian grid),
SIL3 implicit-explicit Runge-Kutta steps (Whitaker & Kar 2013) and the exponential step filter of
Dinosaur's Held-Suarez notebook (tau = 0.0087504, order 1.5, cutoff 0.8). torch is only the array
library here (like torch-harmonics in :mod:`subgrid.physics.spectral`); nothing is trained.

Forcing, composed by summing explicit tendencies as Dinosaur does:

* **Held-Suarez** (Held & Suarez 1994): Rayleigh friction ``-k_v(sigma) u`` below sigma = 0.7
  (k_f = 1/day) and Newtonian relaxation ``-k_T(lat, sigma) (T - T_eq)`` (k_a = 1/40 day, k_s =
  1/4 day, T_eq between 200 and 315 K, dT_y = 60 K, dtheta_z = 10 K), as ``dinosaur.held_suarez``
  (not ported to dinosaur-torch, so written here from the JAX version);
* **mountains**: Gaussian ridges ``h = H exp(-(dlat/a)^2 - (dlon/b)^2)`` in the surface
  geopotential; flow across them launches orographic gravity waves;
* **hills** (:func:`random_hills`): optional rough ground, many round hills narrower than a coarse
  grid box scattered over the mid-latitudes, whose mountain waves the westerlies' low-level wind sets;
* **pulsed heating**: a Gaussian patch of deep heating ``Q(t) sin(pi sigma)`` (K/day), switched on
  and off once a day (``Q0 max(0, sin(2 pi t / 1 day))``), a crude stand-in for diurnal
  convection that launches convective gravity waves;
* **stochastic convection** (:class:`Convection`): ``cells`` Gaussian heating cells ``Q_i(t) sin(pi
  sigma) exp(-d^2 / r^2)`` that live ``lifetime_hours`` each (``Q_i = peak a_i sin^2(pi t / lifetime)``,
  ``a_i`` uniform in [0.5, 1.5]) and are reborn at a random place (latitude normal about the
  equator, longitude uniform) when they die; births are staggered over the lifetime. With
  ``tilt_hours`` > 0 each cell's heating on a level is displaced from its centre by the wind there
  relative to the column-mean wind at the centre, times ``tilt_hours`` (at most two radii): plumes
  lean with the shear. An upright symmetric cell drives a symmetric circulation whose u'omega'
  averages to zero over a grid box; a leaning one transports momentum, with a sign the column's
  shear sets (continuity: ``u' ~ W s' G`` where ``omega = W(p) G(x - s(p))``). A cooling of
  the same global integral, spread like the cells' expected density, keeps the forcing's global
  mean zero at every step (convection balanced by radiative cooling). The cells are a function of
  (seed, cell, generation) alone, so a restart continues the same sequence. Unlike the fixed
  pulse, the heating moves around, and the snapshot reports it (``convective_heating``, K/day at
  the peak level sigma = 0.5) so that an emulator can be given its sources, as a convection
  scheme's heating is given to a convective gravity-wave parameterization.

The initial state is the isothermal (288 K) atmosphere in solid-body rotation ``u = u0 cos(lat)``
in gradient-wind balance with the mountains (exact for the unforced equations on a flat planet):
``ln ps = ln p0 - [(a Omega u0 + u0^2/2) sin^2(lat) + g h] / (R T0)``, vorticity ``2 u0 sin(lat)/a``,
plus a seeded large-scale temperature perturbation (0.1 K) so that runs differ by seed.
Without mountains and heating the flow stays zonal for days, so its gravity-wave fluxes stay near
zero: the control run of :func:`subgrid.gravity_waves.gridded.simulation.run_gw_simulation`.

Omega (Pa s-1) is diagnosed on the sigma levels as
``omega = ps [sigma u . grad ln ps - int_0^sigma (D + u . grad ln ps) dsigma']``
(the continuity equation in sigma coordinates; the integral to the layer centre takes half of
the layer itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from dinosaur_torch import coordinate_systems, primitive_equations, scales, sigma_coordinates, spherical_harmonic
from dinosaur_torch import time_integration, units

from subgrid.core.errors import InputError
from subgrid.physics.constants import EARTH_RADIUS_M, REFERENCE_PRESSURE_PA, SECONDS_PER_DAY

#: Triangular truncations dinosaur-torch provides (Gaussian grids, nlat x nlon = (3T+1)/2 rounded up to even x 2 nlat).
RESOLUTIONS = ("T21", "T31", "T42", "T85", "T106", "T119", "T170", "T213")
REFERENCE_TEMPERATURE_K = 288.0
#: The prognostic spectral fields of the state (restart files hold these and ``time_s``).
PROGNOSTIC = ("vorticity", "divergence", "temperature_variation", "log_surface_pressure")
_U = scales.units


def nodal_grid_shape(resolution: str) -> tuple[int, int]:
    """(nlat, nlon) of the Gaussian grid of ``resolution``, e.g. (128, 256) for T85."""
    if resolution not in RESOLUTIONS:
        raise InputError(f"resolution {resolution!r}: expected one of {', '.join(RESOLUTIONS)}")
    nlon, nlat = getattr(spherical_harmonic.GridSpec, resolution)().nodal_shape
    return nlat, nlon


@dataclass(frozen=True)
class Mountain:
    """A Gaussian ridge: peak ``height_m`` at (``lat_deg``, ``lon_deg``), e-folding half-widths in degrees."""

    name: str
    lat_deg: float
    lon_deg: float
    height_m: float
    lat_width_deg: float
    lon_width_deg: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat_deg <= 90.0:
            raise InputError(f"mountain {self.name}: lat_deg {self.lat_deg} outside [-90, 90]")
        if not 0.0 <= self.height_m <= 8000.0:
            raise InputError(f"mountain {self.name}: height_m {self.height_m} outside [0, 8000]")
        if self.lat_width_deg <= 0 or self.lon_width_deg <= 0:
            raise InputError(f"mountain {self.name}: widths must be > 0 degrees")

    def height(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        dlon = (lon_deg - self.lon_deg + 180.0) % 360.0 - 180.0
        return self.height_m * np.exp(-((lat_deg - self.lat_deg) / self.lat_width_deg) ** 2
                                      - (dlon / self.lon_width_deg) ** 2)


#: Three idealised ranges: a meridional "Rockies" and "Andes" across the westerlies and a zonal "Himalaya".
DEFAULT_MOUNTAINS = (
    Mountain("rockies", 45.0, 250.0, 2500.0, 12.0, 4.0),
    Mountain("andes", -25.0, 290.0, 3000.0, 15.0, 3.0),
    Mountain("himalaya", 32.0, 85.0, 4000.0, 4.0, 12.0),
)


def random_hills(count: int, height_m: float, width_deg: float, seed: int = 0,
                 lat_band_deg: tuple[float, float] = (20.0, 65.0)) -> tuple[Mountain, ...]:
    """``count`` round Gaussian hills scattered over the mid-latitudes of both hemispheres: rough ground.

    Centres uniform in area between ``lat_band_deg`` (north or south alike) and in longitude; peaks
    uniform in [0.5, 1.5] x ``height_m``; e-folding half-width ``width_deg`` (m and degrees). Narrower
    than a coarse grid box, flow across them in the westerlies launches mountain waves whose flux a
    coarse model sees only through its wind, stability and mean height: orographic sources whose
    strength the coarse state sets, unlike the convective ones. A function of ``seed`` alone (the
    planet's ground, not the run's weather: keep it fixed across spin-up, branches and test runs).
    """
    if count < 0 or int(count) != count:
        raise InputError(f"hills {count}: expected an integer >= 0")
    if not (math.isfinite(height_m) and 0.0 < height_m <= 5000.0):
        raise InputError(f"hill_height_m {height_m}: expected a number in (0, 5000]")
    if not (math.isfinite(width_deg) and 0.0 < width_deg <= 30.0):
        raise InputError(f"hill_width_deg {width_deg}: expected a number in (0, 30]")
    rng = np.random.default_rng([seed, 8214])  # 8214: keeps the ground apart from every other seeded draw
    south, north = np.sin(np.radians(lat_band_deg))
    lat = np.degrees(np.arcsin(rng.uniform(south, north, count))) * rng.choice([-1.0, 1.0], count)
    lon = rng.uniform(0.0, 360.0, count)
    height = height_m * rng.uniform(0.5, 1.5, count)
    return tuple(Mountain(f"hill_{i:03d}", float(lat[i]), float(lon[i]), float(height[i]), width_deg, width_deg)
                 for i in range(count))


@dataclass(frozen=True)
class Heating:
    """Pulsed deep heating: peak ``peak_K_per_day`` at (``lat_deg``, ``lon_deg``), e-folding radius in degrees."""

    peak_K_per_day: float = 0.0
    lat_deg: float = 0.0
    lon_deg: float = 150.0
    radius_deg: float = 5.0
    period_hours: float = 24.0


@dataclass(frozen=True)
class Convection:
    """Stochastic convective heating cells (module docstring); ``cells`` = 0: none."""

    cells: int = 0
    peak_K_per_day: float = 30.0
    radius_deg: float = 4.0
    lifetime_hours: float = 36.0
    lat_width_deg: float = 15.0
    max_lat_deg: float = 45.0
    tilt_hours: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if int(self.cells) != self.cells or self.cells < 0:
            raise InputError(f"convection cells {self.cells}: expected an integer >= 0")
        for name in ("peak_K_per_day", "radius_deg", "lifetime_hours", "lat_width_deg", "max_lat_deg"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"convection {name} {value}: expected a number > 0")
        if not (math.isfinite(self.tilt_hours) and self.tilt_hours >= 0):
            raise InputError(f"convection tilt_hours {self.tilt_hours}: expected a number >= 0")
        if self.max_lat_deg > 90:
            raise InputError(f"convection max_lat_deg {self.max_lat_deg}: expected <= 90")

    def generations(self, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Per cell its generation (how many times it was reborn) and its phase in [0, 1) at ``time_s``."""
        age = time_s / 3600.0 / self.lifetime_hours + np.arange(self.cells) / max(self.cells, 1)
        return np.floor(age).astype(np.int64), age % 1.0

    def cell_states(self, time_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lat_deg, lon_deg, heating K/day) of every cell at ``time_s``: a pure function of time and seed."""
        generation, phase = self.generations(time_s)
        lat, lon, strength = (np.empty(self.cells) for _ in range(3))
        for i, g in enumerate(generation):
            rng = np.random.default_rng([self.seed, i, int(g) + 2**31])
            while True:  # a normal latitude, redrawn beyond max_lat_deg
                lat[i] = rng.normal(0.0, self.lat_width_deg)
                if abs(lat[i]) <= self.max_lat_deg:
                    break
            lon[i], strength[i] = rng.uniform(0.0, 360.0), rng.uniform(0.5, 1.5)
        return lat, lon, self.peak_K_per_day * strength * np.sin(np.pi * phase) ** 2

    def patch(self, lat_deg: np.ndarray, lon_deg: np.ndarray, centre_lat: float, centre_lon: float) -> np.ndarray:
        """A cell's horizontal shape (1 at its centre) on the points ``lat_deg``, ``lon_deg``."""
        dlon = (lon_deg - centre_lon + 180.0) % 360.0 - 180.0
        return np.exp(-((lat_deg - centre_lat) ** 2 + (dlon * np.cos(np.radians(centre_lat))) ** 2) / self.radius_deg**2)

    def patches(self, lat_axis: np.ndarray, lon_axis: np.ndarray, centre_lat: np.ndarray,
                centre_lon: np.ndarray) -> np.ndarray:
        """:meth:`patch` on the lat-lon mesh of the 1-D axes, for centres ``[...]``: ``[..., lon, lat]`` (separable, fast)."""
        centre_lat, centre_lon = np.asarray(centre_lat)[..., None], np.asarray(centre_lon)[..., None]
        dlon = (lon_axis - centre_lon + 180.0) % 360.0 - 180.0
        along_lon = np.exp(-((dlon * np.cos(np.radians(centre_lat))) ** 2) / self.radius_deg**2)
        along_lat = np.exp(-((lat_axis - centre_lat) ** 2) / self.radius_deg**2)
        return along_lon[..., :, None] * along_lat[..., None, :]

    def field(self, time_s: float, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        """The cells' heating (K/day at the peak level, centres untilted) on the points ``lat_deg``, ``lon_deg``."""
        total = np.zeros(np.broadcast_shapes(lat_deg.shape, lon_deg.shape))
        for lat, lon, q in zip(*self.cell_states(time_s), strict=True):
            total += q * self.patch(lat_deg, lon_deg, lat, lon)
        return total

    def tilt_deg(self, lat_deg: np.ndarray, relative_u: np.ndarray, relative_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(latitude, longitude) shift in degrees, ``[level, cell]``, of cells at ``lat_deg`` in the relative winds (m/s)."""
        scale = self.tilt_hours * 3600.0 / EARTH_RADIUS_M * 180.0 / np.pi
        dy, dx = scale * relative_v, scale * relative_u  # degrees of arc
        length = np.hypot(dx, dy)
        limit = np.where(length > 2 * self.radius_deg, 2 * self.radius_deg / np.maximum(length, 1e-12), 1.0)
        return dy * limit, dx * limit / np.cos(np.radians(lat_deg))

    def cooling_shape(self, lat_deg: np.ndarray) -> np.ndarray:
        """Where the compensating cooling goes: the cells' expected density per unit area (up to a constant)."""
        density = np.exp(-0.5 * (lat_deg / self.lat_width_deg) ** 2) / np.maximum(np.cos(np.radians(lat_deg)), 1e-6)
        return np.where(np.abs(lat_deg) <= self.max_lat_deg, density, 0.0)


class _HeldSuarez(time_integration.ExplicitODE):
    def __init__(self, coords, specs, reference_temperature: np.ndarray, lat: np.ndarray) -> None:
        nd = specs.nondimensionalize
        dtype = coords.horizontal.cos_lat.dtype
        sigma = np.asarray(coords.vertical.coordinates.centers, np.float64)[:, None, None]
        cutoff = np.maximum(0.0, (sigma - 0.7) / 0.3)
        per_day = 1 / (1 * _U.day)
        self.kv = torch.as_tensor(nd(per_day) * cutoff, dtype=dtype)
        ka, ks = nd(per_day / 40), nd(per_day / 4)
        self.kt = torch.as_tensor(ka + (ks - ka) * cutoff * np.cos(lat) ** 4, dtype=dtype)
        self.sigma = torch.as_tensor(sigma, dtype=dtype)
        self.sin2, self.cos2 = (torch.as_tensor(f(lat) ** 2, dtype=dtype) for f in (np.sin, np.cos))
        self.p0 = nd(REFERENCE_PRESSURE_PA * _U.pascal)
        self.t_min, self.t_max = nd(200 * _U.degK), nd(315 * _U.degK)
        self.dty, self.dthz = nd(60 * _U.degK), nd(10 * _U.degK)
        self.kappa = specs.kappa
        self.tref = torch.as_tensor(reference_temperature, dtype=dtype)[:, None, None]
        self.coords = coords

    def explicit_terms(self, state):
        grid = self.coords.horizontal
        aux = primitive_equations.compute_diagnostic_state(state, self.coords)
        velocity = tuple(-self.kv * x / grid.cos_lat**2 for x in aux.cos_lat_u)
        temperature = self.tref + aux.temperature_variation
        p_over_p0 = self.sigma * torch.exp(grid.to_nodal(state.log_surface_pressure)) / self.p0
        t_eq = p_over_p0**self.kappa * (self.t_max - self.dty * self.sin2 - self.dthz * torch.log(p_over_p0) * self.cos2)
        t_eq = torch.clamp(t_eq, min=self.t_min)
        velocity = grid.to_modal(velocity)
        return primitive_equations.State(
            vorticity=grid.curl_cos_lat(velocity),
            divergence=grid.div_cos_lat(velocity),
            temperature_variation=grid.to_modal(-self.kt * (temperature - t_eq)),
            log_surface_pressure=torch.zeros_like(state.log_surface_pressure),
        )


class _PulsedHeating(time_integration.ExplicitODE):
    """Temperature tendency ``amplitude * shape``; the caller sets ``amplitude`` (a number or a nodal field) before each step."""

    def __init__(self, coords, shape: np.ndarray) -> None:
        self.coords = coords
        self.shape = torch.as_tensor(shape, dtype=coords.horizontal.cos_lat.dtype)
        self.amplitude: float | torch.Tensor = 0.0

    def explicit_terms(self, state):
        zero = torch.zeros_like
        return primitive_equations.State(
            vorticity=zero(state.vorticity), divergence=zero(state.divergence),
            temperature_variation=self.coords.horizontal.to_modal(self.amplitude * self.shape),
            log_surface_pressure=zero(state.log_surface_pressure),
        )


@dataclass(frozen=True)
class Snapshot:
    """Fields at one time on the model's Gaussian grid, SI units, arrays ``[level, lat, lon]``, lat north to south."""

    time_s: float
    u: np.ndarray
    v: np.ndarray
    omega: np.ndarray
    temperature: np.ndarray
    pressure: np.ndarray
    #: Heating of the stochastic convection (K/day at the peak level sigma = 0.5), ``[lat, lon]``; None without.
    convective_heating: np.ndarray | None = None


class GravityWaveAtmosphere:
    """The forced dycore: :meth:`run` yields :class:`Snapshot` s every ``output_every`` steps.

    ``resolution`` one of :data:`RESOLUTIONS`; ``levels`` equidistant sigma layers; ``jet_m_per_s``
    the initial solid-body-rotation wind; ``held_suarez`` switches that forcing; ``seed`` the
    initial temperature perturbation; ``convection`` the stochastic convective cells (none by default).
    """

    def __init__(self, resolution: str, levels: int, time_step_s: float, mountains: Sequence[Mountain],
                 heating: Heating, jet_m_per_s: float, held_suarez: bool, seed: int,
                 convection: Convection = Convection()) -> None:
        if resolution not in RESOLUTIONS:
            raise InputError(f"resolution {resolution!r}: expected one of {', '.join(RESOLUTIONS)}")
        dtype = torch.float32
        self.spec = getattr(spherical_harmonic.GridSpec, resolution)()
        grid = spherical_harmonic.Grid(self.spec, dtype=dtype)
        self.coords = coordinate_systems.CoordinateSystem(
            grid, sigma_coordinates.SigmaLevels(sigma_coordinates.SigmaCoordinates.equidistant(levels), dtype=dtype))
        self.specs = specs = units.SimUnits.from_si()
        nd = specs.nondimensionalize
        lon, sin_lat = self.spec.nodal_mesh  # [lon, lat]
        lat = np.arcsin(sin_lat)
        lat_deg, lon_deg = np.degrees(lat), np.degrees(lon)
        height = sum((m.height(lat_deg, lon_deg) for m in mountains), np.zeros_like(lat))
        tref = nd(REFERENCE_TEMPERATURE_K * _U.degK)
        modal_orography = primitive_equations.truncated_modal_orography(torch.as_tensor(nd(height * _U.meter), dtype=dtype),
                                                                        self.coords)
        orography = grid.to_nodal(modal_orography).double().numpy()
        #: Surface height (m) the model sees: the mountains after spectral truncation.
        self.surface_height_m = self._north_to_south(specs.dimensionalize(orography, _U.meter).magnitude)
        u0, a, omega = nd(jet_m_per_s * _U.m / _U.s), specs.radius, specs.angular_velocity
        log_ps = np.log(nd(REFERENCE_PRESSURE_PA * _U.pascal)) - (
            (a * omega * u0 + u0**2 / 2) * np.sin(lat) ** 2 + specs.g * orography) / (specs.R * tref)
        vorticity = np.broadcast_to(2 * u0 * np.sin(lat) / a, (levels, *lat.shape))
        to_modal = lambda x: grid.to_modal(torch.as_tensor(np.ascontiguousarray(x), dtype=dtype))  # noqa: E731
        perturbation = to_modal(np.zeros((levels, *lat.shape)))
        self._grid, self._modal_shape = grid, tuple(perturbation.shape[-2:])
        self.state = primitive_equations.State(
            vorticity=to_modal(vorticity), divergence=torch.zeros_like(perturbation),
            temperature_variation=perturbation + self._temperature_noise(seed), log_surface_pressure=to_modal(log_ps[None]))
        equations = [primitive_equations.PrimitiveEquations(np.full(levels, tref), modal_orography, self.coords, specs)]
        if held_suarez:
            equations.append(_HeldSuarez(self.coords, specs, np.full(levels, tref), lat))
        self.heating = heating
        self._heating = None
        if heating.peak_K_per_day != 0:
            dlon = (lon_deg - heating.lon_deg + 180.0) % 360.0 - 180.0
            patch = np.exp(-((lat_deg - heating.lat_deg) ** 2 + (dlon * np.cos(np.radians(heating.lat_deg))) ** 2)
                           / heating.radius_deg**2)
            sigma = np.asarray(self.coords.vertical.coordinates.centers, np.float64)[:, None, None]
            per_second = nd(1 * _U.degK / _U.s)
            self._heating = _PulsedHeating(self.coords, np.sin(np.pi * sigma) * patch * per_second)
            equations.append(self._heating)
        self.convection = convection
        self._convection = None
        if convection.cells:
            sigma = np.asarray(self.coords.vertical.coordinates.centers, np.float64)[:, None, None]
            self._convection = _PulsedHeating(self.coords, np.full(sigma.shape, nd(1 * _U.degK / _U.s)))
            self._mesh_deg = (lat_deg, lon_deg)  # [lon, lat], the model's nodal layout
            area = np.broadcast_to(np.cos(lat), lat.shape)
            shape = convection.cooling_shape(lat_deg)
            self._area_weight = area / area.sum()
            self._cooling = shape / float((shape * self._area_weight).sum())
            self._cell_shapes = np.zeros((convection.cells, levels, *lat.shape), np.float32)
            self._cell_hour, self._cell_generation = None, None
            equations.append(self._convection)
        self.dt = nd(time_step_s * _U.s)
        self.time_step_s = time_step_s
        step = time_integration.imex_rk_sil3(time_integration.compose_equations(equations), self.dt)
        self._step = time_integration.step_with_filters(
            step, [time_integration.exponential_step_filter(grid, self.dt, tau=0.0087504, order=1.5, cutoff=0.8)])
        self.time_s = 0.0
        #: Global integral of the surface pressure (nondimensional) that every step restores (the mass fixer).
        self._mass = self._total_mass(self.state.log_surface_pressure)
        self._scale = {
            "wind": specs.dimensionalize(1.0, _U.m / _U.s).magnitude,
            "temperature": specs.dimensionalize(1.0, _U.degK).magnitude,
            "pressure": specs.dimensionalize(1.0, _U.pascal).magnitude,
            "pressure_rate": specs.dimensionalize(1.0, _U.pascal / _U.s).magnitude,
        }
        self._tref = tref

    def _temperature_noise(self, seed: int, amplitude_K: float = 0.1) -> torch.Tensor:
        """A seeded large-scale (total wavenumber 1-10) modal temperature field of ``amplitude_K`` rms."""
        grid, nd, modal_shape = self._grid, self.specs.nondimensionalize, self._modal_shape
        total = np.arange(modal_shape[-1])[None, :]
        large_scale = torch.as_tensor((total <= 10) & (total >= 1) & grid.sh.mask, dtype=torch.float32)
        noise = torch.as_tensor(np.random.default_rng(seed).standard_normal(modal_shape), dtype=torch.float32)
        noise = noise * large_scale
        return noise * nd(amplitude_K * _U.degK) / max(float(grid.to_nodal(noise).std()), 1e-30)

    def perturb(self, seed: int, amplitude_K: float = 0.1) -> None:
        """Add a seeded large-scale temperature perturbation (``amplitude_K`` rms) to every level: branch a run."""
        self.state = primitive_equations.State(
            vorticity=self.state.vorticity, divergence=self.state.divergence,
            temperature_variation=self.state.temperature_variation + self._temperature_noise(seed, amplitude_K),
            log_surface_pressure=self.state.log_surface_pressure)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The prognostic spectral state (and ``time_s``) as named tensors, e.g. for a safetensors restart file."""
        return {**{name: getattr(self.state, name) for name in PROGNOSTIC},
                "time_s": torch.tensor([self.time_s], dtype=torch.float64)}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], regrid: bool = False) -> None:
        """Continue from :meth:`state_tensors` of a run with the same resolution and levels.

        ``regrid``: the run may have had another triangular truncation (same levels); its spectral
        coefficients are truncated or zero-padded to this one's. The real modal layout orders the
        zonal wavenumbers 0, 1, -1, 2, -2, ... and the total wavenumbers 0, 1, 2, ..., so a lower
        truncation's array is the leading block of a higher one's, with the same normalisation.
        """
        for name in PROGNOSTIC:
            expected = tuple(getattr(self.state, name).shape)
            got = tuple(tensors[name].shape) if name in tensors else "missing"
            if got == expected or (regrid and got != "missing" and len(got) == 3 and got[0] == expected[0]):
                continue
            raise InputError(f"restart state {name}: shape {got}, expected {expected} "
                             + ("(another level count)" if regrid else "(another resolution or level count)"))
        fields = {}
        for name in PROGNOSTIC:
            target, source = getattr(self.state, name), tensors[name].to(self.state.vorticity.dtype)
            zonal, total = min(target.shape[1], source.shape[1]), min(target.shape[2], source.shape[2])
            fields[name] = torch.zeros_like(target)
            fields[name][:, :zonal, :total] = source[:, :zonal, :total]
        self.state = primitive_equations.State(**fields)
        self.time_s = float(tensors["time_s"][0])

    @property
    def lat_deg(self) -> np.ndarray:
        """Gaussian latitudes, north to south."""
        return np.degrees(np.arcsin(self.spec.nodal_axes[1]))[::-1].copy()

    @property
    def lon_deg(self) -> np.ndarray:
        return np.degrees(self.spec.nodal_axes[0])

    @property
    def sigma(self) -> np.ndarray:
        return np.asarray(self.coords.vertical.coordinates.centers, np.float64)

    @staticmethod
    def _north_to_south(x: np.ndarray) -> np.ndarray:
        """``[..., lon, lat south-to-north]`` -> ``[..., lat north-to-south, lon]``."""
        return np.ascontiguousarray(np.swapaxes(x, -1, -2)[..., ::-1, :])

    def step(self) -> None:
        if self._heating is not None:
            phase = 2 * np.pi * (self.time_s + 0.5 * self.time_step_s) / (self.heating.period_hours * 3600.0)
            self._heating.amplitude = self.heating.peak_K_per_day / SECONDS_PER_DAY * max(0.0, np.sin(phase))
        if self._convection is not None:
            self._convection.amplitude = torch.as_tensor(self._convective_forcing() / SECONDS_PER_DAY,
                                                         dtype=self._convection.shape.dtype)
        with torch.no_grad():
            self.state = self._fix_mass(self._step(self.state))
        self.time_s += self.time_step_s

    def _cell_tilts(self, lat: np.ndarray, lon: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per level and cell of ``cells`` the (lat, lon) shift (degrees) of the leaning plumes, from the winds at their centres."""
        if not self.convection.tilt_hours:
            return np.zeros((self.sigma.size, cells.size)), np.zeros((self.sigma.size, cells.size))
        mesh_lat, mesh_lon = self._mesh_deg  # [lon, lat]
        i = np.argmin(np.abs((mesh_lon[:, 0][None, :] - lon[cells, None] + 180.0) % 360.0 - 180.0), axis=1)
        j = np.argmin(np.abs(mesh_lat[0][None, :] - lat[cells, None]), axis=1)
        with torch.no_grad():
            aux = primitive_equations.compute_diagnostic_state(self.state, self.coords)
            cos_lat = self.coords.horizontal.cos_lat.double().numpy()
            u, v = (x.double().numpy()[:, i, j] / cos_lat[j] * self._scale["wind"] for x in aux.cos_lat_u)
        return self.convection.tilt_deg(lat[cells], u - u.mean(0), v - v.mean(0))

    def _convective_forcing(self) -> np.ndarray:
        """The temperature tendency (K/day) of the convection on every level, ``[level, lon, lat]``: cells minus cooling.

        Each cell's 3-D shape (profile x patch, leaning with the shear) is rebuilt when the cell is
        born and on every whole model hour (the tilt follows the wind), and kept in between; a run
        restarted on a whole hour therefore continues exactly as one that was not.
        """
        time_s = self.time_s + 0.5 * self.time_step_s
        lat, lon, q = self.convection.cell_states(time_s)
        generation, _ = self.convection.generations(time_s)
        hour = int(time_s // 3600)
        stale = np.ones(lat.size, bool) if hour != self._cell_hour else generation != self._cell_generation
        if stale.any():
            cells = np.flatnonzero(stale)
            shift_lat, shift_lon = self._cell_tilts(lat, lon, cells)
            profile = np.sin(np.pi * self.sigma)[:, None, None]
            mesh_lat, mesh_lon = self._mesh_deg  # [lon, lat]
            for n, c in enumerate(cells):
                self._cell_shapes[c] = profile * self.convection.patches(
                    mesh_lat[0], mesh_lon[:, 0], lat[c] + shift_lat[:, n], lon[c] + shift_lon[:, n])
            self._cell_hour, self._cell_generation = hour, generation
        heating = np.tensordot(q.astype(np.float32), self._cell_shapes, axes=(0, 0)).astype(np.float64)
        mean = (heating * self._area_weight).sum(axis=(-2, -1), keepdims=True)
        return heating - mean * self._cooling  # global mean zero on every level

    def _total_mass(self, log_surface_pressure: torch.Tensor) -> float:
        return float(self._grid.integrate(torch.exp(self._grid.to_nodal(log_surface_pressure))).double().sum())

    def _fix_mass(self, state):
        """Add the constant to ln ps that restores the initial global mass.

        The ln ps form of the continuity equation conserves mass only to truncation error; with
        mountains and Held-Suarez forcing the uncorrected T31 model lost 19 % of its mass in 250
        days, and the equilibrium temperature (which follows p / p0) drifted with it. A global,
        uniform correction of ln ps (a dry-mass fixer, as GCMs use) keeps the climate stationary.
        """
        correction = math.log(self._mass / self._total_mass(state.log_surface_pressure))
        constant = self._grid.to_modal(torch.full(tuple(self._grid.nodal_shape), correction,
                                                  dtype=state.log_surface_pressure.dtype))
        return primitive_equations.State(
            vorticity=state.vorticity, divergence=state.divergence, temperature_variation=state.temperature_variation,
            log_surface_pressure=state.log_surface_pressure + constant.to(state.log_surface_pressure.dtype))

    def snapshot(self) -> Snapshot:
        """The current state in SI units on the grid (omega diagnosed as in the module docstring)."""
        with torch.no_grad():
            aux = primitive_equations.compute_diagnostic_state(self.state, self.coords)
            cos_lat = self.coords.horizontal.cos_lat
            u, v = (x.double().numpy() / cos_lat.double().numpy() for x in aux.cos_lat_u)
            divergence = aux.divergence.double().numpy()
            u_grad_lnps = aux.u_dot_grad_log_sp.double().numpy()
            ps = np.exp(self.coords.horizontal.to_nodal(self.state.log_surface_pressure).double().numpy())
            temperature = self._tref + aux.temperature_variation.double().numpy()
        if not (np.isfinite(u).all() and np.isfinite(temperature).all()):
            raise InputError(f"the simulation blew up (NaN/Inf) by model time {self.time_s / 3600:.1f} h; "
                             "take a shorter time step")
        sigma = self.sigma[:, None, None]
        thickness = np.asarray(self.coords.vertical.coordinates.layer_thickness, np.float64)[:, None, None]
        column = (divergence + u_grad_lnps) * thickness
        integral = np.cumsum(column, axis=0) - 0.5 * column
        omega = ps * (sigma * u_grad_lnps - integral)
        s = self._scale
        convective = None
        if self._convection is not None:  # the cells' heating at the last step's mid-time, centres (untilted)
            convective = self._north_to_south(self.convection.field(self.time_s - 0.5 * self.time_step_s, *self._mesh_deg))
        return Snapshot(self.time_s, *(self._north_to_south(x) for x in (
            u * s["wind"], v * s["wind"], omega * s["pressure_rate"], temperature * s["temperature"],
            sigma * ps * s["pressure"])), convective_heating=convective)

    def run(self, steps: int, output_every: int, progress: Callable[[int, int], None] | None = None) -> Iterator[Snapshot]:
        """Take ``steps`` steps, yielding a snapshot after every ``output_every`` of them."""
        for index in range(1, steps + 1):
            self.step()
            if progress is not None:
                progress(index, steps)
            if index % output_every == 0:
                yield self.snapshot()
