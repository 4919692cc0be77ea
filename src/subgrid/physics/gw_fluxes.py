"""Gravity-wave momentum fluxes from high-resolution gridded winds: the ERA5 recipe of the seed study.

Per time and level (docs/REFERENCE.md section 4):

1. Helmholtz-decompose the horizontal wind (u, v) and keep its divergent part (gravity waves are
   divergent; the balanced, rotational flow is not);
2. high-pass it: remove total spherical-harmonic degrees ``l <= T`` (``T = 21`` in the study), which
   leaves u', v' = the gradient of the velocity potential without its degrees ``l <= T``;
3. omega' = omega - its zonal mean;
4. fluxes ``uw = u' omega' / (-g)`` and ``vw = v' omega' / (-g)`` in Pa (Pa s-1 x m s-1 / m s-2);
5. conservatively coarse-grain the fluxes to the target grid (T42 Gaussian 64 x 128 in the study).

The high-pass acts on the divergent wind as a vector field (its spheroidal coefficients), not on
the u and v components as separate scalars: u and v are not smooth scalars at the poles, and the
scalar filter of :func:`spectral_high_pass` applied to them would leak polar artefacts into every
degree.

Grids (:class:`LatLonGrid`) run north to south and east from ``lon0_deg``. Cell bounds, used by the
conservative regridding, are exact tilings of the sphere:

* ``regular``: cell-centred, ``nlat`` bands of ``180 / nlat`` degrees (no point on a pole);
* ``equiangular``: ``nlat`` points from 90 to -90 degrees, poles included (ERA5's 0.25 deg grid is
  721 x 1440); bounds are the midpoints between centres, so the pole cells are half-height caps;
* ``gaussian``: centres at the Gauss-Legendre nodes in sin(latitude); the band edges in sin(lat)
  are 1 minus the cumulative sums of the Gauss weights (the weights sum to 2), so each band's
  area is exactly its quadrature weight times 2 pi.

Spectral transforms need ``equiangular`` or ``gaussian`` (torch-harmonics' quadratures, see
:mod:`subgrid.physics.spectral`); a ``regular`` grid can only be regridded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from subgrid.core.errors import InputError
from subgrid.physics import spectral
from subgrid.physics.constants import STANDARD_GRAVITY_M_PER_S2

#: Truncation of the study's high-pass: degrees l <= 21 (T21) are removed.
DEFAULT_TRUNCATION = 21
GRID_KINDS = ("regular", "equiangular", "gaussian")
_QUADRATURE = {"equiangular": "equiangular", "gaussian": "legendre-gauss"}
#: Tolerance (degrees) when recognising a grid from its coordinates.
_COORDINATE_TOLERANCE_DEG = 1e-4


@dataclass(frozen=True)
class LatLonGrid:
    """A global latitude-longitude grid: ``kind`` (see the module docstring), ``nlat x nlon``, first longitude.

    Latitudes run north to south; longitudes are ``lon0_deg + i * 360 / nlon``.
    """

    kind: str
    nlat: int
    nlon: int
    lon0_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in GRID_KINDS:
            raise InputError(f"grid kind {self.kind!r}: expected one of {', '.join(GRID_KINDS)}")
        smallest = 3 if self.kind == "equiangular" else 2
        if int(self.nlat) != self.nlat or self.nlat < smallest:
            raise InputError(f"grid nlat {self.nlat}: expected an integer >= {smallest} for a {self.kind} grid")
        if int(self.nlon) != self.nlon or self.nlon < 4:
            raise InputError(f"grid nlon {self.nlon}: expected an integer >= 4")

    @classmethod
    def parse(cls, text: str) -> LatLonGrid:
        """A grid from ``KIND:NLATxNLON``, e.g. ``gaussian:64x128`` (T42) or ``equiangular:721x1440``."""
        kind, _, size = text.partition(":")
        nlat, _, nlon = size.partition("x")
        if not (nlat.isdigit() and nlon.isdigit()):
            raise InputError(f"target grid {text!r}: expected KIND:NLATxNLON, e.g. gaussian:64x128")
        return cls(kind.strip(), int(nlat), int(nlon))

    @classmethod
    def from_coordinates(cls, lat_deg: np.ndarray, lon_deg: np.ndarray) -> LatLonGrid:
        """Recognise the grid of north-to-south ``lat_deg`` and equally spaced ``lon_deg`` centres, or raise."""
        lat_deg = np.asarray(lat_deg, dtype=np.float64)
        lon_deg = np.asarray(lon_deg, dtype=np.float64)
        nlon = lon_deg.size
        step = 360.0 / nlon if nlon else 0.0
        if nlon < 4 or not np.allclose(np.diff(lon_deg), step, atol=_COORDINATE_TOLERANCE_DEG):
            raise InputError(
                f"longitude: {nlon} values are not equally spaced over 360 degrees (a global grid without duplicates)"
            )
        for kind in GRID_KINDS:
            try:
                grid = cls(kind, lat_deg.size, nlon, float(lon_deg[0]))
            except InputError:
                continue
            if np.allclose(grid.lat_deg, lat_deg, atol=_COORDINATE_TOLERANCE_DEG):
                return grid
        raise InputError(
            f"latitude: {lat_deg.size} values from {lat_deg[0]:g} to {lat_deg[-1]:g} are not a regular, equiangular "
            "(with poles) or Gaussian grid"
        )

    @cached_property
    def _sin_lat(self) -> tuple[np.ndarray, np.ndarray]:
        """(centres, bounds) in sin(latitude), north to south."""
        if self.kind == "gaussian":
            nodes, weights = np.polynomial.legendre.leggauss(self.nlat)
            bounds = np.concatenate([[1.0], 1.0 - np.cumsum(weights[::-1])])
            bounds[-1] = -1.0
            return nodes[::-1].copy(), bounds
        if self.kind == "regular":
            edges = np.linspace(90.0, -90.0, self.nlat + 1)
            centres = 0.5 * (edges[:-1] + edges[1:])
        else:
            centres = np.linspace(90.0, -90.0, self.nlat)
            edges = np.concatenate([[90.0], 0.5 * (centres[:-1] + centres[1:]), [-90.0]])
        return np.sin(np.deg2rad(centres)), np.sin(np.deg2rad(edges))

    @property
    def lat_deg(self) -> np.ndarray:
        """Cell-centre latitudes (degrees north), north to south."""
        return np.rad2deg(np.arcsin(self._sin_lat[0]))

    @property
    def sin_lat_bounds(self) -> np.ndarray:
        """``nlat + 1`` band edges in sin(latitude), from 1 (north pole) to -1."""
        return self._sin_lat[1]

    @property
    def lon_deg(self) -> np.ndarray:
        """Cell-centre longitudes (degrees east)."""
        return self.lon0_deg + np.arange(self.nlon) * (360.0 / self.nlon)

    @property
    def lon_bounds_deg(self) -> np.ndarray:
        """``nlon + 1`` cell edges (degrees east), half a cell either side of each centre."""
        return self.lon0_deg + (np.arange(self.nlon + 1) - 0.5) * (360.0 / self.nlon)

    @property
    def cell_area_sr(self) -> np.ndarray:
        """Cell areas on the unit sphere (steradian), shape (nlat, nlon); they sum to 4 pi."""
        return np.outer(-np.diff(self.sin_lat_bounds), np.diff(np.deg2rad(self.lon_bounds_deg)))

    @property
    def has_transform(self) -> bool:
        """Whether spherical-harmonic transforms exist on this grid (equiangular with poles or Gaussian)."""
        return self.kind in _QUADRATURE

    @property
    def quadrature(self) -> str:
        """torch-harmonics' name of this grid's quadrature; raises for a grid it cannot transform."""
        if not self.has_transform:
            raise InputError(
                f"a {self.kind} grid has no spherical-harmonic transform here: use an equiangular grid with poles "
                "or a Gaussian grid"
            )
        return _QUADRATURE[self.kind]

    def describe(self) -> str:
        """``KIND:NLATxNLON``, the form :meth:`parse` reads (and dataset attrs record)."""
        return f"{self.kind}:{self.nlat}x{self.nlon}"


def _check_field(field: np.ndarray, grid: LatLonGrid, name: str) -> np.ndarray:
    field = np.asarray(field, dtype=np.float64)
    if field.shape[-2:] != (grid.nlat, grid.nlon):
        raise InputError(f"{name}: shape {field.shape} does not end in the grid's (lat, lon) = ({grid.nlat}, {grid.nlon})")
    return field


def divergent_wind(u: np.ndarray, v: np.ndarray, grid: LatLonGrid) -> tuple[np.ndarray, np.ndarray]:
    """The divergent (irrotational) part of the wind ``(u, v)[..., lat, lon]`` (m s-1), by a vector SHT."""
    u, v = _check_field(u, grid, "u"), _check_field(v, grid, "v")
    return spectral.filter_vector(u, v, grid.quadrature, rotational=False, divergent=True)


def spectral_high_pass(field: np.ndarray, grid: LatLonGrid, truncation: int = DEFAULT_TRUNCATION) -> np.ndarray:
    """A scalar ``field[..., lat, lon]`` without its total spherical-harmonic degrees ``l <= truncation``."""
    return spectral.filter_scalar(_check_field(field, grid, "field"), grid.quadrature, truncation + 1)


def high_passed_divergent_wind(
    u: np.ndarray, v: np.ndarray, grid: LatLonGrid, truncation: int = DEFAULT_TRUNCATION
) -> tuple[np.ndarray, np.ndarray]:
    """u', v' (m s-1): the divergent wind without its degrees ``l <= truncation`` (one vector SHT and back)."""
    u, v = _check_field(u, grid, "u"), _check_field(v, grid, "v")
    return spectral.filter_vector(u, v, grid.quadrature, rotational=False, divergent=True, lowest_degree=truncation + 1)


def momentum_flux_Pa(wind_prime_m_per_s: np.ndarray, omega_Pa_per_s: np.ndarray) -> np.ndarray:
    """``u' omega' / (-g)`` (Pa) on the same grid, omega' being omega minus its zonal (last-axis) mean.

    Upward motion has omega < 0, so upward transport of eastward momentum (u' > 0 with omega' < 0)
    gives a positive flux.
    """
    omega_prime = omega_Pa_per_s - np.mean(omega_Pa_per_s, axis=-1, keepdims=True)
    return wind_prime_m_per_s * omega_prime / -STANDARD_GRAVITY_M_PER_S2


def gravity_wave_fluxes_Pa(
    u: np.ndarray,
    v: np.ndarray,
    omega: np.ndarray,
    grid: LatLonGrid,
    truncation: int = DEFAULT_TRUNCATION,
    target: LatLonGrid | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(uw, vw) = (u' omega' / (-g), v' omega' / (-g)) in Pa from u, v (m s-1) and omega (Pa s-1).

    Fields are ``[..., lat, lon]`` on ``grid``; with ``target`` the fluxes are conservatively
    coarse-grained to it (:func:`conservative_regrid`), else returned on ``grid``.
    """
    if truncation < 0:
        raise InputError(f"truncation {truncation}: expected a degree >= 0")
    omega = _check_field(omega, grid, "omega")
    u_prime, v_prime = high_passed_divergent_wind(u, v, grid, truncation)
    uw, vw = momentum_flux_Pa(u_prime, omega), momentum_flux_Pa(v_prime, omega)
    if target is None:
        return uw, vw
    return conservative_regrid(uw, grid, target), conservative_regrid(vw, grid, target)


def _overlap(source_bounds: np.ndarray, target_bounds: np.ndarray, period: float | None) -> np.ndarray:
    """Lengths shared by target cell i and source cell j, shape (n_target, n_source); bounds increasing."""
    lo_s, hi_s = source_bounds[:-1][None, :], source_bounds[1:][None, :]
    lo_t, hi_t = target_bounds[:-1][:, None], target_bounds[1:][:, None]
    shifts = (-period, 0.0, period) if period else (0.0,)
    return sum(np.clip(np.minimum(hi_s, hi_t + k) - np.maximum(lo_s, lo_t + k), 0.0, None) for k in shifts)


def regrid_weights(source: LatLonGrid, target: LatLonGrid) -> tuple[np.ndarray, np.ndarray]:
    """Separable conservative weights: (latitude (nlat_t, nlat_s), longitude (nlon_t, nlon_s)).

    Entry (i, j) is the fraction of target cell i covered by source cell j: the overlap in
    sin(latitude) (areas of latitude bands are proportional to it) or in longitude, over the
    target cell's extent. Each row sums to 1 (a constant stays that constant) and each column,
    weighted by the target extents, gives the source cell's extent (area integrals are kept).
    """
    lat = _overlap(-source.sin_lat_bounds, -target.sin_lat_bounds, None) / -np.diff(target.sin_lat_bounds)[:, None]
    lon = _overlap(source.lon_bounds_deg, target.lon_bounds_deg, 360.0) / (360.0 / target.nlon)
    return lat, lon


def conservative_regrid(field: np.ndarray, source: LatLonGrid, target: LatLonGrid) -> np.ndarray:
    """``field[..., lat, lon]`` on ``source`` averaged over the cells of the coarser ``target`` (first order).

    Exact area-overlap weights (:func:`regrid_weights`): the area integral is conserved to
    round-off and a constant field maps to the same constant. Coarse-graining only: a target with
    more latitudes or longitudes than the source is refused, since first-order remapping to a
    finer grid only copies source values into sub-cells (and usually means swapped arguments).
    """
    if target.nlat > source.nlat or target.nlon > source.nlon:
        raise InputError(
            f"target grid {target.describe()} is finer than the source {source.describe()}: "
            "conservative_regrid coarse-grains only"
        )
    field = _check_field(field, source, "field")
    lat_weights, lon_weights = regrid_weights(source, target)
    return np.einsum("ij,...jk,lk->...il", lat_weights, field, lon_weights, optimize=True)
