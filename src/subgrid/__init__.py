"""subgrid: machine-learned subgrid-scale parameterizations for weather and climate models.

The package is layered one way: ``physics -> data -> training -> evaluation -> coupling -> hosts``
(``models`` is used by training and coupling; physics never imports torch). See the README for the
tour and ``../shared/DESIGN.md`` for the reference facts.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("subgrid")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
