"""AOTInductor export: ``torch.export`` + ``aoti_compile_and_package``, the format that outlives TorchScript.

TorchScript is deprecated in PyTorch; ``torch.export`` is its successor, and AOTInductor compiles
an exported program ahead of time into a package (``.pt2``: a shared library of generated C++
kernels plus the weights) that Python (``torch._inductor.aoti_load_package``) and C++
(``torch::inductor::AOTIModelPackageLoader``) load without a Python interpreter. The package takes
the same three tensors and returns the same two as the TorchScript artifact, normalisation and
the flux constraints inside, with a dynamic column (batch) dimension; the level count is fixed,
except for a grid-agnostic radiation emulator, whose level dimension is dynamic too (its metadata
records ``n_levels`` as 0).

The package carries its own shape metadata (``aot_inductor.metadata``: ``n_levels``,
``n_level_features``, ``n_column_features``, ``kind``), which the C ABI reads so that a host asks
the handle for its feature counts instead of hard-coding them; compiled kernels do not check
input shapes, so the C ABI and :class:`~subgrid.radiation.emulator.Emulator` do it before a call.

Compiling needs a C++ compiler at export time only (g++ here: 20-60 s for the ResCNN); loading
needs none.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

#: Metadata keys every subgrid AOTI package carries (strings, as AOTInductor stores them).
METADATA_KEYS = ("kind", "n_levels", "n_level_features", "n_column_features")


@contextlib.contextmanager
def _quiet_inductor() -> Iterator[None]:
    """Inductor warns about its own internals (not about our model) while compiling."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._inductor.*")
        yield


def compile_package(
    module: nn.Module,
    path: Path,
    example: tuple[torch.Tensor, ...],
    input_names: tuple[str, ...],
    metadata: dict[str, int | str],
    dynamic_shapes: dict[str, dict] | None = None,
) -> None:
    """Export ``module`` with dynamic dims (default: dim 0, ``column``, shared by all inputs) and compile it into
    ``path`` (.pt2)."""
    if dynamic_shapes is None:
        column = torch.export.Dim("column", min=1)
        dynamic_shapes = {name: {0: column} for name in input_names}
    with torch.no_grad(), _quiet_inductor():
        program = torch.export.export(module.eval(), example, dynamic_shapes=dynamic_shapes, strict=False)
        torch._inductor.aoti_compile_and_package(
            program,
            package_path=str(path),
            inductor_configs={"aot_inductor.metadata": {key: str(value) for key, value in metadata.items()}},
        )


def load_package(path: Path) -> tuple[object, dict[str, str]]:
    """The compiled model of the package at ``path`` (a callable on tensors) and its metadata."""
    with _quiet_inductor():
        model = torch._inductor.aoti_load_package(str(path))
    return model, dict(model.get_metadata())


def run_package(path: Path, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Run the package once (for verification and tests): its outputs as a tuple of tensors."""
    model, _ = load_package(path)
    with torch.inference_mode():
        return tuple(model(*inputs))
