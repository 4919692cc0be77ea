"""WaveNet-style gravity-wave emulator: a shared trunk over the whole column, one small head per level.

Espinosa, Z. I., A. Sheshadri, G. R. Cain, E. P. Gerber and K. J. DallaSanta (2022): Machine
learning gravity wave parameterization generalizes to capture the QBO and response to increased
CO2. *Geophys. Res. Lett.* 49, e2022GL098174. Their network ("WaveNet") maps the whole input
column through shared fully connected layers to a latent vector, then gives every output level its
own small fully connected branch. The shared trunk sees every input level, so the drag at one
level can depend on the wind anywhere below it (where waves were filtered); the per-level heads let
each level read the latent state differently (breaking near the source, critical levels aloft)
without one wide output layer coupling them.

The heads are evaluated together as batched matrix products over a level axis (weights
``[L, in, out]``), not as ``L`` separate modules: one call per layer whatever the level count.

Contract shared by all column backbones: ``forward(x[B, C_in, L]) -> y[B, C_out, L]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from subgrid.models.mlp import dense_silu_layers


class LevelHeads(nn.Module):
    """``L`` independent fully connected layers applied to ``[B, L, in]`` -> ``[B, L, out]``."""

    def __init__(self, n_levels: int, size_in: int, size_out: int) -> None:
        super().__init__()
        # Each level's head is initialised as nn.Linear would be: U(-1/√in, 1/√in).
        bound = 1.0 / math.sqrt(size_in)
        self.weight = nn.Parameter(torch.empty(n_levels, size_in, size_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_levels, size_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bli,lio->blo", x, self.weight) + self.bias


class WaveNet(nn.Module):
    """Shared trunk (``trunk_layers`` × ``hidden``) on the flattened column, then per-level heads.

    Each head is ``head_layers`` fully connected layers of width ``head_hidden`` ending in
    ``C_out`` values for its level.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        n_levels: int,
        hidden: int = 256,
        trunk_layers: int = 3,
        head_hidden: int = 32,
        head_layers: int = 2,
    ) -> None:
        super().__init__()
        if min(hidden, trunk_layers, head_hidden, head_layers) < 1:
            raise ValueError(
                "hidden, trunk_layers, head_hidden and head_layers: must be >= 1, got "
                f"{hidden}, {trunk_layers}, {head_hidden}, {head_layers}"
            )
        self.trunk = nn.Sequential(*dense_silu_layers([in_channels * n_levels] + [hidden] * trunk_layers))
        head_sizes = [hidden] + [head_hidden] * head_layers
        heads: list[nn.Module] = []
        for size_in, size_out in zip(head_sizes[:-1], head_sizes[1:], strict=True):
            heads += [LevelHeads(n_levels, size_in, size_out), nn.SiLU()]
        heads.append(LevelHeads(n_levels, head_hidden, out_channels))
        self.heads = nn.Sequential(*heads)
        self.n_levels = n_levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        latent = self.trunk(x.flatten(1))
        per_level = latent.unsqueeze(1).expand(-1, self.n_levels, -1)
        return self.heads(per_level).transpose(1, 2)
