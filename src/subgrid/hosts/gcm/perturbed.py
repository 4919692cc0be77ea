"""The perturbed-physics forecast, the yardstick of the forecast experiment (:mod:`.forecast`).

RRTMG from the start state plus Gaussian temperature noise measures the error growth a forecast has
anyway: an emulator whose forecasts diverge from the physics no faster than this is as good as the
physics for forecasting. These forecasts do not depend on the emulator, so an experiment with
another emulator on the same control and starts can copy them instead of rerunning them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from subgrid.core.errors import InputError
from subgrid.core.stores import write_text_atomic
from subgrid.hosts.gcm.run import finished_record


def perturb_restart(source: Path, target: Path, kelvin: float, seed: int) -> Path:
    """``source`` with Gaussian noise of standard deviation ``kelvin`` on the temperature at every grid point.

    The noise is drawn on the grid, truncated to the model's spectral resolution, and rescaled so its
    grid-point standard deviation is ``kelvin``. Written atomically to ``target``.
    """
    import torch

    from subgrid.hosts.gcm.model import GCM
    from subgrid.hosts.gcm.restart import load_restart, restart_config, save_restart
    from subgrid.physics.rrtmg import RRTMG

    config = restart_config(source)
    model = GCM(config, RRTMG(seed=config.radiation_seed))
    load_restart(model, source)
    dynamics, state = model.dynamics, model.state
    grid = dynamics.grid
    rng = np.random.default_rng([seed, int(model.step_count)])
    with torch.no_grad():
        shape = grid.to_nodal(state.temperature_variation).shape
        noise = grid.to_modal(torch.as_tensor(rng.standard_normal(shape), dtype=dynamics.dtype))
        scale = kelvin / float(grid.to_nodal(noise).std()) / dynamics._scale["temperature"]
        model.state = state.__class__(vorticity=state.vorticity, divergence=state.divergence,
                                      temperature_variation=state.temperature_variation + noise * scale,
                                      log_surface_pressure=state.log_surface_pressure, tracers=state.tracers)  # fmt: skip
    return save_restart(model, target)


def check_perturbed_source(theirs: dict, settings: dict) -> None:
    """Refuse (one line) an experiment recorded with ``theirs`` whose perturbed forecasts are not ours.

    ``theirs`` and ``settings`` are two experiments' recorded settings. The perturbed forecasts are the same if it ran from the same control with the same forecast length, output, lead step,
    perturbation and seed (a perturbed start depends only on its restart and the seed).
    """
    ours = json.loads(json.dumps(settings))
    same = ("days", "perturbation_K", "seed", "lead_step_days", "output_every_hours")
    differ = [k for k in same if theirs["config"].get(k) != ours["config"][k]]
    if theirs["control"] != ours["control"] or differ:
        raise InputError(f"perturbed_from: that experiment ran with another {', '.join(differ or ['control'])}; "
                         "its perturbed forecasts are not this experiment's")  # fmt: skip


def copy_perturbed_forecasts(source: Path, out: Path, starts: list[float]) -> int:
    """Copy the finished perturbed forecasts of experiment ``source`` for ``starts`` into ``out``; how many.

    Check ``source`` first (:func:`check_perturbed_source`). Starts it did not perturb, or that
    ``out`` already has, are left alone. Each copy goes to a temporary name first, so an interrupted
    copy is never taken for a forecast; ``out/perturbed_from.json`` says what was copied from where.
    """
    import shutil

    copied = 0
    for start in starts:
        name = f"day_{start:07.2f}"
        there, here = source / "starts" / name, out / "starts" / name
        if finished_record(there / "perturbed") is None or (here / "perturbed").exists():
            continue
        here.mkdir(parents=True, exist_ok=True)
        for item in ("perturbed_start.pt", "perturbed"):
            partial = here / f".{item}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            (shutil.copytree if (there / item).is_dir() else shutil.copy2)(there / item, partial)
            partial.rename(here / item)
        copied += 1
    if copied:
        log = out / "perturbed_from.json"
        earlier = json.loads(log.read_text()) if log.is_file() else []
        write_text_atomic(log, json.dumps(earlier + [{"source": str(source.resolve()), "copied": copied}], indent=1))
    return copied
