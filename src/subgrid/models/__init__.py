"""Emulator networks (torch ``nn.Module`` only; no data or training code here).

Column backbones share one contract, ``forward(x[B, C_in, L]) -> y[B, C_out, L]``, and are
picked by name from :data:`BACKBONES` (``--model rescnn|mlp|wavenet``).
"""

from __future__ import annotations

from torch import nn

from subgrid.models.mlp import MLP
from subgrid.models.rescnn import ResCNN1d
from subgrid.models.wavenet import WaveNet

BACKBONES: dict[str, type[nn.Module]] = {"rescnn": ResCNN1d, "mlp": MLP, "wavenet": WaveNet}
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


def build_backbone(name: str, in_channels: int, out_channels: int, n_levels: int, options: dict) -> nn.Module:
    """Build the backbone called ``name`` with its ``options`` (keyword arguments of its class)."""
    if name not in BACKBONES:
        raise ValueError(f"model: unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    extra = {"n_levels": n_levels} if name in _SIZED_BY_LEVELS else {}
    try:
        return BACKBONES[name](in_channels, out_channels, **extra, **options)
    except TypeError as error:  # an unknown option name: say which model rejected it
        raise ValueError(f"model options for {name!r}: {error}") from error


__all__ = ["BACKBONES", "MLP", "ResCNN1d", "WaveNet", "build_backbone"]
