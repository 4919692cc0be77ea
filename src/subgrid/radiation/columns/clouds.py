"""Cloud layers of the sampled columns: regimes, layer heights, fraction, liquid and ice water paths."""

from __future__ import annotations

import numpy as np

from subgrid.physics.constants import MELTING_POINT_K, RRTMG
from subgrid.radiation.columns.config import ColumnSamplerConfig
from subgrid.radiation.columns.grid import LOG_PRESSURE_SCALE_HEIGHT_KM
from subgrid.radiation.columns.parameters import REGIME_CODE, ColumnParameters

#: Below this, cloud water is all ice (homogeneous freezing of droplets, -35 C).
ALL_ICE_TEMPERATURE_K = 238.15
MAX_CONDENSATE_KG_PER_KG = 1.5e-3


def sample_clouds(
    rng: np.random.Generator,
    c: ColumnParameters,
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

    multi = regime == REGIME_CODE["multi_layer"]
    deep = regime == REGIME_CODE["deep_convective"]
    # A multi-layer column has all three of low/middle/high except the one omitted (3 = none).
    omitted = rng.integers(0, 4, n)
    low_base = u(0.86, 0.98)
    middle_base = u(0.55, 0.75)
    high_top = z_t - u(0.2, 3.0)
    tower_top = z_t + u(-1.5, 0.8)
    layers = {  # name: (active, base height km, top height km, condensate offset in log10)
        "low": (
            (regime == REGIME_CODE["low"]) | (multi & (omitted != 0)),
            sigma_height(low_base),
            sigma_height(low_base - u(0.03, 0.15)),
            0.0,
        ),
        "middle": (
            (regime == REGIME_CODE["middle"]) | (multi & (omitted != 1)),
            sigma_height(middle_base),
            sigma_height(middle_base - u(0.05, 0.2)),
            0.0,
        ),
        "high": ((regime == REGIME_CODE["high"]) | (multi & (omitted != 2)), high_top - u(0.5, 3.0), high_top, 0.0),
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

    # RRTMG's own g: the path is what RRTMG integrates back into a mixing ratio.
    path_g_per_m2 = condensate * (p_interface_Pa[:, :-1] - p_interface_Pa[:, 1:]) / RRTMG.gravity_m_per_s2 * 1000.0
    liquid_share = np.clip((temperature_K - ALL_ICE_TEMPERATURE_K) / (MELTING_POINT_K - ALL_ICE_TEMPERATURE_K), 0, 1)
    return fraction, liquid_share * path_g_per_m2, (1.0 - liquid_share) * path_g_per_m2
