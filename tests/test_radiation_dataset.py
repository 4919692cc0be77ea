"""`subgrid generate radiation`: the RRTMG column dataset end to end (small sizes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
import zarr

from subgrid.core.chunked import partial_path
from subgrid.radiation.columns import ColumnSamplerConfig
from subgrid.radiation.dataset import RadiationDatasetConfig, generate_radiation_dataset, radiation_summary
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS

SMALL = RadiationDatasetConfig(n_columns=60, seed=7, chunk_size=20, sampler=ColumnSamplerConfig(n_levels=20))


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> xr.Dataset:
    path = tmp_path_factory.mktemp("rad") / "rad.zarr"
    generate_radiation_dataset(path, SMALL, workers=2, progress=False)
    return xr.open_zarr(path)


def test_dataset_has_inputs_outputs_units_and_provenance(small_dataset):
    ds = small_dataset
    assert ds.sizes == {"column": 60, "level": 20, "interface": 21}
    for name, var in {**RADIATION_INPUTS, **RADIATION_OUTPUTS}.items():
        assert ds[name].dims == var.dims and ds[name].attrs["units"] == var.units, name
    assert ds["air_temperature"].chunks[0] == (20, 20, 20)
    attrs = ds.attrs
    assert attrs["seed"] == 7 and attrs["vertical_order"] == "surface_first"
    assert attrs["generator"] == "subgrid.radiation.dataset" and attrs["climt_version"] == "0.31.0"
    assert json.loads(attrs["sampler_settings"])["n_levels"] == 20
    assert json.loads(attrs["rrtmg_settings"])["mcica"] is True


def test_every_column_was_computed_and_is_physical(small_dataset):
    ds = small_dataset.load()
    for name in RADIATION_OUTPUTS:
        assert np.isfinite(ds[name].values).all(), name
    for name in (n for n in RADIATION_OUTPUTS if "flux" in n):
        assert (ds[name].values >= 0).all(), name
    olr = ds["lw_flux_up"].isel(interface=-1)
    assert (olr > 80).all() and (olr < 380).all()
    night = ds["cos_solar_zenith_angle"] <= 0
    assert 0 < int(night.sum()) < 60
    assert (ds["sw_flux_down"].where(night, 0.0) == 0.0).all()
    toa = ds["sw_flux_down"].isel(interface=-1)
    expected = 1367.0 * ds["cos_solar_zenith_angle"] * ds["earth_sun_distance_factor"]
    np.testing.assert_allclose(toa.where(~night, 0.0), expected.where(~night, 0.0), rtol=1e-5)


def test_same_seed_gives_an_identical_dataset_whatever_the_worker_count(small_dataset, tmp_path):
    again = tmp_path / "again.zarr"
    generate_radiation_dataset(again, SMALL, workers=1, progress=False)
    other = xr.open_zarr(again)
    xr.testing.assert_equal(small_dataset, other)
    differing = {k for k in other.attrs if other.attrs[k] != small_dataset.attrs[k]}
    assert differing <= {"created_utc", "subgrid_marker"}  # both record when the store was written
    marker, first = (json.loads(ds.attrs["subgrid_marker"]) for ds in (other, small_dataset))
    assert {k: v for k, v in marker.items() if k != "created_utc"} == {k: v for k, v in first.items() if k != "created_utc"}


def test_another_seed_gives_other_columns(small_dataset, tmp_path):
    path = tmp_path / "seed8.zarr"
    config = RadiationDatasetConfig(n_columns=20, seed=8, chunk_size=20, sampler=ColumnSamplerConfig(n_levels=20))
    generate_radiation_dataset(path, config, workers=1, progress=False)
    other = xr.open_zarr(path)
    assert not np.allclose(other["air_temperature"].values, small_dataset["air_temperature"].values[:20])


def test_summary_reports_plausible_distributions(small_dataset):
    summary = radiation_summary(small_dataset)
    assert summary["columns"] == 60
    assert 150 < summary["olr_W_m2"]["p50"] < 320
    assert summary["olr_clear_W_m2"]["mean"] >= summary["olr_W_m2"]["mean"]
    assert summary["lw_heating_K_day_above_lowest_layer"]["p50"] < 0  # the atmosphere cools in the LW


@pytest.mark.slow
def test_killed_generation_resumes_without_recomputing_finished_chunks(tmp_path):
    """Kill the CLI mid-run (SIGKILL to its process group), rerun it, and compare with an uninterrupted run."""
    out = tmp_path / "killed.zarr"
    partial = partial_path(out)
    command = [
        sys.executable, "-m", "subgrid.cli", "generate", "radiation", "--columns", "1200", "--levels", "30",
        "--seed", "3", "--chunk-size", "100", "--workers", "2", "--no-progress", "--no-summary", "--out", str(out),
    ]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done_before_kill = 0
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if (partial / "chunk_done").exists():
                done_before_kill = int(zarr.open_array(str(partial / "chunk_done"), mode="r")[:].sum())
                if done_before_kill >= 3:
                    break
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert 3 <= done_before_kill < 12, "the run should have been killed halfway"
    assert not out.exists() and partial.exists()

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    resumed = int(result.stdout.split("computed, ")[1].split(" resumed")[0])
    assert resumed >= done_before_kill
    assert f"({12 - resumed} computed, {resumed} resumed)" in result.stdout

    reference = tmp_path / "reference.zarr"
    config = RadiationDatasetConfig(n_columns=1200, seed=3, chunk_size=100, sampler=ColumnSamplerConfig(n_levels=30))
    generate_radiation_dataset(reference, config, workers=2, progress=False)
    xr.testing.assert_equal(xr.open_zarr(out), xr.open_zarr(reference))


def test_mcica_samples_average_cloudy_columns_over_independent_draws():
    from subgrid.radiation.dataset import mcica_mean
    from subgrid.physics.rrtmg import RRTMGConfig, radiative_transfer_arrays

    columns = sample_columns_for_test(60)
    arrays = {name: columns[name].values for name in RADIATION_INPUTS}
    config = RRTMGConfig()
    cloudy = columns["cloud_fraction"].values.max(axis=1) > 0
    assert 0 < cloudy.sum() < 60
    single = [radiative_transfer_arrays(arrays, config, seed=s) for s in (5, 105)]
    means = [mcica_mean(arrays, config, seed=s, samples=4) for s in (5, 105)]
    for name in ("lw_flux_up", "sw_flux_up", "lw_heating_rate", "sw_heating_rate"):
        # Clear columns are deterministic: run once, the single draw's values.
        np.testing.assert_array_equal(means[0][name][~cloudy], single[0][name][~cloudy], err_msg=name)
        assert not np.allclose(means[0][name][cloudy], single[0][name][cloudy]), name
        # Two 4-draw means differ about half as much as two single draws (sqrt(4)).
        spread_single = np.abs(single[0][name] - single[1][name]).mean()
        spread_mean = np.abs(means[0][name] - means[1][name]).mean()
        assert spread_mean < 0.75 * spread_single, name
    # Averages of energy-consistent draws stay energy-consistent.
    mean = means[0]
    dp = np.diff(arrays["air_pressure_on_interface"], axis=1)
    for band in ("lw", "sw"):
        net = mean[f"{band}_flux_up"] - mean[f"{band}_flux_down"]
        expected = 9.80665 / 1004.64 * 86400 * np.diff(net, axis=1) / dp
        np.testing.assert_allclose(mean[f"{band}_heating_rate"], expected, rtol=1e-6, atol=1e-6)


def test_averaged_dataset_records_its_draw_count_and_rejects_bad_settings(tmp_path):
    config = RadiationDatasetConfig(n_columns=20, seed=3, chunk_size=20, sampler=ColumnSamplerConfig(n_levels=20), mcica_samples=2)
    generate_radiation_dataset(tmp_path / "k2.zarr", config, workers=1, progress=False)
    assert xr.open_zarr(tmp_path / "k2.zarr").attrs["mcica_samples"] == 2
    with pytest.raises(ValueError, match="mcica_samples"):
        RadiationDatasetConfig(n_columns=20, mcica_samples=0)
    from subgrid.physics.rrtmg import RRTMGConfig

    with pytest.raises(ValueError, match="McICA on"):
        RadiationDatasetConfig(n_columns=20, mcica_samples=2, rrtmg=RRTMGConfig(mcica=False))


def sample_columns_for_test(n: int) -> xr.Dataset:
    from subgrid.radiation.columns import sample_columns

    return sample_columns(n, np.random.default_rng(12), ColumnSamplerConfig(n_levels=20))
