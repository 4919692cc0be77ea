"""The calibrated guard: its threshold keeps the calibration columns' error below the target in every dataset, its
regression recovers a known error law, it sends columns outside the calibrated domain to RRTMG, and it is bound to
the artifact it was calibrated for. Also the stress set it calibrates on and the random grid family."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import train_tiny_radiation_run

from subgrid.core.errors import InputError
from subgrid.physics.schema import RADIATION_INPUTS
from subgrid.radiation.columns import ColumnSamplerConfig
from subgrid.radiation.columns.grid import bottom_layer_thickness_Pa, random_grids
from subgrid.radiation.emulator import Emulator
from subgrid.radiation.calibration import calibrate_guard
from subgrid.radiation.guard import GUARD_FILE, _non_decreasing, choose_threshold, fit_error_model, regressors
from subgrid.radiation.shifted_sets import CALIBRATION_SETS, SetContext, SuiteConfig, generate_suite

N_LEVELS = 12
SAMPLER = ColumnSamplerConfig(n_levels=N_LEVELS)


def _arrays(ds) -> dict:
    return {name: ds[name].values for name in RADIATION_INPUTS if name in ds}


def test_threshold_keeps_every_group_below_the_target():
    rng = np.random.default_rng(0)
    n = 2000
    error = np.exp(rng.normal(-1.5, 0.8, n))  # K/day, a long tail
    predicted = np.log(error) + rng.normal(0.0, 0.3, n)  # a good but imperfect prediction
    day = rng.random(n) < 0.5
    groups = (np.arange(n) >= 1600).astype(int)
    error[groups == 1] *= 2.0  # a harder dataset of 400 columns
    threshold, report = choose_threshold(predicted, error, error * day, day, 0.4, groups)
    kept = predicted <= threshold
    for group in (0, 1):
        member = kept & (groups == group)
        assert np.sqrt(np.mean(error[member] ** 2)) < 0.4
    pooled, _ = choose_threshold(predicted, error, error * day, day, 0.4)
    assert threshold <= pooled  # pooling would hide the hard dataset behind the easy one
    easy, hard = report["datasets"]  # the hard dataset is the one the every-dataset rule answers to
    assert hard["sent_fraction_alone"] == pytest.approx(report["sent_fraction_dataset_rule"])
    assert easy["sent_fraction_alone"] < hard["sent_fraction_alone"]
    assert hard["all_lw_heating_rmse_K_day"] > 0.4 > hard["kept_lw_heating_rmse_K_day"]
    assert hard["sent_fraction"] == pytest.approx(1.0 - kept[groups == 1].mean())
    assert report["sent_fraction"] == pytest.approx(1.0 - kept.mean())
    assert 0.0 < report["sent_fraction"] < 0.6
    # a target no column meets: everything is sent
    threshold, report = choose_threshold(predicted, error + 5.0, error * day, day, 0.4)
    assert threshold == -np.inf and report["sent_fraction"] == 1.0


def test_per_column_rule_sends_a_kind_of_column_every_dataset_averages_away():
    """Every dataset's RMSE is below the target, but the 10 % of columns with the largest predicted error are wrong
    (1 K/day): the dataset rule keeps them all, the per-column rule sends them and little else."""
    rng = np.random.default_rng(3)
    n = 8000
    predicted = rng.normal(0.0, 1.0, n)
    bad = predicted > np.quantile(predicted, 0.9)
    error = np.where(bad, 1.0, 0.2) * np.exp(rng.normal(0.0, 0.1, n))
    day = np.ones(n, dtype=bool)
    assert np.sqrt(np.mean(error**2)) < 0.5
    _, dataset_only = choose_threshold(predicted, error, error, day, 0.5, per_column=False)
    assert dataset_only["sent_fraction"] == 0.0
    threshold, report = choose_threshold(predicted, error, error, day, 0.5)
    sent = predicted > threshold
    assert report["sent_fraction_dataset_rule"] == 0.0 and report["sent_fraction"] == pytest.approx(sent.mean())
    assert sent[bad].mean() > 0.95 and sent[~bad].mean() < 0.03
    # no kind of column is wrong: nothing is sent
    _, fine = choose_threshold(predicted, np.full(n, 0.2), np.full(n, 0.2), day, 0.5)
    assert fine["sent_fraction"] == 0.0


def test_per_column_rule_tests_lw_and_sw_each_as_the_target_does():
    """Columns wrong in LW by 0.55 K/day or in SW by 0.55 (never both) among columns wrong by 0.1: each RMSE is
    0.40 where they lie, below the 0.5 target, though their larger error, max(LW, SW), has an RMSE of 0.55 there.
    They are kept; once their LW alone is above the target, they are sent. SW counts daytime columns only."""
    rng = np.random.default_rng(5)
    n = 8000
    predicted = rng.normal(0.0, 1.0, n)
    top = predicted > np.quantile(predicted, 0.8)
    lw_side = rng.random(n) < 0.5
    lw = np.where(top & lw_side, 0.55, 0.1)
    sw = np.where(top & ~lw_side, 0.55, 0.1)
    day = np.ones(n, dtype=bool)
    _, report = choose_threshold(predicted, lw, sw, day, 0.5)
    assert report["sent_fraction"] == 0.0 and report["kept_lw_heating_rmse_K_day"] < 0.5
    _, report = choose_threshold(predicted, np.where(top, 0.7, 0.1), sw, day, 0.5)
    assert 0.18 < report["sent_fraction_column_rule"] < 0.22
    # SW errors at night are zero by construction and not counted: a night column cannot dilute a bad day bin
    night = rng.random(n) < 0.5
    _, report = choose_threshold(predicted, np.full(n, 0.1), np.where(top & ~night, 0.6, 0.0), ~night, 0.5)
    assert 0.18 < report["sent_fraction_column_rule"] < 0.22


def test_non_decreasing_fit_pools_adjacent_violators():
    np.testing.assert_allclose(_non_decreasing(np.array([1.0, 3.0, 2.0, 4.0]), np.ones(4)), [1.0, 2.5, 2.5, 4.0])
    np.testing.assert_allclose(_non_decreasing(np.array([5.0, 1.0, 1.0]), np.array([1.0, 1.0, 2.0])), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(_non_decreasing(np.array([0.0, 1.0, 2.0]), np.ones(3)), [0.0, 1.0, 2.0])


def test_regressors_hold_descriptors_to_the_calibration_range():
    low, high = np.array([0.0, -1.0]), np.array([1.0, 1.0])
    terms = regressors(np.array([[0.5, -3.0], [4.0, 0.5]]), low, high)
    np.testing.assert_allclose(terms, [[0.5, -1.0, 0.25, 1.0], [1.0, 0.5, 1.0, 0.25]])


def test_error_model_recovers_a_log_linear_law():
    rng = np.random.default_rng(1)
    descriptors = rng.uniform(0.0, 2.0, (5000, 3))
    error = np.exp(-2.0 + 1.5 * descriptors[:, 0] + 0.0 * descriptors[:, 1] - 0.5 * descriptors[:, 2]) - 0.01
    coefficients = fit_error_model(descriptors, error)
    np.testing.assert_allclose(coefficients, [-2.0, 1.5, 0.0, -0.5], atol=0.02)


def test_stress_set_shifts_about_half_the_columns_each_way_at_random_strengths():
    context = SetContext(400, 5, SAMPLER)
    base = context.base_columns()
    stress = CALIBRATION_SETS["stress"].build(context, np.random.default_rng(0))
    warming = stress["surface_temperature"].values - base["surface_temperature"].values
    assert 0.3 < (warming != 0).mean() < 0.7 and np.abs(warming).max() <= 8.0
    co2 = stress["co2_mole_fraction"].values
    changed = co2 != base["co2_mole_fraction"].values
    assert 0.3 < changed.mean() < 0.7 and co2[changed].min() >= 100e-6 and co2[changed].max() <= 3000e-6
    ozone = stress["ozone_mole_fraction"].values[:, 0] / base["ozone_mole_fraction"].values[:, 0]
    assert 0.3 <= ozone.min() and ozone.max() <= 3.0
    with pytest.raises(InputError, match="unknown set"):
        SuiteConfig(sets=("stres",))
    assert "stress" not in SuiteConfig().sets  # a calibration set is made only when named


def test_random_grids_are_valid_within_their_ranges_and_reproducible():
    grids = random_grids(40, np.random.default_rng(3), (24, 110), (8.0, 300.0), (500.0, 3000.0))
    assert grids == random_grids(40, np.random.default_rng(3), (24, 110), (8.0, 300.0), (500.0, 3000.0))
    for grid in grids:
        ColumnSamplerConfig(**grid)  # every one is a valid sampler grid
        assert 24 <= grid["n_levels"] <= 110 and 8.0 <= grid["top_pressure_Pa"] <= 300.0
        assert grid["bottom_layer_thickness_Pa"] < bottom_layer_thickness_Pa(0.0, grid["n_levels"], grid["top_pressure_Pa"])
    assert len({g["n_levels"] for g in grids}) > 20
    with pytest.raises(ValueError, match="ranges must be ordered"):
        random_grids(2, np.random.default_rng(0), (50, 30))


@pytest.mark.slow
def test_generate_grids_writes_one_dataset_per_grid_and_resumes(tmp_path):
    from typer.testing import CliRunner

    from subgrid.cli.main import app
    from subgrid.radiation.training_data import open_radiation_dataset

    arguments = ["generate", "grids", "--out", str(tmp_path / "family"), "--grids", "2", "--columns", "20",
                 "--levels", "10:16", "--workers", "1", "--chunk-size", "20", "--no-progress"]  # fmt: skip
    first = CliRunner().invoke(app, arguments)
    assert first.exit_code == 0, first.output
    paths = sorted((tmp_path / "family").glob("grid_*.zarr"))
    assert len(paths) == 2 and first.output.count("(written)") == 2
    levels = [open_radiation_dataset(path).sizes["level"] for path in paths]
    assert all(10 <= n <= 16 for n in levels)
    again = CliRunner().invoke(app, arguments)
    assert again.exit_code == 0 and again.output.count("(kept)") == 2
    bad = CliRunner().invoke(app, [*arguments[:4], "--levels", "ten"])
    assert bad.exit_code != 0 and "--levels: expected LOW:HIGH" in bad.output


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A tiny trained run, its TorchScript artifact, and a guard calibrated on a stress set and held-out columns."""
    from subgrid.radiation.export import export_run

    root = tmp_path_factory.mktemp("guard")
    train_tiny_radiation_run(root, N_LEVELS, epochs=2)
    artifact = export_run(root / "run", root / "artifact", "torchscript")
    calibration = root / "calibration"
    generate_suite(calibration, SuiteConfig.like(root / "run", n_columns=120, seed=77, sets=("stress", "another_seed")),
                   progress=False)  # fmt: skip
    record = calibrate_guard(artifact, root / "run", [calibration / "stress.zarr", calibration / "another_seed.zarr"],
                             target_rmse_K_day=3.0)  # fmt: skip
    return root, artifact, record


@pytest.mark.slow
def test_calibrated_guard_replaces_min_max_and_sends_unknown_novelty(calibrated, tmp_path):
    from subgrid.radiation.columns import sample_columns

    root, artifact, record = calibrated
    assert record["calibration"]["columns"] == 240 and len(record["calibration"]["data"]) == 2
    calibration = record["calibration"]  # the threshold is the stricter rule's
    assert calibration["sent_fraction"] == max(calibration["sent_fraction_dataset_rule"], calibration["sent_fraction_column_rule"])
    emulator = Emulator.load(artifact, threads=1)
    assert emulator.calibrated_guard is not None
    ordinary = sample_columns(30, np.random.default_rng(8), SAMPLER)
    arrays = _arrays(ordinary)
    ordinary_sent = emulator.out_of_distribution(arrays)
    assert ordinary_sent.mean() < 0.5
    predicted = emulator.calibrated_guard.predicted_error(*emulator._inputs(arrays))
    assert np.isfinite(predicted).all() and (predicted > -0.01).all()
    # A top at 1 hPa on the same level count: pressures the calibration never had -> outside the domain.
    other_top = sample_columns(30, np.random.default_rng(8), ColumnSamplerConfig(n_levels=N_LEVELS, top_pressure_Pa=100.0,
                                                                                 bottom_layer_thickness_Pa=1000.0))  # fmt: skip
    assert emulator.out_of_distribution(_arrays(other_top)).all()
    guarded = emulator.guarded()
    guarded.tendencies(_arrays(other_top))
    assert guarded.counts.out_of_distribution_columns == 30
    with pytest.raises(InputError, match="missing variable"):
        emulator.out_of_distribution({k: v for k, v in arrays.items() if k != "ozone_mole_fraction"})


@pytest.mark.slow
def test_an_edited_or_foreign_guard_is_refused(calibrated, tmp_path):
    import shutil

    from subgrid.radiation.export import export_run

    root, artifact, _ = calibrated
    copy = tmp_path / "edited"
    shutil.copytree(artifact, copy)
    record = json.loads((copy / GUARD_FILE).read_text())
    record["threshold_log_error"] += 5.0  # widening the threshold would silently keep bad columns
    (copy / GUARD_FILE).write_text(json.dumps(record))
    with pytest.raises(InputError, match="guard.json: content does not match its recorded sha256"):
        Emulator.load(copy, threads=1)
    assert Emulator.load(copy, threads=1, ood_guard=False).calibrated_guard is None
    other = export_run(root / "run", tmp_path / "other", "onnx")
    shutil.copy(artifact / GUARD_FILE, other / GUARD_FILE)
    with pytest.raises(InputError, match="calibrated for another export"):
        Emulator.load(other, threads=1)
    with pytest.raises(InputError, match="not an exported emulator"):
        calibrate_guard(tmp_path / "nothing", root / "run", [root / "train.zarr"])
    # A guard of the first version (novelty descriptors alone, linear), sealed as it was: refused, not misread.
    from subgrid.radiation.export import INTEGRITY, sidecar_sha256

    old = tmp_path / "version1"
    shutil.copytree(artifact, old)
    record = json.loads((old / GUARD_FILE).read_text())
    del record["version"]
    record[INTEGRITY]["guard_sha256"] = sidecar_sha256(record)
    (old / GUARD_FILE).write_text(json.dumps(record))
    with pytest.raises(InputError, match="guard of version 1 .* recalibrate"):
        Emulator.load(old, threads=1)


@pytest.mark.slow
def test_the_cli_calibrates_on_a_directory_of_datasets(calibrated, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from subgrid.cli.main import app

    root, artifact, _ = calibrated
    copy = tmp_path / "artifact"
    shutil.copytree(artifact, copy)
    (copy / GUARD_FILE).unlink()
    result = CliRunner().invoke(app, ["guard", "calibrate", "--artifact", str(copy), "--run", str(root / "run"),
                                      "--data", str(root / "calibration"), "--target-rmse", "3.0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((copy / GUARD_FILE).read_text())
    assert record["calibration"]["columns"] == 240 and len(record["calibration"]["data"]) == 2  # both sets of the dir
    for dataset in record["calibration"]["data"]:  # each dataset's own line: what is sent of it and kept
        assert 0.0 <= dataset["sent_fraction"] <= 1.0 and dataset["all_lw_heating_rmse_K_day"] > 0
    binds = max(d["sent_fraction_alone"] for d in record["calibration"]["data"]) > 0
    assert ("the every-dataset rule is set by" in result.output) == binds
    # an empty dataset is refused by name, and the guard already there is left as it was
    import xarray as xr

    from subgrid.core.chunked import write_zarr_atomic

    empty = write_zarr_atomic(xr.open_zarr(root / "calibration" / "stress.zarr").isel(column=slice(0, 0)).load(),
                              tmp_path / "empty.zarr")  # fmt: skip
    before = (copy / GUARD_FILE).read_bytes()
    refused = CliRunner().invoke(app, ["guard", "calibrate", "--artifact", str(copy), "--run", str(root / "run"),
                                       "--data", str(empty), "--data", str(root / "calibration" / "stress.zarr")])  # fmt: skip
    assert refused.exit_code != 0 and "empty.zarr: holds no columns" in refused.output
    assert (copy / GUARD_FILE).read_bytes() == before


@pytest.mark.slow
def test_suite_reports_what_the_guard_sends_and_the_error_of_what_it_keeps(calibrated, tmp_path):
    from subgrid.radiation.generalization import evaluate_suite

    root, artifact, _ = calibrated
    suite = tmp_path / "suite"
    generate_suite(suite, SuiteConfig.like(root / "run", n_columns=20, sets=("another_seed", "top_1hPa")), progress=False)
    rows = evaluate_suite(artifact, suite, out=tmp_path / "out", progress=False)["rows"]
    assert {row["guard"] for row in rows} == {"calibrated"}
    assert rows[0]["guard_settings"]["version"] == 2 and rows[0]["guard_settings"]["target_rmse_K_day"] == 3.0
    assert rows[1]["sent_to_rrtmg_fraction"] == 1.0 and "kept_flux_mae_percent" not in rows[1]
    assert rows[0]["sent_to_rrtmg_fraction"] < 1.0 and rows[0]["kept_flux_mae_percent"] >= 0.0
    table = (tmp_path / "out" / "comparison.md").read_text()
    assert "sent to RRTMG" in table and "(calibrated)" in table
