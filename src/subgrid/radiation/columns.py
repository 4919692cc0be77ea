"""Seedable sampler of realistic atmospheric columns for the RRTMG radiation scheme.

Each column is described by a handful of per-column parameters (latitude, season, surface,
tropopause, ...) drawn from the distributions below; smooth profiles are then built from them
on a stretched pressure grid, and random smooth perturbations and cloud layers are added. All of
it is vectorised over columns; the only Python loop runs over the five kinds of cloud layer. The
output follows :mod:`subgrid.physics.schema`: dims ``column``, ``level`` and
``interface`` (= level + 1), surface first (index 0 is the lowest layer / the surface interface,
pressures strictly decreasing with index), float64, units and long names from the schema.

Heights ``z`` are log-pressure altitudes ``z = H ln(p0 / p)`` with ``H = 7 km`` and
``p0 = 101325 Pa``; ``s = sin(latitude)``.

============================  ============================================  ==================  ======================
variable                      distribution                                  bounds              reason
============================  ============================================  ==================  ======================
latitude                      uniform in sin(latitude)                      -90..90 deg         equal-area sampling
day_of_year                   uniform integer 1..365                        1..365              all seasons
local_solar_time              uniform 0..24 h                               0..24 h             all hours
cos_solar_zenith_angle        sin(lat) sin(decl) + cos(lat) cos(decl)       -1..1; <= 0 at      geometry gives ~50 %
                              cos(hour angle), declination of Spencer       night               night
                              (1971)
earth_sun_distance_factor     Spencer (1971) Fourier series of the day of   0.966..1.035        orbital eccentricity
                              year
surface_type                  ocean with probability ocean_fraction (0.7),  SURFACE_TYPES       ice and snow follow
                              else land. Ocean turns sea_ice with           codes               temperature: high
                              probability rising from 0 at T_air = 268.15                       latitudes and high
                              K to 1 at 262.15 K; land turns                                    ground
                              snow_covered_land from 0 at 273.15 K to 1 at
                              263.15 K
land elevation                exponential, mean 500 m, truncated at 4000 m  0..4000 m           mostly lowlands, a few
                              (inverse CDF, no pile-up)                                         plateaus
surface pressure              N(101300, 800) Pa clipped at 4 sigma, times   ~59 500..104 500    synoptic spread;
                              exp(-elevation / 8 km)                        Pa                  elevated land
vertical grid                 p = p_s (p_top / p_s)^eta, eta = expm1(k j /  top 20 Pa; lowest   thin layers aloft; no
                              N) / expm1(k), k such that the lowest layer   layer ~9..15 hPa    thin lowest layer
                              is bottom_layer_thickness_Pa (15 hPa) for                         (-300 K/day heating)
                              p_s = 101325 Pa; layer centre = geometric
                              mean of its interfaces
surface air T (T_air)         300 - 20 s^2 - 30 s^4 K (+ 6 s^4 K over       205..315 K          zonal-mean climate;
                              ocean) + seasonal cycle of 15 s^2 K (x1.4                         polar oceans milder
                              land, x0.6 ocean; coldest on day 20 in the                        than polar land
                              north) - 6.5 K/km x elevation + N(0, 1.5 +
                              3.5 s^2) K
surface inversion             probability 0.7 if polar (|lat| > 60, sea     0..15 K             radiative cooling of
                              ice or snow), 0.5 over land at night, else                        polar and nocturnal
                              0; strength U(0, 15) K decaying linearly                          surfaces
                              over U(0.2, 1.5) km
tropopause height z_t         9 + 8 / (1 + exp((|lat| - 35) / 7)) km +      >= z_s + 4 km       ~17 km tropics, ~9 km
                              N(0, 0.7) km clipped at 3 sigma                                   poles
tropospheric lapse rate       (T_air + inversion - T_trop) / (z_t - z_s)    4..8 K/km; cold     the tropopause
                              with T_trop ~ N(194 + 50 s^2 - 28 s^4, 4) K,  point >= 185 K      temperature is what
                              clipped to 4..8 K/km, lowered where needed                        observations constrain
                              to keep T_trop >= 185 K
stratosphere                  T_trop + (T_sp - T_trop) x^a, x the fraction  T_sp >= T_trop +    sharp tropical cold
                              of the log-pressure way to the stratopause,   10 K                point, near-isothermal
                              a = (0.8 + 1.8 s^2) lognormal(0, 0.2);                            polar lower
                              stratopause pressure log-uniform 50..150 Pa,                      stratosphere (AFGL)
                              T_sp U(260, 285) K
mesosphere                    T_sp - U(0.8, 2.5) K/km x (z - z_sp)          > 215 K at 20 Pa    AFGL above 1 hPa
air_temperature               the profile above + 3 Gaussian bumps in z,    ~183..330 K         smooth unresolved
                              amplitude U(-1.5, 1.5) K, width U(1, 5) km,                       variability
                              centre U(0, 60) km
relative humidity             RH_s (sigma - 0.02) / 0.98 (Manabe &          0..1                mean decay with
                              Wetherald 1967) x (1 + 2 bumps of U(-0.5,                         height, dry and moist
                              0.5), width 0.5..2 km); RH_s U(0.7, 0.95)                         layers, dry deserts,
                              over ocean, ice and snow, U(0.6, 0.9) (1 -                        saturated clouds
                              0.6 aridity) over land; at least 0.9 + 0.1
                              cloud fraction in cloud
specific_humidity             troposphere: from RH, saturation over water   1e-7..0.04 kg/kg;   stratospheric air is
                              above 273.15 K and over ice below (Alduchov   RH <= 1             dried at the tropical
                              & Eskridge 1996); above the tropopause: U(2,                      cold point (Brewer
                              5) ppmv; capped at saturation; floor 1e-7                         1949)
                              kg/kg
ozone_mole_fraction           x_trop + (x_peak - x_trop) exp(-ln(p /        2e-8..1e-5; < 0.1   AFGL shapes, smooth in
                              p_peak)^2 / 2w^2); p_peak log-uniform 5..20   ppmv at the         log-pressure; more
                              hPa, x_peak U(6, 10) ppmv, w below the peak   surface             ozone low down at high
                              (0.9 + 0.9 s^2) U(0.85, 1.15), above U(1.2,                       latitude
                              1.6); x_trop U(20, 80) ppbv; below the
                              tropopause the stratospheric part decays
                              with an e-folding depth of 1 km
co2_mole_fraction             with probability 0.5 N(420e-6, 20e-6), else   180e-6..1200e-6     present day densely,
                              log-uniform 180e-6..1200e-6; clipped to that                      glacial to ~3x
                              range                                                             sparsely
cloud_regime                  clear 0.32; the rest split low 0.30, middle   CLOUD_REGIMES       ~1/3 clear sky;
                              0.17, high 0.23, multi_layer 0.20,            codes               convection needs a
                              deep_convective 0.10; deep_convective                             warm surface
                              becomes multi_layer where T_air < 280 K
cloud layers                  low: base sigma U(0.86, 0.98), depth U(0.03,  >= 1 level each;    typical cloud heights
                              0.15) in sigma; middle: base U(0.55, 0.75),   none above z_t + 1
                              depth U(0.05, 0.2); high: top z_t - U(0.2,    km
                              3) km, depth U(0.5, 3) km; multi_layer: 2 or
                              3 of these; deep_convective: tower from
                              sigma U(0.85, 0.95) to z_t + U(-1.5, 0.8) km
                              plus a 1..3 km deep anvil
cloud_fraction                per cloud layer 1 with probability 0.3, else  0, or 0.05..1       partial and overcast
                              U(0.05, 1); overlapping layers take the                           layers
                              larger
in-cloud condensate q_c       log10(q_c / (kg/kg)) = -3.5 + (T - 300 K) /   <= 1.5e-3 kg/kg     warm clouds hold more
                              80 K + U(-1.2, 0.4), tower -0.3, anvil +0.2                       water
cloud liquid/ice water path   q_c dp / g x 1000 g/kg, liquid share linear   0 outside cloud;    homogeneous freezing
                              from 0 at 238.15 K to 1 at 273.15 K           per layer up to     at -35 C
                                                                            ~200 (liquid), ~60
                                                                            (ice) g m-2
cloud_droplet_radius          per column U(8, 20) um over ocean and sea     4..20 um            maritime droplets are
                              ice, U(4, 12) um over land; set everywhere                        larger
cloud_ice_radius              (15 + 60 clip((T - 200 K) / 73.15 K, 0, 1))   13..130 um (RRTMG   larger crystals in
                              um x U(0.7, 1.6) per column; set everywhere   ebert_curry_two)    warmer ice
surface_albedo_visible        ocean U(0.04, 0.10); land 0.07 + 0.25         0.04..0.9           observed ranges;
                              aridity + U(-0.02, 0.03); sea ice U(0.5,                          bright deserts
                              0.8); snow U(0.6, 0.9)
surface_albedo_near_infrared  ocean vis x U(0.9, 1.1); land 0.25 + 0.17     0.036..0.72         snow and ice darker in
                              aridity + U(-0.03, 0.03); sea ice vis x                           NIR, vegetation
                              U(0.6, 0.85); snow vis x U(0.55, 0.8)                             brighter
land aridity                  U(0.6, 1) with probability 0.1 + 0.5          0..1                subtropical deserts
                              exp(-((|lat| - 25) / 10)^2), else U(0, 0.4)
surface_emissivity            ocean U(0.98, 0.99); sea ice and snow         0.90..0.99          deserts are the least
                              U(0.97, 0.99); land 0.97 - 0.06 aridity +                         black
                              U(-0.01, 0.01)
surface_temperature           ocean max(T_air + N(0.5, 0.7), 271.35 K);     200..320 K          freezing and melting
                              sea ice and snow min(T_air + N(-1, 1.5),      (clipped)           points; land heats by
                              273.15 K); land T_air + (3 + 12 aridity)                          day, cools at night
                              cos_zenith by day or - U(0, 3) by night, +
                              N(0, 1) K
============================  ============================================  ==================  ======================

References: Alduchov, O. A. & Eskridge, R. E. (1996), J. Appl. Meteor. 35, 601-609; Anderson, G. P.
et al. (1986), AFGL atmospheric constituent profiles (0-120 km), AFGL-TR-86-0110; Brewer, A. W.
(1949), Q. J. R. Meteorol. Soc. 75, 351-363; Manabe, S. & Wetherald, R. T. (1967), J. Atmos. Sci.
24, 241-259; McClatchey, R. A. et al. (1972), Optical properties of the atmosphere, AFCRL-72-0497;
Spencer, J. W. (1971), Search 2(5), 172.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np
import xarray as xr

from subgrid.physics.rrtmg import GRAVITY_M_PER_S2, ICE_RADIUS_BOUNDS_UM as _RRTMG_ICE_RADIUS_BOUNDS_UM
from subgrid.physics.schema import (
    CLOUD_REGIMES,
    COLUMN_DESCRIPTORS,
    RADIATION_INPUTS,
    SURFACE_TYPES,
    VERTICAL_ORDER,
)

#: Ratio of the gas constants of dry air and water vapour, R_d / R_v.
EPSILON = 0.621981
LOG_PRESSURE_SCALE_HEIGHT_KM = 7.0
REFERENCE_PRESSURE_PA = 101325.0
SURFACE_PRESSURE_SCALE_HEIGHT_M = 8000.0
MELTING_POINT_K = 273.15
FREEZING_POINT_SEAWATER_K = 271.35
#: Air over open water can be well below freezing (cold-air outbreaks); sea ice becomes likely below this.
SEA_ICE_AIR_TEMPERATURE_K = 268.15
#: Below this, cloud water is all ice (homogeneous freezing of droplets, -35 C).
ALL_ICE_TEMPERATURE_K = 238.15
MIN_TROPOPAUSE_TEMPERATURE_K = 185.0
MIN_SPECIFIC_HUMIDITY_KG_PER_KG = 1e-7
MAX_CONDENSATE_KG_PER_KG = 1.5e-3
OZONE_TAPER_DEPTH_KM = 1.0
#: RRTMG's valid ice effective radius for the default ``ebert_curry_two`` optics (outside it RRTMG stops).
ICE_RADIUS_BOUNDS_UM = _RRTMG_ICE_RADIUS_BOUNDS_UM["ebert_curry_two"]

_SURFACE = {name: code for code, name in enumerate(SURFACE_TYPES)}
_REGIME = {name: code for code, name in enumerate(CLOUD_REGIMES)}


@dataclass(frozen=True)
class ColumnSamplerConfig:
    """Settings of :func:`sample_columns`; recorded as JSON in every sampled dataset.

    Attributes:
        n_levels: number of layers (>= 2); there are ``n_levels + 1`` interfaces.
        top_pressure_Pa: pressure of the top interface (climt's 0.2 hPa by default), in (0, 10 000].
        bottom_layer_thickness_Pa: thickness of the lowest layer for a 101 325 Pa surface; sets the
            grid stretching (proportionally thinner over high ground). At least 100 Pa, and less
            than the lowest layer of a grid uniform in log-pressure (the least stretched grid).
        ocean_fraction: probability that a column is over ocean (or sea ice).
        land_elevation_mean_m: mean of the exponential elevation distribution of land columns.
        land_elevation_max_m: truncation of that distribution, at most 5000 m.
        clear_fraction: probability of the ``clear`` cloud regime.
        cloudy_regime_weights: relative weights of the other regimes, in ``CLOUD_REGIMES[1:]``
            order (low, middle, high, multi_layer, deep_convective); normalised here.
        overcast_probability: probability that a cloud layer has cloud fraction exactly 1.
        surface_inversion_max_K: largest surface temperature inversion.
        co2_min_mol_per_mol, co2_max_mol_per_mol: range of CO2 mole fractions (log-uniform part and
            clipping bounds).
        co2_present_day_fraction: share of columns with present-day CO2.
        co2_present_day_mean_mol_per_mol, co2_present_day_std_mol_per_mol: the normal
            distribution of present-day CO2.
    """

    n_levels: int = 60
    top_pressure_Pa: float = 20.0
    bottom_layer_thickness_Pa: float = 1500.0
    ocean_fraction: float = 0.7
    land_elevation_mean_m: float = 500.0
    land_elevation_max_m: float = 4000.0
    clear_fraction: float = 0.32
    cloudy_regime_weights: tuple[float, float, float, float, float] = (0.30, 0.17, 0.23, 0.20, 0.10)
    overcast_probability: float = 0.3
    surface_inversion_max_K: float = 15.0
    co2_min_mol_per_mol: float = 180e-6
    co2_max_mol_per_mol: float = 1200e-6
    co2_present_day_fraction: float = 0.5
    co2_present_day_mean_mol_per_mol: float = 420e-6
    co2_present_day_std_mol_per_mol: float = 20e-6

    def __post_init__(self) -> None:
        def fail(name: str, requirement: str) -> None:
            raise ValueError(f"ColumnSamplerConfig.{name} must be {requirement}, got {getattr(self, name)!r}")

        if isinstance(self.cloudy_regime_weights, list):  # as parsed from JSON or YAML
            object.__setattr__(self, "cloudy_regime_weights", tuple(self.cloudy_regime_weights))
        if isinstance(self.n_levels, bool) or not isinstance(self.n_levels, int) or self.n_levels < 2:
            fail("n_levels", "an integer >= 2")
        for name in (f.name for f in fields(self)):
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in values):
                fail(name, "made of finite numbers")
        if not 0.0 < self.top_pressure_Pa <= 10_000.0:
            fail("top_pressure_Pa", "in (0, 10000] Pa")
        for name in ("ocean_fraction", "clear_fraction", "overcast_probability", "co2_present_day_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(name, "a probability in [0, 1]")
        if self.land_elevation_mean_m <= 0.0:
            fail("land_elevation_mean_m", "> 0 m")
        if not 0.0 < self.land_elevation_max_m <= 5000.0:
            fail("land_elevation_max_m", "in (0, 5000] m")
        if len(self.cloudy_regime_weights) != len(CLOUD_REGIMES) - 1 or min(self.cloudy_regime_weights) < 0.0:
            fail("cloudy_regime_weights", f"{len(CLOUD_REGIMES) - 1} non-negative weights for {CLOUD_REGIMES[1:]}")
        if self.clear_fraction < 1.0 and sum(self.cloudy_regime_weights) <= 0.0:
            fail("cloudy_regime_weights", "positive somewhere when clear_fraction < 1")
        if not 0.0 <= self.surface_inversion_max_K <= 30.0:
            fail("surface_inversion_max_K", "in [0, 30] K")
        if not 0.0 < self.co2_min_mol_per_mol < self.co2_max_mol_per_mol < 0.1:
            fail("co2_min_mol_per_mol", "> 0 and below co2_max_mol_per_mol (< 0.1)")
        if not self.co2_min_mol_per_mol <= self.co2_present_day_mean_mol_per_mol <= self.co2_max_mol_per_mol:
            fail("co2_present_day_mean_mol_per_mol", "within [co2_min_mol_per_mol, co2_max_mol_per_mol]")
        if self.co2_present_day_std_mol_per_mol < 0.0:
            fail("co2_present_day_std_mol_per_mol", ">= 0")
        thickest = _bottom_layer_thickness_Pa(0.0, self.n_levels, self.top_pressure_Pa)
        if not 100.0 <= self.bottom_layer_thickness_Pa < thickest:
            fail(
                "bottom_layer_thickness_Pa",
                f"in [100, {thickest:.0f}) Pa for n_levels={self.n_levels} and "
                f"top_pressure_Pa={self.top_pressure_Pa:g}",
            )

    def to_dict(self) -> dict:
        """Plain JSON-serialisable settings (tuples as lists), for provenance attrs."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# --------------------------------------------------------------------------------------------
# Thermodynamics and geometry


def saturation_vapor_pressure_Pa(temperature_K: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure over liquid water above 273.15 K and over ice below, in Pa.

    Magnus forms of Alduchov & Eskridge (1996): ``610.94 exp(17.625 t / (t + 243.04))`` over water
    and ``611.21 exp(22.587 t / (t + 273.86))`` over ice, ``t`` in degrees Celsius (the two agree
    to 0.05 % at the melting point).
    """
    t = np.asarray(temperature_K, dtype=float) - MELTING_POINT_K
    over_water = 610.94 * np.exp(17.625 * t / (t + 243.04))
    over_ice = 611.21 * np.exp(22.587 * t / (t + 273.86))
    return np.where(t > 0.0, over_water, over_ice)


def _specific_humidity(vapour_mole_fraction: np.ndarray) -> np.ndarray:
    """Specific humidity (kg/kg) from the mole fraction of water vapour in moist air, e / p."""
    return EPSILON * vapour_mole_fraction / (1.0 - (1.0 - EPSILON) * vapour_mole_fraction)


def _log_pressure_height_km(pressure_Pa: np.ndarray) -> np.ndarray:
    return LOG_PRESSURE_SCALE_HEIGHT_KM * np.log(REFERENCE_PRESSURE_PA / pressure_Pa)


def solar_geometry(latitude_deg: np.ndarray, day_of_year: np.ndarray, local_solar_time_h: np.ndarray):
    """Cosine of the solar zenith angle and (mean / actual Earth-Sun distance)^2, Spencer (1971)."""
    day_angle = 2.0 * np.pi * (day_of_year - 1.0) / 365.0
    declination = (
        0.006918
        - 0.399912 * np.cos(day_angle)
        + 0.070257 * np.sin(day_angle)
        - 0.006758 * np.cos(2 * day_angle)
        + 0.000907 * np.sin(2 * day_angle)
        - 0.002697 * np.cos(3 * day_angle)
        + 0.00148 * np.sin(3 * day_angle)
    )
    distance_factor = (
        1.000110
        + 0.034221 * np.cos(day_angle)
        + 0.001280 * np.sin(day_angle)
        + 0.000719 * np.cos(2 * day_angle)
        + 0.000077 * np.sin(2 * day_angle)
    )
    latitude = np.deg2rad(latitude_deg)
    hour_angle = np.pi * (local_solar_time_h - 12.0) / 12.0
    cos_zenith = np.sin(latitude) * np.sin(declination) + np.cos(latitude) * np.cos(declination) * np.cos(
        hour_angle
    )
    return np.clip(cos_zenith, -1.0, 1.0), distance_factor


# --------------------------------------------------------------------------------------------
# Vertical grid


def _eta(fraction: np.ndarray | float, stretching: float) -> np.ndarray | float:
    """Fraction of ln(p_s / p_top) below the interface at ``fraction`` of the way up (0 = log-uniform)."""
    if stretching == 0.0:
        return fraction
    return np.expm1(stretching * fraction) / np.expm1(stretching)


def _bottom_layer_thickness_Pa(stretching: float, n_levels: int, top_pressure_Pa: float) -> float:
    """Lowest-layer thickness for a 101 325 Pa surface; decreases as ``stretching`` grows."""
    ratio = top_pressure_Pa / REFERENCE_PRESSURE_PA
    return REFERENCE_PRESSURE_PA * (1.0 - ratio ** _eta(1.0 / n_levels, stretching))


def _grid_stretching(config: ColumnSamplerConfig) -> float:
    """The stretching that gives ``config.bottom_layer_thickness_Pa`` (bisection; it is monotonic)."""

    def too_thick(stretching: float) -> bool:
        thickness = _bottom_layer_thickness_Pa(stretching, config.n_levels, config.top_pressure_Pa)
        return thickness > config.bottom_layer_thickness_Pa

    low, high = 0.0, 1.0
    while too_thick(high):
        low, high = high, 2.0 * high
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if too_thick(middle) else (low, middle)
    return 0.5 * (low + high)


def _pressure_grid(surface_pressure_Pa: np.ndarray, config: ColumnSamplerConfig) -> tuple[np.ndarray, np.ndarray]:
    """Interface and layer-centre pressures (Pa), shape (column, interface) and (column, level)."""
    eta = _eta(np.arange(config.n_levels + 1) / config.n_levels, _grid_stretching(config))
    p_s = surface_pressure_Pa[:, None]
    p_interface = p_s * (config.top_pressure_Pa / p_s) ** eta
    # p_s * (p_top / p_s) ** 1 may round away from p_top; the model top must be exact.
    p_interface[:, -1] = config.top_pressure_Pa
    # Geometric mean = mid-point in log-pressure, strictly between the two interfaces.
    return p_interface, np.sqrt(p_interface[:, :-1] * p_interface[:, 1:])


# --------------------------------------------------------------------------------------------
# Per-column parameters and the smooth profiles built from them


@dataclass(frozen=True)
class _ColumnParameters:
    """Per-column scalars (arrays of shape (column,)) that determine the smooth profiles."""

    latitude_deg: np.ndarray
    day_of_year: np.ndarray
    local_solar_time_h: np.ndarray
    cos_zenith: np.ndarray
    distance_factor: np.ndarray
    surface_type: np.ndarray
    cloud_regime: np.ndarray
    surface_pressure_Pa: np.ndarray
    surface_air_temperature_K: np.ndarray
    inversion_K: np.ndarray
    inversion_depth_km: np.ndarray
    lapse_rate_K_per_km: np.ndarray
    tropopause_height_km: np.ndarray
    stratosphere_exponent: np.ndarray
    stratopause_pressure_Pa: np.ndarray
    stratopause_temperature_K: np.ndarray
    mesosphere_lapse_rate_K_per_km: np.ndarray
    surface_relative_humidity: np.ndarray
    stratospheric_water_mol_per_mol: np.ndarray
    ozone_peak_mol_per_mol: np.ndarray
    ozone_peak_pressure_Pa: np.ndarray
    ozone_width_below: np.ndarray
    ozone_width_above: np.ndarray
    ozone_troposphere_mol_per_mol: np.ndarray
    co2_mol_per_mol: np.ndarray
    albedo_visible: np.ndarray
    albedo_near_infrared: np.ndarray
    emissivity: np.ndarray
    skin_temperature_K: np.ndarray
    droplet_radius_um: np.ndarray
    ice_radius_factor: np.ndarray

    @property
    def surface_height_km(self) -> np.ndarray:
        return _log_pressure_height_km(self.surface_pressure_Pa)

    @property
    def tropopause_temperature_K(self) -> np.ndarray:
        depth = self.tropopause_height_km - self.surface_height_km
        return self.surface_air_temperature_K + self.inversion_K - self.lapse_rate_K_per_km * depth


def _temperature_K(z_km: np.ndarray, c: _ColumnParameters) -> np.ndarray:
    """Troposphere (lapse rate + surface inversion), stratosphere (power-law warming), mesosphere."""
    z_s, z_t = c.surface_height_km[:, None], c.tropopause_height_km[:, None]
    z_sp = _log_pressure_height_km(c.stratopause_pressure_Pa)[:, None]
    above_surface = z_km - z_s
    inversion = c.inversion_K[:, None] * np.clip(1.0 - above_surface / c.inversion_depth_km[:, None], 0.0, 1.0)
    troposphere = (
        (c.surface_air_temperature_K + c.inversion_K)[:, None] - c.lapse_rate_K_per_km[:, None] * above_surface
    ) - inversion
    t_trop, t_sp = c.tropopause_temperature_K[:, None], c.stratopause_temperature_K[:, None]
    way_up = np.clip((z_km - z_t) / (z_sp - z_t), 0.0, 1.0)
    stratosphere = t_trop + (t_sp - t_trop) * way_up ** c.stratosphere_exponent[:, None]
    mesosphere = t_sp - c.mesosphere_lapse_rate_K_per_km[:, None] * (z_km - z_sp)
    return np.where(z_km <= z_t, troposphere, np.where(z_km <= z_sp, stratosphere, mesosphere))


def _manabe_relative_humidity(p_level_Pa: np.ndarray, c: _ColumnParameters) -> np.ndarray:
    """Manabe & Wetherald (1967): RH falls linearly with sigma = p / p_s to 0 at sigma = 0.02."""
    sigma = p_level_Pa / c.surface_pressure_Pa[:, None]
    return c.surface_relative_humidity[:, None] * np.clip((sigma - 0.02) / 0.98, 0.0, 1.0)


def _humidity_kg_per_kg(
    relative_humidity: np.ndarray, temperature_K: np.ndarray, p_level_Pa: np.ndarray, c: _ColumnParameters
) -> np.ndarray:
    """Specific humidity from RH in the troposphere and a fixed mole fraction above it.

    Stratospheric air is dried to a few ppmv at the tropical cold point (Brewer 1949) and spreads
    poleward, so its water does not follow the local tropopause; the cap at saturation only binds
    next to the coldest tropopauses.
    """
    saturation = saturation_vapor_pressure_Pa(temperature_K) / p_level_Pa
    stratosphere = c.stratospheric_water_mol_per_mol[:, None]
    in_troposphere = _log_pressure_height_km(p_level_Pa) <= c.tropopause_height_km[:, None]
    vapour = np.where(in_troposphere, relative_humidity * saturation, stratosphere)
    vapour = np.minimum(vapour, saturation)
    return np.maximum(_specific_humidity(vapour), MIN_SPECIFIC_HUMIDITY_KG_PER_KG)


def _ozone_mol_per_mol(p_level_Pa: np.ndarray, c: _ColumnParameters) -> np.ndarray:
    """Gaussian in log-pressure around the peak (wider below it) on a tropospheric background.

    Below the tropopause the stratospheric part decays with an e-folding depth of 1 km: the
    tropopause is a barrier to mixing, and without the taper the wide high-latitude wing would
    put ppmv of ozone at the surface of elevated polar columns.
    """
    log_ratio = np.log(p_level_Pa / c.ozone_peak_pressure_Pa[:, None])
    width = np.where(log_ratio > 0.0, c.ozone_width_below[:, None], c.ozone_width_above[:, None])
    below_tropopause_km = np.maximum(c.tropopause_height_km[:, None] - _log_pressure_height_km(p_level_Pa), 0.0)
    stratospheric = np.exp(-0.5 * (log_ratio / width) ** 2 - below_tropopause_km / OZONE_TAPER_DEPTH_KM)
    background = c.ozone_troposphere_mol_per_mol[:, None]
    return background + (c.ozone_peak_mol_per_mol[:, None] - background) * stratospheric


def _ice_radius_um(temperature_K: np.ndarray, c: _ColumnParameters) -> np.ndarray:
    """Ice crystals grow with temperature: 15 um at 200 K to 75 um at 273 K, times a column factor."""
    warmth = np.clip((temperature_K - 200.0) / (MELTING_POINT_K - 200.0), 0.0, 1.0)
    return np.clip(c.ice_radius_factor[:, None] * (15.0 + 60.0 * warmth), *ICE_RADIUS_BOUNDS_UM)


# --------------------------------------------------------------------------------------------
# Sampling


def _sample_parameters(n: int, rng: np.random.Generator, config: ColumnSamplerConfig) -> _ColumnParameters:
    """Draw the per-column parameters (module docstring table), in a fixed order of draws."""

    def u(low: float = 0.0, high: float = 1.0) -> np.ndarray:
        return rng.uniform(low, high, n)

    latitude_deg = np.rad2deg(np.arcsin(u(-1.0, 1.0)))
    s2 = np.sin(np.deg2rad(latitude_deg)) ** 2
    day_of_year = rng.integers(1, 366, n).astype(float)
    local_solar_time_h = u(0.0, 24.0)
    cos_zenith, distance_factor = solar_geometry(latitude_deg, day_of_year, local_solar_time_h)
    day = cos_zenith > 0.0

    ocean = u() < config.ocean_fraction
    elevation_m = np.where(
        ocean,
        0.0,
        # Inverse CDF of the exponential truncated at the maximum elevation (no pile-up at the cap).
        -config.land_elevation_mean_m
        * np.log1p(-u() * -np.expm1(-config.land_elevation_max_m / config.land_elevation_mean_m)),
    )
    sea_level_pressure = np.clip(rng.normal(101300.0, 800.0, n), 98100.0, 104500.0)
    surface_pressure_Pa = sea_level_pressure * np.exp(-elevation_m / SURFACE_PRESSURE_SCALE_HEIGHT_M)

    # Coldest a month after the solstice; continents have larger seasonal cycles than oceans.
    season = -np.cos(2.0 * np.pi * (day_of_year - 20.0) / 365.0) * np.sign(latitude_deg)
    amplitude = 15.0 * s2 * np.where(ocean, 0.6, 1.4)
    # Polar oceans are kept warmer than polar land by the heat the ocean carries poleward.
    climate = 300.0 - 20.0 * s2 - 30.0 * s2**2 + np.where(ocean, 6.0 * s2**2, 0.0)
    noise = rng.normal(0.0, 1.0, n) * (1.5 + 3.5 * s2)
    surface_air_temperature_K = np.clip(climate + amplitude * season - 6.5e-3 * elevation_m + noise, 205.0, 315.0)
    sea_ice = ocean & (surface_air_temperature_K < SEA_ICE_AIR_TEMPERATURE_K - 6.0 * u())
    snow = ~ocean & (surface_air_temperature_K < MELTING_POINT_K - 10.0 * u())
    surface_type = np.select(
        [sea_ice, ocean, snow], [_SURFACE["sea_ice"], _SURFACE["ocean"], _SURFACE["snow_covered_land"]],
        _SURFACE["land"],
    ).astype(np.int8)
    bare_land = surface_type == _SURFACE["land"]
    desert = u() < 0.1 + 0.5 * np.exp(-(((np.abs(latitude_deg) - 25.0) / 10.0) ** 2))
    aridity = np.where(bare_land, np.where(desert, u(0.6, 1.0), u(0.0, 0.4)), 0.0)

    polar = (np.abs(latitude_deg) > 60.0) | sea_ice | snow
    inversion_probability = np.where(polar, 0.7, np.where(~ocean & ~day, 0.5, 0.0))
    inversion_K = np.where(u() < inversion_probability, u(0.0, config.surface_inversion_max_K), 0.0)
    inversion_depth_km = u(0.2, 1.5)

    surface_height_km = _log_pressure_height_km(surface_pressure_Pa)
    tropopause_noise_km = np.clip(rng.normal(0.0, 0.7, n), -2.1, 2.1)
    tropopause_height_km = np.maximum(
        9.0 + 8.0 / (1.0 + np.exp((np.abs(latitude_deg) - 35.0) / 7.0)) + tropopause_noise_km,
        surface_height_km + 4.0,
    )
    troposphere_depth_km = tropopause_height_km - surface_height_km
    tropopause_target_K = 194.0 + 50.0 * s2 - 28.0 * s2**2 + rng.normal(0.0, 4.0, n)
    base_K = surface_air_temperature_K + inversion_K
    lapse_rate = np.clip((base_K - tropopause_target_K) / troposphere_depth_km, 4.0, 8.0)
    lapse_rate = np.minimum(lapse_rate, (base_K - MIN_TROPOPAUSE_TEMPERATURE_K) / troposphere_depth_km)
    tropopause_K = base_K - lapse_rate * troposphere_depth_km

    surface_relative_humidity = np.where(bare_land, u(0.6, 0.9) * (1.0 - 0.6 * aridity), u(0.7, 0.95))

    log_co2 = rng.uniform(np.log(config.co2_min_mol_per_mol), np.log(config.co2_max_mol_per_mol), n)
    co2 = np.where(
        u() < config.co2_present_day_fraction,
        rng.normal(config.co2_present_day_mean_mol_per_mol, config.co2_present_day_std_mol_per_mol, n),
        np.exp(log_co2),
    )

    vis = np.select(
        [surface_type == _SURFACE["ocean"], bare_land, sea_ice],
        [u(0.04, 0.10), 0.07 + 0.25 * aridity + u(-0.02, 0.03), u(0.5, 0.8)],
        u(0.6, 0.9),
    )
    nir = np.select(
        [surface_type == _SURFACE["ocean"], bare_land, sea_ice],
        [vis * u(0.9, 1.1), 0.25 + 0.17 * aridity + u(-0.03, 0.03), vis * u(0.6, 0.85)],
        vis * u(0.55, 0.8),
    )
    emissivity = np.select(
        [surface_type == _SURFACE["ocean"], bare_land],
        [u(0.98, 0.99), 0.97 - 0.06 * aridity + u(-0.01, 0.01)],
        u(0.97, 0.99),
    )
    diurnal = np.where(day, (3.0 + 12.0 * aridity) * cos_zenith, -u(0.0, 3.0))
    land_skin = surface_air_temperature_K + diurnal + rng.normal(0.0, 1.0, n)
    frozen_skin = np.minimum(surface_air_temperature_K + rng.normal(-1.0, 1.5, n), MELTING_POINT_K)
    ocean_skin = np.maximum(surface_air_temperature_K + rng.normal(0.5, 0.7, n), FREEZING_POINT_SEAWATER_K)
    skin_temperature_K = np.clip(
        np.select([surface_type == _SURFACE["ocean"], bare_land], [ocean_skin, land_skin], frozen_skin), 200.0, 320.0
    )

    weights = np.array(config.cloudy_regime_weights, dtype=float)
    cloudy = weights / weights.sum() if weights.sum() > 0.0 else weights  # all 0 only if clear_fraction = 1
    probabilities = np.concatenate([[config.clear_fraction], (1.0 - config.clear_fraction) * cloudy])
    cloud_regime = rng.choice(len(CLOUD_REGIMES), size=n, p=probabilities / probabilities.sum())
    # Deep convection needs a warm, moist boundary layer.
    cold_convection = (cloud_regime == _REGIME["deep_convective"]) & (surface_air_temperature_K < 280.0)
    cloud_regime = np.where(cold_convection, _REGIME["multi_layer"], cloud_regime).astype(np.int8)

    return _ColumnParameters(
        latitude_deg=latitude_deg,
        day_of_year=day_of_year,
        local_solar_time_h=local_solar_time_h,
        cos_zenith=cos_zenith,
        distance_factor=distance_factor,
        surface_type=surface_type,
        cloud_regime=cloud_regime,
        surface_pressure_Pa=surface_pressure_Pa,
        surface_air_temperature_K=surface_air_temperature_K,
        inversion_K=inversion_K,
        inversion_depth_km=inversion_depth_km,
        lapse_rate_K_per_km=lapse_rate,
        tropopause_height_km=tropopause_height_km,
        stratosphere_exponent=(0.8 + 1.8 * s2) * np.exp(rng.normal(0.0, 0.2, n)),
        stratopause_pressure_Pa=np.exp(u(np.log(50.0), np.log(150.0))),
        # The stratosphere must warm above the tropopause.
        stratopause_temperature_K=np.maximum(u(260.0, 285.0), tropopause_K + 10.0),
        mesosphere_lapse_rate_K_per_km=u(0.8, 2.5),
        surface_relative_humidity=surface_relative_humidity,
        stratospheric_water_mol_per_mol=u(2e-6, 5e-6),
        ozone_peak_mol_per_mol=u(6e-6, 1e-5),
        ozone_peak_pressure_Pa=np.exp(u(np.log(500.0), np.log(2000.0))),
        ozone_width_below=(0.9 + 0.9 * s2) * u(0.85, 1.15),
        ozone_width_above=u(1.2, 1.6),
        ozone_troposphere_mol_per_mol=u(2e-8, 8e-8),
        co2_mol_per_mol=np.clip(co2, config.co2_min_mol_per_mol, config.co2_max_mol_per_mol),
        albedo_visible=vis,
        albedo_near_infrared=nir,
        emissivity=emissivity,
        skin_temperature_K=skin_temperature_K,
        droplet_radius_um=np.where(ocean, u(8.0, 20.0), u(4.0, 12.0)),
        ice_radius_factor=u(0.7, 1.6),
    )


def _smooth_bumps(
    rng: np.random.Generator,
    z_km: np.ndarray,
    n_bumps: int,
    amplitude: tuple[float, float],
    width_km: tuple[float, float],
) -> np.ndarray:
    """Sum of ``n_bumps`` Gaussians in log-pressure height per column, centred anywhere in 0..60 km."""
    shape = (z_km.shape[0], n_bumps, 1)
    centre = rng.uniform(0.0, 60.0, shape)
    width = rng.uniform(*width_km, shape)
    height = rng.uniform(*amplitude, shape)
    return (height * np.exp(-0.5 * ((z_km[:, None, :] - centre) / width) ** 2)).sum(axis=1)


def _sample_clouds(
    rng: np.random.Generator,
    c: _ColumnParameters,
    config: ColumnSamplerConfig,
    z_km: np.ndarray,
    temperature_K: np.ndarray,
    p_interface_Pa: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cloud fraction and in-cloud liquid and ice water paths (g m-2) of each layer."""
    n, n_levels = z_km.shape
    regime = c.cloud_regime
    z_s, z_t = c.surface_height_km, c.tropopause_height_km

    def u(low: float = 0.0, high: float = 1.0) -> np.ndarray:
        return rng.uniform(low, high, n)

    def sigma_height(sigma: np.ndarray) -> np.ndarray:
        return z_s + LOG_PRESSURE_SCALE_HEIGHT_KM * np.log(1.0 / sigma)

    multi = regime == _REGIME["multi_layer"]
    deep = regime == _REGIME["deep_convective"]
    # A multi-layer column has all three of low/middle/high except the one omitted (3 = none).
    omitted = rng.integers(0, 4, n)
    low_base = u(0.86, 0.98)
    middle_base = u(0.55, 0.75)
    high_top = z_t - u(0.2, 3.0)
    tower_top = z_t + u(-1.5, 0.8)
    layers = {  # name: (active, base height km, top height km, condensate offset in log10)
        "low": (
            (regime == _REGIME["low"]) | (multi & (omitted != 0)),
            sigma_height(low_base),
            sigma_height(low_base - u(0.03, 0.15)),
            0.0,
        ),
        "middle": (
            (regime == _REGIME["middle"]) | (multi & (omitted != 1)),
            sigma_height(middle_base),
            sigma_height(middle_base - u(0.05, 0.2)),
            0.0,
        ),
        "high": ((regime == _REGIME["high"]) | (multi & (omitted != 2)), high_top - u(0.5, 3.0), high_top, 0.0),
        "tower": (deep, sigma_height(u(0.85, 0.95)), tower_top, -0.3),
        "anvil": (deep, tower_top - u(1.0, 3.0), tower_top, 0.2),
    }

    level = np.arange(n_levels)[None, :]
    below_cap = z_km <= (z_t + 1.0)[:, None]
    # Highest level allowed to hold cloud (tropopause + 1 km); z_t >= z_s + 4 km keeps it >= 0.
    cap = below_cap.sum(axis=1) - 1
    log10_condensate = -3.5 + (temperature_K - 300.0) / 80.0
    fraction = np.zeros((n, n_levels))
    condensate = np.zeros((n, n_levels))
    for active, base_km, top_km, offset in layers.values():
        # Index bounds rather than height tests, so that every cloud covers at least one level.
        first = np.minimum((z_km < base_km[:, None]).sum(axis=1), cap)
        last = np.clip((z_km <= top_km[:, None]).sum(axis=1) - 1, first, cap)
        inside = active[:, None] & (level >= first[:, None]) & (level <= last[:, None])
        layer_fraction = np.where(u() < config.overcast_probability, 1.0, u(0.05, 1.0))
        layer_condensate = np.minimum(
            10.0 ** (log10_condensate + (u(-1.2, 0.4) + offset)[:, None]), MAX_CONDENSATE_KG_PER_KG
        )
        fraction = np.where(inside, np.maximum(fraction, layer_fraction[:, None]), fraction)
        condensate = np.where(inside, np.maximum(condensate, layer_condensate), condensate)

    path_g_per_m2 = condensate * (p_interface_Pa[:, :-1] - p_interface_Pa[:, 1:]) / GRAVITY_M_PER_S2 * 1000.0
    liquid_share = np.clip((temperature_K - ALL_ICE_TEMPERATURE_K) / (MELTING_POINT_K - ALL_ICE_TEMPERATURE_K), 0, 1)
    return fraction, liquid_share * path_g_per_m2, (1.0 - liquid_share) * path_g_per_m2


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an integer seed, got {type(rng).__name__}")


def sample_columns(
    n_columns: int, rng: np.random.Generator | int, config: ColumnSamplerConfig = ColumnSamplerConfig()
) -> xr.Dataset:
    """Sample ``n_columns`` independent atmospheric columns (distributions in the module docstring).

    Args:
        n_columns: number of columns (>= 1).
        rng: a numpy Generator (advanced in place) or an integer seed; the same seed and config give
            an identical dataset.
        config: sampler settings, recorded as JSON in the ``sampler_settings`` attribute.

    Returns:
        Dataset with exactly the variables of ``RADIATION_INPUTS`` and ``COLUMN_DESCRIPTORS``,
        surface first (``vertical_order`` attribute).
    """
    if isinstance(n_columns, bool) or not isinstance(n_columns, int | np.integer) or n_columns < 1:
        raise ValueError(f"n_columns must be an integer >= 1, got {n_columns!r}")
    generator = _as_generator(rng)
    c = _sample_parameters(int(n_columns), generator, config)
    p_interface, p_level = _pressure_grid(c.surface_pressure_Pa, config)
    z_km = _log_pressure_height_km(p_level)
    temperature = _temperature_K(z_km, c) + _smooth_bumps(generator, z_km, 3, (-1.5, 1.5), (1.0, 5.0))
    fraction, liquid_path, ice_path = _sample_clouds(generator, c, config, z_km, temperature, p_interface)
    dry_moist_layers = 1.0 + _smooth_bumps(generator, z_km, 2, (-0.5, 0.5), (0.5, 2.0))
    relative_humidity = np.clip(_manabe_relative_humidity(p_level, c) * dry_moist_layers, 0.0, 1.0)
    # Cloudy layers are close to saturation.
    relative_humidity = np.where(fraction > 0.0, np.maximum(relative_humidity, 0.9 + 0.1 * fraction), relative_humidity)
    return _dataset(c, config, p_interface, p_level, temperature, relative_humidity, fraction, liquid_path, ice_path)


def _dataset(
    c: _ColumnParameters,
    config: ColumnSamplerConfig,
    p_interface: np.ndarray,
    p_level: np.ndarray,
    temperature: np.ndarray,
    relative_humidity: np.ndarray,
    cloud_fraction: np.ndarray,
    liquid_path: np.ndarray,
    ice_path: np.ndarray,
) -> xr.Dataset:
    data = {
        "air_pressure": p_level,
        "air_pressure_on_interface": p_interface,
        "air_temperature": temperature,
        "surface_temperature": c.skin_temperature_K,
        "specific_humidity": _humidity_kg_per_kg(relative_humidity, temperature, p_level, c),
        "ozone_mole_fraction": _ozone_mol_per_mol(p_level, c),
        "co2_mole_fraction": c.co2_mol_per_mol,
        "cloud_fraction": cloud_fraction,
        "cloud_liquid_water_path": liquid_path,
        "cloud_ice_water_path": ice_path,
        "cloud_droplet_radius": np.broadcast_to(c.droplet_radius_um[:, None], p_level.shape),
        "cloud_ice_radius": _ice_radius_um(temperature, c),
        "surface_albedo_visible": c.albedo_visible,
        "surface_albedo_near_infrared": c.albedo_near_infrared,
        "surface_emissivity": c.emissivity,
        "cos_solar_zenith_angle": c.cos_zenith,
        "earth_sun_distance_factor": c.distance_factor,
        "latitude": c.latitude_deg,
        "day_of_year": c.day_of_year,
        "local_solar_time": c.local_solar_time_h,
    }
    variables = {
        name: (RADIATION_INPUTS[name].dims, np.array(value, dtype=np.float64), RADIATION_INPUTS[name].attrs())
        for name, value in data.items()
        if name in RADIATION_INPUTS
    }
    for name in COLUMN_DESCRIPTORS:
        attrs = COLUMN_DESCRIPTORS[name].attrs()
        if name == "surface_type":
            value, meanings = c.surface_type.astype(np.int8), SURFACE_TYPES
        elif name == "cloud_regime":
            value, meanings = c.cloud_regime.astype(np.int8), CLOUD_REGIMES
        else:
            value, meanings = np.array(data[name], dtype=np.float64), None
        if meanings is not None:
            attrs |= {"flag_values": np.arange(len(meanings), dtype=np.int8), "flag_meanings": " ".join(meanings)}
        variables[name] = (COLUMN_DESCRIPTORS[name].dims, value, attrs)
    return xr.Dataset(
        variables,
        attrs={"vertical_order": VERTICAL_ORDER, "sampler_settings": json.dumps(config.to_dict(), sort_keys=True)},
    )


# --------------------------------------------------------------------------------------------
# Standard columns

StandardColumnName = Literal["tropical", "midlatitude_summer", "subarctic_winter"]

#: Parameters fitted to the AFGL profiles (Anderson et al. 1986, the tabulation of McClatchey et
#: al. 1972): surface air temperature, tropopause (cold point) temperature and pressure,
#: stratopause temperature and pressure and mesospheric lapse rate read off the tables; the
#: stratospheric exponent fitted at 25 and 35 km; ozone peak and widths fitted at ~100 hPa and
#: ~1 hPa; surface RH from the tabulated surface water vapour.
_STANDARD_COLUMNS: dict[str, dict[str, float]] = {
    "tropical": dict(
        latitude_deg=15.0, day_of_year=80.0, surface_type=_SURFACE["ocean"],
        surface_air_temperature_K=299.7, inversion_K=0.0,
        tropopause_temperature_K=194.8, tropopause_pressure_Pa=9370.0,
        stratosphere_exponent=0.8, stratopause_pressure_Pa=85.4, stratopause_temperature_K=270.2,
        mesosphere_lapse_rate_K_per_km=1.57, surface_relative_humidity=0.76,
        stratospheric_water_mol_per_mol=3e-6, ozone_peak_mol_per_mol=9.85e-6, ozone_peak_pressure_Pa=852.0,
        ozone_width_below=0.88, ozone_width_above=1.45, ozone_troposphere_mol_per_mol=2.87e-8,
        albedo_visible=0.07, albedo_near_infrared=0.07, emissivity=0.99,
    ),
    "midlatitude_summer": dict(
        latitude_deg=45.0, day_of_year=196.0, surface_type=_SURFACE["land"],
        surface_air_temperature_K=294.2, inversion_K=0.0,
        tropopause_temperature_K=215.7, tropopause_pressure_Pa=17900.0,
        stratosphere_exponent=1.7, stratopause_pressure_Pa=95.1, stratopause_temperature_K=275.7,
        mesosphere_lapse_rate_K_per_km=2.13, surface_relative_humidity=0.76,
        stratospheric_water_mol_per_mol=4e-6, ozone_peak_mol_per_mol=8.9e-6, ozone_peak_pressure_Pa=652.0,
        ozone_width_below=1.25, ozone_width_above=1.27, ozone_troposphere_mol_per_mol=3.0e-8,
        albedo_visible=0.10, albedo_near_infrared=0.25, emissivity=0.96,
    ),
    "subarctic_winter": dict(
        latitude_deg=60.0, day_of_year=15.0, surface_type=_SURFACE["snow_covered_land"],
        surface_air_temperature_K=257.2, inversion_K=8.5,
        tropopause_temperature_K=217.2, tropopause_pressure_Pa=28290.0,
        stratosphere_exponent=3.5, stratopause_pressure_Pa=57.2, stratopause_temperature_K=259.3,
        mesosphere_lapse_rate_K_per_km=0.93, surface_relative_humidity=0.94,
        stratospheric_water_mol_per_mol=4.5e-6, ozone_peak_mol_per_mol=6.25e-6, ozone_peak_pressure_Pa=320.0,
        ozone_width_below=1.8, ozone_width_above=1.3, ozone_troposphere_mol_per_mol=1.8e-8,
        albedo_visible=0.80, albedo_near_infrared=0.60, emissivity=0.99,
    ),
}
_STANDARD_SURFACE_PRESSURE_PA = 101300.0  # 1013 hPa, the AFGL surface
_STANDARD_CO2_MOL_PER_MOL = 420e-6


def standard_column(name: StandardColumnName, n_levels: int = 60) -> xr.Dataset:
    """One clear-sky column approximating an AFGL / McClatchey et al. (1972) standard atmosphere.

    Built with the sampler's parametric profiles (module docstring) and these fixed parameters,
    read off or fitted to the AFGL tables (Anderson et al. 1986, which tabulate the McClatchey et
    al. 1972 profiles):

    ======================  ===========  ==================  ==================
    parameter               tropical     midlatitude_summer  subarctic_winter
    ======================  ===========  ==================  ==================
    latitude, day of year   15 N, 80     45 N, 196 (July)    60 N, 15 (January)
    surface                 ocean        land                snow_covered_land
    surface air / skin T    299.7 K      294.2 K             257.2 K
    surface inversion       none         none                8.5 K over 1.2 km
    tropopause              194.8 K at   215.7 K at          217.2 K at
                            93.7 hPa     179 hPa             282.9 hPa
    stratopause             270.2 K at   275.7 K at          259.3 K at
                            0.854 hPa    0.951 hPa           0.572 hPa
    surface RH              0.76         0.76                0.94 (over ice)
    stratospheric H2O       3 ppmv       4 ppmv              4.5 ppmv
    ozone peak              9.85 ppmv    8.9 ppmv            6.25 ppmv
                            at 8.5 hPa   at 6.5 hPa          at 3.2 hPa
    albedo vis / NIR        0.07 / 0.07  0.10 / 0.25         0.80 / 0.60
    emissivity              0.99         0.96                0.99
    ======================  ===========  ==================  ==================

    Common to all: surface pressure 1013 hPa, CO2 420e-6 mol/mol, no cloud, droplet radius 10 um,
    ice radius from the sampler's temperature law; the sun is a fixed reference geometry:
    ``cos_solar_zenith_angle = 0.5`` and ``earth_sun_distance_factor = 1`` (mean distance), not
    derived from the nominal latitude, day of year and local solar time (12 h).

    Args:
        name: which standard atmosphere.
        n_levels: number of layers of the default sampler grid.

    Returns:
        A one-column Dataset in the same format as :func:`sample_columns`.
    """
    if name not in _STANDARD_COLUMNS:
        raise ValueError(f"standard_column name must be one of {sorted(_STANDARD_COLUMNS)}, got {name!r}")
    config = ColumnSamplerConfig(n_levels=n_levels)
    p = _STANDARD_COLUMNS[name]

    def one(value: float) -> np.ndarray:
        return np.array([value], dtype=float)

    surface_height_km = _log_pressure_height_km(_STANDARD_SURFACE_PRESSURE_PA)
    tropopause_height_km = _log_pressure_height_km(p["tropopause_pressure_Pa"])
    lapse_rate = (p["surface_air_temperature_K"] + p["inversion_K"] - p["tropopause_temperature_K"]) / (
        tropopause_height_km - surface_height_km
    )
    c = _ColumnParameters(
        latitude_deg=one(p["latitude_deg"]),
        day_of_year=one(p["day_of_year"]),
        local_solar_time_h=one(12.0),
        cos_zenith=one(0.5),
        distance_factor=one(1.0),
        surface_type=np.array([p["surface_type"]], dtype=np.int8),
        cloud_regime=np.array([_REGIME["clear"]], dtype=np.int8),
        surface_pressure_Pa=one(_STANDARD_SURFACE_PRESSURE_PA),
        surface_air_temperature_K=one(p["surface_air_temperature_K"]),
        inversion_K=one(p["inversion_K"]),
        inversion_depth_km=one(1.2),
        lapse_rate_K_per_km=one(lapse_rate),
        tropopause_height_km=one(tropopause_height_km),
        stratosphere_exponent=one(p["stratosphere_exponent"]),
        stratopause_pressure_Pa=one(p["stratopause_pressure_Pa"]),
        stratopause_temperature_K=one(p["stratopause_temperature_K"]),
        mesosphere_lapse_rate_K_per_km=one(p["mesosphere_lapse_rate_K_per_km"]),
        surface_relative_humidity=one(p["surface_relative_humidity"]),
        stratospheric_water_mol_per_mol=one(p["stratospheric_water_mol_per_mol"]),
        ozone_peak_mol_per_mol=one(p["ozone_peak_mol_per_mol"]),
        ozone_peak_pressure_Pa=one(p["ozone_peak_pressure_Pa"]),
        ozone_width_below=one(p["ozone_width_below"]),
        ozone_width_above=one(p["ozone_width_above"]),
        ozone_troposphere_mol_per_mol=one(p["ozone_troposphere_mol_per_mol"]),
        co2_mol_per_mol=one(_STANDARD_CO2_MOL_PER_MOL),
        albedo_visible=one(p["albedo_visible"]),
        albedo_near_infrared=one(p["albedo_near_infrared"]),
        emissivity=one(p["emissivity"]),
        skin_temperature_K=one(p["surface_air_temperature_K"]),
        droplet_radius_um=one(10.0),
        ice_radius_factor=one(1.0),
    )
    p_interface, p_level = _pressure_grid(c.surface_pressure_Pa, config)
    temperature = _temperature_K(_log_pressure_height_km(p_level), c)
    clear = np.zeros_like(p_level)
    ds = _dataset(
        c, config, p_interface, p_level, temperature, _manabe_relative_humidity(p_level, c), clear, clear, clear
    )
    ds.attrs["standard_column"] = name
    return ds
