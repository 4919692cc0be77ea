"""The gravity-wave foundation-model study: does pre-training the Prithvi backbone help, and at which label fraction?

One call, :func:`run_gw_study`, does every step and appends one JSON line per trained run
(``model``, ``seed``, ``label_fraction`` and the test metrics, global and in the region hidden from
pre-training) as each finishes; run it again and it skips what is done (resumable).

**Data** (:func:`prepare_study_data`, files in the work directory):

1. :func:`~subgrid.gravity_waves.gridded.spinup.spin_up` from rest until the stationarity criterion
   holds (global kinetic energy, mean temperature and both jets stationary over the last
   ``stationary_window_days``; the verdict is in ``spinup/spinup.json`` and in every result line);
2. two branches of the stationary state with different seeds, each after ``decorrelation_days``:
   the **labelled** run (``train_days``, then a ``gap_days`` gap that nobody sees, then
   ``test_days`` of **test** period) and the **unlabelled** run (``unlabelled_days``), whose states
   alone pre-train the backbone (its fluxes are never read);
3. the targets exclude the terrain-following lowest layers (sigma > ``max_target_sigma``), where the
   fluxes are dominated by flow along the slopes.

**The target** (``flux_target``): ``"resolved"`` (default) is the recipe's flux of the waves the
simulation resolves (high-passed u'ω'/(-g), coarse-grained); ``"ad99"`` is the momentum flux the
Alexander-Dunkerton (1999) scheme gives on the same coarse states
(:func:`~subgrid.gravity_waves.gridded.fluxes.ad99_flux_target`): a parameterization to emulate, a
deterministic function of each column that a model can learn, where the resolved flux of this dry
model is transient noise no probe predicts (README). Its target levels are those above the
scheme's launch level (where the flux is not zero).

The gravity-wave sources are the mountains and the daily-pulsed heating (``pulsed_heating_K_per_day``);
with ``convective_cells`` > 0 also stochastic convection
(:class:`~subgrid.physics.dycore.Convection`), whose heating is then an input of every model and
of the pre-training (``source_input``). Before any training the target's predictability is measured
(:func:`~subgrid.gravity_waves.gridded.predictability.target_predictability` with the neighbourhood
probe) and kept in every result line: a target no probe can predict makes the comparison noise.

**Label fractions**: the labelled pool is the training period less its last ``validation_days``
(a validation block shared by every run; it picks the epoch and stops early); a fraction ``f``
takes ``round(f * pool)`` time steps evenly spaced through the pool. The subsets are the same for
every seed, so the spread over seeds is the training's own (initialisation, batch order).

**Models** (:data:`MODELS`): climatology (the time-mean flux per grid point of the fraction's
labelled and validation times; nothing trained), Attention U-Net, PrithviGW from random
initialisation, and the pre-trained backbone frozen, frozen between convolutional encoder/decoder
(the published variant), fine-tuned in full, and with LoRA adapters.

**Scores** on the test period: Hellinger distance (mean over ``uw_flux`` and ``vw_flux``), R²
(mean of the two) and RMSE per flux, overall and per level band (thirds of the target levels),
globally and in ``region``. :func:`summarise_gw_study` turns the lines into mean ± std tables and
the verdict on pre-training (:func:`pretraining_verdict`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from subgrid.core.chunked import write_zarr_atomic
from subgrid.core.errors import InputError
from subgrid.core.stores import append_json_line, read_json_lines
from subgrid.gravity_waves.gridded.dataset import INPUTS, SOURCE_INPUTS, LatLonBox, open_gw_gridded
from subgrid.gravity_waves.gridded.evaluation import gw_gridded_metrics, score_run
from subgrid.gravity_waves.gridded.fluxes import ad99_flux_target
from subgrid.gravity_waves.gridded.pretrain import STATE_INPUTS, PretrainConfig, pretrain
from subgrid.gravity_waves.gridded.simulation import GWSimulationConfig, generate_gw_simulation_dataset
from subgrid.gravity_waves.gridded.predictability import predictability_lines, sigma_target_levels, target_predictability
from subgrid.gravity_waves.gridded.spinup import StationarityCriterion, read_spinup, spin_up
from subgrid.gravity_waves.gridded.training import GriddedGWTrainingConfig, train_gw_gridded

CLIMATOLOGY = "climatology"
UNET, RANDOM = "Attention U-Net", "PrithviGW random init"
FROZEN, FROZEN_CONV = "PrithviGW pre-trained, frozen", "PrithviGW pre-trained, frozen + conv encoder/decoder"
FINE_TUNED, LORA = "PrithviGW pre-trained, fine-tuned", "PrithviGW pre-trained, LoRA"
#: Every model of the study, in table order.
MODELS = (CLIMATOLOGY, UNET, RANDOM, FROZEN, FROZEN_CONV, FINE_TUNED, LORA)
PRETRAINED = (FROZEN, FROZEN_CONV, FINE_TUNED, LORA)
SCOPES = ("global", "region")
#: What the fluxes to learn are (module docstring): the simulation's resolved waves, or AD99 on its states.
FLUX_TARGETS = ("resolved", "ad99")
#: The Andes and the flow downstream of them (lat, lat, lon, lon in degrees).
ANDES = (-50.0, 0.0, 270.0, 330.0)


@dataclass(frozen=True)
class GWStudyConfig:
    """Sizes of the study (defaults: the benchmark's, about 2 hours on 2 cores; see the README)."""

    # the simulation (T31 Held-Suarez with mountains and pulsed heating, fluxes on a 16 x 32 grid)
    resolution: str = "T31"
    levels: int = 20
    time_step_minutes: float = 15.0
    target: str = "gaussian:16x32"
    truncation: int = 15
    output_interval_hours: float = 6.0
    spinup_min_days: int = 100
    spinup_max_days: int = 300
    stationary_window_days: int = 50
    decorrelation_days: float = 10.0
    train_days: float = 40.0
    gap_days: float = 5.0
    test_days: float = 15.0
    unlabelled_days: float = 60.0
    max_target_sigma: float = 0.85
    flux_target: str = "resolved"
    #: The gravity-wave sources besides the mountains: the fixed daily-pulsed heating (0: off) and
    #: stochastic convective cells (0: none; their heating is an input of every model when ``source_input``).
    pulsed_heating_K_per_day: float = 10.0
    convective_cells: int = 0
    convective_peak_K_per_day: float = 30.0
    convective_lifetime_hours: float = 36.0
    convective_tilt_hours: float = 0.0
    source_input: bool = True
    # the experiment
    seeds: tuple[int, ...] = (1, 2, 3)
    label_fractions: tuple[float, ...] = (0.05, 0.25, 1.0)
    validation_days: float = 4.0
    models: tuple[str, ...] = MODELS
    region: tuple[float, float, float, float] = ANDES
    backbone: dict = field(default_factory=lambda: {"embed_dim": 64, "n_heads": 4, "n_blocks_encoder": 3,
                                                    "n_blocks_decoder": 1, "mlp_multiplier": 4, "patch": 2,
                                                    "window": [4, 8]})  # fmt: skip
    unet_width: int = 16
    conv_width: int = 32
    lora_rank: int = 8
    epochs: int = 60
    patience: int = 8
    batch_size: int = 8
    learning_rate: float = 1e-3
    frozen_learning_rate: float = 3e-3
    max_minutes: float | None = 1.25
    #: Optimizer steps per run at most (None: no limit); with max_minutes None, the budget is the same on any machine.
    max_steps: int | None = None
    pretrain_epochs: int = 60
    pretrain_max_minutes: float | None = 6.0
    pretrain_max_steps: int | None = None
    pretrain_seed: int = 0
    simulation_seeds: tuple[int, int, int] = (0, 101, 202)  # spin-up, labelled branch, unlabelled branch

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise InputError(f"models: unknown {unknown}; expected names of {list(MODELS)}")
        if not all(0 < f <= 1 for f in self.label_fractions):
            raise InputError(f"label_fractions {self.label_fractions}: each must be in (0, 1]")
        if not self.seeds:
            raise InputError("seeds: give at least one")
        if self.flux_target not in FLUX_TARGETS:
            raise InputError(f"flux_target {self.flux_target!r}: expected one of {list(FLUX_TARGETS)}")
        if min(self.train_days, self.test_days, self.unlabelled_days, self.validation_days) <= 0 or self.gap_days < 0:
            raise InputError("train_days, test_days, unlabelled_days, validation_days must be > 0 and gap_days >= 0")
        if self.validation_days >= self.train_days:
            raise InputError(f"validation_days {self.validation_days}: must be shorter than train_days {self.train_days}")

    def simulation(self, seed: int, **changes) -> GWSimulationConfig:
        return GWSimulationConfig(resolution=self.resolution, levels=self.levels, time_step_minutes=self.time_step_minutes,
                                  target=self.target, truncation=self.truncation, seed=seed,
                                  output_interval_hours=self.output_interval_hours,
                                  convective_cells=self.convective_cells,
                                  convective_peak_K_per_day=self.convective_peak_K_per_day,
                                  convective_tilt_hours=self.convective_tilt_hours,
                                  convective_lifetime_hours=self.convective_lifetime_hours,
                                  heating_K_per_day=self.pulsed_heating_K_per_day, **changes)  # fmt: skip

    @property
    def inputs(self) -> tuple[str, ...]:
        """The models' inputs: the state (:data:`INPUTS`) and, with ``source_input``, the convective heating."""
        return INPUTS + (SOURCE_INPUTS if self.source_input and self.convective_cells else ())

    def identity(self) -> str:
        """A short hash of the data and training settings (not of which models, seeds and fractions run):
        parts of one study run by several processes share it; lines of another study never mix in."""
        settings = {k: v for k, v in asdict(self).items() if k not in ("models", "seeds", "label_fractions")}
        for key, value in _ADDED_SETTINGS.items():  # a study of before they existed keeps its identity
            if settings[key] == value:
                settings.pop(key)
        if not self.convective_cells:  # without cells these change nothing
            for key in _CONVECTIVE_SETTINGS:
                settings.pop(key)
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


#: Settings added after the first studies ran, with the value those studies had implicitly.
_ADDED_SETTINGS = {"pulsed_heating_K_per_day": 10.0, "convective_cells": 0, "max_steps": None, "pretrain_max_steps": None,
                   "flux_target": "resolved"}
#: Settings that only matter with convective cells (also added after the first studies).
_CONVECTIVE_SETTINGS = ("convective_peak_K_per_day", "convective_lifetime_hours", "convective_tilt_hours", "source_input")


@dataclass(frozen=True)
class StudyData:
    train: Path
    test: Path
    unlabelled: Path
    target_levels: list[int]
    description: dict


def _simulate(args: tuple[GWSimulationConfig, Path]) -> Path:
    torch.set_num_threads(1)
    config, path = args
    return generate_gw_simulation_dataset(config, path)


def _flux_rms_by_half(ds: xr.Dataset) -> list[float]:
    """rms of uw_flux in the first and second half of a record: a stationary record keeps it."""
    flux = ds["uw_flux"].astype(np.float64)
    half = ds.sizes["time"] // 2
    return [round(float(np.sqrt((flux.isel(time=part) ** 2).mean())), 6) for part in (slice(0, half), slice(half, None))]


def prepare_study_data(config: GWStudyConfig, workdir: str | Path, *, workers: int = 2,
                       log: Callable[[str], None] = print) -> StudyData:
    """Spin up, branch the labelled and unlabelled runs, and cut train / gap / test (module docstring). Resumable."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spin_seed, labelled_seed, unlabelled_seed = config.simulation_seeds
    spinup_dir = workdir / "spinup"
    started = time.perf_counter()
    report = spin_up(config.simulation(spin_seed), spinup_dir, max_days=config.spinup_max_days,
                     min_days=config.spinup_min_days,
                     criterion=StationarityCriterion(window_days=config.stationary_window_days))  # fmt: skip
    log(f"spin-up: {report.days} days, stationary: {report.stationary} ({(time.perf_counter() - started) / 60:.1f} min)")
    branch = {"initial_state": str(spinup_dir), "spinup_days": config.decorrelation_days}
    jobs = [(config.simulation(labelled_seed, record_days=config.train_days + config.gap_days + config.test_days, **branch),
             workdir / "labelled.zarr"),
            (config.simulation(unlabelled_seed, record_days=config.unlabelled_days, **branch), workdir / "unlabelled.zarr")]
    jobs = [job for job in jobs if not job[1].exists()]
    if jobs:
        started = time.perf_counter()
        if workers > 1 and len(jobs) > 1:
            spawn = multiprocessing.get_context("spawn")  # no fork of a process whose torch threads are running
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=spawn) as pool:
                list(pool.map(_simulate, jobs))
        else:
            for job in jobs:
                generate_gw_simulation_dataset(*job)
        log(f"branches simulated in {(time.perf_counter() - started) / 60:.1f} min")
    labelled = xr.open_zarr(workdir / "labelled.zarr")
    if config.flux_target == "ad99":
        started = time.perf_counter()
        labelled = ad99_flux_target(labelled.load())
        log(f"AD99 fluxes on the labelled record in {(time.perf_counter() - started) / 60:.1f} min")
    steps_per_day = 24 / config.output_interval_hours
    n_train, n_gap = round(config.train_days * steps_per_day), round(config.gap_days * steps_per_day)
    suffix = _data_suffix(config)
    paths = {"train": workdir / f"train{suffix}.zarr", "test": workdir / f"test{suffix}.zarr"}
    parts = {"train": np.arange(n_train), "test": np.arange(n_train + n_gap, labelled.sizes["time"])}
    for name, path in paths.items():
        if not path.exists():
            write_zarr_atomic(labelled.isel(time=parts[name]).load(), path, __name__)
    sigma = labelled["level"].values
    target_levels = sigma_target_levels(labelled, config.max_target_sigma)
    if config.flux_target == "ad99":  # below the launch level the scheme's flux is zero: nothing to learn there
        train_flux = labelled[["uw_flux", "vw_flux"]].isel(time=parts["train"])
        carries = (abs(train_flux["uw_flux"]) + abs(train_flux["vw_flux"])).max([d for d in train_flux.dims if d != "level"])
        target_levels = [k for k in target_levels if float(carries[k]) > 0]
        if not target_levels:
            raise InputError("flux_target 'ad99': the scheme's flux is zero on every target level of the training period")
    spinup = read_spinup(spinup_dir)
    predictability = target_predictability(*(labelled.isel(time=parts[name]).load() for name in ("train", "test")),
                                           target_levels, nonlinear=True)  # the data just written, not read back
    for line in predictability_lines(predictability):
        log("target predictability (before training): " + line)
    description = {
        "spinup_days": spinup["days"], "stationary": bool(spinup["verdict"]["stationary"]),
        "stationarity": spinup["verdict"], "labelled_times": {"train": int(n_train), "gap": int(n_gap),
                                                              "test": int(parts["test"].size)},
        "uw_flux_rms_first_second_half_of_labelled_record": _flux_rms_by_half(labelled),
        "flux_target": config.flux_target,
        "target_levels": target_levels, "excluded_levels_sigma": [float(s) for s in sigma[sigma > config.max_target_sigma]],
        "predictability": predictability,
    }  # fmt: skip
    return StudyData(paths["train"], paths["test"], workdir / "unlabelled.zarr", target_levels, description)


def _data_suffix(config: GWStudyConfig) -> str:
    """The study's train / test / label files are named by their target: studies of both share a work directory."""
    return "" if config.flux_target == "resolved" else f"_{config.flux_target}"


def label_subset(train: Path, fraction: float, config: GWStudyConfig, out: Path) -> tuple[Path, int, float]:
    """The fraction's training file: evenly spaced pool times + the shared validation block; (path, labelled, val. fraction)."""
    ds = xr.open_zarr(train)
    n_validation = round(config.validation_days * 24 / config.output_interval_hours)
    pool = ds.sizes["time"] - n_validation
    n = max(2, round(fraction * pool))
    chosen = np.unique(np.round(np.linspace(0, pool - 1, n)).astype(int))
    times = np.concatenate([chosen, np.arange(pool, ds.sizes["time"])])
    if not out.exists():
        write_zarr_atomic(ds.isel(time=times).load(), out, __name__)
    return out, int(chosen.size), n_validation / times.size


def training_config(model: str, config: GWStudyConfig, seed: int, validation_fraction: float, backbone: Path,
                    target_levels: list[int]) -> GriddedGWTrainingConfig:
    """The training settings of ``model`` (every model shares data, split, epochs and early stopping)."""
    base = GriddedGWTrainingConfig(inputs=list(config.inputs), epochs=config.epochs, batch_size=config.batch_size,
                                   learning_rate=config.learning_rate,
                                   validation_fraction=validation_fraction, seed=seed,
                                   early_stopping_patience=config.patience, max_minutes=config.max_minutes,
                                   max_steps=config.max_steps,
                                   target_levels=target_levels)  # fmt: skip
    if model == UNET:
        return replace(base, model="unet", model_options={"base_width": config.unet_width})
    pretrained = dict(config.backbone, pretrained=str(backbone))
    options = {
        RANDOM: dict(config.backbone, fine_tune="full"),
        FROZEN: dict(pretrained, fine_tune="frozen"),
        FROZEN_CONV: dict(pretrained, fine_tune="frozen", conv_width=config.conv_width),
        FINE_TUNED: dict(pretrained, fine_tune="full"),
        LORA: dict(pretrained, fine_tune="lora", lora_rank=config.lora_rank),
    }[model]
    frozen = model in (FROZEN, FROZEN_CONV, LORA)
    return replace(base, model="prithvi", model_options=options,
                   learning_rate=config.frozen_learning_rate if frozen else config.learning_rate)


def _summary_scores(metrics: dict) -> dict:
    targets = metrics["targets"]
    mean = lambda values: None if any(v is None for v in values) else round(float(np.mean(values)), 5)  # noqa: E731
    bands = next(iter(targets.values()))["bands"]
    return {
        "hellinger": mean([t["hellinger"]["overall"] for t in targets.values()]),
        "r2": mean([t["r2"]["overall"] for t in targets.values()]),
        **{f"rmse_{name}_Pa": round(t["rmse"]["overall"], 7) for name, t in targets.items()},
        "bands": {band: {"levels": info["levels"],
                         "hellinger": mean([t["bands"][band]["hellinger"] for t in targets.values()]),
                         "r2": mean([t["bands"][band]["r2"] for t in targets.values()])} for band, info in bands.items()},
    }  # fmt: skip


def climatology_scores(subset: Path, test: xr.Dataset, target_levels: list[int], region) -> dict:
    """Scores of the time-mean flux per grid point of ``subset`` (all its times) as the prediction of ``test``."""
    names = ["uw_flux", "vw_flux"]
    mean = open_gw_gridded(subset, grid=None)[names].isel(level=target_levels).mean("time").load()
    truth = test[names].isel(level=target_levels).load()
    predicted = mean.broadcast_like(truth).astype(np.float32).transpose(*truth["uw_flux"].dims)
    points = LatLonBox.parse(list(region)).indexers(test)
    return {"global": _summary_scores(gw_gridded_metrics(truth, predicted)),
            "region": _summary_scores(gw_gridded_metrics(truth.isel(points), predicted.isel(points)))}


def run_scores(run: Path, test: xr.Dataset, region) -> dict:
    box = LatLonBox.parse(list(region))
    return {"global": _summary_scores(score_run(run, test, "all", None)[2]),
            "region": _summary_scores(score_run(run, test, "all", box)[2])}


def run_gw_study(config: GWStudyConfig, workdir: str | Path, results: str | Path, *, workers: int = 2,
                 log: Callable[[str], None] = print, context: dict | None = None,
                 on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Prepare the data, pre-train once, train and score every (label fraction, seed, model); return this study's lines.

    Appends one JSON line per run to ``results`` as it finishes (and passes it to ``on_result``);
    lines already there (same study identity, model, seed and fraction) are not run again.
    """
    workdir, results = Path(workdir), Path(results)
    data = prepare_study_data(config, workdir, workers=workers, log=log)
    identity = config.identity()
    done = {(r["model"], r["seed"], r["label_fraction"]) for r in _study_lines(results, identity)}
    backbone = workdir / "pretrain" / "backbone.pt"
    if any(m in PRETRAINED for m in config.models) and not backbone.exists():
        state_inputs = [*STATE_INPUTS, *(name for name in config.inputs if name in SOURCE_INPUTS)]
        pretrain_config = PretrainConfig(inputs=state_inputs, model_options=dict(config.backbone), task="masked",
                                         mask_ratio=0.5,
                                         epochs=config.pretrain_epochs, batch_size=config.batch_size,
                                         learning_rate=config.learning_rate, validation_fraction=0.1,
                                         exclude_region=list(config.region), seed=config.pretrain_seed,
                                         early_stopping_patience=config.patience,
                                         max_minutes=config.pretrain_max_minutes,
                                         max_steps=config.pretrain_max_steps)  # fmt: skip
        report = pretrain(data.unlabelled, workdir / "pretrain", pretrain_config, progress=False)
        log(f"pre-trained {report.epochs} epochs in {report.seconds / 60:.1f} min, best val loss {report.best_val_loss:.4f}")
    pretraining = json.loads((workdir / "pretrain" / "model.json").read_text()) if backbone.exists() else {}
    test = open_gw_gridded(data.test, grid=None)
    base = {"benchmark": "gw_study", "study": identity, **(context or {}),
            "data": data.description, "pretraining_best_val_loss": pretraining.get("best_val_loss"),
            "pretraining_minutes": round(pretraining.get("training_seconds", 0) / 60, 2)}  # fmt: skip
    for fraction in config.label_fractions:
        subset, n_labelled, validation_fraction = label_subset(data.train, fraction, config,
                                                               workdir / f"labels{_data_suffix(config)}_{fraction:g}.zarr")
        for seed in config.seeds:
            for model in config.models:
                if (model, seed, fraction) in done or (model == CLIMATOLOGY and seed != config.seeds[0]):
                    continue
                started = time.perf_counter()
                record = {**base, "model": model, "seed": seed, "label_fraction": fraction, "labelled_times": n_labelled}
                if model == CLIMATOLOGY:
                    scores = climatology_scores(subset, test, data.target_levels, config.region)
                    record.update(parameters=0, trainable_parameters=0, epochs=0)
                else:
                    run = workdir / "runs" / identity / f"{_slug(model)}_f{fraction:g}_s{seed}"
                    if not (run / "model.safetensors").exists():
                        train_gw_gridded(subset, run, training_config(model, config, seed, validation_fraction, backbone,
                                                                      data.target_levels), progress=False)  # fmt: skip
                    description = json.loads((run / "model.json").read_text())
                    scores = run_scores(run, test, config.region)
                    record.update(parameters=description["parameters"],
                                  trainable_parameters=description["trainable_parameters"],
                                  epochs=description.get("trained_epochs"),
                                  train_minutes=round(description.get("training_seconds", 0) / 60, 2))  # fmt: skip
                record.update(scores)
                append_json_line(results, record)
                if on_result is not None:
                    on_result(record)
                log(f"{model} | fraction {fraction:g} | seed {seed}: H {scores['global']['hellinger']}, "
                    f"R² {scores['global']['r2']} ({(time.perf_counter() - started) / 60:.1f} min)")
    return _study_lines(results, identity)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def _study_lines(results: Path, identity: str) -> list[dict]:
    if not results.exists():
        return []
    return [r for r in read_json_lines(results)
            if r.get("benchmark") == "gw_study" and r.get("study") == identity and "model" in r]


# ----------------------------------------------------------------------------------------------
# Summary


def _mean_std(values: list[float | None]) -> tuple[float, float, int] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, len(values)


def aggregate(lines: list[dict]) -> dict:
    """``{(model, fraction, scope, metric): (mean, std, n)}`` over seeds; metric ``band:<name>:r2`` per band."""
    groups: dict[tuple, list[float | None]] = {}
    for line in lines:
        for scope in SCOPES:
            scores = line[scope]
            metrics = {"hellinger": scores["hellinger"], "r2": scores["r2"],
                       **{k: v for k, v in scores.items() if k.startswith("rmse_")},
                       **{f"band:{b}:r2": s["r2"] for b, s in scores["bands"].items()},
                       **{f"band:{b}:hellinger": s["hellinger"] for b, s in scores["bands"].items()}}  # fmt: skip
            for metric, value in metrics.items():
                groups.setdefault((line["model"], line["label_fraction"], scope, metric), []).append(value)
    return {key: stats for key, values in groups.items() if (stats := _mean_std(values)) is not None}


def _cell(stats: tuple[float, float, int] | None, digits: int = 3) -> str:
    if stats is None:
        return "-"
    mean, std, n = stats
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def study_table(lines: list[dict], scope: str) -> str:
    """Markdown: one row per model, per label fraction Hellinger, R² and RMSE(uw) as mean ± std over seeds."""
    stats = aggregate(lines)
    fractions = sorted({line["label_fraction"] for line in lines})
    models = [m for m in MODELS if any(line["model"] == m for line in lines)]
    header = ["model", *(f"{name} ({f:.0%})" for f in fractions for name in ("H", "R²", "RMSE uw (mPa)"))]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in models:
        cells = [model]
        for f in fractions:
            cells += [_cell(stats.get((model, f, scope, "hellinger"))), _cell(stats.get((model, f, scope, "r2"))),
                      _cell(_scaled(stats.get((model, f, scope, "rmse_uw_flux_Pa")), 1e3), 2)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def band_table(lines: list[dict], scope: str = "global", metric: str = "r2") -> str:
    """Markdown: R² (or Hellinger) per level band, mean ± std over seeds, one column per (band, fraction)."""
    stats = aggregate(lines)
    fractions = sorted({line["label_fraction"] for line in lines})
    bands = list(lines[0][scope]["bands"]) if lines else []
    models = [m for m in MODELS if any(line["model"] == m for line in lines)]
    header = ["model", *(f"{band} ({f:.0%})" for band in bands for f in fractions)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in models:
        rows.append("| " + " | ".join([model, *(_cell(stats.get((model, f, scope, f"band:{b}:{metric}")))
                                                 for b in bands for f in fractions)]) + " |")
    return "\n".join(rows)


def _scaled(stats, factor: float):
    return None if stats is None else (stats[0] * factor, stats[1] * factor, stats[2])


def pretraining_verdict(lines: list[dict]) -> list[str]:
    """Per fraction and scope: does a pre-trained variant beat random initialisation beyond one std (both metrics)?

    "helps" when the pre-trained mean ± std interval of R² lies wholly above random init's and
    its Hellinger interval wholly below; "hurts" the reverse; otherwise "no clear difference".
    """
    stats = aggregate(lines)
    out = []
    for fraction in sorted({line["label_fraction"] for line in lines}):
        for scope in SCOPES:
            reference = {m: stats.get((RANDOM, fraction, scope, m)) for m in ("r2", "hellinger")}
            if None in reference.values():
                continue
            for model in PRETRAINED:
                ours = {m: stats.get((model, fraction, scope, m)) for m in ("r2", "hellinger")}
                if None in ours.values():
                    continue
                above = lambda a, b: a[0] - a[1] > b[0] + b[1]  # noqa: E731
                if above(ours["r2"], reference["r2"]) and above(reference["hellinger"], ours["hellinger"]):
                    word = "helps"
                elif above(reference["r2"], ours["r2"]) and above(ours["hellinger"], reference["hellinger"]):
                    word = "hurts"
                else:
                    word = "no clear difference"
                out.append(f"{fraction:.0%} labels, {scope}: {model} vs random init: {word} "
                           f"(R² {_cell(ours['r2'])} vs {_cell(reference['r2'])}; "
                           f"H {_cell(ours['hellinger'])} vs {_cell(reference['hellinger'])})")
    return out


def summarise_gw_study(lines: list[dict]) -> str:
    """The study in markdown: tables (global, region), R² per band, the verdict on pre-training, best scores."""
    if not lines:
        raise InputError("no result lines of this study to summarise")
    data = lines[0]["data"]
    best = {scope: max((line for line in lines if line["model"] != CLIMATOLOGY and line[scope]["r2"] is not None),
                       key=lambda line: line[scope]["r2"], default=None) for scope in SCOPES}  # fmt: skip
    target = {"resolved": "the simulation's resolved waves (high-passed u'ω'/(-g), coarse-grained)",
              "ad99": "the AD99 scheme's fluxes on the coarse states (a parameterization to emulate)"}
    parts = [
        f"Flux target: {target[data.get('flux_target', 'resolved')]}.",
        f"Spin-up {data['spinup_days']} days (stationary: {data['stationary']}); labelled times train / gap / test "
        f"{data['labelled_times']['train']} / {data['labelled_times']['gap']} / {data['labelled_times']['test']}; "
        f"uw_flux rms first / second half of the labelled record {data['uw_flux_rms_first_second_half_of_labelled_record']} Pa; "
        f"target levels {data['target_levels'][0]}-{data['target_levels'][-1]} (excluded sigma {data['excluded_levels_sigma']}).",
        *([""] + ["Target predictability, measured on the data before training "
                  "(subgrid.gravity_waves.gridded.predictability):"] + [f"- {line}" for line in predictability_lines(data["predictability"])]
          if "predictability" in data else []),
        "", "Test period, global (mean ± std over seeds; H = Hellinger distance, lower is better):", "",
        study_table(lines, "global"),
        "", "Test period, in the region hidden from pre-training:", "", study_table(lines, "region"),
        "", "R² per level band (global):", "", band_table(lines, "global"),
        "", "Does pre-training help? (interval = mean ± std over seeds)", "",
        *[f"- {line}" for line in pretraining_verdict(lines)],
    ]  # fmt: skip
    for scope, line in best.items():
        if line is not None:
            parts.append(f"- best R² ({scope}): {line['model']}, {line['label_fraction']:.0%} labels, seed {line['seed']}: "
                         f"R² {line[scope]['r2']:.3f}, H {line[scope]['hellinger']:.3f}")
    return "\n".join(parts) + "\n"
