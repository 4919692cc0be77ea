"""The generalisation suite: each shifted set is what its name says, sets are written resumably, and one table
scores an emulator on all of them, refusing the level counts it cannot take."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from conftest import train_tiny_radiation_run

from subgrid.cli.main import app
from subgrid.core.errors import InputError
from subgrid.physics.constants import DRY_AIR_GAS_CONSTANT_J_PER_KG_K, EPSILON, LATENT_HEAT_VAPORIZATION_J_PER_KG
from subgrid.physics.rrtmg import RRTMGConfig
from subgrid.physics.thermodynamics import saturation_mole_fraction, vapour_mole_fraction
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.radiation.generalization import evaluate_suite, set_scores, suite_sets
from subgrid.radiation.shifted_sets import (
    SET_ATTR,
    SHIFTED_SETS,
    SetContext,
    SuiteConfig,
    generate_suite,
    label_with_mcica,
    warmer,
)

N_LEVELS = 12
SAMPLER = ColumnSamplerConfig(n_levels=N_LEVELS)
runner = CliRunner()


def _build(name: str, n_columns: int = 40, sampler: ColumnSamplerConfig = SAMPLER) -> xr.Dataset:
    return SHIFTED_SETS[name].build(SetContext(n_columns, 3, sampler), np.random.default_rng(0))


def _relative_humidity(ds: xr.Dataset) -> np.ndarray:
    saturation = saturation_mole_fraction(ds["air_temperature"].values, ds["air_pressure"].values)
    return vapour_mole_fraction(ds["specific_humidity"].values) / saturation


def test_warmer_set_is_4K_warmer_at_constant_relative_humidity_and_moister_by_clausius_clapeyron():
    base, warm = _build("another_seed"), _build("warmer_4K")
    for name in ("air_temperature", "surface_temperature"):
        np.testing.assert_allclose(warm[name].values - base[name].values, 4.0, atol=1e-9)
    # RH is defined where saturation is a mole fraction below 1 (not at the lowest pressures aloft).
    defined = saturation_mole_fraction(warm["air_temperature"].values, warm["air_pressure"].values) < 1.0
    np.testing.assert_allclose(_relative_humidity(warm)[defined], np.minimum(_relative_humidity(base), 1.0)[defined],
                               rtol=1e-9)  # fmt: skip
    # Clausius-Clapeyron at the lowest layer: d ln e_s / dT = L / (R_v T^2), about 7 %/K over water.
    t = base["air_temperature"].values[:, 0] + 2.0
    over_water = t > 280.0
    assert over_water.sum() >= 10
    per_kelvin = (warm["specific_humidity"].values[:, 0] / base["specific_humidity"].values[:, 0]) ** 0.25 - 1.0
    vapour_gas_constant = DRY_AIR_GAS_CONSTANT_J_PER_KG_K / EPSILON
    clausius_clapeyron = LATENT_HEAT_VAPORIZATION_J_PER_KG / (vapour_gas_constant * t**2)
    np.testing.assert_allclose(per_kelvin[over_water], clausius_clapeyron[over_water], rtol=0.05)
    assert 0.05 < per_kelvin[over_water].mean() < 0.08
    # never drier; unchanged (to round-off) where saturation does not bind, aloft
    assert (warm["specific_humidity"] >= base["specific_humidity"] * (1.0 - 1e-12)).all()


def test_warmer_needs_the_variables_it_shifts():
    with pytest.raises(InputError, match="specific_humidity"):
        warmer(_build("another_seed").drop_vars("specific_humidity"))


def test_co2_and_ozone_sets_lie_outside_the_sampler_range():
    sampler = ColumnSamplerConfig()  # 60 levels resolve the ozone peak
    sampled = sample_columns(2000, 11, sampler)  # the sampler's range, read off many of its columns
    co2_low = _build("co2_low", sampler=sampler)["co2_mole_fraction"].values
    co2_high = _build("co2_high", sampler=sampler)["co2_mole_fraction"].values
    assert (co2_low < sampler.co2_min_mol_per_mol).all() and (co2_high > 2 * sampler.co2_max_mol_per_mol).all()
    assert co2_low.max() < sampled["co2_mole_fraction"].min() and co2_high.min() > sampled["co2_mole_fraction"].max()
    peak = sampled["ozone_mole_fraction"].max("level").values
    assert (_build("ozone_low", sampler=sampler)["ozone_mole_fraction"].max("level").values < peak.min()).all()
    assert (_build("ozone_high", sampler=sampler)["ozone_mole_fraction"].max("level").values > peak.max()).all()
    base = _build("another_seed")
    for name in ("co2_low", "ozone_high"):  # only the gas moves
        shifted = _build(name)
        same = [v for v in base.data_vars if v not in ("co2_mole_fraction", "ozone_mole_fraction")]
        xr.testing.assert_identical(shifted[same], base[same])


def test_grid_sets_have_their_level_counts_tops_and_surfaces_down_to_500_hPa():
    sampler = ColumnSamplerConfig()  # the suite's default base grid: 60 levels, top 20 Pa
    assert _build("levels_30", sampler=sampler).sizes["level"] == 30
    assert _build("levels_90", sampler=sampler).sizes["level"] == 90
    for name, top_Pa, bottom_Pa in (("top_1hPa", 100.0, 1000.0), ("top_0p05hPa", 5.0, 2500.0)):
        ds = _build(name, sampler=sampler)
        p = ds["air_pressure_on_interface"].values
        assert ds.sizes["level"] == 60 and (p[:, -1] == top_Pa).all()
        # the lowest layer is bottom_Pa thick for a 101 325 Pa surface, thinner in proportion over lower ones
        sea_level = p[:, 0] > 98_000.0
        assert sea_level.sum() >= 10
        np.testing.assert_allclose((p[sea_level, 0] - p[sea_level, 1]) * 101325.0 / p[sea_level, 0], bottom_Pa,
                                   rtol=0.01)  # fmt: skip
    surface_Pa = _build("high_ground", sampler=sampler)["air_pressure_on_interface"].values[:, 0]
    assert 45_000.0 < surface_Pa.min() < 52_000.0 and surface_Pa.max() > 90_000.0
    assert (_build("high_ground")["surface_type"] != 0).all()  # land (or snow) only: no ocean


def test_standard_set_perturbs_the_three_standard_atmospheres():
    ds = _build("standard_perturbed", n_columns=30)
    assert ds.sizes == {"column": 30, "level": N_LEVELS, "interface": N_LEVELS + 1}
    assert (ds["cloud_fraction"] == 0).all()  # the AFGL tables are clear sky
    assert len(np.unique(ds["latitude"].values)) == 3
    temperature = ds["air_temperature"].values.reshape(10, 3, N_LEVELS)  # in turn: ten of each atmosphere
    assert (temperature.std(axis=0) > 0.5).all()


def test_unknown_set_and_missing_host_file_are_named(tmp_path):
    with pytest.raises(InputError, match="unknown set.*'warmer_5K'"):
        SuiteConfig(sets=("another_seed", "warmer_5K"))
    with pytest.raises(InputError, match=f"{tmp_path / 'missing.nc'}: no such file"):
        SuiteConfig(hosts={"gcm": str(tmp_path / "missing.nc")}).specs()
    with pytest.raises(InputError, match=f"{tmp_path / 'none'}: no such suite directory"):
        suite_sets(tmp_path / "none")
    with pytest.raises(InputError, match="holds no suite set"):
        suite_sets(tmp_path)


def test_a_run_trained_on_a_hosts_columns_gets_the_default_sampler_on_its_levels(tmp_path):
    # `generate radiation --from` data has no sampler: the run's model.json records sampler_settings null.
    run = tmp_path / "run"
    run.mkdir()
    rrtmg = RRTMGConfig(solar_constant_W_per_m2=1361.0)
    (run / "model.json").write_text(json.dumps({"n_levels": N_LEVELS, "training_data": {
        "sampler_settings": None, "rrtmg_settings": json.dumps(rrtmg.to_dict()), "mcica_samples": "4"}}))
    config = SuiteConfig.like(run, sets=("another_seed",))
    assert config.sampler == SAMPLER and config.rrtmg == rrtmg and config.mcica_samples == 4
    (run / "model.json").write_text(json.dumps({"n_levels": None, "training_data": {"sampler_settings": None}}))
    assert SuiteConfig.like(run).sampler == ColumnSamplerConfig()  # grid-agnostic: the default grid
    (run / "model.json").write_text(json.dumps({"n_levels": N_LEVELS, "training_data": {"sampler_settings": "{"}}))
    with pytest.raises(InputError, match="sampler or RRTMG settings cannot be read"):
        SuiteConfig.like(run)


def _host_file(tmp_path):
    path = tmp_path / "rce_states.nc"
    sample_columns(30, 77, SAMPLER).drop_vars("latitude").to_netcdf(path)
    return path


def test_cli_writes_the_sets_and_resumes(tmp_path):
    host, out = _host_file(tmp_path), tmp_path / "suite"
    args = ["generate", "suite", "--out", str(out), "--columns", "12", "--levels", str(N_LEVELS), "--sets",
            "another_seed,levels_30", "--hosts", f"rce={host}", "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 set(s) written" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["another_seed.zarr", "host_rce.zarr", "levels_30.zarr"]
    host_set = xr.open_zarr(out / "host_rce.zarr")
    assert host_set.sizes["column"] == 12 and "lw_heating_rate" in host_set
    assert json.loads(host_set.attrs[SET_ATTR])["spec"]["path"] == str(host.resolve())
    assert xr.open_zarr(out / "levels_30.zarr").sizes["level"] == 30
    stamp = (out / "another_seed.zarr" / ".zattrs").stat().st_mtime_ns

    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 set(s) written" in again.output and "3 already there" in again.output
    assert (out / "another_seed.zarr" / ".zattrs").stat().st_mtime_ns == stamp

    other = runner.invoke(app, [*args, "--seed", "5"])  # other settings: refused before any work
    assert other.exit_code == 2
    assert f"{out / 'another_seed.zarr'}: already exists (pass --overwrite" in other.output
    unknown = runner.invoke(app, ["generate", "suite", "--out", str(out), "--sets", "nope"])
    assert unknown.exit_code == 2 and "unknown set(s) 'nope'" in unknown.output


def test_labels_match_rrtmg_chunk_by_chunk():
    """A set is labelled as a generated dataset is: the same McICA seed per chunk, whatever the set."""
    columns = sample_columns(8, 5, SAMPLER)
    whole = label_with_mcica(columns, RRTMGConfig(), seed=4, samples=1, chunk_size=8, progress=False)
    again = label_with_mcica(columns, RRTMGConfig(), seed=4, samples=1, chunk_size=8, progress=False)
    xr.testing.assert_identical(whole, again)
    assert np.isfinite(whole["lw_heating_rate"]).all() and (whole["sw_flux_down"] >= 0).all()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A ResCNN trained for one epoch on 240 sampled 12-level columns (seconds)."""
    return train_tiny_radiation_run(tmp_path_factory.mktemp("suite_run"), N_LEVELS)


@pytest.mark.slow
def test_suite_table_scores_every_set_and_refuses_other_level_counts(tiny_run, tmp_path):
    suite, results = tmp_path / "suite", tmp_path / "generalization.jsonl"
    config = SuiteConfig.like(tiny_run, n_columns=16, sets=("another_seed", "warmer_4K", "levels_30", "high_ground"))
    assert config.sampler == SAMPLER  # the run's training data's settings
    generate_suite(suite, config, progress=False)
    result = runner.invoke(app, ["evaluate", "--run", str(tiny_run), "--suite", str(suite), "--results", str(results)])
    assert result.exit_code == 0, result.output

    out = tiny_run / "evaluation" / "suite_suite"
    table = (out / "comparison.md").read_text()
    rows = json.loads((out / "suite_metrics.json").read_text())["rows"]
    assert [row["set"] for row in rows] == ["another_seed", "warmer_4K", "levels_30", "high_ground"]
    for row in rows:
        assert f"| {row['set']} | 16 |" in table
    assert "| levels_30 | 16 | refused: 30 levels; the model takes 12 |" in table
    scored = [row for row in rows if row["refused"] is None]
    assert len(scored) == 3
    for row in scored:
        for key in ("flux_mae_percent", "lw_heating_rmse_above_10hPa_K_day", "sw_heating_rmse_below_10hPa_K_day",
                    "olr_bias_W_m2"):  # fmt: skip
            assert np.isfinite(row[key]), key
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["set"] for line in lines] == [row["set"] for row in rows]
    assert {line["model"] for line in lines} == {"rescnn"} and lines[2]["refused"].startswith("30 levels")

    evaluate_suite(tiny_run, suite, results=results, progress=False)  # rerun: replaces its own output, appends
    assert len(results.read_text().splitlines()) == 2 * len(rows)


def test_set_scores_split_heating_at_10_hPa_and_are_zero_for_a_perfect_emulator(tmp_path):
    truth = label_with_mcica(sample_columns(6, 2, SAMPLER), RRTMGConfig(), 0, 1, 6, progress=False)
    perfect = set_scores(truth, truth)
    assert perfect["flux_mae_percent"] == 0 and perfect["olr_bias_W_m2"] == 0
    off = truth.copy()
    off["lw_heating_rate"] = truth["lw_heating_rate"] + xr.where(truth["air_pressure"] < 1000.0, 2.0, 0.0)
    scores = set_scores(truth, off)
    assert scores["lw_heating_rmse_above_10hPa_K_day"] == pytest.approx(2.0)
    assert scores["lw_heating_rmse_below_10hPa_K_day"] == 0.0
    above = (truth["air_pressure"] < 1000.0).values.mean()
    assert scores["lw_heating_rmse_all_levels_K_day"] == pytest.approx(2.0 * np.sqrt(above))
    assert perfect["lw_heating_rmse_top_layer_K_day"] == 0.0 and scores["lw_heating_bias_top_layer_K_day"] == pytest.approx(2.0)
    # the top layer alone, in either vertical order: the layer under the lowest-pressure interface
    for flip in (False, True):
        base = truth.isel(level=slice(None, None, -1), interface=slice(None, None, -1)) if flip else truth
        base.attrs["vertical_order"] = "top_first" if flip else "surface_first"
        top = int(np.argmin(base["air_pressure"].values[0]))
        warm = base.copy()
        warm["lw_heating_rate"] = base["lw_heating_rate"] + xr.where(base["level"] == base["level"][top], 3.0, 0.0)
        scores = set_scores(base, warm)
        assert scores["lw_heating_bias_top_layer_K_day"] == pytest.approx(3.0)
        assert scores["lw_heating_rmse_top_layer_K_day"] == pytest.approx(3.0)
        assert scores["lw_heating_rmse_all_levels_K_day"] == pytest.approx(3.0 / np.sqrt(base.sizes["level"]))


@pytest.mark.slow
def test_an_exported_artifact_is_scored_with_the_share_of_columns_outside_its_training_range(tiny_run, tmp_path):
    from subgrid.radiation.export import export_run

    artifact = export_run(tiny_run, tmp_path / "artifact", "torchscript")
    suite = tmp_path / "suite"
    generate_suite(suite, SuiteConfig.like(tiny_run, n_columns=16, sets=("another_seed", "co2_high")), progress=False)
    with pytest.raises(InputError, match=r"out \(--out\): needed for an exported artifact"):
        evaluate_suite(artifact, suite, progress=False)
    rows = evaluate_suite(artifact, suite, out=tmp_path / "out", progress=False)["rows"]
    from_run = evaluate_suite(tiny_run, suite, out=tmp_path / "out_run", progress=False)["rows"]
    assert rows[0]["flux_mae_percent"] == pytest.approx(from_run[0]["flux_mae_percent"], rel=1e-3)
    # every co2_high column has CO2 above anything the training data held
    assert rows[1]["outside_training_range_fraction"] == 1.0
    assert rows[0]["outside_training_range_fraction"] < 1.0
    assert "outside_training_range_fraction" not in from_run[0]
