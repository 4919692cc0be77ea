"""``python -m subgrid.cli``: the same as the ``subgrid`` command (torchrun and srun launch it this way)."""

from subgrid.cli.main import app

app()
