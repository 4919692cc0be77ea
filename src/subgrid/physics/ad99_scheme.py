"""The Alexander-Dunkerton (1999) scheme as datasets and hosts see it: units at the boundary, the contract.

:func:`gw_drag_dataset` takes an xarray Dataset of columns with ``units`` attributes (converted
once), finds the vertical order from the pressures and returns drag and momentum fluxes in the
input's order. :class:`AD99` is the same scheme as a
:class:`~subgrid.core.contract.Parameterization`: ``tendencies(state)`` for a Dataset (as
:func:`gw_drag_dataset`) or a mapping of SI ``(column, level)`` arrays, lowest level first. The
numerics are :mod:`subgrid.physics.ad99`'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import xarray as xr

from subgrid.core import validation
from subgrid.core.contract import Variable
from subgrid.core.errors import InputError
from subgrid.core.units import accepted, to_units
from subgrid.physics.ad99 import _G, _R_D, AD99Config, gw_drag_from_state

#: The SI unit each kind of variable is converted to (accepted spellings: :mod:`subgrid.core.units`).
_UNITS = {"wind": "m s-1", "temperature": "K", "pressure": "Pa", "height": "m", "latitude": "degrees_north"}

#: Dataset variables read by :func:`gw_drag_dataset` and their kind of units.
AD99_INPUTS = {
    "eastward_wind": "wind",
    "northward_wind": "wind",
    "air_temperature": "temperature",
    "air_pressure": "pressure",
    "latitude": "latitude",
}


def _in_si(ds: xr.Dataset, name: str, kind: str) -> xr.DataArray:
    units = ds[name].attrs.get("units")
    if units is None:
        raise InputError(f"{name}: no 'units' attribute (expected one of {', '.join(accepted(_UNITS[kind]))})")
    return to_units(ds[name].astype(float), str(units), _UNITS[kind], name=name)


def _broadcast(name: str, field: xr.DataArray, sizes: dict[str, int]) -> xr.Variable:
    """``field`` on exactly the dims ``sizes`` (in that order), without its coordinates."""
    extra = set(field.dims) - set(sizes)
    if extra:
        raise InputError(f"{name}: dims {field.dims} include {sorted(extra)}, not dims of eastward_wind")
    return field.variable.set_dims(sizes).transpose(*sizes)


def _hypsometric_height_m(temperature_K: np.ndarray, pressure_Pa: np.ndarray) -> np.ndarray:
    """Heights above the lowest level, ``Δz = (R_d T̄ / g) ln(p_below / p_above)``; AD99 needs only Δz."""
    mean_t = 0.5 * (temperature_K[..., 1:] + temperature_K[..., :-1])
    log_ratio = np.log(pressure_Pa[..., :-1] / pressure_Pa[..., 1:])
    dz = _R_D / _G * mean_t * log_ratio
    return np.concatenate([np.zeros(dz.shape[:-1] + (1,)), np.cumsum(dz, axis=-1)], axis=-1)


def gw_drag_dataset(ds: xr.Dataset, config: AD99Config = AD99Config()) -> xr.Dataset:
    """AD99 drag (m s⁻¹ day⁻¹) and momentum flux (Pa) for a Dataset of columns.

    ``ds`` has a ``level`` dimension and the variables of :data:`AD99_INPUTS` with ``units``
    attributes (converted once here); ``air_pressure`` may be a ``level`` coordinate (pressure
    levels) or a full field, ``height`` (optional, m or km; height levels) is otherwise integrated
    hydrostatically. Any other dims are columns. The vertical order comes from the pressures (and
    must agree with a ``vertical_order`` attribute if there is one); the result keeps the input's
    order, with fluxes on an ``interface`` dimension (``level + 1``).
    """
    validation.require_variables(ds, AD99_INPUTS, what="AD99 input dataset")
    if "level" not in ds.dims:
        raise InputError(f"AD99 input dataset: no 'level' dimension (dims are {tuple(ds.dims)})")
    validation.check_numeric(ds, [*AD99_INPUTS, *(["height"] if "height" in ds.variables else [])])
    if "level" not in ds["eastward_wind"].dims:
        raise InputError(f"eastward_wind: dims {ds['eastward_wind'].dims}, expected a 'level' dim (and any column dims)")
    validation.check_has_values(ds["eastward_wind"], "eastward_wind")
    fields = {name: _in_si(ds, name, kind) for name, kind in AD99_INPUTS.items()}
    if "height" in ds.variables:
        fields["height"] = _in_si(ds, "height", "height")
    u = fields["eastward_wind"].transpose(..., "level")
    column_sizes = {dim: size for dim, size in u.sizes.items() if dim != "level"}
    columns = xr.Dataset(
        {
            name: _broadcast(name, field, column_sizes if name == "latitude" else dict(u.sizes))
            for name, field in fields.items()
        }
    )
    validation.check_finite(columns, list(columns.data_vars))
    validation.check_range(columns, "air_pressure", 0.0, units="Pa", low_inclusive=False)

    pressure = columns["air_pressure"].values
    surface_first = pressure[..., 0] > pressure[..., -1]
    if surface_first.all() != surface_first.any():
        raise InputError("air_pressure: vertical order differs between columns (some surface first, some top first)")
    order = "surface_first" if surface_first.all() else "top_first"
    declared = ds.attrs.get("vertical_order", order)
    if declared != order:
        raise InputError(f"vertical_order attribute: {declared!r}, but air_pressure says {order!r}")
    if order == "top_first":
        columns = columns.isel(level=slice(None, None, -1))
    validation.check_monotonic(columns, "air_pressure", "level", decreasing=True)
    if "height" in columns:
        validation.check_monotonic(columns, "height", "level", decreasing=False)
        height = columns["height"].values
    else:
        height = _hypsometric_height_m(columns["air_temperature"].values, columns["air_pressure"].values)

    drag = gw_drag_from_state(
        columns["eastward_wind"].values,
        columns["northward_wind"].values,
        columns["air_temperature"].values,
        columns["air_pressure"].values,
        height,
        columns["latitude"].values,
        config,
    )
    flip = slice(None, None, -1) if order == "top_first" else slice(None)
    interface_dims = u.dims[:-1] + ("interface",)
    out = {}
    for direction, component in (("eastward", drag.eastward), ("northward", drag.northward)):
        out[f"{direction}_gravity_wave_drag"] = (
            u.dims,
            component.drag_m_per_s_per_day[..., flip],
            {"units": "m s-1 day-1", "long_name": f"{direction} acceleration by non-orographic gravity waves (AD99)"},
        )
        out[f"{direction}_gravity_wave_momentum_flux"] = (
            interface_dims,
            component.flux_Pa[..., flip],
            {"units": "Pa", "long_name": f"{direction} momentum flux of propagating gravity waves (AD99)"},
        )
    return xr.Dataset(
        out,
        coords=u.coords,
        attrs={
            "vertical_order": order,
            "scheme": "Alexander & Dunkerton (1999) as in MiMA cg_drag.f90",
            "ad99_settings": json.dumps(config.to_dict()),
        },
    )


_COLUMN_LEVEL = ("column", "level")
class AD99:
    """AD99 non-orographic gravity-wave drag (MiMA's ``cg_drag``) as a parameterization.

    ``inputs``: :data:`AD99_INPUTS` in SI units on ``(column, level)`` (latitude on ``column``);
    ``outputs``: eastward and northward drag (m s⁻¹ day⁻¹, levels) and momentum flux (Pa,
    interfaces). A Dataset goes through :func:`gw_drag_dataset` (units read from its attributes,
    either vertical order); a mapping of arrays is taken as SI, lowest level first, with heights
    integrated hydrostatically unless a ``height`` (m) array is given.
    """

    def __init__(self, config: AD99Config = AD99Config()) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"AD99({self.config!r})"

    @property
    def inputs(self) -> dict[str, Variable]:
        return {
            name: Variable(("column",) if kind == "latitude" else _COLUMN_LEVEL, _UNITS[kind], name.replace("_", " "))
            for name, kind in AD99_INPUTS.items()
        }

    @property
    def outputs(self) -> dict[str, Variable]:
        out = {}
        for direction in ("eastward", "northward"):
            out[f"{direction}_gravity_wave_drag"] = Variable(
                _COLUMN_LEVEL, "m s-1 day-1", f"{direction} acceleration by non-orographic gravity waves (AD99)")
            out[f"{direction}_gravity_wave_momentum_flux"] = Variable(
                ("column", "interface"), "Pa", f"{direction} momentum flux of propagating gravity waves (AD99)")
        return out

    def tendencies(self, state: xr.Dataset | Mapping[str, np.ndarray]) -> xr.Dataset | dict[str, np.ndarray]:
        """Drag and fluxes for ``state`` (a Dataset comes back as a Dataset, a mapping as a dict)."""
        if isinstance(state, xr.Dataset):
            return gw_drag_dataset(state, self.config)
        missing = [name for name in AD99_INPUTS if name not in state]
        if missing:
            raise InputError(f"AD99 state: missing {', '.join(missing)}")
        temperature = np.asarray(state["air_temperature"], dtype=float)
        pressure = np.asarray(state["air_pressure"], dtype=float)
        height = state.get("height")
        if height is None:
            height = _hypsometric_height_m(temperature, pressure)
        drag = gw_drag_from_state(
            np.asarray(state["eastward_wind"], dtype=float), np.asarray(state["northward_wind"], dtype=float),
            temperature, pressure, np.asarray(height, dtype=float), np.asarray(state["latitude"], dtype=float),
            self.config,
        )  # fmt: skip
        return {
            "eastward_gravity_wave_drag": drag.eastward.drag_m_per_s_per_day,
            "northward_gravity_wave_drag": drag.northward.drag_m_per_s_per_day,
            "eastward_gravity_wave_momentum_flux": drag.eastward.flux_Pa,
            "northward_gravity_wave_momentum_flux": drag.northward.flux_Pa,
        }
