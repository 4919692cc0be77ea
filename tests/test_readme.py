"""The README's Python examples run as written (docs that never run go stale)."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import merra2_fields

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README should show the Python API"
    monkeypatch.chdir(tmp_path)
    # The MERRA-2 example reads two files of the real collections' layout (written here, small).
    fields = merra2_fields()
    fields.drop_vars("TS").to_netcdf("MERRA2_400.inst3_3d_asm_Nv.20200321.nc4")
    fields[["TS"]].to_netcdf("MERRA2_400.inst1_2d_asm_Nx.20200321.nc4")
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    assert (tmp_path / "example_rad.zarr").exists()
    assert (tmp_path / "merra2_columns.nc").exists()
