"""The sampler's vertical grid: stretched in log-pressure, thin layers aloft, no thin lowest layer.

Interfaces ``p = p_s (p_top / p_s)^eta`` with ``eta = expm1(k j / N) / expm1(k)``; ``k`` is chosen
(bisection) so that the lowest layer is ``bottom_layer_thickness_Pa`` thick for a 101 325 Pa
surface (proportionally thinner over high ground). Layer centres are the geometric means of their
interfaces. Heights are log-pressure altitudes ``z = H ln(p0 / p)``, ``H = 7 km``, ``p0 = 101325 Pa``.
"""

from __future__ import annotations

import numpy as np

LOG_PRESSURE_SCALE_HEIGHT_KM = 7.0
LOG_PRESSURE_REFERENCE_PA = 101325.0


def log_pressure_height_km(pressure_Pa: np.ndarray) -> np.ndarray:
    """``z = H ln(p0 / p)`` in km."""
    return LOG_PRESSURE_SCALE_HEIGHT_KM * np.log(LOG_PRESSURE_REFERENCE_PA / pressure_Pa)


def _eta(fraction: np.ndarray | float, stretching: float) -> np.ndarray | float:
    """Fraction of ln(p_s / p_top) below the interface at ``fraction`` of the way up (0 = log-uniform)."""
    if stretching == 0.0:
        return fraction
    return np.expm1(stretching * fraction) / np.expm1(stretching)


def bottom_layer_thickness_Pa(stretching: float, n_levels: int, top_pressure_Pa: float) -> float:
    """Lowest-layer thickness for a 101 325 Pa surface; decreases as ``stretching`` grows."""
    ratio = top_pressure_Pa / LOG_PRESSURE_REFERENCE_PA
    return LOG_PRESSURE_REFERENCE_PA * (1.0 - ratio ** _eta(1.0 / n_levels, stretching))


def _grid_stretching(n_levels: int, top_pressure_Pa: float, bottom_thickness_Pa: float) -> float:
    """The stretching that gives a lowest layer ``bottom_thickness_Pa`` thick (bisection; it is monotonic)."""

    def too_thick(stretching: float) -> bool:
        return bottom_layer_thickness_Pa(stretching, n_levels, top_pressure_Pa) > bottom_thickness_Pa

    low, high = 0.0, 1.0
    while too_thick(high):
        low, high = high, 2.0 * high
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if too_thick(middle) else (low, middle)
    return 0.5 * (low + high)


def pressure_grid(
    surface_pressure_Pa: np.ndarray, n_levels: int, top_pressure_Pa: float, bottom_thickness_Pa: float
) -> tuple[np.ndarray, np.ndarray]:
    """Interface and layer-centre pressures (Pa), shape (column, interface) and (column, level).

    ``bottom_thickness_Pa`` is the lowest layer's thickness for a 101 325 Pa surface.
    """
    eta = _eta(np.arange(n_levels + 1) / n_levels, _grid_stretching(n_levels, top_pressure_Pa, bottom_thickness_Pa))
    p_s = surface_pressure_Pa[:, None]
    p_interface = p_s * (top_pressure_Pa / p_s) ** eta
    # p_s * (p_top / p_s) ** 1 may round away from p_top; the model top must be exact.
    p_interface[:, -1] = top_pressure_Pa
    # Geometric mean = mid-point in log-pressure, strictly between the two interfaces.
    return p_interface, np.sqrt(p_interface[:, :-1] * p_interface[:, 1:])


def random_grids(
    n_grids: int,
    rng: np.random.Generator,
    levels: tuple[int, int] = (24, 110),
    tops_Pa: tuple[float, float] = (8.0, 300.0),
    bottom_layers_Pa: tuple[float, float] = (500.0, 3000.0),
) -> list[dict[str, float | int]]:
    """``n_grids`` sampler grids (``n_levels``, ``top_pressure_Pa``, ``bottom_layer_thickness_Pa``) drawn at random:
    level counts uniform in ``levels`` (inclusive), top pressures (``tops_Pa``) and lowest-layer thicknesses (``bottom_layers_Pa``,
    for a 1013 hPa surface) log-uniform in their ranges. A draw whose lowest layer cannot be that thick with that many layers (the grid uniform in log-pressure
    is the least stretched) is drawn again. For training a grid-agnostic emulator on a family of grids."""
    if not (2 <= levels[0] <= levels[1] and 0 < tops_Pa[0] <= tops_Pa[1]
            and 100.0 <= bottom_layers_Pa[0] <= bottom_layers_Pa[1]):  # fmt: skip
        raise ValueError(f"random_grids: ranges must be ordered, levels >= 2 and lowest layers >= 100 Pa, got "
                         f"{levels}, {tops_Pa}, {bottom_layers_Pa}")  # fmt: skip
    grids: list[dict[str, float | int]] = []
    for _ in range(1000 * n_grids):
        if len(grids) == n_grids:
            return grids
        n = int(rng.integers(levels[0], levels[1] + 1))
        top = float(np.exp(rng.uniform(*np.log(tops_Pa))))
        bottom = float(np.exp(rng.uniform(*np.log(bottom_layers_Pa))))
        if bottom < bottom_layer_thickness_Pa(0.0, n, top):
            grids.append({"n_levels": n, "top_pressure_Pa": round(top, 2), "bottom_layer_thickness_Pa": round(bottom, 1)})
    raise ValueError("random_grids: the ranges admit almost no valid grid (lowest layers too thick for the level counts)")
