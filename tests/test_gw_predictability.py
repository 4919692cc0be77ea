"""The predictability measures of a gridded GW flux target, on synthetic records whose answer is known."""

import numpy as np
import pytest
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.gravity_waves.gridded.predictability import (predictability_lines, split_record, target_predictability,
                                                           window_mean_target)

SHAPE = (80, 4, 6, 8)  # time, level, lat, lon


def _record(uw: np.ndarray, u: np.ndarray, rng: np.random.Generator, every_hours: int = 6) -> xr.Dataset:
    dims, shape = ("time", "level", "lat", "lon"), u.shape
    times = np.datetime64("2000-01-01", "ns") + np.arange(shape[0]) * np.timedelta64(every_hours, "h")
    return xr.Dataset(
        {"u": (dims, u), "v": (dims, rng.standard_normal(shape)), "temperature": (dims, 250 + rng.standard_normal(shape)),
         "surface_height": (("lat", "lon"), rng.uniform(0, 3000, shape[2:])),
         "uw_flux": (dims, uw), "vw_flux": (dims, rng.standard_normal(shape) * 1e-3)},
        coords={"time": times, "level": np.linspace(0.1, 0.9, SHAPE[1]), "lat": np.linspace(60, -60, SHAPE[2]),
                "lon": np.arange(SHAPE[3]) * 45.0},
    )  # fmt: skip


def _split(ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    return ds.isel(time=slice(0, 50)), ds.isel(time=slice(50, None))


def test_flux_set_by_the_column_is_found_by_the_probe_and_noise_is_not():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(SHAPE) * 10
    signal = _record(-2e-3 * u + 1e-3 * rng.standard_normal(SHAPE), u, rng)
    noise = _record(1e-2 * rng.standard_normal(SHAPE), u, rng)
    found = target_predictability(*_split(signal), target_levels=[1, 2, 3])
    missed = target_predictability(*_split(noise), target_levels=[1, 2, 3])
    assert found["uw_flux"]["linear_probe_r2"] > 0.7
    assert abs(missed["uw_flux"]["linear_probe_r2"]) < 0.1
    assert abs(missed["uw_flux"]["lag_autocorrelation"]) < 0.15  # white in time
    assert abs(missed["uw_flux"]["climatology_r2"]) < 0.1
    assert found["lag_hours"] == 6.0
    assert len(predictability_lines(found)) == 2 and "linear probe R²" in predictability_lines(found)[0]


def test_persistence_and_a_time_mean_are_measured():
    rng = np.random.default_rng(1)
    u = rng.standard_normal(SHAPE)
    red = np.zeros(SHAPE)
    for t in range(1, SHAPE[0]):  # AR(1) with coefficient 0.9 at each grid point
        red[t] = 0.9 * red[t - 1] + np.sqrt(1 - 0.81) * rng.standard_normal(SHAPE[1:])
    persistent = target_predictability(*_split(_record(red, u, rng)), target_levels=[0, 1])
    assert 0.6 < persistent["uw_flux"]["lag_autocorrelation"] < 1.0
    pattern = rng.standard_normal(SHAPE[1:])
    steady = _record(pattern[None] + 0.3 * rng.standard_normal(SHAPE), u, rng)
    measured = target_predictability(*_split(steady), target_levels=[0, 1, 2, 3])["uw_flux"]
    assert measured["climatology_r2"] > 0.8  # the time mean per grid point is the signal
    assert measured["time_mean_to_rms"] > 0.6


def test_bad_input_is_refused_by_name():
    rng = np.random.default_rng(2)
    ds = _record(rng.standard_normal(SHAPE), rng.standard_normal(SHAPE), rng)
    train, test = _split(ds)
    with pytest.raises(InputError, match="vw_flux: missing"):
        target_predictability(train, test.drop_vars("vw_flux"), target_levels=[0])
    with pytest.raises(InputError, match="at least 2 times"):
        target_predictability(train, test.isel(time=slice(0, 1)), target_levels=[0])
    with pytest.raises(InputError, match="no target levels"):
        target_predictability(train, test, target_levels=[])


def test_the_probe_finds_a_flux_set_by_the_heating_and_the_wind_it_meets():
    """A source's flux ~ Q x u (strength times the wind that sets its sign): the probe's Q·u features find it."""
    rng = np.random.default_rng(3)
    u = rng.standard_normal(SHAPE) * 10
    heating = np.where(rng.uniform(size=(SHAPE[0], *SHAPE[2:])) < 0.2, rng.uniform(5, 20, (SHAPE[0], *SHAPE[2:])), 0.0)
    flux = -1e-4 * heating[:, None] * u + 1e-3 * rng.standard_normal(SHAPE)
    with_source = _record(flux, u, rng).assign(convective_heating=(("time", "lat", "lon"), heating))
    without = with_source.drop_vars("convective_heating")
    seen = target_predictability(*_split(with_source), target_levels=[1, 2, 3])
    unseen = target_predictability(*_split(without), target_levels=[1, 2, 3])
    assert seen["uw_flux"]["linear_probe_r2"] > 0.7
    assert unseen["uw_flux"]["linear_probe_r2"] < 0.2
    assert seen["probe_features"] == unseen["probe_features"] + 2 + 2 * SHAPE[1]


def test_the_neighbourhood_probe_finds_a_flux_set_by_the_next_box_which_the_column_probe_cannot():
    """Waves from a source in the box to the west carry eastward momentum: flux ~ Q(west) - Q(east), a non-local signal."""
    rng = np.random.default_rng(5)
    u = rng.standard_normal(SHAPE) * 10
    heating = np.where(rng.uniform(size=(SHAPE[0], *SHAPE[2:])) < 0.3, rng.uniform(5, 20, (SHAPE[0], *SHAPE[2:])), 0.0)
    west_minus_east = np.roll(heating, 1, axis=-1) - np.roll(heating, -1, axis=-1)
    flux = 1e-4 * west_minus_east[:, None] * np.linspace(0.5, 1.5, SHAPE[1])[None, :, None, None]
    ds = _record(flux + 1e-4 * rng.standard_normal(SHAPE), u, rng).assign(convective_heating=(("time", "lat", "lon"), heating))
    found = target_predictability(*_split(ds), target_levels=[1, 2, 3], nonlinear=True)["uw_flux"]
    assert found["neighbourhood_probe_r2"] > 0.6 and found["linear_probe_r2"] < 0.2
    noise = _record(1e-2 * rng.standard_normal(SHAPE), u, rng)
    missed = target_predictability(*_split(noise), target_levels=[1, 2, 3], nonlinear=True)["uw_flux"]
    assert missed["neighbourhood_probe_r2"] < 0.1
    assert "neighbourhood probe R²" in predictability_lines({"lag_hours": 6.0, "uw_flux": found})[0]


def test_the_cli_measures_one_dataset_or_a_train_test_pair_and_keeps_foreign_files(tmp_path):
    import json

    from typer.testing import CliRunner

    from subgrid.cli.main import app

    rng = np.random.default_rng(9)
    u = rng.standard_normal(SHAPE) * 10
    ds = _record(-2e-3 * u + 1e-3 * rng.standard_normal(SHAPE), u, rng)
    ds.to_zarr(tmp_path / "data.zarr")
    runner = CliRunner()
    result = runner.invoke(app, ["predictability", "--data", str(tmp_path / "data.zarr"), "--json", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("uw_flux: lag-6 h autocorrelation") and "linear probe R²" in result.output
    report = json.loads((tmp_path / "p.json").read_text())
    assert report["kind"] == "gw_predictability" and report["uw_flux"]["linear_probe_r2"] > 0.7
    assert report["probe_features"] == 3 * SHAPE[1] + 3  # u, v, T on every level, sin/cos latitude, surface height
    again = runner.invoke(app, ["predictability", "--data", str(tmp_path / "data.zarr"), "--json", str(tmp_path / "p.json")])
    assert again.exit_code == 0  # its own report is replaced
    (tmp_path / "mine.json").write_text('{"my": "notes"}')
    refused = runner.invoke(app, ["predictability", "--data", str(tmp_path / "data.zarr"), "--json", str(tmp_path / "mine.json")])
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert (tmp_path / "mine.json").read_text() == '{"my": "notes"}'
    neither = runner.invoke(app, ["predictability", "--train", str(tmp_path / "data.zarr")])
    assert neither.exit_code == 2 and "give --data, or both --train and --test" in neither.output
    means = runner.invoke(app, ["predictability", "--data", str(tmp_path / "data.zarr"), "--mean-hours", "12"])
    assert means.exit_code == 0 and means.output.startswith("uw_flux: lag-12 h autocorrelation"), means.output
    odd = runner.invoke(app, ["predictability", "--data", str(tmp_path / "data.zarr"), "--mean-hours", "9"])
    assert odd.exit_code == 2 and "not a multiple (>= 2) of the record interval 6 h" in odd.output


def test_a_window_mean_keeps_the_flux_the_state_sets_and_averages_the_noise_away():
    rng = np.random.default_rng(5)
    hours, n_windows = 8, 24
    shape = (hours * n_windows, *SHAPE[1:])
    u = np.repeat(rng.standard_normal((n_windows, *SHAPE[1:])) * 10, hours, axis=0)  # the state holds over a window
    ds = _record(-2e-3 * u + 5e-2 * rng.standard_normal(shape), u, rng, every_hours=1)
    mean = window_mean_target(ds, hours)
    assert mean.sizes["time"] == n_windows
    assert mean["time"].values[1] == ds["time"].values[hours + hours // 2]  # the centre record's time and state
    np.testing.assert_array_equal(mean["u"].values[1], ds["u"].values[hours + hours // 2])
    np.testing.assert_allclose(mean["uw_flux"].values[2], ds["uw_flux"].values[2 * hours:3 * hours].mean(0))
    assert "mean" in mean["uw_flux"].attrs["cell_methods"]
    instantaneous = target_predictability(*split_record(ds, 0.6), target_levels=[0, 1, 2, 3])["uw_flux"]
    averaged = target_predictability(*split_record(mean, 0.6), target_levels=[0, 1, 2, 3])["uw_flux"]
    # signal variance 0.02^2 against noise 0.05^2 per record, / 8 in a window mean: R² ~0.14 -> ~0.56
    assert instantaneous["linear_probe_r2"] < 0.25
    assert averaged["linear_probe_r2"] > 0.4
    with pytest.raises(InputError, match="not a multiple"):
        window_mean_target(ds, 1.5)
    with pytest.raises(InputError, match="not a multiple"):
        window_mean_target(ds, 1.0)  # one record is no mean
    with pytest.raises(InputError, match="do not fill"):
        window_mean_target(ds.isel(time=slice(0, 4)), hours)
