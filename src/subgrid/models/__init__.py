"""Emulator networks (torch ``nn.Module`` only; no data or training code here) and the registries that name them.

Column backbones share one contract, ``forward(x[B, C_in, L]) -> y[B, C_out, L]``, and are
picked by name from :data:`COLUMN_BACKBONES` (``--model rescnn|mlp|wavenet``). Gridded backbones
map ``x[B, C_in, H, W] -> y[B, C_out, H, W]`` and are picked from :data:`GRIDDED_BACKBONES`
(``--model unet|prithvi``). Each backbone's options are a typed dataclass
(:mod:`subgrid.models.options`): the registries are the one list of names and options a config,
the command line and a saved run's ``model.json`` are checked against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from torch import nn

from subgrid.core.config import ConfigError, describe_value, parse_options, parse_strings
from subgrid.core.errors import SubgridError
from subgrid.models.mlp import MLP
from subgrid.models.options import MLPOptions, PrithviGWOptions, ResCNNOptions, UNetOptions, WaveNetOptions
from subgrid.models.prithvi_gw import PrithviGW
from subgrid.models.rescnn import ResCNN1d
from subgrid.models.unet import AttentionUNet
from subgrid.models.wavenet import WaveNet


@dataclass(frozen=True)
class Backbone:
    """A network of the registry: its name, class, option dataclass and whether the level count sizes its weights."""

    name: str
    network: type[nn.Module]
    options: type
    #: Column backbones that flatten the column take ``n_levels``: their weights depend on it.
    sized_by_levels: bool = False


class BackboneRegistry:
    """Backbones by name: the choices of a config's ``model`` and the types of its ``model_options``."""

    def __init__(self, backbones: Iterable[Backbone]) -> None:
        self._backbones = {backbone.name: backbone for backbone in backbones}

    def names(self) -> tuple[str, ...]:
        return tuple(self._backbones)

    def __contains__(self, name: object) -> bool:
        return name in self._backbones

    def only(self, *names: str) -> BackboneRegistry:
        """The registry of ``names`` alone (a product that trains some of the backbones)."""
        return BackboneRegistry(self[name] for name in names)

    def __getitem__(self, name: str) -> Backbone:
        if name not in self._backbones:
            raise ConfigError("model", f"expected one of {', '.join(map(repr, self._backbones))}, got {describe_value(name)}")
        return self._backbones[name]

    def options(self, name: str, values: Mapping, where: str = "model options"):
        """``values`` as backbone ``name``'s option dataclass; an unknown or wrong-typed option is a one-line
        :class:`~subgrid.core.config.ConfigError` naming ``model_options.<key>``, reported at ``where``."""
        try:
            backbone = self[name]
        except ConfigError as error:
            raise ConfigError(where, str(error)) from None
        return parse_options(backbone.options, values, where, prefix="model_options.")

    def option_values(self, name: str, pairs: Iterable[str], where: str = "--model-option") -> dict:
        """Command-line ``KEY=VALUE`` options of backbone ``name``, each value read as its option's type."""
        return parse_strings(self[name].options, pairs, where, prefix="model_options.")

    def build(self, name: str, in_channels: int, out_channels: int, options: Mapping, n_levels: int | None = None) -> nn.Module:
        """Backbone ``name`` with ``options`` (checked as :meth:`options` does); ``n_levels`` for column backbones."""
        backbone = self[name]
        extra = {"n_levels": n_levels} if backbone.sized_by_levels else {}
        parsed = asdict(self.options(name, options))
        try:
            return backbone.network(in_channels, out_channels, **extra, **parsed)
        except SubgridError:
            raise
        except (RuntimeError, ValueError) as error:  # sizes torch cannot build (a negative width or level count)
            sizes = f"{in_channels} -> {out_channels} channels" + (f", {n_levels} levels" if backbone.sized_by_levels else "")
            raise ConfigError("model", f"{name!r} cannot be built for {sizes} with options {parsed} ({error})") from error


COLUMN_BACKBONES = BackboneRegistry([
    Backbone("rescnn", ResCNN1d, ResCNNOptions),
    Backbone("mlp", MLP, MLPOptions, sized_by_levels=True),
    Backbone("wavenet", WaveNet, WaveNetOptions, sized_by_levels=True),
])  # fmt: skip
GRIDDED_BACKBONES = BackboneRegistry([
    Backbone("unet", AttentionUNet, UNetOptions),
    Backbone("prithvi", PrithviGW, PrithviGWOptions),
])  # fmt: skip


def build_backbone(name: str, in_channels: int, out_channels: int, n_levels: int, options: Mapping) -> nn.Module:
    """Build the column backbone called ``name`` (:data:`COLUMN_BACKBONES`) with its ``options``."""
    return COLUMN_BACKBONES.build(name, in_channels, out_channels, options, n_levels)


def build_gridded_backbone(name: str, in_channels: int, out_channels: int, options: Mapping) -> nn.Module:
    """Build the gridded backbone called ``name`` (:data:`GRIDDED_BACKBONES`) with its ``options``."""
    return GRIDDED_BACKBONES.build(name, in_channels, out_channels, options)


__all__ = [
    "COLUMN_BACKBONES", "GRIDDED_BACKBONES", "MLP", "AttentionUNet", "Backbone", "BackboneRegistry", "PrithviGW",
    "ResCNN1d", "WaveNet", "build_backbone", "build_gridded_backbone",
]  # fmt: skip
