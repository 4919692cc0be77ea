"""Multilayer perceptron over the whole column: the usual baseline emulator.

Flattens ``[B, C_in, L]`` to one vector, so every output level sees every input level, and
reshapes its output to ``[B, C_out, L]`` (the column-backbone contract of :mod:`.rescnn`).
"""

from __future__ import annotations

import torch
from torch import nn


def dense_silu_layers(sizes: list[int]) -> list[nn.Module]:
    """``Linear(sizes[i], sizes[i+1])`` each followed by SiLU: the hidden stack of the dense backbones."""
    layers: list[nn.Module] = []
    for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(size_in, size_out), nn.SiLU()]
    return layers


class MLP(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        n_levels: int,
        hidden: int = 256,
        layers: int = 3,
    ) -> None:
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ValueError(f"layers and hidden: must be >= 1, got layers={layers}, hidden={hidden}")
        blocks = dense_silu_layers([in_channels * n_levels] + [hidden] * layers)
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, out_channels * n_levels))
        self.out_channels = out_channels
        self.n_levels = n_levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(x.shape[0], self.out_channels, self.n_levels)
