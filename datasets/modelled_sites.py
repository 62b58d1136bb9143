"""A modelled site list derived from real data, for regions without one.

No public site list exists for many regions (the sample region among them).
:func:`place_sites` derives a plausible one, deterministically, from a
population raster, a DEM and settlement points, placing masts the way
operators do. The result is *modelled*, not real; record it as such
(``sites_provenance = "modelled"`` with :data:`METHOD` as ``sites_method``)
and replace it by real data as soon as that exists.

The method, step by step:

1. **Land and region.** Masts go only where the DEM has data and is above
   0 m (SRTM's sea surface is 0 m), at least :data:`EDGE_MARGIN_KM` inside
   the DEM's edges. The region is the DEM's extent.
2. **Density classes** per population cell (people per km²), with the cell
   thresholds of the GHSL degree of urbanisation: urban >= 1500,
   suburban >= 300, rural below.
3. **Urban and suburban grid.** Each operator draws random candidate points
   in every urban and suburban cell (seeded), visits them from the densest
   cell down and keeps a candidate on land when no mast of its own lies
   closer than its inter-site distance (ISD) for that class
   (:data:`OPERATORS`). This gives the near-hexagonal layouts of real
   capacity-driven grids: dense in the city, thinning in the suburbs.
4. **Rural coverage.** Each operator then serves rural demand points in
   order of population: GeoNames settlements of at least its
   ``rural_min_settlement`` people, then rural cells of at least its
   ``rural_min_density``. A demand point already within ``rural_reach_km``
   of one of its masts is skipped; otherwise a mast goes on the highest land
   within :data:`HILLTOP_RADIUS_KM` (operators put rural towers on high
   ground near the villages they serve). Smaller demand than that is not
   served, which leaves the rural gaps real networks leave.
5. **Masts to transmitters.** Urban, suburban and large rural masts get
   three sectors 120° apart (random orientation) with 65° panels;
   rural masts serving fewer than :data:`SMALL_RURAL_PEOPLE` are omni.
   Heights, bands, EIRPs and tilts per class are in :data:`MAST_HEIGHT_M`,
   :data:`BAND_MHZ`, :data:`EIRP_DBM` and :data:`TILT_DEG`. Technologies:
   4G on every mast; 3G and 2G on a share of masts (2G on every rural
   mast, as the legacy voice layer); 5G only on urban masts, for a share
   that depends on the operator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the ``.rio`` accessor)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform
from rasterio.warp import transform_bounds

from covgap.datasets.sites import SITE_COLUMNS

#: One-line summary for a scenario's ``[metadata] sites_method``.
METHOD = (
    "Modelled with covgap.datasets.modelled_sites.place_sites (seed {seed}): three operators "
    "place masts on land by population density (WorldPop) at per-operator inter-site distances "
    "(urban >= 1500/km2, suburban >= 300/km2) and on the highest ground within 2 km of rural "
    "GeoNames settlements and rural population cells above per-operator thresholds, leaving "
    "smaller rural demand unserved; 3 x 65-degree sectors (omni for small rural masts), 4G on "
    "every mast, 2G/3G on a share, 5G on urban masts only. Not real site data."
)

#: Population density thresholds (people per km²) of the GHSL degree of urbanisation.
URBAN_DENSITY = 1500.0
SUBURBAN_DENSITY = 300.0
#: Masts stay this far (km) inside the DEM's edges, so that they also lie on
#: an analysis grid inscribed in the DEM in another projection.
EDGE_MARGIN_KM = 0.5
#: Radius (km) searched around a rural demand point for the highest ground.
HILLTOP_RADIUS_KM = 2.0
#: Rural masts serving fewer people than this are omni.
SMALL_RURAL_PEOPLE = 3000.0
#: Random candidate points per urban / suburban population cell and operator,
#: per mast the cell could hold at the class's ISD.
CANDIDATES_PER_MAST = 3

#: Antenna height above ground (m): uniform range per class (rooftop poles on
#: 6-10 storey buildings in the city, towers outside); all within Okumura-Hata's
#: 30-200 m base-station height range.
MAST_HEIGHT_M: dict[str, tuple[float, float]] = {
    "urban": (30.0, 40.0),
    "suburban": (30.0, 45.0),
    "rural": (35.0, 50.0),
}
#: Carrier frequency (MHz) per technology and class (low band for rural 4G reach).
BAND_MHZ: dict[tuple[str, str], float] = {
    ("2G", "urban"): 900.0,
    ("2G", "suburban"): 900.0,
    ("2G", "rural"): 900.0,
    ("3G", "urban"): 2100.0,
    ("3G", "suburban"): 2100.0,
    ("3G", "rural"): 2100.0,
    ("4G", "urban"): 1800.0,
    ("4G", "suburban"): 1800.0,
    ("4G", "rural"): 900.0,
    ("5G", "urban"): 3500.0,
}
#: Total main-beam EIRP (dBm) per technology and antenna: transmitter power +
#: antenna gain - feeder loss (sector panels 17-18 dBi, omni 11 dBi, 3 dB
#: feeder; 5G a 64T64R active antenna, 200 W with 24 dBi beam gain).
EIRP_DBM: dict[tuple[str, str], float] = {
    ("2G", "sector"): 57.0,
    ("2G", "omni"): 51.0,  # 20 W per TRX
    ("3G", "sector"): 58.0,
    ("3G", "omni"): 51.0,  # 20 W
    ("4G", "sector"): 61.0,
    ("4G", "omni"): 54.0,  # 40 W (20 MHz)
    ("5G", "sector"): 76.0,  # 200 W (100 MHz)
}
#: Horizontal 3 dB beamwidth (deg) of the sector panels.
SECTOR_BEAMWIDTH_DEG = 65.0
#: Downtilt (deg) of sector antennas per class; omni antennas have 0.
TILT_DEG: dict[str, float] = {"urban": 6.0, "suburban": 4.0, "rural": 2.0}
#: Share of masts that carry 2G and 3G, per class (4G is on every mast).
LEGACY_SHARE: dict[tuple[str, str], float] = {
    ("2G", "urban"): 0.5,
    ("2G", "suburban"): 0.8,
    ("2G", "rural"): 1.0,
    ("3G", "urban"): 0.7,
    ("3G", "suburban"): 0.7,
    ("3G", "rural"): 0.5,
}
_CLASSES = ("urban", "suburban", "rural")


@dataclass(frozen=True)
class OperatorProfile:
    """How one operator builds its network.

    Attributes
    ----------
    name : str
        Operator name in the site table.
    code : str
        Prefix of its site ids.
    urban_isd_km, suburban_isd_km : float
        Inter-site distance (km) in urban and suburban cells.
    rural_reach_km : float
        A rural demand point this close to one of its masts counts as served.
    rural_min_settlement : float
        Smallest settlement (people) it builds a rural mast for.
    rural_min_density : float
        Smallest rural cell density (people per km²) it builds a mast for.
    share_5g : float
        Share of its urban masts with 5G.
    """

    name: str
    code: str
    urban_isd_km: float
    suburban_isd_km: float
    rural_reach_km: float
    rural_min_settlement: float
    rural_min_density: float
    share_5g: float


#: The three operators: a market leader with the widest rural footprint,
#: a challenger, and a small urban-focused third operator.
OPERATORS: tuple[OperatorProfile, ...] = (
    OperatorProfile("Operator A", "A", 1.0, 2.5, 5.0, 1000.0, 150.0, 0.5),
    OperatorProfile("Operator B", "B", 1.2, 3.0, 6.0, 3000.0, 250.0, 0.35),
    OperatorProfile("Operator C", "C", 1.5, 4.0, 8.0, 10000.0, math.inf, 0.2),
)


def _centres(
    transform: Affine, cols: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates of a north-up grid (no rotation)."""
    return transform.c + transform.a * (cols + 0.5), transform.f + transform.e * (rows + 0.5)


class _Terrain:
    """Nearest-cell DEM lookups by longitude/latitude."""

    def __init__(self, dem: xr.DataArray) -> None:
        self.crs = dem.rio.crs
        self.transform = t = dem.rio.transform()
        values = np.array(dem.values, dtype=np.float64)
        if self.crs.is_geographic:
            lat = math.radians(float(dem.y.mean()))
            cell_w_km, cell_h_km = abs(t.a) * 111.320 * math.cos(lat), abs(t.e) * 110.574
        else:
            cell_w_km, cell_h_km = abs(t.a) / 1000.0, abs(t.e) / 1000.0
        mr = min(math.ceil(EDGE_MARGIN_KM / cell_h_km), values.shape[0] // 2)
        mc = min(math.ceil(EDGE_MARGIN_KM / cell_w_km), values.shape[1] // 2)
        values[:mr] = values[values.shape[0] - mr :] = np.nan
        values[:, :mc] = values[:, values.shape[1] - mc :] = np.nan
        self.values = values

    def _rowcol(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = warp_transform(CRS.from_epsg(4326), self.crs, list(lon), list(lat))
        t = self.transform
        cols = (np.asarray(xs) - t.c) / t.a
        rows = (np.asarray(ys) - t.f) / t.e
        return np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)

    def land(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True where the DEM has data above 0 m."""
        rows, cols = self._rowcol(np.atleast_1d(lon), np.atleast_1d(lat))
        h, w = self.values.shape
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        elev = np.full(rows.shape, np.nan)
        elev[inside] = self.values[rows[inside], cols[inside]]
        return np.nan_to_num(elev, nan=0.0) > 0.0

    def hilltop(self, lon: float, lat: float, radius_km: float) -> tuple[float, float] | None:
        """Return (lon, lat) of the highest land within *radius_km*, or None."""
        dlat = radius_km / 110.574
        dlon = radius_km / (111.320 * math.cos(math.radians(lat)))
        ring = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        lons = np.concatenate([[lon], lon + dlon * np.cos(ring)])
        lats = np.concatenate([[lat], lat + dlat * np.sin(ring)])
        rows, cols = self._rowcol(lons, lats)
        h, w = self.values.shape
        r0, r1 = max(rows.min(), 0), min(rows.max() + 1, h)
        c0, c1 = max(cols.min(), 0), min(cols.max() + 1, w)
        if r0 >= r1 or c0 >= c1:
            return None
        rr, cc = np.mgrid[r0:r1, c0:c1]
        xs, ys = _centres(self.transform, cc, rr)
        plon, plat = warp_transform(
            self.crs, CRS.from_epsg(4326), list(np.ravel(xs)), list(np.ravel(ys))
        )
        plon = np.asarray(plon).reshape(rr.shape)
        plat = np.asarray(plat).reshape(rr.shape)
        dist_km = np.hypot(
            (plon - lon) * 111.320 * math.cos(math.radians(lat)), (plat - lat) * 110.574
        )
        elev = np.where(dist_km <= radius_km, self.values[r0:r1, c0:c1], np.nan)
        elev = np.where(elev > 0, elev, np.nan)
        if np.isnan(elev).all():
            return None
        best = np.unravel_index(int(np.nanargmax(elev)), elev.shape)
        return float(plon[best]), float(plat[best])


class _Mast(NamedTuple):
    lon: float
    lat: float
    cls: str  # "urban", "suburban" or "rural"
    people: float  # people the mast was placed for


class _Masts:
    """One operator's masts, with a grid hash for nearest-distance queries."""

    def __init__(self, origin_lat: float) -> None:
        self.kx = 111.320 * math.cos(math.radians(origin_lat))
        self.records: list[_Mast] = []
        self.buckets: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def _km(self, lon: float, lat: float) -> tuple[float, float]:
        return lon * self.kx, lat * 110.574

    def clear_of(self, lon: float, lat: float, distance_km: float) -> bool:
        """True when no mast lies closer than *distance_km*."""
        x, y = self._km(lon, lat)
        reach = int(math.ceil(distance_km))
        bx, by = int(math.floor(x)), int(math.floor(y))
        for i in range(bx - reach, bx + reach + 1):
            for j in range(by - reach, by + reach + 1):
                for mx, my in self.buckets.get((i, j), ()):
                    if math.hypot(mx - x, my - y) < distance_km:
                        return False
        return True

    def add(self, lon: float, lat: float, cls: str, people: float) -> None:
        x, y = self._km(lon, lat)
        self.buckets.setdefault((int(math.floor(x)), int(math.floor(y))), []).append((x, y))
        self.records.append(_Mast(lon, lat, cls, people))


def _population_cells(population: xr.DataArray) -> pd.DataFrame:
    """Populated cells: centre lon/lat, half-sizes in degrees, area, density, people."""
    pop = np.asarray(population.values, dtype=np.float64)
    transform = population.rio.transform()
    rows, cols = np.nonzero(np.isfinite(pop) & (pop > 0))
    xs, ys = _centres(transform, cols, rows)
    crs = population.rio.crs
    if rows.size:
        lon, lat = (np.asarray(v) for v in warp_transform(crs, CRS.from_epsg(4326), xs, ys))
    else:
        lon, lat = xs, ys
    if crs.is_geographic:
        half_lon = np.full(lon.shape, abs(transform.a) / 2)
        half_lat = np.full(lat.shape, abs(transform.e) / 2)
        area = (2 * half_lon * 111.320 * np.cos(np.radians(lat))) * (2 * half_lat * 110.574)
    else:
        area = np.full(lon.shape, abs(transform.a * transform.e) / 1e6)
        half_lat = np.sqrt(area) / 2 / 110.574
        half_lon = half_lat * 110.574 / (111.320 * np.cos(np.radians(lat)))
    people = pop[rows, cols]
    density = people / area
    cls = np.where(
        density >= URBAN_DENSITY,
        "urban",
        np.where(density >= SUBURBAN_DENSITY, "suburban", "rural"),
    )
    return pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "half_lon": half_lon,
            "half_lat": half_lat,
            "area_km2": area,
            "people": people,
            "density": density,
            "cls": cls,
        }
    )


def _grid_masts(
    op: OperatorProfile,
    cells: pd.DataFrame,
    terrain: _Terrain,
    masts: _Masts,
    rng: np.random.Generator,
) -> None:
    """Step 3: capacity grid in urban and suburban cells."""
    dense = cells[cells.cls != "rural"].sort_values("density", ascending=False, kind="stable")
    isd = np.where(dense.cls == "urban", op.urban_isd_km, op.suburban_isd_km)
    counts = CANDIDATES_PER_MAST * np.ceil(dense.area_km2.to_numpy() / isd**2).astype(np.int64)
    idx = np.repeat(np.arange(len(dense)), counts)
    lon = dense.lon.to_numpy()[idx] + rng.uniform(-1, 1, idx.size) * dense.half_lon.to_numpy()[idx]
    lat = dense.lat.to_numpy()[idx] + rng.uniform(-1, 1, idx.size) * dense.half_lat.to_numpy()[idx]
    on_land = terrain.land(lon, lat) if idx.size else np.zeros(0, bool)
    cls = dense.cls.to_numpy()[idx]
    people = (dense.people.to_numpy() / counts)[idx]
    for k in np.flatnonzero(on_land):
        if masts.clear_of(lon[k], lat[k], float(isd[idx[k]])):
            masts.add(float(lon[k]), float(lat[k]), str(cls[k]), float(people[k]))


def _rural_masts(
    op: OperatorProfile,
    cells: pd.DataFrame,
    settlements: pd.DataFrame,
    terrain: _Terrain,
    masts: _Masts,
) -> None:
    """Step 4: hilltop masts near rural demand."""
    towns = settlements[settlements.population >= op.rural_min_settlement]
    towns = towns.sort_values("population", ascending=False, kind="stable")
    rural = cells[(cells.cls == "rural") & (cells.density >= op.rural_min_density)]
    rural = rural.sort_values("people", ascending=False, kind="stable")
    demand = list(zip(towns.lon, towns.lat, towns.population, strict=True))
    demand += list(zip(rural.lon, rural.lat, rural.people, strict=True))
    for lon, lat, people in demand:
        if not terrain.land(np.array([lon]), np.array([lat]))[0]:
            continue
        if not masts.clear_of(lon, lat, op.rural_reach_km):
            continue
        top = terrain.hilltop(lon, lat, HILLTOP_RADIUS_KM)
        if top is not None:
            masts.add(top[0], top[1], "rural", float(people))


def _transmitters(
    op: OperatorProfile, masts: _Masts, rng: np.random.Generator
) -> list[dict[str, object]]:
    """Step 5: sectors, technologies, heights and powers of each mast."""
    rows: list[dict[str, object]] = []
    numbers = dict.fromkeys(_CLASSES, 0)
    for mast in masts.records:
        cls = mast.cls
        numbers[cls] += 1
        site_id = f"{op.code}-{cls[0].upper()}{numbers[cls]:03d}"
        low, high = MAST_HEIGHT_M[cls]
        height = float(round(rng.uniform(low, high)))
        omni = cls == "rural" and mast.people < SMALL_RURAL_PEOPLE
        first = float(round(rng.uniform(0, 120)))
        azimuths = [math.nan] if omni else [first, first + 120.0, first + 240.0]
        draws = rng.uniform(size=3)
        techs = ["4G"]
        if draws[0] < LEGACY_SHARE[("2G", cls)]:
            techs.append("2G")
        if draws[1] < LEGACY_SHARE[("3G", cls)]:
            techs.append("3G")
        if cls == "urban" and draws[2] < op.share_5g:
            techs.append("5G")
        for tech in sorted(techs):
            for azimuth in azimuths:
                rows.append(
                    {
                        "site_id": site_id,
                        "operator": op.name,
                        "lon": round(mast.lon, 6),
                        "lat": round(mast.lat, 6),
                        "height_m": height,
                        "tech": tech,
                        "freq_mhz": BAND_MHZ[(tech, cls)],
                        "eirp_dbm": EIRP_DBM[(tech, "omni" if omni else "sector")],
                        "azimuth_deg": azimuth,
                        "beamwidth_deg": math.nan if omni else SECTOR_BEAMWIDTH_DEG,
                        "tilt_deg": 0.0 if omni else TILT_DEG[cls],
                        "model": "",
                    }
                )
    return rows


def place_sites(
    population: xr.DataArray,
    dem: xr.DataArray,
    settlements: pd.DataFrame,
    *,
    seed: int = 2020,
    operators: tuple[OperatorProfile, ...] = OPERATORS,
) -> pd.DataFrame:
    """Derive a modelled site list from population, terrain and settlements.

    Deterministic: the same inputs and *seed* give the same table. Works for
    any region and CRS; masts are placed only inside the DEM on land.

    Parameters
    ----------
    population : xarray.DataArray
        People per cell (as :func:`covgap.datasets.read_population` returns),
        with a CRS; NaN = nodata.
    dem : xarray.DataArray
        Elevation in metres with a CRS (as
        :func:`covgap.datasets.read_dem` returns); defines the region.
    settlements : pandas.DataFrame
        Columns ``lon``, ``lat`` (WGS84) and ``population`` (people), e.g.
        from :func:`covgap.datasets.read_settlements`.
    seed : int
        Seed of the random generator (candidate points, heights, sector
        orientation, technology draws).
    operators : tuple of OperatorProfile
        The operators to build; default :data:`OPERATORS`.

    Returns
    -------
    pandas.DataFrame
        The site table (columns :data:`covgap.datasets.sites.SITE_COLUMNS`),
        one row per sector and technology, sorted by operator and site id.

    Examples
    --------
    >>> from covgap.datasets import read_dem, read_population, read_settlements, sample_region
    >>> region = sample_region()
    >>> sites = place_sites(read_population(region.population), read_dem(region.dem),
    ...                     read_settlements(region.settlements), seed=2020)
    >>> sorted(sites.tech.unique())
    ['2G', '3G', '4G', '5G']
    """
    rng = np.random.default_rng(seed)
    terrain = _Terrain(dem)
    west, south, east, north = transform_bounds(dem.rio.crs, CRS.from_epsg(4326), *dem.rio.bounds())
    cells = _population_cells(population)
    cells = cells[
        (cells.lon >= west) & (cells.lon <= east) & (cells.lat >= south) & (cells.lat <= north)
    ]
    rows: list[dict[str, object]] = []
    for op in operators:
        masts = _Masts((south + north) / 2)
        _grid_masts(op, cells, terrain, masts, rng)
        _rural_masts(op, cells, settlements, terrain, masts)
        rows.extend(_transmitters(op, masts, rng))
    frame = pd.DataFrame(rows, columns=list(SITE_COLUMNS))
    frame = frame.sort_values(["operator", "site_id", "tech", "azimuth_deg"], kind="stable")
    frame = frame.reset_index(drop=True)
    for col in ("site_id", "operator", "tech", "model"):
        frame[col] = frame[col].astype(str)
    return frame
