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

The table gives the defaults. :data:`~subgrid.radiation.columns.config.WIDE_COVERAGE` widens the ranges the
generalisation suite showed were too narrow (``ColumnSamplerConfig(**WIDE_COVERAGE)``, ``subgrid generate ...
--coverage wide``):

==============================  ==================  ==================
setting                         default             wide
==============================  ==================  ==================
stratopause_temperature_K       U(260, 285) K       U(245, 295) K
stratospheric_water_mol_per_mol U(2, 5) ppmv        U(1.5, 8) ppmv
ozone_peak_mol_per_mol          U(6, 10) ppmv       U(3, 16) ppmv
ice_radius_factor               U(0.7, 1.6)         U(0.5, 2.2)
land_elevation_max_m            4000 m              6000 m (~470 hPa)
==============================  ==================  ==================

:data:`~subgrid.radiation.columns.config.EXTENDED_COVERAGE` (``--coverage extended``) is the wide coverage
with CO2 log-uniform up to 5000 ppmv (``co2_max_mol_per_mol``, default 1200 ppmv), half the columns over
land (``ocean_fraction`` 0.5, default 0.7) and land higher on average (``land_elevation_mean_m`` 1500 m,
default 500 m).

References: Alduchov, O. A. & Eskridge, R. E. (1996), J. Appl. Meteor. 35, 601-609; Anderson, G. P.
et al. (1986), AFGL atmospheric constituent profiles (0-120 km), AFGL-TR-86-0110; Brewer, A. W.
(1949), Q. J. R. Meteorol. Soc. 75, 351-363; Manabe, S. & Wetherald, R. T. (1967), J. Atmos. Sci.
24, 241-259; McClatchey, R. A. et al. (1972), Optical properties of the atmosphere, AFCRL-72-0497;
Spencer, J. W. (1971), Search 2(5), 172.
"""

from subgrid.radiation.columns.config import EXTENDED_COVERAGE, WIDE_COVERAGE, ColumnSamplerConfig
from subgrid.radiation.columns.sampler import sample_columns
from subgrid.radiation.columns.standard import StandardColumnName, standard_column

__all__ = ["EXTENDED_COVERAGE", "WIDE_COVERAGE", "ColumnSamplerConfig", "StandardColumnName", "sample_columns", "standard_column"]
