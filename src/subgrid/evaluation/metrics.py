"""Offline skill of a radiation emulator against the reference scheme: MAE, RMSE, bias, R², Hellinger.

Pure numpy/xarray. The basic reductions (:func:`mae`, :func:`rmse`, :func:`bias`, :func:`r2`) take
two DataArrays and the dims to reduce; :func:`radiation_metrics` turns a truth and a predicted
radiation dataset into a JSON-ready dict (python floats and lists, ``None`` where a number is
undefined, never NaN) with the headline numbers overall and by regime (:func:`regime_masks`).

Conventions:

* The prediction is paired with the truth by position: its coordinates are ignored, its dims must
  be those of the truth (in any order) with the same sizes.
* Shortwave quantities are evaluated over daytime columns (cos zenith > 0) only: night columns are
  exactly 0 by construction and would flatter every SW score.
* Heating rates are reported above the lowest layer and for the lowest layer separately: thin
  bottom layers reach -300 K/day (docs/REFERENCE.md section 3) and would dominate any pooled number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import xarray as xr

from subgrid.core.errors import InputError
from subgrid.physics.schema import RADIATION_OUTPUTS, VERTICAL_ORDER
from subgrid.core.validation import check_dims, check_finite, require_variables

Dims = str | Sequence[str] | None

#: Fluxes every evaluation needs: the headline flux MAE % combines these.
HEADLINE_FLUXES = ("lw_flux_up", "lw_flux_down", "sw_flux_up", "sw_flux_down")
#: Column descriptors of the truth dataset the regime splits and the day mask need.
DESCRIPTORS = ("cos_solar_zenith_angle", "cloud_fraction")
#: Optional descriptor: the latitude regimes exist only where the truth has it (a host's or your own columns
#: labelled with ``generate radiation --from`` often carry no latitude).
LATITUDE = "latitude"
#: |latitude| bounds of the regimes (degrees): tropics below the first, poles above the second.
TROPICS_MAX_LAT = 23.5
POLES_MIN_LAT = 60.0

FLUX_MAE_PERCENT_DEFINITION = (
    "100 * sum|pred - truth| / sum|truth|, pooled over all interfaces of lw_flux_up, lw_flux_down "
    "(all columns) and sw_flux_up, sw_flux_down (daytime columns only: SW is exactly 0 at night)"
)
R2_DEFINITION = "1 - SSE/SST pooled over all samples of the set (SST about the pooled truth mean)"


# --- basic reductions -------------------------------------------------------------------------


def _paired(truth: xr.DataArray, pred: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """``pred`` on ``truth``'s dims, order and coordinates, so xarray never aligns (and drops) by label."""
    name = truth.name if truth.name is not None else "values"
    if set(truth.dims) != set(pred.dims):
        raise InputError(f"{name}: truth has dims {truth.dims} but pred has dims {pred.dims}")
    for dim in truth.dims:
        if truth.sizes[dim] != pred.sizes[dim]:
            raise InputError(
                f"{name}: dim {dim!r} has size {truth.sizes[dim]} in truth but {pred.sizes[dim]} in pred"
            )
    return truth, truth.copy(data=pred.transpose(*truth.dims).values)


def mae(truth: xr.DataArray, pred: xr.DataArray, dim: Dims = "column") -> xr.DataArray:
    """Mean absolute error mean|pred - truth| over ``dim`` (``None``: all dims), in the units of truth."""
    truth, pred = _paired(truth, pred)
    return abs(pred - truth).mean(dim)


def rmse(truth: xr.DataArray, pred: xr.DataArray, dim: Dims = "column") -> xr.DataArray:
    """Root-mean-square error sqrt(mean (pred - truth)²) over ``dim``, in the units of truth."""
    truth, pred = _paired(truth, pred)
    return np.sqrt(((pred - truth) ** 2).mean(dim))


def bias(truth: xr.DataArray, pred: xr.DataArray, dim: Dims = "column") -> xr.DataArray:
    """Mean error mean(pred - truth) over ``dim``: positive when the prediction is too high."""
    truth, pred = _paired(truth, pred)
    return (pred - truth).mean(dim)


def r2(truth: xr.DataArray, pred: xr.DataArray, dim: Dims = "column") -> xr.DataArray:
    """Coefficient of determination 1 - SSE/SST over ``dim``, pooled.

    SSE = Σ (pred - truth)², SST = Σ (truth - mean truth)², both sums and the mean taken over
    all of ``dim`` together (not averaged per remaining index). NaN where SST = 0 (constant truth).
    """
    truth, pred = _paired(truth, pred)
    sse = ((pred - truth) ** 2).sum(dim)
    sst = ((truth - truth.mean(dim)) ** 2).sum(dim)
    return 1.0 - sse / sst.where(sst > 0)


# --- Hellinger distance -----------------------------------------------------------------------


@dataclass(frozen=True)
class HellingerBins:
    """Bin edges for :func:`hellinger_distance` and the sentence to report with every distance."""

    edges: np.ndarray
    description: str


def _samples(values: np.ndarray | xr.DataArray, what: str) -> np.ndarray:
    flat = np.asarray(values, dtype=float).ravel()
    if flat.size == 0:
        raise InputError(f"{what}: no samples")
    if not np.isfinite(flat).all():
        raise InputError(f"{what}: {int((~np.isfinite(flat)).sum())} non-finite sample(s)")
    return flat


def hellinger_bins(
    truth_samples: np.ndarray | xr.DataArray,
    n_bins: int = 100,
    method: str = "linear",
    *,
    linear_threshold_quantile: float = 0.5,
) -> HellingerBins:
    """Shared bins for a Hellinger distance, built from the truth samples alone.

    Both methods span the full range [min, max] of the truth (no percentile trimming, so the
    tails of the truth are binned like the rest); a prediction outside that range is clipped
    into the edge bins by :func:`hellinger_distance` (its out-of-range mass still counts, but
    piled into the first or last bin, so a prediction with too-wide tails is only penalised for
    the mass it moves there). A constant truth c gets the range c ± 0.5 (its units).

    * ``"linear"``: ``n_bins`` equal-width bins over [min, max] of the truth.
    * ``"symlog"``: ``n_bins`` bins of equal width in y = sign(x)·ln(1 + |x|/t) over the truth
      range, i.e. ~linear bins for |x| ≲ t and logarithmic beyond, for heavy-tailed variables
      (heating rates of thin bottom layers, momentum fluxes). The linear threshold t is the
      ``linear_threshold_quantile`` quantile of |truth| (default 0.5: the median); if that is 0
      (mostly exact zeros, e.g. SW at night) the smallest non-zero |truth|, and 1 if all are 0.
    """
    truth = _samples(truth_samples, "truth samples")
    if n_bins < 1:
        raise InputError(f"n_bins: must be >= 1, got {n_bins}")
    if not 0.0 <= linear_threshold_quantile <= 1.0:
        raise InputError(f"linear_threshold_quantile: must be in [0, 1], got {linear_threshold_quantile}")
    low, high = float(truth.min()), float(truth.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    if method == "linear":
        edges = np.linspace(low, high, n_bins + 1)
        description = f"linear: {n_bins} equal bins over the truth range [{low:.4g}, {high:.4g}]"
    elif method == "symlog":
        magnitude = np.abs(truth)
        threshold = float(np.quantile(magnitude, linear_threshold_quantile))
        source = f"the {linear_threshold_quantile:g} quantile of |truth|"
        if threshold == 0.0:
            nonzero = magnitude[magnitude > 0]
            threshold = float(nonzero.min()) if nonzero.size else 1.0
            source = f"{'the smallest non-zero |truth|' if nonzero.size else 'truth all 0'}: {source} is 0"
        y_low, y_high = (np.sign(v) * np.log1p(abs(v) / threshold) for v in (low, high))
        y = np.linspace(y_low, y_high, n_bins + 1)
        edges = np.sign(y) * threshold * np.expm1(np.abs(y))
        # The round trip through log/exp must not move the outer edges off the truth range.
        edges[0], edges[-1] = low, high
        description = (
            f"symlog: {n_bins} bins equal in sign(x)ln(1+|x|/t) over the truth range "
            f"[{low:.4g}, {high:.4g}], t = {threshold:.4g} ({source})"
        )
    else:
        raise InputError(f"method: must be 'linear' or 'symlog', got {method!r}")
    return HellingerBins(edges, description + "; predictions outside the range clipped into the edge bins")


def hellinger_distance(
    truth_samples: np.ndarray | xr.DataArray,
    pred_samples: np.ndarray | xr.DataArray,
    bins: HellingerBins | np.ndarray,
) -> float:
    """Hellinger distance H = sqrt(1 - Σᵢ sqrt(pᵢ qᵢ)) between the histograms of two sample sets.

    p and q are the histograms of ``truth_samples`` and ``pred_samples`` over the same ``bins``
    (a :class:`HellingerBins` from :func:`hellinger_bins`, or increasing edges), each
    normalised to sum 1. Samples outside the edges are clipped into the edge bins. H is 0 for
    identical histograms, 1 for disjoint ones, and symmetric in its two arguments. Report it
    with its binning: the number depends on it.
    """
    edges = np.asarray(bins.edges if isinstance(bins, HellingerBins) else bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not (np.diff(edges) > 0).all():
        raise InputError("bins: need at least two strictly increasing edges")
    histograms = [
        np.histogram(np.clip(_samples(values, what), edges[0], edges[-1]), bins=edges)[0]
        for values, what in ((truth_samples, "truth samples"), (pred_samples, "pred samples"))
    ]
    p, q = (h / h.sum() for h in histograms)
    # 1 - Σ sqrt(pq) = ½ Σ (sqrt p - sqrt q)² since Σp = Σq = 1; the second form is exactly 0 for
    # identical histograms, where the first leaves rounding noise of ~1e-16 that the sqrt turns into 1e-8.
    squared = 0.5 * float(((np.sqrt(p) - np.sqrt(q)) ** 2).sum())
    return math.sqrt(min(1.0, squared))


class LevelHellinger(NamedTuple):
    """Hellinger distance per level, pooled over all levels, and the binning rule used."""

    by_level: xr.DataArray
    pooled: float
    binning: str


def hellinger_by_level(
    truth: xr.DataArray,
    pred: xr.DataArray,
    level_dim: str = "level",
    *,
    n_bins: int = 100,
    method: str = "linear",
    linear_threshold_quantile: float = 0.5,
) -> LevelHellinger:
    """Hellinger distance on each level (samples pooled over the other dims) and over all levels.

    Each level gets its own bins from that level's truth (:func:`hellinger_bins` with
    ``n_bins``, ``method``, ``linear_threshold_quantile``); the pooled distance bins all levels'
    truth together the same way.
    """
    truth, pred = _paired(truth, pred)
    if level_dim not in truth.dims:
        raise InputError(f"level_dim: {level_dim!r} is not a dim of {truth.dims}")
    options = {"n_bins": n_bins, "method": method, "linear_threshold_quantile": linear_threshold_quantile}
    distances = []
    for index in range(truth.sizes[level_dim]):
        t, p = truth.isel({level_dim: index}).values, pred.isel({level_dim: index}).values
        distances.append(hellinger_distance(t, p, hellinger_bins(t, **options)))
    pooled_bins = hellinger_bins(truth.values, **options)
    binning = (
        f"{method}: {n_bins} bins over the truth range of each level (pooled: over all levels)"
        + (f", t = the {linear_threshold_quantile:g} quantile of |truth|" if method == "symlog" else "")
        + "; predictions outside the range clipped into the edge bins"
    )
    by_level = xr.DataArray(
        distances,
        dims=(level_dim,),
        name="hellinger_distance",
        attrs={"units": "1", "long_name": "Hellinger distance of truth and prediction", "binning": binning},
    )
    return LevelHellinger(by_level, hellinger_distance(truth.values, pred.values, pooled_bins), binning)


# --- radiation datasets -----------------------------------------------------------------------


class VerticalIndices(NamedTuple):
    """Where the ends of a column sit along ``level`` and ``interface`` for a dataset's vertical order."""

    order: str
    lowest_level: int
    surface_interface: int
    top_interface: int


def vertical_indices(ds: xr.Dataset) -> VerticalIndices:
    """Lowest layer, surface and top interface indices from the ``vertical_order`` attr (default surface_first)."""
    order = ds.attrs.get("vertical_order", VERTICAL_ORDER)
    if order == "surface_first":
        return VerticalIndices(order, 0, 0, ds.sizes["interface"] - 1)
    if order == "top_first":
        return VerticalIndices(order, ds.sizes["level"] - 1, ds.sizes["interface"] - 1, 0)
    raise InputError(f"vertical_order attribute: {order!r} is neither 'surface_first' nor 'top_first'")


def regime_masks(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Boolean masks over ``column`` for the regimes metrics are split by.

    clear: no layer with cloud_fraction > 0; cloudy: any layer with cloud_fraction > 0;
    day: cos_solar_zenith_angle > 0; night: the rest; and, only if ``ds`` has ``latitude``: tropics:
    |latitude| < 23.5°; midlatitudes: 23.5° <= |latitude| <= 60°; poles: |latitude| > 60° (a NaN
    latitude is in none of the three).
    """
    require_variables(ds, DESCRIPTORS)
    cloudy = (ds["cloud_fraction"] > 0).any([d for d in ds["cloud_fraction"].dims if d != "column"]).values
    day = ds["cos_solar_zenith_angle"].values > 0
    masks = {"clear": ~cloudy, "cloudy": cloudy, "day": day, "night": ~day}
    if LATITUDE not in ds:
        return masks
    abs_lat = np.abs(ds[LATITUDE].values)
    return {
        **masks,
        "tropics": abs_lat < TROPICS_MAX_LAT,
        "midlatitudes": (abs_lat >= TROPICS_MAX_LAT) & (abs_lat <= POLES_MIN_LAT),
        "poles": abs_lat > POLES_MIN_LAT,
    }


def _number(value: float | xr.DataArray) -> float | None:
    """A JSON-safe float: ``None`` for NaN/Inf (undefined, e.g. R² of a constant truth)."""
    number = float(value)
    return number if math.isfinite(number) else None


def _numbers(values: xr.DataArray) -> list[float | None]:
    return [_number(v) for v in np.asarray(values, dtype=float)]


def _percent(error_sum: float, truth_sum: float) -> float | None:
    return _number(100.0 * error_sum / truth_sum) if truth_sum > 0 else None


def _flux_scores(truth: xr.DataArray, pred: xr.DataArray) -> dict:
    return {
        "columns": int(truth.sizes["column"]),
        "mae_W_m2": _number(mae(truth, pred, None)),
        "mae_percent": _percent(float(mae(truth, pred, None)), float(abs(truth).mean())),
        "rmse_W_m2": _number(rmse(truth, pred, None)),
        "bias_W_m2": _number(bias(truth, pred, None)),
        "r2": _number(r2(truth, pred, None)),
    }


def _heating_scores(truth: xr.DataArray, pred: xr.DataArray) -> dict:
    return {
        "rmse_K_day": _number(rmse(truth, pred, None)),
        "bias_K_day": _number(bias(truth, pred, None)),
        "mae_K_day": _number(mae(truth, pred, None)),
        "r2": _number(r2(truth, pred, None)),
    }


@dataclass(frozen=True)
class _Evaluation:
    """Truth and prediction of one radiation evaluation, checked and paired."""

    truth: xr.Dataset
    pred: xr.Dataset
    variables: tuple[str, ...]
    vertical: VerticalIndices
    day: np.ndarray
    exclude_lowest_layer: bool

    def columns_for(self, name: str) -> np.ndarray:
        """Columns a variable (or band) is scored on: daytime ones for SW, all for LW."""
        return self.day if name.startswith("sw") else np.ones(self.day.shape, dtype=bool)

    def pair(self, name: str, columns: np.ndarray) -> tuple[xr.DataArray, xr.DataArray]:
        return _paired(self.truth[name].isel(column=columns), self.pred[name].isel(column=columns))

    def headline_levels(self, da: xr.DataArray) -> xr.DataArray:
        return da.drop_isel(level=self.vertical.lowest_level) if self.exclude_lowest_layer else da

    def headline(self, columns: np.ndarray) -> dict:
        """Flux MAE % (combined, LW, SW) and heating RMSE on the headline levels over ``columns``.

        SW entries use the daytime ones among ``columns`` and are left out when there are none.
        """
        out: dict = {"columns": int(columns.sum())}
        error_total = truth_total = 0.0
        for band in ("lw", "sw"):
            band_columns = columns & self.columns_for(band)
            if not band_columns.any():
                continue
            error_sum = truth_sum = 0.0
            for name in (n for n in HEADLINE_FLUXES if n.startswith(band)):
                truth, pred = self.pair(name, band_columns)
                error_sum += float(abs(pred - truth).sum())
                truth_sum += float(abs(truth).sum())
            out[f"{band}_flux_mae_percent"] = _percent(error_sum, truth_sum)
            error_total, truth_total = error_total + error_sum, truth_total + truth_sum
        out["flux_mae_percent"] = _percent(error_total, truth_total)
        for band in ("lw", "sw"):
            name = f"{band}_heating_rate"
            band_columns = columns & self.columns_for(band)
            if name in self.variables and band_columns.any():
                truth, pred = (self.headline_levels(da) for da in self.pair(name, band_columns))
                out[f"{band}_heating_rmse_K_day"] = _number(rmse(truth, pred, None))
        return out

    def fluxes(self) -> dict:
        out = {}
        for name in (n for n in self.variables if "_flux_" in n):
            columns = self.columns_for(name)
            if columns.any():
                out[name] = _flux_scores(*self.pair(name, columns))
        return out

    def heating_rates(self) -> dict:
        out = {}
        lowest = self.vertical.lowest_level
        for name in (n for n in self.variables if "_heating_rate" in n):
            columns = self.columns_for(name)
            if not columns.any():
                continue
            truth, pred = self.pair(name, columns)
            above_t, above_p = truth.drop_isel(level=lowest), pred.drop_isel(level=lowest)
            head_t, head_p = self.headline_levels(truth), self.headline_levels(pred)
            bins = hellinger_bins(head_t.values, method="symlog")
            out[name] = {
                "columns": int(columns.sum()),
                "rmse_by_level_K_day": _numbers(rmse(truth, pred, "column")),
                "bias_by_level_K_day": _numbers(bias(truth, pred, "column")),
                "above_lowest_layer": _heating_scores(above_t, above_p),
                "lowest_layer": _heating_scores(truth.isel(level=lowest), pred.isel(level=lowest)),
                "all_levels": _heating_scores(truth, pred),
                "hellinger": {
                    "distance": _number(hellinger_distance(head_t.values, head_p.values, bins)),
                    "binning": f"{bins.description}; samples: scored columns x headline levels, pooled",
                },
            }
        return out


def _check_pair(truth: xr.Dataset, pred: xr.Dataset) -> tuple[str, ...]:
    """Check names, dims and sizes of truth and pred; return the output variables both hold, in schema order."""
    require_variables(truth, (*HEADLINE_FLUXES, *DESCRIPTORS), what="truth")
    require_variables(pred, HEADLINE_FLUXES, what="pred")
    variables = tuple(name for name in RADIATION_OUTPUTS if name in truth and name in pred)
    check_dims(truth, {name: RADIATION_OUTPUTS[name].dims for name in variables})
    for dim in ("column", "level", "interface"):
        if dim in truth.sizes and dim in pred.sizes and truth.sizes[dim] != pred.sizes[dim]:
            raise InputError(f"dim {dim!r}: size {truth.sizes[dim]} in truth but {pred.sizes[dim]} in pred")
    if truth.sizes["column"] == 0:
        raise InputError("truth: no columns to evaluate")
    return variables


def radiation_metrics(truth: xr.Dataset, pred: xr.Dataset, *, exclude_lowest_layer: bool = True) -> dict:
    """Skill of predicted radiation outputs against the reference, as a JSON-ready dict.

    ``truth`` holds the :data:`~subgrid.physics.schema.RADIATION_OUTPUTS` to compare and the
    descriptors ``cos_solar_zenith_angle``, ``cloud_fraction`` (and ``latitude`` for the latitude
    regimes); ``pred`` holds at least the all-sky fluxes ``lw_flux_up``, ``lw_flux_down``,
    ``sw_flux_up``, ``sw_flux_down``: every output present in both is evaluated (and loaded into
    memory once, so lazy zarr data is read a single time). Both in the ``vertical_order`` of ``truth``'s attrs.

    Returns a dict with:

    * ``fluxes[name]``: ``mae_W_m2``, ``mae_percent`` (100·mean|pred−truth| / mean|truth| over
      all interfaces and columns), ``rmse_W_m2``, ``bias_W_m2`` (pred − truth), ``r2``.
    * ``heating_rates[name]``: ``rmse_by_level_K_day`` and ``bias_by_level_K_day`` (lists in the
      dataset's level order), ``above_lowest_layer``, ``lowest_layer``, ``all_levels`` (each
      ``rmse_K_day``, ``bias_K_day``, ``mae_K_day``, ``r2``) and ``hellinger`` (distance on the
      headline levels with its symlog ``binning``).
    * ``overall`` and ``by_regime[regime]`` (regimes of :func:`regime_masks`; empty ones left
      out): ``columns``, ``flux_mae_percent`` (see ``definitions``), ``lw_flux_mae_percent``,
      ``sw_flux_mae_percent``, ``lw_heating_rmse_K_day``, ``sw_heating_rmse_K_day`` — heating
      on the headline levels: above the lowest layer if ``exclude_lowest_layer``, else all levels.
    * ``definitions``, ``columns``, ``day_columns``, ``levels``, ``vertical_order``,
      ``headline_levels``.

    SW quantities use daytime columns only (night columns are 0 by construction); with no
    daytime columns they are left out (in the night regime ``flux_mae_percent`` is LW only).
    """
    variables = _check_pair(truth, pred)
    # One read of lazy (zarr/dask) data instead of one per regime; compute() leaves the caller's datasets lazy.
    descriptors = [*DESCRIPTORS, *([LATITUDE] if LATITUDE in truth else [])]
    truth, pred = truth[[*variables, *descriptors]].compute(), pred[list(variables)].compute()
    for ds in (truth, pred):
        check_finite(ds, variables)
    vertical = vertical_indices(truth)
    declared = pred.attrs.get("vertical_order", vertical.order)
    if declared != vertical.order:
        raise InputError(f"vertical_order attribute: {declared!r} in pred but {vertical.order!r} in truth")
    masks = regime_masks(truth)
    evaluation = _Evaluation(truth, pred, variables, vertical, masks["day"], exclude_lowest_layer)
    everything = np.ones(truth.sizes["column"], dtype=bool)
    return {
        "columns": int(truth.sizes["column"]),
        "day_columns": int(masks["day"].sum()),
        "levels": int(truth.sizes["level"]),
        "vertical_order": vertical.order,
        "headline_levels": "above_lowest_layer" if exclude_lowest_layer else "all_levels",
        "definitions": {
            "flux_mae_percent": FLUX_MAE_PERCENT_DEFINITION,
            "mae_percent": "100 * mean|pred - truth| / mean|truth| over all interfaces and columns "
            "(SW: daytime columns)",
            "bias": "mean(pred - truth)",
            "r2": R2_DEFINITION,
            "sw": "SW fluxes and heating rates over daytime columns (cos_solar_zenith_angle > 0) only",
        },
        "overall": evaluation.headline(everything),
        "fluxes": evaluation.fluxes(),
        "heating_rates": evaluation.heating_rates(),
        "by_regime": {name: evaluation.headline(mask) for name, mask in masks.items() if mask.any()},
    }


def _cell(value: float | None, width: int, decimals: int) -> str:
    return "-".rjust(width) if value is None else f"{value:{width}.{decimals}f}"


def metrics_table(metrics: dict) -> str:
    """The headline numbers of :func:`radiation_metrics` as a plain-text table (for the CLI)."""
    levels = metrics["headline_levels"].replace("_", " ")
    lines = [
        f"columns: {metrics['columns']} ({metrics['day_columns']} day)   levels: {metrics['levels']}   "
        f"{metrics['vertical_order']}   heating headline: {levels}",
        "",
        f"{'flux (SW: day only)':22s} {'MAE W/m2':>9s} {'MAE %':>7s} {'RMSE W/m2':>10s} "
        f"{'bias W/m2':>10s} {'R2':>8s}",
    ]
    for name, s in metrics["fluxes"].items():
        lines.append(
            f"{name:22s} {_cell(s['mae_W_m2'], 9, 3)} {_cell(s['mae_percent'], 7, 3)} "
            f"{_cell(s['rmse_W_m2'], 10, 3)} {_cell(s['bias_W_m2'], 10, 3)} {_cell(s['r2'], 8, 5)}"
        )
    lines += [
        "",
        f"{'heating rate, K/day':22s} {'RMSE>low':>9s} {'bias>low':>9s} {'R2>low':>8s} "
        f"{'RMSE low':>9s} {'bias low':>9s} {'Hellinger':>9s}",
    ]
    for name, s in metrics["heating_rates"].items():
        above, lowest = s["above_lowest_layer"], s["lowest_layer"]
        lines.append(
            f"{name:22s} {_cell(above['rmse_K_day'], 9, 4)} {_cell(above['bias_K_day'], 9, 4)} "
            f"{_cell(above['r2'], 8, 5)} {_cell(lowest['rmse_K_day'], 9, 3)} "
            f"{_cell(lowest['bias_K_day'], 9, 3)} {_cell(s['hellinger']['distance'], 9, 4)}"
        )
    lines += [
        "",
        f"{'regime':14s} {'columns':>8s} {'flux MAE %':>10s} {'LW MAE %':>9s} {'SW MAE %':>9s} "
        f"{'LW HR RMSE':>10s} {'SW HR RMSE':>10s}",
    ]
    for name, s in {"overall": metrics["overall"], **metrics["by_regime"]}.items():
        lines.append(
            f"{name:14s} {s['columns']:8d} {_cell(s.get('flux_mae_percent'), 10, 3)} "
            f"{_cell(s.get('lw_flux_mae_percent'), 9, 3)} {_cell(s.get('sw_flux_mae_percent'), 9, 3)} "
            f"{_cell(s.get('lw_heating_rmse_K_day'), 10, 4)} {_cell(s.get('sw_heating_rmse_K_day'), 10, 4)}"
        )
    lines += ["", f"flux MAE % = {metrics['definitions']['flux_mae_percent']}"]
    return "\n".join(lines)
