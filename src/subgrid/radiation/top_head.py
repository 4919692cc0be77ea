"""The radiation emulator's top-layer head, as training sees it: its model option and its fit.

The head itself (a small MLP on the top layers' physical state that gives their net heating) lives in
:mod:`subgrid.models.radiation` ("The top layer"). Here: :data:`TOP_HEAD_OPTION`, the key of
``model_options`` that sizes it (the emulator's own option, not the backbone's), and
:func:`fit_top_head`, which fits it alone on the training columns before anything else trains
(:func:`subgrid.radiation.training.train_radiation` calls it; training then holds it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from subgrid.core.config import ConfigError
from subgrid.core.errors import InputError
from subgrid.models.radiation import TOP_HEAD_LAYERS, TOP_HEATING_SCALE_K_DAY, RadiationEmulator, top_layer_features

#: The model option of the emulator itself (not the backbone's): the width of its top-layer head (0 or absent: none).
TOP_HEAD_OPTION = "top_head_width"


def top_head_width(options: dict, where: str) -> int:
    """The top-layer head's width in ``options`` (0: none); a ConfigError naming it otherwise."""
    width = options.get(TOP_HEAD_OPTION, 0)
    if not (isinstance(width, int) and not isinstance(width, bool) and width >= 0):
        raise ConfigError(where, f"model_options.{TOP_HEAD_OPTION}: a width >= 0 (0: no head), got {width!r}")
    return width


def backbone_options(options: dict) -> dict:
    """``options`` less the emulator's own :data:`TOP_HEAD_OPTION`: a run without a head may start one with it."""
    return {key: value for key, value in options.items() if key != TOP_HEAD_OPTION}


#: Optimiser steps of the top-layer head's fit, batches of 512 top layers (measured: ~10 s on one thread).
TOP_HEAD_FIT_STEPS = 6000


def fit_top_head(emulator: RadiationEmulator, batches: dict | Sequence[dict], *, steps: int = TOP_HEAD_FIT_STEPS,
                 seed: int = 0) -> dict:
    """Fit the emulator's top-layer head, alone, to the net LW and SW heating of the top layers of ``batches``.

    The head is a local model of the top layers (:mod:`subgrid.models.radiation`, "The top layer"): it
    is fitted before the rest trains, on every training column's top layers (Adam, cosine schedule; SW
    errors weighted by S/S0, so they count as the heating errors they make). Returns the fit's size and
    skill (``columns``; the top layer's LW ``rmse_K_day`` against its ``std_K_day``; each head layer's
    SW ``sw_rmse_K_day`` by day), recorded in model.json.
    Training then holds the head (:class:`~subgrid.radiation.training.RadiationLightningModule`): measured on ``ga5c`` fine-tuned 4
    epochs with the head trained jointly, the flux term pulled it back to a warm bias (+0.5 to +1.1
    K/day on every shifted set; 5 Pa top 1.27 K/day against 0.39 for the fit alone).
    """
    if emulator.top_head is None:
        raise InputError("fit_top_head: the emulator has no top-layer head (model_options top_head_width)")
    batches = [batches] if isinstance(batches, dict) else list(batches)
    k = TOP_HEAD_LAYERS
    with torch.no_grad():
        features = torch.cat([top_layer_features(b["level_inputs"], b["column_inputs"], b["pressure_interface_Pa"])
                              for b in batches])  # fmt: skip
        relative = torch.cat([emulator.insolation_W_per_m2(b["column_inputs"]) for b in batches]) / emulator.solar_constant_W_per_m2
        day = relative > 0
        heating = torch.cat([b["heating"][:, :, -k:] for b in batches])
        sw = torch.where(day[:, None], heating[:, 1] / torch.where(day, relative, 1.0)[:, None], 0.0)
        target = torch.cat([heating[:, 0, -1:], sw], dim=1) / TOP_HEATING_SCALE_K_DAY  # [N, 1 + K]: LW top, SW
        # SW errors count as the heating errors they make (per unit insolation × S/S0): near the terminator a
        # per-insolation value is large and says little
        weight = torch.cat([torch.ones_like(relative)[:, None], (relative**2)[:, None].expand(-1, k)], dim=1)
    generator = torch.Generator().manual_seed(seed)
    head = emulator.top_head
    held = [parameter.requires_grad for parameter in head.parameters()]  # a trainer holds it; fitting it here
    head.requires_grad_(True)
    optimiser = torch.optim.Adam(head.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    for _ in range(steps):
        pick = torch.randint(0, len(target), (min(512, len(target)),), generator=generator)
        loss = (((head(features[pick]) - target[pick]) ** 2) * weight[pick]).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    for parameter, requires_grad in zip(head.parameters(), held, strict=True):
        parameter.requires_grad_(requires_grad)
    with torch.no_grad():
        error = (head(features) - target) * TOP_HEATING_SCALE_K_DAY
    top = target[:, 0] * TOP_HEATING_SCALE_K_DAY
    return {"columns": len(target), "sw_layers": k,
            # the top layer's LW, and each head layer's SW heating error by day (surface first)
            "rmse_K_day": round(float(error[:, 0].pow(2).mean().sqrt()), 4), "std_K_day": round(float(top.std()), 4),
            "sw_rmse_K_day": [round(float(v), 4) for v in (error[day, 1:] * relative[day, None]).pow(2).mean(0).sqrt()]}
