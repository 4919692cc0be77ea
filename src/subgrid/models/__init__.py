"""Emulator networks (torch ``nn.Module`` only; no data or training code here).

Column backbones share one contract, ``forward(x[B, C_in, L]) -> y[B, C_out, L]``, and are
picked by name from :data:`BACKBONES` (``--model rescnn|mlp|wavenet``). Gridded backbones map
``x[B, C_in, H, W] -> y[B, C_out, H, W]`` and are picked from :data:`GRIDDED_BACKBONES`
(``--model unet|prithvi``).
"""

from __future__ import annotations

from torch import nn

from subgrid.models.mlp import MLP
from subgrid.models.prithvi_gw import PrithviGW
from subgrid.models.rescnn import ResCNN1d
from subgrid.models.unet import AttentionUNet
from subgrid.models.wavenet import WaveNet

BACKBONES: dict[str, type[nn.Module]] = {"rescnn": ResCNN1d, "mlp": MLP, "wavenet": WaveNet}
GRIDDED_BACKBONES: dict[str, type[nn.Module]] = {"unet": AttentionUNet, "prithvi": PrithviGW}
#: Backbones whose weights depend on the level count (they flatten the column).
_SIZED_BY_LEVELS = {"mlp", "wavenet"}


def parse_model_options(pairs: list[str]) -> dict:
    """``["width=32", "depth=4"]`` -> ``{"width": 32, "depth": 4}`` (values parsed as YAML scalars)."""
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"model option: expected KEY=VALUE, got {pair!r}")
        options[key] = yaml.safe_load(value)
    return options


def _build(registry: dict[str, type[nn.Module]], name: str, *args, **options) -> nn.Module:
    if name not in registry:
        raise ValueError(f"model: unknown backbone {name!r}; choose one of {', '.join(registry)}")
    try:
        return registry[name](*args, **options)
    except TypeError as error:  # an unknown option name: say which model rejected it
        raise ValueError(f"model options for {name!r}: {error}") from error


def build_backbone(name: str, in_channels: int, out_channels: int, n_levels: int, options: dict) -> nn.Module:
    """Build the column backbone called ``name`` with its ``options`` (keyword arguments of its class)."""
    extra = {"n_levels": n_levels} if name in _SIZED_BY_LEVELS else {}
    return _build(BACKBONES, name, in_channels, out_channels, **extra, **options)


def build_gridded_backbone(name: str, in_channels: int, out_channels: int, options: dict) -> nn.Module:
    """Build the gridded backbone called ``name`` (:data:`GRIDDED_BACKBONES`) with its ``options``."""
    return _build(GRIDDED_BACKBONES, name, in_channels, out_channels, **options)


__all__ = [
    "BACKBONES", "GRIDDED_BACKBONES", "MLP", "AttentionUNet", "PrithviGW", "ResCNN1d", "WaveNet", "build_backbone",
    "build_gridded_backbone",
]  # fmt: skip
