"""The 3-D host's column physics on hand-built columns: water and enthalpy budgets, cloud behaviour, hole filling."""

from __future__ import annotations

import numpy as np
import pytest

from subgrid.physics import clouds
from subgrid.physics.constants import LATENT_HEAT_VAPORIZATION_J_PER_KG, RRTMG
from subgrid.physics.thermodynamics import saturation_specific_humidity_kg_per_kg
from subgrid.physics.water import column_water_kg_per_m2, fill_negative_humidity, layer_mass_kg_per_m2

CP, LV = RRTMG.cp_dry_air_J_per_kg_K, LATENT_HEAT_VAPORIZATION_J_PER_KG


def _columns(n=64, levels=20, seed=0):
    rng = np.random.default_rng(seed)
    sigma_i = np.linspace(1.0, 0.0, levels + 1)
    ps = rng.uniform(9.6e4, 1.03e5, n)
    pi = np.maximum(sigma_i[None] * ps[:, None], 0.0)
    pi[:, -1] = 100.0
    p = 0.5 * (pi[:, :-1] + pi[:, 1:])
    t = np.maximum(rng.uniform(285, 305, n)[:, None] * (p / ps[:, None]) ** 0.19, 200.0)
    rh = rng.uniform(0.3, 1.15, (n, levels))  # some supersaturated boxes
    q = rh * saturation_specific_humidity_kg_per_kg(t, p)
    qc = rng.uniform(0.0, 3e-4, (n, levels)) * (rng.random((n, levels)) < 0.5)
    return t, q, qc, p, pi


def test_large_scale_condensation_closes_water_and_moist_enthalpy_per_column():
    t, q, qc, p, pi = _columns()
    dt = 1200.0
    t1, q1, qc1, precipitation = clouds.large_scale_condensation(t, q, qc, p, pi, dt)
    mass = layer_mass_kg_per_m2(pi)
    water_change = np.sum((q1 + qc1 - q - qc) * mass, axis=1)
    np.testing.assert_allclose(water_change, -precipitation * dt, rtol=0, atol=1e-9 * np.sum(q * mass, axis=1).max())
    # moist enthalpy c_p T + L_v q is unchanged: condensing heats by L_v per kg, and what falls out was condensate
    enthalpy_change = np.sum((CP * (t1 - t) + LV * (q1 - q)) * mass, axis=1)
    heat_moved = np.sum(CP * np.abs(t1 - t) * mass, axis=1)
    assert heat_moved.max() > 1e4  # the test moves real heat: J m-2
    np.testing.assert_allclose(enthalpy_change, 0.0, atol=1e-9 * heat_moved.max())
    assert (q1 >= 0).all() and (qc1 >= 0).all() and (precipitation >= 0).all()
    # supersaturation is gone (to the Newton steps' accuracy)
    assert (q1 <= 1.001 * saturation_specific_humidity_kg_per_kg(t1, p)).all()
    assert precipitation.max() > 0.0


def test_cloud_fraction_needs_condensate_not_just_humidity():
    t, q, qc, p, _ = _columns(seed=1)
    saturated = saturation_specific_humidity_kg_per_kg(t, p)
    none = clouds.cloud_fraction(t, 0.99 * saturated, np.zeros_like(q), p)
    assert (none == 0).all()  # humid but no condensate: clear
    overcast = clouds.cloud_fraction(t, saturated, np.full_like(q, 1e-4), p)
    np.testing.assert_allclose(overcast, 1.0)  # saturated with condensate: overcast
    some = clouds.cloud_fraction(t, 0.8 * saturated, np.full_like(q, 1e-5), p)
    more = clouds.cloud_fraction(t, 0.8 * saturated, np.full_like(q, 1e-4), p)
    assert ((some > 0) & (some < 1)).any() and (more >= some).all() and (more > some).any()


def test_detrainment_keeps_total_water_and_moist_enthalpy():
    t, q, qc, *_ = _columns(seed=2)
    moistening = np.random.default_rng(3).normal(0, 1e-4, q.shape)
    t1, q1, qc1 = clouds.detrain_convective_condensate(t, q, qc, moistening)
    np.testing.assert_allclose(q1 + qc1, q + qc, rtol=1e-14)
    np.testing.assert_allclose(CP * t1 + LV * q1, CP * t + LV * q, rtol=1e-14)
    assert (qc1 >= qc).all() and (qc1 > qc).any()


def test_negative_humidity_is_filled_conserving_the_area_weighted_total():
    t, q, qc, p, pi = _columns(seed=4)
    rng = np.random.default_rng(5)
    q = q - rng.uniform(0, 2e-4, q.shape) * (rng.random(q.shape) < 0.2)  # holes
    q[0] = -1e-6  # a column with a negative total: its deficit comes from the others
    weights = rng.uniform(0.5, 1.5, q.shape[0])
    filled, moved = fill_negative_humidity(q, pi, weights)
    assert (filled >= 0).all() and moved > 0
    total = weights @ column_water_kg_per_m2(q, pi)
    np.testing.assert_allclose(weights @ column_water_kg_per_m2(filled, pi), total, rtol=1e-13)
    untouched, none = fill_negative_humidity(np.abs(q), pi, weights)
    np.testing.assert_array_equal(untouched, np.abs(q))
    assert none == 0.0


def test_implicit_surface_exchange_fluxes_close_the_lowest_layers_budgets():
    from subgrid.physics.surface import implicit_bulk_exchange

    t, q, _, p, pi = _columns(seed=6)
    sst = t[:, 0] + 3.0
    dp = pi[:, 0] - pi[:, 1]
    u = np.full(t.shape[0], 8.0)
    t1, q1, u1, v1, sensible, latent = implicit_bulk_exchange(sst, pi[:, 0], t[:, 0], q[:, 0], u, 0 * u, p[:, 0], dp, 1200.0)
    mass = dp / RRTMG.gravity_m_per_s2
    np.testing.assert_allclose(sensible * 1200.0, CP * (t1 - t[:, 0]) * mass, rtol=1e-12)
    np.testing.assert_allclose(latent * 1200.0, LV * (q1 - q[:, 0]) * mass, rtol=1e-12)
    assert (sensible > 0).all() and (u1 < u).all() and (u1 > 0).all()
    # a very long step relaxes to the surface, it does not overshoot
    t_long, q_long, *_ = implicit_bulk_exchange(sst, pi[:, 0], t[:, 0], q[:, 0], u, 0 * u, p[:, 0], dp, 1e9)
    assert (q_long <= saturation_specific_humidity_kg_per_kg(sst, pi[:, 0]) * (1 + 1e-9)).all()


@pytest.mark.slow
def test_climt_column_schemes_keep_water_and_answer_purely():
    from subgrid.core.contract import Parameterization
    from subgrid.physics.climt_columns import EmanuelConvection, FriersonBoundaryLayer

    t, q, _, p, pi = _columns(n=32, seed=7)
    q = np.minimum(q, 0.95 * saturation_specific_humidity_kg_per_kg(t, p))
    state = {"air_temperature": t, "specific_humidity": q, "eastward_wind": np.full_like(t, 5.0),
             "northward_wind": np.zeros_like(t), "air_pressure": p, "air_pressure_on_interface": pi,
             "cloud_base_mass_flux": np.zeros(t.shape[0]), "surface_temperature": t[:, 0] + 2.0}  # fmt: skip
    copy = {k: v.copy() for k, v in state.items()}
    for scheme in (EmanuelConvection(1200.0), FriersonBoundaryLayer(1200.0)):
        assert isinstance(scheme, Parameterization)
        first, second = scheme.tendencies(state), scheme.tendencies(state)
        for name in first:
            np.testing.assert_array_equal(first[name], second[name], err_msg=name)  # deterministic
        for name in state:
            np.testing.assert_array_equal(state[name], copy[name], err_msg=name)  # state untouched
    convective = EmanuelConvection(1200.0).tendencies(state)
    mass = layer_mass_kg_per_m2(pi)
    np.testing.assert_allclose(-np.sum(convective["specific_humidity_tendency"] * mass, axis=1),
                               convective["convective_precipitation_flux"], rtol=1e-12)  # fmt: skip
    mixed = FriersonBoundaryLayer(1200.0).tendencies(state)
    np.testing.assert_allclose(np.sum(mixed["specific_humidity_tendency"] * mass, axis=1), 0.0, atol=1e-12)


def test_jet_peak_sits_between_grid_latitudes_and_the_sanity_table_flags_what_is_out_of_range():
    from subgrid.hosts.gcm.climate import jet_peak, sanity_table

    lat = np.array([13.9, 19.4, 24.9, 30.5, 36.0, 41.5])
    wind = 40.0 - 0.1 * (lat - 27.0) ** 2  # true peak 40 m/s at 27°N
    speed, where = jet_peak(lat, wind)
    assert where == pytest.approx(27.0, abs=1e-9) and speed == pytest.approx(40.0, abs=1e-9)
    assert jet_peak(lat, lat)[1] == lat[-1]  # a maximum on the edge stays there
    table, good = sanity_table({"olr": 240.0, "cloud_cover": 0.8, "precipitation": 3.0, "asr": 250.0})
    assert not good and "cloud_cover" in table and "NO" in table.splitlines()[2]
    assert sanity_table({"olr": 240.0, "precipitation": 3.0})[1]


def test_pressure_level_interpolation_and_heights_are_hydrostatic():
    from subgrid.hosts.gcm.output import geopotential_height_m, on_pressure_level
    from subgrid.physics.constants import DRY_AIR_GAS_CONSTANT_J_PER_KG_K

    t, _, _, p, pi = _columns(n=8, seed=8)
    isothermal = np.full_like(t, 250.0)
    z = geopotential_height_m(isothermal, np.zeros_like(t), p, pi)
    scale_height = DRY_AIR_GAS_CONSTANT_J_PER_KG_K * 250.0 / RRTMG.gravity_m_per_s2
    np.testing.assert_allclose(z, scale_height * np.log(pi[:, :1] / p), rtol=1e-12)
    z500 = on_pressure_level(z, p, 5.0e4)
    np.testing.assert_allclose(z500, scale_height * np.log(pi[:, 0] / 5.0e4), rtol=1e-10)  # z is linear in log p here
