"""Gravity-wave emulators online in the 1-D QBO host: training data, the drag adapter, online tests, replay.

* :func:`generate_gw_dataset` runs the host with a physics drag scheme (``stochastic``,
  ``ad99`` or ``plumb``; several runs with perturbed source parameters) and writes the
  (u profile, source parameters) -> drag dataset of :mod:`subgrid.gravity_waves.column.dataset`.
* :class:`~subgrid.gravity_waves.column.emulator.EmulatedDrag` plugs a trained
  :class:`~subgrid.gravity_waves.column.training.GWEmulator` into
  :func:`~subgrid.hosts.qbo.model.run_qbo` through the one parameterization contract
  (``tendencies(state) -> {"drag": m s⁻¹ day⁻¹}``), like the physics sources of
  :mod:`subgrid.physics.qbo_waves`.
* :func:`compare_online` runs physics and emulator from the same initial state and seed, guards
  both against blow-up (:func:`blow_up_guard`: a :class:`~subgrid.core.contract.Guarded` that
  stops the run at a non-finite wind or ``|u|`` > 200 m/s), and reports
  the QBO period (Fourier and transitions), σ(u) at 25 and 20 km and their errors relative to the
  physics run; :func:`plot_online_comparison` draws the Hovmöllers.
* :func:`replay_dataset` records the states an emulator visits online, labelled with the physics
  drag at those states, for fine-tuning (:func:`subgrid.gravity_waves.column.training.train_gw` with ``init_from``).

Acceptance of the gravity-wave issue: stable for 100 model years with period within 10 % and σ25
within 15 % of the physics run (goal 5 % / 10 %).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

import subgrid
from subgrid.core.contract import Guarded, Parameterization
from subgrid.core.errors import InputError
from subgrid.core.ownership import DATASET, check_replaceable
from subgrid.gravity_waves.column.dataset import GWDatasetConfig, GWRun, gw_dataset, provenance, write_gw_dataset
from subgrid.gravity_waves.column.emulator import EmulatedDrag
from subgrid.gravity_waves.column.training import GWEmulator, load_gw_emulator, pooled_r2, predict_gw
from subgrid.hosts.qbo.model import (
    BLOWUP_WIND_M_PER_S,
    DAYS_PER_YEAR,
    QBOConfig,
    blew_up,
    plot_hovmoller,
    qbo_amplitude,
    qbo_period_months,
    run_qbo,
)
from subgrid.physics.ad99 import AD99Config
from subgrid.physics.qbo_waves import (
    AD99Column,
    PlumbTwoWave,
    QBOState,
    QBOWaveSource,
    StochasticWaves,
    source_parameters,
)

#: Upwelling (m/s) each scheme's reference QBO needs (docs/REFERENCE.md section 4).
REFERENCE_UPWELLING_M_PER_S = {"stochastic": 3e-4, "ad99": 4.5e-4, "plumb": 1e-5}
#: (period, σ25) relative-error bounds of the issue's acceptance and of its goal.
ACCEPTANCE = {"period": 0.10, "sigma25": 0.15}
GOAL = {"period": 0.05, "sigma25": 0.10}
#: The QBO statistics of a run (:func:`qbo_statistics`).
STATISTICS = ("period_fourier_months", "period_transitions_months", "sigma25_m_per_s", "sigma20_m_per_s")


# --------------------------------------------------------------------------------------------
# Physics sources and their parameters


def reference_source(scheme: str) -> QBOWaveSource:
    """The scheme's reference settings (``qbo1d``'s stochastic spectrum, MiMA-like AD99, Plumb's two waves)."""
    sources = {"stochastic": StochasticWaves, "ad99": AD99Column, "plumb": PlumbTwoWave}
    if scheme not in sources:
        raise InputError(f"scheme: {scheme!r} is none of {', '.join(sources)}")
    return sources[scheme]()


def source_settings(source: QBOWaveSource) -> dict:
    """JSON-ready settings of ``source``; :func:`source_from_settings` rebuilds it."""
    return json.loads(json.dumps(asdict(source)))


def source_from_settings(scheme: str, settings: dict) -> QBOWaveSource:
    """The source a dataset or model records (``scheme`` and :func:`source_settings`)."""
    if scheme == "stochastic":
        return StochasticWaves(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})
    if scheme == "ad99":
        return AD99Column(AD99Config(**settings["config"]))
    if scheme == "plumb":
        return PlumbTwoWave(**{k: tuple(v) for k, v in settings.items()})
    raise InputError(f"scheme: {scheme!r} is none of stochastic, ad99, plumb")


def scaled_source(source: QBOWaveSource, source_flux_scale: float = 1.0, spectral_width_scale: float = 1.0) -> QBOWaveSource:
    """``source`` with its (mean) source flux and spectral width multiplied; stochastic spreads scale alike."""
    f, w = source_flux_scale, spectral_width_scale
    if isinstance(source, StochasticWaves):
        return replace(
            source,
            mean_source_flux_Pa=source.mean_source_flux_Pa * f,
            source_flux_variance_Pa2=source.source_flux_variance_Pa2 * f * f,
            mean_spectral_width_m_per_s=source.mean_spectral_width_m_per_s * w,
            spectral_width_variance_m2_per_s2=source.spectral_width_variance_m2_per_s2 * w * w,
        )
    if isinstance(source, AD99Column):
        config = source.config
        return replace(source, config=replace(
            config, source_stress_Pa=config.source_stress_Pa * f,
            spectral_half_width_m_per_s=config.spectral_half_width_m_per_s * w,
        ))  # fmt: skip
    return replace(
        source,
        flux_amplitudes_Pa=tuple(a * f for a in source.flux_amplitudes_Pa),
        phase_speeds_m_per_s=tuple(c * w for c in source.phase_speeds_m_per_s),
    )


def _states(config: QBOConfig, seed: int, steps: np.ndarray, u_m_per_s: np.ndarray) -> list[QBOState]:
    """The states of a run seeded ``seed`` at ``steps``, with the wind ``u_m_per_s[step]``."""
    return [config.state(u_m_per_s[s], step=int(s), seed=seed) for s in steps]


def _parameters(source: QBOWaveSource, states: list[QBOState]) -> tuple[np.ndarray, np.ndarray]:
    flux, width = np.array([source_parameters(source, state) for state in states]).T
    return flux, width


# --------------------------------------------------------------------------------------------
# Training data


def qbo_config_for(scheme: str, upwelling_m_per_s: float | None = None) -> QBOConfig:
    """The host set up for ``scheme``: its reference upwelling unless one is given."""
    reference_source(scheme)  # names the valid schemes on a typo
    upwelling = REFERENCE_UPWELLING_M_PER_S[scheme] if upwelling_m_per_s is None else upwelling_m_per_s
    return QBOConfig(upwelling_m_per_s=upwelling)


def simulate_gw_runs(config: GWDatasetConfig, *, progress: bool = False) -> list[GWRun]:
    """The physics runs that make a dataset, recorded as (u, source parameters, drag) per sampled day."""
    qbo_config = qbo_config_for(config.scheme, config.upwelling_m_per_s)
    base = reference_source(config.scheme)
    start = round(config.spinup_years * DAYS_PER_YEAR / qbo_config.time_step_days)
    runs = []
    for index, (flux_scale, width_scale) in enumerate(tqdm(config.runs, desc="QBO runs", disable=not progress)):
        seed = config.run_seed(index)
        source = scaled_source(base, flux_scale, width_scale)
        run = run_qbo(qbo_config, source, years=config.spinup_years + config.years, seed=seed)
        steps = np.arange(start, run.sizes["time"], config.sample_every_days)
        flux, width = _parameters(source, _states(qbo_config, seed, steps, run["u"].values))
        runs.append(GWRun(
            index=index, seed=seed, time_days=run["time"].values[steps],
            u_m_per_s=run["u"].values[steps], drag_m_per_s_per_day=run["drag"].values[steps],
            source_flux_Pa=flux, spectral_width_m_per_s=width,
        ))  # fmt: skip
    return runs


def generate_gw_dataset(
    path: str | Path, config: GWDatasetConfig = GWDatasetConfig(), *, overwrite: bool = False, progress: bool = True
) -> Path:
    """Run the host per :class:`~subgrid.gravity_waves.column.dataset.GWDatasetConfig` and write the dataset (zarr, atomic)."""
    path = Path(path)
    check_replaceable(path, DATASET, overwrite=overwrite)
    qbo_config = qbo_config_for(config.scheme, config.upwelling_m_per_s)
    runs = simulate_gw_runs(config, progress=progress)
    attrs = provenance(config, qbo_config.to_dict(), source_settings(reference_source(config.scheme)))
    ds = gw_dataset(runs, qbo_config.height_m, qbo_config.density_kg_per_m3, attrs)
    return write_gw_dataset(ds, path, chunk_size=config.chunk_size, overwrite=overwrite)


# --------------------------------------------------------------------------------------------
# The blow-up guard


def blow_up_guard(drag: Parameterization) -> Guarded:
    """``drag`` stopped for good at the first blown-up step (:func:`blew_up`).

    From then on the drag is NaN, so the rest of the run is NaN at almost no cost instead of
    calling ``drag`` on nonsense. :func:`~subgrid.hosts.qbo.model.run_qbo` calls the drag once a
    step from step 0, so ``guard.counts.blow_up_call`` is the step it blew up at.
    """
    return Guarded(drag, fallback=None, out_of_distribution=None, blow_up=blew_up)


# --------------------------------------------------------------------------------------------
# Online comparison


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def qbo_statistics(run: xr.Dataset, *, spinup_years: float) -> dict:
    """Period by both methods (months) and σ(u) at 25 and 20 km (m/s) after spin-up; None if undefined."""
    return {
        "period_fourier_months": _number(qbo_period_months(run, spinup_years=spinup_years, method="fourier")),
        "period_transitions_months": _number(qbo_period_months(run, spinup_years=spinup_years, method="transitions")),
        "sigma25_m_per_s": _number(qbo_amplitude(run, spinup_years=spinup_years, height_m=25e3)),
        "sigma20_m_per_s": _number(qbo_amplitude(run, spinup_years=spinup_years, height_m=20e3)),
    }


def _relative_errors(emulator: dict, physics: dict) -> dict:
    """``emulator/physics − 1`` for each of :data:`STATISTICS` (None where either is undefined)."""
    return {
        key: (emulator[key] / physics[key] - 1.0) if emulator[key] is not None and physics[key] else None
        for key in STATISTICS
    }


def _meets(errors: dict, bounds: dict) -> bool:
    periods = [errors["period_fourier_months"], errors["period_transitions_months"]]
    sigma = errors["sigma25_m_per_s"]
    periods_ok = all(e is not None and abs(e) <= bounds["period"] for e in periods)
    return periods_ok and sigma is not None and abs(sigma) <= bounds["sigma25"]


@dataclass
class OnlineComparison:
    """Physics and emulator runs (``u``, ``drag`` on time × height) and their JSON-ready metrics."""

    physics: xr.Dataset
    emulator: xr.Dataset
    metrics: dict


def _guarded_run(
    config: QBOConfig, drag: Parameterization, years: float, seed: int, u0: np.ndarray | None
) -> tuple[xr.Dataset, dict]:
    guard = blow_up_guard(drag)
    started = time.perf_counter()
    run = run_qbo(config, guard, years, u0=u0, seed=seed)
    blowup_step = guard.counts.blow_up_call
    blowup_day = None if blowup_step is None else blowup_step * config.time_step_days
    return run, {"stable": blowup_step is None, "blowup_day": blowup_day, "wall_s": time.perf_counter() - started}


def compare_online(
    config: QBOConfig,
    physics: Parameterization,
    emulated: Parameterization,
    *,
    years: float,
    seed: int = 0,
    spinup_years: float = 12.0,
    u0: np.ndarray | None = None,
) -> OnlineComparison:
    """Run ``physics`` and ``emulated`` drag from the same initial state and seed for ``years``, each
    through :func:`blow_up_guard`.

    Metrics: per run, stability (blow-up day), period (Fourier and transitions), σ25 and σ20
    after ``spinup_years``; the emulator's relative errors ``emulator/physics − 1``; whether the
    acceptance (period 10 %, σ25 15 %, stable) and goal (5 %, 10 %) bounds are met, the period
    bounds applying to both methods. A blown-up run has no statistics (None).
    """
    runs, metrics = {}, {"years": years, "seed": seed, "spinup_years": spinup_years}
    for name, drag in (("physics", physics), ("emulator", emulated)):
        run, status = _guarded_run(config, drag, years, seed, u0)
        stats = qbo_statistics(run, spinup_years=spinup_years) if status["stable"] else dict.fromkeys(STATISTICS)
        runs[name], metrics[name] = run, {**status, **stats}
    stable = metrics["physics"]["stable"] and metrics["emulator"]["stable"]
    errors = _relative_errors(metrics["emulator"], metrics["physics"])
    metrics.update(
        stable=stable,
        relative_errors=errors,
        meets_acceptance=stable and _meets(errors, ACCEPTANCE),
        meets_goal=stable and _meets(errors, GOAL),
    )
    return OnlineComparison(runs["physics"], runs["emulator"], metrics)


def offline_r2(emulator: GWEmulator, source: QBOWaveSource, run: xr.Dataset) -> float:
    """Pooled R² of the emulator's drag on every day of a (physics) run, interior levels.

    The offline score on the online test's own states (for a generalisation test, on a source the
    emulator never saw)."""
    config = QBOConfig(**json.loads(run.attrs["qbo_settings"]))
    steps = np.arange(run.sizes["time"])
    flux, width = _parameters(source, _states(config, int(run.attrs["seed"]), steps, run["u"].values))
    predicted = predict_gw(emulator, run["u"].values, flux, width)
    return pooled_r2(run["drag"].values[:, 1:-1], predicted[:, 1:-1])  # the host zeroes the boundary levels


def plot_online_comparison(
    comparison: OnlineComparison, path: str | Path, *, title: str = "", hovmoller_years: float = 20.0
) -> Path:
    """Hovmöllers of ``u`` over the first ``hovmoller_years`` (physics above, emulator below) and u(25 km)
    of both over the whole run, as a PNG. Both runs start from the same state, so the first years
    show where the emulator's QBO parts from the physics'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(12, 10), constrained_layout=True)
    for ax, name in zip(axes[:2], ("physics", "emulator"), strict=True):
        run = getattr(comparison, name)
        plot_hovmoller(run.sel(time=slice(None, hovmoller_years * DAYS_PER_YEAR)), ax=ax)
        m = comparison.metrics[name]
        summary = f"blew up on day {m['blowup_day']:g}" if not m["stable"] else (
            f"period {m['period_fourier_months']:.1f} months, σ25 {m['sigma25_m_per_s']:.1f} m/s")
        ax.set_title(f"{name}: {summary}")
    for name, style in (("physics", "k-"), ("emulator", "r-")):
        run = getattr(comparison, name)
        axes[2].plot(run["time"].values / DAYS_PER_YEAR, run["u"].sel(height=25e3, method="nearest").values, style,
                     lw=0.7, label=name)
    axes[2].set_xlabel("time (years)")
    axes[2].set_ylabel("u at 25 km (m/s)")
    axes[2].legend(loc="upper right")
    fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def online_test(
    emulator_run: str | Path,
    *,
    years: float = 100.0,
    seed: int = 0,
    spinup_years: float = 12.0,
    source_flux_scale: float = 1.0,
    out: str | Path | None = None,
) -> OnlineComparison:
    """Online test of a trained run: its emulator vs the physics it learned, in the host it learned from.

    The physics is the training data's scheme and host settings with the source flux scaled by
    ``source_flux_scale`` (≠ 1: a generalisation test to a source the emulator never saw).
    Metrics add the emulator's offline R² on the physics run's own days. With ``out``, writes
    ``OUT/metrics.json`` and ``OUT/hovmoller.png``.
    """
    emulator, description = load_gw_emulator(emulator_run)
    config = QBOConfig(**description["qbo_settings"])
    source = scaled_source(source_from_settings(description["scheme"], description["source_settings"]), source_flux_scale)
    emulated = EmulatedDrag(emulator, source)
    comparison = compare_online(config, source, emulated, years=years, seed=seed, spinup_years=spinup_years)
    comparison.metrics.update(
        emulator_run=str(Path(emulator_run).resolve()),
        model=description["model"],
        scheme=description["scheme"],
        source_flux_scale=source_flux_scale,
        offline_r2=offline_r2(emulator, source, comparison.physics),
        validation_r2=description.get("val_r2"),
        subgrid_version=subgrid.__version__,
    )
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(comparison.metrics, indent=2))
        title = f"{description['model']} vs {description['scheme']} physics, source flux x{source_flux_scale:g}"
        plot_online_comparison(comparison, out / "hovmoller.png", title=title)
    return comparison


# --------------------------------------------------------------------------------------------
# Replay of online states


def replay_dataset(
    emulator_run: str | Path,
    path: str | Path,
    *,
    years: float = 20.0,
    seed: int = 1,
    overwrite: bool = False,
) -> Path:
    """Run the emulator online and write the states it visited, labelled with the physics drag.

    States after a blow-up or beyond the blow-up wind are left out; the ones before it, where the
    emulator drifted off the physics trajectories, are the point (DAgger-style experience replay).
    The dataset has the layout of :mod:`subgrid.gravity_waves.column.dataset` with ``origin = "online_replay"``.
    """
    emulator, description = load_gw_emulator(emulator_run)
    config = QBOConfig(**description["qbo_settings"])
    source = source_from_settings(description["scheme"], description["source_settings"])
    guard = blow_up_guard(EmulatedDrag(emulator, source))
    run = run_qbo(config, guard, years, seed=seed)
    u = run["u"].values
    visited = np.flatnonzero(np.isfinite(u).all(axis=1) & (np.abs(u).max(axis=1, initial=0.0) <= BLOWUP_WIND_M_PER_S))
    if visited.size < 2:
        raise InputError(f"{emulator_run}: the emulator blew up on its first day; nothing to replay")
    states = _states(config, seed, visited, u)
    drag = np.stack([source.tendencies(state)["drag"] for state in states])
    drag[:, [0, -1]] = 0.0  # as the host applies it
    flux, width = _parameters(source, states)
    record = GWRun(0, seed, run["time"].values[visited], u[visited], drag, flux, width)
    settings = GWDatasetConfig(scheme=description["scheme"], years=years, seed=seed, source_flux_scales=(1.0,))
    attrs = provenance(settings, config.to_dict(), description["source_settings"])
    attrs.update(
        title=f"States visited online by the emulator {Path(emulator_run).resolve()}, labelled by the physics",
        origin="online_replay",
        emulator_run=str(Path(emulator_run).resolve()),
        emulator_blowup_day=-1 if guard.counts.blow_up_call is None else guard.counts.blow_up_call,
    )
    ds = gw_dataset([record], config.height_m, config.density_kg_per_m3, attrs)
    return write_gw_dataset(ds, path, overwrite=overwrite)
