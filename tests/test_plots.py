"""Evaluation figures: each writes one complete PNG atomically and leaves matplotlib's global state alone."""

from __future__ import annotations

import matplotlib
import pytest
import xarray as xr
from test_metrics import synthetic_radiation

from subgrid.core.errors import InputError
from subgrid.evaluation.metrics import radiation_metrics
from subgrid.evaluation.plots import plot_flux_scatter, plot_heating_profiles, plot_regime_errors

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(params=["surface_first", "top_first"])
def pair(request) -> tuple[xr.Dataset, xr.Dataset]:
    truth = synthetic_radiation(vertical_order=request.param)
    pred = synthetic_radiation(vertical_order=request.param, seed=1)
    lowest = 0 if request.param == "surface_first" else truth.sizes["level"] - 1
    # An off-scale lowest layer, as thin bottom layers give: must be pinned to the axis edge, not break it.
    pred["lw_heating_rate"][:, lowest] -= 300.0
    return truth, pred


def assert_single_png(directory, path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5_000
    assert sorted(p.name for p in directory.iterdir()) == [path.name], "temporary files left behind"


def test_heating_profiles_png(pair, tmp_path):
    path = plot_heating_profiles(*pair, tmp_path / "heating.png", label="rescnn")
    assert path == tmp_path / "heating.png"
    assert_single_png(tmp_path, path)


def test_flux_scatter_png(pair, tmp_path):
    path = plot_flux_scatter(*pair, tmp_path / "fluxes.png", label="rescnn")
    assert_single_png(tmp_path, path)


def test_regime_errors_png(pair, tmp_path):
    path = plot_regime_errors(radiation_metrics(*pair), tmp_path / "regimes.png")
    assert_single_png(tmp_path, path)


def test_flux_scatter_without_daytime_columns(tmp_path):
    truth = synthetic_radiation()
    truth["cos_solar_zenith_angle"][:] = -0.5
    path = plot_flux_scatter(truth, truth, tmp_path / "night.png")
    assert_single_png(tmp_path, path)


def test_rewriting_replaces_the_file(pair, tmp_path):
    path = tmp_path / "regimes.png"
    path.write_bytes(b"stale")
    plot_regime_errors(radiation_metrics(*pair), path)
    assert_single_png(tmp_path, path)


def test_plots_leave_pyplot_and_the_backend_alone(pair, tmp_path):
    import matplotlib.pyplot as plt

    backend, figures = matplotlib.get_backend(), plt.get_fignums()  # another test in this process may have left some
    plot_heating_profiles(*pair, tmp_path / "heating.png")
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == figures


def test_missing_inputs_are_named(pair, tmp_path):
    truth, pred = pair
    with pytest.raises(InputError, match="air_pressure"):
        plot_heating_profiles(truth.drop_vars("air_pressure"), pred, tmp_path / "x.png")
    with pytest.raises(InputError, match="by_regime"):
        plot_regime_errors({}, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
