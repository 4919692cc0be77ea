"""Multi-column radiative-convective (RCE) host for radiation schemes and emulators.

Every column is an independent single-column model in the tradition of Manabe & Strickler (1964)
and Manabe & Wetherald (1967), vectorised over columns so that radiation dominates the cost, as
in a GCM. State: air temperature ``T`` on the radiation levels and the surface temperature
``T_s``; pressure, ozone, CO2, clouds (prescribed: held at the initial state), surface albedo
and emissivity are fixed. Levels are surface first (:mod:`subgrid.physics.schema`).

One step of length Δt, for every live column:

1. **Radiation** (every ``radiation_every_steps`` steps, on the state at the start of the step,
   the sun at the middle of the interval it covers): heating ``Q`` (K/day, LW + SW), net
   downward fluxes at the top ``F_top`` and at the surface ``F_rad`` (W m⁻²); held fixed until
   the next call. Any :class:`~subgrid.core.contract.Parameterization` of the radiation
   contract plugs in, and the host calls only its ``tendencies`` (``dict`` of row-major
   ``(column, level|interface)`` arrays in, surface first, ``dict`` out):
   :class:`~subgrid.physics.rrtmg.RRTMG`, an :class:`~subgrid.radiation.emulator.Emulator`, or
   either wrapped in a :class:`~subgrid.core.contract.Guarded`.
2. **Surface turbulent fluxes** (bulk formulae, explicit;
   :func:`~subgrid.physics.surface.bulk_surface_fluxes_W_per_m2`): ``SH = ρ₁ c_p C U (T_s − T₁)``,
   ``LH = ρ₁ L_v C U (q*(T_s, p_s) − q₁)``, ``ρ₁ = p₁ / (R_d T₁)``; ``C = 0`` switches them off.
3. **Heating**: ``T ← T + Δt Q``; the lowest layer gains ``SH + LH``
   (``ΔT₁ = Δt g (SH + LH) / (c_p Δp₁)``). Moisture is diagnostic (step 5), so the latent heat
   the surface gives up is released at once in the lowest layer, as if it condensed there, and
   the convective adjustment carries it up; no energy is created or lost. A slab surface
   (``surface="slab"``, mixed layer of ``h`` metres of water) takes
   ``ΔT_s = Δt (F_rad − SH − LH) / (ρ_w c_w h)``; ``surface="fixed"`` holds ``T_s``.
   **Large-scale heat transport** (``large_scale_relaxation_days`` τ > 0): a single column has
   no circulation to export the tropics' surplus or to warm the polar night, so pure RCE runs
   away there within months (measured: a 1-year run of 64 sampled columns lost 35 to
   temperatures outside [150, 350] K with RRTMG itself: tropical columns warmed past 325 K at
   the surface, polar-night ones cooled below 150 K). The host stands in for the circulation
   as GCM-coupling studies of single columns do (weak-temperature-gradient relaxation; the
   Q-flux of slab-ocean models): air and slab temperatures relax to the column's initial
   state, ``T ← T − Δt (T − T₀)/τ``, ``T_s ← T_s − Δt (T_s − T_s0)/τ`` (slab only). The heat
   this brings in, ``H = (c_p/g) Σ ΔT Δp / Δt + ρ_w c_w h ΔT_s / Δt``, is recorded; τ = 0 is
   pure RCE (:func:`large_scale_relaxation`).
4. **Convective adjustment** to the critical lapse rate Γ (6.5 K/km; Manabe & Strickler 1964;
   :func:`~subgrid.physics.convection.convective_adjustment`): unstable runs of layers are mixed
   to a neutral profile of lapse rate Γ with their own enthalpy, exactly in one sweep, conserving
   column enthalpy to round-off and leaving stable layers untouched.
5. **Fixed relative humidity**: below the initial state's cold point (the coldest level with
   ``p ≥ cold_point_min_pressure_Pa``, inclusive) each level keeps its initial relative humidity
   (saturation over water above 273.15 K, over ice below, as the column sampler); above it ``q``
   keeps its initial value (stratospheric water is set at the tropical cold point, not locally).
   Everywhere ``q ≤ q*`` and ``q ≤ max_specific_humidity_kg_per_kg``
   (:func:`~subgrid.hosts.rce.initial_state.fixed_relative_humidity`).
6. **Crash detection** per column: a non-finite radiation output, a non-finite state, or any air
   or surface temperature outside [150, 350] K marks the column crashed. It is frozen at its last
   good state (masked as NaN in the trajectory from then on) and the radiation inputs of its
   last ``precrash_states`` radiation calls are kept for experience replay; the other columns
   continue.

**Energy.** With ``E = (c_p/g) Σ T_k Δp_k (+ ρ_w c_w h T_s for a slab)``, a step changes ``E``
by ``Δt (F_top + H)`` (slab) or ``Δt (F_top + H − F_s)`` with ``F_s = F_rad − SH − LH`` into the
surface (fixed surface), to round-off whenever the scheme's heating equals its flux divergence
``(g/c_p) ΔF_net/Δp`` (RRTMG's does, to 1e-12). Constants are RRTMG's (sympl's ``g``, ``c_p``;
:data:`subgrid.physics.constants.RRTMG`).

**Insolation**: cosine of the solar zenith angle and Earth-Sun distance from each column's
``latitude``, ``day_of_year`` and ``local_solar_time`` (variables of
:func:`~subgrid.radiation.columns.sample_columns`), advanced with model time (diurnal and seasonal
cycles; Spencer 1971; :func:`~subgrid.physics.insolation.solar_geometry_after`).

**Checkpoints** (:mod:`subgrid.hosts.rce.state`) hold the full model state and the trajectory so
far; they are written atomically (temporary file + rename) at every ``checkpoint_interval_days``. A run killed, or
stopped at day ``d``, resumes from its checkpoint and gives the same trajectory, bit for bit, as
an uninterrupted run; a longer ``days`` extends a finished run.

References: Manabe, S. & Strickler, R. F. (1964), J. Atmos. Sci. 21, 361-385; Manabe, S. &
Wetherald, R. T. (1967), J. Atmos. Sci. 24, 241-259; Spencer, J. W. (1971), Search 2(5), 172.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from subgrid.core.contract import GuardCounts, Parameterization
from subgrid.core.errors import InputError
from subgrid.hosts.rce.config import CRASH_REASONS, EVOLVING_INPUTS, REQUIRED_OUTPUTS, RCEConfig
from subgrid.hosts.rce.initial_state import PreparedColumns, fixed_relative_humidity, prepare_columns
from subgrid.hosts.rce.state import (
    GUARD_COUNTS,
    PRECRASH,
    RECORDS,
    RunState,
    read_checkpoint,
    run_fingerprint,
    write_checkpoint,
)
from subgrid.physics.constants import RRTMG, SECONDS_PER_DAY
from subgrid.physics.convection import convective_adjustment
from subgrid.physics.insolation import solar_geometry_after
from subgrid.physics.rrtmg import to_surface_first
from subgrid.physics.schema import RADIATION_INPUTS, VERTICAL_ORDER
from subgrid.physics.surface import bulk_surface_fluxes_W_per_m2
from subgrid.physics.thermodynamics import column_enthalpy_J_per_m2


def large_scale_relaxation(
    temperature_K: np.ndarray,
    surface_temperature_K: np.ndarray,
    reference_temperature_K: np.ndarray,
    reference_surface_temperature_K: np.ndarray,
    pressure_interface_Pa: np.ndarray,
    dt_s: float,
    config: RCEConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One explicit step of the large-scale heat transport (relaxation to the reference state, time scale τ).

    Returns the relaxed air and surface temperatures (K) and the heat brought in, W m⁻² (column
    enthalpy plus, for a slab, its heat content). τ = 0 changes nothing and brings in nothing.
    """
    if config.large_scale_relaxation_days == 0.0:
        return temperature_K, surface_temperature_K, np.zeros(temperature_K.shape[0])
    rate = dt_s / (config.large_scale_relaxation_days * SECONDS_PER_DAY)
    relaxed = temperature_K - rate * (temperature_K - reference_temperature_K)
    heat = column_enthalpy_J_per_m2(relaxed - temperature_K, pressure_interface_Pa)
    if config.surface == "slab":
        relaxed_surface = surface_temperature_K - rate * (surface_temperature_K - reference_surface_temperature_K)
        heat = heat + config.slab_heat_capacity_J_per_m2_K * (relaxed_surface - surface_temperature_K)
        surface_temperature_K = relaxed_surface
    return relaxed, surface_temperature_K, heat / dt_s


@dataclass(frozen=True)
class _Model:
    columns: PreparedColumns
    config: RCEConfig
    radiation: Parameterization

    @property
    def dt_s(self) -> float:
        return self.config.time_step_s

    def radiation_inputs(self, state: RunState, live: np.ndarray) -> dict[str, np.ndarray]:
        """Inputs of the call at ``state.step``, for the ``live`` columns; the sun at the interval's middle."""
        c = self.columns
        middle_s = (state.step + 0.5 * self.config.radiation_every_steps) * self.dt_s
        cos_zenith, distance = solar_geometry_after(c.latitude_deg, c.day_of_year, c.local_solar_time_h, middle_s)
        evolving = {
            "air_temperature": state.temperature_K,
            "specific_humidity": state.specific_humidity,
            "surface_temperature": state.surface_temperature_K,
            "cos_solar_zenith_angle": cos_zenith,
            "earth_sun_distance_factor": distance,
        }
        return {name: np.ascontiguousarray(value[live]) for name, value in {**c.fixed, **evolving}.items()}

    def call_radiation(self, state: RunState, live: np.ndarray) -> None:
        """Radiation for the live columns: held heating and fluxes; columns with non-finite output crash."""
        inputs = self.radiation_inputs(state, live)
        slot = state.radiation_calls % self.config.precrash_states
        for name, ring in state.ring.items():
            ring[slot][live] = inputs[name]
        state.ring_step[slot] = np.where(live, state.step, state.ring_step[slot])
        state.radiation_calls += 1

        counts = getattr(self.radiation, "counts", None)
        before = [getattr(counts, name) for name in GUARD_COUNTS] if isinstance(counts, GuardCounts) else None
        wall, cpu = time.perf_counter(), time.process_time()
        outputs = self.radiation.tendencies(inputs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if before is not None:  # counted into the run's state, so that a resumed run reports its whole guard
            for name, start in zip(GUARD_COUNTS, before, strict=True):
                state.guard[name] += getattr(counts, name) - start
        state.timing["radiation_wall_s"] += wall
        state.timing["radiation_cpu_s"] += cpu
        if state.radiation_calls == 1:  # RRTMG builds its Fortran components on a process's first call
            state.timing["radiation_first_call_wall_s"] = wall
        state.timing["radiation_columns"] += float(live.sum())

        missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
        if missing:
            raise InputError(
                f"radiation: returned no {', '.join(missing)} (needs the contract of RRTMG.tendencies)"
            )
        out = {name: np.asarray(outputs[name], dtype=float) for name in REQUIRED_OUTPUTS}
        heating = out["lw_heating_rate"] + out["sw_heating_rate"]
        if heating.shape != (int(live.sum()), state.temperature_K.shape[1]):
            raise InputError(f"radiation: heating rates of shape {heating.shape} for {int(live.sum())} live columns")
        net = out["lw_flux_down"] + out["sw_flux_down"] - out["lw_flux_up"] - out["sw_flux_up"]
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(heating).all(axis=1) & np.isfinite(net).all(axis=1)
            finite &= np.isfinite(out["lw_flux_up"][:, -1])
        state.heating_K_per_day[live] = np.where(finite[:, None], heating, 0.0)
        state.toa_net_W_per_m2[live] = np.where(finite, net[:, -1], 0.0)
        state.surface_radiation_W_per_m2[live] = np.where(finite, net[:, 0], 0.0)
        state.olr_W_per_m2[live] = np.where(finite, out["lw_flux_up"][:, -1], 0.0)
        failed = np.zeros_like(live)
        failed[live] = ~finite
        self.crash(state, failed, CRASH_REASONS.index("radiation_not_finite"))

    def crash(self, state: RunState, failed: np.ndarray, reason: int) -> None:
        """Freeze ``failed`` columns in the step now running; keep the inputs of their last radiation calls."""
        for column in np.flatnonzero(failed):
            state.crashed[column] = True
            state.crash_step[column] = state.step + 1
            state.crash_reason[column] = reason
            steps = state.ring_step[:, column]
            for slot in np.argsort(steps):
                if steps[slot] < 0:
                    continue
                state.precrash["precrash_column"].append(column)
                state.precrash["precrash_time_days"].append(steps[slot] * self.dt_s / SECONDS_PER_DAY)
                for name in EVOLVING_INPUTS:
                    state.precrash[f"precrash_{name}"].append(state.ring[name][slot, column].copy())

    def step(self, state: RunState, totals: dict[str, np.ndarray]) -> None:
        if state.step % self.config.radiation_every_steps == 0 and not state.crashed.all():
            self.call_radiation(state, ~state.crashed)
        live = ~state.crashed
        if live.any():
            self._advance(state, live, totals)
        state.step += 1

    def _advance(self, state: RunState, live: np.ndarray, totals: dict[str, np.ndarray]) -> None:
        config, c, dt = self.config, self.columns, self.dt_s
        p, p_int = c.pressure_Pa[live], c.pressure_interface_Pa[live]
        temperature = state.temperature_K[live]
        surface = state.surface_temperature_K[live]
        with np.errstate(all="ignore"):  # a blown-up column is caught below, not warned about
            sensible, latent = bulk_surface_fluxes_W_per_m2(
                surface, temperature[:, 0], state.specific_humidity[live, 0], p[:, 0], p_int[:, 0],
                config.surface_exchange_coefficient, config.surface_wind_speed_m_per_s,
            )  # fmt: skip
            into_surface = state.surface_radiation_W_per_m2[live] - sensible - latent
            temperature = temperature + dt / SECONDS_PER_DAY * state.heating_K_per_day[live]
            temperature[:, 0] += (
                dt * RRTMG.gravity_m_per_s2 * (sensible + latent)
                / (RRTMG.cp_dry_air_J_per_kg_K * (p_int[:, 0] - p_int[:, 1]))
            )
            if config.surface == "slab":
                surface = surface + dt * into_surface / config.slab_heat_capacity_J_per_m2_K
            temperature, surface, transported = large_scale_relaxation(
                temperature, surface, c.temperature_K[live], c.surface_temperature_K[live], p_int, dt, config
            )
            temperature = convective_adjustment(temperature, p, p_int, config.critical_lapse_rate_K_per_km)
            humidity = fixed_relative_humidity(
                temperature, p, c.relative_humidity[live], c.specific_humidity[live], c.troposphere[live],
                config.max_specific_humidity_kg_per_kg,
            )  # fmt: skip
            finite = np.isfinite(temperature).all(axis=1) & np.isfinite(surface) & np.isfinite(humidity).all(axis=1)
            low, high = config.min_temperature_K, config.max_temperature_K
            in_range = ((temperature >= low) & (temperature <= high)).all(axis=1) & (surface >= low) & (surface <= high)
        for reason, bad in (("state_not_finite", ~finite), ("temperature_out_of_range", finite & ~in_range)):
            failed = np.zeros_like(live)
            failed[live] = bad
            self.crash(state, failed, CRASH_REASONS.index(reason))
        good = finite & in_range
        kept = np.flatnonzero(live)[good]
        state.temperature_K[kept] = temperature[good]
        state.surface_temperature_K[kept] = surface[good]
        state.specific_humidity[kept] = humidity[good]

        totals["count"][kept] += 1
        totals["air_temperature"][kept] += temperature[good]
        totals["surface_temperature"][kept] += surface[good]
        totals["toa_net_downward_flux"][kept] += state.toa_net_W_per_m2[kept]
        totals["outgoing_longwave_radiation"][kept] += state.olr_W_per_m2[kept]
        totals["surface_net_downward_flux"][kept] += into_surface[good]
        totals["large_scale_heat_flux"][kept] += transported[good]

    def energy_J_per_m2(self, temperature_K: np.ndarray, surface_temperature_K: np.ndarray) -> np.ndarray:
        """Column enthalpy plus the slab's heat content (relative to 0 K), J m⁻²."""
        atmosphere = column_enthalpy_J_per_m2(temperature_K, self.columns.pressure_interface_Pa)
        return atmosphere + self.config.slab_heat_capacity_J_per_m2_K * surface_temperature_K


# --------------------------------------------------------------------------------------------
# Running


def run_rce(
    initial_state: xr.Dataset,
    radiation: Parameterization,
    config: RCEConfig = RCEConfig(),
    *,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """Run the RCE host from ``initial_state`` with ``radiation`` for ``config.days``.

    Args:
        initial_state: columns with the :data:`~subgrid.physics.schema.RADIATION_INPUTS` and
            ``latitude``, ``day_of_year``, ``local_solar_time`` (as
            :func:`~subgrid.radiation.columns.sample_columns` gives), surface or top first.
        radiation: the radiation scheme (module docstring); the host calls only ``radiation.tendencies``.
        config: host settings.
        checkpoint: a file; if it exists (from a run with the same initial state and settings) the
            run resumes from it, and it is rewritten every ``checkpoint_interval_days``.
        progress: show a progress bar over output intervals.

    Returns:
        The trajectory, surface first, ``time`` = end of each output interval (days):
        interval means of ``air_temperature`` (column, time, level), ``surface_temperature``,
        ``toa_net_downward_flux``, ``outgoing_longwave_radiation``, ``surface_net_downward_flux``
        (radiative minus turbulent, into the surface), ``large_scale_heat_flux`` (into column and
        slab by the large-scale relaxation) and end-of-interval ``column_energy``
        (enthalpy + slab heat content), all NaN once a column has crashed; per column
        ``crashed``, ``crash_time_days`` (end of the step that failed; NaN if none),
        ``crash_reason``; ``initial_column_energy``; ``final_air_temperature`` /
        ``final_surface_temperature`` (the last good state); the radiation inputs before each
        crash as ``precrash_*`` on dim ``precrash`` (:func:`precrash_states` turns them into
        columns); timings (wall and CPU seconds, in radiation and in total) in attrs, and
        ``guard_counts`` (:func:`run_guard_counts`).
    """
    if not isinstance(radiation, Parameterization):
        raise InputError(f"radiation: must be a Parameterization (inputs, outputs, tendencies), got {radiation!r}")
    columns = prepare_columns(initial_state, config)
    model = _Model(columns, config, radiation)
    fingerprint = run_fingerprint(columns, config)
    path = None if checkpoint is None else Path(checkpoint)
    resuming = path is not None and path.exists()
    state = read_checkpoint(path, fingerprint) if resuming else RunState.initial(columns, config)
    done = len(state.records["air_temperature"])
    if done > config.n_outputs:
        raise InputError(
            f"checkpoint {path}: already holds {done} output intervals, more than days={config.days:g} gives"
        )

    n_columns, n_levels = columns.temperature_K.shape
    wall, cpu = time.perf_counter(), time.process_time()
    with tqdm(total=config.n_outputs, initial=done, desc="RCE", unit="interval", disable=not progress) as bar:
        for index in range(done, config.n_outputs):
            totals = {name: np.zeros((n_columns, n_levels) if name == "air_temperature" else n_columns)
                      for name in ("count", *RECORDS[:-1])}  # fmt: skip
            for _ in range(config.steps_per_output):
                model.step(state, totals)
            count = totals.pop("count")
            with np.errstate(invalid="ignore", divide="ignore"):
                for name, total in totals.items():
                    mean = total / (count[:, None] if total.ndim == 2 else count)
                    state.records[name].append(np.where((count > 0).reshape(-1, *[1] * (total.ndim - 1)), mean, np.nan))
            energy = model.energy_J_per_m2(state.temperature_K, state.surface_temperature_K)
            state.records["column_energy"].append(np.where(state.crashed, np.nan, energy))
            bar.update(1)
            last = index + 1 == config.n_outputs
            if path is not None and ((index + 1) % config.outputs_per_checkpoint == 0 or last):
                state.timing["total_wall_s"] += time.perf_counter() - wall
                state.timing["total_cpu_s"] += time.process_time() - cpu
                wall, cpu = time.perf_counter(), time.process_time()
                write_checkpoint(path, state, fingerprint)
    state.timing["total_wall_s"] += time.perf_counter() - wall
    state.timing["total_cpu_s"] += time.process_time() - cpu
    return _trajectory(model, state)


#: Units and long names of the trajectory's per-interval records (dims column, time[, level]).
_RECORD_ATTRS = {
    "air_temperature": ("K", "air temperature, interval mean"),
    "surface_temperature": ("K", "surface temperature, interval mean"),
    "toa_net_downward_flux": ("W m-2", "net downward radiative flux at the top, interval mean"),
    "outgoing_longwave_radiation": ("W m-2", "upward LW flux at the top, interval mean"),
    "surface_net_downward_flux": ("W m-2", "net energy flux into the surface (radiative - sensible - latent), "
                                  "interval mean"),
    "large_scale_heat_flux": ("W m-2", "heat brought into the column and slab by the large-scale relaxation, "
                              "interval mean"),
    "column_energy": ("J m-2", "column enthalpy (c_p/g) sum T dp plus slab heat content, end of interval"),
}  # fmt: skip


def _timing(state: RunState) -> dict:
    timing = dict(state.timing)
    total = timing["total_wall_s"]
    timing.update(
        host_wall_s=total - timing["radiation_wall_s"],
        host_cpu_s=timing["total_cpu_s"] - timing["radiation_cpu_s"],
        radiation_wall_fraction=timing["radiation_wall_s"] / total if total else None,
        radiation_calls=state.radiation_calls,
        radiation_wall_s_after_first_call=timing["radiation_wall_s"] - timing["radiation_first_call_wall_s"],
    )
    return timing


def _precrash_variables(state: RunState, n_levels: int) -> dict:
    variables = {}
    for name in PRECRASH:
        base = name.removeprefix("precrash_")
        if base == "column":
            dims, attrs, dtype = ("precrash",), {"long_name": "column the state belongs to"}, int
        elif base == "time_days":
            attrs = {"units": "days", "long_name": "model time of the radiation call"}
            dims, dtype = ("precrash",), float
        else:
            dims, attrs, dtype = ("precrash", *RADIATION_INPUTS[base].dims[1:]), RADIATION_INPUTS[base].attrs(), float
        values = np.asarray(state.precrash[name], dtype=dtype)
        if values.size == 0:
            values = np.zeros((0, n_levels)[: len(dims)], dtype=dtype)
        variables[name] = (dims, values, attrs)
    return variables


def _trajectory(model: _Model, state: RunState) -> xr.Dataset:
    config, c = model.config, model.columns
    n_outputs = len(state.records["air_temperature"])
    n_levels = c.temperature_K.shape[1]
    crash_time = np.where(state.crashed, state.crash_step * config.time_step_s / SECONDS_PER_DAY, np.nan)
    variables = {
        name: (("column", "time", "level")[: np.ndim(state.records[name][0]) + 1],
               np.stack(state.records[name], axis=1), {"units": units, "long_name": long_name})
        for name, (units, long_name) in _RECORD_ATTRS.items()
    }  # fmt: skip
    final = "at the end (the last good state if crashed)"
    variables.update(
        initial_column_energy=("column", model.energy_J_per_m2(c.temperature_K, c.surface_temperature_K),
                               {"units": "J m-2", "long_name": "column_energy of the initial state"}),
        final_air_temperature=(("column", "level"), state.temperature_K.copy(),
                               {"units": "K", "long_name": f"air temperature {final}"}),
        final_surface_temperature=("column", state.surface_temperature_K.copy(),
                                   {"units": "K", "long_name": f"surface temperature {final}"}),
        air_pressure=(("column", "level"), c.pressure_Pa, RADIATION_INPUTS["air_pressure"].attrs()),
        air_pressure_on_interface=(("column", "interface"), c.pressure_interface_Pa,
                                   RADIATION_INPUTS["air_pressure_on_interface"].attrs()),
        latitude=("column", c.latitude_deg, {"units": "degrees_north", "long_name": "latitude"}),
        crashed=("column", state.crashed.copy(), {"long_name": "the column crashed"}),
        crash_time_days=("column", crash_time,
                         {"units": "days", "long_name": "end of the step in which the column failed (NaN: none)"}),
        crash_reason=("column", state.crash_reason.copy(),
                      {"flag_values": np.arange(len(CRASH_REASONS), dtype=np.int8),
                       "flag_meanings": " ".join(CRASH_REASONS)}),
        **_precrash_variables(state, n_levels),
    )  # fmt: skip
    time_days = config.output_interval_days * np.arange(1, n_outputs + 1)
    return xr.Dataset(
        variables,
        coords={"time": ("time", time_days, {"units": "days", "long_name": "end of the output interval"}), **c.coords},
        attrs={
            "model": "multi-column radiative-convective host (subgrid.hosts.rce.model)",
            "vertical_order": VERTICAL_ORDER,
            "rce_settings": json.dumps(config.to_dict()),
            "radiation": repr(model.radiation),
            "model_days": state.step * config.time_step_s / SECONDS_PER_DAY,
            "timing": json.dumps(_timing(state)),
            "guard_counts": json.dumps(state.guard),
        },
    )


def run_timing(run: xr.Dataset) -> dict:
    """Wall and CPU seconds of a run: radiation, host (the rest), total, radiation's share, calls.

    ``radiation_wall_s_after_first_call`` leaves out one-off set-up inside the scheme (RRTMG
    builds its components on a process's first call): compare schemes on it.
    """
    return json.loads(run.attrs["timing"])


def run_guard_counts(run: xr.Dataset) -> dict:
    """Columns a guarded radiation sent to its fallback over the whole run, resumed parts included, by cause
    (:data:`~subgrid.hosts.rce.state.GUARD_COUNTS`; zeros for an unguarded scheme)."""
    return json.loads(run.attrs["guard_counts"])


def precrash_states(run: xr.Dataset, initial_state: xr.Dataset) -> xr.Dataset:
    """The radiation inputs of the calls before each crash of ``run``, as a column dataset.

    The fixed inputs come from ``initial_state`` (the one the run started from); one column per
    harvested state, with ``source_column`` and ``time_days`` (of the radiation call) added.
    """
    ordered, _ = to_surface_first(initial_state)
    source = run["precrash_column"].values.astype(int)
    states = {}
    for name, var in RADIATION_INPUTS.items():
        if f"precrash_{name}" in run:
            values = run[f"precrash_{name}"].values
        elif name in ordered:
            values = ordered[name].values[source]
        else:
            continue
        states[name] = (var.dims, np.asarray(values, dtype=float), var.attrs())
    states["source_column"] = (("column",), source, {"long_name": "column of the run the state comes from"})
    states["time_days"] = (("column",), run["precrash_time_days"].values, {"units": "days"})
    return xr.Dataset(states, attrs={"vertical_order": VERTICAL_ORDER})
