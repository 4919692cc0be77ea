"""Residual 1-D CNN over model levels (the seed study's emulator architecture, with dilations).

A column is a 1-D signal over levels with input features as channels. Each residual module is
two convolutions with a skip connection; the dilation grows from module to module so the
receptive field covers much of the column, and an optional global-context term (the level mean
of the features, mixed by a linear layer and added back at every level) lets every level see the
whole column, as radiation needs (cooling to space, cloud shading).

Contract shared by all column backbones: ``forward(x[B, C_in, L]) -> y[B, C_out, L]``.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualModule(nn.Module):
    """x + conv(act(conv(act(x)))), length-preserving."""

    def __init__(self, width: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv1 = nn.Conv1d(width, width, kernel_size, padding=padding, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, kernel_size, padding=padding, dilation=dilation)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(self.act(x))))


class ResCNN1d(nn.Module):
    """Stem convolution, ``depth`` residual modules (dilations 1, g, g², ...), global context, 1x1 head."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        width: int = 64,
        depth: int = 3,
        kernel_size: int = 3,
        dilation_growth: int = 2,
        global_context: bool = True,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size: must be odd to keep the level count, got {kernel_size}")
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width: must be >= 1, got depth={depth}, width={width}")
        self.stem = nn.Conv1d(in_channels, width, kernel_size, padding=kernel_size // 2)
        self.blocks = nn.Sequential(
            *[ResidualModule(width, kernel_size, dilation_growth**i) for i in range(depth)]
        )
        self.context = nn.Linear(width, width) if global_context else None
        self.head = nn.Conv1d(width, out_channels, 1)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))
        if self.context is not None:
            h = h + self.context(h.mean(dim=-1)).unsqueeze(-1)
        return self.head(self.act(h))
