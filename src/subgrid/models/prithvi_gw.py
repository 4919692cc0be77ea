"""Gridded gravity-wave fluxes from the Prithvi WxC foundation model (Schmude et al. 2024,
"Prithvi WxC: foundation model for weather and climate", arXiv:2409.13598), fine-tuned.

The backbone is the package's own encoder and decoder (``PrithviWxC.model.PrithviWxCEncoderDecoder``,
the alternating local/global transformer blocks that hold ~98 % of the 2.3B parameters), with
task layers around it as granite-wxc's fine-tunes do:

1. *embedding*: ``PrithviWxC.model.PatchEmbed`` (a ``patch x patch`` convolution, stride ``patch``)
   of our ``C_in`` channels to ``embed_dim``, plus the package's Fourier position encoding of
   latitude and longitude (``sin``/``cos`` of modes 1 … ``embed_dim/4``, as
   ``PrithviWxC.fourier_pos_encoding``) at the patch centres of a regular grid of the input's
   shape (latitude north first, longitude from 0);
2. *tokens*: ``[B, E, H/p, W/p] -> [B, global, local, E]``, one local sequence per window of
   ``window = (h, w)`` pixels, as ``PrithviWxC.to_patching``;
3. *backbone*: ``encoder`` then ``decoder`` (local attention inside a window, global attention across
   windows, alternating);
4. *head*: a linear ``unembed`` of each token to ``C_out x p x p`` values, pixel-shuffled back to
   ``[B, C_out, H, W]`` (as ``PrithviWxC`` does for its own channels).

Pitfalls of the package handled here (see docs/REFERENCE.md §5):

- ``PrithviWxC.forward`` draws random masks even in eval mode; this model never masks (all
  windows go to the encoder) and uses no SWIN shift, so inference is deterministic.
- The package's attention passes its dropout to ``scaled_dot_product_attention`` whether or not
  the module is training, and with the math kernel disabled there is no CPU kernel for it at
  all ("No available kernel"). The ``dropout`` option therefore acts in the MLPs only
  (``nn.Dropout``, off in eval mode); attention dropout is 0, as in the released configuration.
- ``PrithviWxC`` multiplies its output by ``output_scalers``: with ``residual='none'`` and zero
  scalers (the public gravity-wave fine-tune) the backbone contributes nothing. Here the head
  reads the decoder's tokens directly; no scaler stands between backbone and prediction.
- ``H, W`` must be divisible by the window and the window by the patch (square patches only):
  checked with errors naming the setting.
- The package picks its attention kernel with a string comparison of torch versions (``'2.13'
  < '2.3'``), so recent torch takes the deprecated ``torch.backends.cuda.sdp_kernel`` path and
  warns (a ``FutureWarning``, once); the result is the same.

The pretrained model ran its decoder with SWIN shifting and took MERRA-2 time/lead-time
encodings; neither applies to a diagnostic flux map, so both are left out.

Fine-tuning (``fine_tune``): ``"full"`` trains everything; ``"frozen"`` freezes encoder and decoder
(only embedding and head train); ``"last_k"`` trains the last ``k`` transformer blocks of the
backbone (encoder blocks, then decoder blocks, in order of application) besides embedding and
head; ``"lora"`` adds LoRA adapters (Hu et al. 2021, arXiv:2106.09685; the ``peft`` package) of
rank ``lora_rank`` to the attention (``qkv_layer``, ``w_layer``) and MLP (``net.0``, ``net.3``)
linear layers of every block and freezes the backbone's own weights.

``pretrained``: a local Prithvi WxC checkpoint read by :func:`load_prithvi_backbone` before the
fine-tune mode is applied; the 2.3B model (``prithvi.wxc.2300m.v1.pt``) needs ``embed_dim=2560,
n_heads=16, n_blocks_encoder=12, n_blocks_decoder=2, mlp_multiplier=4``.
``conv_width > 0`` puts two trainable 3x3 convolutions (``C_in -> conv_width -> conv_width``) before
the patch embedding and two after the head (``conv_width -> conv_width -> C_out``): the published
gravity-wave fine-tune's frozen backbone between a convolutional encoder and decoder.
``backbone_dtype="bfloat16"`` keeps encoder and decoder in bf16 (embedding and head stay fp32;
tokens are cast on the way in and out). ``lora_alpha`` defaults to ``lora_rank`` (scaling 1).

Contract of gridded backbones: ``forward(x[B, C_in, H, W]) -> y[B, C_out, H, W]``.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PrithviWxC.model import MultiheadAttention, PatchEmbed, PrithviWxCEncoderDecoder
from torch import nn

from subgrid.core.errors import InputError

FINE_TUNE_MODES = ("full", "frozen", "last_k", "lora")
#: ``backbone_dtype`` option: bfloat16 halves the backbone's memory (4.6 GB for the 2.3B model).
BACKBONE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
#: Linear layers of a package ``Transformer`` block that LoRA adapts (attention, then MLP).
LORA_TARGETS = ("qkv_layer", "w_layer", "net.0", "net.3")
#: Keys that wrap a state dict in saved checkpoints: ``PrithviWxC.configs.load_model`` reads
#: ``model_state``; Lightning writes ``state_dict``.
CHECKPOINT_WRAPPERS = ("model_state", "state_dict", "model")
#: The backbone's parts; keys of ``PrithviWxC`` and of this model share these prefixes.
BACKBONE_PARTS = ("encoder.", "decoder.")
#: SWIN-shift attention masks (buffers sized by the pretraining grid; this model does not shift).
_SHIFT_MASKS = ("lgl_block.shifter.local_mask", "lgl_block.shifter.global_mask")


def _conv_stack(in_channels: int, width: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions (GELU between, same grid): the study's convolutional encoder/decoder around the backbone."""
    return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.GELU(), nn.Conv2d(width, out_channels, 3, padding=1))


class PrithviGW(nn.Module):
    """Prithvi WxC encoder/decoder between a patch embedding of ``C_in`` channels and a ``C_out`` head."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        embed_dim: int = 128,
        n_heads: int = 4,
        n_blocks_encoder: int = 2,
        n_blocks_decoder: int = 1,
        mlp_multiplier: int = 4,
        patch: int = 2,
        window: int | Sequence[int] = (8, 16),
        dropout: float = 0.0,
        drop_path: float = 0.0,
        fine_tune: str = "full",
        k: int = 1,
        lora_rank: int = 8,
        lora_alpha: float | None = None,
        pretrained: str | None = None,
        backbone_dtype: str = "float32",
        conv_width: int = 0,
    ) -> None:
        super().__init__()
        window = (window, window) if isinstance(window, int) else tuple(window)
        checks = {
            "in_channels, out_channels": (in_channels >= 1 and out_channels >= 1,
                                          f"must be >= 1, got {in_channels}, {out_channels}"),
            "embed_dim": (embed_dim >= 4 and embed_dim % 4 == 0,
                          f"must be a positive multiple of 4 (Fourier position encoding), got {embed_dim}"),
            "n_heads": (n_heads >= 1 and embed_dim % n_heads == 0, f"must divide embed_dim={embed_dim}, got {n_heads}"),
            "n_blocks_encoder, n_blocks_decoder": (n_blocks_encoder >= 0 and n_blocks_decoder >= 0,
                                                   f"must be >= 0, got {n_blocks_encoder}, {n_blocks_decoder}"),
            "patch": (patch >= 1, f"must be >= 1 (square patches only), got {patch}"),
            "window": (len(window) == 2 and all(w >= 1 and w % patch == 0 for w in window),
                       f"must be [h, w] pixels, each divisible by patch={patch}, got {list(window)}"),
            "dropout, drop_path": (0 <= dropout < 1 and 0 <= drop_path < 1, f"must be in [0, 1), got {dropout}, {drop_path}"),
            "fine_tune": (fine_tune in FINE_TUNE_MODES, f"must be one of {', '.join(FINE_TUNE_MODES)}, got {fine_tune!r}"),
            "lora_rank": (lora_rank >= 1, f"must be >= 1, got {lora_rank}"),
            "backbone_dtype": (backbone_dtype in BACKBONE_DTYPES,
                               f"must be one of {', '.join(BACKBONE_DTYPES)}, got {backbone_dtype!r}"),
            "conv_width": (conv_width >= 0, f"must be >= 0 (0: no convolutional encoder/decoder), got {conv_width}"),
        }  # fmt: skip
        for name, (ok, message) in checks.items():
            if not ok:
                raise ValueError(f"{name}: {message}")
        self.embed_dim, self.patch, self.window = embed_dim, patch, window
        # The study's published variant: trainable 3x3 convolutions before the embedding and after the head.
        self.conv_encoder = _conv_stack(in_channels, conv_width, conv_width) if conv_width else nn.Identity()
        self.conv_decoder = _conv_stack(conv_width, conv_width, out_channels) if conv_width else nn.Identity()
        embedded_channels, head_channels = (conv_width, conv_width) if conv_width else (in_channels, out_channels)
        self.patch_embedding = PatchEmbed(patch_size=(patch, patch), channels=embedded_channels, embed_dim=embed_dim)
        block = {"embed_dim": embed_dim, "mlp_multiplier": mlp_multiplier, "n_heads": n_heads, "dropout": dropout}
        # No shifter: the SWIN shift would need the grid at construction, and the package ignores its masks.
        self.encoder = PrithviWxCEncoderDecoder(n_blocks=n_blocks_encoder, drop_path=drop_path, **block)
        self.decoder = PrithviWxCEncoderDecoder(n_blocks=n_blocks_decoder, drop_path=0.0, **block)
        self.unembed = nn.Linear(embed_dim, head_channels * patch * patch)
        for module in self.modules():  # dropout stays in the MLPs (nn.Dropout, off in eval mode); see the module doc
            if isinstance(module, MultiheadAttention):
                module.dropout = 0.0
        for part in (self.encoder, self.decoder):
            part.to(BACKBONE_DTYPES[backbone_dtype])
        if pretrained is not None:
            load_prithvi_backbone(self, pretrained)
        self._apply_fine_tune(fine_tune, k, lora_rank, lora_alpha)

    # --- fine-tuning --------------------------------------------------------------------------

    @property
    def backbone_dtype(self) -> torch.dtype:
        return self.encoder.lgl_block.transformers[0].ff[0].weight.dtype

    def backbone_blocks(self) -> list[nn.Module]:
        """The backbone's transformer blocks in the order they are applied (encoder, then decoder)."""
        return [*self.encoder.lgl_block.transformers, *self.decoder.lgl_block.transformers]

    def _apply_fine_tune(self, mode: str, k: int, lora_rank: int, lora_alpha: float | None) -> None:
        backbone = [self.encoder, self.decoder]
        if mode == "full":
            return
        if mode == "lora":
            from peft import LoraConfig, inject_adapter_in_model  # imported on demand: peft pulls in transformers

            config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha or lora_rank, target_modules=list(LORA_TARGETS))
            for part in backbone:
                inject_adapter_in_model(config, part)
        for part in backbone:
            for name, parameter in part.named_parameters():
                parameter.requires_grad = mode == "lora" and "lora_" in name
        if mode == "last_k":
            blocks = self.backbone_blocks()
            if not 1 <= k <= len(blocks):
                raise ValueError(f"k: must be in [1, {len(blocks)}] (the backbone's transformer blocks), got {k}")
            for block in blocks[-k:]:
                block.requires_grad_(True)

    # --- forward ------------------------------------------------------------------------------

    def _position_encoding(self, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """Fourier encoding ``[1, E, H/p, W/p]`` of patch-centre latitude and longitude (radians)."""
        p = self.patch
        lat = math.pi / 2 - math.pi * (torch.arange(height // p, dtype=torch.float64) + 0.5) * p / height
        lon = 2 * math.pi * (torch.arange(width // p, dtype=torch.float64) + 0.5) * p / width
        modes = torch.arange(1, self.embed_dim // 4 + 1, dtype=torch.float64)[:, None, None]
        lat, lon = lat[None, :, None] * modes, lon[None, None, :] * modes
        lat, lon = lat.expand(-1, -1, lon.shape[-1]), lon.expand(-1, lat.shape[1], -1)
        encoding = torch.cat([torch.sin(lat), torch.sin(lon), torch.cos(lat), torch.cos(lon)])
        return encoding[None].to(device=like.device, dtype=like.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_grid(x.shape[-2], x.shape[-1])
        return self.conv_decoder(self.from_embedding(self.patch_embedding(self.conv_encoder(x))))

    def check_grid(self, height: int, width: int) -> None:
        """Raise :class:`InputError` unless the window tiles a ``height x width`` grid."""
        wh, ww = self.window
        if height % wh or width % ww:
            raise InputError(f"window: the grid {height} x {width} must be divisible by the window {wh} x {ww} "
                             "(model option 'window')")

    def from_embedding(self, embedded: torch.Tensor) -> torch.Tensor:
        """The prediction ``[B, C_out, H, W]`` from patch embeddings ``[B, E, H/p, W/p]`` (before position encoding).

        Masked pre-training (:mod:`subgrid.gravity_waves.gridded.pretrain`) replaces some embeddings with a mask
        token here; the position encoding is added after, so a masked patch still knows where it is.
        """
        batch, _, rows, columns = embedded.shape
        (wh, ww), p = self.window, self.patch
        height, width = rows * p, columns * p
        global_shape, local_shape = (height // wh, width // ww), (wh // p, ww // p)
        tokens = embedded + self._position_encoding(height, width, embedded)
        # [B, E, gH*lH, gW*lW] -> [B, gH*gW, lH*lW, E]: one local sequence per window
        tokens = tokens.view(batch, self.embed_dim, global_shape[0], local_shape[0], global_shape[1], local_shape[1])
        tokens = tokens.permute(0, 2, 4, 3, 5, 1).reshape(batch, math.prod(global_shape), math.prod(local_shape), -1)
        decoded = self.decoder(self.encoder(tokens.to(self.backbone_dtype)))
        out = self.unembed(decoded.to(self.unembed.weight.dtype))
        out = out.view(batch, *global_shape, *local_shape, -1).permute(0, 5, 1, 3, 2, 4)
        out = out.reshape(batch, -1, height // p, width // p)
        return F.pixel_shuffle(out, p)


# ----------------------------------------------------------------------------------------------
# Pretrained weights


@dataclass(frozen=True)
class BackboneLoad:
    """What :func:`load_prithvi_backbone` did: backbone tensors loaded, checkpoint keys left out."""

    path: Path
    loaded: list[str]
    #: Checkpoint keys outside the backbone (embeddings, unembed, scalers, mask token, shift masks).
    ignored: list[str]
    #: The prefix the checkpoint's keys carried before ``encoder.`` (e.g. ``"module."``), if any.
    prefix: str


def _state_dict_of(checkpoint: object, path: Path) -> Mapping[str, torch.Tensor]:
    """The state dict inside ``checkpoint``: the dict itself or one of :data:`CHECKPOINT_WRAPPERS`."""
    while isinstance(checkpoint, Mapping):
        if any(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return checkpoint
        wrapper = next((key for key in CHECKPOINT_WRAPPERS if isinstance(checkpoint.get(key), Mapping)), None)
        if wrapper is None:
            break
        checkpoint = checkpoint[wrapper]
    raise InputError(f"{path}: holds no state dict (expected tensors, or a dict under one of {', '.join(CHECKPOINT_WRAPPERS)})")


def _backbone_prefix(keys: list[str], path: Path) -> str:
    """The prefix before ``encoder.lgl_block.`` shared by the checkpoint's backbone keys ('' for ``PrithviWxC``'s own)."""
    marker = "encoder.lgl_block."
    prefixes = {key[: key.index(marker)] for key in keys if marker in key}
    if len(prefixes) != 1:
        found = "none" if not prefixes else f"several prefixes {sorted(prefixes)}"
        raise InputError(f"{path}: not a Prithvi WxC checkpoint: keys 'encoder.lgl_block.*' expected, found {found}")
    return prefixes.pop()


def load_prithvi_backbone(module: PrithviGW, path: str | Path, *, dtype: torch.dtype | None = None) -> BackboneLoad:
    """Copy the encoder and decoder weights of the Prithvi WxC checkpoint ``path`` into ``module``.

    Accepts the layout of the released weights (``PrithviWxC`` state dict, keys
    ``encoder.lgl_block.transformers.{i}.attention.1.qkv_layer.weight`` …, ``decoder.…``, bare or
    wrapped in ``model_state`` as ``PrithviWxC.configs.load_model`` reads it, or in
    ``state_dict``), also with a common key prefix (``module.`` of DDP, ``model.`` of a wrapper).
    Read with ``torch.load(weights_only=True, mmap=True)``: no pickled code runs and tensors are
    paged in as they are copied. With ``dtype`` the backbone is first converted to it (e.g.
    ``torch.bfloat16``); checkpoint tensors, fp32 or bf16, are cast to the backbone's dtype.

    Only ``encoder.*`` and ``decoder.*`` are loaded; everything else (patch embeddings, unembed,
    scalers, mask token, time embeddings, SWIN shift masks) is reported in
    :attr:`BackboneLoad.ignored`. A backbone tensor missing from the checkpoint, one the model
    lacks (more blocks in the checkpoint) or a shape that differs raises :class:`InputError`
    naming the key; nothing is changed then. ``n_heads`` leaves no trace in the weights' shapes:
    set it as the checkpoint's configuration says (16 for the 2.3B model). LoRA-adapted layers
    (``….base_layer.weight``) are filled from the plain key.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pretrained: no such checkpoint file {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:  # not a torch zip file, or pickled code in it
        reason = str(error).splitlines()[0]
        raise InputError(f"{path}: not readable as a torch checkpoint of tensors (weights_only, no pickled code runs); "
                         f"a state dict saved with torch.save(model.state_dict(), path) is ({reason})") from error
    state = _state_dict_of(checkpoint, path)
    prefix = _backbone_prefix(list(state), path)
    available = {key[len(prefix):]: key for key in state if key.startswith(prefix)}
    available = {key: source for key, source in available.items()
                 if key.startswith(BACKBONE_PARTS) and not key.endswith(_SHIFT_MASKS)}  # fmt: skip
    targets = {key.replace(".base_layer.", "."): key for key in module.state_dict()
               if key.startswith(BACKBONE_PARTS) and "lora_" not in key}  # fmt: skip
    missing, unexpected = sorted(set(targets) - set(available)), sorted(set(available) - set(targets))
    for keys, problem in ((missing, "backbone tensor(s) missing from the checkpoint"),
                          (unexpected, "the checkpoint has backbone tensor(s) the model lacks")):  # fmt: skip
        if keys:
            shown = ", ".join(keys[:4]) + (" …" if len(keys) > 4 else "")
            raise InputError(f"{path}: {problem}: {shown} ({len(keys)} in all); check n_blocks_encoder/n_blocks_decoder")
    own = module.state_dict()
    for key, target in targets.items():
        value = state[available[key]]
        if value.shape != own[target].shape:
            raise InputError(f"{path}: {prefix}{key} has shape {tuple(value.shape)} in the checkpoint but "
                             f"{tuple(own[target].shape)} in the model; embed_dim and mlp_multiplier must match the checkpoint's")
    if dtype is not None:
        for part in (module.encoder, module.decoder):
            part.to(dtype)
        own = module.state_dict()
    with torch.no_grad():
        for key, target in targets.items():
            own[target].copy_(state[available[key]])  # copy_ casts to the backbone's dtype
    ignored = sorted(set(state) - {available[key] for key in targets})
    return BackboneLoad(path, sorted(targets), ignored, prefix)
