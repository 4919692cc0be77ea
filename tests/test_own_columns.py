"""Bring your own columns: MERRA-2 model-level fields -> radiation columns -> RRTMG labels (CLI --from)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from conftest import MERRA2_LEVELS as N_LEV
from conftest import merra2_fields
from subgrid.cli.main import app
from subgrid.physics.constants import STANDARD_GRAVITY_M_PER_S2 as GRAVITY_M_PER_S2
from subgrid.radiation.merra2 import OZONE_MASS_TO_MOLE, TOP_PRESSURE_PA, columns_from_merra2
from subgrid.radiation.dataset import ColumnsLabellingConfig, label_columns, open_columns_file
from subgrid.core.errors import InputError
from subgrid.physics.rrtmg import radiative_transfer
from subgrid.physics.schema import RADIATION_INPUTS


def test_merra2_fields_become_valid_columns_that_conserve_mass_water_and_ozone():
    fields = merra2_fields()
    columns = columns_from_merra2(fields)
    assert columns.sizes == {"column": 12, "level": N_LEV, "interface": N_LEV + 1}
    p_int = columns["air_pressure_on_interface"].values
    # Surface first, bottom interface = PS, top = MERRA-2's 1 Pa; column mass = PS - p_top.
    stacked = fields.stack(column=("time", "lat", "lon"))
    np.testing.assert_allclose(p_int[:, 0], stacked["PS"].values, rtol=1e-12)
    np.testing.assert_allclose(p_int[:, -1], TOP_PRESSURE_PA)
    # Grid-mean condensate = in-cloud path x cloud fraction, level by level (surface first = lev reversed).
    mass = stacked["DELP"].transpose("column", "lev").values[:, ::-1] / GRAVITY_M_PER_S2 * 1000.0
    for path, mixing in (("cloud_liquid_water_path", "QL"), ("cloud_ice_water_path", "QI")):
        grid_mean = stacked[mixing].transpose("column", "lev").values[:, ::-1] * mass
        np.testing.assert_allclose(columns[path].values * columns["cloud_fraction"].values, grid_mean, rtol=1e-10, atol=1e-12)
    assert columns["cloud_liquid_water_path"].max() > 1.0  # g m-2: the test has cloud water to convert
    o3 = stacked["O3"].transpose("column", "lev").values[:, ::-1]
    np.testing.assert_allclose(columns["ozone_mole_fraction"].values, o3 * OZONE_MASS_TO_MOLE)
    # The sun: equinox, 12 UTC, equator, 0°E is local noon with the sun overhead; 90°E is 18 h.
    noon = (columns["latitude"] == 0.0) & (columns["longitude"] == 0.0) & (columns["day_of_year"] == 80.0)
    assert columns["cos_solar_zenith_angle"].values[noon.values].item() > 0.99
    dusk = (columns["latitude"] == 0.0) & (columns["longitude"] == 90.0) & (columns["day_of_year"] == 80.0)
    assert columns["local_solar_time"].values[dusk.values].item() == 18.0
    for name, var in RADIATION_INPUTS.items():
        assert columns[name].attrs["units"] == var.units
    # RRTMG runs on them and its heating integrates to the flux divergence (a sanity check of the layout).
    out = radiative_transfer(columns.isel(column=slice(0, 4)))
    assert np.isfinite(out["lw_heating_rate"]).all() and float(out["lw_flux_up"].isel(interface=-1).min()) > 150.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop_vars("TS"), "missing variable.*TS"),
        (lambda f: f.assign(T=f["T"].where(f["lev"] != 3)), "T: .*missing or non-finite"),
        (lambda f: f.assign(QV=f["QV"].where(f["lev"] != 5, 1e15)), "QV: .*1e15 fill"),
        (lambda f: f.assign(PS=f["PS"] * 1.05), r"PS: differs by 4.8 %"),
        (lambda f: f.assign(DELP=-f["DELP"]), "DELP: .*> 0 Pa"),
        (lambda f: f.assign(PS=f["PS"].isel(time=0)), "PS: dims"),
    ],
)
def test_bad_merra2_fields_are_named(change, message):
    with pytest.raises(InputError, match=message):
        columns_from_merra2(change(merra2_fields()))


def test_the_cli_labels_a_columns_file_with_rrtmg_and_refuses_wrong_units(tmp_path):
    columns = columns_from_merra2(merra2_fields())
    source = tmp_path / "merra2_columns.nc"
    columns.to_netcdf(source)
    out = tmp_path / "labelled.zarr"
    result = CliRunner().invoke(app, ["generate", "radiation", "--from", str(source), "--out", str(out), "--chunk-size",
                                      "5", "--workers", "1", "--no-progress", "--no-summary"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "12 columns of" in result.output
    labelled = xr.open_zarr(out)
    assert labelled.sizes["column"] == 12 and labelled.attrs["source"] == str(source.resolve())
    # The labels are RRTMG's on the same columns (clear columns are deterministic: compare those exactly).
    clear = (columns["cloud_fraction"] == 0).all("level").values
    direct = radiative_transfer(columns)
    np.testing.assert_allclose(labelled["lw_flux_up"].values[clear], direct["lw_flux_up"].values[clear], rtol=1e-10)
    np.testing.assert_allclose(labelled["latitude"].values, columns["latitude"].values)

    wrong = tmp_path / "hpa.nc"
    # hPa would be converted (subgrid.core.units); a unit of another quantity is refused.
    columns.assign(air_pressure=columns["air_pressure"].assign_attrs(units="K")).to_netcdf(wrong)
    result = CliRunner().invoke(app, ["generate", "radiation", "--from", str(wrong), "--out", str(tmp_path / "x.zarr"),
                                      "--workers", "1", "--no-progress"])  # fmt: skip
    assert result.exit_code == 2 and "air_pressure: units 'K'" in result.output
    assert not (tmp_path / "x.zarr").exists()
    with pytest.raises(InputError, match="no such columns file"):
        open_columns_file(tmp_path / "missing.nc")


def test_bad_values_in_a_columns_file_name_the_file_and_columns(tmp_path):
    columns = columns_from_merra2(merra2_fields())
    temperature = columns["air_temperature"].values.copy()
    temperature[7, 3] = np.nan
    source = tmp_path / "nan.nc"
    columns.assign(air_temperature=columns["air_temperature"].copy(data=temperature)).to_netcdf(source)
    config = ColumnsLabellingConfig.for_file(source, chunk_size=4)
    with pytest.raises(Exception, match=r"nan.nc, columns 4-7: air_temperature: 1 non-finite value\(s\) \(NaN\)"):
        label_columns(tmp_path / "y.zarr", config, workers=1, progress=False)
    assert not (tmp_path / "y.zarr").exists()
