"""Water bookkeeping of the column physics: column water and a conservative negative-humidity filler.

Pure numpy on ``(column, level)`` arrays (surface first) with interface pressures in Pa; layer
masses ``Δp / g`` use RRTMG's ``g`` (:data:`subgrid.physics.constants.RRTMG`), as every other
column budget here.
"""

from __future__ import annotations

import numpy as np

from subgrid.physics.constants import RRTMG


def layer_mass_kg_per_m2(pressure_interface_Pa: np.ndarray) -> np.ndarray:
    """Mass of each layer per unit area, ``(p_k − p_k+1) / g`` (interfaces surface first)."""
    return (pressure_interface_Pa[..., :-1] - pressure_interface_Pa[..., 1:]) / RRTMG.gravity_m_per_s2


def column_water_kg_per_m2(mixing_ratio: np.ndarray, pressure_interface_Pa: np.ndarray) -> np.ndarray:
    """``Σ_k q_k Δp_k / g`` of each column (kg m⁻² = mm of water)."""
    return np.sum(mixing_ratio * layer_mass_kg_per_m2(pressure_interface_Pa), axis=-1)


def fill_negative_humidity(specific_humidity: np.ndarray, pressure_interface_Pa: np.ndarray,
                           weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:  # fmt: skip
    """Set negative humidity to zero and take the water from elsewhere, conserving the total.

    Spectral advection leaves small negative values near sharp moisture gradients. Within each
    column the deficit is taken from the column's positive values in proportion to them; a
    column whose total is negative is set to zero and its deficit taken from all other columns in
    proportion to their water (``weights``: the area weight of each column, default equal). The
    area-weighted total ``Σ w Σ q Δp/g`` is unchanged to round-off, no value is negative.

    Returns the filled humidity and the moved water as a fraction of the global total (a measure
    of how much the advection needed fixing).
    """
    q = np.asarray(specific_humidity, dtype=float)
    if not (q < 0.0).any():
        return q.copy(), 0.0
    mass = layer_mass_kg_per_m2(pressure_interface_Pa)
    w = np.ones(q.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    positive = np.maximum(q, 0.0)
    total = np.sum(q * mass, axis=1)
    held = np.sum(positive * mass, axis=1)
    scale = np.where(held > 0.0, np.maximum(total, 0.0) / np.where(held > 0.0, held, 1.0), 0.0)
    filled = positive * scale[:, None]
    deficit = np.sum(w * np.minimum(total, 0.0))  # water the negative columns still owe (<= 0)
    moved = float(np.sum(w * np.sum(np.maximum(-q, 0.0) * mass, axis=1)))
    if deficit < 0.0:
        remaining = np.sum(w * np.sum(filled * mass, axis=1))
        filled = filled * (1.0 + deficit / remaining)
    global_total = float(np.sum(w * np.sum(positive * mass, axis=1)))
    return filled, moved / max(global_total, 1e-300)
