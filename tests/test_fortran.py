"""The Fortran coupling layer, built from its package-data sources against the torch wheel's LibTorch and run as a host would.

Example 01 (examples/01_radiation_columns) reads columns written here, calls the emulator through
the Fortran module and the C++ adapter, and writes the results, which must equal Python's. The
error-code program checks that every failure returns a status and a message, and that the program
carries on afterwards.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from subgrid.radiation.export import export_emulator, output_discrepancy
from subgrid.radiation.fortran import build_fortran, read_outputs, write_columns
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.models.radiation import DERIVED_LEVEL_FEATURES, MIN_GRID_LEVELS
from subgrid.physics.rrtmg import radiative_transfer_arrays
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS
from subgrid.radiation.training import build_emulator, fit_statistics
from subgrid.radiation.training_data import to_tensors

pytestmark = [pytest.mark.slow, pytest.mark.compiled]

N_LEVELS = 12
DESCRIPTION = {"model": "rescnn", "model_options": {"width": 8, "depth": 2}, "n_levels": N_LEVELS,
               "derived_level_features": list(DERIVED_LEVEL_FEATURES)}  # fmt: skip


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return build_fortran(tmp_path_factory.mktemp("fortran") / "build")


@pytest.fixture(scope="module")
def emulator():
    """An untrained emulator with normalisation statistics fitted on RRTMG columns: realistic magnitudes."""
    ds = sample_columns(200, np.random.default_rng(1), ColumnSamplerConfig(n_levels=N_LEVELS))
    outputs = radiative_transfer_arrays({name: ds[name].values for name in RADIATION_INPUTS})
    for name, variable in RADIATION_OUTPUTS.items():
        ds[name] = (variable.dims, outputs[name])
    torch.manual_seed(0)
    emulator = build_emulator(DESCRIPTION["model"], DESCRIPTION["model_options"], N_LEVELS)
    fit_statistics(emulator, to_tensors(ds))
    return emulator.eval()


@pytest.fixture(scope="module")
def artifact(emulator, tmp_path_factory):
    return export_emulator(emulator, DESCRIPTION, tmp_path_factory.mktemp("artifact") / "ts") / "emulator.pt"


def _inputs(n_columns: int, n_levels: int = N_LEVELS) -> tuple[torch.Tensor, ...]:
    ds = sample_columns(n_columns, np.random.default_rng(5), ColumnSamplerConfig(n_levels=n_levels))
    tensors = to_tensors(ds, targets=False)
    return tensors["level_inputs"], tensors["column_inputs"], tensors["pressure_interface_Pa"]


def _host(build, artifact, inputs, tmp_path, threads: int = 1) -> subprocess.CompletedProcess:
    columns = write_columns(tmp_path / "columns.bin", *(x.numpy() for x in inputs))
    command = [str(build.radiation_columns), str(artifact), str(columns), str(tmp_path / "outputs.bin"), str(threads)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("n_columns", "threads"), [(1, 1), (96, 2)])
def test_example_host_equals_python(build, artifact, emulator, tmp_path, n_columns, threads):
    inputs = _inputs(n_columns)
    cos_zenith = inputs[1][:, 5]
    if n_columns > 1:
        assert (cos_zenith <= 0).any() and (cos_zenith > 0).any() and (inputs[0][:, 4] > 0).any()
    result = _host(build, artifact, inputs, tmp_path, threads)
    assert result.returncode == 0, result.stderr
    assert f"{n_columns} columns of {N_LEVELS} levels done" in result.stdout
    fluxes, heating = read_outputs(tmp_path / "outputs.bin")
    with torch.no_grad():
        reference = emulator(*inputs)
    discrepancy = output_discrepancy(reference, (torch.from_numpy(fluxes), torch.from_numpy(heating)), inputs[2])
    assert max(discrepancy.values()) <= 1e-5, discrepancy
    np.testing.assert_allclose(fluxes, reference[0].numpy(), rtol=1e-5, atol=1e-5 * float(reference[0].abs().max()))
    assert (fluxes[cos_zenith.numpy() <= 0][:, 2:] == 0).all()  # night: no SW, as in Python


def test_every_failure_returns_a_status_and_the_program_carries_on(build, artifact):
    command = [str(build.error_codes), str(artifact), str(N_LEVELS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.split(": status ", 1) for line in result.stdout.splitlines() if ": status " in line)
    assert lines["compute_before_init"].startswith("1: subgrid_radiation_compute: emulator not initialised")
    assert lines["missing_file"].startswith("2: no/such/emulator.pt: no such file")
    assert lines["wrong_level_count_at_init"].endswith(f"trained on {N_LEVELS} levels, the host has {N_LEVELS + 1}")
    assert lines["zero_threads"] == "1: subgrid_radiation_init: n_threads must be >= 1, got 0"
    assert lines["nan_input"] == "4: level_inputs: NaN at column 3, feature 2, level 5 (1-based)"
    assert lines["wrong_level_count_at_compute"].startswith(f"3: subgrid_radiation_compute: host arrays have {N_LEVELS - 1} levels")
    assert lines["wrong_output_shape"].startswith(f"3: fluxes: shape ({N_LEVELS},4,4), expected ({N_LEVELS + 1},4,4)")
    assert lines["compute_after_errors"].strip() == "0:"
    assert "all cases as expected" in result.stdout


def test_example_host_reports_wrong_levels_and_nan_inputs(build, artifact, tmp_path):
    result = _host(build, artifact, _inputs(3, n_levels=N_LEVELS + 3), tmp_path)
    assert result.returncode == 3  # SUBGRID_ERROR_SHAPE
    expected = f"init failed with status 3: {artifact}: the emulator was trained on {N_LEVELS} levels, the host has {N_LEVELS + 3}"
    assert expected in result.stderr

    level, column, pressure = _inputs(4)
    column[2, 0] = float("inf")
    result = _host(build, artifact, (level, column, pressure), tmp_path)
    assert result.returncode == 4  # SUBGRID_ERROR_INPUT
    assert "compute failed with status 4: column_inputs: Inf at column 3, feature 1 (1-based)" in result.stderr


def test_the_artifact_records_the_fortran_layout(artifact):
    sidecar = json.loads((artifact.parent / "emulator.json").read_text())
    assert [i["fortran_dims"] for i in sidecar["inputs"]] == [
        ["level", "feature", "column"],
        ["feature", "column"],
        ["interface", "column"],
    ]
    assert [o["fortran_dims"] for o in sidecar["outputs"]] == [["interface", "flux", "column"], ["level", "band", "column"]]


@pytest.mark.parametrize("top_head_width", [0, 8])
def test_a_grid_agnostic_artifact_takes_the_hosts_level_count_at_init(build, tmp_path, top_head_width):
    """One TorchScript file, two hosts with 9 and 23 levels: each gets the eager model's outputs, also with a
    top-layer head (random weights: the top layers' heating then depends on their state)."""
    ds = sample_columns(120, np.random.default_rng(2), ColumnSamplerConfig(n_levels=N_LEVELS))
    outputs = radiative_transfer_arrays({name: ds[name].values for name in RADIATION_INPUTS})
    for name, variable in RADIATION_OUTPUTS.items():
        ds[name] = (variable.dims, outputs[name])
    torch.manual_seed(0)
    options = {"width": 8, "depth": 2, "top_head_width": top_head_width}
    emulator = build_emulator("rescnn", options, None)
    fit_statistics(emulator, [to_tensors(ds)])
    description = {**DESCRIPTION, "model_options": options, "n_levels": None}
    artifact = export_emulator(emulator.eval(), description, tmp_path / "any") / "emulator.pt"
    for n_levels in (9, 23):
        inputs = _inputs(5, n_levels=n_levels)
        result = _host(build, artifact, inputs, tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"5 columns of {n_levels} levels done" in result.stdout
        fluxes, heating = read_outputs(tmp_path / "outputs.bin")
        with torch.no_grad():
            reference = emulator(*inputs)
        discrepancy = output_discrepancy(reference, (torch.from_numpy(fluxes), torch.from_numpy(heating)), inputs[2])
        assert max(discrepancy.values()) <= 1e-5, discrepancy
    result = _host(build, artifact, _inputs(2, n_levels=MIN_GRID_LEVELS - 1), tmp_path)
    assert result.returncode == 3  # SUBGRID_ERROR_SHAPE, at init
    assert f"needs at least {MIN_GRID_LEVELS} levels, the host has {MIN_GRID_LEVELS - 1}" in result.stderr
