"""Spherical-harmonic filters of gridded fields: numpy in, numpy out, over torch-harmonics.

The one physics module allowed to use torch (the import-linter contract in pyproject.toml names it):
torch-harmonics (Bonev et al.; ``RealSHT``/``InverseRealSHT`` for scalars,
``RealVectorSHT``/``InverseRealVectorSHT`` for tangent vector fields, after Schaeffer 2013, G3,
doi:10.1002/ggge.20071) does the transforms; everything returned is a float64 numpy array.

Conventions (those of torch-harmonics 0.8): the latitude axis runs north to south (colatitude
0 -> pi), longitudes are equally spaced and periodic; quadrature ``"equiangular"`` is a grid with
both poles (Clenshaw-Curtis weights, e.g. ERA5's 0.25 deg 721 x 1440) and ``"legendre-gauss"`` a
Gaussian grid. Coefficients go up to degree ``l = nlat - 1`` and order ``m = nlon // 2``. A vector
field is ``(u, v)`` = (eastward, northward); its forward transform holds the toroidal
(rotational, channel 0) and spheroidal (divergent, channel 1) coefficients, each the degree-l
coefficient of the vorticity resp. divergence divided by ``-l (l + 1) / a``: zeroing channel 0 and
transforming back leaves the divergent wind (this is how torch-harmonics' shallow-water example
gets vorticity and divergence).

Fields are filtered in blocks of at most :data:`BLOCK_FIELDS` 2-D fields, so memory stays bounded
for many times and levels; the transforms (dense Legendre tables of ``mmax x lmax x nlat`` float64
numbers, about 3 GB per scalar transform and 6 GB per vector transform at 721 x 1440, so about
12 GB for a vector forward + inverse pair) are built once per grid and kept.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch_harmonics

#: 2-D fields transformed together (bounds the memory of one einsum).
BLOCK_FIELDS = 16
QUADRATURES = ("equiangular", "legendre-gauss")


@lru_cache(maxsize=4)
def _transforms(nlat: int, nlon: int, quadrature: str, vector: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    forward, inverse = (
        (torch_harmonics.RealVectorSHT, torch_harmonics.InverseRealVectorSHT)
        if vector
        else (torch_harmonics.RealSHT, torch_harmonics.InverseRealSHT)
    )
    return forward(nlat, nlon, grid=quadrature).double(), inverse(nlat, nlon, grid=quadrature).double()


def _degree_mask(lmax: int, mmax: int, lowest_degree: int) -> torch.Tensor:
    """1 for the kept coefficients (degree l >= lowest_degree), 0 elsewhere, shape (lmax, mmax)."""
    degree = torch.arange(lmax, dtype=torch.float64)[:, None]
    return (degree >= lowest_degree).to(torch.float64).expand(lmax, mmax)


def _check(shape: tuple[int, ...], quadrature: str) -> None:
    if quadrature not in QUADRATURES:
        raise ValueError(f"quadrature {quadrature!r}: expected one of {QUADRATURES}")
    if len(shape) < 2:
        raise ValueError(f"field of shape {shape}: expected (..., lat, lon)")


def _blocks(n: int) -> list[slice]:
    return [slice(start, min(start + BLOCK_FIELDS, n)) for start in range(0, n, BLOCK_FIELDS)]


def filter_scalar(field: np.ndarray, quadrature: str, lowest_degree: int) -> np.ndarray:
    """``field[..., lat, lon]`` without its spherical harmonics of total degree ``l < lowest_degree``."""
    field = np.asarray(field, dtype=np.float64)
    _check(field.shape, quadrature)
    nlat, nlon = field.shape[-2:]
    forward, inverse = _transforms(nlat, nlon, quadrature, vector=False)
    mask = _degree_mask(forward.lmax, forward.mmax, lowest_degree)
    flat = field.reshape(-1, nlat, nlon)
    out = np.empty_like(flat)
    with torch.no_grad():
        for block in _blocks(len(flat)):
            coefficients = forward(torch.from_numpy(flat[block])) * mask
            out[block] = inverse(coefficients).numpy()
    return out.reshape(field.shape)


def filter_vector(
    u: np.ndarray, v: np.ndarray, quadrature: str, *, rotational: bool, divergent: bool, lowest_degree: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The chosen Helmholtz parts of the wind ``(u, v)[..., lat, lon]``, degrees ``l < lowest_degree`` removed.

    ``rotational=False, divergent=True`` gives the divergent (irrotational) wind, the gradient of
    the velocity potential; ``lowest_degree = T + 1`` then high-passes it at truncation ``T``
    (the gradient of the velocity potential without its degrees ``l <= T``).
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if u.shape != v.shape:
        raise ValueError(f"u has shape {u.shape} and v {v.shape}: expected the same")
    _check(u.shape, quadrature)
    nlat, nlon = u.shape[-2:]
    forward, inverse = _transforms(nlat, nlon, quadrature, vector=True)
    mask = _degree_mask(forward.lmax, forward.mmax, lowest_degree)
    keep = torch.stack([mask * float(rotational), mask * float(divergent)])
    flat = np.stack([u.reshape(-1, nlat, nlon), v.reshape(-1, nlat, nlon)], axis=1)
    out = np.empty_like(flat)
    with torch.no_grad():
        for block in _blocks(len(flat)):
            out[block] = inverse(forward(torch.from_numpy(flat[block])) * keep).numpy()
    return out[:, 0].reshape(u.shape), out[:, 1].reshape(v.shape)
