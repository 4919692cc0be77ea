"""Hostile inputs (issue 20, items 2, 4, 5, 6): units, plausibility, tampered artifacts and runs, typed YAML.

Each case asserts the exit code (2) or the :class:`InputError`, a one-line message naming the
variable or file, and that nothing was written and a pre-existing sentinel file is untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from conftest import make_columns
from subgrid.cli.main import app
from subgrid.core.errors import InputError
from subgrid.physics.rrtmg import RRTMG, radiative_transfer
from subgrid.radiation import export
from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
from subgrid.radiation.dataset import (
    ColumnsLabellingConfig,
    RadiationDatasetConfig,
    compute_columns_chunk,
    compute_radiation_chunk,
    chunk_seeds,
    open_columns_file,
)
from subgrid.radiation.emulator import Emulator

N_LEVELS = 8
SENTINEL_TEXT = "keep me"


@pytest.fixture
def sentinel(tmp_path):
    """A pre-existing file beside every output: it must survive every refused command unchanged."""
    path = tmp_path / "sentinel.txt"
    path.write_text(SENTINEL_TEXT)
    yield path
    assert path.read_text() == SENTINEL_TEXT


def _refused(args: list[str], *fragments: str) -> str:
    result = CliRunner().invoke(app, args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _nothing_written(directory: Path, sentinel: Path, *keep: Path) -> None:
    allowed = {sentinel.name, *(path.name for path in keep)}
    assert sorted(p.name for p in directory.iterdir() if p.name not in allowed) == []


# ---------------------------------------------------------------------------------------------
# Item 2: `generate radiation --from FILE`: units stated or refused, plausible values only


def _columns() -> xr.Dataset:
    return make_columns(4, N_LEVELS, cloud_fraction=0.5, liquid_water_path_g_m2=40.0, ice_water_path_g_m2=20.0,
                        cloud_pressure_Pa=80000.0)  # fmt: skip


def _generate_from(source: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "radiation", "--from", str(source), "--out", str(out), "--workers", "1", "--no-progress",
            "--no-summary", *extra]  # fmt: skip


def _unitless(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    for variable in ds.data_vars.values():
        variable.attrs = {}
    return ds


def test_a_variable_without_units_is_refused_unless_stated(tmp_path, sentinel):
    source = tmp_path / "no_units.nc"
    _unitless(_columns()).to_netcdf(source)
    out = tmp_path / "out.zarr"
    _refused(_generate_from(source, out), "air_pressure: no 'units' attribute", str(source), "--units")
    _nothing_written(tmp_path, sentinel, source)
    # Stating some units is not enough: the next variable without units is named.
    _refused(_generate_from(source, out, "--units", "air_pressure=hPa"), "air_pressure_on_interface: no 'units'")
    _nothing_written(tmp_path, sentinel, source)


def test_stated_units_are_converted_once_and_label_like_si_columns(tmp_path):
    """hPa pressures, ppmv ozone and kg m-2 water paths, stated with --units (Python: units=...), give SI labels."""
    si = _columns()
    odd = _unitless(si)
    odd["air_pressure"] = odd["air_pressure"] / 100.0
    odd["air_pressure_on_interface"] = odd["air_pressure_on_interface"] / 100.0
    odd["ozone_mole_fraction"] = odd["ozone_mole_fraction"] * 1e6
    odd["cloud_liquid_water_path"] = odd["cloud_liquid_water_path"] / 1000.0
    source = tmp_path / "odd.nc"
    odd.to_netcdf(source)
    units = {name: var.attrs["units"] for name, var in si.data_vars.items()}
    units.update(air_pressure="hPa", air_pressure_on_interface="mbar", ozone_mole_fraction="ppmv",
                 cloud_liquid_water_path="kg m-2")  # fmt: skip
    opened = open_columns_file(source, units)
    for name in ("air_pressure", "ozone_mole_fraction", "cloud_liquid_water_path"):
        np.testing.assert_allclose(opened[name].values, si[name].values, rtol=1e-12)
        assert opened[name].attrs["units"] == si[name].attrs["units"]
    config = ColumnsLabellingConfig.for_file(source, units=units, chunk_size=4)
    assert config.to_dict()["units"]["ozone_mole_fraction"] == "ppmv"  # part of the job: no resume across units
    labelled = compute_columns_chunk(config, 0, slice(0, 4))
    direct = radiative_transfer(si, seed=chunk_seeds(config.seed, 0)[1])  # the same McICA draw
    for name in ("lw_heating_rate", "sw_heating_rate", "lw_flux_up"):
        np.testing.assert_allclose(labelled[name].values, direct[name].values, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        # hPa values labelled Pa: the surface pressure is not plausible.
        (lambda ds: ds.assign(air_pressure=ds["air_pressure"] / 100, air_pressure_on_interface=ds["air_pressure_on_interface"] / 100),
         ("air_pressure_on_interface (surface)", "outside [30000, 110000] Pa")),
        # ppmv labelled mol mol-1.
        (lambda ds: ds.assign(ozone_mole_fraction=ds["ozone_mole_fraction"] * 1e6),
         ("ozone_mole_fraction", "outside [-inf, 0.0001] mol mol-1")),
        # A water path no layer holds (mg m-2 labelled g m-2).
        (lambda ds: ds.assign(cloud_liquid_water_path=ds["cloud_liquid_water_path"] * 1000),
         ("cloud_liquid_water_path", "g m-2")),
        # Units of another quantity.
        (lambda ds: ds.assign(air_pressure=ds["air_pressure"].assign_attrs(units="K")),
         ("air_pressure: units 'K'", "expected Pa")),
        (lambda ds: ds.assign(air_temperature=(ds["air_temperature"] - 273.15).assign_attrs(units="degC")),
         ("air_temperature: units 'degC'",)),
    ],
    ids=["hPa_as_Pa", "ppmv_as_mol_per_mol", "water_path", "pressure_in_K", "celsius"],
)
def test_implausible_or_unconvertible_columns_are_refused_before_anything_is_written(tmp_path, sentinel, change, fragments):
    source = tmp_path / "bad.nc"
    bad = change(_columns())
    for name, variable in bad.data_vars.items():  # arithmetic drops attrs: keep the schema's unless changed
        variable.attrs.setdefault("units", _columns()[name].attrs["units"])
    bad.to_netcdf(source)
    out = tmp_path / "out.zarr"
    _refused(_generate_from(source, out), *fragments)
    _nothing_written(tmp_path, sentinel, source)


def test_bad_units_options_are_refused(tmp_path, sentinel):
    source = tmp_path / "cols.nc"
    _columns().to_netcdf(source)
    out = tmp_path / "out.zarr"
    _refused(_generate_from(source, out, "--units", "air_pressure"), "--units 'air_pressure'", "NAME=UNITS")
    _refused(_generate_from(source, out, "--units", "pressure=hPa"), "units: unknown variable(s) pressure")
    _refused(_generate_from(source, out, "--units", "air_pressure=furlongs"), "air_pressure: units 'furlongs'")
    _refused(["generate", "radiation", "--columns", "10", "--levels", "5", "--out", str(out), "--units",
              "air_pressure=hPa"], "--units: only for --from")  # fmt: skip
    _nothing_written(tmp_path, sentinel, source)


# ---------------------------------------------------------------------------------------------
# Item 4: every entry point that takes a Dataset reads its units the same way


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """A tiny trained and exported emulator (one chunk of RRTMG columns, one epoch of an MLP)."""
    from subgrid.radiation.training import RadiationTrainingConfig, train_radiation

    root = tmp_path_factory.mktemp("hostile")
    config = RadiationDatasetConfig(n_columns=128, seed=1, chunk_size=128, sampler=ColumnSamplerConfig(n_levels=N_LEVELS))
    data = compute_radiation_chunk(config, 0, slice(0, 128))
    data.attrs.update(vertical_order="surface_first", rrtmg_settings=json.dumps(config.rrtmg.to_dict()))
    data.chunk({"column": 32}).to_zarr(root / "data.zarr", zarr_format=2)
    training = RadiationTrainingConfig(epochs=1, model="mlp", batch_size=32, statistics_columns=100)
    train_radiation(root / "data.zarr", root / "run", training, progress=False)
    export.export_run(root / "run", root / "artifact", "torchscript")
    return root


def _in_odd_units(ds: xr.Dataset) -> xr.Dataset:
    return ds.assign(
        air_pressure=(ds["air_pressure"] / 100).assign_attrs(units="hPa"),
        air_pressure_on_interface=(ds["air_pressure_on_interface"] / 100).assign_attrs(units="millibar"),
        ozone_mole_fraction=(ds["ozone_mole_fraction"] * 1e6).assign_attrs(units="ppmv"),
        specific_humidity=(ds["specific_humidity"] * 1e3).assign_attrs(units="g/kg"),
    )


def test_emulator_and_rrtmg_convert_dataset_units_once(artifact):
    columns = sample_columns(4, np.random.default_rng(3), ColumnSamplerConfig(n_levels=N_LEVELS))
    odd = _in_odd_units(columns)
    emulator = Emulator.load(artifact / "artifact")
    for scheme in (emulator, emulator.guarded(), RRTMG()):
        expected, got = scheme.tendencies(columns), scheme.tendencies(odd)
        np.testing.assert_allclose(got["lw_heating_rate"].values, expected["lw_heating_rate"].values, rtol=1e-5)
    # The guard sees the converted columns: none of them is out of distribution because of its units.
    guarded = emulator.guarded()
    guarded.tendencies(columns)
    flagged = guarded.counts.out_of_distribution_columns
    guarded.tendencies(odd)
    assert guarded.counts.out_of_distribution_columns == 2 * flagged


@pytest.mark.parametrize("entry", ["emulator", "guarded", "rrtmg", "radiative_transfer"])
def test_dataset_entry_points_refuse_wrong_units_and_implausible_values(artifact, entry):
    columns = sample_columns(4, np.random.default_rng(3), ColumnSamplerConfig(n_levels=N_LEVELS))
    emulator = Emulator.load(artifact / "artifact")
    call = {"emulator": emulator.tendencies, "guarded": emulator.guarded().tendencies,
            "rrtmg": RRTMG().tendencies, "radiative_transfer": radiative_transfer}[entry]  # fmt: skip
    with pytest.raises(InputError, match=r"^air_pressure: units 'K'; expected Pa$"):
        call(columns.assign(air_pressure=columns["air_pressure"].assign_attrs(units="K")))
    hpa_unlabelled = columns.assign(air_pressure=columns["air_pressure"] / 100,
                                    air_pressure_on_interface=columns["air_pressure_on_interface"] / 100)  # fmt: skip
    with pytest.raises(InputError, match=r"^air_pressure_on_interface \(surface\): 4 value\(s\) outside"):
        call(hpa_unlabelled)
    ppmv_labelled_si = columns.assign(ozone_mole_fraction=columns["ozone_mole_fraction"] * 1e6)
    ppmv_labelled_si["ozone_mole_fraction"].attrs["units"] = "mol mol-1"
    with pytest.raises(InputError, match=r"^ozone_mole_fraction: \d+ value\(s\) outside"):
        call(ppmv_labelled_si)


# ---------------------------------------------------------------------------------------------
# Item 5: the sidecar and the weights are tied to what was exported / trained


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_an_edited_sidecar_or_corrupted_artifact_is_refused(artifact, tmp_path, sentinel):
    widened = _copy(artifact / "artifact", tmp_path / "widened")
    sidecar = json.loads((widened / export.SIDECAR).read_text())
    for stats in sidecar["training_range"]["features"].values():
        stats["max"] = [1e30] * len(stats["max"]) if isinstance(stats["max"], list) else 1e30
    (widened / export.SIDECAR).write_text(json.dumps(sidecar, indent=2))
    with pytest.raises(InputError, match=r"emulator\.json: content does not match its recorded sha256"):
        Emulator.load(widened)
    out = tmp_path / "online"
    _refused(["online", "radiation", "--emulator", str(widened), "--cases", "1", "--days", "1", "--out", str(out)],
             str(widened / "emulator.json"), "sha256")  # fmt: skip
    assert not out.exists()

    flipped = _copy(artifact / "artifact", tmp_path / "flipped")
    _flip_last_byte(flipped / "emulator.pt")
    with pytest.raises(InputError, match=r"emulator\.pt: does not match the sha256 recorded in emulator\.json"):
        Emulator.load(flipped)

    unsealed = _copy(artifact / "artifact", tmp_path / "unsealed")
    sidecar = json.loads((unsealed / export.SIDECAR).read_text())
    del sidecar[export.INTEGRITY]
    (unsealed / export.SIDECAR).write_text(json.dumps(sidecar))
    with pytest.raises(InputError, match=r"emulator\.json: no integrity record"):
        Emulator.load(unsealed)
    assert Emulator.load(artifact / "artifact").tendencies(sample_columns(2, 0, ColumnSamplerConfig(n_levels=N_LEVELS)))


def test_corrupted_run_weights_are_refused_and_nothing_is_exported(artifact, tmp_path, sentinel):
    from safetensors import safe_open

    from subgrid.radiation.training import load_emulator

    run = tmp_path / "run"  # the files a finished run is loaded from
    run.mkdir()
    for name in ("model.json", "model.safetensors"):
        (run / name).write_bytes((artifact / "run" / name).read_bytes())
    with safe_open(str(run / "model.safetensors"), framework="pt") as file:
        assert "subgrid_weights_sha256" in file.metadata()
    load_emulator(run)  # intact: loads
    _flip_last_byte(run / "model.safetensors")  # the last byte is tensor data
    with pytest.raises(InputError, match=r"model\.safetensors: weights do not match the sha256"):
        load_emulator(run)
    out = tmp_path / "artifact"
    _refused(["export", "--run", str(run), "--out", str(out)], str(run / "model.safetensors"), "sha256")
    assert not out.exists() and not any(p.name.startswith(".artifact") for p in tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# Item 6: YAML strings are not booleans


def test_yaml_in_memory_no_is_refused_not_read_as_true(tmp_path, sentinel):
    config = tmp_path / "train.yaml"
    config.write_text('in_memory: "no"\n')
    out = tmp_path / "run"
    _refused(["train", "radiation", "--data", str(tmp_path / "data.zarr"), "--out", str(out), "--config", str(config)],
             "in_memory", "bool")  # fmt: skip
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Property style: random garbage to the column readers is an InputError, never a traceback

_MUTATIONS = {
    "drop": lambda ds, name, rng: ds.drop_vars(name),
    "nan": lambda ds, name, rng: ds.assign({name: ds[name].where(rng.random(ds[name].shape) > 0.3)}),
    "inf": lambda ds, name, rng: ds.assign({name: ds[name] + np.inf}),
    "transpose": lambda ds, name, rng: ds.assign({name: ds[name].transpose(*ds[name].dims[::-1])}) if ds[name].ndim > 1 else ds.drop_vars(name),
    "extra_dim": lambda ds, name, rng: ds.assign({name: ds[name].expand_dims(time=2)}),
    "bad_units": lambda ds, name, rng: ds.assign({name: ds[name].assign_attrs(units=str(rng.choice(["parsec", "degC", "J", "?"])))}),
    "negative": lambda ds, name, rng: ds.assign({name: -1e6 - abs(ds[name])}),
    "huge": lambda ds, name, rng: ds.assign({name: ds[name] * 0 + 1e12}),
}  # fmt: skip


def test_random_garbage_to_the_column_readers_is_an_input_error(tmp_path):
    rng = np.random.default_rng(20)
    base = _columns()
    names = [n for n in base.data_vars if n != "earth_sun_distance_factor"]
    for trial in range(24):
        kind = list(_MUTATIONS)[trial % len(_MUTATIONS)]
        name = str(rng.choice(names))
        bad = _MUTATIONS[kind](base, name, rng)
        if name in bad and "units" not in bad[name].attrs:
            bad[name].attrs["units"] = base[name].attrs["units"]
        with pytest.raises(InputError):
            RRTMG().tendencies(bad)
        source = tmp_path / f"garbage{trial}.nc"
        bad.to_netcdf(source)
        with pytest.raises(InputError):
            compute_columns_chunk(ColumnsLabellingConfig.for_file(source, chunk_size=4), 0, slice(0, 4))
    empty = tmp_path / "empty.nc"
    base.isel(column=slice(0, 0)).to_netcdf(empty)
    with pytest.raises(InputError, match="holds no columns"):
        ColumnsLabellingConfig.for_file(empty)
    (tmp_path / "not_netcdf.nc").write_bytes(rng.bytes(256))
    with pytest.raises(InputError, match=r"not_netcdf\.nc: not a"):
        open_columns_file(tmp_path / "not_netcdf.nc")
