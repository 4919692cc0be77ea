"""The gridded GW flux recipe (docs/REFERENCE.md section 4) against closed forms, conservation and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.special import lpmv
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.gravity_waves.gridded.fluxes import gw_fluxes_from_fields
from subgrid.core.errors import InputError
from subgrid.physics.constants import STANDARD_GRAVITY_M_PER_S2 as GRAVITY_M_PER_S2
from subgrid.physics.gw_fluxes import (
    LatLonGrid,
    conservative_regrid,
    divergent_wind,
    gravity_wave_fluxes_Pa,
    momentum_flux_Pa,
    spectral_high_pass,
)

# Small grids: the T42 Gaussian grid of the study and an ERA5-like equiangular grid with both poles.
GRIDS = [LatLonGrid("gaussian", 64, 128), LatLonGrid("equiangular", 65, 128)]


def _mesh(grid: LatLonGrid) -> tuple[np.ndarray, np.ndarray]:
    """(latitude, longitude) in radians, shape (nlat, nlon)."""
    return np.meshgrid(np.deg2rad(grid.lat_deg), np.deg2rad(grid.lon_deg), indexing="ij")


def _gradient(grid: LatLonGrid) -> tuple[np.ndarray, np.ndarray]:
    """(1/cos(phi) d/dlambda, d/dphi) of X = sin(phi) + sum over m of cos^m(phi) sin(phi) cos(m lambda + m)
    (degrees 1 and m + 1 harmonics) on the unit sphere, in closed form."""
    phi, lam = _mesh(grid)
    east, north = np.zeros_like(phi), np.cos(phi)
    for m in (1, 3, 6):
        east += -m * np.cos(phi) ** (m - 1) * np.sin(phi) * np.sin(m * lam + m)
        north += (np.cos(phi) ** (m + 1) - m * np.cos(phi) ** (m - 1) * np.sin(phi) ** 2) * np.cos(m * lam + m)
    return east, north


@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: g.kind)
def test_divergent_wind_keeps_a_potential_flow_and_removes_a_stream_flow(grid):
    east, north = _gradient(grid)
    # Velocity potential chi: (u, v) = grad chi. Streamfunction psi: (u, v) = k x grad psi = (-dpsi/dphi, ...).
    u_div, v_div = divergent_wind(east, north, grid)
    u_rot, v_rot = divergent_wind(-north, east, grid)
    # Gauss quadrature is exact here. Clenshaw-Curtis (grids with poles) is not for the products above degree
    # nlat - 1 and the 1/cos(phi) terms of the vector transform: errors peak in the polar rows and shrink
    # ~nlat^-2.5 (1.4e-4 at 65 rows, 4e-6 at 257; measured).
    tolerance = 2e-4 if grid.kind == "equiangular" else 1e-6
    for got, want in ((u_div, east), (v_div, north), (u_rot, 0 * east), (v_rot, 0 * north)):
        np.testing.assert_allclose(got, want, atol=tolerance)


def _harmonics(grid: LatLonGrid, degrees_orders: list[tuple[int, int]]) -> np.ndarray:
    """Sum of P_l^m(sin phi) cos(m lambda) (scipy's unnormalised Legendre functions), scaled to order 1."""
    phi, lam = _mesh(grid)
    field = np.zeros_like(phi)
    for degree, order in degrees_orders:
        term = lpmv(order, degree, np.sin(phi)) * np.cos(order * lam)
        field += term / np.abs(term).max()
    return field


@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: g.kind)
def test_high_pass_removes_degrees_up_to_the_truncation_and_keeps_the_rest(grid):
    low = _harmonics(grid, [(0, 0), (5, 2), (21, 10), (21, 0)])
    high = _harmonics(grid, [(22, 4), (30, 7), (25, 0)])
    # Gauss quadrature is exact. Clenshaw-Curtis on nlat rows is exact only for degrees l + l' < nlat, and the
    # transform keeps degrees up to nlat - 1 (torch-harmonics' default): products above that leak, mostly
    # into the polar rows, shrinking ~nlat^-2.5 (0.02 at 65 rows, 2e-4 at 361; measured).
    tolerance = 0.05 if grid.kind == "equiangular" else 1e-8
    assert np.abs(spectral_high_pass(low, grid, truncation=21)).max() < tolerance
    np.testing.assert_allclose(spectral_high_pass(high, grid, truncation=21), high, atol=tolerance)
    np.testing.assert_allclose(spectral_high_pass(low + high, grid, truncation=21), high, atol=tolerance)


def test_zonally_uniform_omega_gives_no_flux():
    grid = GRIDS[0]
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(2, 2, grid.nlat, grid.nlon))
    omega = np.broadcast_to(rng.normal(size=(2, grid.nlat, 1)), u.shape)
    uw, vw = gravity_wave_fluxes_Pa(u, v, omega, grid, truncation=21, target=LatLonGrid("gaussian", 16, 32))
    assert uw.shape == (2, 16, 32)
    assert np.abs(uw).max() < 1e-12 and np.abs(vw).max() < 1e-12


def test_flux_of_one_wave_is_minus_A_B_over_2g_over_whole_wavelengths():
    """u' = A cos(k lambda), omega' = B cos(k lambda): mean u'omega'/(-g) = -AB/(2g) over whole wavelengths."""
    fine, coarse = LatLonGrid("gaussian", 64, 128), LatLonGrid("gaussian", 16, 32)
    _, lam = _mesh(fine)
    wavenumber = 32  # 4 fine points per wavelength; one wavelength per 11.25-degree coarse cell
    a_m_per_s, b_Pa_per_s = 2.0, -0.5  # rising air (omega < 0) with eastward u': upward flux of eastward momentum
    omega = 0.3 + b_Pa_per_s * np.cos(wavenumber * lam)  # a zonal mean omega'  does not see
    flux = conservative_regrid(momentum_flux_Pa(a_m_per_s * np.cos(wavenumber * lam), omega), fine, coarse)
    np.testing.assert_allclose(flux, -a_m_per_s * b_Pa_per_s / (2 * GRAVITY_M_PER_S2), rtol=1e-12)
    assert flux.min() > 0


@pytest.mark.parametrize(
    "source, target",
    [(GRIDS[0], LatLonGrid("gaussian", 16, 32)), (GRIDS[1], LatLonGrid("regular", 16, 32)),
     (GRIDS[1], LatLonGrid("gaussian", 16, 32)), (LatLonGrid("regular", 60, 120, 1.5), LatLonGrid("equiangular", 17, 24))],
    ids=["gaussian-gaussian", "equiangular-regular", "equiangular-gaussian", "regular-offset-equiangular"],
)  # fmt: skip
def test_conservative_regrid_keeps_the_area_integral_and_constants(source, target):
    assert np.isclose(source.cell_area_sr.sum(), 4 * np.pi, rtol=1e-13)
    field = np.random.default_rng(1).lognormal(size=(3, source.nlat, source.nlon))
    coarse = conservative_regrid(field, source, target)
    before = (field * source.cell_area_sr).sum(axis=(-2, -1))
    after = (coarse * target.cell_area_sr).sum(axis=(-2, -1))
    np.testing.assert_allclose(after, before, rtol=1e-12)
    np.testing.assert_allclose(conservative_regrid(np.full((source.nlat, source.nlon), 7.25), source, target), 7.25,
                               rtol=1e-13)  # fmt: skip


def test_regrid_refuses_a_finer_target_and_grids_validate():
    with pytest.raises(InputError, match="finer than the source"):
        conservative_regrid(np.zeros((16, 32)), LatLonGrid("gaussian", 16, 32), LatLonGrid("gaussian", 64, 128))
    with pytest.raises(InputError, match="grid kind"):
        LatLonGrid("healpix", 16, 32)
    with pytest.raises(InputError, match="KIND:NLATxNLON"):
        LatLonGrid.parse("gaussian:64by128")
    assert LatLonGrid.parse("gaussian:64x128") == LatLonGrid("gaussian", 64, 128)
    gaussian = LatLonGrid("gaussian", 64, 128)
    sin_lat = np.sin(np.deg2rad(gaussian.lat_deg))  # each Gauss node lies inside its band
    assert np.all(sin_lat < gaussian.sin_lat_bounds[:-1]) and np.all(sin_lat > gaussian.sin_lat_bounds[1:])


def era5_like(n_time: int = 2, levels=(10.0, 50.0, 100.0), nlat: int = 65, nlon: int = 128) -> xr.Dataset:
    """ERA5 names, units and layout (latitude 90 -> -90 with poles, longitude from 0) with smooth random waves."""
    grid = LatLonGrid("equiangular", nlat, nlon)
    phi, lam = _mesh(grid)
    rng = np.random.default_rng(2)
    shape = (n_time, len(levels), nlat, nlon)

    def waves() -> np.ndarray:
        out = np.zeros(shape)
        for k in (3, 17, 30):
            out += rng.normal(size=shape[:2] + (1, 1)) * np.cos(phi) ** 2 * np.cos(k * lam + rng.uniform(0, 6))
        return out

    dims = ("time", "level", "latitude", "longitude")
    return xr.Dataset(
        {
            "u": (dims, 10 + waves(), {"units": "m s**-1"}),
            "v": (dims, waves(), {"units": "m s**-1"}),
            "w": (dims, 0.1 * waves(), {"units": "Pa s**-1"}),
            "t": (dims, 220 + waves(), {"units": "K"}),
            "z": (("latitude", "longitude"), 9.8 * 500 * (1 + np.sin(phi)), {"units": "m**2 s**-2"}),
        },
        coords={"time": np.arange(n_time).astype("datetime64[h]"), "level": ("level", list(levels), {"units": "hPa"}),
                "latitude": grid.lat_deg, "longitude": grid.lon_deg},
    )  # fmt: skip


def test_fields_to_coarse_inputs_and_fluxes():
    ds = era5_like()
    coarse = gw_fluxes_from_fields(ds, target="gaussian:16x32", truncation=5)
    assert dict(coarse.sizes) == {"time": 2, "level": 3, "lat": 16, "lon": 32}
    assert {"u", "v", "temperature", "surface_height", "uw_flux", "vw_flux"} <= set(coarse.data_vars)
    assert coarse["uw_flux"].attrs["units"] == "Pa" and coarse["surface_height"].dims == ("lat", "lon")
    assert coarse.attrs["truncation"] == 5 and coarse.attrs["target_grid"] == "gaussian:16x32"
    assert coarse.attrs["source_grid"] == "equiangular:65x128"
    np.testing.assert_allclose(coarse["surface_height"].mean(), 500 * 9.8 / GRAVITY_M_PER_S2, rtol=0.05)
    assert float(np.abs(coarse["uw_flux"]).max()) > 0
    # Pressure levels carry no p variable: the pressure is the level coordinate (hPa -> Pa), which the trainer needs.
    assert coarse["pressure"].dims == ("time", "level", "lat", "lon") and coarse["pressure"].attrs["units"] == "Pa"
    np.testing.assert_allclose(coarse["pressure"].isel(time=1, lat=3, lon=7).values, [1000.0, 5000.0, 10000.0])
    model_levels = gw_fluxes_from_fields(ds.assign_coords(level=ds["level"].assign_attrs(units="1")),
                                         target="gaussian:16x32", truncation=5)  # fmt: skip
    assert "pressure" not in model_levels  # a model-level index is not a pressure
    # Reversed latitude and a -180..180 longitude axis give the same dataset.
    flipped = ds.isel(latitude=slice(None, None, -1)).roll(longitude=64, roll_coords=True)
    flipped = flipped.assign_coords(longitude=((flipped.longitude + 180) % 360) - 180)
    again = gw_fluxes_from_fields(flipped, target="gaussian:16x32", truncation=5)
    xr.testing.assert_allclose(again, coarse, atol=1e-6)


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda ds: ds.drop_vars("w"), "omega: missing"),
        (lambda ds: ds.assign(u=ds.u.where(ds.level != 50.0)), "u: 8320 NaN/Inf"),
        (lambda ds: ds.assign(w=ds.w.assign_attrs(units="m s-1")), "w: units 'm s-1'; expected Pa s-1"),
        (lambda ds: ds.isel(level=[0, 2, 1]), "level: not strictly monotonic"),
        (lambda ds: ds.isel(longitude=[*range(128), 0]), "longitude: duplicate"),
        (lambda ds: ds.isel(latitude=slice(1, -1)), "latitude: 63 values"),
    ],
    ids=["missing", "nan", "units", "levels", "duplicate-lon", "no-poles"],
)
def test_bad_fields_raise_input_errors_naming_the_problem(spoil, message):
    with pytest.raises(InputError, match=message):
        gw_fluxes_from_fields(spoil(era5_like(n_time=1)), target="gaussian:16x32")


def test_cli_round_trip_and_nothing_written_on_error(tmp_path):
    runner = CliRunner()
    fields = tmp_path / "era5.nc"
    era5_like().to_netcdf(fields)
    out = tmp_path / "fluxes.zarr"
    args = ["generate", "gw-fluxes", "--fields", str(fields), "--out", str(out), "--target-grid", "gaussian:16x32",
            "--truncation", "5", "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    written = xr.open_zarr(out).load()
    xr.testing.assert_allclose(written, gw_fluxes_from_fields(era5_like(), "gaussian:16x32", 5))

    bad = tmp_path / "bad.nc"
    era5_like().assign(w=lambda ds: ds.w.assign_attrs(units="cm s-1")).to_netcdf(bad)
    bad_out = tmp_path / "bad.zarr"
    result = runner.invoke(app, [*args[:3], str(bad), "--out", str(bad_out), *args[6:]])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: w: units 'cm s-1'; expected Pa s-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nc", "era5.nc", "fluxes.zarr"]


def _coarse_state(top_first: bool) -> xr.Dataset:
    """Two times of a 4 x 6 box of columns on 12 sigma levels with a westerly jet growing with height."""
    sigma = np.linspace(0.04, 0.96, 12)
    lat = np.array([-50.0, -10.0, 10.0, 50.0])
    p = sigma[None, :, None, None] * np.full((2, 1, 4, 6), 1.0e5)
    height_scale = np.log(1.0 / sigma)[None, :, None, None]
    u = 8.0 * height_scale * np.cos(np.deg2rad(lat))[None, None, :, None] + np.arange(6)[None, None, None, :] + np.zeros((2, 1, 1, 1))
    v = -2.0 * height_scale + np.zeros((2, 1, 4, 6)) + np.array([0.0, 3.0])[:, None, None, None]
    t = 290.0 - 60.0 * np.minimum(height_scale, 1.2) + np.zeros((2, 1, 4, 6))
    order = slice(None, None, 1) if top_first else slice(None, None, -1)
    dims = ("time", "level", "lat", "lon")
    return xr.Dataset(
        {"u": (dims, u[:, order], {"units": "m s-1"}), "v": (dims, v[:, order], {"units": "m s-1"}),
         "temperature": (dims, t[:, order], {"units": "K"}), "pressure": (dims, p[:, order], {"units": "Pa"}),
         "uw_flux": (dims, np.zeros(u.shape, np.float32), {"units": "Pa"}),
         "vw_flux": (dims, np.zeros(u.shape, np.float32), {"units": "Pa"})},
        coords={"level": sigma[order], "lat": ("lat", lat, {"units": "degrees_north"}), "lon": np.arange(6) * 60.0},
    )  # fmt: skip


@pytest.mark.parametrize("top_first", [True, False])
def test_ad99_flux_target_is_the_scheme_on_each_column_in_the_datasets_order(top_first):
    from subgrid.gravity_waves.gridded.fluxes import ad99_flux_target
    from subgrid.physics.ad99_scheme import AD99

    ds = _coarse_state(top_first)
    out = ad99_flux_target(ds)
    assert out["uw_flux"].dims == ds["u"].dims and out.attrs["flux_target"] == "ad99"
    np.testing.assert_array_equal(out["temperature"].values, ds["temperature"].values)  # the state is kept
    # one column by the scheme itself (surface first), interfaces averaged onto levels
    column = ds.isel(time=1, lat=0, lon=2)
    surface_first = slice(None, None, -1) if top_first else slice(None)
    state = {"eastward_wind": column["u"].values[None, surface_first], "northward_wind": column["v"].values[None, surface_first],
             "air_temperature": column["temperature"].values[None, surface_first],
             "air_pressure": column["pressure"].values[None, surface_first], "latitude": np.array([-50.0])}  # fmt: skip
    flux = AD99().tendencies(state)["eastward_gravity_wave_momentum_flux"][0]
    expected = 0.5 * (flux[:-1] + flux[1:])
    got = out["uw_flux"].isel(time=1, lat=0, lon=2).values[surface_first]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)
    # physics: nothing below the launch level (near the equator the level above 315 hPa; lower poleward);
    # westerly shear filters the eastward waves, so aloft the zonal flux is westward (negative)
    tropics = out["uw_flux"].isel(time=1, lat=1, lon=2).values
    assert np.all(tropics[column["pressure"].values > 4.2e4] == 0) and np.any(tropics != 0)
    midlatitude = out["uw_flux"].isel(time=1, lat=0, lon=2).values
    assert np.all(midlatitude[column["pressure"].values > 6.6e4] == 0)
    assert np.any(midlatitude[(column["pressure"].values > 4.2e4) & (column["pressure"].values < 6.6e4)] != 0)
    aloft = midlatitude[column["pressure"].values < 1.0e4]
    assert np.all(aloft < 0) and np.abs(aloft).max() > 1e-4


def test_ad99_flux_target_names_what_is_missing():
    from subgrid.gravity_waves.gridded.fluxes import ad99_flux_target

    with pytest.raises(InputError, match="the dataset is missing variable\(s\) pressure"):
        ad99_flux_target(_coarse_state(True).drop_vars("pressure"))
    spoiled = _coarse_state(True)
    spoiled["u"].attrs.pop("units")
    with pytest.raises(InputError, match="eastward_wind: no 'units'"):
        ad99_flux_target(spoiled)
