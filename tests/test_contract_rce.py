"""The one parameterization contract in the RCE host: RRTMG and an emulator are interchangeable, bit for bit."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import xarray as xr

from subgrid.core.contract import Guarded, Parameterization
from subgrid.hosts.rce.config import RCEConfig
from subgrid.hosts.rce.model import run_rce
from subgrid.physics.rrtmg import RRTMG, radiative_transfer, radiative_transfer_arrays
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns

from conftest import PhysicsAsEmulator

N_LEVELS = 16


@pytest.fixture(scope="module")
def columns() -> xr.Dataset:
    """Sampled columns, cloudy ones among them (so McICA's seed matters)."""
    ds = sample_columns(4, np.random.default_rng(5), ColumnSamplerConfig(n_levels=N_LEVELS))
    assert (ds["cloud_fraction"].values > 0).any()
    return ds


class EverythingOutOfDistribution(PhysicsAsEmulator):
    def out_of_distribution(self, state):
        return np.ones(len(state["air_temperature"]), dtype=bool)


def test_rrtmg_is_a_parameterization_whose_tendencies_are_pure_and_seeded_by_the_state(columns):
    scheme = RRTMG(seed=7)
    assert isinstance(scheme, Parameterization)
    assert scheme.inputs is RADIATION_INPUTS and scheme.outputs is RADIATION_OUTPUTS
    arrays = {name: columns[name].values.copy() for name in RADIATION_INPUTS if name in columns}
    before = {name: value.copy() for name, value in arrays.items()}
    outputs = scheme.tendencies(arrays)
    for name, value in before.items():
        np.testing.assert_array_equal(arrays[name], value, err_msg=f"{name} was changed")
    assert set(outputs) == set(RADIATION_OUTPUTS)
    # McICA's seed: crc32 of the temperature bytes, started at the scheme's seed.
    seed = zlib.crc32(np.ascontiguousarray(arrays["air_temperature"], dtype=np.float64).tobytes(), 7)
    expected = radiative_transfer_arrays(arrays, scheme.config, seed=seed)
    for name in RADIATION_OUTPUTS:
        np.testing.assert_array_equal(outputs[name], expected[name], err_msg=name)
    # A Dataset in, a Dataset out (validated, in its own vertical order), with the same numbers.
    as_dataset = scheme.tendencies(columns)
    xr.testing.assert_identical(as_dataset, radiative_transfer(columns, scheme.config, seed=seed))
    np.testing.assert_array_equal(as_dataset["sw_heating_rate"].values, outputs["sw_heating_rate"])


def test_the_host_runs_an_emulator_exactly_as_it_runs_the_physics(columns):
    """RRTMG, and RRTMG dressed as a guarded emulator, give the same trajectory bit for bit."""
    config = RCEConfig(days=1.0, output_interval_days=0.5, checkpoint_interval_days=0.5)
    physics = run_rce(columns, RRTMG(), config, progress=False)
    emulator = PhysicsAsEmulator(RRTMG())
    guarded = Guarded(emulator, RRTMG())
    assert isinstance(emulator, Parameterization) and isinstance(guarded, Parameterization)
    coupled = run_rce(columns, guarded, config, progress=False)

    calls = round(config.days * 86400.0 / (config.time_step_s * config.radiation_every_steps))
    assert emulator.calls == guarded.counts.calls == calls
    assert guarded.counts.fallback_columns == 0 and guarded.counts.columns == calls * columns.sizes["column"]
    assert not physics["crashed"].any()
    for name, variable in physics.data_vars.items():
        assert np.array_equal(coupled[name].values, variable.values, equal_nan=True), name

    # Every column sent to the fallback: the fallback computes all of them, still the same run.
    flagged = Guarded(EverythingOutOfDistribution(RRTMG()), RRTMG())
    rerouted = run_rce(columns, flagged, config, progress=False)
    assert flagged.emulator.calls == 0 and flagged.counts.out_of_distribution_columns == calls * columns.sizes["column"]
    for name, variable in physics.data_vars.items():
        assert np.array_equal(rerouted[name].values, variable.values, equal_nan=True), name
