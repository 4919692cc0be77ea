"""Offline metrics: hand-computed reductions, Hellinger distance, and the radiation metrics contract."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.evaluation.metrics import (
    bias,
    hellinger_bins,
    hellinger_by_level,
    hellinger_distance,
    mae,
    metrics_table,
    r2,
    radiation_metrics,
    regime_masks,
    rmse,
)
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS

#: Latitudes repeated every 8 columns: 3 tropics, 3 midlatitudes (both boundaries), 2 poles.
LATITUDE_BLOCK = (0.0, 10.0, -20.0, 23.5, -50.0, 60.0, 70.0, -85.0)


def synthetic_radiation(
    n_columns: int = 48, n_levels: int = 8, *, vertical_order: str = "surface_first", seed: int = 0
) -> xr.Dataset:
    """Random radiation outputs with the schema's dims and units, and known regimes.

    Every third column (0, 3, ...) is night with SW exactly 0; odd columns have one cloudy layer;
    latitudes cycle through :data:`LATITUDE_BLOCK`.
    """
    rng = np.random.default_rng(seed)
    index = np.arange(n_columns)
    day = index % 3 != 0
    p_int = np.tile(np.linspace(101300.0, 1000.0, n_levels + 1), (n_columns, 1))
    cloud = np.zeros((n_columns, n_levels))
    cloud[index % 2 == 1, n_levels // 2] = 0.5
    interface_shape, level_shape = (n_columns, n_levels + 1), (n_columns, n_levels)
    sun = day[:, None].astype(float)
    values = {
        "air_pressure": 0.5 * (p_int[:, :-1] + p_int[:, 1:]),
        "cloud_fraction": cloud,
        "cos_solar_zenith_angle": np.where(day, 0.7, -0.2),
        "latitude": np.resize(LATITUDE_BLOCK, n_columns),
    }
    for sky in ("", "_clear"):
        values |= {
            f"lw_flux_up{sky}": 200.0 + 150.0 * rng.random(interface_shape),
            f"lw_flux_down{sky}": 300.0 * rng.random(interface_shape),
            f"sw_flux_up{sky}": sun * 400.0 * rng.random(interface_shape),
            f"sw_flux_down{sky}": sun * (200.0 + 900.0 * rng.random(interface_shape)),
            f"lw_heating_rate{sky}": rng.normal(-1.5, 1.0, level_shape),
            f"sw_heating_rate{sky}": sun * rng.uniform(0.0, 3.0, level_shape),
        }
    schema = {**RADIATION_INPUTS, **RADIATION_OUTPUTS, "latitude": None}
    ds = xr.Dataset(
        {
            name: (schema[name].dims, value, schema[name].attrs()) if schema[name] else (("column",), value)
            for name, value in values.items()
        },
        attrs={"vertical_order": "surface_first"},
    )
    if vertical_order == "top_first":
        ds = ds.isel(level=slice(None, None, -1), interface=slice(None, None, -1))
        ds.attrs["vertical_order"] = "top_first"
    return ds


@pytest.fixture
def truth() -> xr.Dataset:
    return synthetic_radiation()


def _only_json_types(value) -> bool:
    """True if ``value`` holds only plain python JSON types (np.float64 subclasses float: check exact types)."""
    if isinstance(value, dict):
        return all(type(k) is str and _only_json_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_only_json_types(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


# --- basic reductions -------------------------------------------------------------------------


def test_perfect_prediction_scores_zero_error_and_r2_one(truth):
    t = truth["lw_heating_rate"]
    assert float(mae(t, t, None)) == 0.0
    assert float(rmse(t, t, None)) == 0.0
    assert float(bias(t, t, None)) == 0.0
    assert float(r2(t, t, None)) == 1.0


def test_constant_offset_gives_bias_offset_and_rmse_its_magnitude(truth):
    t = truth["lw_flux_up"]
    per_interface = bias(t, t - 2.5, "column")
    assert per_interface.dims == ("interface",)
    np.testing.assert_allclose(per_interface, -2.5)
    np.testing.assert_allclose(rmse(t, t - 2.5, ("column", "interface")), 2.5)
    np.testing.assert_allclose(mae(t, t - 2.5, ("column", "interface")), 2.5)


def test_r2_is_pooled_one_minus_sse_over_sst():
    truth = xr.DataArray([[1.0, 2.0], [3.0, 4.0]], dims=("column", "level"))
    pred = xr.DataArray([[1.0, 2.0], [3.0, 5.0]], dims=("column", "level"))
    # SSE = 1; SST about the pooled mean 2.5 = 5.
    assert float(r2(truth, pred, ("column", "level"))) == pytest.approx(0.8)
    per_level = r2(truth, pred, "column")
    assert per_level.values[0] == pytest.approx(1.0)
    assert per_level.values[1] == pytest.approx(1.0 - 1.0 / 2.0)


def test_r2_of_constant_truth_is_undefined_not_infinite():
    truth = xr.DataArray([3.0, 3.0, 3.0], dims=("column",))
    assert math.isnan(float(r2(truth, truth + 1.0)))


def test_prediction_is_paired_by_position_whatever_its_dim_order_or_coordinates(truth):
    t = truth["lw_heating_rate"]
    shuffled = (t + 1.0).transpose("level", "column").assign_coords(column=np.arange(48) + 1000)
    np.testing.assert_allclose(bias(t, shuffled, "column"), 1.0)


def test_basic_reductions_name_the_mismatched_dim(truth):
    t = truth["lw_heating_rate"]
    with pytest.raises(InputError, match=r"'column' has size 48 in truth but 47 in pred"):
        rmse(t, t.isel(column=slice(1, None)))


# --- Hellinger --------------------------------------------------------------------------------


def test_hellinger_of_identical_samples_is_zero(truth):
    samples = truth["lw_heating_rate"].values
    assert hellinger_distance(samples, samples, hellinger_bins(samples)) == 0.0


def test_hellinger_of_disjoint_distributions_is_one():
    rng = np.random.default_rng(1)
    low, high = rng.uniform(0.0, 1.0, 500), rng.uniform(2.0, 3.0, 500)
    assert hellinger_distance(low, high, np.linspace(0.0, 3.0, 31)) == pytest.approx(1.0)


def test_hellinger_matches_hand_computed_histograms():
    # p = [1/2, 1/2], q = [1/4, 3/4]: H = sqrt(1 - sqrt(1/8) - sqrt(3/8)).
    expected = math.sqrt(1.0 - math.sqrt(1 / 8) - math.sqrt(3 / 8))
    value = hellinger_distance([0.1, 0.9], [0.1, 0.6, 0.7, 0.8], np.array([0.0, 0.5, 1.0]))
    assert value == pytest.approx(expected)


def test_hellinger_clips_predictions_outside_the_truth_range_into_the_edge_bins():
    bins = hellinger_bins([0.0, 1.0], n_bins=2)
    np.testing.assert_allclose(bins.edges, [0.0, 0.5, 1.0])
    # All of pred lands in the last bin, which holds half of truth.
    assert hellinger_distance([0.0, 1.0], [5.0, 7.0], bins) == pytest.approx(math.sqrt(1.0 - math.sqrt(0.5)))
    assert "clipped into the edge bins" in bins.description


def test_hellinger_is_symmetric_and_bounded():
    rng = np.random.default_rng(2)
    edges = np.linspace(-4.0, 6.0, 41)
    for shift in (0.0, 0.3, 1.0, 3.0, 20.0):
        a, b = rng.normal(0.0, 1.0, 300), rng.normal(shift, 1.5, 300)
        forward, backward = hellinger_distance(a, b, edges), hellinger_distance(b, a, edges)
        assert forward == pytest.approx(backward)
        assert 0.0 <= forward <= 1.0
    assert hellinger_distance(a, b, edges) > 0.99


def test_symlog_bins_are_fine_near_zero_and_coarse_in_the_tails():
    truth = np.array([-300.0, -1.0, 0.5, 1.0, 2.0, 10.0])
    bins = hellinger_bins(truth, n_bins=50, method="symlog")
    widths = np.diff(bins.edges)
    assert bins.edges[0] == -300.0 and bins.edges[-1] == 10.0 and (widths > 0).all()
    near_zero = widths[np.searchsorted(bins.edges, 0.0) - 1]
    assert widths[0] > 20 * near_zero
    # Median of |truth| = (1 + 2) / 2.
    assert "t = 1.5 " in bins.description and bins.description.startswith("symlog")


def test_symlog_threshold_falls_back_to_the_smallest_nonzero_magnitude_when_most_are_zero():
    bins = hellinger_bins([0.0, 0.0, 0.0, 0.0, 0.25, 4.0], method="symlog")
    assert "t = 0.25 (the smallest non-zero |truth|: the 0.5 quantile of |truth| is 0)" in bins.description


def test_bad_hellinger_options_raise_input_error():
    with pytest.raises(InputError, match="method"):
        hellinger_bins([1.0, 2.0], method="quantile")
    with pytest.raises(InputError, match="non-finite"):
        hellinger_distance([1.0, np.nan], [1.0, 2.0], np.array([0.0, 3.0]))


def test_hellinger_by_level_isolates_the_level_that_differs(truth):
    t = truth["lw_heating_rate"]
    pred = t.copy()
    pred[:, 3] += 50.0
    result = hellinger_by_level(t, pred, n_bins=20)
    assert result.by_level.dims == ("level",)
    np.testing.assert_array_equal(np.delete(result.by_level.values, 3), 0.0)
    # The shifted level lies wholly above its truth range: all of it is clipped into the last bin.
    counts, _ = np.histogram(t.values[:, 3], bins=20)
    expected = math.sqrt(1.0 - math.sqrt(counts[-1] / counts.sum()))
    assert result.by_level.values[3] == pytest.approx(expected)
    assert 0.0 < result.pooled < 1.0
    assert result.binning.startswith("linear: 20 bins") and result.by_level.attrs["binning"] == result.binning


# --- radiation metrics ------------------------------------------------------------------------


def test_perfect_radiation_prediction(truth):
    metrics = radiation_metrics(truth, truth.copy(deep=True))
    assert metrics["overall"]["flux_mae_percent"] == 0.0
    for scores in metrics["fluxes"].values():
        assert scores["mae_W_m2"] == 0.0 and scores["r2"] == 1.0
    for scores in metrics["heating_rates"].values():
        assert scores["above_lowest_layer"]["rmse_K_day"] == 0.0
        assert scores["hellinger"]["distance"] == 0.0
        assert scores["hellinger"]["binning"].startswith("symlog")


def test_flux_mae_percent_excludes_night_for_sw(truth):
    day = truth["cos_solar_zenith_angle"].values > 0
    pred = truth.copy(deep=True)
    pred["sw_flux_down"][~day, :] = 500.0  # wrong at night: must not count
    pred["sw_flux_down"][day, :] += 10.0
    metrics = radiation_metrics(truth, pred)
    sw = metrics["fluxes"]["sw_flux_down"]
    mean_abs_day = float(np.abs(truth["sw_flux_down"].values[day]).mean())
    assert sw["columns"] == int(day.sum()) == 32
    assert sw["mae_W_m2"] == pytest.approx(10.0)
    assert sw["bias_W_m2"] == pytest.approx(10.0)
    assert sw["mae_percent"] == pytest.approx(100.0 * 10.0 / mean_abs_day)
    # Overall: error summed over the SW day samples only, divided by all four fluxes' |truth|.
    pooled_truth = sum(
        np.abs(truth[name].values[day if name.startswith("sw") else slice(None)]).sum()
        for name in ("lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down")
    )
    error = 10.0 * day.sum() * truth.sizes["interface"]
    assert metrics["overall"]["flux_mae_percent"] == pytest.approx(100.0 * error / pooled_truth)
    assert metrics["overall"]["lw_flux_mae_percent"] == 0.0
    assert metrics["by_regime"]["night"]["flux_mae_percent"] == 0.0


@pytest.mark.parametrize("order", ["surface_first", "top_first"])
def test_lowest_layer_is_reported_separately_and_kept_out_of_the_headline(order):
    truth = synthetic_radiation(vertical_order=order)
    lowest = 0 if order == "surface_first" else truth.sizes["level"] - 1
    pred = truth.copy(deep=True)
    pred["lw_heating_rate"][:, lowest] += 1000.0
    metrics = radiation_metrics(truth, pred)
    lw = metrics["heating_rates"]["lw_heating_rate"]
    assert lw["lowest_layer"]["rmse_K_day"] == pytest.approx(1000.0)
    assert lw["lowest_layer"]["bias_K_day"] == pytest.approx(1000.0)
    assert lw["above_lowest_layer"]["rmse_K_day"] == 0.0
    assert lw["rmse_by_level_K_day"][lowest] == pytest.approx(1000.0)
    assert sum(lw["rmse_by_level_K_day"]) == pytest.approx(1000.0)
    assert all(entry["lw_heating_rmse_K_day"] == 0.0 for entry in metrics["by_regime"].values())
    assert metrics["overall"]["lw_heating_rmse_K_day"] == 0.0

    everything = radiation_metrics(truth, pred, exclude_lowest_layer=False)
    assert everything["headline_levels"] == "all_levels"
    expected = 1000.0 / math.sqrt(truth.sizes["level"])
    assert everything["overall"]["lw_heating_rmse_K_day"] == pytest.approx(expected)


def test_regime_masks_have_the_constructed_counts(truth):
    counts = {name: int(mask.sum()) for name, mask in regime_masks(truth).items()}
    assert counts == {
        "clear": 24, "cloudy": 24, "day": 32, "night": 16, "tropics": 18, "midlatitudes": 18, "poles": 12,
    }


def test_by_regime_counts_columns_and_skips_sw_at_night(truth):
    by_regime = radiation_metrics(truth, truth)["by_regime"]
    assert {name: entry["columns"] for name, entry in by_regime.items()} == {
        "clear": 24, "cloudy": 24, "day": 32, "night": 16, "tropics": 18, "midlatitudes": 18, "poles": 12,
    }
    assert "sw_flux_mae_percent" not in by_regime["night"]
    assert "sw_heating_rmse_K_day" not in by_regime["night"]
    assert by_regime["day"]["sw_heating_rmse_K_day"] == 0.0


def test_empty_regimes_are_left_out():
    truth = synthetic_radiation()
    truth["latitude"][:] = 5.0
    by_regime = radiation_metrics(truth, truth)["by_regime"]
    assert "tropics" in by_regime and "poles" not in by_regime and "midlatitudes" not in by_regime


def test_regime_error_lands_in_its_regime(truth):
    tropics = regime_masks(truth)["tropics"]
    pred = truth.copy(deep=True)
    pred["lw_flux_up"][tropics, :] += 20.0
    by_regime = radiation_metrics(truth, pred)["by_regime"]
    assert by_regime["tropics"]["lw_flux_mae_percent"] > 0.0
    assert by_regime["poles"]["lw_flux_mae_percent"] == 0.0
    assert by_regime["midlatitudes"]["flux_mae_percent"] == 0.0


def test_prediction_with_fluxes_only_is_evaluated_on_what_it_has(truth):
    pred = truth[["lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down"]]
    metrics = radiation_metrics(truth, pred)
    assert set(metrics["fluxes"]) == {"lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down"}
    assert metrics["heating_rates"] == {}
    assert "lw_heating_rmse_K_day" not in metrics["overall"]
    assert "lw_flux_up" in metrics_table(metrics)


def test_mismatched_sizes_name_the_dim_and_sizes(truth):
    with pytest.raises(InputError, match=r"'column': size 48 in truth but 40 in pred"):
        radiation_metrics(truth, truth.isel(column=slice(0, 40)))
    with pytest.raises(InputError, match=r"'interface': size 9 in truth but 8 in pred"):
        radiation_metrics(truth, truth.isel(interface=slice(0, 8)))


def test_missing_variables_are_named(truth):
    with pytest.raises(InputError, match="pred is missing variable.*sw_flux_up"):
        radiation_metrics(truth, truth.drop_vars("sw_flux_up"))
    with pytest.raises(InputError, match="truth is missing variable.*cloud_fraction"):
        radiation_metrics(truth.drop_vars("cloud_fraction"), truth)


def test_columns_without_latitude_are_scored_without_the_latitude_regimes(truth):
    # A host's columns labelled with `generate radiation --from` carry no latitude (the RCE host's states).
    pred = truth.copy(deep=True)
    pred["lw_flux_up"] = pred["lw_flux_up"] + 2.0
    with_latitude = radiation_metrics(truth, pred)
    without = radiation_metrics(truth.drop_vars("latitude"), pred)
    assert set(without["by_regime"]) == {"clear", "cloudy", "day", "night"}
    assert without["overall"] == with_latitude["overall"]
    assert without["by_regime"]["day"] == with_latitude["by_regime"]["day"]


def test_vertical_order_must_agree(truth):
    pred = truth.copy()
    pred.attrs["vertical_order"] = "top_first"
    with pytest.raises(InputError, match="vertical_order"):
        radiation_metrics(truth, pred)


def test_nan_prediction_is_an_input_error_naming_the_variable(truth):
    pred = truth.copy(deep=True)
    pred["sw_heating_rate"][2, 3] = np.nan
    with pytest.raises(InputError, match="sw_heating_rate.*column 2, level 3"):
        radiation_metrics(truth, pred)


def test_result_is_strict_json_with_none_for_undefined(truth):
    truth = truth.copy(deep=True)
    # A constant truth in the lowest layer makes its R² undefined.
    truth["lw_heating_rate"][:, 0] = -2.0
    pred = truth.copy(deep=True)
    pred["lw_heating_rate"] += 0.1
    metrics = radiation_metrics(truth, pred)
    assert metrics["heating_rates"]["lw_heating_rate"]["lowest_layer"]["r2"] is None
    assert _only_json_types(metrics)
    assert json.loads(json.dumps(metrics, allow_nan=False)) == metrics


def test_metrics_table_shows_the_headline_numbers(truth):
    pred = truth.copy(deep=True)
    pred["lw_heating_rate"] += 0.25
    table = metrics_table(radiation_metrics(truth, pred))
    lines = table.splitlines()
    lw_row = next(line for line in lines if line.startswith("lw_heating_rate "))
    assert "0.2500" in lw_row
    assert any(line.startswith("poles") for line in lines)
    assert "flux MAE %" in table
