"""The layout of ``subgrid demo``'s report (:mod:`subgrid.demo.run`), from its manifest ``demo.json``.

Which numbers and figures of the run the report shows, in which sections; the rendering (every number
traced to its JSON file, figures embedded, commands under each) is :mod:`subgrid.evaluation.report`.
"""

from __future__ import annotations

import json
from pathlib import Path

from subgrid.core.errors import InputError
from subgrid.evaluation.report import Figure, Number, Report, Row, Section, Step, Table, write_report

#: The manifest a demo run writes beside its results (:mod:`subgrid.demo.run`).
MANIFEST = "demo.json"
REPORT = "report.html"


def _speed_table(speed: dict | None) -> Table:
    """One row per batch size measured (read from speed.json, so the rows follow what was run)."""
    batches = sorted(speed["batches"], key=int) if speed and isinstance(speed.get("batches"), dict) else ["1", "1024"]
    rows = []
    for batch in batches:
        b = f"batches.{batch}"
        rows.append(("", (
            Number("speed/speed.json", f"{b}.batch", "d"),
            Number("speed/speed.json", f"{b}.rrtmg_ms_per_call", ".4g"),
            Number("speed/speed.json", f"{b}.torchscript_ms_per_call", ".4g"),
            Number("speed/speed.json", f"{b}.onnx_ms_per_call", ".4g"),
            Number("speed/speed.json", f"{b}.speedup_torchscript", ".3g"),
            Number("speed/speed.json", f"{b}.speedup_onnx", ".3g"),
        )))  # fmt: skip
    return Table(
        ("columns per call", "RRTMG ms/call", "TorchScript ms/call", "ONNX ms/call", "speed-up TorchScript",
         "speed-up ONNX"),
        tuple(rows),
        caption="One thread each; speed-up = RRTMG time / emulator time on the same columns.",
        labelled=False,
    )  # fmt: skip


def _replay_table(replay: dict | None) -> Table:
    """One row per replay round that ran (read from replay.json)."""
    count = len(replay["rounds"]) if replay and isinstance(replay.get("rounds"), list) else 1
    source = "replay/replay.json"
    rows = tuple(
        ("round", (
            Number(source, f"rounds.{i}.round", "d"),
            Number(source, f"rounds.{i}.emulator_survived", "d"),
            Number(source, f"rounds.{i}.cases", "d"),
            Number(source, f"rounds.{i}.temperature_rmse_last_K.mean", ".3f"),
            Number(source, f"rounds.{i}.surface_temperature_abs_difference_last_K.mean", ".3f"),
            Number(source, f"rounds.{i}.harvested.precrash", "d"),
        ))
        for i in range(count)
    )  # fmt: skip
    columns = ("round", "emulator runs surviving", "cases", "T RMSE at the end (K)", "|ΔTs| at the end (K)",
               "states relabelled")
    return Table(columns, rows, caption="Means over the cases both runs survived, at the last output interval; "
                 "states relabelled: the radiation inputs before each crash, labelled by RRTMG for the next round.",
                 labelled=False)


_FORECASTS = "gcm/forecasts/summary.json"


def _forecast_table(summary: dict | None) -> Table:
    """Per lead day: RMSE against the physics forecast of the emulator and of the perturbed physics."""
    leads = len(summary["lead_days"]) if summary and isinstance(summary.get("lead_days"), list) else 1
    rows = tuple(
        ("", (Number(_FORECASTS, f"lead_days.{i}", "g"),
              *(Number(_FORECASTS, f"skill.{kind}_{name}_rmse.{i}", ".3g")
                for name in ("T850", "Z500", "u250", "precipitation") for kind in ("emulator", "perturbed"))))
        for i in range(leads)
    )  # fmt: skip
    columns = ("lead (days)", "T850 emulator (K)", "T850 perturbed (K)", "Z500 emulator (m)", "Z500 perturbed (m)",
               "u250 emulator (m/s)", "u250 perturbed (m/s)", "precip. emulator (mm/day)", "precip. perturbed (mm/day)")
    return Table(columns, rows, caption="Area-weighted RMSE against the RRTMG forecast, mean over the starts; "
                 "'perturbed' is RRTMG from the start state with temperature noise: the error growth the "
                 "forecast has anyway.", labelled=False)  # fmt: skip


def demo_report(directory: str | Path) -> Report:
    """The layout of the demo's report, from the manifest ``demo.json`` in ``directory``."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"{directory}: no {MANIFEST} (run `subgrid demo --out {directory}` first)")
    manifest = json.loads(manifest_path.read_text())
    timed = tuple(Step(s["name"], s["title"], s["command"]) for s in manifest["steps"])
    steps = (*timed, Step("report", "Write this report", manifest["report_command"]))

    def optional(name: str) -> dict | None:
        path = directory / name
        return json.loads(path.read_text()) if path.is_file() else None

    metrics, run = "evaluation/metrics.json", "runs/rescnn/model.json"
    replay_run = "runs/rescnn_small/model.json"
    online, fortran = "online/online.json", "fortran/fortran.json"
    speed, qbo, replay = "speed/speed.json", "qbo_online/metrics.json", "replay/replay.json"
    offline_steps = ("generate_train", "generate_test", "train", "evaluate")
    headline = Section(
        "Headline numbers",
        "Each value is read from the result files this run wrote; the sections below show where it comes from.",
        rows=(
            Row("Flux MAE on held-out RRTMG columns", (Number(metrics, "overall.flux_mae_percent", ".2f", "%"),
                " (McICA noise floor of the reference ",
                Number(metrics, "reference_noise_floor.flux_mae_percent", ".2f", "%"), ")")),
            Row("LW heating-rate RMSE", (Number(metrics, "overall.lw_heating_rmse_K_day", ".3f", "K/day"),)),
            Row("SW heating-rate RMSE (daytime columns)",
                (Number(metrics, "overall.sw_heating_rmse_K_day", ".3f", "K/day"),)),
            Row("Fortran host vs Python, largest difference",
                (Number(fortran, "max_abs_flux_difference_W_m2", ".2g", "W m⁻²"), ", ",
                 Number(fortran, "max_abs_heating_difference_K_day", ".2g", "K/day"))),
            Row("Online survival with the emulator and its guard (RCE host)",
                (Number(online, "emulator_survived", "d"), " of ", Number(online, "cases", "d"), " cases over ",
                 Number(online, "days", "g"), " days (RRTMG: ", Number(online, "physics_survived", "d"),
                 "; columns the guard sent to RRTMG: ", Number(online, "emulator_fallback_columns", "d"), ")")),
            Row("Experience replay of a tiny ResCNN alone (no guard): cases surviving before → after",
                (Number(replay, "before.survivors"), " → ", Number(replay, "after.survivors"), " after round ",
                 Number(replay, "after.round", "d"))),
            Row("Online drift at the end, emulator vs RRTMG",
                (Number(online, "temperature_rmse_last_K.mean", ".3f", "K"), " temperature RMSE, ",
                 Number(online, "surface_temperature_abs_difference_last_K.mean", ".3f", "K"), " |ΔTs|")),
            Row("Speed-up over RRTMG, one column per call",
                (Number(speed, "headline.speedup_one_column", ".3g", "×"),)),
            Row("Speed-up over RRTMG, large batch",
                (Number(speed, "headline.speedup_large_batch", ".3g", "×"), " at ",
                 Number(speed, "headline.large_batch", "d"), " columns per call")),
            Row("QBO period, physics vs emulator", (Number(qbo, "physics.period_fourier_months", ".1f", "months"),
                " vs ", Number(qbo, "emulator.period_fourier_months", ".1f", "months"))),
            Row("QBO amplitude σ(u) at 25 km, physics vs emulator",
                (Number(qbo, "physics.sigma25_m_per_s", ".1f", "m/s"), " vs ",
                 Number(qbo, "emulator.sigma25_m_per_s", ".1f", "m/s"))),
            Row("Forecasts in the global model (GCM) with the emulator completed",
                (Number(_FORECASTS, "emulator_completed", "d"), " of ", Number(_FORECASTS, "scored_starts", "d"),
                 " (", Number(_FORECASTS, "days", "g"), " days each); radiation ",
                 Number(_FORECASTS, "speed.radiation_speedup", ".3g", "×"), " and the whole model ",
                 Number(_FORECASTS, "speed.model_speedup", ".3g", "×"), " faster than with RRTMG")),
        ),
    )  # fmt: skip
    offline = Section(
        "Radiation emulator offline: a small ResCNN against RRTMG",
        "RRTMG LW+SW (climt, McICA) on sampled realistic columns makes a training set and a held-out set with "
        "another seed; a small ResCNN is trained on the first and scored on the second.",
        rows=(
            Row("Training / held-out columns", (Number(run, "training_data.columns", "d"), " / ",
                Number(metrics, "columns", "d"), ", ", Number(metrics, "levels", "d"), " levels")),
            Row("Emulator", (Number(run, "model"), ", ", Number(run, "parameters", ",d"), " parameters, ",
                Number(run, "trained_epochs", "d"), " epochs")),
            Row("Flux MAE (LW / SW)", (Number(metrics, "overall.lw_flux_mae_percent", ".2f", "%"), " / ",
                Number(metrics, "overall.sw_flux_mae_percent", ".2f", "%"))),
        ),
        figures=(
            Figure("evaluation/heating_profiles.png", "Per-level heating-rate RMSE and bias, LW and SW.", offline_steps),
            Figure("evaluation/flux_scatter.png", "TOA and surface fluxes, emulator vs RRTMG.", offline_steps),
            Figure("evaluation/regime_errors.png", "Headline errors by regime.", offline_steps),
        ),
    )  # fmt: skip
    coupling = Section(
        "Export and the Fortran host",
        "The trained emulator is exported as TorchScript and ONNX (physical inputs in, physical outputs out, "
        "normalisation inside). The Fortran example host calls the TorchScript artifact through the "
        "subgrid_emulator module and LibTorch on held-out columns; Python runs the same artifact on the same "
        "single-precision inputs.",
        rows=(
            Row("Columns through the Fortran host", (Number(fortran, "columns", "d"), " of ",
                Number(fortran, "levels", "d"), " levels, ", Number(fortran, "threads", "d"), " thread")),
            Row("Largest |Fortran − Python|", (Number(fortran, "max_abs_flux_difference_W_m2", ".2g", "W m⁻²"),
                " (fluxes), ", Number(fortran, "max_abs_heating_difference_K_day", ".2g", "K/day"), " (heating)")),
            Row("Host command", (Number(fortran, "host_command"),)),
        ),
        steps=("export_torchscript", "export_onnx", "fortran"),
    )  # fmt: skip
    online_section = Section(
        "Online in a radiative-convective host, side by side with RRTMG",
        "Each case is a single column stepped forward with the emulator and, from the same state, with RRTMG; "
        "some cases start from extreme states at the edge of the training range. Columns outside the training "
        "range go to RRTMG (the out-of-distribution guard) and are counted.",
        rows=(
            Row("Cases surviving", (Number(online, "survivors"), " with the emulator, ",
                Number(online, "physics_survived", "d"), " with RRTMG")),
            Row("Columns sent to RRTMG by the guard", (Number(online, "emulator_fallback_columns", "d"),)),
            Row("Radiation wall time, emulator / RRTMG",
                (Number(online, "radiation_wall_s_after_first_call.emulator", ".3g", "s"), " / ",
                 Number(online, "radiation_wall_s_after_first_call.physics", ".3g", "s"))),
        ),
        figures=(Figure("online/drift.png", "Drift of the emulator runs from the RRTMG runs, and surface temperature.",
                        (*offline_steps[:3], "export_torchscript", "online")),),
    )  # fmt: skip
    replay_section = Section(
        "Experience replay: a tiny emulator that crashes, fixed by its own failures",
        "The emulator above rarely crashes in the host, so replay is shown on a deliberately weak one, without the "
        "guard: every column goes through the emulator. If a case crashes with the emulator but not with RRTMG, "
        "the states before the crash are relabelled with RRTMG, the emulator is fine-tuned on them (with its "
        "training data) and tested again, round after round.",
        rows=(Row("Emulator", (Number(replay_run, "model"), ", ", Number(replay_run, "parameters", ",d"),
                               " parameters, ", Number(replay_run, "trained_epochs", "d"), " epochs on ",
                               Number(replay_run, "training_data.columns", "d"), " columns")),
              Row("Outcome", (Number(replay, "stop_reason"),))),
        tables=(_replay_table(optional(replay)),),
        steps=("generate_replay", "train_replay", "replay"),
    )
    speed_section = Section(
        "Speed: emulator vs RRTMG on the same columns",
        "Radiation calls through each scheme's host contract (RRTMG: radiative_transfer_arrays; emulator: "
        "Emulator.tendencies without input validation or guard, as in a trusted hot loop), best of repeated timings.",
        tables=(_speed_table(optional(speed)),),
        figures=(Figure("speed/speed.png", "Columns per second, one thread each (log scale).",
                        (*offline_steps[:3], "export_torchscript", "export_onnx", "speed")),),
    )  # fmt: skip
    qbo_steps = ("generate_gw", "train_gw", "online_gw")
    qbo_section = Section(
        "Gravity waves: an emulated drag scheme driving the QBO",
        "The one-dimensional QBO model runs with a physics gravity-wave drag scheme; its (wind profile, source) → "
        "drag pairs train an emulator, which then drives the model online from the same state as the physics.",
        tables=(
            Table(("", "physics", "emulator"), (
                ("QBO period, Fourier (months)", (Number(qbo, "physics.period_fourier_months", ".2f"),
                                                   Number(qbo, "emulator.period_fourier_months", ".2f"))),
                ("QBO period, transitions (months)", (Number(qbo, "physics.period_transitions_months", ".2f"),
                                                       Number(qbo, "emulator.period_transitions_months", ".2f"))),
                ("σ(u) at 25 km (m/s)", (Number(qbo, "physics.sigma25_m_per_s", ".2f"),
                                         Number(qbo, "emulator.sigma25_m_per_s", ".2f"))),
                ("σ(u) at 20 km (m/s)", (Number(qbo, "physics.sigma20_m_per_s", ".2f"),
                                         Number(qbo, "emulator.sigma20_m_per_s", ".2f"))),
                ("stable", (Number(qbo, "physics.stable"), Number(qbo, "emulator.stable"))),
            )),
        ),
        rows=(
            Row("Model years (spin-up left out)", (Number(qbo, "years", "g"), " (", Number(qbo, "spinup_years", "g"),
                ")")),
            Row("Offline R² of the emulator's drag", (Number(qbo, "offline_r2", ".3f"),)),
        ),
        figures=(Figure("qbo_online/hovmoller.png", "Zonal wind Hovmöller, physics above, emulator below.", qbo_steps),),
    )  # fmt: skip
    gridded_steps = ("generate_gw_gridded", "train_gw_unet", "train_gw_prithvi", "compare_gw")
    comparison = "gw_gridded_comparison/comparison.json"
    gridded_section = Section(
        "Gravity waves on a grid: Attention U-Net and PrithviGW",
        "A tiny dry simulation (dinosaur-torch Held-Suarez at the coarsest resolution, with mountains and a pulsed "
        "tropical heating; no spin-up to equilibrium) gives momentum fluxes u'ω'/(−g), v'ω'/(−g) of the small scales "
        "on a coarse grid; "
        "both networks learn them from the coarse state and are scored on the held-out end of the record. At this "
        "size the numbers show the pipeline, not skill: benchmarks/bench_gw_ablation.py runs the study (stationary "
        "data, label fractions, pre-training, seeds).",
        tables=(Table(("", "Hellinger (mean of the two fluxes)", "R² (mean)", "RMSE u'ω' (Pa)", "parameters"), tuple(
            (label, (Number(comparison, f"rows.{i}.hellinger_mean", ".3f"), Number(comparison, f"rows.{i}.r2_mean", ".3f"),
                     Number(comparison, f"rows.{i}.rmse.uw_flux", ".2e"), Number(comparison, f"rows.{i}.parameters", ",d")))
            for i, label in enumerate(("Attention U-Net", "PrithviGW")))),),
        figures=(
            Figure("gw_gridded_comparison/time_mean_maps.png", "Time-mean flux maps: truth and each network.", gridded_steps),
            Figure("gw_gridded_comparison/zonal_means.png", "Time and zonal means: truth and each network.", gridded_steps),
        ),
    )  # fmt: skip
    gcm_steps = ("gcm_control", "gcm_forecasts")
    gcm_section = Section(
        "Forecasts in the global moist GCM: emulated radiation against RRTMG",
        "The moist aquaplanet GCM (dinosaur-torch spectral dynamics, climt column physics, condensate clouds) starts "
        "from a shipped spun-up state; a short RRTMG control run supplies the start states. From each, the model "
        "runs with RRTMG, with a ResCNN emulator trained on the GCM's own columns (shipped; guarded: columns "
        "outside its training range go to RRTMG), and with RRTMG from a start with temperature noise added.",
        rows=(
            Row("Forecasts", (Number(_FORECASTS, "scored_starts", "d"), " starts of ", Number(_FORECASTS, "days", "g"),
                " days; emulator completed ", Number(_FORECASTS, "emulator_completed", "d"), ", perturbed physics ",
                Number(_FORECASTS, "perturbed_completed", "d"))),
            Row("Temperature noise of the perturbed start", (Number(_FORECASTS, "perturbation_K", "g", "K"),)),
            Row("Wall seconds per model day, RRTMG / emulator (one process each)",
                (Number(_FORECASTS, "speed.physics.wall_s_per_day", ".3g"), " / ",
                 Number(_FORECASTS, "speed.emulator.wall_s_per_day", ".3g"), "; radiation alone ",
                 Number(_FORECASTS, "speed.physics.radiation_s_per_day", ".3g"), " / ",
                 Number(_FORECASTS, "speed.emulator.radiation_s_per_day", ".3g"))),
            Row("Global-mean T850 drift of the emulator forecasts (mean over the lead times)",
                (Number(_FORECASTS, "T850_mean_drift_K.mean", ".3f", "K"),)),
            Row("Columns the guard sent to RRTMG", (Number(_FORECASTS, "guard_fallback_fraction", ".2%"),)),
        ),
        tables=(_forecast_table(optional(_FORECASTS)),),
        figures=(
            Figure("gcm/forecasts/figures/rmse_vs_lead.png", "Error growth: emulator vs perturbed physics.", gcm_steps),
            Figure("gcm/forecasts/figures/differences.png", "Emulator minus RRTMG forecast, mean over starts.", gcm_steps),
            Figure("gcm/forecasts/figures/drift.png", "Global-mean T850 minus the RRTMG forecast.", gcm_steps),
        ),
    )  # fmt: skip
    timing = Table(
        ("", "wall time (s)"),
        tuple((step.title, (Number(MANIFEST, f"steps.{i}.wall_s", ".1f"),)) for i, step in enumerate(timed)),
    )
    steps_section = Section(
        "Every step of this run", "In the order they ran; each is one command, the report last.", tables=(timing,),
        steps=tuple(step.name for step in steps),
    )  # fmt: skip
    header = (
        Row("Run", (Number(MANIFEST, "started_utc"), " to ", Number(MANIFEST, "finished_utc"), ", ",
                    Number(MANIFEST, "wall_s", ".0f", "s"), " on ", Number(MANIFEST, "cpu_count", "d"), " cores")),
        Row("subgrid", (Number(MANIFEST, "subgrid_version"), ", status ", Number(MANIFEST, "status"))),
    )  # fmt: skip
    return Report(
        "subgrid demo: machine-learned parameterizations end to end",
        (headline, offline, coupling, online_section, replay_section, speed_section, qbo_section, gridded_section,
         gcm_section, steps_section),
        steps,
        header=header,
        footer="Written by subgrid.demo.report from the files of this run; no number is typed in.",
    )


def write_demo_report(directory: str | Path) -> Path:
    """Write ``DIRECTORY/report.html`` for the demo run in ``directory``; return its path."""
    directory = Path(directory)
    return write_report(directory / REPORT, demo_report(directory))
