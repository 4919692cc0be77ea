"""RRTMG through climt: physics identities, the pitfalls of docs/REFERENCE.md section 3, and input validation."""

from __future__ import annotations

import numpy as np
import pytest
import sympl
import xarray as xr
from conftest import make_columns

from subgrid.core.errors import InputError
from subgrid.physics import rrtmg
from subgrid.physics.constants import RRTMG as RRTMG_CONSTANTS
from subgrid.physics.rrtmg import (
    SECONDS_PER_DAY,
    RRTMGConfig,
    radiative_transfer,
    radiative_transfer_arrays,
)
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS


def _flux_divergence_heating(fluxes: xr.Dataset, columns: xr.Dataset, band: str, sky: str) -> np.ndarray:
    """(g/cp) ΔF_net/Δp in K/day, with F_net = up − down and Δ taken upward across each layer."""
    net = (fluxes[f"{band}_flux_up{sky}"] - fluxes[f"{band}_flux_down{sky}"]).values
    dp = np.diff(columns["air_pressure_on_interface"].values, axis=1)
    g, cp = RRTMG_CONSTANTS.gravity_m_per_s2, RRTMG_CONSTANTS.cp_dry_air_J_per_kg_K
    return g / cp * np.diff(net, axis=1) / dp * SECONDS_PER_DAY


def test_constants_are_the_ones_rrtmg_uses():
    assert RRTMG_CONSTANTS.gravity_m_per_s2 == sympl.get_constant("gravitational_acceleration", "m/s^2")
    assert RRTMG_CONSTANTS.cp_dry_air_J_per_kg_K == sympl.get_constant(
        "heat_capacity_of_dry_air_at_constant_pressure", "J/kg/K"
    )


@pytest.mark.parametrize("band", ["lw", "sw"])
@pytest.mark.parametrize("sky", ["", "_clear"])
def test_heating_rate_equals_flux_divergence(band, sky):
    columns = make_columns(cloud_fraction=0.6, ice_water_path_g_m2=15.0, cloud_pressure_Pa=30000.0)
    fluxes = radiative_transfer(columns, seed=3)
    expected = _flux_divergence_heating(fluxes, columns, band, sky)
    assert np.abs(expected).max() > 0.5  # a real profile, not zeros
    np.testing.assert_allclose(fluxes[f"{band}_heating_rate{sky}"].values, expected, rtol=1e-10, atol=1e-10)


def test_shortwave_is_exactly_zero_at_night_and_positive_by_day():
    cos_zenith = np.array([-0.8, 0.0, 0.3, 0.9])
    fluxes = radiative_transfer(make_columns(cos_zenith=cos_zenith))
    sw = [name for name in RADIATION_OUTPUTS if name.startswith("sw_")]
    for name in sw:
        assert (fluxes[name].isel(column=[0, 1]).values == 0.0).all(), name
    assert (fluxes["sw_flux_down"].isel(column=[2, 3], interface=-1) > 100.0).all()
    assert (fluxes["lw_flux_up"].isel(interface=-1) > 150.0).all()  # LW is computed day and night


def test_toa_shortwave_down_is_solar_constant_times_cos_zenith_times_distance_factor():
    cos_zenith = np.array([0.1, 0.45, 0.8, 1.0])
    factor = np.array([0.967, 1.0, 1.02, 1.034])
    config = RRTMGConfig(solar_constant_W_per_m2=1361.0)
    fluxes = radiative_transfer(make_columns(cos_zenith=cos_zenith, distance_factor=factor), config)
    expected = 1361.0 * cos_zenith * factor
    np.testing.assert_allclose(fluxes["sw_flux_down"].isel(interface=-1).values, expected, rtol=1e-5)
    np.testing.assert_allclose(fluxes["sw_flux_down_clear"].isel(interface=-1).values, expected, rtol=1e-5)


def test_per_column_distance_factor_matches_fortran_scalar_adjustment():
    """SW is linear in the incident flux: scaling afterwards equals RRTMG's own scalar factor."""
    columns = make_columns(n_columns=3, distance_factor=1.031, cos_zenith=np.array([0.2, 0.6, 0.95]))
    ours = radiative_transfer(columns, seed=5)

    arrays = {name: columns[name].values for name in RADIATION_INPUTS}
    config = RRTMGConfig()
    _, shortwave = rrtmg._components(config)
    state = rrtmg._shortwave_state(rrtmg._common_state(arrays, config), arrays)
    state["flux_adjustment_for_earth_sun_distance"] = np.array(1.031)
    _, diagnostics = shortwave.array_call(state)
    for ours_name, theirs in [
        ("sw_flux_down", "downwelling_shortwave_flux_in_air"),
        ("sw_flux_up", "upwelling_shortwave_flux_in_air"),
        ("sw_heating_rate", "air_temperature_tendency_from_shortwave"),
    ]:
        np.testing.assert_allclose(ours[ours_name].values, diagnostics[theirs].T, rtol=1e-10, atol=1e-10)


def test_high_cold_cloud_lowers_olr_below_clear_sky():
    columns = make_columns(cloud_fraction=1.0, ice_water_path_g_m2=50.0, cloud_pressure_Pa=20000.0)
    fluxes = radiative_transfer(columns)
    olr = fluxes["lw_flux_up"].isel(interface=-1).values
    olr_clear = fluxes["lw_flux_up_clear"].isel(interface=-1).values
    assert (olr_clear - olr > 40.0).all(), (olr, olr_clear)


def test_clear_sky_equals_all_sky_without_clouds(columns):
    fluxes = radiative_transfer(columns)
    for band in ("lw", "sw"):
        np.testing.assert_allclose(fluxes[f"{band}_flux_up"], fluxes[f"{band}_flux_up_clear"], rtol=1e-12)
        np.testing.assert_allclose(fluxes[f"{band}_heating_rate"], fluxes[f"{band}_heating_rate_clear"], atol=1e-12)


def test_mcica_is_reproducible_per_seed_and_random_across_seeds():
    columns = make_columns(n_columns=6, cloud_fraction=0.5, liquid_water_path_g_m2=80.0, cloud_pressure_Pa=80000.0)
    first = radiative_transfer(columns, seed=11)
    again = radiative_transfer(columns, seed=11)
    other = radiative_transfer(columns, seed=12)
    xr.testing.assert_identical(first, again.assign_attrs(rrtmg_seed=11))
    assert float(np.abs(first["sw_flux_up"] - other["sw_flux_up"]).max()) > 1.0


def test_mcica_seeding_leaves_numpy_global_random_state_alone():
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    radiative_transfer(make_columns(cloud_fraction=0.5, ice_water_path_g_m2=10.0), seed=99)
    np.testing.assert_array_equal(np.random.random(3), expected)


def test_climt_mcica_work_arrays_do_not_pile_up_across_column_counts():
    """climt caches McICA arrays per column count; a generation sees a new day count every chunk."""
    from subgrid.physics.rrtmg import _components

    for n_columns in (2, 3, 4, 5):
        radiative_transfer(make_columns(n_columns=n_columns, cloud_fraction=0.5, ice_water_path_g_m2=10.0), seed=1)
    for component in _components(RRTMGConfig()):
        assert len(component._mcica_cache) == 1


def test_partial_cloud_without_mcica_is_refused_before_fortran_can_abort():
    columns = make_columns(cloud_fraction=0.4, liquid_water_path_g_m2=50.0, cloud_pressure_Pa=85000.0)
    with pytest.raises(InputError, match=r"cloud_fraction: partial cloud .* column 0"):
        radiative_transfer(columns, RRTMGConfig(mcica=False))


def test_switching_configurations_rebuilds_the_shared_fortran_state():
    """All climt instances share Fortran module state: results must follow the active config."""
    cloudy = make_columns(cloud_fraction=1.0, liquid_water_path_g_m2=100.0, cloud_pressure_Pa=85000.0)
    with_mcica = radiative_transfer(cloudy, RRTMGConfig(mcica=True), seed=1)
    overcast_random = radiative_transfer(cloudy, RRTMGConfig(mcica=False, cloud_overlap="random"), seed=1)
    back = radiative_transfer(cloudy, RRTMGConfig(mcica=True), seed=1)
    xr.testing.assert_identical(with_mcica, back)
    # Overcast single layer: McICA's subcolumns are all cloudy, so both paths agree closely.
    np.testing.assert_allclose(with_mcica["sw_flux_up"], overcast_random["sw_flux_up"], rtol=0.02)


def test_top_first_input_gives_top_first_output_with_the_same_values(columns):
    surface_first = radiative_transfer(columns)
    flipped = columns.isel(level=slice(None, None, -1), interface=slice(None, None, -1))
    flipped.attrs["vertical_order"] = "top_first"
    top_first = radiative_transfer(flipped)
    assert top_first.attrs["vertical_order"] == "top_first"
    np.testing.assert_allclose(top_first["lw_flux_up"].values[:, 0], surface_first["lw_flux_up"].values[:, -1])
    np.testing.assert_allclose(
        top_first["lw_heating_rate"].values[:, ::-1], surface_first["lw_heating_rate"].values, rtol=1e-12
    )


def test_array_interface_matches_dataset_interface(columns):
    arrays = {name: columns[name].values for name in RADIATION_INPUTS}
    direct = radiative_transfer_arrays(arrays, seed=4)
    wrapped = radiative_transfer(columns, seed=4)
    for name in RADIATION_OUTPUTS:
        np.testing.assert_array_equal(direct[name], wrapped[name].values)
        assert wrapped[name].attrs["units"] == RADIATION_OUTPUTS[name].units


# ----------------------------------------------------------------------------------------------
# Input validation: one clear error naming variable, problem and column; Fortran never reached


def _with(columns: xr.Dataset, name: str, column: int, level: int | None, value: float) -> xr.Dataset:
    bad = columns.copy(deep=True)
    if level is None:
        bad[name].values[column] = value
    else:
        bad[name].values[column, level] = value
    return bad


@pytest.mark.parametrize(
    ("name", "level", "value", "message"),
    [
        ("air_temperature", 5, np.nan, r"air_temperature: 1 non-finite value\(s\) \(NaN\), first at column 2, level 5"),
        ("specific_humidity", 3, np.inf, r"specific_humidity: .*Inf.*column 2, level 3"),
        ("air_temperature", 7, 455.0, r"air_temperature: .*outside \[100, 400\] K, first at column 2, level 7"),
        ("surface_temperature", None, 50.0, r"surface_temperature: .*column 2"),
        ("specific_humidity", 1, -1e-4, r"specific_humidity: .*outside \[0, inf\].*column 2, level 1"),
        ("cloud_ice_water_path", 4, -3.0, r"cloud_ice_water_path: .*column 2, level 4"),
        ("cloud_fraction", 4, 1.5, r"cloud_fraction: .*outside \[0, 1\].*column 2, level 4"),
        ("cos_solar_zenith_angle", None, 1.2, r"cos_solar_zenith_angle: .*column 2"),
    ],
)
def test_bad_values_are_rejected_naming_variable_and_column(columns, name, level, value, message):
    with pytest.raises(InputError, match=message):
        radiative_transfer(_with(columns, name, 2, level, value))


def test_non_monotonic_pressure_is_rejected(columns):
    bad = columns.copy(deep=True)
    p = bad["air_pressure_on_interface"].values
    p[1, 10], p[1, 11] = p[1, 11], p[1, 10]
    with pytest.raises(InputError, match=r"air_pressure_on_interface: not strictly decreasing .*column 1, interface 10"):
        radiative_transfer(bad)


def test_wrong_dims_missing_variables_and_interface_count_are_rejected(columns):
    with pytest.raises(InputError, match=r"air_temperature: dims \('level', 'column'\) but expected \('column', 'level'\)"):
        radiative_transfer(columns.assign(air_temperature=columns["air_temperature"].T))
    with pytest.raises(InputError, match="missing variable.*ozone_mole_fraction"):
        radiative_transfer(columns.drop_vars("ozone_mole_fraction"))
    with pytest.raises(InputError, match="interfaces for"):
        radiative_transfer(columns.isel(interface=slice(0, -1)))


def test_particle_sizes_outside_rrtmg_bounds_are_rejected_where_cloud_is_present():
    columns = make_columns(cloud_fraction=1.0, ice_water_path_g_m2=10.0, cloud_pressure_Pa=25000.0)
    level = int(np.argmax(columns["cloud_fraction"].values[0]))
    bad = _with(columns, "cloud_ice_radius", 1, level, 200.0)
    with pytest.raises(InputError, match=rf"cloud_ice_radius: .*outside \[13, 130\] um, first at column 1, level {level}"):
        radiative_transfer(bad)
    # The same size in a cloud-free layer is irrelevant to RRTMG and accepted.
    radiative_transfer(_with(columns, "cloud_ice_radius", 1, 0, 200.0))


def test_config_rejects_unknown_options():
    with pytest.raises(ValueError, match="cloud_overlap"):
        RRTMGConfig(cloud_overlap="diagonal")
    with pytest.raises(ValueError, match="solar_constant_W_per_m2"):
        RRTMGConfig(solar_constant_W_per_m2=13.67)


def test_batched_array_call_equals_climt_sympl_call():
    """docs/REFERENCE.md: array_call with our unit conversions equals climt's unit-checked __call__."""
    columns = make_columns(n_columns=3, cloud_fraction=0.5, ice_water_path_g_m2=20.0, cos_zenith=np.array([0.2, 0.5, 0.9]))
    arrays = {name: columns[name].values for name in RADIATION_INPUTS}
    config = RRTMGConfig()
    ours = radiative_transfer_arrays(arrays, config, seed=21)
    state = rrtmg.sympl_state(arrays, config)
    longwave, shortwave = rrtmg._components(config)
    with rrtmg._seeded_global_numpy(21):
        _, lw = longwave(state)
        _, sw = shortwave(state)
    for ours_name, diagnostics, theirs in [
        ("lw_flux_up", lw, "upwelling_longwave_flux_in_air"),
        ("lw_flux_down_clear", lw, "downwelling_longwave_flux_in_air_assuming_clear_sky"),
        ("lw_heating_rate", lw, "air_temperature_tendency_from_longwave"),
        ("sw_flux_up", sw, "upwelling_shortwave_flux_in_air"),
        ("sw_heating_rate", sw, "air_temperature_tendency_from_shortwave"),
    ]:
        np.testing.assert_allclose(ours[ours_name], diagnostics[theirs].values[:, 0, :].T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("profile", "low", "high"),
    # Clear-sky OLR of the AFGL standard atmospheres from line-by-line and RRTM studies
    # (Mlawer et al. 1997; CIRC/ICRCCM): tropical ~ 290, midlatitude summer ~ 280, subarctic winter ~ 200 W m-2.
    [("tropical", 280.0, 305.0), ("midlatitude_summer", 268.0, 292.0), ("subarctic_winter", 188.0, 215.0)],
)
def test_olr_of_standard_profiles_is_in_the_expected_range(profile, low, high):
    from subgrid.radiation.columns import standard_column

    fluxes = radiative_transfer(standard_column(profile))
    olr = float(fluxes["lw_flux_up"].isel(column=0, interface=-1))
    assert low < olr < high, olr
