"""AOTInductor exports and the C ABI: the same numbers from Python, C and Fortran, and no crash on a bad artifact.

Two tiny models are compiled once for the module (a radiation ResCNN and a GW drag ResCNN, each
exported as TorchScript and AOTI). The coupling library is built, installed into a temporary
prefix, and the numbered examples are built against the *installed* package (``find_package``)
and run under CTest: example 01 (radiation, Fortran), example 02 (GW drag, Fortran), a plain C
host, and the error-code program, each on both formats.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings

import numpy as np
import pytest
import torch

from subgrid.gravity_waves.column.export import (
    drag_discrepancy,
    export_gw_drag,
    read_drag,
    run_drag_artifact,
    write_drag,
    write_drag_columns,
)
from subgrid.gravity_waves.column.training import build_gw_emulator
from subgrid.models.radiation import DERIVED_LEVEL_FEATURES
from subgrid.physics.rrtmg import radiative_transfer_arrays
from subgrid.physics.schema import RADIATION_INPUTS, RADIATION_OUTPUTS
from subgrid.radiation import export
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.radiation.emulator import Emulator
from subgrid.radiation.export import export_emulator, output_discrepancy, run_artifact
from subgrid.radiation.export_aoti import load_package
from subgrid.radiation.fortran import build_fortran, install_fortran, read_outputs, run_installed_examples, write_columns
from subgrid.radiation.training import build_emulator, fit_statistics
from subgrid.radiation.training_data import to_tensors

pytestmark = [pytest.mark.slow, pytest.mark.compiled]

N_LEVELS = 12
GW_LEVELS = 20
FORMATS = ("torchscript", "aoti")
DESCRIPTION = {
    "model": "rescnn", "model_options": {"width": 8, "depth": 2}, "n_levels": N_LEVELS,
    "derived_level_features": list(DERIVED_LEVEL_FEATURES),
}  # fmt: skip
GW_DESCRIPTION = {"kind": "gw_emulator", "model": "rescnn", "model_options": {"width": 8, "depth": 2},
                  "n_levels": GW_LEVELS, "scale_drag_by_source_flux": True, "momentum_budget": True}  # fmt: skip


def _inputs(n_columns: int, seed: int = 5) -> tuple[torch.Tensor, ...]:
    ds = sample_columns(n_columns, np.random.default_rng(seed), ColumnSamplerConfig(n_levels=N_LEVELS))
    tensors = to_tensors(ds, targets=False)
    return tuple(tensors[name] for name in export.INPUT_NAMES)


@pytest.fixture(scope="module")
def radiation():
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
def gw():
    """An untrained drag emulator with plausible statistics (winds ±30 m/s, flux ~4 mPa, drag ~0.3 m/s/day)."""
    torch.manual_seed(0)
    emulator = build_gw_emulator("rescnn", GW_DESCRIPTION["model_options"], GW_LEVELS, True, True)
    with torch.no_grad():
        emulator.u_std.fill_(30.0)
        emulator.source_mean.copy_(torch.tensor([4e-3, 30.0]))
        emulator.source_std.copy_(torch.tensor([1e-3, 5.0]))
        emulator.reference_flux_Pa.fill_(4e-3)
        emulator.drag_std.fill_(0.3)
        emulator.layer_mass_kg_per_m2.fill_(5.0)
    return emulator.eval()


@pytest.fixture(scope="module")
def artifacts(radiation, gw, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts")
    made = {}
    for fmt in FORMATS:
        made["radiation", fmt] = export_emulator(radiation, DESCRIPTION, out / f"radiation_{fmt}", fmt)
        made["gw_drag", fmt] = export_gw_drag(gw, GW_DESCRIPTION, out / f"gw_drag_{fmt}", fmt)
    return made


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    build = build_fortran(tmp_path_factory.mktemp("coupling") / "build")
    return build, install_fortran(build, tmp_path_factory.mktemp("prefix"))


def _damaged_copy(artifact, to):
    """The artifact directory with 4 KiB of its model file overwritten in the middle (the sidecar unchanged)."""
    shutil.copytree(artifact, to)
    model = to / json.loads((to / "emulator.json").read_text())["artifact"]
    data = bytearray(model.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    model.write_bytes(bytes(data))
    return to


@pytest.fixture(scope="module")
def ctest(artifacts, installed, radiation, gw, tmp_path_factory):
    """CTest run of the examples built against the installed library; returns (its output, its build directory)."""
    data = tmp_path_factory.mktemp("ctest_data")
    for (kind, fmt), path in artifacts.items():
        (data / f"{kind}_{fmt}").symlink_to(path)
        if kind == "radiation":
            _damaged_copy(path, data / f"corrupted_{fmt}")
    (data / "n_levels.txt").write_text(f"{N_LEVELS}\n")
    inputs = _inputs(96)
    write_columns(data / "columns.bin", *(x.numpy() for x in inputs))
    with torch.no_grad():
        fluxes, heating = radiation(*inputs)
    (data / "expected_radiation.bin").write_bytes(
        np.array([96, N_LEVELS], dtype=np.int32).tobytes() + fluxes.numpy().tobytes() + heating.numpy().tobytes()
    )
    gw_inputs = _gw_inputs(gw, 40)
    write_drag_columns(data / "gw_columns.bin", *(x.numpy() for x in gw_inputs))
    with torch.no_grad():
        write_drag(data / "expected_drag.bin", gw(*gw_inputs).numpy())
    build_dir = tmp_path_factory.mktemp("examples")
    output = run_installed_examples(installed[1], build_dir, data)
    return output, build_dir, inputs, gw_inputs


def _gw_inputs(gw, n_columns: int) -> tuple[torch.Tensor, ...]:
    rng = np.random.default_rng(3)
    u = 30.0 * np.sin(np.linspace(0, 3, GW_LEVELS))[None] * rng.uniform(-1.5, 1.5, (n_columns, 1))
    flux = rng.uniform(2e-3, 6e-3, n_columns)
    width = rng.uniform(20.0, 40.0, n_columns)
    return tuple(torch.as_tensor(x, dtype=torch.float32) for x in (u, flux, width))


# ----------------------------------------------------------------------------------------------
# Python


@pytest.mark.parametrize("n_columns", [1, 96, 300])
def test_aoti_equals_the_eager_model_in_python(radiation, artifacts, n_columns):
    inputs = _inputs(n_columns, seed=11)
    with torch.no_grad():
        reference = radiation(*inputs)
    outputs = run_artifact(artifacts["radiation", "aoti"] / "emulator.pt2", inputs)
    assert [tuple(o.shape) for o in outputs] == [(n_columns, 4, N_LEVELS + 1), (n_columns, 2, N_LEVELS)]
    flux_scale = reference[0].abs().amax(dim=(1, 2), keepdim=True).numpy()
    assert np.all(np.abs(outputs[0].numpy() - reference[0].numpy()) <= 1e-5 * flux_scale)
    assert max(output_discrepancy(reference, outputs, inputs[2]).values()) <= 1e-5


def test_aoti_sidecar_and_package_metadata(artifacts):
    directory = artifacts["radiation", "aoti"]
    sidecar = json.loads((directory / "emulator.json").read_text())
    assert sidecar["format"] == "aoti" and sidecar["artifact"] == "emulator.pt2" and sidecar["n_levels"] == N_LEVELS
    assert sidecar["verification"]["discrepancy"]["fluxes"] <= 1e-5
    _, metadata = load_package(directory / "emulator.pt2")
    assert metadata["kind"] == "radiation"
    assert (int(metadata["n_levels"]), int(metadata["n_level_features"]), int(metadata["n_column_features"])) == (
        N_LEVELS, 9, 7,
    )  # fmt: skip


def test_emulator_runs_the_aoti_artifact_like_torchscript(artifacts):
    columns = sample_columns(40, np.random.default_rng(2), ColumnSamplerConfig(n_levels=N_LEVELS))
    aoti = Emulator.load(artifacts["radiation", "aoti"], threads=1, ood_guard=False).tendencies(columns)
    script = Emulator.load(artifacts["radiation", "torchscript"], threads=1, ood_guard=False).tendencies(columns)
    for name in aoti.data_vars:
        scale = float(np.abs(script[name].values).max())
        np.testing.assert_allclose(aoti[name].values, script[name].values, rtol=0, atol=1e-5 * max(scale, 1.0))
    other_grid = sample_columns(2, 0, ColumnSamplerConfig(n_levels=N_LEVELS + 2))
    with pytest.raises(Exception, match="14 levels but the emulator was trained on 12"):
        Emulator.load(artifacts["radiation", "aoti"], ood_guard=False).tendencies(other_grid)


@pytest.mark.parametrize("fmt", FORMATS)
def test_gw_drag_exports_equal_the_eager_model(gw, artifacts, fmt):
    inputs = _gw_inputs(gw, 33)
    with torch.no_grad():
        reference = gw(*inputs)
    drag = run_drag_artifact(artifacts["gw_drag", fmt] / ("emulator.pt" if fmt == "torchscript" else "emulator.pt2"), inputs)
    assert drag.shape == (33, GW_LEVELS) and float(reference.abs().max()) > 0.01
    assert drag_discrepancy(reference, drag) <= 1.0
    if fmt == "torchscript":
        assert torch.equal(drag, reference)


# ----------------------------------------------------------------------------------------------
# Installed library: CTest, the C host, Fortran hosts


def test_ctest_passes_against_the_installed_library(ctest, installed):
    output, *_ = ctest
    prefix = installed[1]
    assert (prefix / "lib" / "cmake" / "subgrid" / "subgridConfig.cmake").is_file()
    assert (prefix / "include" / "subgrid" / "subgrid_emulator.h").is_file()
    assert (prefix / "include" / "subgrid" / "subgrid_radiation.mod").is_file()
    assert "100% tests passed, 0 tests failed out of 8" in output
    for name in ("01_radiation_columns", "02_gw_drag", "c_abi_host", "error_codes"):
        assert all(f"{name}_{fmt}" in output for fmt in FORMATS), name


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("host", ["outputs", "c_outputs"])
def test_fortran_and_c_hosts_equal_the_eager_model(ctest, radiation, fmt, host):
    """Example 01 (Fortran) and the C host, built against the installed package, on 96 columns."""
    _, build_dir, inputs, _ = ctest
    fluxes, heating = read_outputs(build_dir / f"{host}_{fmt}.bin")
    with torch.no_grad():
        reference = radiation(*inputs)
    discrepancy = output_discrepancy(reference, (torch.from_numpy(fluxes), torch.from_numpy(heating)), inputs[2])
    assert max(discrepancy.values()) <= 1e-5, discrepancy
    night = inputs[1][:, 5].numpy() <= 0
    assert night.any() and (fluxes[night][:, 2:] == 0).all()  # no SW at night, as in Python


@pytest.mark.parametrize("fmt", FORMATS)
def test_fortran_gw_drag_example_equals_the_eager_model(ctest, gw, fmt):
    _, build_dir, _, gw_inputs = ctest
    with torch.no_grad():
        reference = gw(*gw_inputs)
    drag = torch.from_numpy(read_drag(build_dir / f"drag_{fmt}.bin"))
    assert drag_discrepancy(reference, drag) <= 1.0


def _c_host(ctest, artifact, tmp_path) -> subprocess.CompletedProcess:
    _, build_dir, inputs, _ = ctest
    columns = write_columns(tmp_path / "columns.bin", *(x[:3].numpy() for x in inputs))
    command = [str(build_dir / "c_abi_host"), str(artifact), str(columns), str(tmp_path / "out.bin")]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _torchscript_with(attributes: dict, path):
    class Bare(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return a, b

    bare = Bare()
    for name, value in attributes.items():
        setattr(bare, name, value)
    with warnings.catch_warnings():  # TorchScript's deprecation: such files are what hosts still get handed
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(bare).save(str(path))
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("damaged_aoti", "does not match the sha256 recorded in"),
        ("damaged_torchscript", "does not match the sha256 recorded in"),
        ("truncated_bare_pt2", "cannot load AOTInductor package"),
        ("garbage_bare_pt", "cannot load TorchScript module"),
        ("no_attributes_pt", "not a subgrid radiation emulator (no positive integer n_levels)"),
        ("gw_drag_artifact", "a gw_drag emulator, not a radiation emulator"),
        ("onnx_sidecar", "format onnx runs in Python (ONNX Runtime)"),
        ("missing_directory", "no emulator.json (not an exported subgrid emulator)"),
    ],
)
def test_a_bad_artifact_gives_a_load_status_and_message_never_a_crash(ctest, artifacts, tmp_path, case, expected):
    if case.startswith("damaged_"):
        artifact = _damaged_copy(artifacts["radiation", case.removeprefix("damaged_")], tmp_path / "damaged")
    elif case == "truncated_bare_pt2":
        artifact = tmp_path / "model.pt2"
        artifact.write_bytes((artifacts["radiation", "aoti"] / "emulator.pt2").read_bytes()[:100_000])
    elif case == "garbage_bare_pt":
        artifact = tmp_path / "model.pt"
        artifact.write_bytes(b"not a zip archive" * 100)
    elif case == "no_attributes_pt":
        artifact = _torchscript_with({}, tmp_path / "model.pt")
    elif case == "gw_drag_artifact":
        artifact = artifacts["gw_drag", "torchscript"]
    elif case == "onnx_sidecar":
        artifact = tmp_path / "onnx"
        artifact.mkdir()
        (artifact / "emulator.onnx").write_bytes(b"onnx")
        (artifact / "emulator.json").write_text(json.dumps({"kind": "x", "format": "onnx", "artifact": "emulator.onnx"}))
    else:
        artifact = tmp_path / "nowhere"
        artifact.mkdir()
    result = _c_host(ctest, artifact, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr  # SUBGRID_ERROR_LOAD, from a process that carried on
    assert result.stdout.startswith("status 2: ") and expected in result.stdout, result.stdout
    assert len(result.stdout.strip().splitlines()) == 1  # one line, no backtrace


def test_a_wrongly_typed_attribute_is_a_status_not_an_exception(ctest, tmp_path):
    """n_levels as a string: reading it used to throw through the C boundary (toInt outside any try)."""
    artifact = _torchscript_with({"n_levels": "12", "n_level_features": 9, "n_column_features": 7}, tmp_path / "m.pt")
    result = _c_host(ctest, artifact, tmp_path)
    assert result.returncode == 2 and "no positive integer n_levels" in result.stdout, result.stdout + result.stderr


def test_the_export_command_exports_a_gw_column_run_for_the_fortran_module(gw, tmp_path):
    """`subgrid export` reads the run's kind: a GW column run gives a drag artifact the C ABI accepts."""
    from typer.testing import CliRunner

    from subgrid.cli.main import app
    from subgrid.training.runs import save_weights

    run = tmp_path / "gw_run"
    run.mkdir()
    save_weights(gw, run / "model.safetensors")
    (run / "model.json").write_text(json.dumps(GW_DESCRIPTION))
    result = CliRunner().invoke(app, ["export", "--run", str(run), "--out", str(tmp_path / "art"), "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "art" / "emulator.json").read_text())
    assert sidecar["kind"] == "gw_drag_emulator_artifact" and sidecar["n_levels"] == GW_LEVELS
    inputs = _gw_inputs(gw, 5)
    with torch.no_grad():
        assert torch.equal(run_drag_artifact(tmp_path / "art" / "emulator.pt", inputs), gw(*inputs))
