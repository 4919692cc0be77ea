"""The chunked zarr writer: parallel, resumable, atomic, and loud about chunks whose worker died."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from subgrid.core.chunked import lazy_template, partial_path, run_chunked
from subgrid.core.errors import InputError, SchemeFailure


def _example() -> xr.Dataset:
    return xr.Dataset(
        {"x": (("column", "level"), np.zeros((1, 3)), {"units": "K"}), "n": ("column", np.zeros(1, dtype="int8"))},
        attrs={"title": "test"},
    )


def _squares(index: int, columns: slice) -> xr.Dataset:
    ids = np.arange(columns.start, columns.stop)
    return xr.Dataset(
        {"x": (("column", "level"), np.outer(ids, [1.0, 2.0, 3.0]) ** 2), "n": ("column", (ids % 100).astype("int8"))}
    )


def test_lazy_template_has_full_size_dtypes_and_attrs():
    template = lazy_template(_example(), 10, 4)
    assert template["x"].shape == (10, 3) and template["x"].chunks == ((4, 4, 2), (3,))
    assert template["n"].dtype == np.int8 and template["x"].attrs == {"units": "K"}


def test_writes_every_chunk_and_renames_when_complete(tmp_path):
    path = tmp_path / "out.zarr"
    report = run_chunked(path, lazy_template(_example(), 25, 10), _squares, chunk_size=10, job={"k": 1}, workers=2, progress=False)
    assert sorted(report.computed) == [0, 1, 2] and report.skipped == []
    assert path.exists() and not partial_path(path).exists()
    ds = xr.open_zarr(path)
    assert "chunk_done" not in ds and ds.attrs["title"] == "test"
    np.testing.assert_array_equal(ds["x"].values, np.outer(np.arange(25), [1.0, 2.0, 3.0]) ** 2)
    assert ds["n"].dtype == np.int8
    with pytest.raises(InputError, match="already exists"):
        run_chunked(path, lazy_template(_example(), 25, 10), _squares, chunk_size=10, job={"k": 1}, progress=False)


def test_dead_worker_fails_only_its_chunk_and_a_rerun_resumes(tmp_path):
    path = tmp_path / "out.zarr"
    template = lazy_template(_example(), 40, 10)

    def dies_on_chunk_2(index: int, columns: slice) -> xr.Dataset:
        if index == 2:
            import os

            os._exit(1)  # what a Fortran STOP does to the process
        return _squares(index, columns)

    with pytest.raises(SchemeFailure, match=r"1 of 4 chunks failed.*\n  chunk 2 \(columns 20-29\): its worker process died"):
        run_chunked(path, template, dies_on_chunk_2, chunk_size=10, job={"k": 2}, workers=2, progress=False)
    assert not path.exists() and partial_path(path).exists()

    with pytest.raises(InputError, match="other settings"):
        run_chunked(path, template, _squares, chunk_size=10, job={"k": 3}, workers=1, progress=False)

    report = run_chunked(path, template, _squares, chunk_size=10, job={"k": 2}, workers=1, progress=False)
    assert report.computed == [2] and sorted(report.skipped) == [0, 1, 3]
    np.testing.assert_array_equal(xr.open_zarr(path)["x"].values, np.outer(np.arange(40), [1.0, 2.0, 3.0]) ** 2)


def test_python_errors_in_a_chunk_are_reported_with_their_message(tmp_path):
    def bad_chunk(index: int, columns: slice) -> xr.Dataset:
        raise ValueError(f"no data for chunk {index}")

    with pytest.raises(SchemeFailure, match=r"chunk 0 \(columns 0-4\): ValueError: no data for chunk 0"):
        run_chunked(tmp_path / "o.zarr", lazy_template(_example(), 5, 5), bad_chunk, chunk_size=5, job={}, workers=1, progress=False)
