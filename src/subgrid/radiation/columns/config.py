"""Settings of the column sampler (:class:`ColumnSamplerConfig`), checked on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from subgrid.physics.schema import CLOUD_REGIMES
from subgrid.radiation.columns.grid import bottom_layer_thickness_Pa


def _most_levels(top_pressure_Pa: float, thickness_Pa: float) -> int:
    """The most layers whose least stretched grid still has a lowest layer thicker than ``thickness_Pa``."""

    def fits(n: int) -> bool:
        return bottom_layer_thickness_Pa(0.0, n, top_pressure_Pa) > thickness_Pa

    low, high = 1, 2
    while fits(high):
        low, high = high, 2 * high
    while high - low > 1:  # fits(low), not fits(high); the thickness falls as layers are added
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


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
        land_elevation_max_m: truncation of that distribution, at most 6000 m (surfaces down to ~470 hPa:
            the high plateaus, and the generalisation suite's ``high_ground`` set).
        clear_fraction: probability of the ``clear`` cloud regime.
        cloudy_regime_weights: relative weights of the other regimes, in ``CLOUD_REGIMES[1:]``
            order (low, middle, high, multi_layer, deep_convective); normalised here.
        overcast_probability: probability that a cloud layer has cloud fraction exactly 1.
        surface_inversion_max_K: largest surface temperature inversion.
        co2_min_mol_per_mol, co2_max_mol_per_mol: range of CO2 mole fractions (log-uniform part and
            clipping bounds).
        co2_present_day_fraction: share of columns with present-day CO2.
        co2_present_day_mean_mol_per_mol, co2_present_day_std_mol_per_mol: the normal
            distribution of present-day CO2 (within the range; unused when its share is 0, as with
            ``subgrid generate radiation --co2-ppmv``).
        stratopause_temperature_K, stratospheric_water_mol_per_mol, ozone_peak_mol_per_mol,
            ice_radius_factor: the (low, high) of their uniform draws (the coverage of the upper
            atmosphere and of ice particle sizes); :data:`WIDE_COVERAGE` widens them.
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
    stratopause_temperature_K: tuple[float, float] = (260.0, 285.0)
    stratospheric_water_mol_per_mol: tuple[float, float] = (2e-6, 5e-6)
    ozone_peak_mol_per_mol: tuple[float, float] = (6e-6, 1e-5)
    ice_radius_factor: tuple[float, float] = (0.7, 1.6)

    def __post_init__(self) -> None:
        def fail(name: str, requirement: str) -> None:
            raise ValueError(f"ColumnSamplerConfig.{name} must be {requirement}, got {getattr(self, name)!r}")

        for name in (f.name for f in fields(self)):  # lists as parsed from JSON or YAML
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
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
        if not 0.0 < self.land_elevation_max_m <= 6000.0:
            fail("land_elevation_max_m", "in (0, 6000] m")
        if len(self.cloudy_regime_weights) != len(CLOUD_REGIMES) - 1 or min(self.cloudy_regime_weights) < 0.0:
            fail("cloudy_regime_weights", f"{len(CLOUD_REGIMES) - 1} non-negative weights for {CLOUD_REGIMES[1:]}")
        if self.clear_fraction < 1.0 and sum(self.cloudy_regime_weights) <= 0.0:
            fail("cloudy_regime_weights", "positive somewhere when clear_fraction < 1")
        if not 0.0 <= self.surface_inversion_max_K <= 30.0:
            fail("surface_inversion_max_K", "in [0, 30] K")
        if not 0.0 < self.co2_min_mol_per_mol < self.co2_max_mol_per_mol < 0.1:
            fail("co2_min_mol_per_mol", "> 0 and below co2_max_mol_per_mol (< 0.1)")
        present_day = self.co2_present_day_fraction > 0.0
        if present_day and not self.co2_min_mol_per_mol <= self.co2_present_day_mean_mol_per_mol <= self.co2_max_mol_per_mol:
            fail("co2_present_day_mean_mol_per_mol", "within [co2_min_mol_per_mol, co2_max_mol_per_mol]")
        if self.co2_present_day_std_mol_per_mol < 0.0:
            fail("co2_present_day_std_mol_per_mol", ">= 0")
        for name, (low, high) in (("stratopause_temperature_K", (200.0, 320.0)),
                                  ("stratospheric_water_mol_per_mol", (1e-7, 3e-5)),
                                  ("ozone_peak_mol_per_mol", (1e-7, 5e-5)), ("ice_radius_factor", (0.2, 4.0))):  # fmt: skip
            value = getattr(self, name)
            if len(value) != 2 or not low <= value[0] <= value[1] <= high:
                fail(name, f"a range (low, high) within [{low:g}, {high:g}]")
        thickest = bottom_layer_thickness_Pa(0.0, self.n_levels, self.top_pressure_Pa)
        if self.bottom_layer_thickness_Pa >= 100.0 and thickest <= self.bottom_layer_thickness_Pa:
            # Too many layers: even a grid uniform in log-pressure has a thinner lowest layer.
            most = _most_levels(self.top_pressure_Pa, self.bottom_layer_thickness_Pa)
            fail("n_levels", f"at most {most} for bottom_layer_thickness_Pa={self.bottom_layer_thickness_Pa:g} and "
                             f"top_pressure_Pa={self.top_pressure_Pa:g} (more layers cannot make the lowest that thick)")  # fmt: skip
        if not 100.0 <= self.bottom_layer_thickness_Pa < thickest:
            fail(
                "bottom_layer_thickness_Pa",
                f"in [100, {thickest:.0f}) Pa for n_levels={self.n_levels} and "
                f"top_pressure_Pa={self.top_pressure_Pa:g}",
            )

    def to_dict(self) -> dict:
        """Plain JSON-serialisable settings (tuples as lists), for provenance attrs."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


#: Sampler settings that widen the upper atmosphere and the ice (issue 18's coverage gaps): warmer and colder
#: stratopauses, drier and moister stratospheres, half to 1.6x the ozone peaks, smaller and larger ice, and
#: land up to 6 km. Every other setting as the defaults. ``ColumnSamplerConfig(**WIDE_COVERAGE)``.
WIDE_COVERAGE: dict = {
    "stratopause_temperature_K": (245.0, 295.0),
    "stratospheric_water_mol_per_mol": (1.5e-6, 8e-6),
    "ozone_peak_mol_per_mol": (3e-6, 1.6e-5),
    "ice_radius_factor": (0.5, 2.2),
    "land_elevation_max_m": 6000.0,
}

#: :data:`WIDE_COVERAGE` plus what the suite's CO2 and high-ground sets showed was still missing: CO2 up to
#: 5000 ppmv (the suite's ``co2_high`` draws 2-4x the default 1200 ppmv maximum), and more land (half the
#: columns), higher on average (exponential mean 1500 m, up to 6 km), so that plateaus above 3 km are ~6 % of
#: columns instead of < 1 %. ``ColumnSamplerConfig(**EXTENDED_COVERAGE)``.
EXTENDED_COVERAGE: dict = {
    **WIDE_COVERAGE,
    "co2_max_mol_per_mol": 5000e-6,
    "ocean_fraction": 0.5,
    "land_elevation_mean_m": 1500.0,
}
