"""Radiation emulator: physical columns in, energy-consistent physical fluxes and heating rates out.

The backbone (any column network, ``[B, C_in, L] -> [B, 6, L]``) does not predict fluxes
directly. Heating rates in thin upper layers (~13 Pa at 0.2 hPa) amplify flux errors 65-fold
(K/day per W m⁻²), far beyond what a network can resolve on fluxes of ~300 W m⁻². So it predicts,
per layer ``j`` and flux component ``c``, the normalised *heating-rate contribution*

    h_cj = (g/cp) · 86400 · (F_c[j+1] − F_c[j]) / (p[j+1] − p[j])          [K/day]

(for SW per unit relative insolation ``s = S/S0``), plus two surface anchors (the level mean of
channels 4 and 5). Each flux is integrated from the boundary where its source is: downward fluxes
from the top of the atmosphere, where LW down = 0 and SW down = S = S0·max(cos Z, 0)·d are known
exactly, ``F_down[i] = F_down[top] − Σ_{j >= i} (F[j+1] − F[j])``; upward fluxes from the surface,
``F_up[i] = F_up[0] + Σ_{j < i} (F[j+1] − F[j])``, where LW up = ε σ Ts⁴ + (1 − ε) LW down plus a
learned residual, and SW up = (learned effective albedo) × SW down.

Constraints hold by construction: fluxes are clipped at 0; with S = 0 (night) every SW flux is
exactly 0; SW down at the top equals S exactly; and the returned heating rates are computed from
the returned fluxes, ``(g/cp) ΔF_net/Δp``, so heating and fluxes are energy-consistent.

Inputs are physical (the same units as :mod:`subgrid.physics.schema`, surface first):
``level_inputs[B, len(LEVEL_FEATURES), L]``, ``column_inputs[B, len(COLUMN_FEATURES)]``,
``pressure_interface_Pa[B, L+1]``. Feature transforms (logs) and per-level normalisation
statistics (fitted on the training split, stored as buffers) live inside the module, so an
exported artifact takes and returns physical quantities.

Vertical grids. A *fixed-grid* emulator (``n_levels`` an integer) keeps one mean and σ per model
level, so it takes that level count only. A *grid-agnostic* one (``n_levels=None``) keeps them as
tables over :data:`LOG_PRESSURE_NODES` instead, read at each layer's own pressure by linear
interpolation in ln p (:func:`log_pressure_weights`), and its backbone is a convolution over levels
(length-free), so one set of weights takes any number of layers, any top and any surface
pressure. What it predicts per layer (heating contributions, K/day) is intensive, so its meaning
does not depend on how thick the layer is; the fluxes are integrated on the caller's grid.

The top layer. Its cooling is mostly emission to space, set by its own temperature, absorber
amounts and thickness; a convolution over levels sees it at the edge of its padding and through
z-scores at its pressure, and got it wrong on every shifted set (issue 18: 62 % of the LW MSE on
CO2 at 2-4x, warm by 0.6-5.9 K/day; on a coarse 3.9 Pa-top grid the top three layers hold half the
SW MSE). With ``top_head_width`` > 0 a small MLP (the *top-layer head*) gives the net LW heating of
the top layer and the net SW heating per unit relative insolation of the top :data:`TOP_HEAD_LAYERS`
layers from their physical state (:func:`top_layer_features`), in units of
:data:`TOP_HEATING_SCALE_K_DAY`; each such layer's down contribution becomes its up contribution
minus that net, so fluxes and heating stay energy-consistent (the downward fluxes below carry the
emission and absorption the nets imply). The trainer fits the head to the training columns' top
layers before anything else (:func:`subgrid.radiation.top_head.fit_top_head`), then holds it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from subgrid.physics.constants import RRTMG, STEFAN_BOLTZMANN_W_PER_M2_K4

#: (g/cp) · seconds per day with RRTMG's (sympl's) g and c_p, which the reference heating rates use:
#: K/day of heating per (W m⁻² of net flux divergence per Pa).
HEATING_FACTOR = RRTMG.heating_K_per_day_per_W_per_kg

#: (name, transform) of the per-level inputs, in channel order. ``log`` for quantities spanning
#: decades, ``log1p`` for water paths in g m⁻² that are mostly 0.
LEVEL_FEATURES: tuple[tuple[str, str], ...] = (
    ("air_temperature", "identity"),
    ("air_pressure", "log"),
    ("specific_humidity", "log"),
    ("ozone_mole_fraction", "log"),
    ("cloud_fraction", "identity"),
    ("cloud_liquid_water_path", "log1p"),
    ("cloud_ice_water_path", "log1p"),
    ("cloud_droplet_radius", "identity"),
    ("cloud_ice_radius", "identity"),
)
#: (name, transform) of the per-column inputs (broadcast to every level).
COLUMN_FEATURES: tuple[tuple[str, str], ...] = (
    ("surface_temperature", "identity"),
    ("co2_mole_fraction", "log"),
    ("surface_albedo_visible", "identity"),
    ("surface_albedo_near_infrared", "identity"),
    ("surface_emissivity", "identity"),
    ("cos_solar_zenith_angle", "identity"),
    ("earth_sun_distance_factor", "identity"),
)
#: Features derived inside the model from the inputs above (per level, after the transformed
#: inputs): radiation depends on optical paths, not only on local state, so the model sees
#: cloud optical depth and the gas and cloud paths above and below each layer explicitly
#: (transmission to a level is roughly exp(-path)). log1p of each.
DERIVED_LEVEL_FEATURES: tuple[str, ...] = (
    "log_layer_thickness",  # log Δp [Pa]
    "cloud_optical_depth",  # in-cloud τ ≈ 1.5 LWP/r_liq + 1.5 IWP/(0.917 r_ice), LWP g m⁻², r µm
    "cloud_opacity",  # f · (1 − exp(−τ)): the layer's cloud-area-weighted absorptivity
    "cloud_optical_path_above",  # Σ over layers above of f·τ
    "cloud_optical_path_below",
    "water_vapour_path_above",  # kg m⁻²
    "water_vapour_path_below",
    "ozone_path_above",  # Σ x_O3 Δp/g (kg m⁻² of air times mole fraction), ×1e3
)
FLUXES = ("lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down")
HEATING_RATES = ("lw_heating_rate", "sw_heating_rate")
N_OUTPUT_CHANNELS = len(FLUXES) + 2  # four heating contributions + two anchor channels

_LEVEL_NAMES = [name for name, _ in LEVEL_FEATURES]
_Q, _O3, _CF, _LWP, _IWP, _R_LIQ, _R_ICE = (
    _LEVEL_NAMES.index(name)
    for name in (
        "specific_humidity", "ozone_mole_fraction", "cloud_fraction", "cloud_liquid_water_path",
        "cloud_ice_water_path", "cloud_droplet_radius", "cloud_ice_radius",
    )
)  # fmt: skip
_PRESSURE = _LEVEL_NAMES.index("air_pressure")
_COLUMN_NAMES = [name for name, _ in COLUMN_FEATURES]
_COS_ZENITH = _COLUMN_NAMES.index("cos_solar_zenith_angle")
_DISTANCE = _COLUMN_NAMES.index("earth_sun_distance_factor")
_SURFACE_TEMPERATURE = _COLUMN_NAMES.index("surface_temperature")
_EMISSIVITY = _COLUMN_NAMES.index("surface_emissivity")


#: ln p (Pa) of the nodes of a grid-agnostic emulator's normalisation tables: 1 Pa to 1100 hPa, ~0.46
#: apart (3.2 km of log-pressure height). Pressures outside take the end nodes' values.
LOG_PRESSURE_NODES: tuple[float, ...] = tuple(math.log(1.1e5) * k / 25 for k in range(26))


def log_pressure_weights(log_pressure: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    """Linear-interpolation weights ``[B, K, L]`` of layers at ``log_pressure[B, L]`` (ln Pa) on evenly spaced
    ``nodes[K]``: hat functions one spacing wide, summing to 1 at every layer (clamped to the end nodes)."""
    spacing = nodes[1] - nodes[0]
    x = torch.minimum(torch.maximum(log_pressure, nodes[0]), nodes[-1])
    return torch.relu(1.0 - torch.abs(x.unsqueeze(1) - nodes[None, :, None]) / spacing)


def _masks(features: tuple[tuple[str, str], ...], kind: str) -> torch.Tensor:
    return torch.tensor([transform == kind for _, transform in features])


def _paths_above_below(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums over the layers above and below each layer (surface first along the last dim), excluding it."""
    below = torch.cumsum(x, dim=-1) - x
    above = torch.flip(torch.cumsum(torch.flip(x, dims=[-1]), dim=-1), dims=[-1]) - x
    return torch.clamp(above, min=0.0), torch.clamp(below, min=0.0)  # round-off can leave -1e-16


def derived_level_features(level_inputs: torch.Tensor, pressure_interface_Pa: torch.Tensor) -> torch.Tensor:
    """The :data:`DERIVED_LEVEL_FEATURES` ``[B, 8, L]`` from physical inputs (surface first)."""
    dp = pressure_interface_Pa[:, :-1] - pressure_interface_Pa[:, 1:]
    air_mass = dp / RRTMG.gravity_m_per_s2  # kg m-2 per layer
    tau = 1.5 * torch.clamp(level_inputs[:, _LWP], min=0.0) / torch.clamp(level_inputs[:, _R_LIQ], min=1.0) + 1.5 * torch.clamp(
        level_inputs[:, _IWP], min=0.0
    ) / (0.917 * torch.clamp(level_inputs[:, _R_ICE], min=1.0))
    fraction = torch.clamp(level_inputs[:, _CF], 0.0, 1.0)
    cloud_above, cloud_below = _paths_above_below(fraction * tau)
    vapour_above, vapour_below = _paths_above_below(torch.clamp(level_inputs[:, _Q], min=0.0) * air_mass)
    ozone_above, _ = _paths_above_below(torch.clamp(level_inputs[:, _O3], min=0.0) * air_mass * 1e3)
    paths = torch.stack(
        [tau, fraction * (1.0 - torch.exp(-tau)), cloud_above, cloud_below, vapour_above, vapour_below, ozone_above], dim=1
    )
    return torch.cat([torch.log(dp).unsqueeze(1), torch.log1p(paths)], dim=1)


#: Layers under the model top whose own state the top-layer head reads (``RadiationEmulator(top_head_width=...)``)
#: and whose net SW heating it gives; of LW it gives the top layer's alone (measured on ``ga5c``, fitted alone: with
#: the next two layers' LW as well its top-layer LW fit was 0.73 K/day RMSE against 0.50, and those two layers were
#: worse than the backbone's on every shifted set but the low tops).
TOP_HEAD_LAYERS = 3

#: The fewest levels a grid-agnostic emulator takes, in every format (the export's dynamic level dimension,
#: :class:`~subgrid.radiation.emulator.Emulator` and the C ABI check it): the top-layer head's layers plus two
#: below them. ``torch.export`` will not compile a headed model for a level count at which the backbone's share
#: below the head is empty or a single layer (sizes 0 and 1 are special cases to the compiler).
MIN_GRID_LEVELS = TOP_HEAD_LAYERS + 2
_TEMPERATURE = _LEVEL_NAMES.index("air_temperature")
_CO2 = _COLUMN_NAMES.index("co2_mole_fraction")


def top_layer_features(level_inputs: torch.Tensor, column_inputs: torch.Tensor,
                       pressure_interface_Pa: torch.Tensor) -> torch.Tensor:
    """``[B, 5 TOP_HEAD_LAYERS + 3]``: the top layers' T, ln O3, ln q, ln Δp, ln p at their upper interface, and ln CO2,
    Ts, cos Z, scaled to O(1).

    Physical values, not the backbone's per-pressure z-scores: the top layer's cooling to space is
    a function of its own temperature, absorber amounts and thickness (what a z-score at its
    pressure hides), whatever the grid. Layers surface first, so the top ones are the last.
    """
    k = TOP_HEAD_LAYERS
    top = level_inputs[:, :, -k:]
    dp = pressure_interface_Pa[:, -k - 1:-1] - pressure_interface_Pa[:, -k:]
    per_layer = torch.stack([
        top[:, _TEMPERATURE] / 250.0 - 1.0,
        torch.log(torch.clamp(top[:, _O3], min=1e-12)) + 12.0,
        torch.log(torch.clamp(top[:, _Q], min=1e-12)) + 13.0,
        torch.log(torch.clamp(dp, min=1e-3)) - 2.0,
        torch.log(torch.clamp(pressure_interface_Pa[:, -k:], min=0.1)) - 3.0,  # each layer's upper interface
    ], dim=1)  # fmt: skip
    column = torch.stack([
        torch.log(torch.clamp(column_inputs[:, _CO2], min=1e-12)) + 7.8,
        column_inputs[:, _SURFACE_TEMPERATURE] / 290.0 - 1.0,
        column_inputs[:, _COS_ZENITH],
    ], dim=1)  # fmt: skip
    return torch.cat([per_layer.flatten(1), column], dim=1)


#: The unit of the top-layer head's output (K/day of net LW heating; the top layer's spread is ~18 K/day).
TOP_HEATING_SCALE_K_DAY = 20.0


def _top_head(width: int) -> nn.Module:
    """An MLP from :func:`top_layer_features` to the top layer's net LW heating and the top layers' net SW heating
    per unit relative insolation (``1 + TOP_HEAD_LAYERS`` values, SW surface first) / :data:`TOP_HEATING_SCALE_K_DAY`."""
    return nn.Sequential(nn.Linear(5 * TOP_HEAD_LAYERS + 3, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                         nn.Linear(width, 1 + TOP_HEAD_LAYERS))  # fmt: skip


def _transform(x: torch.Tensor, log_mask: torch.Tensor, log1p_mask: torch.Tensor) -> torch.Tensor:
    """Apply per-feature logs along dim 1 (masks shaped to broadcast against ``x``)."""
    x = torch.where(log_mask, torch.log(torch.clamp(x, min=1e-12)), x)
    return torch.where(log1p_mask, torch.log1p(torch.clamp(x, min=0.0)), x)


class RadiationEmulator(nn.Module):
    """Physical-in, physical-out LW+SW radiation emulator around a column backbone.

    ``n_levels``: the level count of a fixed-grid emulator, or None for a grid-agnostic one (module
    docstring, "Vertical grids"): its normalisation buffers then have one column per node of
    :data:`LOG_PRESSURE_NODES` instead of one per level.
    """

    def __init__(self, backbone: nn.Module, n_levels: int | None, solar_constant_W_per_m2: float = 1367.0,
                 top_head_width: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.top_head = _top_head(top_head_width) if top_head_width > 0 else None
        self.n_levels = n_levels
        self.grid_agnostic = n_levels is None
        n_profile = len(LOG_PRESSURE_NODES) if n_levels is None else n_levels
        if n_levels is None:
            self.register_buffer("log_pressure_nodes", torch.tensor(LOG_PRESSURE_NODES))
        else:  # a fixed grid has none (its state dict stays as it was)
            self.log_pressure_nodes = None
        self.solar_constant_W_per_m2 = solar_constant_W_per_m2
        n_level_features = len(LEVEL_FEATURES) + len(DERIVED_LEVEL_FEATURES)
        n_column_features = len(COLUMN_FEATURES)
        self.register_buffer("level_log", _masks(LEVEL_FEATURES, "log")[:, None])
        self.register_buffer("level_log1p", _masks(LEVEL_FEATURES, "log1p")[:, None])
        self.register_buffer("column_log", _masks(COLUMN_FEATURES, "log"))
        self.register_buffer("column_log1p", _masks(COLUMN_FEATURES, "log1p"))
        self.register_buffer("level_mean", torch.zeros(n_level_features, n_profile))
        self.register_buffer("level_std", torch.ones(n_level_features, n_profile))
        self.register_buffer("column_mean", torch.zeros(n_column_features))
        self.register_buffer("column_std", torch.ones(n_column_features))
        self.register_buffer("heating_mean", torch.zeros(len(FLUXES), n_profile))
        self.register_buffer("heating_std", torch.ones(len(FLUXES), n_profile))
        self.register_buffer("anchor_mean", torch.zeros(2))
        self.register_buffer("anchor_std", torch.ones(2))

    # -- inputs --------------------------------------------------------------------------------

    def physical_features(
        self, level_inputs: torch.Tensor, column_inputs: torch.Tensor, pressure_interface_Pa: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Transformed, not yet normalised features: ``[B, F_level + F_derived, L]`` and ``[B, F_column]``."""
        derived = derived_level_features(level_inputs, pressure_interface_Pa)
        level = torch.cat([_transform(level_inputs, self.level_log, self.level_log1p), derived], dim=1)
        return level, _transform(column_inputs, self.column_log, self.column_log1p)

    def profiles(self, table: torch.Tensor, level_inputs: torch.Tensor) -> torch.Tensor:
        """A normalisation buffer (``[C, L]`` per level, or ``[C, K]`` per node) as ``[B or 1, C, L]`` for these columns.

        Fixed grid: the buffer itself. Grid-agnostic: the table interpolated in ln p to each layer's pressure.
        """
        if not self.grid_agnostic:
            return table.unsqueeze(0)
        log_pressure = torch.log(torch.clamp(level_inputs[:, _PRESSURE], min=1e-3))
        return torch.einsum("ck,bkl->bcl", table, log_pressure_weights(log_pressure, self.log_pressure_nodes))

    def insolation_W_per_m2(self, column_inputs: torch.Tensor) -> torch.Tensor:
        """S = S0 · max(cos Z, 0) · (Earth-Sun distance factor): the TOA SW down flux, 0 at night."""
        cos_zenith = torch.clamp(column_inputs[:, _COS_ZENITH], min=0.0)
        return self.solar_constant_W_per_m2 * cos_zenith * column_inputs[:, _DISTANCE]

    # -- targets (used to fit statistics and by the loss) ----------------------------------------

    def surface_emission_W_per_m2(self, column_inputs: torch.Tensor, lw_down_surface: torch.Tensor) -> torch.Tensor:
        """Grey-surface LW up: ε σ Ts⁴ + (1 − ε) LW down (emission plus reflection)."""
        emissivity = column_inputs[:, _EMISSIVITY]
        temperature = column_inputs[:, _SURFACE_TEMPERATURE]
        t2 = temperature * temperature
        return emissivity * STEFAN_BOLTZMANN_W_PER_M2_K4 * t2 * t2 + (1.0 - emissivity) * lw_down_surface

    def heating_contributions(
        self, fluxes: torch.Tensor, pressure_interface_Pa: torch.Tensor, column_inputs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-layer heating contributions h[B, 4, L] (K/day; SW per unit relative insolation) and anchors[B, 2].

        Anchors: LW up at the surface minus the grey-surface estimate (W m⁻²), and the effective
        surface albedo SW up / SW down at the surface. The inverse of what :meth:`forward`
        integrates; SW entries of night columns are 0.
        """
        insolation = self.insolation_W_per_m2(column_inputs)
        relative = (insolation / self.solar_constant_W_per_m2)[:, None, None]
        dp = (pressure_interface_Pa[:, 1:] - pressure_interface_Pa[:, :-1]).unsqueeze(1)
        h = HEATING_FACTOR * (fluxes[:, :, 1:] - fluxes[:, :, :-1]) / dp
        safe = torch.where(relative > 0, relative, torch.ones_like(relative))
        sw = torch.where(relative > 0, h[:, 2:] / safe, torch.zeros_like(h[:, 2:]))
        lw_residual = fluxes[:, 0, 0] - self.surface_emission_W_per_m2(column_inputs, fluxes[:, 1, 0])
        sw_down_surface = fluxes[:, 3, 0]
        albedo = torch.where(
            sw_down_surface > 0, fluxes[:, 2, 0] / torch.clamp(sw_down_surface, min=1e-9), torch.zeros_like(sw_down_surface)
        )
        return torch.cat([h[:, :2], sw], dim=1), torch.stack([lw_residual, albedo], dim=1)

    # -- the model ---------------------------------------------------------------------------------

    def forward(
        self, level_inputs: torch.Tensor, column_inputs: torch.Tensor, pressure_interface_Pa: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fluxes ``[B, 4, L+1]`` (W m⁻², order :data:`FLUXES`) and heating ``[B, 2, L]`` (K/day, LW, SW)."""
        level, column = self.physical_features(level_inputs, column_inputs, pressure_interface_Pa)
        level = (level - self.profiles(self.level_mean, level_inputs)) / self.profiles(self.level_std, level_inputs)
        column = (column - self.column_mean) / self.column_std
        x = torch.cat([level, column.unsqueeze(-1).expand(-1, -1, level.shape[-1])], dim=1)
        y = self.backbone(x)

        heating_std = self.profiles(self.heating_std, level_inputs)
        contributions = y[:, :4] * heating_std + self.profiles(self.heating_mean, level_inputs)
        if self.top_head is not None:  # the top layers' net heating from their own state (module docstring)
            lw, sw = self.top_layer_heating(level_inputs, column_inputs, pressure_interface_Pa)
            k = TOP_HEAD_LAYERS
            lw_down = torch.cat([contributions[:, 1, :-1], contributions[:, 0, -1:] - lw.unsqueeze(-1)], dim=-1)
            sw_down = torch.cat([contributions[:, 3, :-k], contributions[:, 2, -k:] - sw], dim=-1)
            contributions = torch.stack([contributions[:, 0], lw_down, contributions[:, 2], sw_down], dim=1)
        anchors = y[:, 4:].mean(dim=-1) * self.anchor_std + self.anchor_mean
        fluxes = self.fluxes_from_contributions(contributions, anchors, column_inputs, pressure_interface_Pa)
        return fluxes, heating_from_fluxes(fluxes, pressure_interface_Pa)

    def top_layer_heating(
        self, level_inputs: torch.Tensor, column_inputs: torch.Tensor, pressure_interface_Pa: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The top-layer head's net LW heating of the top layer ``[B]`` (K/day) and net SW heating of the top
        :data:`TOP_HEAD_LAYERS` layers ``[B, K]`` (K/day per unit relative insolation S/S0, surface first)."""
        assert self.top_head is not None
        out = self.top_head(top_layer_features(level_inputs, column_inputs, pressure_interface_Pa)) * TOP_HEATING_SCALE_K_DAY
        return out[:, 0], out[:, 1:]

    def fluxes_from_contributions(
        self,
        contributions: torch.Tensor,
        anchors: torch.Tensor,
        column_inputs: torch.Tensor,
        pressure_interface_Pa: torch.Tensor,
    ) -> torch.Tensor:
        """Integrate per-layer heating contributions from the boundaries where each flux starts; clip at 0.

        Downward fluxes start at the top (LW 0, SW = S exactly) and are integrated down; upward
        fluxes start at the surface (grey emission + reflection for LW, effective albedo × SW down
        for SW) and are integrated up. The inverse of :meth:`heating_contributions` (up to the
        clipping and the exact TOA SW down).
        """
        insolation = self.insolation_W_per_m2(column_inputs)
        relative = (insolation / self.solar_constant_W_per_m2)[:, None, None]
        scale = torch.cat([torch.ones_like(relative).expand(-1, 2, 1), relative.expand(-1, 2, 1)], dim=1)
        dp = (pressure_interface_Pa[:, 1:] - pressure_interface_Pa[:, :-1]).unsqueeze(1)
        increments = contributions * scale * dp / HEATING_FACTOR  # F[j+1] - F[j], W m-2
        down_increments = increments[:, [1, 3]]
        top = torch.stack([torch.zeros_like(insolation), insolation], dim=1).unsqueeze(-1)
        below_top = torch.flip(torch.cumsum(torch.flip(down_increments, dims=[-1]), dim=-1), dims=[-1])
        down = torch.relu(torch.cat([top - below_top, top], dim=-1))  # LW down, SW down
        lw_up_surface = self.surface_emission_W_per_m2(column_inputs, down[:, 0, 0]) + anchors[:, 0]
        sw_up_surface = torch.clamp(anchors[:, 1], min=0.0) * down[:, 1, 0]
        surface = torch.stack([lw_up_surface, sw_up_surface], dim=1).unsqueeze(-1)
        up = torch.relu(surface + torch.cat([torch.zeros_like(surface), torch.cumsum(increments[:, [0, 2]], dim=-1)], dim=-1))
        return torch.stack([up[:, 0], down[:, 0], up[:, 1], down[:, 1]], dim=1)


def heating_from_fluxes(fluxes: torch.Tensor, pressure_interface_Pa: torch.Tensor) -> torch.Tensor:
    """LW and SW heating (K/day) ``[B, 2, L]`` = (g/cp) ΔF_net/Δp from fluxes ``[B, 4, L+1]`` in :data:`FLUXES` order."""
    net = torch.stack([fluxes[:, 0] - fluxes[:, 1], fluxes[:, 2] - fluxes[:, 3]], dim=1)
    dp = (pressure_interface_Pa[:, 1:] - pressure_interface_Pa[:, :-1]).unsqueeze(1)
    return HEATING_FACTOR * (net[:, :, 1:] - net[:, :, :-1]) / dp
