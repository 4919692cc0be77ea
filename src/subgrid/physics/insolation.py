"""Solar geometry: cosine of the solar zenith angle and Earth-Sun distance factor (Spencer 1971).

Reference: Spencer, J. W. (1971), Fourier series representation of the position of the Sun,
Search 2(5), 172.
"""

from __future__ import annotations

import numpy as np

from subgrid.physics.constants import SECONDS_PER_HOUR

#: Days of the year in Spencer's day angle.
DAYS_PER_YEAR = 365.0


def solar_geometry(latitude_deg: np.ndarray, day_of_year: np.ndarray, local_solar_time_h: np.ndarray):
    """Cosine of the solar zenith angle and (mean / actual Earth-Sun distance)^2, Spencer (1971)."""
    day_angle = 2.0 * np.pi * (day_of_year - 1.0) / DAYS_PER_YEAR
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


def solar_geometry_after(
    latitude_deg: np.ndarray, day_of_year: np.ndarray, local_solar_time_h: np.ndarray, elapsed_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solar_geometry` ``elapsed_s`` after the initial time (diurnal and seasonal cycles advance)."""
    hours = local_solar_time_h + elapsed_s / SECONDS_PER_HOUR
    days = day_of_year + np.floor(hours / 24.0)
    return solar_geometry(latitude_deg, (days - 1.0) % DAYS_PER_YEAR + 1.0, hours % 24.0)
