"""Gravity-wave drag emulators for the 1-D QBO host, trained with PyTorch Lightning.

:class:`GWEmulator` takes physical inputs, the wind profile ``u[B, L]`` (m s⁻¹, bottom first)
and the day's source parameters ``source_flux_Pa[B]`` and ``spectral_width_m_per_s[B]``, and
returns the drag ``[B, L]`` in m s⁻¹ day⁻¹; normalisation statistics live inside it as buffers.
Any column backbone (``rescnn | mlp | wavenet``, :data:`subgrid.models.COLUMN_BACKBONES`) does the work.

Designed for online stability (docs/REFERENCE.md section 4: an MLP with offline R² 0.99 blew up online):

* whole-column input: every backbone sees the whole profile (the MLP and WaveNet flatten it; the
  ResCNN adds a column-mean context to its dilated convolutions), since the drag at a level
  depends on how the waves were filtered by the wind everywhere below it;
* linearity in the source flux: every scheme's drag is exactly proportional to its total source
  flux (Plumb: ``F ∝ Aᵢ``; AD99: intermittency ``ε ∝ B_t``), so with
  ``scale_drag_by_source_flux`` the network predicts the drag per unit flux from ``u`` and
  ``c_w`` and the module multiplies by ``F / F_ref``: a stronger source is then no extrapolation
  *of the flux* (the winds it drives still can be);
* a column momentum budget (``momentum_budget``): waves can deposit no more momentum than they
  launch, so the eastward (westward) drag integrated over the column, ``Σ ρ D⁺ Δz``, may not
  exceed the eastward (westward) launched flux, half of ``F`` since the spectra here are symmetric
  about the source-level wind (held at 0 by the host). Where the network exceeds it, that
  direction's drag is scaled down to the bound. The physics stays below 0.45 F in every sample
  generated here, so the bound only acts off the training distribution; emulators that blew up
  online were depositing 0.6-1.3 F in one direction before they did. It applies in eval mode
  only: trained with the bound in the loop, a WaveNet learned to lean on it (raw deposits up to
  25 F, clamped on 73 % of online days) and blew up without it, while trained without it the
  bound never bound in distribution and turned its blow-ups at a 20 % stronger source into
  bounded (if biased) QBOs;
* input noise (``input_noise_m_per_s``): Gaussian noise on the interior wind during training,
  so the model is smooth around the training trajectories that online errors push it off;
* replay of online states: :func:`train_gw` fine-tunes a trained run (``init_from``) on extra
  datasets, e.g. the states an emulator visited online labelled by the physics
  (:func:`subgrid.hosts.qbo.online.replay_dataset`).

A run directory holds::

    RUN/config.yaml          the training configuration (strictly parsed when read back)
    RUN/model.json           architecture, levels, scheme and host settings of the data, skill
    RUN/model.safetensors    weights + normalisation statistics of the best validation epoch
    RUN/metrics.csv          per-epoch losses and validation R²
    RUN/checkpoints/         Lightning checkpoints (read back with ``weights_only=True``)

Loss: ``mean(((D̂ − D)/σ_D)²)`` with one σ_D for all levels, so levels weigh by their drag in
physical units. Validation: the last ``validation_fraction`` of every run in time (neighbouring
days are nearly identical, so a random split would flatter the score).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import lightning as L
import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from subgrid.core.stores import write_text_atomic
from subgrid.gravity_waves.column.dataset import load_gw_arrays, open_gw_dataset
from subgrid.core.config import ConfigError
from subgrid.core.errors import InputError
from subgrid.models import COLUMN_BACKBONES, BackboneRegistry, build_backbone
from subgrid.physics.constants import SECONDS_PER_DAY
from subgrid.training.runs import (
    TrainingConfig,
    build_trainer,
    load_run_weights,
    merge_metric_logs,
    read_run_description,
    refuse_foreign_directory,
    save_weights,
    start_run_directory,
)

#: Share of the source flux each direction launches: the spectra are symmetric about u = 0 at the source.
DIRECTIONAL_FLUX_FRACTION = 0.5


@dataclass(frozen=True)
class GWTrainingConfig(TrainingConfig):
    """Training settings; YAML files are parsed strictly (an unknown key is an error)."""

    config_name: ClassVar[str] = "gw training config"
    backbones: ClassVar[BackboneRegistry] = COLUMN_BACKBONES

    #: A name of :data:`~subgrid.models.COLUMN_BACKBONES`.
    model: str = "wavenet"
    #: Options of the model (its option dataclass in :mod:`subgrid.models.options`), as given.
    model_options: dict = field(default_factory=dict)
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 30
    batch_size: int = 256
    validation_fraction: float = 0.15
    early_stopping_patience: int = 6
    #: Std (m s⁻¹) of Gaussian noise added to the interior wind of each training sample.
    input_noise_m_per_s: float = 0.0
    #: Predict drag per unit source flux and multiply by the flux (exact for every scheme here).
    scale_drag_by_source_flux: bool = True
    #: Cap each direction's column-integrated deposit at the flux it launches.
    momentum_budget: bool = True
    max_minutes: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            **self._optimisation_checks(),
            "input_noise_m_per_s": self.input_noise_m_per_s >= 0,
        }
        self._require(checks)
        self._check_backbone()


# ----------------------------------------------------------------------------------------------
# The emulator


class GWEmulator(nn.Module):
    """Physical in, physical out: ``(u[B, L] m/s, source_flux_Pa[B], spectral_width_m_per_s[B]) -> drag[B, L]`` m/s/day.

    Backbone channels: the normalised wind, the normalised spectral width and, unless the drag
    is scaled by the source flux (then the flux only multiplies the output), the normalised flux.
    ``layer_mass_kg_per_m2`` (ρ Δz per level, 0 on the fixed boundary levels) weighs the
    momentum budget; left at 0 it never binds.
    """

    def __init__(
        self, backbone: nn.Module, n_levels: int, scale_drag_by_source_flux: bool = True, momentum_budget: bool = True
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.n_levels = n_levels
        self.scale_drag_by_source_flux = scale_drag_by_source_flux
        self.momentum_budget = momentum_budget
        self.register_buffer("u_mean", torch.zeros(n_levels))
        self.register_buffer("u_std", torch.ones(n_levels))
        self.register_buffer("source_mean", torch.zeros(2))  # flux (Pa), width (m/s)
        self.register_buffer("source_std", torch.ones(2))
        self.register_buffer("drag_std", torch.ones(()))
        self.register_buffer("reference_flux_Pa", torch.ones(()))
        self.register_buffer("layer_mass_kg_per_m2", torch.zeros(n_levels))

    @staticmethod
    def in_channels(scale_drag_by_source_flux: bool) -> int:
        return 2 if scale_drag_by_source_flux else 3

    def forward(
        self, u_m_per_s: torch.Tensor, source_flux_Pa: torch.Tensor, spectral_width_m_per_s: torch.Tensor
    ) -> torch.Tensor:
        u = ((u_m_per_s - self.u_mean) / self.u_std).unsqueeze(1)
        source = (torch.stack([source_flux_Pa, spectral_width_m_per_s], dim=1) - self.source_mean) / self.source_std
        if self.scale_drag_by_source_flux:
            source = source[:, 1:]
        x = torch.cat([u, source.unsqueeze(-1).expand(-1, -1, self.n_levels)], dim=1)
        drag = self.backbone(x)[:, 0] * self.drag_std
        if self.scale_drag_by_source_flux:
            drag = drag * (source_flux_Pa / self.reference_flux_Pa).unsqueeze(1)
        if self.momentum_budget and not self.training:  # an online guard, not a fitting aid (module docstring)
            drag = self.within_momentum_budget(drag, source_flux_Pa)
        return drag

    def column_deposits_Pa(self, drag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eastward and westward momentum deposited in the column, ``Σ ρ D± Δz`` (Pa), for drag in m/s/day."""
        weight = self.layer_mass_kg_per_m2 / SECONDS_PER_DAY
        return (torch.relu(drag) * weight).sum(-1), (torch.relu(-drag) * weight).sum(-1)

    def within_momentum_budget(self, drag: torch.Tensor, source_flux_Pa: torch.Tensor) -> torch.Tensor:
        """Scale each direction's drag down to deposit at most the flux it launched."""
        east, west = self.column_deposits_Pa(drag)
        limit = DIRECTIONAL_FLUX_FRACTION * source_flux_Pa
        east_scale = torch.clamp(limit / east.clamp(min=1e-30), max=1.0).unsqueeze(1)
        west_scale = torch.clamp(limit / west.clamp(min=1e-30), max=1.0).unsqueeze(1)
        return torch.where(drag > 0, drag * east_scale, drag * west_scale)

    def per_unit_flux(self, drag: torch.Tensor, source_flux_Pa: torch.Tensor) -> torch.Tensor:
        """What the backbone's output is scaled to: drag per ``F / F_ref`` if scaling, else drag."""
        if self.scale_drag_by_source_flux:
            return drag / (source_flux_Pa / self.reference_flux_Pa).unsqueeze(1)
        return drag


def build_gw_emulator(
    model: str, model_options: dict, n_levels: int, scale_drag_by_source_flux: bool, momentum_budget: bool
) -> GWEmulator:
    channels = GWEmulator.in_channels(scale_drag_by_source_flux)
    backbone = build_backbone(model, channels, 1, n_levels, model_options)
    return GWEmulator(backbone, n_levels, scale_drag_by_source_flux, momentum_budget)


def _mean_std(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = x.double().mean(dim=0), x.double().std(dim=0)
    # A constant input (the fixed boundary winds, a run-constant AD99 width) would divide by zero.
    return mean.float(), torch.where(std > 1e-8, std, torch.ones_like(std)).float()


def layer_mass_kg_per_m2(height_m: np.ndarray, density_kg_per_m3: np.ndarray) -> np.ndarray:
    """ρ Δz of each level (Δz: half the distance between its neighbours); 0 on the two boundary
    levels, whose drag the host discards."""
    mass = np.asarray(density_kg_per_m3, dtype=float) * np.gradient(np.asarray(height_m, dtype=float))
    mass[[0, -1]] = 0.0
    return mass


def fit_gw_statistics(emulator: GWEmulator, arrays: dict[str, torch.Tensor], layer_mass: np.ndarray) -> None:
    """Set the normalisation buffers from training samples (``u``, ``source_flux_Pa``,
    ``spectral_width_m_per_s``, ``gw_drag``) and the budget's layer masses (kg m⁻²)."""
    flux = arrays["source_flux_Pa"]
    with torch.no_grad():
        emulator.layer_mass_kg_per_m2[:] = torch.as_tensor(layer_mass)
        emulator.u_mean[:], emulator.u_std[:] = _mean_std(arrays["u"])
        source = torch.stack([flux, arrays["spectral_width_m_per_s"]], dim=1)
        emulator.source_mean[:], emulator.source_std[:] = _mean_std(source)
        emulator.reference_flux_Pa.fill_(float(flux.double().mean()))
        scaled = emulator.per_unit_flux(arrays["gw_drag"], flux)
        emulator.drag_std.fill_(float(scaled.double().std()))


# ----------------------------------------------------------------------------------------------
# Lightning module


class GWLightningModule(L.LightningModule):
    """The emulator, its loss (optionally on noisy inputs) and validation R² in physical units."""

    def __init__(self, config: dict, n_levels: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = GWTrainingConfig.from_dict(config)
        c = self.config
        self.emulator = build_gw_emulator(c.model, c.model_options, n_levels, c.scale_drag_by_source_flux, c.momentum_budget)
        self._sums: dict[str, torch.Tensor] = {}

    def _loss(
        self, u: torch.Tensor, flux: torch.Tensor, width: torch.Tensor, drag: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        predicted = self.emulator(u, flux, width)
        return (((predicted - drag) / self.emulator.drag_std) ** 2).mean(), predicted

    def training_step(self, batch: list[torch.Tensor], batch_index: int) -> torch.Tensor:
        u, flux, width, drag = batch
        if self.config.input_noise_m_per_s > 0:
            noise = self.config.input_noise_m_per_s * torch.randn_like(u)
            noise[:, [0, -1]] = 0.0  # the boundary winds are fixed at 0 in the host: never perturbed
            u = u + noise
        loss, _ = self._loss(u, flux, width, drag)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=u.shape[0])
        return loss

    def on_validation_epoch_start(self) -> None:
        self._sums = {}

    def validation_step(self, batch: list[torch.Tensor], batch_index: int) -> None:
        u, flux, width, drag = batch
        loss, predicted = self._loss(u, flux, width, drag)
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=u.shape[0])
        d = drag.double()
        sums = {
            "sse": ((predicted.double() - d) ** 2).sum(),
            "sum": d.sum(),
            "sum_sq": (d * d).sum(),
            "n": torch.tensor(float(d.numel())),
        }
        for key, value in sums.items():
            self._sums[key] = self._sums.get(key, 0) + value.detach()

    def on_validation_epoch_end(self) -> None:
        s = self._sums
        if s:
            sst = s["sum_sq"] - s["sum"] ** 2 / s["n"]  # Σ (D − mean D)², pooled over samples and levels
            self.log("val_r2", (1.0 - s["sse"] / sst).float(), prog_bar=True)

    def configure_optimizers(self):
        c = self.config
        optimizer = torch.optim.AdamW(self.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


# ----------------------------------------------------------------------------------------------
# Runs


def split_by_time(time_days: np.ndarray, group: np.ndarray, validation_fraction: float) -> np.ndarray:
    """Boolean mask of validation samples: the last ``validation_fraction`` of each group's days."""
    validation = np.zeros(time_days.size, dtype=bool)
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        cutoff = np.quantile(time_days[members], 1.0 - validation_fraction)
        validation[members[time_days[members] > cutoff]] = True
    return validation


def _tensors(arrays: dict[str, np.ndarray], mask: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(arrays[k][mask]) for k in ("u", "source_flux_Pa", "spectral_width_m_per_s", "gw_drag")]


def load_gw_emulator(run: str | Path) -> tuple[GWEmulator, dict]:
    """The trained emulator of run directory ``run`` (eval mode) and its ``model.json`` description."""
    run = Path(run)
    description = read_run_description(run, kind="gw_emulator", what="gravity-wave emulator", required={
        "model": str, "model_options": dict, "n_levels": int, "scale_drag_by_source_flux": bool, "momentum_budget": bool,
    })  # fmt: skip
    try:
        emulator = build_gw_emulator(
            description["model"], description["model_options"], description["n_levels"],
            description["scale_drag_by_source_flux"], description["momentum_budget"],
        )
    except ConfigError as error:  # a model or options of model.json that this subgrid cannot build
        raise error.at(str(run / "model.json")) from error
    return load_run_weights(emulator, run), description


@dataclass
class GWTrainingReport:
    run: Path
    epochs: int
    seconds: float
    best_val_loss: float
    val_r2: float


def _data_description(paths: Sequence[Path]) -> list[dict]:
    described = []
    for path in paths:
        attrs = open_gw_dataset(path).attrs
        keep = ("scheme", "seed", "generator", "generator_version", "dataset_settings", "qbo_settings",
                "source_settings", "origin")  # fmt: skip
        described.append({"path": str(path.resolve()), **{k: attrs[k] for k in keep if k in attrs}})
    return described


def train_gw(
    data: str | Path | Sequence[str | Path],
    run: str | Path,
    config: GWTrainingConfig = GWTrainingConfig(),
    *,
    init_from: str | Path | None = None,
    progress: bool = True,
) -> GWTrainingReport:
    """Train a gravity-wave emulator on one or more datasets into the run directory ``run``.

    ``init_from`` (a finished run of the same model, options and flux scaling) starts from its
    weights and keeps its normalisation statistics: fine-tuning on replayed online states. The
    host settings recorded for online tests are those of the first dataset. Runs are small and
    short, so an existing ``run`` is replaced unless it already holds a trained model.
    """
    paths = [Path(data)] if isinstance(data, str | Path) else [Path(p) for p in data]
    run = Path(run)
    refuse_foreign_directory(run)
    if (run / "model.safetensors").exists():
        raise InputError(f"{run}: already holds a trained model; choose another --out")
    arrays = load_gw_arrays(paths)
    n_samples, n_levels = arrays["u"].shape
    validation = split_by_time(arrays["time"], arrays["group"], config.validation_fraction)
    if validation.all() or not validation.any():
        raise InputError(
            f"data: {n_samples} samples are too few to split off a validation fraction of {config.validation_fraction}"
        )
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = GWLightningModule(config.to_dict(), n_levels)  # bad model options fail here, before OUT is made
    start_run_directory(run, resuming=False, generator=__name__)
    train_tensors = _tensors(arrays, ~validation)
    if init_from is None:
        names = ("u", "source_flux_Pa", "spectral_width_m_per_s", "gw_drag")
        layer_mass = layer_mass_kg_per_m2(arrays["height"], arrays["air_density"])
        fit_gw_statistics(module.emulator, dict(zip(names, train_tensors, strict=True)), layer_mass)
    else:
        start, start_description = load_gw_emulator(init_from)
        expected = {"model": config.model, "model_options": config.model_options, "n_levels": n_levels,
                    "scale_drag_by_source_flux": config.scale_drag_by_source_flux, "momentum_budget": config.momentum_budget}
        for key, value in expected.items():
            if start_description[key] != value:
                raise InputError(f"init_from: {init_from} has {key}={start_description[key]!r}, this run {value!r}")
        module.emulator.load_state_dict(start.state_dict())

    first = open_gw_dataset(paths[0]).attrs
    description = {
        "kind": "gw_emulator",
        "model": config.model,
        "model_options": config.model_options,
        "n_levels": n_levels,
        "scale_drag_by_source_flux": config.scale_drag_by_source_flux,
        "momentum_budget": config.momentum_budget,
        "parameters": sum(p.numel() for p in module.emulator.parameters()),
        "inputs": ["u (m s-1, levels bottom first)", "source_flux_Pa", "spectral_width_m_per_s"],
        "output": "gw_drag (m s-1 day-1)",
        "vertical_order": first["vertical_order"],
        "scheme": first["scheme"],
        "qbo_settings": json.loads(first["qbo_settings"]),
        "source_settings": json.loads(first["source_settings"]),
        "training_data": _data_description(paths),
        "training_samples": int((~validation).sum()),
        "init_from": str(Path(init_from).resolve()) if init_from is not None else None,
    }
    write_text_atomic(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))

    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(TensorDataset(*train_tensors), batch_size=config.batch_size, shuffle=True, generator=generator)
    validation_loader = DataLoader(TensorDataset(*_tensors(arrays, validation)), batch_size=4096)
    # Epoch metrics only; a short log interval avoids Lightning's small-epoch warning.
    trainer, best = build_trainer(run, config, progress=progress, log_every_n_steps=min(50, len(train_loader)))
    started = time.perf_counter()
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=validation_loader)
    seconds = time.perf_counter() - started

    merge_metric_logs(run)
    state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)
    save_weights(module.emulator, run / "model.safetensors")
    u, flux, width, drag = (a.numpy() for a in _tensors(arrays, validation))
    val_r2 = pooled_r2(drag, predict_gw(module.emulator, u, flux, width))
    description.update(trained_epochs=trainer.current_epoch, best_val_loss=float(best.best_model_score), val_r2=val_r2)
    write_text_atomic(run / "model.json", json.dumps(description, indent=2))
    return GWTrainingReport(run, trainer.current_epoch, seconds, float(best.best_model_score), val_r2)


def pooled_r2(truth: np.ndarray, predicted: np.ndarray) -> float:
    """1 − SSE/SST pooled over samples and levels (SST about the pooled mean), as ``val_r2``."""
    truth = np.asarray(truth, dtype=float)
    sst = ((truth - truth.mean()) ** 2).sum()
    return float(1.0 - ((np.asarray(predicted, dtype=float) - truth) ** 2).sum() / sst)


def predict_gw(emulator: GWEmulator, u_m_per_s: np.ndarray, source_flux_Pa: np.ndarray,
               spectral_width_m_per_s: np.ndarray, *, batch_size: int = 8192) -> np.ndarray:
    """Emulated drag (m s⁻¹ day⁻¹, float64 ``[N, L]``) for physical numpy inputs, in batches."""
    dtype = emulator.drag_std.dtype
    out = []
    emulator.eval()
    with torch.inference_mode():
        for start in range(0, len(u_m_per_s), batch_size):
            block = slice(start, start + batch_size)
            arrays = (u_m_per_s, source_flux_Pa, spectral_width_m_per_s)
            inputs = [torch.as_tensor(np.asarray(a[block]), dtype=dtype) for a in arrays]
            out.append(emulator(*inputs).double().numpy())
    return np.concatenate(out)
