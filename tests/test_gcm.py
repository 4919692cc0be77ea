"""The 3-D moist GCM host: budgets, restarts, the contract (physics as emulator), the crash guard, bad inputs.

Small runs at T21 with 10 levels (a step is ~0.1 s plus ~0.5 s per radiation call).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from conftest import PhysicsAsEmulator
from subgrid.core.contract import Guarded
from subgrid.core.errors import InputError
from subgrid.hosts.gcm.config import GCMConfig
from subgrid.hosts.gcm.model import GCM, ModelCrash
from subgrid.hosts.gcm.restart import load_restart, save_restart
from subgrid.hosts.gcm.run import RunSettings, open_history, run_gcm
from subgrid.physics.rrtmg import RRTMG
from subgrid.physics.water import column_water_kg_per_m2

pytestmark = pytest.mark.slow

CONFIG = GCMConfig(levels=10, radiation_every_steps=3)
#: 1-hour history, 2-hour restarts: two restart intervals in 12 steps.
SETTINGS = RunSettings(output_every_hours=1.0, restart_every_days=1.0 / 12.0, harvest_every_hours=1.0, harvest_fraction=0.1)
SPECTRAL = ("vorticity", "divergence", "temperature_variation", "log_surface_pressure")


def _state_tensors(model: GCM) -> dict[str, torch.Tensor]:
    state = model.state
    return {**{name: getattr(state, name) for name in SPECTRAL}, "q": state.tracers["specific_humidity"]}


def _assert_same_model(a: GCM, b: GCM) -> None:
    for name, tensor in _state_tensors(a).items():
        assert torch.equal(tensor, _state_tensors(b)[name]), name
    np.testing.assert_array_equal(a.memory.cloud_condensate, b.memory.cloud_condensate)
    np.testing.assert_array_equal(a.memory.cloud_base_mass_flux, b.memory.cloud_base_mass_flux)
    assert a.step_count == b.step_count


def test_global_dry_mass_and_water_budgets_close_every_step():
    model = GCM(CONFIG, RRTMG())
    for _ in range(7):
        budgets = model.step()["budgets"]
        assert budgets["dry_mass_residual"] < 1e-6, budgets
        assert budgets["water_budget_residual"] < 1e-6, budgets
        # the fixers correct the spectral transport by little: they are not what makes the model work
        assert budgets["mass_fix"] < 1e-4 and budgets["water_fix"] < 1e-3, budgets


def test_column_physics_closes_each_columns_water_budget():
    model = GCM(CONFIG, RRTMG())
    for _ in range(3):
        model.step()
    columns = model.column_state()
    columns["specific_humidity"] = np.maximum(columns["specific_humidity"], 0.0)  # no filling: columns are on their own
    dt = CONFIG.time_step_s
    tendencies, memory, diagnostics, _ = model.physics.step(columns, model.memory, model.step_count,
                                                            model.dynamics.area_weight)  # fmt: skip
    interfaces = columns["air_pressure_on_interface"]
    change = column_water_kg_per_m2(dt * tendencies["specific_humidity"] + memory.cloud_condensate
                                    - model.memory.cloud_condensate, interfaces)  # fmt: skip
    expected = dt * (diagnostics["evaporation"] - diagnostics["convective_precipitation"]
                     - diagnostics["large_scale_precipitation"])  # fmt: skip
    water = column_water_kg_per_m2(columns["specific_humidity"], interfaces)
    np.testing.assert_allclose(change, expected, rtol=0, atol=1e-10 * water.max())
    assert np.abs(expected).max() > 1e-4 * water.max()  # the step moves real water
    assert (diagnostics["convective_precipitation"] >= -1e-12).all() and (diagnostics["large_scale_precipitation"] >= 0).all()


def test_physics_as_emulator_reproduces_the_physics_run_bit_for_bit():
    physics = GCM(CONFIG, RRTMG())
    emulator = PhysicsAsEmulator(RRTMG())
    guarded = Guarded(emulator, RRTMG())
    coupled = GCM(CONFIG, guarded)
    for _ in range(7):
        physics.step()
        coupled.step()
    _assert_same_model(physics, coupled)
    assert emulator.calls == 3 and guarded.counts.columns == 3 * physics.dynamics.ncol


def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, monkeypatch):
    import subgrid.hosts.gcm.run as run_module

    whole = run_gcm(tmp_path / "whole", 1.0 / 6.0, RRTMG(), CONFIG, settings=SETTINGS, progress=False)
    assert whole.crash is None and whole.end_day == pytest.approx(1.0 / 6.0)

    original = run_module._interval
    calls = {"n": 0}

    def interrupted_after_one(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(run_module, "_interval", interrupted_after_one)
    with pytest.raises(KeyboardInterrupt):
        run_gcm(tmp_path / "parts", 1.0 / 6.0, RRTMG(), CONFIG, settings=SETTINGS, progress=False)
    monkeypatch.setattr(run_module, "_interval", original)
    resumed = run_gcm(tmp_path / "parts", 1.0 / 6.0, RRTMG(), CONFIG, settings=SETTINGS, progress=False)
    assert resumed.end_day == pytest.approx(whole.end_day)

    a, b = GCM(CONFIG, RRTMG()), GCM(CONFIG, RRTMG())
    load_restart(a, tmp_path / "whole" / "restart.pt")
    load_restart(b, tmp_path / "parts" / "restart.pt")
    _assert_same_model(a, b)
    xr.testing.assert_identical(open_history(tmp_path / "whole"), open_history(tmp_path / "parts"))
    harvested = sorted((tmp_path / "parts" / "radiation_columns").glob("*.nc"))
    assert len(harvested) == 2
    for path in harvested:  # the same columns, drawn the same way after the resume
        xr.testing.assert_identical(xr.open_dataset(path, engine="h5netcdf").load(),
                                    xr.open_dataset(tmp_path / "whole" / "radiation_columns" / path.name, engine="h5netcdf").load())
    columns = xr.open_dataset(harvested[0], engine="h5netcdf")
    assert columns.sizes["level"] == CONFIG.levels and "cloud_liquid_water_path" in columns

    # history: standard names and physical synoptic fields (the initial state's poles are cold: ~210 K near the ground)
    history = open_history(tmp_path / "whole")
    assert history.sizes["time"] == 4
    assert history["Z500"].attrs["standard_name"] == "geopotential_height"
    assert 3900 < float(history["Z500"].min()) and float(history["Z500"].max()) < 6200
    assert float(history["Z500"].max()) - float(history["Z500"].min()) > 1000  # equator to pole
    assert 200 < float(history["T850"].min()) and float(history["T850"].max()) < 310
    # Emanuel closes its column water to ~5e-8 mm/day (its Fortran round-off), so a dry column may show -4e-9
    assert float(history["q"].min()) >= 0.0 and (history["precipitation"] >= -1e-6).all()

    # the climate command reads the run: table, budgets, figure
    from subgrid.cli.main import app

    table = CliRunner().invoke(app, ["gcm", "climate", str(tmp_path / "whole"), "--plot", str(tmp_path / "zonal.png")])
    assert table.exit_code == 0, table.output
    assert "max_water_budget_residual" in table.output and (tmp_path / "zonal.png").stat().st_size > 10_000
    checked = CliRunner().invoke(app, ["gcm", "climate", str(tmp_path / "whole"), "--check"])
    assert checked.exit_code == 1  # four hours from the initial state is no climate: cloud cover, jets out of range

    # and a restart taken mid-run continues as the run did
    middle = GCM(CONFIG, RRTMG())
    load_restart(middle, sorted((tmp_path / "whole" / "restarts").glob("*.pt"))[0])
    for _ in range(6):
        middle.step()
    _assert_same_model(middle, a)


class HeatsOneColumn:
    """RRTMG with an absurd heating planted in one column from the second call on (a blow-up)."""

    def __init__(self, column: int) -> None:
        self.physics, self.column, self.calls = RRTMG(), column, 0
        self.inputs, self.outputs = self.physics.inputs, self.physics.outputs

    def tendencies(self, state):
        self.calls += 1
        out = dict(self.physics.tendencies(state))
        if self.calls > 1:
            out["lw_heating_rate"] = out["lw_heating_rate"].copy()
            out["lw_heating_rate"][self.column] += 1e5
        return out


def test_the_crash_guard_stops_a_blow_up_and_keeps_the_states_before_it(tmp_path):
    model = GCM(CONFIG, HeatsOneColumn(700))
    with pytest.raises(ModelCrash) as caught:
        for _ in range(12):
            model.step()
    crash = caught.value
    assert 700 in crash.columns and "temperature_out_of_range" in crash.reasons
    lat, lon = model.dynamics.latitude_deg[700], model.dynamics.longitude_deg[700]
    assert crash.step == 4 and f"{lat:.1f}N {lon:.1f}E" in str(crash)
    assert crash.precrash and crash.precrash[-1]["air_temperature"].shape[1] == CONFIG.levels

    result = run_gcm(tmp_path / "run", 1.0 / 6.0, HeatsOneColumn(700), CONFIG, settings=SETTINGS, progress=False)
    assert result.crash is not None and "crashed in step 4" in result.crash
    precrash = xr.open_dataset(tmp_path / "run" / "precrash.nc", engine="h5netcdf")
    assert 700 in precrash["crashed_column"].values
    assert not json.loads((tmp_path / "run" / "run.json").read_text())["finished"]


def test_bad_inputs_give_one_line_errors(tmp_path):
    from subgrid.cli.main import app

    runner = CliRunner()
    missing = runner.invoke(app, ["gcm", "run", "--restart", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and missing.output.strip().count("\n") == 0 and "no such file" in missing.output

    (tmp_path / "junk.pt").write_bytes(b"not a restart")
    junk = runner.invoke(app, ["gcm", "run", "--restart", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "x")])
    assert junk.exit_code == 2 and "not a readable GCM restart" in junk.output

    model = GCM(CONFIG, RRTMG())
    save_restart(model, tmp_path / "l10.pt")
    with pytest.raises(InputError, match="another grid: levels 10"):
        load_restart(GCM(GCMConfig(levels=12), RRTMG()), tmp_path / "l10.pt")

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused = runner.invoke(app, ["gcm", "run", "--restart", str(tmp_path / "l10.pt"), "--out", str(tmp_path / "mine"),
                                  "--days", "1"])  # fmt: skip
    assert refused.exit_code == 2 and "already exists (pass --overwrite" in refused.output
    forced = runner.invoke(app, ["gcm", "run", "--restart", str(tmp_path / "l10.pt"), "--out", str(tmp_path / "mine"),
                                 "--days", "1", "--overwrite"])  # fmt: skip
    assert forced.exit_code == 2 and "not written by subgrid" in forced.output
    partial = runner.invoke(app, ["gcm", "run", "--restart", str(tmp_path / "l10.pt"), "--out", str(tmp_path / "new"),
                                  "--days", "0.3"])  # fmt: skip
    assert partial.exit_code == 2 and "whole number of restart intervals" in partial.output
    assert not (tmp_path / "new").exists()  # refused before anything was written
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_an_emulator_trained_on_other_levels_is_refused_in_one_line(tmp_path):
    from subgrid.cli.main import app
    from subgrid.hosts.rce.replay import label_with_rrtmg, write_replay_dataset
    from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
    from subgrid.radiation.export import export_run
    from subgrid.radiation.training import RadiationTrainingConfig, train_radiation

    labelled = label_with_rrtmg(sample_columns(120, np.random.default_rng(4), ColumnSamplerConfig(n_levels=12)))
    data = write_replay_dataset(labelled, tmp_path / "rad.zarr", chunk_size=60)
    training = RadiationTrainingConfig(epochs=1, model="mlp", batch_size=64, statistics_columns=100)
    train_radiation(data, tmp_path / "train", training, progress=False)
    artifact = export_run(tmp_path / "train", tmp_path / "artifact", "onnx")
    save_restart(GCM(CONFIG, RRTMG()), tmp_path / "l10.pt")
    result = CliRunner().invoke(app, ["gcm", "run", "--restart", str(tmp_path / "l10.pt"), "--out", str(tmp_path / "r"),
                                      "--radiation", str(artifact), "--days", "0.25"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "trained on 12 levels, this GCM has 10" in result.output and result.output.strip().count("\n") == 0
    assert not (tmp_path / "r").exists()


def test_insolation_is_symmetric_at_equinox_and_follows_the_calendar_when_seasonal():
    from subgrid.hosts.gcm.physics import ColumnPhysics

    lat, lon = np.array([-45.0, 45.0]), np.zeros(2)

    def daily_insolation(config):
        physics = ColumnPhysics(config, lat, lon, RRTMG())
        hours = np.arange(24) * 3600.0
        return np.mean([np.maximum(physics.sun(t)[0], 0.0) for t in hours], axis=0)

    equinox = daily_insolation(GCMConfig(levels=10, start_day_of_year=172))  # the day is ignored at equinox
    assert equinox[0] == pytest.approx(equinox[1], rel=0.02)
    june = daily_insolation(GCMConfig(levels=10, insolation="seasonal", start_day_of_year=172))
    assert june[1] > 2.0 * june[0]  # 45N in June gets far more sun than 45S
    december = daily_insolation(GCMConfig(levels=10, insolation="seasonal", start_day_of_year=355))
    assert december[0] > 2.0 * december[1]
