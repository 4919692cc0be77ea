"""Train a radiation emulator on an RRTMG dataset with PyTorch Lightning.

A run directory holds everything needed to use or resume the model::

    RUN/config.yaml          the training configuration (strictly parsed when read back)
    RUN/model.json           architecture, level count, feature order, loss scales, data provenance
    RUN/model.safetensors    weights + normalisation statistics of the best validation epoch
    RUN/metrics.csv          per-epoch losses and validation skill in physical units
    RUN/checkpoints/         Lightning checkpoints (last.ckpt resumes an interrupted run)

Loss: ``w_F · mean(((F̂ − F)/σ_F)²) + w_H · mean(((Ĥ − H)/σ_H)²)`` over the four fluxes (σ_F per
component) and the LW/SW heating rates (σ_H per component), σ fitted on the training split.
Checkpoints are read back with ``weights_only=True``; weights are shipped as safetensors.

Training scales out with Lightning: ``devices`` processes per node on ``num_nodes`` nodes train
with DDP (gloo on CPU, NCCL on GPUs; ``batch_size`` is per process), each streaming its own share
of the zarr chunks, and only global rank 0 writes the run directory. Validation metrics are sums
reduced over ranks, so they are those of one process on the same weights.

Experience replay fine-tunes a finished run (``init_from``): training starts from its weights
*and* its normalisation statistics and loss scales, which are not refitted (a replay set is a
biased sample of states where online runs failed; refitting on it would move every input's
z-score and throw away what the network learned). Further datasets (``extra_data``, e.g. the
replay sets of :mod:`subgrid.hosts.rce.replay`) join the training split only, every column of
them, oversampled ``extra_data_repeats`` times; validation stays on the main dataset's held-out
chunks, so the best epoch is the one that keeps offline skill on the original distribution.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal, get_args

import lightning as L
import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader

from subgrid.core.config import ConfigError
from subgrid.core.errors import InputError
from subgrid.core.stores import write_text_atomic
from subgrid.models import COLUMN_BACKBONES, BackboneRegistry
from subgrid.radiation.columns import ColumnSamplerConfig
from subgrid.models.radiation import (
    COLUMN_FEATURES,
    DERIVED_LEVEL_FEATURES,
    FLUXES,
    LEVEL_FEATURES,
    N_OUTPUT_CHANNELS,
    RadiationEmulator,
)
from subgrid.radiation.statistics import fit_statistics, statistics_batches
from subgrid.radiation.top_head import TOP_HEAD_OPTION, backbone_options, fit_top_head, top_head_width
from subgrid.radiation.training_data import ColumnStream, chunk_slices, open_radiation_dataset, split_chunks
from subgrid.training.runs import (
    TrainingConfig,
    TrainingHardware,
    best_validation_score,
    build_trainer,
    load_run_weights,
    merge_metric_logs,
    read_run_description,
    refuse_foreign_directory,
    save_weights,
    start_run_directory,
)

#: Datasets (with their extra data) below this size are held in memory by default. With DDP each
#: rank keeps the chunks it has read; shares are dealt anew every epoch, so in the end each rank
#: holds the whole training split. Larger datasets stream: memory then depends on chunk size.
IN_MEMORY_LIMIT_BYTES = 4 * 2**30
#: The column backbones the radiation emulator has been trained and tested with.
RADIATION_BACKBONES = COLUMN_BACKBONES.only("rescnn", "mlp")
Optimizer = Literal["sgd", "adamw"]
#: ``fixed``: the emulator takes the training data's level count only (per-level normalisation).
#: ``any``: one emulator for every pressure grid (log-pressure normalisation tables, a length-free
#: backbone); the datasets may then have different grids (:mod:`subgrid.models.radiation`).
VerticalGrid = Literal["fixed", "any"]


@dataclass(frozen=True)
class RadiationTrainingConfig(TrainingConfig, TrainingHardware):
    """Training settings; YAML files are parsed strictly (an unknown key is an error)."""

    config_name: ClassVar[str] = "training config"
    backbones: ClassVar[BackboneRegistry] = RADIATION_BACKBONES

    #: A name of :data:`RADIATION_BACKBONES`.
    model: str = "rescnn"
    #: Options of the model (its option dataclass in :mod:`subgrid.models.options`), as given.
    model_options: dict = field(default_factory=dict)
    optimizer: Optimizer = "adamw"
    learning_rate: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 1e-5
    epochs: int = 40
    batch_size: int = 256
    flux_loss_weight: float = 1.0
    heating_loss_weight: float = 1.0
    validation_fraction: float = 0.1
    # Cosine schedules plateau while the learning rate is still high: a short patience stops
    # them before they anneal (seen: a run stopped at epoch 62 of 110).
    early_stopping_patience: int = 25
    statistics_columns: int = 20000
    max_minutes: float | None = None
    in_memory: bool | None = None
    num_workers: int = 0
    seed: int = 0
    #: Times each chunk of the ``extra_data`` of :func:`train_radiation` is visited per epoch.
    extra_data_repeats: int = 1
    #: A :data:`VerticalGrid`: ``any`` trains a grid-agnostic emulator (then ``extra_data`` may be on other grids).
    vertical_grid: VerticalGrid = "fixed"

    def __post_init__(self) -> None:
        checks = {
            **self._optimisation_checks(),
            "epochs": isinstance(self.epochs, int) and self.epochs >= 0,  # 0: fit an added top-layer head only
            **self._hardware_checks(),
            "optimizer": self.optimizer in get_args(Optimizer),
            "momentum": 0 <= self.momentum < 1,
            "flux_loss_weight": self.flux_loss_weight >= 0,
            "heating_loss_weight": self.heating_loss_weight >= 0,
            "statistics_columns": self.statistics_columns >= 100,
            "num_workers": self.num_workers >= 0,
            "extra_data_repeats": isinstance(self.extra_data_repeats, int) and self.extra_data_repeats >= 1,
            "vertical_grid": self.vertical_grid in get_args(VerticalGrid),
        }
        self._require(checks)
        self._check_backbone()
        top_head_width(self.model_options, self.config_name)
        if self.vertical_grid == "any" and self.backbones[self.model].sized_by_levels:
            raise ConfigError(
                self.config_name,
                f"vertical_grid: 'any' needs a backbone whose weights do not depend on the level count; "
                f"{self.model!r} is sized by it (use rescnn)",
            )

    def backbone_options(self):
        """The backbone's options (:data:`TOP_HEAD_OPTION` is the emulator's, not the backbone's)."""
        return self.backbones.options(self.model, backbone_options(self.model_options), where=self.config_name)


def build_emulator(model: str, model_options: dict, n_levels: int | None) -> RadiationEmulator:
    """The emulator around backbone ``model``; ``n_levels`` None: grid-agnostic. ``model_options`` go to the
    backbone, except :data:`TOP_HEAD_OPTION` (the head that gives the top layers' heating from their own state)."""
    if n_levels is None and RADIATION_BACKBONES[model].sized_by_levels:
        raise ConfigError("n_levels", f"null (any grid) needs a backbone whose weights do not depend on the level "
                                      f"count; {model!r} is sized by it")  # fmt: skip
    head_width = top_head_width(model_options, "model_options")
    in_channels = len(LEVEL_FEATURES) + len(DERIVED_LEVEL_FEATURES) + len(COLUMN_FEATURES)
    backbone = RADIATION_BACKBONES.build(model, in_channels, N_OUTPUT_CHANNELS, backbone_options(model_options), n_levels)
    return RadiationEmulator(backbone, n_levels, top_head_width=head_width)


# ----------------------------------------------------------------------------------------------
# Lightning module


class RadiationLightningModule(L.LightningModule):
    """The emulator, its loss and optimiser, and validation skill in physical units."""

    def __init__(self, config: dict, n_levels: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = RadiationTrainingConfig.from_dict(config)
        self.emulator = build_emulator(self.config.model, self.config.model_options, n_levels)
        if self.emulator.top_head is not None:  # fitted on its own (fit_top_head), then held: the joint loss biased it
            self.emulator.top_head.requires_grad_(False)
        # Loss scales σ_F, σ_H: set by fit_statistics on a fresh run, restored from checkpoints.
        self.register_buffer("flux_scale", torch.ones(1, 4, 1))
        self.register_buffer("heating_scale", torch.ones(1, 2, 1))
        self._validation_sums: dict[str, torch.Tensor] = {}

    def fit_statistics(self, batch: dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]) -> dict[str, list[float]]:
        """Normalisation statistics and loss scales from a training sample; returns the scales."""
        scales = fit_statistics(self.emulator, batch)
        self.set_loss_scales(scales)
        return scales

    def set_loss_scales(self, scales: dict[str, list[float]]) -> None:
        with torch.no_grad():
            self.flux_scale[:] = torch.tensor(scales["flux_scale"]).view(1, 4, 1)
            self.heating_scale[:] = torch.tensor(scales["heating_scale"]).view(1, 2, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.emulator(batch["level_inputs"], batch["column_inputs"], batch["pressure_interface_Pa"])

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fluxes, heating = self(batch)
        flux_loss = (((fluxes - batch["fluxes"]) / self.flux_scale) ** 2).mean()
        heating_loss = (((heating - batch["heating"]) / self.heating_scale) ** 2).mean()
        loss = self.config.flux_loss_weight * flux_loss + self.config.heating_loss_weight * heating_loss
        return loss, fluxes, heating

    def training_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch)
        # With DDP: the mean over ranks of each rank's epoch mean (ranks run the same batch count).
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=batch["fluxes"].shape[0],
                 sync_dist=True)  # fmt: skip
        return loss

    def on_validation_epoch_start(self) -> None:
        # Sums over this rank's validation columns, in float64; a rank may have no validation chunk.
        zeros = {"loss": 1, "columns": 1, "flux_abs_error": 1, "flux_abs": 1, "heating_sq_error": 2, "heating_count": 2}
        self._validation_sums = {k: torch.zeros(n, dtype=torch.float64, device=self.device) for k, n in zeros.items()}

    def validation_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> None:
        loss, fluxes, heating = self._loss(batch)
        n_columns = batch["fluxes"].shape[0]
        day = (batch["column_inputs"][:, COLUMN_FEATURES.index(("cos_solar_zenith_angle", "identity"))] > 0).float()
        weight = torch.stack([torch.ones_like(day), day], dim=1)[:, :, None]  # LW all columns, SW by day
        flux_weight = weight.repeat_interleave(2, dim=1)
        error = heating[:, :, 1:] - batch["heating"][:, :, 1:]  # above the lowest layer
        sums = {
            "loss": loss * n_columns,
            "columns": torch.tensor(float(n_columns)),
            "flux_abs_error": ((fluxes - batch["fluxes"]).abs() * flux_weight).sum(),
            "flux_abs": (batch["fluxes"].abs() * flux_weight).sum(),
            "heating_sq_error": (error**2 * weight).sum(dim=(0, 2)),
            "heating_count": (weight.expand_as(error)).sum(dim=(0, 2)),
        }
        for key, value in sums.items():
            self._validation_sums[key] += value.detach().to(self._validation_sums[key])

    def on_validation_epoch_end(self) -> None:
        """Validation metrics over every rank's columns: sums reduced across ranks, then divided.

        The loss is the column-weighted mean of the batch losses, as on one process, whatever
        each rank's share; a mean of per-rank means would weigh a short share's columns more.
        The reduced values are the same on every rank; ``sync_dist`` only tells Lightning so.
        """
        s = {key: self.trainer.strategy.reduce(value, reduce_op="sum") for key, value in self._validation_sums.items()}
        rmse = (s["heating_sq_error"] / s["heating_count"].clamp(min=1)).sqrt()
        metrics = {
            "val_loss": s["loss"][0] / s["columns"][0],
            "val_flux_mae_percent": 100 * s["flux_abs_error"][0] / s["flux_abs"][0],
            "val_lw_heating_rmse_K_day": rmse[0],
            "val_sw_heating_rmse_K_day": rmse[1],
        }
        for name, value in metrics.items():
            self.log(name, value.float(), prog_bar=name != "val_flux_mae_percent", sync_dist=True)

    def _trained(self) -> list[torch.nn.Parameter]:
        return [parameter for parameter in self.parameters() if parameter.requires_grad]

    def configure_optimizers(self):
        c = self.config
        if c.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                self._trained(), lr=c.learning_rate, momentum=c.momentum, nesterov=True, weight_decay=c.weight_decay
            )
        else:
            optimizer = torch.optim.AdamW(self._trained(), lr=c.learning_rate, weight_decay=c.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


# ----------------------------------------------------------------------------------------------
# Runs


def load_emulator(run: str | Path) -> tuple[RadiationEmulator, dict]:
    """The trained emulator of run directory ``run`` (eval mode) and its ``model.json`` description."""
    run = Path(run)
    description = read_run_description(
        run, kind=None, what="radiation emulator", required={"model": str, "model_options": dict}
    )
    if "n_levels" not in description:
        raise InputError(f"{run}/model.json: n_levels missing (a level count, or null for a grid-agnostic emulator)")
    n_levels = description["n_levels"]
    if not (n_levels is None or (isinstance(n_levels, int) and not isinstance(n_levels, bool) and n_levels >= 2)):
        raise InputError(f"{run}/model.json: n_levels must be a level count or null (any grid), got {n_levels!r}")
    derived = description.get("derived_level_features", ["log_layer_thickness"])
    if derived != list(DERIVED_LEVEL_FEATURES):
        raise InputError(
            f"{run}: trained with derived input features {derived}, this subgrid computes "
            f"{list(DERIVED_LEVEL_FEATURES)}; retrain it, or load it with the subgrid version that trained it"
        )
    try:
        emulator = build_emulator(description["model"], description["model_options"], n_levels)
    except ConfigError as error:  # a model or options of model.json that this subgrid cannot build
        raise error.at(str(run / "model.json")) from error
    return load_run_weights(emulator, run), description


class RadiationDataModule(L.LightningDataModule):
    """Training and validation streams over whole zarr chunks of one dataset, plus extra training data.

    Every chunk of ``extra_data`` joins the training stream, ``config.extra_data_repeats`` times;
    the validation stream holds the main dataset's held-out chunks only. The training loader is
    rebuilt every epoch with that epoch's shuffle order, so the order depends only on (seed,
    epoch), also after resuming from a checkpoint.

    With several processes each rank streams its own share of the chunks (set in :meth:`setup`
    from the trainer): training shares yield equal batch counts, validation shares cover every
    held-out column once (the module reduces their sums).
    """

    def __init__(
        self, data: Path, config: RadiationTrainingConfig, in_memory: bool, extra_data: Sequence[Path] = ()
    ) -> None:
        super().__init__()
        ds = open_radiation_dataset(data, check_finite=False)  # train_radiation checked the data
        train_slices, validation_slices = split_chunks(chunk_slices(ds), config.validation_fraction, config.seed)
        levels = None if config.vertical_grid == "any" else ds.sizes["level"]
        extra = [
            (str(path), columns)
            for path in extra_data
            for columns in chunk_slices(open_radiation_dataset(path, n_levels=levels, check_finite=False))
        ]
        stream = dict(path=str(data), batch_size=config.batch_size, seed=config.seed, in_memory=in_memory)
        # Grid-agnostic training: a batch holds one dataset's columns (one grid), the grids' batches interleaved.
        self.train_stream = ColumnStream(
            slices=train_slices, shuffle=True, extra_chunks=extra * config.extra_data_repeats, even_shares=True,
            batches_by_dataset=config.vertical_grid == "any", **stream,
        )  # fmt: skip
        self.validation_stream = ColumnStream(slices=validation_slices, shuffle=False, **stream)
        self.num_workers = config.num_workers

    def setup(self, stage: str) -> None:
        rank, world_size = self.trainer.global_rank, self.trainer.world_size
        n_shares = world_size * max(1, self.num_workers)
        n_chunks = len(self.train_stream.chunks)
        if n_chunks < n_shares:
            raise InputError(
                f"dataset: {n_chunks} training chunks cannot feed {world_size} processes x "
                f"{max(1, self.num_workers)} loader workers; generate it with a smaller --chunk-size"
            )
        for stream in (self.train_stream, self.validation_stream):
            stream.rank, stream.world_size = rank, world_size

    def _loader(self, stream: ColumnStream) -> DataLoader:
        return DataLoader(stream, batch_size=None, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        self.train_stream.set_epoch(self.trainer.current_epoch if self.trainer else 0)
        return self._loader(self.train_stream)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.validation_stream)


def sampler_settings(description: dict, **grid) -> ColumnSamplerConfig:
    """The column sampler of a run's training data (``model.json`` description), on the run's levels (a
    grid-agnostic run: on its main dataset's), with ``grid`` settings (``n_levels``, ...) over them."""
    recorded = description.get("training_data", {}).get("sampler_settings")
    values = json.loads(recorded) if recorded else {}
    if description.get("n_levels") is not None:
        values["n_levels"] = description["n_levels"]
    return ColumnSamplerConfig(**{**values, **grid})


@dataclass
class TrainingReport:
    run: Path
    epochs: int
    seconds: float
    best_val_loss: float
    resumed: bool
    #: Global rank of the process that returns it (0 in a single-process run; rank 0 wrote the files).
    rank: int = 0


#: Dataset attributes recorded in model.json for each extra dataset (those present).
EXTRA_DATA_ATTRS = ("origin", "generator", "generator_version", "seed", "rrtmg_settings", "precrash_states",
                    "out_of_distribution_states", "replay_round", "emulator_artifact")  # fmt: skip


def _check_extra_data(paths: Sequence[Path], main, n_levels: int | None) -> list[dict]:
    """Open every extra dataset (the same RRTMG settings as the main one, and ``n_levels`` levels unless None);
    their model.json entries."""
    described = []
    main_settings = main.attrs.get("rrtmg_settings")
    for path in paths:
        ds = open_radiation_dataset(path, n_levels=n_levels)
        settings = ds.attrs.get("rrtmg_settings")
        if main_settings and settings and json.loads(settings) != json.loads(main_settings):
            raise InputError(
                f"extra_data: {path} was labelled with RRTMG settings {settings}, the training data with "
                f"{main_settings}; targets of two settings would contradict each other"
            )
        attrs = {k: ds.attrs[k] for k in EXTRA_DATA_ATTRS if k in ds.attrs}
        described.append({"path": str(path.resolve()), "columns": int(ds.sizes["column"]), "levels": int(ds.sizes["level"]),
                          **attrs})  # fmt: skip
    return described


def _fine_tuning_start(init_from: Path, config: RadiationTrainingConfig, data: Path, n_levels: int) -> tuple[RadiationEmulator, dict]:
    """The emulator and description of the finished run ``init_from``, checked against this run.

    Refuses (naming the key) another architecture, other backbone options or another level
    count, and a run trained on ``data`` with another split of it (fine-tuning would then train
    on its validation chunks).
    """
    if (init_from / "model.json").exists():
        kind = json.loads((init_from / "model.json").read_text()).get("kind")
        if kind != "radiation_emulator":
            raise InputError(f"init_from: {init_from} holds a {kind!r} model, not a radiation emulator")
    emulator, description = load_emulator(init_from)
    expected = {"model": config.model, "model_options": backbone_options(config.model_options), "n_levels": n_levels}
    found = {**description, "model_options": backbone_options(description.get("model_options", {}))}
    for key, value in expected.items():
        if found.get(key) != value:
            raise InputError(f"init_from: {init_from} has {key}={description.get(key)!r}, this run {value!r}")
    if "loss_scales" not in description:
        raise InputError(f"init_from: {init_from}/model.json records no loss_scales")
    same_data = description.get("training_data", {}).get("path") == str(data.resolve())
    if same_data and (init_from / "config.yaml").exists():
        started = RadiationTrainingConfig.from_yaml(init_from / "config.yaml")
        for key in ("seed", "validation_fraction"):
            if getattr(started, key) != getattr(config, key):
                raise InputError(
                    f"init_from: {init_from} split the same training data with {key}={getattr(started, key)!r}, "
                    f"this run {getattr(config, key)!r}; fine-tuning would train on its validation chunks"
                )
    return emulator, description


def train_radiation(
    data: str | Path,
    run: str | Path,
    config: RadiationTrainingConfig = RadiationTrainingConfig(),
    *,
    init_from: str | Path | None = None,
    extra_data: Sequence[str | Path] = (),
    resume: bool = True,
    progress: bool = True,
) -> TrainingReport:
    """Train an emulator on the radiation dataset ``data`` into run directory ``run``.

    ``init_from`` (a finished run of the same model, model options and level count) starts from
    its weights, normalisation statistics and loss scales, which are kept (module docstring);
    otherwise they are fitted on the training split of ``data``. ``extra_data`` (radiation
    datasets with the same levels and RRTMG settings, e.g. replayed online states) join the
    training split, ``config.extra_data_repeats`` times each; validation uses ``data``'s held-out
    chunks only. Both are recorded in ``model.json``.

    With ``resume`` and an interrupted run in ``run`` (same config, ``init_from`` and
    ``extra_data``; the hardware settings may differ, e.g. a job requeued on other nodes),
    training continues from its last checkpoint; otherwise a fresh run starts (an existing
    finished run is an error).

    With several processes (``config.devices`` x ``config.num_nodes``) every process calls this
    function: Lightning starts the other processes by rerunning the command, or ``torchrun`` /
    ``srun`` start them all. Every process fits the same normalisation statistics on the same
    columns (DDP broadcasts rank 0's when it wraps the model, too); only global rank 0 clears
    and writes ``run``. Call it from a script or the CLI, not from a notebook or a test runner
    process (Lightning would rerun that process).
    """
    data, run = Path(data), Path(run)
    refuse_foreign_directory(run)
    extra_paths = [Path(path) for path in extra_data]
    ds = open_radiation_dataset(data)
    n_levels = None if config.vertical_grid == "any" else ds.sizes["level"]
    n_columns = ds.sizes["column"]
    extra_described = _check_extra_data(extra_paths, ds, n_levels)
    start = None if init_from is None else _fine_tuning_start(Path(init_from), config, data, n_levels)
    if config.epochs == 0 and (start is None or start[0].top_head is not None or not config.model_options.get(TOP_HEAD_OPTION)):
        raise InputError("epochs: 0 only adds a top-layer head to a trained run (--init-from a run without one and "
                         f"model_options {TOP_HEAD_OPTION}); anything else needs epochs >= 1")
    provenance = {
        "init_from": None if init_from is None else str(Path(init_from).resolve()),
        "extra_data": extra_described,
    }
    levels = ds.sizes["level"]
    bytes_per_column = 4 * (len(LEVEL_FEATURES) * levels + len(COLUMN_FEATURES) + 5 * (levels + 1) + 2 * levels)
    last = run / "checkpoints" / "last.ckpt"
    if (run / "model.safetensors").exists():
        raise InputError(f"{run}: already holds a trained model; choose another --out")
    resuming = resume and last.exists()
    if resuming:
        saved = RadiationTrainingConfig.from_yaml(run / "config.yaml")
        if replace(saved, **config.hardware()) != config:
            raise InputError(f"{run}: holds an interrupted run with another config; use another --out or the same config")
        described = json.loads((run / "model.json").read_text())
        recorded = {"init_from": described.get("init_from"), "extra_data": [e["path"] for e in described.get("extra_data", [])]}
        if recorded != {"init_from": provenance["init_from"], "extra_data": [e["path"] for e in extra_described]}:
            raise InputError(
                f"{run}: holds an interrupted run with another init_from or extra_data; use another --out or the same"
            )
    # Built before anything is written: it knows this process's rank (torchrun, SLURM, or the
    # LOCAL_RANK Lightning gives the processes it starts), and only rank 0 touches the run.
    trainer, best = build_trainer(run, config, progress=progress, reload_dataloaders_every_n_epochs=1, **config.hardware())
    writer = trainer.is_global_zero

    L.seed_everything(config.seed, workers=True, verbose=False)
    all_columns = n_columns + config.extra_data_repeats * sum(e["columns"] for e in extra_described)
    in_memory = config.in_memory if config.in_memory is not None else all_columns * bytes_per_column < IN_MEMORY_LIMIT_BYTES
    datamodule = RadiationDataModule(data, config, in_memory, extra_paths)
    module = RadiationLightningModule(config.to_dict(), n_levels)  # bad model options fail here, before OUT is made
    if writer:
        start_run_directory(run, resuming=resuming, generator=__name__)
    if resuming:
        description = json.loads((run / "model.json").read_text())
    else:
        head_fit = None
        if start is None:
            batches = statistics_batches(datamodule.train_stream, extra_paths, config)
            scales = module.fit_statistics(batches)
            statistics_from = None
            if module.emulator.top_head is not None:
                head_fit = fit_top_head(module.emulator, batches, seed=config.seed)
        else:
            emulator, started = start
            # weights and normalisation buffers; a top-layer head the started run had not is fitted here
            missing, unexpected = module.emulator.load_state_dict(emulator.state_dict(), strict=False)
            if unexpected or any(not key.startswith("top_head.") for key in missing):
                raise InputError(f"init_from: {init_from} does not fit this model (missing {missing}, unexpected {unexpected})")
            if missing:
                head_fit = fit_top_head(module.emulator, statistics_batches(datamodule.train_stream, extra_paths, config), seed=config.seed)
            scales = started["loss_scales"]
            module.set_loss_scales(scales)
            statistics_from = started.get("statistics_from") or provenance["init_from"]
        description = {
            "kind": "radiation_emulator",
            "model": config.model,
            "model_options": config.model_options,
            "n_levels": n_levels,  # None: any grid
            "vertical_grid": config.vertical_grid,
            "parameters": sum(p.numel() for p in module.emulator.parameters()),
            "level_features": [name for name, _ in LEVEL_FEATURES],
            "derived_level_features": list(DERIVED_LEVEL_FEATURES),
            "column_features": [name for name, _ in COLUMN_FEATURES],
            "fluxes": list(FLUXES),
            "vertical_order": "surface_first",
            "loss_scales": scales,
            # None: fitted on this run's training split; else the run they were fitted in.
            "statistics_from": statistics_from,
            # the top-layer head's own fit, before the rest trained (None: no head, or the started run's)
            "top_head_fit": head_fit,
            "training_data": {"path": str(data.resolve()), "columns": n_columns, **{k: ds.attrs.get(k) for k in ("seed", "generator_version", "rrtmg_settings", "sampler_settings")}},
            **provenance,
            "extra_data_repeats": config.extra_data_repeats,
            "training_columns_per_epoch": datamodule.train_stream.n_columns(),
        }
        if writer:
            write_text_atomic(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
            write_text_atomic(run / "model.json", json.dumps(description, indent=2))

    if config.epochs == 0:  # the head was fitted above; nothing else trains
        if writer:
            _write_weights(module, run, description, trained_epochs=0, best_val_loss=None, precision=config.precision)
        return TrainingReport(run, 0, 0.0, float("nan"), resuming, trainer.global_rank)
    started_at = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=last if resuming else None, weights_only=True)
    seconds = time.perf_counter() - started_at
    report = TrainingReport(run, trainer.current_epoch, seconds, best_validation_score(best, run), resuming,
                            trainer.global_rank)  # fmt: skip
    if not writer:
        return report

    merge_metric_logs(run)
    state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.cpu().load_state_dict(state)
    # Wall time of this fit (after a resume: of the resumed part), the processes and the precision it ran with.
    _write_weights(module, run, description, trained_epochs=trainer.current_epoch, best_val_loss=report.best_val_loss,
                   training_seconds=round(seconds, 1), training_processes=trainer.world_size, precision=config.precision)
    return report


def _write_weights(module: RadiationLightningModule, run: Path, description: dict, **fit) -> None:
    """The emulator's weights, and model.json with what the fit recorded (``fit``) and the threads it had per process."""
    save_weights(module.emulator, run / "model.safetensors")
    description.update(fit, torch_threads=torch.get_num_threads())
    write_text_atomic(run / "model.json", json.dumps(description, indent=2))


def predict_radiation(emulator: RadiationEmulator, ds, *, batch_size: int = 4096):
    """Emulated fluxes and heating rates for every column of ``ds`` as an xarray Dataset (schema names, units).

    Reads ``ds`` block by block, so a lazily opened zarr dataset is not loaded whole.
    """
    import xarray as xr

    from subgrid.physics.schema import RADIATION_OUTPUTS
    from subgrid.radiation.training_data import to_tensors

    fluxes, heating = [], []
    emulator.eval()
    with torch.no_grad():
        for start in range(0, ds.sizes["column"], batch_size):
            block = to_tensors(ds.isel(column=slice(start, start + batch_size)).load(), targets=False)
            f, h = emulator(block["level_inputs"], block["column_inputs"], block["pressure_interface_Pa"])
            fluxes.append(f.double().numpy())
            heating.append(h.double().numpy())
    f, h = np.concatenate(fluxes), np.concatenate(heating)
    names = list(FLUXES) + ["lw_heating_rate", "sw_heating_rate"]
    values = [f[:, i] for i in range(4)] + [h[:, 0], h[:, 1]]
    return xr.Dataset(
        {name: (RADIATION_OUTPUTS[name].dims, value, RADIATION_OUTPUTS[name].attrs()) for name, value in zip(names, values, strict=True)},
        attrs={"vertical_order": "surface_first"},
    )
