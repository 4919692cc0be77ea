"""Random garbage fed to every other reader: it succeeds or raises InputError, never another exception (issue 20).

The radiation readers and the sidecar are in ``test_fuzz_readers.py``; here the gravity-wave
datasets (column and gridded, both layouts), the ERA5-like fields of the flux recipe, the AD99
and RRTMG schemes on Datasets, MERRA-2 fields, and the run directories of the three trainers.
A seeded numpy generator mutates a valid dataset twice (drop a variable, rename or transpose its
dims, a dim of length 0, a wrong shape, strings, ints, bools, objects, NaN/Inf, 1e30, missing or
garbage units) and each reader gets the result, in memory or written as zarr; files and run
directories are also replaced by garbage bytes and JSON.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.gravity_waves.column.dataset import (
    GWDatasetConfig,
    GWRun,
    gw_dataset,
    load_gw_arrays,
    open_gw_dataset,
    provenance,
)
from subgrid.gravity_waves.column.training import build_gw_emulator, load_gw_emulator
from subgrid.gravity_waves.gridded.dataset import open_gw_gridded
from subgrid.gravity_waves.gridded.fluxes import gw_fluxes_from_fields, open_fields
from subgrid.gravity_waves.gridded.training import KIND, build_gw_gridded_emulator, load_gw_gridded_emulator
from subgrid.physics.ad99_scheme import AD99, gw_drag_dataset
from subgrid.physics.rrtmg import RRTMG, radiative_transfer
from subgrid.radiation.merra2 import columns_from_merra2
from subgrid.radiation.training import DERIVED_LEVEL_FEATURES, build_emulator, load_emulator
from subgrid.training.runs import save_weights

from conftest import make_columns, merra2_fields
from test_ad99 import _dataset as ad99_dataset, _gcm_state
from test_fuzz_readers import _either_success_or_input_error, _garbage_values
from test_gw_fluxes import era5_like
from test_gw_gridded import fine_tuning_fields

pytestmark = pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # a model.json with 0 levels
CASES = 25
GARBAGE_FILES = [b"", b"\x00" * 64, b"CDF\x01garbage", b"\x89HDF\r\n\x1a\n" + b"\x00" * 32, bytes(range(256)) * 2]
#: A coarse target and a low truncation keep the flux recipe at milliseconds on the 17 x 32 fields.
FLUX_OPTIONS = dict(target="gaussian:8x16", truncation=3)


def _garbage(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The radiation fuzz test's garbage values, plus object arrays and all-NaN fields."""
    kind = rng.integers(8)
    if kind == 5:
        return np.full(shape, None, dtype=object)
    if kind == 6:
        return np.full(shape, np.nan)
    return _garbage_values(rng, shape)


def _mutation(ds: xr.Dataset, rng: np.random.Generator) -> xr.Dataset:
    name = list(ds.data_vars)[rng.integers(len(ds.data_vars))]
    var = ds[name].variable
    what = rng.integers(8)
    if what == 0:
        return ds.drop_vars(name)
    if what == 1:
        return ds.assign({name: xr.Variable(tuple(f"d{i}" for i in range(var.ndim)), var.values, var.attrs)})
    if what == 2:
        return ds.assign({name: var.transpose(*var.dims[::-1])})
    if what == 3:
        dim = list(ds.dims)[rng.integers(len(ds.dims))]
        return ds.isel({dim: slice(0, 0)})
    if what == 4:  # a wrong shape: one value short along the last dim, under a dim of its own
        if not var.ndim:
            return ds
        short = var.isel({var.dims[-1]: slice(0, max(1, var.shape[-1] - 1))})
        return ds.assign({name: xr.Variable(var.dims[:-1] + (f"short_{name}",), short.values, var.attrs)})
    if what == 5:
        dim = var.dims[0] if var.ndim else "column"
        return ds.assign({name: xr.Variable((dim,), _garbage(rng, (ds.sizes.get(dim, 3),)), var.attrs)})
    if what == 6:
        attrs = {key: value for key, value in var.attrs.items() if key != "units"}
        if rng.random() < 0.5:
            attrs["units"] = ["garbage", 5, "", "K", "Pa", "degrees_north"][rng.integers(6)]
        return ds.assign({name: xr.Variable(var.dims, var.values, attrs)})
    return ds.assign({name: xr.Variable(var.dims, _garbage(rng, var.shape), var.attrs)})


def mutate(ds: xr.Dataset, rng: np.random.Generator, times: int = 2) -> xr.Dataset:
    """``ds`` after ``times`` random mutations (one that xarray itself refuses to build is drawn again)."""
    for _ in range(times):
        for _attempt in range(5):
            try:
                ds = _mutation(ds, rng)
                break
            except ValueError:  # e.g. a renamed dim whose size clashes with another variable's
                continue
    return ds


def _written(ds: xr.Dataset, path) -> bool:
    try:
        ds.to_zarr(path, zarr_format=2, consolidated=True, mode="w")
    except (ValueError, TypeError):
        return False  # xarray cannot write this mutation (an object array, a clashing dim)
    return True


# --- valid inputs ----------------------------------------------------------------------------


def gw_column_dataset(n_levels: int = 5) -> xr.Dataset:
    """Two runs of four days, written by the module's own layout function and provenance."""
    rng = np.random.default_rng(0)
    runs = [
        GWRun(i, i, np.arange(4.0), rng.normal(size=(4, n_levels)), rng.normal(size=(4, n_levels)), np.ones(4), np.ones(4))
        for i in range(2)
    ]  # fmt: skip
    height = 1e3 * np.arange(n_levels)
    return gw_dataset(runs, height, np.exp(-height / 7e3), provenance(GWDatasetConfig(), {}, {}))


@pytest.fixture(scope="module")
def valid_stores() -> dict[str, xr.Dataset]:
    fields = era5_like(n_time=1, nlat=17, nlon=32)
    return {
        "gw_column": gw_column_dataset(),
        "gw_public": fine_tuning_fields(n_times=2, n_levels=2).isel(lat=slice(0, 8), lon=slice(0, 16)),
        "gw_own": gw_fluxes_from_fields(era5_like(n_time=2, nlat=17, nlon=32), **FLUX_OPTIONS),
        "fields": fields,
    }


def _read_store(kind: str, path) -> None:
    if kind == "gw_column":
        _either_success_or_input_error(lambda: open_gw_dataset(path))
        _either_success_or_input_error(lambda: load_gw_arrays([path]))
    elif kind == "fields":
        _either_success_or_input_error(lambda: gw_fluxes_from_fields(open_fields([path]), **FLUX_OPTIONS))
    else:
        _either_success_or_input_error(lambda: open_gw_gridded(path))
        _either_success_or_input_error(lambda: open_gw_gridded(path, grid=None))


def test_the_valid_stores_are_read(tmp_path, valid_stores):
    assert open_gw_dataset(_store(tmp_path, valid_stores["gw_column"], "c")).sizes["column"] == 8
    assert open_gw_gridded(_store(tmp_path, valid_stores["gw_public"], "p"), grid=None).attrs["n_levels"] == 2
    assert open_gw_gridded(_store(tmp_path, valid_stores["gw_own"], "o")).sizes["level"] == 3
    fields = open_fields([_store(tmp_path, valid_stores["fields"], "f")])
    assert gw_fluxes_from_fields(fields, **FLUX_OPTIONS)["uw_flux"].shape == (1, 3, 8, 16)


def _store(tmp_path, ds: xr.Dataset, name: str):
    path = tmp_path / f"{name}.zarr"
    assert _written(ds, path)
    return path


# --- stores and files ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gw_column", "gw_public", "gw_own", "fields"])
@pytest.mark.parametrize("seed", range(CASES))
def test_store_readers_on_mutated_stores(tmp_path, valid_stores, kind, seed):
    rng = np.random.default_rng([seed, len(kind)])
    path = tmp_path / "fuzz.zarr"
    if not _written(mutate(valid_stores[kind], rng), path):
        pytest.skip("xarray cannot write this mutation")
    _read_store(kind, path)


@pytest.mark.parametrize("kind", ["gw_column", "gw_public", "fields"])
def test_store_readers_on_garbage_files_and_empty_stores(tmp_path, kind):
    for index, content in enumerate(GARBAGE_FILES):
        path = tmp_path / f"garbage{index}.nc"
        path.write_bytes(content)
        _read_store(kind, path)
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    _read_store(kind, empty)
    damaged = tmp_path / "damaged.zarr"
    damaged.mkdir()
    (damaged / ".zgroup").write_text("{not json")
    (damaged / ".zmetadata").write_bytes(b"\x00\x01")
    _read_store(kind, damaged)
    _read_store(kind, tmp_path / "missing.zarr")


# --- Datasets in memory ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(CASES))
def test_dataset_schemes_on_mutated_datasets(seed):
    rng = np.random.default_rng(seed)
    ad99 = mutate(ad99_dataset(_gcm_state(3, 12)), rng)
    _either_success_or_input_error(lambda: gw_drag_dataset(ad99))
    _either_success_or_input_error(lambda: AD99().tendencies(ad99))
    merra2 = mutate(merra2_fields(times=("2020-03-20T12:00",), lats=(0.0, 45.0), lons=(0.0,)), rng)
    _either_success_or_input_error(lambda: columns_from_merra2(merra2))
    columns = mutate(make_columns(3, 6), rng)
    _either_success_or_input_error(lambda: radiative_transfer(columns))
    _either_success_or_input_error(lambda: RRTMG().tendencies(columns))
    fields = mutate(era5_like(n_time=1, nlat=17, nlon=32), rng)
    _either_success_or_input_error(lambda: gw_fluxes_from_fields(fields, **FLUX_OPTIONS))


# --- run directories -------------------------------------------------------------------------

#: model.json of a tiny real run of each trainer, and the emulator it describes (weights saved from it).
RUNS = {
    "radiation": (
        load_emulator,
        {"model": "mlp", "model_options": {"hidden": 4, "layers": 1}, "n_levels": 6,
         "derived_level_features": list(DERIVED_LEVEL_FEATURES)},
        lambda d: build_emulator(d["model"], d["model_options"], d["n_levels"]),
    ),
    "gw_column": (
        load_gw_emulator,
        {"kind": "gw_emulator", "model": "mlp", "model_options": {"hidden": 4, "layers": 1}, "n_levels": 6,
         "scale_drag_by_source_flux": True, "momentum_budget": False},
        lambda d: build_gw_emulator(d["model"], d["model_options"], d["n_levels"], True, False),
    ),
    "gw_gridded": (
        load_gw_gridded_emulator,
        {"kind": KIND, "model": "unet", "model_options": {"base_width": 4}, "input_channels": ["u[0]", "v[0]"],
         "target_channels": ["uw_flux[0]"]},
        lambda d: build_gw_gridded_emulator(d["model"], d["model_options"], 2, 1),
    ),
}  # fmt: skip
JSON_VALUES = [None, 0, -1, 10**9, 1.5, True, "x", "mlp", "unet", [], ["a"], {}, {"bogus": 1}, {"hidden": "wide"}]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, bytes]:
    """``model.safetensors`` bytes of each run of :data:`RUNS`."""
    out = {}
    for name, (_, description, build) in RUNS.items():
        path = tmp_path_factory.mktemp(name) / "model.safetensors"
        save_weights(build(description), path)
        out[name] = path.read_bytes()
    return out


def _run_directory(path, description, weights: bytes | None):
    path.mkdir()
    if description is not None:
        (path / "model.json").write_text(description if isinstance(description, str) else json.dumps(description))
    if weights is not None:
        (path / "model.safetensors").write_bytes(weights)
    return path


@pytest.mark.parametrize("run", list(RUNS))
def test_the_tiny_runs_load(tmp_path, weights, run):
    load, description, _ = RUNS[run]
    emulator, loaded = load(_run_directory(tmp_path / "run", description, weights[run]))
    assert loaded == description and not emulator.training


@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("seed", range(CASES))
def test_run_loaders_on_mutated_runs(tmp_path, weights, run, seed):
    rng = np.random.default_rng(seed)
    load, description, _ = RUNS[run]
    description = dict(description)
    for key in rng.choice(sorted(description), size=rng.integers(1, 3), replace=False):
        if rng.random() < 0.3:
            del description[str(key)]
        else:
            description[str(key)] = JSON_VALUES[rng.integers(len(JSON_VALUES))]
    data = weights[run]
    damage = rng.integers(4)
    if damage == 1:  # truncated
        data = data[: rng.integers(len(data))]
    elif damage == 2:  # bytes flipped in the tensors (the header stays valid)
        array = np.frombuffer(data, dtype=np.uint8).copy()
        array[-rng.integers(1, 64)] ^= 0xFF
        data = array.tobytes()
    elif damage == 3:
        data = rng.bytes(int(rng.integers(0, 200)))
    _either_success_or_input_error(lambda: load(_run_directory(tmp_path / "run", description, data)))


@pytest.mark.parametrize("run", list(RUNS))
def test_run_loaders_on_garbage_run_directories(tmp_path, weights, run):
    load = RUNS[run][0]
    (tmp_path / "a_file").write_text("not a run")
    (tmp_path / "empty").mkdir()
    cases = [tmp_path / "a_file", tmp_path / "empty", tmp_path / "missing"]
    for index, text in enumerate(["", "{not json", "[1, 2]", "null", '"x"', "{}", '{"kind": 5}', "\ufeff{}"]):
        cases.append(_run_directory(tmp_path / f"json{index}", text, weights[run]))
    cases.append(_run_directory(tmp_path / "binary", None, weights[run]))
    (cases[-1] / "model.json").write_bytes(b"\xff\xfe\x00garbage")
    cases.append(_run_directory(tmp_path / "no_weights", RUNS[run][1], None))
    cases.append(_run_directory(tmp_path / "empty_weights", RUNS[run][1], b""))
    cases.append(_run_directory(tmp_path / "json_dir", None, weights[run]))
    (cases[-1] / "model.json").mkdir()
    for path in cases:
        with pytest.raises(InputError):
            load(path)
