"""The options of each backbone, as typed dataclasses: a config's ``model_options`` are checked against them.

Each dataclass lists the keyword arguments of its network's ``__init__`` with the same
defaults (``tests/test_config.py`` checks they agree); the shapes (channels, level count) come
from the data, not from options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ResCNNOptions:
    """:class:`~subgrid.models.rescnn.ResCNN1d`: ``depth`` residual modules of ``width`` channels, dilations 1, g, g², ..."""

    width: int = 64
    depth: int = 3
    kernel_size: int = 3
    dilation_growth: int = 2
    global_context: bool = True


@dataclass(frozen=True)
class MLPOptions:
    """:class:`~subgrid.models.mlp.MLP` on the flattened column: ``layers`` hidden layers of ``hidden`` units."""

    hidden: int = 256
    layers: int = 3


@dataclass(frozen=True)
class WaveNetOptions:
    """:class:`~subgrid.models.wavenet.WaveNet`: a shared trunk, then per-level heads."""

    hidden: int = 256
    trunk_layers: int = 3
    head_hidden: int = 32
    head_layers: int = 2


@dataclass(frozen=True)
class UNetOptions:
    """:class:`~subgrid.models.unet.AttentionUNet` (4 down / 4 up levels)."""

    base_width: int = 32
    norm: Literal["batch", "group", "none"] = "group"
    periodic_longitude: bool = True
    dropout: float = 0.0


@dataclass(frozen=True)
class PrithviGWOptions:
    """:class:`~subgrid.models.prithvi_gw.PrithviGW`: a small Prithvi WxC encoder/decoder, how much of it fine-tunes,
    and the checkpoint (``pretrained``) it starts from."""

    embed_dim: int = 128
    n_heads: int = 4
    n_blocks_encoder: int = 2
    n_blocks_decoder: int = 1
    mlp_multiplier: int = 4
    patch: int = 2
    window: int | tuple[int, int] = (8, 16)
    dropout: float = 0.0
    drop_path: float = 0.0
    fine_tune: Literal["full", "frozen", "last_k", "lora"] = "full"
    k: int = 1
    lora_rank: int = 8
    lora_alpha: float | None = None
    pretrained: str | None = None
    backbone_dtype: Literal["float32", "bfloat16"] = "float32"
    #: > 0: trainable 3x3 convolutional encoder/decoder of this width around the backbone (the study's variant).
    conv_width: int = 0
