"""Degree of Urbanisation (UN/Eurostat) classes on the analysis grid.

The method classifies a 1 km² population grid into urban centres, urban
clusters and rural cells (stage 1 of the Degree of Urbanisation, as
endorsed by the UN Statistical Commission in 2020):

* **urban centre** (high-density cluster): 4-connected 1 km cells with at
  least 1,500 inhabitants per km², whose cluster holds at least 50,000
  people; then each centre's gaps are filled: holes smaller than 15 km²
  are filled and a cell with at least 5 of its 8 neighbours in the centre
  joins it, both repeated until nothing changes;
* **urban cluster** (moderate-density cluster): 8-connected 1 km cells
  with at least 300 inhabitants per km² (urban-centre cells included),
  whose cluster holds at least 5,000 people; its cells outside urban
  centres get this class;
* **rural**: every other cell.

The analysis grid is aggregated onto the 1 km lattice of its own CRS
(cell edges at whole multiples of 1,000 m, like the GHSL grid), by exact
area weighting: each analysis cell gives each 1 km cell the share of its
population equal to the share of its area inside it, which conserves the
total for any resolution and alignment. Density is people per full km²; a
1 km cell cut by the edge of the grid counts the part outside as empty.
Each analysis cell then takes the class of the 1 km cell holding its
centre.

No land mask is applied: density is per km² of total, not permanent land,
area.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sp
import xarray as xr

from covgap.errors import GridError

__all__ = [
    "RURAL",
    "URBAN_CLUSTER",
    "URBAN_CENTRE",
    "URBANISATION_FLAGS",
    "aggregate_1km",
    "classify_1km",
    "degree_of_urbanisation",
]

#: Class codes, as stored in the ``urbanisation`` layer (uint8).
RURAL = 1
URBAN_CLUSTER = 2
URBAN_CENTRE = 3

#: Code -> CF flag meaning, in code order.
URBANISATION_FLAGS: dict[int, str] = {RURAL: "rural", URBAN_CLUSTER: "urban_cluster", URBAN_CENTRE: "urban_centre"}

KM_M = 1000.0
CENTRE_DENSITY_PER_KM2 = 1500.0
CENTRE_MIN_POPULATION = 50_000.0
CLUSTER_DENSITY_PER_KM2 = 300.0
CLUSTER_MIN_POPULATION = 5_000.0
MAX_HOLE_KM2 = 15
MAJORITY_NEIGHBOURS = 5

# Relative slack on the thresholds so that area weighting's float round-off
# (1499.9999999 for an exact 1500) does not flip a class.
_REL_TOL = 1e-9

_FOUR = ndi.generate_binary_structure(2, 1)
_EIGHT = ndi.generate_binary_structure(2, 2)
_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.int32)


def _at_least(values: np.ndarray, threshold: float) -> np.ndarray:
    return values >= threshold * (1.0 - _REL_TOL)


def _overlap_matrix(start: float, res: float, n: int, km_start: int, n_km: int) -> sp.csr_matrix:
    """Fraction of each of ``n`` cells ``[start + i*res, +res)`` inside each 1 km cell.

    The 1 km cells are ``[(km_start + k) * 1000, +1000)``. Returns a sparse
    ``(n_km, n)`` matrix whose columns sum to 1.
    """
    edges = start + np.arange(n, dtype=np.float64) * res
    first = np.floor(edges / KM_M).astype(np.int64)
    rows, cols, vals = [], [], []
    for offset in range(int(math.ceil(res / KM_M)) + 1):
        k = first + offset
        lo = np.maximum(edges, k * KM_M)
        hi = np.minimum(edges + res, (k + 1) * KM_M)
        frac = (hi - lo) / res
        ok = frac > 1e-9
        rows.append(k[ok] - km_start)
        cols.append(np.nonzero(ok)[0])
        vals.append(frac[ok])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_km, n))


def _axes(da: xr.DataArray) -> tuple[float, float, float, int, int, int, int]:
    """``(res, u0_x, u0_y, kx0, ky0, nkx, nky)`` of the grid's 1 km lattice.

    Works in ``u = x`` along columns and ``u = -y`` along rows, so that both
    axes grow with the array index.
    """
    if da.dims != ("y", "x"):
        raise GridError(f"population must have dims ('y', 'x'), got {da.dims}; use DataArray.transpose('y', 'x')")
    transform = da.rio.transform()
    if transform.b != 0.0 or transform.d != 0.0 or transform.e >= 0.0:
        raise GridError(
            f"population grid must be north-up (no rotation, y descending); transform is {tuple(transform)}"
        )
    res = float(transform.a)
    if not math.isclose(res, -float(transform.e), rel_tol=1e-9):
        raise GridError(f"population grid cells must be square, got {res} x {-transform.e} m")
    crs = da.rio.crs
    if crs is not None and not crs.is_projected:
        raise GridError(f"population grid CRS {crs.to_string()} must be projected in metres (for example a UTM zone)")
    height, width = da.shape
    ux0, uy0 = float(transform.c), -float(transform.f)
    kx0 = int(math.floor(ux0 / KM_M + 1e-9))
    ky0 = int(math.floor(uy0 / KM_M + 1e-9))
    nkx = int(math.ceil((ux0 + width * res) / KM_M - 1e-9)) - kx0
    nky = int(math.ceil((uy0 + height * res) / KM_M - 1e-9)) - ky0
    return res, ux0, uy0, kx0, ky0, nkx, nky


def aggregate_1km(population: xr.DataArray) -> xr.DataArray:
    """Sum a population grid onto the 1 km lattice of its CRS.

    Parameters
    ----------
    population : xr.DataArray
        People per cell, dims ``(y, x)``, on a north-up grid with square
        cells in a metric CRS (any resolution and alignment). NaN counts
        as 0.

    Returns
    -------
    xr.DataArray
        float64 people per 1 km cell (= inhabitants per km²), dims
        ``(y, x)`` with cell-centre coordinates on whole-kilometre cell
        edges, CRS as the input. Its sum equals the input's (area
        weighting conserves totals).

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from covgap.grid import AnalysisGrid
    >>> grid = AnalysisGrid("EPSG:32649", Affine(500.0, 0, 0.0, 0, -500.0, 2000.0), 4, 4)
    >>> pop = grid.dataarray(np.ones((4, 4), np.float32), "population", "people", "Population")
    >>> aggregate_1km(pop).values
    array([[4., 4.],
           [4., 4.]])
    """
    res, ux0, uy0, kx0, ky0, nkx, nky = _axes(population)
    height, width = population.shape
    values = np.nan_to_num(np.asarray(population.values, dtype=np.float64), nan=0.0)
    wx = _overlap_matrix(ux0, res, width, kx0, nkx)
    wy = _overlap_matrix(uy0, res, height, ky0, nky)
    km = np.asarray((wx @ (wy @ values).T).T)
    x = (kx0 + np.arange(nkx) + 0.5) * KM_M
    y = -(ky0 + np.arange(nky) + 0.5) * KM_M
    out = xr.DataArray(km, dims=("y", "x"), coords={"y": y, "x": x}, name="population_1km")
    out.attrs.update({"units": "people km-2", "long_name": "Population per 1 km cell (inhabitants per km2)"})
    if population.rio.crs is not None:
        out = out.rio.write_crs(population.rio.crs)
    return out


def _grow_box(box: tuple[slice, slice], shape: tuple[int, int], pad: int) -> tuple[slice, slice]:
    (rows, cols), (height, width) = box, shape
    return slice(max(rows.start - pad, 0), min(rows.stop + pad, height)), slice(
        max(cols.start - pad, 0), min(cols.stop + pad, width)
    )


def _gap_fill(labels: np.ndarray, max_hole_cells: int, majority: int) -> None:
    """Fill holes and apply the majority rule to each labelled centre, in place.

    ``labels`` holds 0 outside centres and ``1..n`` inside. Repeats until no
    cell changes. Only cells outside every centre are ever added.
    """
    changed = True
    while changed:
        changed = False
        for index, box in enumerate(ndi.find_objects(labels)):
            if box is None:
                continue
            cid = index + 1
            # Majority rule, iterated: the window grows by one cell a pass.
            while True:
                win = _grow_box(box, labels.shape, 1)
                sub = labels[win]
                count = ndi.convolve((sub == cid).astype(np.int32), _RING, mode="constant", cval=0)
                add = (count >= majority) & (sub == 0)
                if not add.any():
                    break
                sub[add] = cid
                changed = True
                box = win
            # Holes: background components not 4-connected to the outside.
            sub = labels[_grow_box(box, labels.shape, 1)]
            mask = sub == cid
            holes = ndi.binary_fill_holes(mask) & ~mask
            if holes.any():
                hole_lab, n_holes = ndi.label(holes, structure=_FOUR)
                sizes = np.bincount(hole_lab.ravel(), minlength=n_holes + 1)
                small = (sizes < max_hole_cells) & (np.arange(n_holes + 1) > 0)
                fill = small[hole_lab] & (sub == 0)
                if fill.any():
                    sub[fill] = cid
                    changed = True


def classify_1km(
    population_1km: np.ndarray,
    *,
    centre_density: float = CENTRE_DENSITY_PER_KM2,
    centre_population: float = CENTRE_MIN_POPULATION,
    cluster_density: float = CLUSTER_DENSITY_PER_KM2,
    cluster_population: float = CLUSTER_MIN_POPULATION,
    max_hole_km2: int = MAX_HOLE_KM2,
    majority: int = MAJORITY_NEIGHBOURS,
) -> np.ndarray:
    """Degree of Urbanisation classes of a 1 km² population grid.

    Parameters
    ----------
    population_1km : np.ndarray
        ``(rows, cols)`` people per 1 km² cell; NaN counts as 0.
    centre_density, centre_population : float
        Urban centre thresholds: people per km² of each cell (4-connected
        cells) and people in the whole cluster (defaults 1,500 and 50,000).
    cluster_density, cluster_population : float
        Urban cluster thresholds (8-connected cells; defaults 300 and
        5,000).
    max_hole_km2 : int
        Holes in an urban centre smaller than this many km² are filled
        (default 15).
    majority : int
        A cell with at least this many of its 8 neighbours in one urban
        centre joins it (default 5); repeated until stable.

    Returns
    -------
    np.ndarray
        uint8 classes, same shape: 1 rural, 2 urban cluster, 3 urban centre.
    """
    pop = np.nan_to_num(np.asarray(population_1km, dtype=np.float64), nan=0.0)
    if pop.ndim != 2:
        raise ValueError(f"population_1km must be 2-D, got shape {pop.shape}")

    dense, n_dense = ndi.label(_at_least(pop, centre_density), structure=_FOUR)
    dense_pop = ndi.sum_labels(pop, dense, index=np.arange(n_dense + 1))
    keep = _at_least(dense_pop, centre_population)
    keep[0] = False
    relabel = np.zeros(n_dense + 1, dtype=np.int32)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1)
    centres = relabel[dense]
    _gap_fill(centres, max_hole_km2, majority)
    in_centre = centres > 0

    moderate, n_moderate = ndi.label(_at_least(pop, cluster_density) | in_centre, structure=_EIGHT)
    moderate_pop = ndi.sum_labels(pop, moderate, index=np.arange(n_moderate + 1))
    keep_cluster = _at_least(moderate_pop, cluster_population)
    keep_cluster[0] = False

    classes = np.full(pop.shape, RURAL, dtype=np.uint8)
    classes[keep_cluster[moderate]] = URBAN_CLUSTER
    classes[in_centre] = URBAN_CENTRE
    return classes


def degree_of_urbanisation(population: xr.DataArray, *, name: str = "urbanisation") -> xr.DataArray:
    """Degree of Urbanisation class of every analysis-grid cell.

    Parameters
    ----------
    population : xr.DataArray
        People per cell on the analysis grid (dims ``(y, x)``, north-up,
        square cells, metric CRS written with rioxarray). NaN counts as 0.
    name : str
        Name of the returned DataArray.

    Returns
    -------
    xr.DataArray
        uint8 on the same grid (coords and CRS kept): 1 rural, 2 urban
        cluster, 3 urban centre, with CF ``flag_values``/``flag_meanings``,
        ``units`` and ``long_name``. The class of a cell is that of the
        1 km cell of the CRS's kilometre lattice holding its centre.

    Raises
    ------
    covgap.errors.GridError
        If the grid is not north-up with square cells in a projected CRS.
    """
    res, ux0, uy0, kx0, ky0, _, _ = _axes(population)
    km_classes = classify_1km(aggregate_1km(population).values)
    height, width = population.shape
    col_km = np.floor((ux0 + (np.arange(width) + 0.5) * res) / KM_M).astype(np.int64) - kx0
    row_km = np.floor((uy0 + (np.arange(height) + 0.5) * res) / KM_M).astype(np.int64) - ky0
    values = km_classes[np.ix_(row_km, col_km)]
    out = xr.DataArray(values, dims=("y", "x"), coords=population.coords, name=name)
    out.attrs.update(
        {
            "units": "1",
            "long_name": "Degree of Urbanisation class (UN/Eurostat, 1 km grid)",
            "flag_values": np.array(list(URBANISATION_FLAGS), dtype=np.uint8),
            "flag_meanings": " ".join(URBANISATION_FLAGS.values()),
        }
    )
    return out
