"""The simulated gravity-wave dataset: dinosaur-torch fields the recipe accepts, fluxes from the forcing, trainer reads it.

Everything runs at T21 (32 x 64 Gaussian grid, 6 sigma levels, 20-minute steps): waves there are
far too coarse to be gravity waves in earnest, but the plumbing, the units and the contrast
between a forced run and a control run are the same as at T85.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.core.chunked import write_zarr_atomic
from subgrid.gravity_waves.gridded.fluxes import gw_fluxes_from_fields
from subgrid.gravity_waves.gridded.dataset import GriddedSelection, open_gw_gridded
from subgrid.gravity_waves.gridded.simulation import GWSimulationConfig, generate_gw_simulation_dataset, run_gw_simulation
from subgrid.core.errors import InputError
from subgrid.physics.dycore import random_hills

TINY = dict(resolution="T21", levels=6, time_step_minutes=20.0, spinup_days=0.5, record_days=1.0,
            output_interval_hours=6.0, target="gaussian:16x32", truncation=8)


@pytest.fixture(scope="module")
def fields(tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    path = run_gw_simulation(GWSimulationConfig(**TINY), tmp_path_factory.mktemp("sim") / "fields.zarr")
    return xr.open_zarr(path).load()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_gw_simulation_dataset(GWSimulationConfig(**TINY), tmp_path_factory.mktemp("data") / "gw_sim.zarr")


def test_fields_carry_the_names_units_and_dims_the_recipe_reads(fields: xr.Dataset) -> None:
    units = {"u": "m s-1", "v": "m s-1", "w": "Pa s-1", "t": "K", "p": "Pa", "z": "m2 s-2"}
    assert {name: fields[name].attrs["units"] for name in units} == units
    assert fields["u"].dims == ("time", "level", "latitude", "longitude")
    assert fields.sizes == {"time": 4, "level": 6, "latitude": 32, "longitude": 64}
    assert fields["latitude"].values[0] > fields["latitude"].values[-1]  # north to south, Gaussian
    # Physically plausible: winds of tens of m/s, temperatures of an Earth-like troposphere, surface
    # pressure near 1000 hPa, mountains up to ~4 km (their surface geopotential / g).
    assert 5 < float(np.abs(fields["u"]).max()) < 150
    assert 180 < float(fields["t"].min()) and float(fields["t"].max()) < 340
    assert 5e4 < float(fields["p"].isel(level=-1).mean()) < 1.05e5
    assert 2000 < float(fields["z"].max()) / 9.80665 < 4500
    coarse = gw_fluxes_from_fields(fields, "gaussian:16x32", truncation=8)  # the recipe accepts them as they are
    assert coarse["uw_flux"].dims == ("time", "level", "lat", "lon")


def test_the_end_to_end_dataset_has_finite_fluxes_on_the_target_grid(dataset: Path) -> None:
    ds = xr.open_zarr(dataset)
    assert ds.sizes == {"time": 4, "level": 6, "lat": 16, "lon": 32}
    for name in ("uw_flux", "vw_flux", "u", "v", "temperature", "pressure"):
        assert ds[name].dims == ("time", "level", "lat", "lon")
        assert np.isfinite(ds[name].values).all()
    assert ds["uw_flux"].attrs["units"] == "Pa" and ds["surface_height"].dims == ("lat", "lon")
    assert ds.attrs["generator"] == "subgrid.gravity_waves.gridded.simulation" and "resolution" in ds.attrs["simulation"]


@pytest.mark.slow
def test_fluxes_come_from_the_forcing_not_from_the_flow(dataset: Path, tmp_path: Path) -> None:
    control = GWSimulationConfig(**TINY, mountain_scale=0.0, heating_K_per_day=0.0)
    quiet = xr.open_zarr(generate_gw_simulation_dataset(control, tmp_path / "control.zarr"))
    forced = xr.open_zarr(dataset)
    rms = {name: float(np.sqrt((ds["uw_flux"] ** 2).mean())) for name, ds in (("forced", forced), ("control", quiet))}
    # A zonal flow over a flat planet stays zonal: its high-passed divergent wind, and so its fluxes, stay tiny.
    assert rms["forced"] > 100 * rms["control"], rms


def test_the_trainer_reads_our_named_variable_dataset(dataset: Path) -> None:
    ds = open_gw_gridded(dataset)  # the public 64 x 128 grid is not required of our own datasets
    assert ds.sizes["lat"] == 16 and ds.attrs["normalisation"].startswith("physical units")
    selection = GriddedSelection.for_dataset(ds, ["u", "surface_height", "latitude_feature"], ["uw_flux"], [5])
    x, y = selection.sample(ds, 1)
    assert x.shape == (6 + 1 + 1, 16, 32) and y.shape == (1, 16, 32)
    np.testing.assert_allclose(x[-1, :, 0], xr.open_zarr(dataset)["lat"].values, rtol=1e-6)
    theta = ds["potential_temperature"].isel(time=0).values
    assert np.all(theta[:-1].mean(axis=(1, 2)) > theta[1:].mean(axis=(1, 2)))  # stable: theta falls downward


def test_the_trainer_refuses_a_dataset_missing_a_target(dataset: Path, tmp_path: Path) -> None:
    write_zarr_atomic(xr.open_zarr(dataset).drop_vars("vw_flux"), tmp_path / "broken.zarr")
    with pytest.raises(InputError, match=r"missing variable\(s\) \['vw_flux'\]"):
        open_gw_gridded(tmp_path / "broken.zarr")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"resolution": "T64"}, "resolution 'T64': expected one of"),
        ({"levels": 2}, "levels 2: expected an integer >= 3"),
        ({"time_step_minutes": 0.0}, "time_step_minutes 0.0: expected a number > 0"),
        ({"output_interval_hours": 1.1}, "output_interval_hours 1.1: expected a multiple of time_step_minutes"),
        ({"record_days": 0.1}, "record_days 0.1: shorter than one output interval"),
        ({"mountain_scale": -1.0}, "mountain_scale -1.0: expected a number >= 0"),
        ({"hills": -1}, "hills -1: expected an integer >= 0"),
        ({"hills": 5, "hill_width_deg": 0.0}, r"hill_width_deg 0.0: expected a number in \(0, 30\]"),
        ({"hills": 5, "hill_height_m": float("nan")}, "hill_height_m nan"),
        ({"target": "gaussian:32x64"}, "not coarser than the T21 simulation grid"),
    ],
)
def test_bad_settings_are_refused_with_their_name(change: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        GWSimulationConfig(**{**TINY, **change})


def test_nothing_is_written_when_the_run_fails(tmp_path: Path) -> None:
    # A 6-hour step at T21 blows up: the error names it and leaves no store, not even a temporary one.
    config = GWSimulationConfig(**{**TINY, "time_step_minutes": 360.0, "spinup_days": 2.0})
    with pytest.raises(InputError, match="blew up"):
        generate_gw_simulation_dataset(config, tmp_path / "out.zarr")
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_the_dataset_and_fails_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["generate", "gw-simulation", "--out", str(tmp_path / "cli.zarr"), "--resolution", "T21", "--levels", "6",
            "--time-step-minutes", "20", "--spinup-days", "0", "--days", "0.25", "--target-grid", "gaussian:16x32",
            "--truncation", "8", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert xr.open_zarr(tmp_path / "cli.zarr").sizes["time"] == 1
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already exists" in again.output and len(again.output.strip().splitlines()) == 1
    bad = runner.invoke(app, [*args[:-1], "--overwrite", "--resolution", "T64"])
    assert bad.exit_code == 2 and "resolution 'T64'" in bad.output
    convective = runner.invoke(app, [*args, "--overwrite", "--convective-cells", "4", "--convective-tilt-hours", "3"])
    assert convective.exit_code == 0, convective.output
    assert xr.open_zarr(tmp_path / "cli.zarr")["convective_heating"].dims == ("time", "lat", "lon")


def test_train_gw_gridded_trains_on_our_dataset(dataset: Path, tmp_path: Path) -> None:
    from subgrid.gravity_waves.gridded.training import GriddedGWTrainingConfig, train_gw_gridded

    config = GriddedGWTrainingConfig(inputs=["surface_height", "u", "v"], epochs=1, batch_size=2,
                                     validation_fraction=0.5, model_options={"base_width": 4}, seed=0)
    report = train_gw_gridded(dataset, tmp_path / "run", config, progress=False)
    assert report.epochs == 1 and np.isfinite(report.best_val_loss)


def test_the_dycore_keeps_its_mass_over_many_steps():
    """The ln ps continuity equation leaks mass with mountains and forcing; the fixer restores it every step."""
    atmosphere = GWSimulationConfig(**{**TINY, "time_step_minutes": 60.0}).build()
    start = atmosphere._total_mass(atmosphere.state.log_surface_pressure)
    surface = atmosphere.snapshot().pressure[-1]
    for _ in range(48):
        atmosphere.step()
    assert atmosphere._total_mass(atmosphere.state.log_surface_pressure) == pytest.approx(start, rel=1e-5)
    assert not np.allclose(atmosphere.snapshot().pressure[-1], surface, rtol=1e-4)  # the flow itself still moves mass


def test_convective_cells_are_seeded_move_around_and_keep_the_forcing_mean_zero():
    from subgrid.physics.dycore import Convection

    convection = Convection(cells=12, peak_K_per_day=20.0, radius_deg=4.0, lifetime_hours=6.0, seed=7)
    lat, lon, q = convection.cell_states(3600.0 * 40)
    again = Convection(cells=12, peak_K_per_day=20.0, radius_deg=4.0, lifetime_hours=6.0, seed=7).cell_states(3600.0 * 40)
    assert all(np.array_equal(a, b) for a, b in zip((lat, lon, q), again, strict=True))  # a restart continues the sequence
    other = Convection(cells=12, seed=8).cell_states(3600.0 * 40)
    assert not np.array_equal(lat, other[0])  # another seed, other places
    later = convection.cell_states(3600.0 * 52)  # two lifetimes later every cell was reborn elsewhere
    assert not np.any(np.isclose(lon, later[1]))
    assert np.all(np.abs(lat) <= convection.max_lat_deg) and np.all((q >= 0) & (q <= 1.5 * 20.0))
    # the model: heating where the cells are, and heating + cooling integrate to zero over the globe
    atmosphere = GWSimulationConfig(**{**TINY, "heating_K_per_day": 0.0, "convective_cells": 12, "seed": 7}).build()
    atmosphere.step()
    snapshot = atmosphere.snapshot()
    heating = snapshot.convective_heating
    assert heating.shape == snapshot.u.shape[1:] and heating.max() > 5.0 and heating.min() >= 0.0
    net = atmosphere._convection.amplitude.double().numpy()
    assert abs(float((net * atmosphere._area_weight).sum())) < 1e-6 * float(np.abs(net).max())
    assert net.min() < 0 < net.max()


def test_a_run_with_convection_gives_the_recipe_its_heating_and_the_trainer_a_channel(tmp_path: Path) -> None:
    config = GWSimulationConfig(**{**TINY, "record_days": 0.5, "heating_K_per_day": 0.0, "convective_cells": 12})
    path = generate_gw_simulation_dataset(config, tmp_path / "conv.zarr")
    coarse = xr.open_zarr(path)
    assert coarse["convective_heating"].dims == ("time", "lat", "lon")
    assert coarse["convective_heating"].attrs["units"] == "K day-1" and float(coarse["convective_heating"].max()) > 0
    ds = open_gw_gridded(path, grid=None)
    selection = GriddedSelection.for_dataset(ds, ["convective_heating", "u"], ["uw_flux"], None)
    x, _ = selection.sample(ds, 0)
    assert selection.input_channels()[0] == "convective_heating" and x.shape[0] == 1 + TINY["levels"]
    np.testing.assert_allclose(x[0], coarse["convective_heating"].isel(time=0).values, rtol=1e-6)
    with pytest.raises(InputError, match="convection cells -1"):
        GWSimulationConfig(**{**TINY, "convective_cells": -1})


def test_leaning_plumes_shift_downwind_of_the_column_mean_and_at_most_two_radii():
    from subgrid.physics.dycore import Convection

    convection = Convection(cells=2, radius_deg=4.0, tilt_hours=6.0)
    relative_u = np.array([[-10.0, 0.0], [0.0, 0.0], [10.0, 200.0]])  # [level, cell], m/s
    shift_lat, shift_lon = convection.tilt_deg(np.array([0.0, 60.0]), relative_u, np.zeros_like(relative_u))
    # 10 m/s for 6 h is 216 km, 1.94 degrees of arc at the equator; upwind below, downwind above
    np.testing.assert_allclose(shift_lon[:, 0], [-1.943, 0.0, 1.943], atol=2e-3)
    assert shift_lon[2, 1] == pytest.approx(2 * 4.0 / np.cos(np.radians(60.0)))  # clipped to two radii of arc
    assert np.all(shift_lat == 0.0)


def test_a_run_with_leaning_plumes_restarts_exactly_on_a_whole_hour():
    config = GWSimulationConfig(**{**TINY, "heating_K_per_day": 0.0, "convective_cells": 6, "convective_tilt_hours": 6.0,
                                   "time_step_minutes": 30.0})
    straight = config.build()
    for _ in range(8):
        straight.step()
    first = config.build()
    for _ in range(4):
        first.step()
    resumed = config.build()
    resumed.load_state_tensors(first.state_tensors())
    for _ in range(4):
        resumed.step()
    np.testing.assert_array_equal(resumed.snapshot().u, straight.snapshot().u)
    assert np.abs(straight._convective_forcing()).max() > 1.0  # the cells heat (K/day)


def test_the_separable_cell_patches_equal_the_pointwise_patch():
    from subgrid.physics.dycore import Convection

    convection = Convection(cells=1, radius_deg=4.0)
    lat_axis, lon_axis = np.linspace(-80, 80, 17), np.arange(0.0, 360.0, 7.5)
    lat, lon = np.meshgrid(lat_axis, lon_axis)  # [lon, lat] like the model's mesh
    fast = convection.patches(lat_axis, lon_axis, np.array([10.0, -30.0]), np.array([355.0, 120.0]))
    for k, (clat, clon) in enumerate([(10.0, 355.0), (-30.0, 120.0)]):
        np.testing.assert_allclose(fast[k], convection.patch(lat, lon, clat, clon), rtol=1e-12, atol=1e-300)


def test_hills_are_the_same_ground_in_every_run_and_roughen_only_the_mid_latitudes():
    hills = random_hills(40, 1500.0, 6.0)
    assert hills == random_hills(40, 1500.0, 6.0) and hills != random_hills(40, 1500.0, 6.0, seed=1)
    lat = np.array([h.lat_deg for h in hills])
    height = np.array([h.height_m for h in hills])
    assert np.all((np.abs(lat) >= 20) & (np.abs(lat) <= 65)) and (lat > 0).any() and (lat < 0).any()
    assert np.all((height >= 750) & (height <= 2250)) and height.std() > 100

    flat = GWSimulationConfig(**TINY).build()
    rough = GWSimulationConfig(**TINY, hills=40, hill_width_deg=6.0).build()
    other_weather = GWSimulationConfig(**TINY, hills=40, hill_width_deg=6.0, seed=7).build()
    assert np.array_equal(rough.surface_height_m, other_weather.surface_height_m)  # the run's seed is not the ground's
    added = rough.surface_height_m - flat.surface_height_m
    band = np.abs(rough.lat_deg)
    mid, tropics = (band >= 25) & (band <= 60), band <= 10
    assert added[mid].std() > 200 and added[mid].std() > 4 * added[tropics].std()  # truncation rings a little
    assert not GWSimulationConfig(**TINY, hills=40, mountain_scale=0.0).build().surface_height_m.any()
