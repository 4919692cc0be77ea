"""Large-scale condensation with a cloud-condensate budget, and the cloud fraction and optics it implies.

Pure numpy on ``(column, level)`` arrays, surface first; one time step ``dt_s`` at a time. The
grid box carries vapour ``q`` and cloud condensate ``q_c`` (kg/kg, liquid and ice together). The
condensate is a per-column memory, not advected: at T21 (~600 km) a cloud of a few hours' life is
carried by a 10 m/s wind a small fraction of a grid box, so advecting it would change little.

Processes, in order (Sundqvist 1978; Sundqvist et al. 1989):

1. **saturation adjustment**: supersaturated vapour condenses into ``q_c`` and heats the air
   (``L_v δ / c_p``), two Newton steps on ``q = q*(T, p)``;
2. **cloud evaporation** where the air is subsaturated: ``q_c`` decays at ``(1 − RH)/τ_e``, at
   most to saturation;
3. **autoconversion** to precipitation (Sundqvist): ``c₀ q_c [1 − exp(−(q_c,in / q_crit)²)]``
   with the in-cloud condensate ``q_c,in = q_c / C``; ice (below 253 K, mixed between 253 and
   273 K) has a larger rate and a lower threshold, standing in for sedimentation;
4. **precipitation evaporation** below cloud: the flux falling from above evaporates at
   ``k_e (1 − RH) √P`` in subsaturated layers (Kessler 1969; Sundqvist 1988), at most to
   saturation; what reaches the surface is the precipitation.

Convective detrainment (:func:`detrain_convective_condensate`) keeps a fraction of the moistening
that a convection scheme reports aloft as condensate instead (the scheme evaporated its
detrained condensate; the heat of that evaporation is given back, so moist enthalpy is kept).

Cloud fraction (Xu & Randall 1996) depends on the condensate, not on relative humidity alone:
``C = RH^p [1 − exp(−α q_c / ((1 − RH) q*)^γ)]``, ``p = 0.25``, ``α = 100``, ``γ = 0.49``; saturated
boxes with condensate are overcast, boxes without condensate clear whatever their humidity.

Every process moves water between ``q``, ``q_c`` and the precipitation and heats by ``L_v`` per
kilogram condensed: the column's total water changes by exactly ``−P dt``, and its moist enthalpy
``Σ (c_p T + L_v q) Δp/g`` not at all (what falls out was condensate, whose latent heat is already
in ``T``), to round-off (``tests/test_gcm_physics.py``).

References: Sundqvist, H. (1978), QJRMS 104, 677-690; Sundqvist, H., Berge, E. & Kristjansson, J. E.
(1989), MWR 117, 1641-1657; Xu, K.-M. & Randall, D. A. (1996), JAS 53, 3084-3102; Kessler, E. (1969),
Meteor. Monogr. 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subgrid.physics.constants import EPSILON, LATENT_HEAT_VAPORIZATION_J_PER_KG, MELTING_POINT_K, RRTMG
from subgrid.physics.thermodynamics import saturation_specific_humidity_kg_per_kg

_CP = RRTMG.cp_dry_air_J_per_kg_K
_G = RRTMG.gravity_m_per_s2
_LV = LATENT_HEAT_VAPORIZATION_J_PER_KG
_RV = RRTMG.dry_air_gas_constant_J_per_kg_K / EPSILON


@dataclass(frozen=True)
class CloudConfig:
    """Settings of :func:`large_scale_condensation` and :func:`cloud_fraction`.

    Attributes:
        evaporation_timescale_s: ``τ_e`` of cloud evaporation at ``RH = 0``.
        autoconversion_rate_per_s: Sundqvist's ``c₀`` for liquid.
        autoconversion_threshold_kg_per_kg: Sundqvist's in-cloud ``q_crit`` for liquid.
        ice_removal_rate_per_s, ice_autoconversion_threshold_kg_per_kg: the same for ice, whose
            crystals fall out within ~15 min from a kilometre-deep layer at 1 m/s (rates and
            thresholds are interpolated with the liquid fraction).
        rain_evaporation_coefficient: ``k_e`` of precipitation evaporation, (kg m⁻² s⁻¹)^-1/2 s⁻¹.
        detrained_condensate_fraction: the share of convective moistening aloft kept as condensate.
        xu_randall_p, xu_randall_alpha, xu_randall_gamma: Xu & Randall's (1996) fit.
        minimum_cloud_fraction: boxes with less cloud than this are clear for radiation.
        droplet_radius_um, ice_radius_warm_um, ice_radius_cold_um: effective radii for RRTMG
            (ice from warm, at 253 K, to cold, at 203 K and below).
    """

    evaporation_timescale_s: float = 3600.0
    autoconversion_rate_per_s: float = 1.0e-4
    autoconversion_threshold_kg_per_kg: float = 3.0e-4
    ice_removal_rate_per_s: float = 1.0e-3
    ice_autoconversion_threshold_kg_per_kg: float = 2.0e-5
    rain_evaporation_coefficient: float = 5.0e-6
    detrained_condensate_fraction: float = 0.2
    xu_randall_p: float = 0.25
    xu_randall_alpha: float = 100.0
    xu_randall_gamma: float = 0.49
    minimum_cloud_fraction: float = 0.01
    droplet_radius_um: float = 12.0
    ice_radius_warm_um: float = 60.0
    ice_radius_cold_um: float = 20.0


def liquid_fraction(temperature_K: np.ndarray) -> np.ndarray:
    """Share of the condensate that is liquid: 0 below 253.15 K, 1 above 273.15 K, linear between."""
    return np.clip((temperature_K - (MELTING_POINT_K - 20.0)) / 20.0, 0.0, 1.0)


def _dqsat_dT(temperature_K: np.ndarray, qsat: np.ndarray) -> np.ndarray:
    """Clausius-Clapeyron ``dq*/dT ≈ L_v q* / (R_v T²)``."""
    return _LV * qsat / (_RV * temperature_K**2)


def saturation_excess(temperature_K: np.ndarray, specific_humidity: np.ndarray, pressure_Pa: np.ndarray) -> np.ndarray:
    """Vapour (kg/kg) that would condense to bring the box to saturation, with latent heating (< 0: deficit).

    Two Newton steps on ``q − δ = q*(T + L_v δ / c_p)``.
    """
    delta = np.zeros_like(specific_humidity)
    for _ in range(2):
        temperature = temperature_K + _LV / _CP * delta
        qsat = saturation_specific_humidity_kg_per_kg(temperature, pressure_Pa)
        delta = delta + (specific_humidity - delta - qsat) / (1.0 + _LV / _CP * _dqsat_dT(temperature, qsat))
    return delta


def relative_humidity(temperature_K: np.ndarray, specific_humidity: np.ndarray, pressure_Pa: np.ndarray) -> np.ndarray:
    """``q / q*(T, p)`` (over water above 273.15 K, over ice below)."""
    return specific_humidity / saturation_specific_humidity_kg_per_kg(temperature_K, pressure_Pa)


def cloud_fraction(temperature_K: np.ndarray, specific_humidity: np.ndarray, condensate: np.ndarray,
                   pressure_Pa: np.ndarray, config: CloudConfig = CloudConfig()) -> np.ndarray:
    """Xu & Randall (1996) cloud fraction from relative humidity and grid-mean condensate (kg/kg)."""
    qsat = saturation_specific_humidity_kg_per_kg(temperature_K, pressure_Pa)
    rh = np.clip(specific_humidity / qsat, 0.0, 1.0)
    deficit = np.maximum((1.0 - rh) * qsat, 1e-12)
    with np.errstate(over="ignore"):
        cover = rh**config.xu_randall_p * (1.0 - np.exp(-config.xu_randall_alpha * np.maximum(condensate, 0.0)
                                                        / deficit**config.xu_randall_gamma))  # fmt: skip
    cover = np.where(condensate > 0.0, cover, 0.0)
    return np.where(cover >= config.minimum_cloud_fraction, np.clip(cover, 0.0, 1.0), 0.0)


def detrain_convective_condensate(temperature_K, specific_humidity, condensate, convective_moistening,
                                  config: CloudConfig = CloudConfig()):  # fmt: skip
    """Keep ``detrained_condensate_fraction`` of a convection scheme's moistening (kg/kg, > 0 parts) as condensate.

    The convection scheme evaporated that condensate into the environment; giving back its latent
    heat keeps ``c_p T + L_v q`` and total water unchanged. Returns new ``(T, q, q_c)``.
    """
    kept = config.detrained_condensate_fraction * np.maximum(convective_moistening, 0.0)
    kept = np.minimum(kept, np.maximum(specific_humidity, 0.0))
    return temperature_K + _LV / _CP * kept, specific_humidity - kept, condensate + kept


def large_scale_condensation(temperature_K, specific_humidity, condensate, pressure_Pa, pressure_interface_Pa,
                             dt_s: float, config: CloudConfig = CloudConfig()):  # fmt: skip
    """One step of the cloud processes (module docstring) on ``(column, level)`` arrays, surface first.

    Returns ``(T, q, q_c, precipitation)``: the new state and the precipitation reaching the
    surface (kg m⁻² s⁻¹ = mm/s, per column).
    """
    T = np.array(temperature_K, dtype=float)
    q = np.array(specific_humidity, dtype=float)
    qc = np.maximum(np.array(condensate, dtype=float), 0.0)
    p = np.asarray(pressure_Pa, dtype=float)
    mass = (pressure_interface_Pa[:, :-1] - pressure_interface_Pa[:, 1:]) / _G  # kg m-2 per layer

    # 1. condensation of supersaturation; 2. cloud evaporation where subsaturated
    excess = saturation_excess(T, q, p)
    rh = relative_humidity(T, q, p)
    evaporating = qc * (1.0 - np.exp(-dt_s * np.clip(1.0 - rh, 0.0, 1.0) / config.evaporation_timescale_s))
    change = np.where(excess > 0.0, excess, -np.minimum(evaporating, -excess))
    T, q, qc = T + _LV / _CP * change, q - change, qc + change

    # 3. autoconversion (implicit in q_c over the step)
    cover = cloud_fraction(T, q, qc, p, config)
    in_cloud = qc / np.maximum(cover, config.minimum_cloud_fraction)
    liquid = liquid_fraction(T)
    threshold = liquid * config.autoconversion_threshold_kg_per_kg + (1.0 - liquid) * config.ice_autoconversion_threshold_kg_per_kg
    rate = liquid * config.autoconversion_rate_per_s + (1.0 - liquid) * config.ice_removal_rate_per_s
    rate = rate * (1.0 - np.exp(-((in_cloud / threshold) ** 2)))
    converted = qc * (1.0 - np.exp(-rate * dt_s))
    qc = qc - converted
    produced = converted * mass / dt_s  # kg m-2 s-1 per layer

    # 4. precipitation falls from the top layer down, evaporating in subsaturated layers
    # (a layer's deficit depends on its own T and q only, which no layer above changes: computed at once)
    deficit = np.maximum(-saturation_excess(T, q, p), 0.0)
    dryness = 1.0 - np.clip(relative_humidity(T, q, p), 0.0, 1.0)
    flux = np.zeros(T.shape[0])
    for k in range(T.shape[1] - 1, -1, -1):
        wanted = config.rain_evaporation_coefficient * dryness[:, k] * np.sqrt(flux) * dt_s  # kg/kg
        evaporated = np.minimum(np.minimum(wanted, deficit[:, k]), flux * dt_s / mass[:, k])
        T[:, k] -= _LV / _CP * evaporated
        q[:, k] += evaporated
        flux = np.maximum(flux - evaporated * mass[:, k] / dt_s, 0.0) + produced[:, k]
    return T, q, qc, flux


def cloud_radiative_properties(temperature_K, condensate, cover, pressure_interface_Pa,
                               config: CloudConfig = CloudConfig()) -> dict[str, np.ndarray]:  # fmt: skip
    """RRTMG's cloud inputs: in-cloud liquid and ice water paths (g m⁻²) and effective radii (µm).

    The in-cloud path is ``q_c / C × Δp / g``; liquid fraction ramps from 0 at 253.15 K to 1 at
    273.15 K; ice radius from ``ice_radius_cold_um`` (203 K) to ``ice_radius_warm_um`` (253 K).
    """
    mass = (pressure_interface_Pa[:, :-1] - pressure_interface_Pa[:, 1:]) / _G
    path_g_m2 = np.where(cover > 0.0, condensate / np.maximum(cover, config.minimum_cloud_fraction), 0.0) * mass * 1e3
    liquid = liquid_fraction(temperature_K)
    warmth = np.clip((temperature_K - (MELTING_POINT_K - 70.0)) / 50.0, 0.0, 1.0)
    return {
        "cloud_fraction": cover,
        "cloud_liquid_water_path": path_g_m2 * liquid,
        "cloud_ice_water_path": path_g_m2 * (1.0 - liquid),
        "cloud_droplet_radius": np.full_like(temperature_K, config.droplet_radius_um),
        "cloud_ice_radius": config.ice_radius_cold_um + warmth * (config.ice_radius_warm_um - config.ice_radius_cold_um),
    }
