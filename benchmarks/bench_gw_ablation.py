"""The gravity-wave foundation-model study: climatology, Attention U-Net and PrithviGW (random init; pre-trained
frozen, frozen between convolutional encoder/decoder, fine-tuned, LoRA) at several label fractions and seeds.

Everything is :func:`subgrid.gravity_waves.gridded.study.run_gw_study` (see its module docstring for the
data: a stationary spin-up, labelled and unlabelled branches, a gap before the test period, the
terrain-following lowest layers excluded). One JSON line per run (``model``, ``seed``,
``label_fraction``, global and region metrics) is appended to ``--out`` as it finishes; run the same
command again and finished runs are skipped. Parts of the study can run side by side (one process per
core, e.g. ``--models`` split in two after the data and the pre-training exist); ``--summary`` then
writes the mean ± std tables and prints a summary line with the ratios measured in the same study
(pre-trained fine-tune vs random init, best PrithviGW vs U-Net). ``--flux-target ad99`` learns the AD99
scheme's fluxes on the same states instead of the resolved waves' (the simulation is shared).

    OMP_NUM_THREADS=2 python benchmarks/bench_gw_ablation.py --workdir /tmp/gw_study \\
        --out benchmarks/results/gw_ablation_study_cpu.jsonl --summary benchmarks/results/gw_ablation_study_cpu.md

Default sizes (T31 simulation, fluxes on 16 x 32, a 1.25-minute cap per run, 3 seeds x 3 fractions x 6 trained
models): under 2 hours on 2 cores including the ~25-minute spin-up.
"""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import fields, replace
from pathlib import Path

import torch
from _report import emit

from subgrid.core.stores import write_text_atomic
from subgrid.gravity_waves.gridded.study import (
    CLIMATOLOGY,
    FINE_TUNED,
    FLUX_TARGETS,
    MODELS,
    RANDOM,
    UNET,
    GWStudyConfig,
    aggregate,
    run_gw_study,
    summarise_gw_study,
)

#: Settings the command line may change (the rest: GWStudyConfig's defaults).
SCALARS = ("train_days", "test_days", "gap_days", "unlabelled_days", "spinup_min_days", "spinup_max_days", "epochs",
           "patience", "max_minutes", "pretrain_epochs", "pretrain_max_minutes", "unet_width", "batch_size", "max_steps",
           "pretrain_max_steps", "convective_cells", "convective_peak_K_per_day", "convective_lifetime_hours",
           "convective_tilt_hours", "pulsed_heating_K_per_day")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gw_ablation_study_cpu.jsonl"))
    parser.add_argument("--models", nargs="*", default=list(MODELS), help=f"Any of {list(MODELS)}.")
    parser.add_argument("--seeds", nargs="*", type=int, default=None)
    parser.add_argument("--fractions", nargs="*", type=float, default=None, help="Label fractions in (0, 1].")
    parser.add_argument("--workers", type=int, default=2, help="Processes for the two branch simulations.")
    parser.add_argument("--summary", type=Path, default=None, help="Write the markdown summary of the study here.")
    defaults = GWStudyConfig()
    parser.add_argument("--flux-target", choices=FLUX_TARGETS, default=defaults.flux_target,
                        help="resolved: the simulation's waves; ad99: the AD99 scheme's fluxes on the same states.")
    types = {f.name: f.type for f in fields(GWStudyConfig)}
    for name in SCALARS:
        kind = float if "float" in str(types[name]) else int
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(defaults, name))
    args = parser.parse_args()
    config = replace(defaults, models=tuple(args.models), flux_target=args.flux_target, **{name: getattr(args, name) for name in SCALARS},
                     **({"seeds": tuple(args.seeds)} if args.seeds else {}),
                     **({"label_fractions": tuple(args.fractions)} if args.fractions else {}))  # fmt: skip
    context = {"machine": platform.machine(), "torch_threads": torch.get_num_threads(), "device": "cpu"}
    lines = run_gw_study(config, args.workdir, args.out, workers=args.workers, context=context,
                         log=lambda message: print(message, flush=True),
                         on_result=lambda record: print(json.dumps(record), flush=True))  # fmt: skip
    if args.summary is None:
        return
    text = summarise_gw_study(lines)
    write_text_atomic(args.summary, text)
    print(text, flush=True)
    stats = aggregate(lines)
    summary = {"benchmark": "gw_study", "summary": True, "study": config.identity(), "runs": len(lines)}
    for fraction in sorted({line["label_fraction"] for line in lines}):
        def get(model: str, metric: str, fraction: float = fraction) -> float | None:
            return stats.get((model, fraction, "global", metric), (None,))[0]

        if get(FINE_TUNED, "r2") is not None and get(RANDOM, "r2"):
            summary[f"r2_finetuned_minus_random_{fraction:g}"] = get(FINE_TUNED, "r2") - get(RANDOM, "r2")
        if get(UNET, "hellinger") and get(FINE_TUNED, "hellinger") is not None:
            summary[f"hellinger_ratio_finetuned_vs_unet_{fraction:g}"] = get(FINE_TUNED, "hellinger") / get(UNET, "hellinger")
        if get(CLIMATOLOGY, "r2") is not None:
            summary[f"r2_climatology_{fraction:g}"] = get(CLIMATOLOGY, "r2")
    emit(summary, args.out)


if __name__ == "__main__":
    main()
