"""Self-supervised pre-training of a small Prithvi WxC backbone on unlabeled gridded atmospheric states.

The 2.3B Prithvi WxC weights (Schmude et al. 2024, arXiv:2409.13598) are not always at hand; this
module gives the gravity-wave fine-tune (``subgrid train gw-gridded --model prithvi --pretrained
RUN/backbone.pt``) a backbone that has seen atmospheric states before, trained on the inputs of
our gridded datasets alone (no flux labels are used). The network is
:class:`~subgrid.models.prithvi_gw.PrithviGW` with as many outputs as inputs (``C_out = C_in``),
on states standardised per channel (statistics of the training period, as the gridded trainer's).

Tasks (``task``):

* ``"masked"``: a fraction ``mask_ratio`` of the patches (``mask_unit="patch"``) or of the
  attention windows (``"window"``) is hidden: their patch embeddings are replaced by a learned
  mask token before the position encoding is added (as masked autoencoders do; He et al. 2022,
  arXiv:2111.06377) and the loss is the mean squared error of the standardised state on the
  hidden patches only. A loss of 1 is the skill of predicting the per-channel mean.
* ``"forecast"``: predict the state ``lead_steps`` records later (same file, time order) from a
  state whose patches are hidden with ``mask_ratio`` too (0: none), as Prithvi WxC's own
  pre-training combined masking and forecasting; the loss covers every visible-region point.

``exclude_region`` (``[lat_min, lat_max, lon_min, lon_max]``, degrees;
:class:`~subgrid.gravity_waves.gridded.dataset.LatLonBox`) is hidden from pre-training altogether: its points
are set to zero (the channel mean) in every input, left out of the normalisation statistics and
of the loss, so that ``subgrid evaluate --region`` can later score a fine-tune where the backbone
never looked.

Masks are drawn afresh for every training batch (torch's generator, seeded by ``seed``, exactly
``round(mask_ratio x units)`` units per sample); validation masks come from a generator seeded
with ``seed`` at the start of every validation epoch, so every epoch scores the same masks.
Validation is the last ``validation_fraction`` of the record in time, as in
:func:`subgrid.gravity_waves.gridded.training.split_by_time`.

A run directory holds::

    RUN/config.yaml        the pre-training configuration (strictly parsed when read back)
    RUN/model.json         kind "prithvi_pretrain": task, masks, excluded region, data, losses
    RUN/backbone.pt        {"model_state": encoder.* and decoder.* tensors} of the best validation
                           epoch, with the key names of the released PrithviWxC checkpoints
    RUN/metrics.csv        per-epoch train_loss, val_loss
    RUN/checkpoints/       Lightning checkpoints (last.ckpt resumes an interrupted run)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, get_args

import lightning as L
import numpy as np
import torch
import xarray as xr
import yaml
from torch import nn
from torch.utils.data import Dataset

from subgrid.core.stores import write_text_atomic
from subgrid.gravity_waves.gridded.dataset import FLUX_TARGETS, GriddedSelection, LatLonBox, open_gw_gridded
from subgrid.core.errors import InputError
from subgrid.models import GRIDDED_BACKBONES, BackboneRegistry
from subgrid.models.prithvi_gw import BACKBONE_PARTS
from subgrid.gravity_waves.gridded.training import (
    GriddedGWTrainingReport,
    GriddedTrainingSettings,
    build_gw_gridded_emulator,
    channel_mean_std,
    describe_data,
    describe_period,
    fit_gridded,
    split_by_time,
    start_gridded_run,
    training_summary,
)
from subgrid.training.runs import (
    PRETRAIN_KIND,
    TrainingConfig,
    adamw_cosine,
    best_validation_score,
    refuse_foreign_directory,
    start_run_directory,
)

Task = Literal["masked", "forecast"]
MaskUnit = Literal["patch", "window"]
TASKS, MASK_UNITS = get_args(Task), get_args(MaskUnit)
#: The atmospheric state; latitude/longitude features are left out: the position encoding carries them.
STATE_INPUTS = ("surface_height", "u", "v", "temperature", "pressure")
BACKBONE_FILE = "backbone.pt"


@dataclass(frozen=True)
class PretrainConfig(TrainingConfig, GriddedTrainingSettings):
    """Pre-training settings; YAML files are parsed strictly (an unknown key is an error).

    ``model_options``: :class:`~subgrid.models.prithvi_gw.PrithviGW` options (``embed_dim``,
    ``n_heads``, ``n_blocks_encoder``, ``n_blocks_decoder``, ``mlp_multiplier``, ``patch``,
    ``window``, ``dropout``, ``drop_path``, ``backbone_dtype``, ``pretrained`` to continue from a
    checkpoint); the whole network trains (``fine_tune`` other than "full" is refused, and so is
    ``conv_width``: the convolutional encoder/decoder belongs to the fine-tune).
    """

    config_name: ClassVar[str] = "pretrain config"
    backbones: ClassVar[BackboneRegistry] = GRIDDED_BACKBONES.only("prithvi")
    #: Pre-training trains the Prithvi backbone only.
    model: ClassVar[str] = "prithvi"

    model_options: dict = field(default_factory=dict)
    task: Task = "masked"
    #: Fraction of the mask units hidden from the encoder (masked: in (0, 1); forecast: in [0, 1)).
    mask_ratio: float = 0.5
    mask_unit: MaskUnit = "patch"
    #: Forecast task: records between input and predicted state.
    lead_steps: int = 1
    #: Input variables (names of :data:`subgrid.gravity_waves.gridded.dataset.INPUTS`).
    inputs: list[str] = field(default_factory=lambda: list(STATE_INPUTS))
    #: ``[lat_min, lat_max, lon_min, lon_max]`` (degrees) hidden from pre-training; None: nothing.
    exclude_region: list[float] | None = None

    def __post_init__(self) -> None:
        masked = self.task == "masked"
        checks = {
            **self._optimisation_checks(),
            **self._hardware_checks(),
            **self._step_checks(),
            "model_options": self.backbone_options().fine_tune == "full" and self.backbone_options().conv_width == 0,
            "task": self.task in TASKS,
            "mask_ratio": isinstance(self.mask_ratio, int | float)
            and (0 < self.mask_ratio < 1 if masked else 0 <= self.mask_ratio < 1),
            "mask_unit": self.mask_unit in MASK_UNITS,
            "lead_steps": isinstance(self.lead_steps, int) and self.lead_steps >= 1,
            "inputs": isinstance(self.inputs, list),
            "statistics_samples": self.statistics_samples >= 1,
        }
        self._require(checks)
        GriddedSelection(tuple(self.inputs), FLUX_TARGETS, None)  # unknown input names fail here
        self.region()

    def region(self) -> LatLonBox | None:
        return None if self.exclude_region is None else LatLonBox.parse(self.exclude_region)


# ----------------------------------------------------------------------------------------------
# Samples and masks


class StatePairs(Dataset):
    """``(state[C, H, W], target[C, H, W])`` float32 pairs of time indices ``(t, t')``: ``t' = t`` for masked
    reconstruction (one read), a later record for forecasting."""

    def __init__(self, ds: xr.Dataset, selection: GriddedSelection, pairs: Sequence[tuple[int, int]]) -> None:
        self.ds, self.selection, self.pairs = ds, selection, [(int(a), int(b)) for a, b in pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def _state(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.selection.sample(self.ds, index)[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        now, later = self.pairs[index]
        state = self._state(now)
        return state, state if later == now else self._state(later)


def state_pairs(ds: xr.Dataset, indices: np.ndarray, task: str, lead_steps: int) -> list[tuple[int, int]]:
    """Input and target time indices among ``indices``: each with itself (masked), or with the record
    ``lead_steps`` later in time order and in the same file (forecast)."""
    if task == "masked":
        return [(int(i), int(i)) for i in indices]
    times = ds["time"].values[indices] if "time" in ds.coords else indices
    order = np.asarray(indices)[np.argsort(times, kind="stable")]
    files = ds["file"].values if "file" in ds.coords else np.zeros(ds.sizes["time"])
    return [(int(a), int(b)) for a, b in zip(order[:-lead_steps], order[lead_steps:], strict=True) if files[a] == files[b]]


def draw_masks(batch: int, patches: tuple[int, int], unit: tuple[int, int], ratio: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """``bool[batch, h, w]`` over the ``patches = (h, w)`` grid: True where hidden.

    Units of ``unit = (uh, uw)`` patches (1 x 1: single patches; the window's patches: whole
    windows) are hidden, exactly ``round(ratio x units)`` per sample, chosen uniformly.
    """
    units = (patches[0] // unit[0], patches[1] // unit[1])
    n = math.prod(units)
    order = torch.rand(batch, n, generator=generator).argsort(dim=1)
    hidden = torch.zeros(batch, n, dtype=torch.bool)
    hidden.scatter_(1, order[:, : round(ratio * n)], True)
    return hidden.view(batch, *units).repeat_interleave(unit[0], dim=1).repeat_interleave(unit[1], dim=2)


# ----------------------------------------------------------------------------------------------
# Lightning module


class PretrainLightningModule(L.LightningModule):
    """A standardising :class:`~subgrid.gravity_waves.gridded.training.GriddedGWEmulator` around ``PrithviGW(C, C)``,
    a learned mask token and the masked / forecast loss outside the excluded region."""

    def __init__(self, config: dict, channels: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = PretrainConfig.from_dict(config)
        self.emulator = build_gw_gridded_emulator(self.config.model, self.config.model_options, channels, channels)
        backbone = self.emulator.backbone
        backbone.check_grid(*grid)
        self.mask_token = nn.Parameter(torch.zeros(backbone.embed_dim))
        #: 1 outside the excluded region, 0 inside (set by :func:`pretrain`, restored from checkpoints).
        self.register_buffer("visible", torch.ones(grid))
        self.patches = (grid[0] // backbone.patch, grid[1] // backbone.patch)
        window = (backbone.window[0] // backbone.patch, backbone.window[1] // backbone.patch)
        self.mask_unit = window if self.config.mask_unit == "window" else (1, 1)
        units = (self.patches[0] // self.mask_unit[0]) * (self.patches[1] // self.mask_unit[1])
        hidden = round(self.config.mask_ratio * units)
        if self.config.task == "masked" and not 1 <= hidden < units:
            raise InputError(f"mask_ratio: {self.config.mask_ratio} hides {hidden} of the {units} {self.config.mask_unit}(s) "
                             "of the grid; the masked task needs at least one hidden and one visible")  # fmt: skip
        self._validation_masks: torch.Generator | None = None

    def masks(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return draw_masks(batch, self.patches, self.mask_unit, self.config.mask_ratio, generator).to(self.visible.device)

    def loss(self, state: torch.Tensor, target: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the standardised target over the scored points (module docstring).

        ``hidden``: ``bool[B, h, w]`` patches whose embedding is the mask token.
        """
        emulator, backbone = self.emulator, self.emulator.backbone
        visible = self.visible[None, None]
        embedded = backbone.patch_embedding(emulator.standardise_inputs(state) * visible)
        embedded = torch.where(hidden[:, None], self.mask_token[None, :, None, None].to(embedded.dtype), embedded)
        predicted = backbone.from_embedding(embedded)
        weight = visible
        if self.config.task == "masked":
            p = backbone.patch
            weight = weight * hidden.repeat_interleave(p, dim=1).repeat_interleave(p, dim=2)[:, None].to(visible.dtype)
        weight = weight.expand_as(predicted)
        squared = (predicted - emulator.standardise_targets(target)) ** 2 * weight
        return squared.sum() / weight.sum().clamp(min=1.0)

    def training_step(self, batch: list[torch.Tensor], batch_index: int) -> torch.Tensor:
        state, target = batch
        loss = self.loss(state, target, self.masks(state.shape[0]))
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=state.shape[0], sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._validation_masks = torch.Generator().manual_seed(self.config.seed)

    def validation_step(self, batch: list[torch.Tensor], batch_index: int) -> None:
        state, target = batch
        loss = self.loss(state, target, self.masks(state.shape[0], self._validation_masks))
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=state.shape[0], sync_dist=True)

    def configure_optimizers(self):
        return adamw_cosine(self, self.config)


def backbone_state(module: PretrainLightningModule) -> dict[str, torch.Tensor]:
    """The encoder and decoder tensors under the key names of ``PrithviWxC`` (``encoder.lgl_block.…``)."""
    return {key: value.detach().cpu().contiguous() for key, value in module.emulator.backbone.state_dict().items()
            if key.startswith(BACKBONE_PARTS)}  # fmt: skip


def save_backbone(module: PretrainLightningModule, path: Path) -> None:
    """``{"model_state": backbone_state}`` as the PrithviWxC package saves it; tensors only, written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model_state": backbone_state(module)}, tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Runs


@dataclass
class PretrainReport(GriddedGWTrainingReport):
    backbone: Path


def pretrain(
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    config: PretrainConfig = PretrainConfig(),
    *,
    resume: bool = True,
    progress: bool = True,
) -> PretrainReport:
    """Pre-train a Prithvi WxC backbone on the states of gridded file(s) ``data`` into run directory ``out``.

    Any file :func:`~subgrid.gravity_waves.gridded.dataset.open_gw_gridded` reads (the public layout, our
    simulated or ERA5-derived datasets); only the ``inputs`` are used. Files are checked before
    anything is written; a bad setting, model option or region leaves no run behind. With
    ``resume`` an interrupted run (same config and data) continues from its last checkpoint; a
    finished run (one with backbone.pt) is an error. Only global rank 0 writes.
    """
    paths = [Path(data)] if isinstance(data, str | Path) else [Path(p) for p in data]
    run = Path(out)
    refuse_foreign_directory(run)
    if (run / BACKBONE_FILE).exists():
        raise InputError(f"{run}: already holds a pre-trained backbone; choose another --out")
    ds = open_gw_gridded(paths)
    selection = GriddedSelection.for_dataset(ds, config.inputs, FLUX_TARGETS, None)
    grid = (int(ds.sizes["lat"]), int(ds.sizes["lon"]))
    region = config.region()
    visible = np.ones(grid, bool) if region is None else ~region.points(ds)
    if not visible.any():
        raise InputError(f"exclude_region: {region.as_list()} covers the whole grid; nothing is left to pre-train on")
    train_times, validation_times = split_by_time(ds, config.validation_fraction)
    train_pairs, validation_pairs = (state_pairs(ds, t, config.task, config.lead_steps) for t in (train_times, validation_times))
    if not train_pairs or not validation_pairs:
        raise InputError(f"lead_steps: {config.lead_steps} leaves no forecast pair in the "
                         f"{'training' if not train_pairs else 'validation'} period; use a smaller lead or more data")
    data_description = describe_data(paths, ds)
    trainer, best, checkpoint = start_gridded_run(run, config, data_description, resume=resume, progress=progress)
    writer, resuming = trainer.is_global_zero, checkpoint is not None
    channels = selection.input_channels()
    # Built before anything is written: a bad model option, window or pretrained checkpoint leaves no run behind.
    try:
        module = PretrainLightningModule(config.to_dict(), len(channels), grid)
    except InputError:
        raise
    except ValueError as error:
        raise InputError(f"model options: {error}") from error
    if writer:
        start_run_directory(run, resuming=resuming, generator=__name__)

    train, validation = StatePairs(ds, selection, train_pairs), StatePairs(ds, selection, validation_pairs)
    if resuming:
        description = json.loads((run / "model.json").read_text())
    else:
        statistics = channel_mean_std(train, config.statistics_samples, points=visible)
        for name in ("mean", "std"):  # the target is a state too: one set of statistics for both
            getattr(module.emulator, f"input_{name}").copy_(statistics[f"input_{name}"])
            getattr(module.emulator, f"target_{name}").copy_(statistics[f"input_{name}"])
        module.visible.copy_(torch.from_numpy(visible))
        description = {
            "kind": PRETRAIN_KIND,
            "model": config.model,
            "model_options": config.model_options,
            "parameters": sum(p.numel() for p in module.parameters()),
            "task": config.task,
            "mask_ratio": config.mask_ratio,
            "mask_unit": config.mask_unit,
            "lead_steps": config.lead_steps if config.task == "forecast" else None,
            "inputs": list(selection.inputs),
            "input_channels": channels,
            "exclude_region": None if region is None else region.as_list(),
            "excluded_points": int((~visible).sum()),
            "units": ds.attrs["normalisation"],
            "data": data_description,
            "validation_period": describe_period(ds, validation_times),
            "training_samples": len(train_pairs),
            "validation_samples": len(validation_pairs),
        }
        if writer:
            write_text_atomic(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
            write_text_atomic(run / "model.json", json.dumps(description, indent=2))

    seconds = fit_gridded(trainer, best, module, train, validation, config, checkpoint)
    backbone = run / BACKBONE_FILE
    report = PretrainReport(run, trainer.current_epoch, seconds, best_validation_score(best, run), resuming,
                            trainer.global_rank, backbone)  # fmt: skip
    if not writer:
        return report
    description.update(training_summary(trainer, best, seconds, config))
    write_text_atomic(run / "model.json", json.dumps(description, indent=2))
    save_backbone(module, backbone)  # last: its presence marks a finished run
    return report
