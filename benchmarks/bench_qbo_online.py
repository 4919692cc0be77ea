"""Gravity-wave emulators online in the 1-D QBO host: offline R² beside 100-year online QBO statistics.

Every emulator is trained on the same data (the stochastic 20-wave source at *one* setting, four
runs with different seeds, 10 years each), then run online for ``--years`` from the physics run's
initial state and seed, at the training setting and at a 20 % stronger mean source flux (the
generalisation case: a source the emulator never saw). Each line compares the emulator's QBO
period (Fourier and transitions), σ25 and σ20 with the physics run *measured in the same run*
(``ratio_*`` = emulator / physics) and says whether it stayed stable. Acceptance of the issue:
stable 100 years, period within 10 %, σ25 within 15 % (goal 5 % / 10 %).

Variants: ``mlp``, ``wavenet`` and ``rescnn`` (input noise 0.5 m/s, drag ∝ source flux by
construction, column momentum budget online); ablations ``wavenet-no-budget`` (no momentum
budget) and ``mlp-flux-input`` (the flux as a plain input, no scaling by it); ``mlp-replay``
(``mlp`` fine-tuned on 20 years of its own online states labelled by the physics);
``mlp-diverse`` (trained on runs with the mean source flux scaled by 0.9, 1.0, 1.0, 1.1 instead:
what diversity of sources buys at 1.2, still outside it). ``physics-seed`` compares the physics
with itself under another seed: the sampling spread of the statistics, the floor under any
emulator error.

    python benchmarks/bench_qbo_online.py --workdir bench_runs/qbo --variants mlp wavenet \
        [--years 100] [--out benchmarks/results/qbo_online.jsonl]

Trained runs and the dataset are kept in ``--workdir`` and reused, so variants can be run in
separate invocations. Torch runs on one thread (one column a step online).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from _report import emit

from subgrid.gravity_waves.column.dataset import GWDatasetConfig
from subgrid.hosts.qbo.online import (
    ACCEPTANCE,
    GOAL,
    STATISTICS,
    compare_online,
    generate_gw_dataset,
    online_test,
    qbo_config_for,
    replay_dataset,
    scaled_source,
)
from subgrid.gravity_waves.column.training import GWTrainingConfig, train_gw
from subgrid.physics.qbo_waves import StochasticWaves

DATA = GWDatasetConfig(scheme="stochastic", years=10.0, seed=0, source_flux_scales=(1.0,) * 4, sample_every_days=2)
DIVERSE_DATA = dataclasses.replace(DATA, source_flux_scales=(0.9, 1.0, 1.0, 1.1))
# 15 epochs left the MLP at R² 0.85 and one training seed in three blew up at the training
# setting; at 40-60 epochs every seed tried was stable there.
COMMON = {"epochs": 40, "early_stopping_patience": 8, "learning_rate": 1e-3, "input_noise_m_per_s": 0.5, "seed": 0}
MLP = {"model": "mlp", "model_options": {"hidden": 256, "layers": 3}}
WAVENET = {"model": "wavenet", "model_options": {"hidden": 128, "head_hidden": 16}}
VARIANTS = {
    "mlp": MLP,
    "wavenet": WAVENET,
    "rescnn": {"model": "rescnn", "model_options": {"width": 32, "depth": 4}},
    "wavenet-no-budget": {**WAVENET, "momentum_budget": False},
    "mlp-flux-input": {**MLP, "scale_drag_by_source_flux": False},
    "mlp-diverse": MLP,
}
REPLAY = {"base": "mlp", "years": 20.0, "seed": 7, "epochs": 6, "learning_rate": 3e-4}
GENERALISATION_FLUX_SCALE = 1.2


def _dataset(workdir: Path, name: str) -> Path:
    diverse = name.endswith("-diverse")
    path = workdir / ("train_diverse.zarr" if diverse else "train.zarr")
    if not path.exists():
        generate_gw_dataset(path, DIVERSE_DATA if diverse else DATA, progress=False)
    return path


def _trained(workdir: Path, name: str, seed: int) -> tuple[Path, float]:
    """Run directory of variant ``name`` with training seed ``seed`` and its training seconds (NaN: reused)."""
    run = workdir / "runs" / (name if seed == 0 else f"{name}_seed{seed}")
    if (run / "model.safetensors").exists():
        return run, float("nan")
    data = _dataset(workdir, name)
    started = time.perf_counter()
    if name == "mlp-replay":
        base, _ = _trained(workdir, REPLAY["base"], seed)
        replay = replay_dataset(base, workdir / "replay.zarr", years=REPLAY["years"], seed=REPLAY["seed"], overwrite=True)
        config = GWTrainingConfig.from_dict({**COMMON, **VARIANTS[REPLAY["base"]], "seed": seed,
                                             "epochs": REPLAY["epochs"], "learning_rate": REPLAY["learning_rate"]})  # fmt: skip
        train_gw([data, replay], run, config, init_from=base, progress=False)
    else:
        train_gw(data, run, GWTrainingConfig.from_dict({**COMMON, **VARIANTS[name], "seed": seed}), progress=False)
    return run, time.perf_counter() - started


def _line(name: str, metrics: dict, extra: dict) -> dict:
    physics, emulator = metrics["physics"], metrics["emulator"]
    line = {"benchmark": "qbo_online", "variant": name, **extra}
    for key in STATISTICS:
        line[f"physics_{key}"] = physics[key]
        line[f"emulator_{key}"] = emulator[key]
        line[f"ratio_{key}"] = None if emulator[key] is None else emulator[key] / physics[key]
    line.update(
        stable=metrics["stable"],
        blowup_day=emulator["blowup_day"],
        meets_acceptance=metrics["meets_acceptance"],
        meets_goal=metrics["meets_goal"],
        acceptance=ACCEPTANCE,
        goal=GOAL,
        years=metrics["years"],
        physics_wall_s=physics["wall_s"],
        emulator_wall_s=emulator["wall_s"],
    )
    return line


@dataclasses.dataclass(frozen=True)
class OtherSeed:
    """``source`` drawing its waves with the run's seed + 1000: the same physics, other weather."""

    source: StochasticWaves

    @property
    def inputs(self):
        return self.source.inputs

    @property
    def outputs(self):
        return self.source.outputs

    def tendencies(self, state):
        return self.source.tendencies(dataclasses.replace(state, seed=state.seed + 1000))


def _physics_floor(years: float, seed: int, out: Path | None) -> None:
    """The physics against itself with another seed: how much the statistics move by chance alone."""
    config = qbo_config_for("stochastic")
    for scale in (1.0, GENERALISATION_FLUX_SCALE):
        source = scaled_source(StochasticWaves(), scale)
        metrics = compare_online(config, source, OtherSeed(source), years=years, seed=seed).metrics
        emit(_line("physics-seed", metrics, {"source_flux_scale": scale, "offline_r2": None}), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench_runs/qbo"))
    parser.add_argument("--variants", nargs="+", default=["physics-seed", *VARIANTS, "mlp-replay"],
                        choices=["physics-seed", *VARIANTS, "mlp-replay"])  # fmt: skip
    parser.add_argument("--years", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the online runs (training data use others).")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0],
                        help="Training seeds (initialisation, shuffling, noise): does the result survive a reseed?")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for name in args.variants:
        if name == "physics-seed":
            _physics_floor(args.years, args.seed, args.out)
            continue
        for train_seed in args.train_seeds:
            run, train_s = _trained(args.workdir, name, train_seed)
            for scale in (1.0, GENERALISATION_FLUX_SCALE):
                out_dir = args.workdir / "online" / f"{run.name}_flux_x{scale:g}"
                metrics = online_test(run, years=args.years, seed=args.seed, source_flux_scale=scale, out=out_dir).metrics
                extra = {"model": metrics["model"], "train_seed": train_seed, "source_flux_scale": scale,
                         "offline_r2": metrics["offline_r2"], "validation_r2": metrics["validation_r2"], "train_s": train_s}  # fmt: skip
                emit(_line(name, metrics, extra), args.out)


if __name__ == "__main__":
    main()
