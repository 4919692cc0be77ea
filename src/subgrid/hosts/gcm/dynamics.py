"""The GCM's dynamics: dinosaur-torch moist primitive equations, the initial state, and columns in and out.

dinosaur-torch 0.1.1 (:mod:`subgrid.physics.dycore` for the dycore itself): vorticity, divergence,
temperature and log surface pressure in spherical harmonics on sigma levels, specific humidity
as a spectral tracer entering the dynamics through the virtual temperature; SIL3 IMEX
Runge-Kutta steps with the exponential step filter. The physics is process-split: its tendencies
are computed once per step from the state at the step's start and held over the RK stages
(:class:`HeldTendencies`); wind tendencies go in as vorticity and divergence.

Columns: dinosaur's nodal grid is ``[level (top first), lon, lat (south to north)]``; the physics
sees ``(column, level)`` arrays, surface first, columns ordered lon-major (column = lon·nlat + lat).

Conservation: the spectral transport conserves neither the global dry-air mass nor the global
water exactly (log surface pressure is the prognostic variable; filters and truncation act on
``q``). :meth:`Dynamics.fix_global_budgets` rescales both after every step, as GCMs' mass fixers do
(e.g. CAM), and returns the size of each correction so a run can report how much was fixed.

Initial state: Jablonowski & Williamson (2006) balanced baroclinic jet on sigma levels with its
surface geopotential moved into the surface pressure (flat aquaplanet), a 1 m/s Gaussian wind
bump, seeded large-scale temperature noise (0.3 K rms), DCMIP-2016 moisture capped at 80 % RH.
"""

from __future__ import annotations

import numpy as np
import torch
from dinosaur_torch import coordinate_systems, primitive_equations, scales, sigma_coordinates, spherical_harmonic
from dinosaur_torch import time_integration, units

from subgrid.hosts.gcm.config import GCMConfig
from subgrid.physics.constants import (
    DRY_AIR_GAS_CONSTANT_J_PER_KG_K,
    REFERENCE_PRESSURE_PA,
    EARTH_RADIUS_M,
    EARTH_ROTATION_RATE_PER_S,
    RRTMG,
)
from subgrid.physics.thermodynamics import saturation_specific_humidity_kg_per_kg
from subgrid.physics.water import column_water_kg_per_m2

_U = scales.units
REFERENCE_TEMPERATURE_K = 288.0
#: The state holds ln(ps / 1000 hPa), not ln(ps) in dinosaur's pressure unit (3.3e-15 Pa): the
#: equations see only gradients of ln ps, and values near 0 keep float32 resolving ps to ~1e-8
#: (ln of ps in that unit is ~45, resolved only to ~3e-6: too coarse for the dry-mass budget).
LOG_PRESSURE_REFERENCE_PA = REFERENCE_PRESSURE_PA
HUMIDITY = "specific_humidity"


def sigma_boundaries(levels: int) -> np.ndarray:
    """Sigma at the interfaces, top (0) first: thin layers at the top and bottom, thickest at sigma ≈ 0.35."""
    centres = (np.arange(levels) + 0.5) / levels
    thickness = np.interp(centres, [0.0, 0.35, 1.0], [0.15, 1.3, 0.7])
    return np.concatenate([[0.0], np.cumsum(thickness / thickness.sum())])


class HeldTendencies(time_integration.ExplicitODE):
    """The physics' tendencies for the current step, held fixed over the Runge-Kutta stages."""

    def __init__(self) -> None:
        self.tendencies = None

    def explicit_terms(self, state):
        return self.tendencies


class Dynamics:
    """dinosaur-torch on ``config``'s grid, with conversions between its state and physics columns."""

    def __init__(self, config: GCMConfig) -> None:
        self.config = config
        self.dtype = torch.float32
        spec = getattr(spherical_harmonic.GridSpec, config.resolution)()
        self.grid = grid = spherical_harmonic.Grid(spec, dtype=self.dtype)
        sigma = sigma_coordinates.SigmaCoordinates(sigma_boundaries(config.levels))
        self.coords = coordinate_systems.CoordinateSystem(grid, sigma_coordinates.SigmaLevels(sigma, dtype=self.dtype))
        self.specs = specs = units.SimUnits.from_si()
        self.sigma_centres = np.asarray(sigma.centers, np.float64)[::-1].copy()  # surface first
        self.sigma_interfaces = np.asarray(sigma.boundaries, np.float64)[::-1].copy()
        lon, sin_lat = spec.nodal_mesh  # [lon, lat]
        self.nlon, self.nlat = lon.shape
        self.ncol = lon.size
        self.latitude_deg = np.degrees(np.arcsin(sin_lat)).ravel()
        self.longitude_deg = np.degrees(lon).ravel()
        weights = np.broadcast_to(np.asarray(spec.quadrature_weights, np.float64)[None, :], lon.shape).ravel()
        self.area_weight = weights / weights.sum()  # of each column, sums to 1
        self._scale = {name: specs.dimensionalize(1.0, unit).magnitude
                       for name, unit in dict(wind=_U.m / _U.s, temperature=_U.degK, pressure=_U.pascal).items()}  # fmt: skip
        self._rate = {"temperature": specs.nondimensionalize(1 * _U.degK / _U.s),
                      "wind": specs.nondimensionalize(1 * _U.m / _U.s**2),
                      "humidity": specs.nondimensionalize(1 / _U.s)}  # fmt: skip
        self._tref = specs.nondimensionalize(REFERENCE_TEMPERATURE_K * _U.degK)
        self.pressure_unit_Pa = self._scale["pressure"]  # dinosaur's nondimensional pressure unit
        orography = torch.zeros((self.nlon, self.nlat), dtype=self.dtype)
        orography = grid.to_modal(orography)
        equations = primitive_equations.PrimitiveEquations(
            np.full(config.levels, self._tref), orography, self.coords, specs, humidity_key=HUMIDITY)
        self.physics = HeldTendencies()
        dt = specs.nondimensionalize(config.time_step_s * _U.s)
        step = time_integration.imex_rk_sil3(time_integration.compose_equations([equations, self.physics]), dt)
        self._step = time_integration.step_with_filters(
            step, [time_integration.exponential_step_filter(grid, dt, tau=0.0087504, order=1.5, cutoff=0.8)])

    # ---- columns <-> grid ----------------------------------------------------------------
    def _columns(self, nodal: np.ndarray) -> np.ndarray:
        """[level top first, lon, lat] -> (column, level) surface first, float64."""
        return np.ascontiguousarray(nodal.reshape(nodal.shape[0], -1)[::-1].T, dtype=np.float64)

    def _nodal(self, columns: np.ndarray) -> torch.Tensor:
        """(column, level) surface first -> [level top first, lon, lat] tensor."""
        grid_values = np.ascontiguousarray(columns.T[::-1].reshape(-1, self.nlon, self.nlat))
        return torch.as_tensor(grid_values, dtype=self.dtype)

    def surface_pressure_Pa(self, state) -> np.ndarray:
        log_ps = self.grid.to_nodal(state.log_surface_pressure).double().numpy()[0]
        return np.exp(log_ps).ravel() * LOG_PRESSURE_REFERENCE_PA

    def columns(self, state) -> dict[str, np.ndarray]:
        """Winds (m/s), temperature (K), humidity, pressures (Pa) of every column, ``(column, level)`` surface first."""
        with torch.no_grad():
            aux = primitive_equations.compute_diagnostic_state(state, self.coords)
            cos = self.grid.cos_lat
            wind = self._scale["wind"]
            out = {
                "eastward_wind": self._columns((aux.cos_lat_u[0] / cos).double().numpy() * wind),
                "northward_wind": self._columns((aux.cos_lat_u[1] / cos).double().numpy() * wind),
                "air_temperature": self._columns((self._tref + aux.temperature_variation).double().numpy()
                                                 * self._scale["temperature"]),  # fmt: skip
                "specific_humidity": self._columns(aux.tracers[HUMIDITY].double().numpy()),
            }
        surface = self.surface_pressure_Pa(state)
        out["air_pressure"] = self.sigma_centres[None, :] * surface[:, None]
        out["air_pressure_on_interface"] = self.sigma_interfaces[None, :] * surface[:, None]
        return out

    def hold_tendencies(self, state, temperature_K_per_s, humidity_per_s, eastward_m_per_s2, northward_m_per_s2) -> None:
        """Give the next step these physics tendencies (``(column, level)`` arrays, surface first)."""
        grid = self.grid
        with torch.no_grad():
            cos = grid.cos_lat
            wind = tuple(grid.to_modal(self._nodal(x * self._rate["wind"]) / cos)
                         for x in (eastward_m_per_s2, northward_m_per_s2))  # fmt: skip
            self.physics.tendencies = primitive_equations.State(
                vorticity=grid.curl_cos_lat(wind), divergence=grid.div_cos_lat(wind),
                temperature_variation=grid.to_modal(self._nodal(temperature_K_per_s * self._rate["temperature"])),
                log_surface_pressure=torch.zeros_like(state.log_surface_pressure),
                tracers={HUMIDITY: grid.to_modal(self._nodal(humidity_per_s * self._rate["humidity"]))})

    def rebased_log_surface_pressure(self, log_surface_pressure: torch.Tensor, reference_Pa: float) -> torch.Tensor:
        """Modal ln(ps / ``reference_Pa``) (e.g. from an older restart) as this model's ln(ps / 1000 hPa)."""
        with torch.no_grad():  # shift the constant mode in float64: ln ps in the old unit is ~45
            unit_mode = self.grid.to_modal(torch.ones_like(self.grid.to_nodal(self.grid.to_modal(
                torch.zeros((1, self.nlon, self.nlat), dtype=self.dtype)))))  # fmt: skip
            shift = float(np.log(reference_Pa / LOG_PRESSURE_REFERENCE_PA))
            return (log_surface_pressure.double() + shift * unit_mode.double()).to(self.dtype)

    def step(self, state):
        with torch.no_grad():
            return self._step(state)

    # ---- global budgets --------------------------------------------------------------------
    def global_masses(self, state) -> tuple[float, float]:
        """Global-mean total air mass and water vapour (kg m⁻²), area-weighted."""
        surface = self.surface_pressure_Pa(state)
        with torch.no_grad():
            q = self._columns(self.grid.to_nodal(state.tracers[HUMIDITY]).double().numpy())
        water = column_water_kg_per_m2(q, self.sigma_interfaces[None, :] * surface[:, None])
        return float(self.area_weight @ surface) / RRTMG.gravity_m_per_s2, float(self.area_weight @ water)

    def fix_global_budgets(self, state, dry_mass: float, water: float):
        """``state`` with global dry-air mass and water set to the given means (kg m⁻²); and the relative corrections.

        Surface pressure is scaled by ``f`` and humidity by ``h`` everywhere: the total mass ``f M``
        must equal ``dry + water`` and the water ``f h W`` equal ``water``.
        """
        mass, vapour = self.global_masses(state)
        mass_factor = (dry_mass + water) / mass
        humidity_factor = water / (mass_factor * vapour) if vapour > 0.0 else 1.0
        with torch.no_grad():
            shift = torch.full_like(self.grid.to_nodal(state.log_surface_pressure), float(np.log(mass_factor)))
            fixed = primitive_equations.State(
                vorticity=state.vorticity, divergence=state.divergence,
                temperature_variation=state.temperature_variation,
                log_surface_pressure=state.log_surface_pressure + self.grid.to_modal(shift),
                tracers={HUMIDITY: state.tracers[HUMIDITY] * humidity_factor})
        return fixed, abs(mass_factor - 1.0), abs(humidity_factor - 1.0)

    # ---- initial state -----------------------------------------------------------------------
    def initial_state(self):
        """Jablonowski-Williamson (2006) on sigma levels, flat, with moisture and seeded noise (module docstring)."""
        config = self.config
        rd, g = DRY_AIR_GAS_CONSTANT_J_PER_KG_K, RRTMG.gravity_m_per_s2
        a, omega = EARTH_RADIUS_M, EARTH_ROTATION_RATE_PER_S
        eta = self.sigma_centres[::-1][:, None, None]  # top first
        lon = np.radians(self.longitude_deg.reshape(self.nlon, self.nlat))[None]
        lat = np.radians(self.latitude_deg.reshape(self.nlon, self.nlat))[None]
        u0, eta0, t0, lapse, dt_strat, eta_t = 35.0, 0.252, config.initial_base_temperature_K, 0.005, 4.8e5, 0.2
        eta_v = (eta - eta0) * np.pi / 2
        sl, cl = np.sin(lat), np.cos(lat)
        u = u0 * np.cos(eta_v) ** 1.5 * np.sin(2 * lat) ** 2
        mean_t = t0 * eta ** (rd * lapse / g) + np.where(eta < eta_t, dt_strat * (eta_t - eta) ** 5, 0.0)
        temperature = mean_t + 0.75 * eta * np.pi * u0 / rd * np.sin(eta_v) * np.cos(eta_v) ** 0.5 * (
            (-2 * sl**6 * (cl**2 + 1 / 3) + 10 / 63) * 2 * u0 * np.cos(eta_v) ** 1.5
            + (1.6 * cl**3 * (sl**2 + 2 / 3) - np.pi / 4) * a * omega)
        eta_s = (1 - eta0) * np.pi / 2
        phi_s = u0 * np.cos(eta_s) ** 1.5 * ((-2 * sl**6 * (cl**2 + 1 / 3) + 10 / 63) * u0 * np.cos(eta_s) ** 1.5
                                            + (1.6 * cl**3 * (sl**2 + 2 / 3) - np.pi / 4) * a * omega)  # fmt: skip
        ps = 1e5 * np.exp(phi_s[0] / (rd * t0))
        rng = np.random.default_rng(config.seed)
        lon_c, lat_c = np.radians(40.0 + 30.0 * config.seed), np.radians(40.0)
        distance = np.arccos(np.clip(np.sin(lat_c) * sl + np.cos(lat_c) * cl * np.cos(lon - lon_c), -1, 1))
        u = u + np.exp(-((distance / 0.1) ** 2))
        pressure = eta * ps[None]
        q = 0.018 * np.exp(-((lat / (2 * np.pi / 9)) ** 4)) * np.exp(-(((eta - 1) * 1e5 / 34000) ** 2))
        q = np.where(eta > 0.2, np.minimum(q, 0.8 * saturation_specific_humidity_kg_per_kg(temperature, pressure)), 1e-6)
        grid = self.grid

        def modal(x):
            return grid.to_modal(torch.as_tensor(np.ascontiguousarray(x), dtype=self.dtype))

        with torch.no_grad():
            winds = (modal(u / self._scale["wind"] / cl), modal(np.zeros_like(u)))
            vorticity = grid.curl_cos_lat(winds)
            tv = modal(temperature / self._scale["temperature"] - self._tref)
            total = np.arange(tv.shape[-1])[None, :]
            large = torch.as_tensor((total <= 10) & (total >= 1) & grid.sh.mask, dtype=self.dtype)
            noise = torch.as_tensor(rng.standard_normal(tv.shape[-2:]), dtype=self.dtype) * large
            noise = noise * self.specs.nondimensionalize(0.3 * _U.degK) / float(grid.to_nodal(noise).std())
            return primitive_equations.State(
                vorticity=vorticity, divergence=torch.zeros_like(vorticity), temperature_variation=tv + noise,
                log_surface_pressure=modal(np.log(ps / LOG_PRESSURE_REFERENCE_PA)[None]),
                tracers={HUMIDITY: modal(q)})
