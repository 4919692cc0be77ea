"""Shared fixtures: small hand-built column datasets, independent of the sampler under test."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from subgrid.radiation.merra2 import TOP_PRESSURE_PA
from subgrid.physics.schema import RADIATION_INPUTS


def make_columns(
    n_columns: int = 4,
    n_levels: int = 30,
    *,
    surface_temperature_K: float = 295.0,
    cloud_fraction: float = 0.0,
    cloud_pressure_Pa: float = 25000.0,
    ice_water_path_g_m2: float = 0.0,
    liquid_water_path_g_m2: float = 0.0,
    cos_zenith: float | np.ndarray = 0.5,
    distance_factor: float | np.ndarray = 1.0,
) -> xr.Dataset:
    """Columns with a 6.5 K/km troposphere over a 200 K stratosphere, exponential humidity, one cloud layer."""
    sigma = np.linspace(0.0, 1.0, n_levels + 1)
    p_int = np.tile(101300.0 * np.exp(np.log(20.0 / 101300.0) * sigma**1.3), (n_columns, 1))
    p = np.sqrt(p_int[:, :-1] * p_int[:, 1:])
    z = -7000.0 * np.log(p / 101300.0)
    temperature = np.maximum(surface_temperature_K - 6.5e-3 * z, 200.0)
    humidity = np.maximum(0.015 * np.exp(-z / 2000.0), 3e-6)
    ozone = 8e-6 * np.exp(-((np.log(p / 1000.0) / 1.2) ** 2)) + 3e-8
    cloud = np.zeros_like(p)
    level = np.argmin(np.abs(p[0] - cloud_pressure_Pa))
    cloud[:, level] = cloud_fraction
    iwp = np.where(cloud > 0, ice_water_path_g_m2, 0.0)
    lwp = np.where(cloud > 0, liquid_water_path_g_m2, 0.0)
    full = lambda value: np.broadcast_to(np.asarray(value, dtype=float), (n_columns,)).copy()  # noqa: E731
    data = {
        "air_pressure": p,
        "air_pressure_on_interface": p_int,
        "air_temperature": temperature,
        "surface_temperature": full(surface_temperature_K),
        "specific_humidity": humidity,
        "ozone_mole_fraction": ozone,
        "co2_mole_fraction": full(415e-6),
        "cloud_fraction": cloud,
        "cloud_liquid_water_path": lwp,
        "cloud_ice_water_path": iwp,
        "cloud_droplet_radius": np.full_like(p, 10.0),
        "cloud_ice_radius": np.full_like(p, 40.0),
        "surface_albedo_visible": full(0.1),
        "surface_albedo_near_infrared": full(0.2),
        "surface_emissivity": full(0.98),
        "cos_solar_zenith_angle": full(cos_zenith),
        "earth_sun_distance_factor": full(distance_factor),
    }
    assert set(data) == set(RADIATION_INPUTS)
    return xr.Dataset(
        {name: (RADIATION_INPUTS[name].dims, value, RADIATION_INPUTS[name].attrs()) for name, value in data.items()},
        attrs={"vertical_order": "surface_first"},
    )


@pytest.fixture
def columns() -> xr.Dataset:
    return make_columns()


MERRA2_LEVELS = 24


def train_tiny_radiation_run(root, n_levels: int = 12, epochs: int = 1):
    """A ResCNN 8x2 trained for ``epochs`` on 240 sampled, RRTMG-labelled columns in ``root/train.zarr``: ``root/run``."""
    import json

    from subgrid.core.chunked import write_zarr_atomic
    from subgrid.physics.rrtmg import RRTMGConfig
    from subgrid.radiation.columns import ColumnSamplerConfig, sample_columns
    from subgrid.radiation.shifted_sets import label_with_mcica
    from subgrid.radiation.training import RadiationTrainingConfig, train_radiation

    sampler = ColumnSamplerConfig(n_levels=n_levels)
    labelled = label_with_mcica(sample_columns(240, 4, sampler), RRTMGConfig(), 4, 1, 240, progress=False)
    labelled.attrs = {"vertical_order": "surface_first", "sampler_settings": json.dumps(sampler.to_dict()),
                      "rrtmg_settings": json.dumps(RRTMGConfig().to_dict())}  # fmt: skip
    data = write_zarr_atomic(labelled.chunk({"column": 60}), root / "train.zarr")
    config = RadiationTrainingConfig(model="rescnn", model_options={"width": 8, "depth": 2}, batch_size=64,
                                     epochs=epochs, statistics_columns=200)  # fmt: skip
    train_radiation(data, root / "run", config, progress=False)
    return root / "run"


def merra2_fields(times=("2020-03-20T12:00", "2020-06-21T00:00"), lats=(-60.0, 0.0, 45.0), lons=(0.0, 90.0)):
    """Small fields in the layout of MERRA-2 inst3_3d_asm_Nv (lev 1 = top) plus TS from inst1_2d_asm_Nx."""
    rng = np.random.default_rng(0)
    shape = (len(times), MERRA2_LEVELS, len(lats), len(lons))
    ps = 101325.0 - 3000.0 * rng.random(shape[:1] + shape[2:])
    # Hybrid-like thicknesses growing downward, scaled so they add up to PS - p_top.
    weights = np.geomspace(1.0, 60.0, MERRA2_LEVELS)[None, :, None, None] * np.ones(shape)
    delp = weights / weights.sum(axis=1, keepdims=True) * (ps[:, None] - TOP_PRESSURE_PA)
    p_int = TOP_PRESSURE_PA + np.concatenate([np.zeros(shape[:1] + (1,) + shape[2:]), np.cumsum(delp, axis=1)], axis=1)
    pl = 0.5 * (p_int[:, :-1] + p_int[:, 1:])
    z_km = 7.0 * np.log(101325.0 / pl)
    t = np.where(z_km < 12.0, 290.0 - 6.5 * z_km, 212.0 + 1.5 * np.maximum(z_km - 20.0, 0.0))
    qv = np.clip(0.015 * np.exp(-z_km / 2.5), 3e-6, None)
    o3 = 8e-6 * np.exp(-(((z_km - 28.0) / 7.0) ** 2))  # kg/kg
    cloud = np.where((z_km > 2.0) & (z_km < 4.0), 0.5, 0.0) + np.where((z_km > 9.0) & (z_km < 11.0), 0.3, 0.0)
    ql = np.where(cloud > 0, 1e-4 * cloud, 0.0) * (t > 260)
    qi = np.where(cloud > 0, 2e-5 * cloud, 0.0) * (t <= 260)
    dims4, dims3 = ("time", "lev", "lat", "lon"), ("time", "lat", "lon")
    return xr.Dataset(
        {"DELP": (dims4, delp, {"units": "Pa"}), "PL": (dims4, pl, {"units": "Pa"}), "T": (dims4, t, {"units": "K"}),
         "QV": (dims4, qv), "O3": (dims4, o3), "QL": (dims4, ql), "QI": (dims4, qi), "CLOUD": (dims4, cloud),
         "PS": (dims3, ps, {"units": "Pa"}), "TS": (dims3, t[:, -1] + 1.0, {"units": "K"})},
        coords={"time": pd.to_datetime(list(times)), "lev": np.arange(1, MERRA2_LEVELS + 1), "lat": list(lats), "lon": list(lons)},
    )  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests where torch sees no CUDA device, visibly (``-ra`` lists them with the reason).

    With ``SUBGRID_REQUIRE_GPU=1`` a missing GPU fails them instead, so a run meant to exercise the
    GPU cannot pass by skipping.
    """
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch  # only when gpu tests were collected: torch is slow to import

    if torch.cuda.is_available():
        return
    if os.environ.get("SUBGRID_REQUIRE_GPU") == "1":
        for item in gpu_items:
            item.add_marker(pytest.mark.usefixtures("_require_cuda"))
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture
def _require_cuda() -> None:
    pytest.fail("SUBGRID_REQUIRE_GPU=1 but torch sees no CUDA device")


class PhysicsAsEmulator:
    """An "emulator" that implements the contract by delegating to a physics scheme (an exact emulator).

    A host cannot tell it from the physics, so a run with it in the emulator's slot must equal the
    physics run bit for bit; ``calls`` counts its calls.
    """

    def __init__(self, physics) -> None:
        self.physics = physics
        self.calls = 0

    @property
    def inputs(self):
        return self.physics.inputs

    @property
    def outputs(self):
        return self.physics.outputs

    def tendencies(self, state):
        self.calls += 1
        return self.physics.tendencies(state)

