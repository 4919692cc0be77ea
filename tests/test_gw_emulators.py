"""Gravity-wave emulators in the 1-D QBO host: data, networks, training, the drag adapter, online tests.

Specifications: the dataset pairs each day's wind and source parameters with exactly the drag the
physics returned for them; an emulator that *is* the physics reproduces the physics run bit for bit
in the online comparison; an unstable drag is caught as a blow-up.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.gravity_waves.column.dataset import GWDatasetConfig, load_gw_arrays, open_gw_dataset
from subgrid.core.errors import InputError
from subgrid.core.contract import Parameterization, Variable
from subgrid.gravity_waves.column.emulator import EmulatedDrag
from subgrid.hosts.qbo import online as qbo_online
from subgrid.hosts.qbo.model import QBOConfig
from subgrid.hosts.qbo.online import blow_up_guard, compare_online, generate_gw_dataset
from subgrid.physics.qbo_waves import (
    EQUATOR_LENGTH_M,
    QBO_DRAG_OUTPUTS,
    PlumbTwoWave,
    QBOState,
    StochasticWaves,
    plumb_wave_drag,
    source_parameters,
)
from subgrid.models import build_backbone
from subgrid.models.wavenet import WaveNet
from subgrid.gravity_waves.column.training import (
    GWEmulator,
    GWLightningModule,
    GWTrainingConfig,
    build_gw_emulator,
    layer_mass_kg_per_m2,
    load_gw_emulator,
    train_gw,
)

N_LEVELS = 73
TINY = {"model": "mlp", "model_options": {"hidden": 64, "layers": 2}, "epochs": 8, "batch_size": 32, "learning_rate": 3e-3}
SMALL_OPTIONS = {"mlp": {"hidden": 16}, "wavenet": {"hidden": 16, "head_hidden": 4}, "rescnn": {"width": 8, "depth": 2}}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny networks run fastest on one thread; two threads on a busy 2-core machine ran 50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("gw") / "train.zarr"
    generate_gw_dataset(path, GWDatasetConfig(years=1.0, seed=3, source_flux_scales=(1.0, 1.2)), progress=False)
    return path


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("gw") / "mlp"
    report = train_gw(dataset, run, GWTrainingConfig.from_dict(TINY), progress=False)
    return run, report


def _state(config: QBOConfig, step: int, seed: int, u: np.ndarray | None = None) -> QBOState:
    return config.state(np.zeros(N_LEVELS) if u is None else u, step=step, seed=seed)


# --------------------------------------------------------------------------------------------
# Data


def test_dataset_layout_units_and_provenance(dataset):
    ds = open_gw_dataset(dataset).load()
    assert ds.sizes == {"column": 2 * 361, "level": N_LEVELS}  # two runs, days 0..360
    np.testing.assert_allclose(ds["air_density"].values, QBOConfig().density_kg_per_m3)
    assert ds["u"].attrs["units"] == "m s-1" and ds["gw_drag"].attrs["units"] == "m s-1 day-1"
    assert ds["source_flux_Pa"].attrs["units"] == "Pa" and ds["spectral_width_m_per_s"].attrs["units"] == "m s-1"
    assert ds.attrs["scheme"] == "stochastic" and ds.attrs["seed"] == 3 and ds.attrs["vertical_order"] == "surface_first"
    assert json.loads(ds.attrs["qbo_settings"])["upwelling_m_per_s"] == 3e-4
    assert json.loads(ds.attrs["dataset_settings"])["source_flux_scales"] == [1.0, 1.2]
    assert not dataset.with_name(dataset.name + ".partial").exists()
    flux = ds["source_flux_Pa"].groupby("run").mean().values
    assert flux[1] / flux[0] == pytest.approx(1.2, rel=0.01)  # the perturbed run's stronger source
    np.testing.assert_array_equal(ds["gw_drag"].values[:, [0, -1]], 0.0)  # as the host applies it


def test_each_sample_is_the_physics_drag_of_its_wind_and_day(dataset):
    ds = open_gw_dataset(dataset).load()
    config = QBOConfig(**json.loads(ds.attrs["qbo_settings"]))
    source = qbo_online.scaled_source(StochasticWaves(), 1.2)
    for i in np.flatnonzero(ds["run"].values == 1)[[0, 100, 360]]:
        state = _state(config, int(ds["time"].values[i]), int(ds["run_seed"].values[i]), ds["u"].values[i])
        recorded = (ds["source_flux_Pa"].values[i], ds["spectral_width_m_per_s"].values[i])
        assert source_parameters(source, state) == recorded
        expected = source.tendencies(state)["drag"]
        np.testing.assert_allclose(ds["gw_drag"].values[i, 1:-1], expected[1:-1], rtol=1e-12, atol=1e-15)


def test_generation_is_deterministic_per_seed(tmp_path, dataset):
    config = GWDatasetConfig(years=1.0, seed=3, source_flux_scales=(1.0, 1.2))
    again = xr.open_zarr(generate_gw_dataset(tmp_path / "again.zarr", config, progress=False))
    other_seed = GWDatasetConfig(years=1.0, seed=4, source_flux_scales=(1.0, 1.2))
    other = xr.open_zarr(generate_gw_dataset(tmp_path / "other.zarr", other_seed, progress=False))
    first = xr.open_zarr(dataset)
    for name in ("u", "gw_drag", "source_flux_Pa", "spectral_width_m_per_s"):
        np.testing.assert_array_equal(first[name].values, again[name].values)
    assert not np.array_equal(first["u"].values, other["u"].values)
    with pytest.raises(InputError, match="already exists"):
        generate_gw_dataset(tmp_path / "again.zarr", config, progress=False)


@pytest.mark.parametrize(("scheme", "flux", "width"), [("ad99", 3e-3, 35.0), ("plumb", 1.2e-3, 32.0)])
def test_deterministic_schemes_record_their_fixed_source(scheme, flux, width):
    source = qbo_online.scaled_source(qbo_online.reference_source(scheme), 1.5, 2.0)
    state = _state(QBOConfig(), 7, 0)
    assert source_parameters(source, state) == pytest.approx((1.5 * flux, 2.0 * width))
    rebuilt = qbo_online.source_from_settings(scheme, qbo_online.source_settings(source))
    assert rebuilt == source


def test_config_rejects_bad_settings():
    with pytest.raises(InputError, match="scheme"):
        GWDatasetConfig(scheme="ray")
    with pytest.raises(InputError, match="spectral_width_scales"):
        GWDatasetConfig(source_flux_scales=(1.0, 1.1, 1.2), spectral_width_scales=(1.0, 1.0))
    with pytest.raises(InputError, match="unknown key"):
        GWTrainingConfig.from_dict({"model": "mlp", "epoch": 3})
    with pytest.raises(InputError, match="model"):
        GWTrainingConfig(model="unet")


# --------------------------------------------------------------------------------------------
# Networks


@pytest.mark.parametrize("name", ["mlp", "wavenet", "rescnn"])
def test_backbones_keep_the_column_contract(name):
    net = build_backbone(name, 3, 1, N_LEVELS, SMALL_OPTIONS[name])
    assert net(torch.randn(5, 3, N_LEVELS)).shape == (5, 1, N_LEVELS)


def test_wavenet_heads_are_per_level_over_a_shared_whole_column_trunk():
    torch.manual_seed(0)
    net = WaveNet(2, 1, n_levels=N_LEVELS, hidden=16, head_hidden=4)
    x = torch.randn(3, 2, N_LEVELS)
    with torch.no_grad():
        before = net(x)
        net.heads[-1].bias[10] += 1.0  # one level's head
        changed = (net(x) - before).abs().amax(dim=(0, 1))
        assert float(changed[10]) == pytest.approx(1.0) and torch.all(changed[torch.arange(N_LEVELS) != 10] == 0)
        x_top = x.clone()
        x_top[:, 0, -1] += 1.0  # the top input level reaches every output level through the trunk
        assert torch.all((net(x_top) - net(x)).abs()[:, 0] > 0)


def _wild_emulator() -> GWEmulator:
    """An untrained float64 emulator with drag scaled up 100-fold: it breaks any budget it can."""
    torch.manual_seed(0)
    emulator = build_gw_emulator("mlp", {"hidden": 16}, N_LEVELS, scale_drag_by_source_flux=True, momentum_budget=True)
    config = QBOConfig()
    with torch.no_grad():
        emulator.layer_mass_kg_per_m2[:] = torch.as_tensor(layer_mass_kg_per_m2(config.height_m, config.density_kg_per_m3))
        emulator.drag_std.fill_(100.0)
        emulator.reference_flux_Pa.fill_(3.7e-3)
    return emulator.double().eval()


def _inputs(n: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    u = 20 * torch.randn(n, N_LEVELS, dtype=torch.float64)
    return u, torch.full((n,), 3.7e-3, dtype=torch.float64), torch.full((n,), 30.0, dtype=torch.float64)


def test_emulator_drag_is_proportional_to_the_source_flux_by_construction():
    emulator = _wild_emulator()
    u, flux, width = _inputs()
    torch.testing.assert_close(emulator(u, 1.2 * flux, width), 1.2 * emulator(u, flux, width))


def test_online_emulator_never_deposits_more_momentum_than_the_waves_launch():
    """Each direction's column deposit Σ ρ D± Δz is at most half the source flux (symmetric spectra)."""
    emulator = _wild_emulator()
    u, flux, width = _inputs()
    with torch.no_grad():
        east, west = emulator.column_deposits_Pa(emulator(u, flux, width))
        assert torch.all(east <= 0.5 * flux * (1 + 1e-12)) and torch.all(west <= 0.5 * flux * (1 + 1e-12))
        assert torch.any(torch.isclose(torch.maximum(east, west), 0.5 * flux))  # the bound binds here
        raw_east, raw_west = emulator.column_deposits_Pa(emulator.train()(u, flux, width))
        assert torch.any(torch.maximum(raw_east, raw_west) > 0.5 * flux)  # training fits the network unbounded
    config = QBOConfig(upwelling_m_per_s=3e-4)
    source = StochasticWaves()
    for step in (0, 40, 300):  # the physics itself keeps well inside the bound
        state = _state(config, step, 0, 20 * np.sin(np.linspace(0, 3 * np.pi, N_LEVELS)))
        drag = torch.as_tensor(source.tendencies(state)["drag"][None])
        east, west = emulator.column_deposits_Pa(drag)
        assert max(float(east), float(west)) < 0.5 * source.sample(0, step)[0]


# --------------------------------------------------------------------------------------------
# Training


def test_training_reduces_the_loss_and_writes_a_loadable_run(dataset, trained):
    run, report = trained
    for name in ("model.json", "model.safetensors", "config.yaml", "metrics.csv"):
        assert (run / name).exists(), name
    arrays = {k: torch.from_numpy(v) for k, v in load_gw_arrays([dataset]).items()}
    inputs = (arrays["u"], arrays["source_flux_Pa"], arrays["spectral_width_m_per_s"], arrays["gw_drag"])
    emulator, description = load_gw_emulator(run)
    module = GWLightningModule(GWTrainingConfig.from_dict(TINY).to_dict(), N_LEVELS)
    torch.manual_seed(TINY.get("seed", 0))
    untrained = build_gw_emulator("mlp", TINY["model_options"], N_LEVELS, True, True)
    statistics = {k: v for k, v in emulator.state_dict().items() if not k.startswith("backbone")}
    with torch.no_grad():
        module.emulator.load_state_dict({**untrained.state_dict(), **statistics})
        initial, _ = module._loss(*inputs)
        module.emulator.load_state_dict(emulator.state_dict())
        final, _ = module._loss(*inputs)
    assert float(final) < 0.5 * float(initial)
    train_loss = np.genfromtxt(run / "metrics.csv", delimiter=",", names=True)["train_loss"]
    assert train_loss[-1] < train_loss[0]
    assert description["kind"] == "gw_emulator" and description["scheme"] == "stochastic"
    assert description["val_r2"] == pytest.approx(report.val_r2)


# --------------------------------------------------------------------------------------------
# The adapter and the online comparison


def test_adapter_obeys_the_drag_contract(trained):
    emulator, _ = load_gw_emulator(trained[0])
    drag = EmulatedDrag(emulator, StochasticWaves())
    assert isinstance(drag, Parameterization)
    assert drag.outputs == QBO_DRAG_OUTPUTS and set(drag.inputs) == {"u_m_per_s", "step", "seed"}
    config = QBOConfig(upwelling_m_per_s=3e-4)
    profiles = 10.0 * np.sin(np.linspace(0, np.pi, N_LEVELS))[None, :] * np.array([[1.0], [-1.0], [0.5]])
    together = drag.tendencies(_state(config, 5, 0, profiles))["drag"]
    assert together.shape == profiles.shape and together.dtype == np.float64
    alone = drag.tendencies(_state(config, 5, 0, profiles[1]))["drag"]
    np.testing.assert_allclose(alone, together[1], rtol=1e-5, atol=1e-6)
    run = qbo_online.run_qbo(config, drag, years=10 / 360, seed=0)
    assert np.isfinite(run["u"].values).all() and "EmulatedDrag(MLP" in run.attrs["drag_source"]


class StochasticPhysicsAsEmulator(nn.Module):
    """A float64 "emulator" that computes the stochastic physics from the inputs the adapter passes it."""

    def __init__(self, config: QBOConfig) -> None:
        super().__init__()
        self.register_buffer("anchor", torch.zeros((), dtype=torch.float64))  # fixes the adapter's dtype
        self.state = _state(config, 0, 0)  # the background; the wind comes from the adapter
        self.waves = StochasticWaves()

    def forward(self, u: torch.Tensor, flux: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
        c = np.asarray(self.waves.phase_speeds_m_per_s)
        ratio = c / width.item()
        shape = np.sign(c) * np.exp(-np.log(2.0) * ratio * ratio)
        amplitudes = flux.item() * shape / np.abs(shape).sum()
        k = np.full(c.shape, 2.0 * np.pi * self.waves.zonal_wavenumber / EQUATOR_LENGTH_M)
        state = dataclasses.replace(self.state, u_m_per_s=u.numpy())
        return torch.from_numpy(plumb_wave_drag(amplitudes, c, k, state))


def test_an_emulator_that_is_the_physics_reproduces_the_physics_run_exactly():
    config = QBOConfig(upwelling_m_per_s=3e-4)
    emulated = EmulatedDrag(StochasticPhysicsAsEmulator(config), StochasticWaves())
    comparison = compare_online(config, StochasticWaves(), emulated, years=6.0, seed=2, spinup_years=1.0)
    np.testing.assert_array_equal(comparison.emulator["u"].values, comparison.physics["u"].values)
    np.testing.assert_array_equal(comparison.emulator["drag"].values, comparison.physics["drag"].values)
    m = comparison.metrics
    assert m["stable"] and m["meets_goal"] and m["physics"]["period_fourier_months"] > 20.0
    assert all(error == 0.0 for error in m["relative_errors"].values())


class Unstable:
    """+0.5 day⁻¹ feedback: the wind grows 1.5-fold a day. Records the steps it is called at."""

    inputs = {"u_m_per_s": Variable(("level",), "m s-1", "zonal-mean zonal wind")}
    outputs = QBO_DRAG_OUTPUTS

    def __init__(self) -> None:
        self.calls: list[int] = []

    def tendencies(self, state: QBOState) -> dict:
        self.calls.append(state.step)
        return {"drag": 0.5 * state.u_m_per_s}


def test_blowup_is_detected_and_the_run_stops_calling_the_drag():
    unstable = Unstable()
    config = QBOConfig(upwelling_m_per_s=1e-5)
    comparison = compare_online(config, PlumbTwoWave(), unstable, years=1.0, spinup_years=0.5)
    m = comparison.metrics
    assert m["physics"]["stable"] and not m["emulator"]["stable"] and not m["stable"]
    calls = unstable.calls
    assert 5 <= m["emulator"]["blowup_day"] <= 30 and len(calls) == m["emulator"]["blowup_day"]
    assert calls == list(range(len(calls)))  # one call a step from step 0: the guard's call index is the step
    assert m["emulator"]["sigma25_m_per_s"] is None and not m["meets_acceptance"]
    assert np.isnan(comparison.emulator["u"].values[int(m["emulator"]["blowup_day"]) + 1 :]).all()
    guard = blow_up_guard(PlumbTwoWave())
    for step in range(3):
        assert np.isfinite(guard.tendencies(_state(config, step, 0))["drag"]).all()
    assert np.isnan(guard.tendencies(_state(config, 3, 0, np.full(N_LEVELS, np.nan)))["drag"]).all()
    assert guard.counts.blow_up_call == 3


def test_online_test_replay_and_fine_tuning(dataset, trained, tmp_path):
    run, _ = trained
    comparison = qbo_online.online_test(run, years=2.0, spinup_years=0.5, out=tmp_path / "online")
    written = json.loads((tmp_path / "online" / "metrics.json").read_text())
    assert (tmp_path / "online" / "hovmoller.png").stat().st_size > 10_000
    assert written["model"] == "mlp" and -1.0 < written["offline_r2"] <= 1.0 and written["source_flux_scale"] == 1.0
    assert comparison.physics.sizes == {"time": 721, "height": N_LEVELS}

    replay = qbo_online.replay_dataset(run, tmp_path / "replay.zarr", years=1.0, seed=5)
    replayed = open_gw_dataset(replay)
    assert replayed.attrs["origin"] == "online_replay" and replayed.sizes["column"] > 300
    config = GWTrainingConfig.from_dict({**TINY, "epochs": 2})
    tuned = train_gw([dataset, replay], tmp_path / "tuned", config, init_from=run, progress=False)
    assert json.loads((tmp_path / "tuned" / "model.json").read_text())["init_from"] == str(run.resolve())
    assert np.isfinite(tuned.best_val_loss)
    with pytest.raises(InputError, match="init_from"):
        train_gw(dataset, tmp_path / "other", GWTrainingConfig(model="wavenet", epochs=1), init_from=run, progress=False)


# --------------------------------------------------------------------------------------------
# Command line


def test_cli_generate_train_online(tmp_path):
    runner = CliRunner()
    data, run = tmp_path / "d.zarr", tmp_path / "run"
    result = runner.invoke(app, ["generate", "gw", "--out", str(data), "--scheme", "ad99", "--years", "0.5",
                                 "--flux-scale", "1.0", "--flux-scale", "1.1", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert open_gw_dataset(data).attrs["scheme"] == "ad99"
    result = runner.invoke(app, ["train", "gw", "--data", str(data), "--out", str(run), "--model", "mlp",
                                 "--model-option", "hidden=16", "--epochs", "1", "--noise", "0.5", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["online", "gw", "--emulator", str(run), "--years", "1", "--spinup-years", "0.2"])
    assert result.exit_code == 0, result.output
    assert "offline R²" in result.output and (run / "online" / "flux_x1_seed0" / "metrics.json").exists()
    bad = runner.invoke(app, ["generate", "gw", "--out", str(tmp_path / "x.zarr"), "--scheme", "ray"])
    assert bad.exit_code == 2 and bad.output.strip().startswith("error: gw dataset config: invalid scheme")
