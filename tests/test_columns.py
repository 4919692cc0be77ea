"""The column sampler: reproducibility, the schema contract, physical bounds, coverage of regimes,
and the AFGL standard columns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from subgrid.core import validation
from subgrid.physics.constants import EPSILON
from subgrid.physics.thermodynamics import saturation_vapor_pressure_Pa
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns, standard_column
from subgrid.physics.rrtmg import validate_radiation_inputs
from subgrid.physics.schema import (
    CLOUD_REGIMES,
    COLUMN_DESCRIPTORS,
    RADIATION_INPUTS,
    SURFACE_TYPES,
    VERTICAL_ORDER,
)

N_LARGE = 20_000


@pytest.fixture(scope="module")
def large() -> xr.Dataset:
    return sample_columns(N_LARGE, 2024)


def _relative_humidity(ds: xr.Dataset) -> np.ndarray:
    q = ds["specific_humidity"].values
    vapour_pressure = q * ds["air_pressure"].values / (EPSILON + (1.0 - EPSILON) * q)
    return vapour_pressure / saturation_vapor_pressure_Pa(ds["air_temperature"].values)


def _fraction(mask: np.ndarray) -> float:
    return float(np.mean(mask))


# --------------------------------------------------------------------------------------------
# Reproducibility


def test_same_seed_gives_identical_datasets():
    xr.testing.assert_identical(sample_columns(300, 11), sample_columns(300, 11))
    # An integer seed is the same as a fresh Generator seeded with it.
    xr.testing.assert_identical(sample_columns(300, 11), sample_columns(300, np.random.default_rng(11)))


def test_different_seeds_differ():
    a, b = sample_columns(300, 1), sample_columns(300, 2)
    for name in ("air_temperature", "specific_humidity", "latitude", "co2_mole_fraction"):
        assert not np.array_equal(a[name].values, b[name].values), name


def test_a_generator_is_advanced_so_consecutive_calls_differ():
    rng = np.random.default_rng(5)
    assert not np.array_equal(sample_columns(50, rng)["latitude"], sample_columns(50, rng)["latitude"])


# --------------------------------------------------------------------------------------------
# Schema contract


def test_variables_dims_units_and_dtypes_follow_the_schema():
    ds = sample_columns(40, 3)
    expected = {**RADIATION_INPUTS, **COLUMN_DESCRIPTORS}
    assert set(ds.data_vars) == set(expected)
    assert "column" not in ds.coords
    assert ds.sizes == {"column": 40, "level": 60, "interface": 61}
    for name, variable in expected.items():
        assert ds[name].dims == variable.dims, name
        assert ds[name].attrs["units"] == variable.units, name
        assert ds[name].attrs["long_name"] == variable.long_name, name
        expected_dtype = np.int8 if name in ("surface_type", "cloud_regime") else np.float64
        assert ds[name].dtype == expected_dtype, name


@pytest.mark.parametrize(("name", "meanings"), [("surface_type", SURFACE_TYPES), ("cloud_regime", CLOUD_REGIMES)])
def test_flag_variables_carry_cf_flag_attributes(name, meanings):
    da = sample_columns(40, 3)[name]
    assert da.attrs["flag_meanings"].split() == list(meanings)
    np.testing.assert_array_equal(da.attrs["flag_values"], np.arange(len(meanings)))
    assert set(np.unique(da.values)) <= set(range(len(meanings)))


def test_dataset_attrs_record_vertical_order_and_settings():
    config = ColumnSamplerConfig(n_levels=30, clear_fraction=0.5)
    ds = sample_columns(10, 0, config)
    assert ds.attrs["vertical_order"] == VERTICAL_ORDER == "surface_first"
    settings = json.loads(ds.attrs["sampler_settings"])
    assert settings == config.to_dict()
    assert ColumnSamplerConfig(**settings) == config


def test_one_column_works():
    assert sample_columns(1, 0).sizes["column"] == 1


def test_large_sample_passes_the_rrtmg_input_checks(large):
    validate_radiation_inputs(large)


# --------------------------------------------------------------------------------------------
# Physical bounds over many columns


def test_pressure_decreases_upward_and_levels_lie_between_interfaces(large):
    validation.check_monotonic(large, "air_pressure_on_interface", "interface", decreasing=True)
    validation.check_monotonic(large, "air_pressure", "level", decreasing=True)
    p_int, p = large["air_pressure_on_interface"].values, large["air_pressure"].values
    assert np.all(p < p_int[:, :-1]) and np.all(p > p_int[:, 1:])
    np.testing.assert_array_equal(p_int[:, -1], 20.0)
    assert 58_000.0 < p_int[:, 0].min() and p_int[:, 0].max() < 105_000.0


def test_lowest_layer_is_not_thin(large):
    p_int = large["air_pressure_on_interface"].values
    thickness_hPa = (p_int[:, 0] - p_int[:, 1]) / 100.0
    assert thickness_hPa.min() >= 5.0
    assert 12.0 < np.median(thickness_hPa) < 18.0
    # Layers thin out upward in pressure: the top layer is far thinner than the lowest one.
    assert np.all(p_int[:, -2] - p_int[:, -1] < 0.1 * (p_int[:, 0] - p_int[:, 1]))


def test_temperatures_within_physical_bounds(large):
    validation.check_range(large, "air_temperature", 180.0, 335.0, units="K")
    validation.check_range(large, "surface_temperature", 200.0, 320.0, units="K")


def test_humidity_positive_and_not_supersaturated(large):
    validation.check_range(large, "specific_humidity", 1e-7, 0.05, units="kg kg-1")
    assert _relative_humidity(large).max() <= 1.05


def test_clouds_within_bounds(large):
    validation.check_range(large, "cloud_fraction", 0.0, 1.0)
    for name in ("cloud_liquid_water_path", "cloud_ice_water_path"):
        validation.check_range(large, name, 0.0, 2000.0, units="g m-2")
    validation.check_range(large, "cloud_droplet_radius", 4.0, 20.0, units="um")
    validation.check_range(large, "cloud_ice_radius", 13.0, 130.0, units="um")


def test_water_only_where_there_is_cloud_and_phase_follows_temperature(large):
    cloud = large["cloud_fraction"].values
    liquid, ice = large["cloud_liquid_water_path"].values, large["cloud_ice_water_path"].values
    temperature = large["air_temperature"].values
    assert np.all(liquid[cloud == 0] == 0) and np.all(ice[cloud == 0] == 0)
    assert np.all(liquid[cloud > 0] + ice[cloud > 0] > 0)
    assert np.all(liquid[temperature < 238.15] == 0)
    assert np.all(ice[temperature > 273.15] == 0)


def test_no_cloud_in_the_stratosphere(large):
    # Tropopause at most ~19 km (log-pressure height, ~66 hPa); clouds at most 1 km above it.
    assert np.all(large["cloud_fraction"].values[large["air_pressure"].values < 5000.0] == 0)


def test_surface_and_gas_bounds(large):
    validation.check_range(large, "co2_mole_fraction", 180e-6, 1200e-6, units="mol mol-1")
    validation.check_range(large, "surface_albedo_visible", 0.0, 1.0)
    validation.check_range(large, "surface_albedo_near_infrared", 0.0, 1.0)
    validation.check_range(large, "surface_emissivity", 0.0, 1.0, low_inclusive=False)
    validation.check_range(large, "surface_emissivity", 0.9, 0.99)
    validation.check_range(large, "earth_sun_distance_factor", 0.96, 1.04)
    validation.check_range(large, "cos_solar_zenith_angle", -1.0, 1.0)
    validation.check_range(large, "ozone_mole_fraction", 1e-8, 1.05e-5, units="mol mol-1")


# --------------------------------------------------------------------------------------------
# Coverage: the sample spans the regimes at plausible rates


def test_about_half_the_columns_are_night(large):
    night = large["cos_solar_zenith_angle"].values <= 0.0
    assert 0.4 < _fraction(night) < 0.6


def test_latitudes_are_area_weighted(large):
    latitude = np.abs(large["latitude"].values)
    assert 0.36 < _fraction(latitude < 23.44) < 0.44  # sin(23.44 deg) = 0.398
    assert 0.06 < _fraction(latitude > 66.56) < 0.11  # 1 - sin(66.56 deg) = 0.083


@pytest.mark.parametrize(
    ("surface", "low", "high"),
    [("ocean", 0.55, 0.75), ("land", 0.15, 0.35), ("sea_ice", 0.02, 0.12), ("snow_covered_land", 0.02, 0.12)],
)
def test_each_surface_type_at_a_plausible_rate(large, surface, low, high):
    assert low < _fraction(large["surface_type"].values == SURFACE_TYPES.index(surface)) < high


def test_ice_and_snow_only_where_it_is_cold(large):
    surface = large["surface_type"].values
    frozen = (surface == SURFACE_TYPES.index("sea_ice")) | (surface == SURFACE_TYPES.index("snow_covered_land"))
    assert np.all(large["surface_temperature"].values[frozen] <= 273.15)
    assert np.all(np.abs(large["latitude"].values[surface == SURFACE_TYPES.index("sea_ice")]) > 35.0)


@pytest.mark.parametrize(
    ("regime", "low", "high"),
    [
        ("clear", 0.28, 0.38),
        ("low", 0.15, 0.26),
        ("middle", 0.07, 0.16),
        ("high", 0.11, 0.20),
        ("multi_layer", 0.10, 0.20),
        ("deep_convective", 0.02, 0.08),
    ],
)
def test_each_cloud_regime_at_a_plausible_rate(large, regime, low, high):
    assert low < _fraction(large["cloud_regime"].values == CLOUD_REGIMES.index(regime)) < high


def test_cloud_regime_matches_the_clouds(large):
    regime = large["cloud_regime"].values
    cloud = large["cloud_fraction"].values
    clear = regime == CLOUD_REGIMES.index("clear")
    assert np.all(cloud[clear] == 0)
    assert np.all(cloud[~clear].max(axis=1) > 0)
    deep = regime == CLOUD_REGIMES.index("deep_convective")
    sigma = large["air_pressure"].values / large["air_pressure_on_interface"].values[:, :1]
    # Deep convection spans the troposphere: cloud near the surface and in the upper troposphere.
    assert np.all(((cloud > 0) & (sigma > 0.8))[deep].any(axis=1))
    assert np.all(((cloud > 0) & (sigma < 0.45))[deep].any(axis=1))


def test_partial_and_overcast_cloud_layers_both_occur(large):
    cloud = large["cloud_fraction"].values
    assert 0.6 < _fraction(cloud.max(axis=1) > 0) < 0.75
    assert _fraction(((cloud > 0) & (cloud < 1)).any(axis=1)) > 0.3
    assert _fraction((cloud == 1).any(axis=1)) > 0.1


def test_water_paths_have_typical_magnitudes(large):
    liquid = large["cloud_liquid_water_path"].values
    ice = large["cloud_ice_water_path"].values
    assert 1.0 < np.median(liquid[liquid > 0]) < 50.0 and np.percentile(liquid[liquid > 0], 99) < 400.0
    assert 0.1 < np.median(ice[ice > 0]) < 20.0 and np.percentile(ice[ice > 0], 99) < 200.0


def test_temperature_and_co2_extremes_are_reached(large):
    surface = large["surface_temperature"].values
    assert _fraction(surface < 240.0) > 0.005 and _fraction(surface > 300.0) > 0.05
    co2 = large["co2_mole_fraction"].values
    assert _fraction(co2 < 250e-6) > 0.03 and _fraction(co2 > 900e-6) > 0.03
    assert 0.45 < _fraction(np.abs(co2 - 420e-6) < 60e-6) < 0.7


def test_tropics_are_warm_and_moist_poles_cold_and_dry(large):
    latitude = np.abs(large["latitude"].values)
    tropics, poles = latitude < 15.0, latitude > 70.0
    surface = large["surface_temperature"].values
    assert 297.0 < np.median(surface[tropics]) < 302.0
    assert np.median(surface[poles]) < 265.0
    p_int = large["air_pressure_on_interface"].values
    water_path = (large["specific_humidity"].values * -np.diff(p_int, axis=1)).sum(axis=1) / 9.80665
    assert 35.0 < np.median(water_path[tropics]) < 60.0
    assert np.median(water_path[poles]) < 8.0


def test_tropopause_is_high_and_cold_in_the_tropics_and_low_at_the_poles(large):
    latitude = np.abs(large["latitude"].values)
    temperature = large["air_temperature"].values
    coldest = np.argmin(temperature, axis=1)
    cold_point_pressure = large["air_pressure"].values[np.arange(N_LARGE), coldest]
    tropics, poles = latitude < 15.0, latitude > 70.0
    assert 80e2 < np.median(cold_point_pressure[tropics]) < 120e2
    assert 185.0 < np.median(temperature.min(axis=1)[tropics]) < 202.0
    assert np.median(cold_point_pressure[poles]) > 200e2


def test_stratosphere_warms_to_a_stratopause_and_holds_little_water(large):
    p = large["air_pressure"].values
    temperature = large["air_temperature"].values
    near_1hPa = np.abs(np.log(p / 100.0)) < 0.3
    stratopause = np.where(near_1hPa, temperature, np.nan)
    assert np.nanmin(stratopause) > 230.0 and 255.0 < np.nanmedian(stratopause) < 290.0
    q = large["specific_humidity"].values
    ppmv = q / (EPSILON + (1 - EPSILON) * q) * 1e6
    middle_stratosphere = (p > 500.0) & (p < 2000.0)
    assert 1.9 < ppmv[middle_stratosphere].min() and ppmv[middle_stratosphere].max() < 5.1


def test_ozone_peaks_in_the_middle_stratosphere(large):
    ozone = large["ozone_mole_fraction"].values
    peak = np.argmax(ozone, axis=1)
    peak_pressure = large["air_pressure"].values[np.arange(N_LARGE), peak]
    assert np.all((peak_pressure > 300.0) & (peak_pressure < 2500.0))
    assert np.all((ozone.max(axis=1) > 5.5e-6) & (ozone.max(axis=1) <= 1e-5))
    assert np.all((ozone[:, 0] > 15e-9) & (ozone[:, 0] < 100e-9))


def test_sun_follows_the_orbit_and_the_latitude(large):
    day = large["day_of_year"].values
    factor = large["earth_sun_distance_factor"].values
    # Perihelion in early January, aphelion in early July.
    assert np.all(factor[day <= 10] > 1.03) and np.all(factor[(day >= 180) & (day <= 190)] < 0.97)
    # The sun is never higher than at noon on the solstice: zenith >= |latitude| - 23.45 degrees.
    latitude = np.abs(large["latitude"].values)
    highest = np.cos(np.deg2rad(np.maximum(latitude - 23.45, 0.0)))
    assert np.all(large["cos_solar_zenith_angle"].values <= highest + 1e-3)


# --------------------------------------------------------------------------------------------
# Saturation vapour pressure and standard columns


@pytest.mark.parametrize(
    ("temperature_K", "expected_Pa"),
    [
        (273.16, 611.66),  # triple point (IAPWS)
        (303.15, 4246.9),  # over water at 30 C (Wagner & Pruss 2002)
        (253.15, 103.26),  # over ice at -20 C (Murphy & Koop 2005)
        (193.15, 0.0548),  # over ice at -80 C (Murphy & Koop 2005)
    ],
)
def test_saturation_vapor_pressure_matches_reference_values(temperature_K, expected_Pa):
    np.testing.assert_allclose(saturation_vapor_pressure_Pa(temperature_K), expected_Pa, rtol=0.02)


def _column(name: str) -> dict[str, np.ndarray]:
    ds = standard_column(name)
    return {var: ds[var].values[0] for var in ds.data_vars}


@pytest.mark.parametrize("name", ["tropical", "midlatitude_summer", "subarctic_winter"])
def test_standard_columns_are_clear_daytime_and_follow_the_schema(name):
    ds = standard_column(name)
    assert set(ds.data_vars) == set(RADIATION_INPUTS) | set(COLUMN_DESCRIPTORS)
    assert ds.sizes == {"column": 1, "level": 60, "interface": 61}
    assert ds.attrs["vertical_order"] == "surface_first"
    assert np.all(ds["cloud_fraction"] == 0) and np.all(ds["cloud_liquid_water_path"] == 0)
    assert ds["cos_solar_zenith_angle"].item() == 0.5
    validate_radiation_inputs(ds)
    assert standard_column(name, n_levels=30).sizes["level"] == 30


def test_tropical_standard_column():
    c = _column("tropical")
    assert abs(c["surface_temperature"] - 299.7) < 0.5
    coldest = np.argmin(c["air_temperature"])
    assert 190.0 < c["air_temperature"][coldest] < 200.0
    assert 80e2 < c["air_pressure"][coldest] < 120e2
    water_path = (c["specific_humidity"] * -np.diff(c["air_pressure_on_interface"])).sum() / 9.80665
    assert 35.0 < water_path < 50.0  # AFGL tropical: 41 kg m-2


def test_midlatitude_summer_standard_column():
    c = _column("midlatitude_summer")
    assert abs(c["surface_temperature"] - 294.2) < 0.5
    assert 212.0 < c["air_temperature"].min() < 220.0
    water_path = (c["specific_humidity"] * -np.diff(c["air_pressure_on_interface"])).sum() / 9.80665
    assert 24.0 < water_path < 34.0  # AFGL midlatitude summer: 29 kg m-2


def test_subarctic_winter_standard_column_has_a_surface_inversion():
    c = _column("subarctic_winter")
    assert abs(c["surface_temperature"] - 257.2) < 0.5
    temperature, p = c["air_temperature"], c["air_pressure"]
    assert temperature[p > 85_000.0].max() > temperature[0] + 1.0  # warmer at ~1 km than at the surface
    water_path = (c["specific_humidity"] * -np.diff(c["air_pressure_on_interface"])).sum() / 9.80665
    assert 3.0 < water_path < 5.5  # AFGL subarctic winter: 4.2 kg m-2


def test_unknown_standard_column_is_rejected():
    with pytest.raises(ValueError, match="tropical"):
        standard_column("martian")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Configuration


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_levels", 1),
        ("n_levels", 30.0),
        ("top_pressure_Pa", 0.0),
        ("top_pressure_Pa", 50_000.0),
        ("bottom_layer_thickness_Pa", 50.0),
        ("bottom_layer_thickness_Pa", 40_000.0),
        ("ocean_fraction", 1.5),
        ("clear_fraction", -0.1),
        ("cloudy_regime_weights", (1.0, 1.0)),
        ("cloudy_regime_weights", (1.0, -1.0, 1.0, 1.0, 1.0)),
        ("land_elevation_max_m", 9000.0),
        ("co2_min_mol_per_mol", 2000e-6),
        ("co2_present_day_mean_mol_per_mol", 100e-6),
        ("co2_present_day_std_mol_per_mol", -1e-6),
        ("overcast_probability", float("nan")),
        ("surface_inversion_max_K", "5"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ColumnSamplerConfig(**{field: value})


def test_sample_columns_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_columns"):
        sample_columns(0, 1)
    with pytest.raises(TypeError, match="rng"):
        sample_columns(5, None)  # type: ignore[arg-type]


def test_config_settings_take_effect():
    ds = sample_columns(
        2000,
        4,
        ColumnSamplerConfig(
            n_levels=30, top_pressure_Pa=100.0, bottom_layer_thickness_Pa=2500.0, clear_fraction=1.0,
            co2_present_day_fraction=1.0, ocean_fraction=1.0,
        ),
    )
    assert ds.sizes["level"] == 30
    p_int = ds["air_pressure_on_interface"].values
    np.testing.assert_array_equal(p_int[:, -1], 100.0)
    # Over ocean the surface is near 101325 Pa, where the lowest layer has the configured thickness.
    np.testing.assert_allclose(p_int[:, 0] - p_int[:, 1], 2500.0, rtol=0.05)
    assert np.all(ds["cloud_fraction"] == 0)
    assert np.all(np.abs(ds["co2_mole_fraction"] - 420e-6) < 100e-6)
    land = {SURFACE_TYPES.index("land"), SURFACE_TYPES.index("snow_covered_land")}
    assert not land & set(np.unique(ds["surface_type"].values))


def test_wide_coverage_widens_the_upper_atmosphere_ozone_ice_and_ground(large):
    """The wide settings reach what the defaults never do, and the defaults keep their ranges (tested above)."""
    from subgrid.radiation.columns import WIDE_COVERAGE

    wide = sample_columns(2000, np.random.default_rng(0), ColumnSamplerConfig(**WIDE_COVERAGE))
    validate_radiation_inputs(wide)
    peak = wide["ozone_mole_fraction"].values.max(axis=1)
    assert peak.min() < 5e-6 and peak.max() > 1.3e-5 and peak.max() <= 1.6e-5
    q = wide["specific_humidity"].values
    ppmv = q / (EPSILON + (1 - EPSILON) * q) * 1e6
    p = wide["air_pressure"].values
    middle_stratosphere = (p > 500.0) & (p < 2000.0)
    assert ppmv[middle_stratosphere].max() > 6.0
    # land up to 6 km: surfaces below the ~595 hPa that 4 km of land allows at the lowest sea-level pressure
    highland = sample_columns(300, np.random.default_rng(1), ColumnSamplerConfig(**{**WIDE_COVERAGE, "ocean_fraction": 0.0,
                                                                                      "land_elevation_mean_m": 3000.0}))  # fmt: skip
    assert highland["air_pressure_on_interface"].values[:, 0].min() < 58000.0
    assert wide["cloud_ice_radius"].values.max() > large["cloud_ice_radius"].values.max()
    with pytest.raises(ValueError, match="ozone_peak_mol_per_mol must be a range"):
        ColumnSamplerConfig(ozone_peak_mol_per_mol=(1e-5, 6e-6))


def test_extended_coverage_reaches_the_suites_co2_and_high_ground():
    """--coverage extended: CO2 beyond the default 1200 ppmv up to 5000 ppmv, and plateaus above 3 km a few % of columns."""
    from subgrid.radiation.columns import EXTENDED_COVERAGE, WIDE_COVERAGE

    assert {k: EXTENDED_COVERAGE[k] for k in WIDE_COVERAGE} == WIDE_COVERAGE
    extended = sample_columns(3000, np.random.default_rng(3), ColumnSamplerConfig(**EXTENDED_COVERAGE))
    validate_radiation_inputs(extended)
    co2 = extended["co2_mole_fraction"].values
    co2 = co2.max(axis=1) if co2.ndim == 2 else co2
    assert co2.max() <= 5000e-6 + 1e-12 and (co2 > 2400e-6).mean() > 0.05  # the suite's co2_high draws 2400-4800 ppmv
    surface = extended["air_pressure_on_interface"].values[:, 0]
    assert 0.02 < (surface < 70000.0).mean() < 0.15  # ~3 km and higher


def test_co2_ppmv_option_samples_every_column_log_uniform_in_its_range():
    """--co2-ppmv LOW:HIGH: every column's CO2 log-uniform in the range (no present-day share), over any coverage;
    a range that is not 0 < LOW < HIGH is refused naming the option."""
    from subgrid.cli.main import _coverage
    from subgrid.core.errors import InputError
    from subgrid.radiation.columns import EXTENDED_COVERAGE

    settings = _coverage("extended", "1000:6000")
    assert settings == {**EXTENDED_COVERAGE, "co2_min_mol_per_mol": 1000e-6, "co2_max_mol_per_mol": 6000e-6,
                        "co2_present_day_fraction": 0.0}  # fmt: skip
    columns = sample_columns(4000, np.random.default_rng(5), ColumnSamplerConfig(**settings))
    co2 = columns["co2_mole_fraction"].values
    co2 = co2.max(axis=1) if co2.ndim == 2 else co2
    assert 1000e-6 - 1e-12 <= co2.min() and co2.max() <= 6000e-6 + 1e-12  # 420 ppmv (present day) is outside
    # log-uniform: the share in 2400-4800 ppmv (the suite's co2_high) is ln 2 / ln 6 = 0.39
    assert abs(((co2 > 2400e-6) & (co2 < 4800e-6)).mean() - np.log(2) / np.log(6)) < 0.03
    assert _coverage("standard") == {}
    for bad in ("6000:1000", "0:500", "x"):
        with pytest.raises(InputError, match="--co2-ppmv"):
            _coverage("standard", bad)


def test_co2_ppmv_is_refused_for_a_columns_file(tmp_path):
    from typer.testing import CliRunner

    from subgrid.cli.main import app

    result = CliRunner().invoke(app, ["generate", "radiation", "--out", str(tmp_path / "out.zarr"), "--from",
                                      str(tmp_path / "cols.nc"), "--co2-ppmv", "400:6000", "--no-progress"])  # fmt: skip
    assert result.exit_code != 0 and "--co2-ppmv: only for sampled columns" in result.output
    assert not (tmp_path / "out.zarr").exists()
