"""subgrid: machine-learned subgrid-scale parameterizations for weather and climate models.

Layers, bottom up: ``core`` (the parameterization contract, configs, errors) -> ``physics`` (pure
numpy, no torch) -> ``models`` (nn.Modules) -> ``training`` / ``evaluation`` -> the products
``radiation`` and ``gravity_waves`` -> ``hosts`` -> ``demo`` -> ``cli``. See docs/ARCHITECTURE.md for
the layout, the README for the tour and docs/REFERENCE.md for the reference facts.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("subgrid")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
