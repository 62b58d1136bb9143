"""ITU-style coverage indicators, whole and broken down, in whole people.

Population is rounded to whole people **once**, cell by cell, before any
sum (:func:`integer_population`); every figure is then a sum of those
integers, so in every breakdown covered + uncovered = total exactly, and
the zones of a breakdown add up to the total exactly.

"Covered by at least 3G" means covered by 3G, 4G or 5G (the ITU
definition of the "population covered by at least a 3G mobile network");
"at least 2G" means any mobile service.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import rasterio.features
import xarray as xr
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.warp import transform_geom

from covgap.errors import GridError, InputFileError, InputValueError
from covgap.grid import AnalysisGrid
from covgap.types import TECHNOLOGIES
from covgap.urbanisation import RURAL, URBAN_CENTRE, URBAN_CLUSTER, degree_of_urbanisation

__all__ = [
    "ALL_OPERATORS",
    "INDICATOR_SCHEMA",
    "ROW_FIELDS",
    "AdminAreas",
    "indicators",
    "indicators_rows",
    "integer_population",
    "rasterize_areas",
    "read_boundaries",
]

#: Version tag of the indicator dictionary's layout.
INDICATOR_SCHEMA = "covgap.indicators/1"

#: Key of the group that counts a cell covered when any operator covers it.
ALL_OPERATORS = "all_operators"

#: Columns of :func:`indicators_rows`, in order.
ROW_FIELDS: tuple[str, ...] = (
    "operators",
    "breakdown",
    "zone",
    "measure",
    "technology",
    "population",
    "covered_population",
    "uncovered_population",
    "covered_pct",
    "difference_pct_points",
    "compared_with",
)

#: Urbanisation zones reported, and the classes each one holds.
URBANISATION_ZONES: dict[str, tuple[int, ...]] = {
    "urban_centre": (URBAN_CENTRE,),
    "urban_cluster": (URBAN_CLUSTER,),
    "urban": (URBAN_CENTRE, URBAN_CLUSTER),
    "rural": (RURAL,),
}

_PCT_DIGITS = 4

# Every cell's coverage is a combination c of technologies: bit i set when
# TECHNOLOGIES[i] covers it (0..15). _HAS[i, c]: c includes TECHNOLOGIES[i];
# _AT_LEAST[i, c]: c includes TECHNOLOGIES[i] or a newer generation.
_N_COMBOS = 2 ** len(TECHNOLOGIES)
_HAS = (np.arange(_N_COMBOS)[None, :] >> np.arange(len(TECHNOLOGIES))[:, None]) & 1 == 1
_AT_LEAST = np.flip(np.logical_or.accumulate(np.flip(_HAS, axis=0), axis=0), axis=0)


def integer_population(population: xr.DataArray | np.ndarray) -> np.ndarray:
    """Whole people per cell, rounded once so that the total is kept.

    Cumulative (systematic) rounding in row-major order: cell ``i`` gets
    ``round(C[i]) - round(C[i-1])`` people, where ``C`` is the running sum
    of the float population. Each cell gets the floor or the ceiling of its
    value, the grand total is the rounded float total, and fractional
    people (0.3 per cell in a sparse area) are spread evenly along the
    rows rather than all lost or all kept.

    Parameters
    ----------
    population : xr.DataArray or np.ndarray
        People per cell, ``(y, x)``; NaN and negative values count as 0.

    Returns
    -------
    np.ndarray
        int64, same shape.

    Examples
    --------
    >>> integer_population(np.array([[0.3, 0.3, 0.3, 0.3], [2.5, 0.0, 1.0, 0.4]])).tolist()
    [[0, 1, 0, 0], [3, 0, 1, 0]]
    """
    values = np.asarray(population.values if isinstance(population, xr.DataArray) else population, dtype=np.float64)
    values = np.clip(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
    rounded = np.floor(np.cumsum(values.ravel()) + 0.5).astype(np.int64)
    return np.diff(rounded, prepend=0).reshape(values.shape)


# ---------------------------------------------------------------- boundaries


@dataclass(frozen=True)
class AdminAreas:
    """Administrative areas rasterized onto the analysis grid.

    Attributes
    ----------
    codes : xr.DataArray
        int32 ``(y, x)``: 0 outside every area, ``k`` inside ``names[k - 1]``.
    names : tuple of str
        Area names, in order of first appearance in the file.
    """

    codes: xr.DataArray
    names: tuple[str, ...]


def _geojson_crs(doc: Mapping[str, Any], path: Path) -> CRS:
    crs = doc.get("crs")
    if not crs:
        return CRS.from_epsg(4326)  # RFC 7946
    try:
        return CRS.from_user_input(crs["properties"]["name"])
    except Exception as exc:
        raise InputValueError(f"{path}: the 'crs' member {crs!r} is not a CRS rasterio understands: {exc}") from None


def _geojson_features(path: Path) -> tuple[list[tuple[dict[str, Any], dict[str, Any] | None]], CRS]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: not valid GeoJSON (JSON error at line {exc.lineno}: {exc.msg})") from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "FeatureCollection":
        features = doc.get("features", [])
    elif kind == "Feature":
        features = [doc]
    else:
        raise InputFileError(f"{path}: expected a GeoJSON FeatureCollection or Feature, got type {kind!r}")
    return [(f.get("properties") or {}, f.get("geometry")) for f in features], _geojson_crs(doc, path)


def _wkb_geometry(blob: bytes) -> dict[str, Any]:
    """Parse (ISO or EWKB-flagged) WKB polygons and multipolygons to GeoJSON."""
    offset = 0

    def read(fmt: str) -> tuple[Any, ...]:
        nonlocal offset
        out = struct.unpack_from(fmt, blob, offset)
        offset += struct.calcsize(fmt)
        return out

    def geometry() -> tuple[int, Any]:
        (byte_order,) = read("B")
        end = "<" if byte_order == 1 else ">"
        (code,) = read(end + "I")
        dims = 2 + bool(code & 0x80000000) + bool(code & 0x40000000)
        code &= 0x0FFFFFFF
        dims += {0: 0, 1: 1, 2: 1, 3: 2}[code // 1000]
        base = code % 1000

        def ring() -> list[list[float]]:
            (n,) = read(end + "I")
            flat = read(end + "d" * (n * dims))
            return [[flat[i * dims], flat[i * dims + 1]] for i in range(n)]

        if base == 3:
            (n_rings,) = read(end + "I")
            return base, [ring() for _ in range(n_rings)]
        if base == 6:
            (n_polys,) = read(end + "I")
            polys = []
            for _ in range(n_polys):
                sub_base, rings = geometry()
                if sub_base != 3:
                    raise ValueError(f"a MultiPolygon member has WKB type {sub_base}")
                polys.append(rings)
            return base, polys
        raise ValueError(f"WKB geometry type {base} is not a Polygon (3) or MultiPolygon (6)")

    base, coords = geometry()
    return {"type": "Polygon" if base == 3 else "MultiPolygon", "coordinates": coords}


def _gpkg_geometry(blob: bytes) -> dict[str, Any] | None:
    if blob is None:
        return None
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob (no 'GP' magic)")
    flags = blob[3]
    if flags & 0b10000:  # empty geometry
        return None
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags >> 1) & 0b111]
    return _wkb_geometry(blob[8 + envelope :])


def _gpkg_features(path: Path, layer: str | None) -> tuple[list[tuple[dict[str, Any], dict[str, Any] | None]], CRS]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InputFileError(f"{path}: cannot open as a GeoPackage (SQLite): {exc}") from None
    try:
        try:
            tables = con.execute(
                "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c "
                "JOIN gpkg_geometry_columns g ON g.table_name = c.table_name WHERE c.data_type = 'features'"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise InputFileError(f"{path}: not a GeoPackage (no gpkg_contents/gpkg_geometry_columns: {exc})") from None
        if not tables:
            raise InputFileError(f"{path}: the GeoPackage has no feature table")
        if layer is None:
            if len(tables) > 1:
                names = ", ".join(t[0] for t in tables)
                raise InputValueError(
                    f"{path}: the GeoPackage has several feature tables ({names}); name one with layer="
                )
            table, column, srs_id = tables[0]
        else:
            match = [t for t in tables if t[0] == layer]
            if not match:
                names = ", ".join(t[0] for t in tables)
                raise InputValueError(f"{path}: no feature table {layer!r}; the GeoPackage has: {names}")
            table, column, srs_id = match[0]
        org, org_id, definition = con.execute(
            "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
            (srs_id,),
        ).fetchone() or (None, None, None)
        try:
            if org and org.upper() == "EPSG" and org_id and org_id > 0:
                crs = CRS.from_epsg(org_id)
            elif definition and definition.strip().lower() != "undefined":
                crs = CRS.from_wkt(definition)
            else:
                crs = CRS.from_epsg(4326)
        except Exception as exc:
            raise InputValueError(f"{path}: table {table!r} has a CRS rasterio does not understand: {exc}") from None
        cursor = con.execute(f'SELECT * FROM "{table}"')  # names come from gpkg_contents, not from users
        fields = [d[0] for d in cursor.description]
        features = []
        for number, row in enumerate(cursor, start=1):
            record = dict(zip(fields, row, strict=True))
            blob = record.pop(column)
            try:
                geometry = _gpkg_geometry(blob)
            except (ValueError, KeyError, struct.error) as exc:
                raise InputValueError(
                    f"{path}: table {table!r} feature {number}: unreadable geometry ({exc})"
                ) from None
            features.append((record, geometry))
        return features, crs
    finally:
        con.close()


def read_boundaries(
    path: str | PathLike[str], *, name_field: str = "shapeName", layer: str | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], CRS]:
    """Read named (multi)polygons from GeoJSON or GeoPackage.

    GeoJSON is read with the ``json`` module (RFC 7946 WGS 84, or the
    legacy ``crs`` member); GeoPackage with ``sqlite3`` and a small WKB
    reader (Polygon and MultiPolygon, any Z/M flavour; the geometry
    column's ``srs_id`` gives the CRS).

    Parameters
    ----------
    path : path-like
        ``.geojson``/``.json`` or ``.gpkg``.
    name_field : str
        The property holding the area name.
    layer : str, optional
        GeoPackage feature table; needed only when there are several.

    Returns
    -------
    features : list of (name, geometry)
        GeoJSON geometry dicts in the file's CRS; features without a
        geometry are skipped.
    crs : rasterio.crs.CRS
        The CRS of the coordinates.

    Raises
    ------
    covgap.errors.InputFileError
        Missing file, unknown format, not GeoJSON/GeoPackage.
    covgap.errors.InputValueError
        A feature without ``name_field`` or with a non-polygon geometry.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"boundaries file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        raw, crs = _geojson_features(path)
    elif suffix == ".gpkg":
        raw, crs = _gpkg_features(path, layer)
    else:
        raise InputFileError(
            f"boundaries file {path}: format {suffix!r} is not supported; use .geojson, .json or .gpkg"
        )
    features = []
    for number, (properties, geometry) in enumerate(raw, start=1):
        if geometry is None:
            continue
        if name_field not in properties or properties[name_field] is None:
            fields = ", ".join(sorted(map(str, properties))) or "none"
            raise InputValueError(
                f"{path}: feature {number} has no {name_field!r} property (it has: {fields}); set boundaries_name_field"
            )
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise InputValueError(
                f"{path}: feature {number} ({properties[name_field]!r}) is a {geometry.get('type')!r}; "
                "boundaries must be Polygon or MultiPolygon"
            )
        features.append((str(properties[name_field]), geometry))
    return features, crs


def rasterize_areas(
    path: str | PathLike[str],
    like: xr.DataArray | xr.Dataset | AnalysisGrid,
    *,
    name_field: str = "shapeName",
    layer: str | None = None,
) -> AdminAreas:
    """Rasterize administrative boundaries onto the analysis grid.

    A cell belongs to the area whose polygon holds its centre
    (``rasterio.features.rasterize``, ``all_touched=False``); where
    polygons overlap, the later feature wins. Features that share a name
    share one code. Areas that hold no cell centre of the grid are left out.

    Parameters
    ----------
    path : path-like
        GeoJSON or GeoPackage (see :func:`read_boundaries`).
    like : xr.DataArray, xr.Dataset or AnalysisGrid
        The analysis grid.
    name_field, layer : str
        See :func:`read_boundaries`.

    Returns
    -------
    AdminAreas
        Codes on the grid and the area names.
    """
    grid = like if isinstance(like, AnalysisGrid) else AnalysisGrid.from_dataarray(like)
    features, crs = read_boundaries(path, name_field=name_field, layer=layer)
    names: dict[str, int] = {}
    shapes = []
    for name, geometry in features:
        code = names.setdefault(name, len(names) + 1)
        try:
            shapes.append((transform_geom(crs, grid.crs, geometry), code))
        except (RasterioError, ValueError) as exc:
            raise InputValueError(f"{path}: area {name!r}: cannot reproject its geometry: {exc}") from None
    codes = np.zeros(grid.shape, dtype=np.int32)
    if shapes:
        codes = rasterio.features.rasterize(
            shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32", all_touched=False
        )
    # Keep only the areas that hold at least one cell, renumbered in file order.
    present = np.bincount(codes.ravel(), minlength=len(names) + 1) > 0
    present[0] = True
    renumber = np.cumsum(present, dtype=np.int32) - 1
    kept = tuple(name for name, code in names.items() if present[code])
    da = grid.dataarray(renumber[codes], "admin_area", "1", "Administrative area code (0 outside every area)")
    return AdminAreas(da, kept)


# ---------------------------------------------------------------- indicators


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, _PCT_DIGITS) if whole else None


def _table(people: np.ndarray, zones: np.ndarray, n_zones: int, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """People per (zone, code): ``(n_zones, n_codes)`` int64, exact.

    ``np.bincount`` sums in float64, which is exact for whole numbers below
    2**53 (9e15 people).
    """
    key = (zones * n_codes + codes).ravel()
    sums = np.bincount(key, weights=people.ravel(), minlength=n_zones * n_codes)
    return np.rint(sums).astype(np.int64).reshape(n_zones, n_codes)


def _blocks(people: np.ndarray, zones: np.ndarray, n_zones: int, combos: np.ndarray) -> list[dict[str, Any]]:
    """One indicator block per zone code ``0..n_zones-1``, for one group of operators.

    ``combos`` is the per-cell bit set of covering technologies
    (:func:`_coverage_combos`). Covered and uncovered people are summed
    independently, over disjoint sets of combinations, never one derived
    from the other and the total.
    """
    total = _table(people, zones, n_zones, np.zeros(1, dtype=np.int64), 1)[:, 0]
    by_combo = _table(people, zones, n_zones, combos, _N_COMBOS)
    blocks: list[dict[str, Any]] = []
    for z in range(n_zones):
        block: dict[str, Any] = {"population": int(total[z]), "at_least": {}, "technology": {}}
        for measure, table in (("at_least", _AT_LEAST), ("technology", _HAS)):
            for i, tech in enumerate(TECHNOLOGIES):
                yes, no = int(by_combo[z, table[i]].sum()), int(by_combo[z, ~table[i]].sum())
                block[measure][tech] = {
                    "covered_population": yes,
                    "uncovered_population": no,
                    "covered_pct": _pct(yes, int(total[z])),
                }
        blocks.append(block)
    return blocks


def _merge_blocks(blocks: list[dict[str, Any]], members: tuple[int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"population": sum(blocks[m]["population"] for m in members)}
    for measure in ("at_least", "technology"):
        out[measure] = {}
        for tech in TECHNOLOGIES:
            yes = sum(blocks[m][measure][tech]["covered_population"] for m in members)
            no = sum(blocks[m][measure][tech]["uncovered_population"] for m in members)
            out[measure][tech] = {
                "covered_population": yes,
                "uncovered_population": no,
                "covered_pct": _pct(yes, out["population"]),
            }
    return out


def _gap(urban: dict[str, Any], rural: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for tech in TECHNOLOGIES:
        u, r = urban["at_least"][tech]["covered_pct"], rural["at_least"][tech]["covered_pct"]
        out[tech] = None if u is None or r is None else round(u - r, _PCT_DIGITS)
    return out


def _coverage_combos(ds: xr.Dataset) -> np.ndarray:
    """Per cell, the bit set of covering technologies (bit ``i`` for ``TECHNOLOGIES[i]``), int64."""
    combos = np.zeros((ds.sizes["y"], ds.sizes["x"]), dtype=np.uint8)
    for i, tech in enumerate(TECHNOLOGIES):
        name = f"covered_{tech}"
        if name in ds:
            combos |= (np.asarray(ds[name].values) == 1).astype(np.uint8) << np.uint8(i)
    return combos.astype(np.int64)


def _group(ds: xr.Dataset, people: np.ndarray, classes: np.ndarray, areas: AdminAreas | None) -> dict[str, Any]:
    combos = _coverage_combos(ds)
    by_class = _blocks(people, classes.astype(np.int64), 4, combos)
    group: dict[str, Any] = {"total": _merge_blocks(by_class, (RURAL, URBAN_CLUSTER, URBAN_CENTRE))}
    group["urbanisation"] = {zone: _merge_blocks(by_class, codes) for zone, codes in URBANISATION_ZONES.items()}
    group["rural_urban_gap_pp"] = _gap(group["urbanisation"]["urban"], group["urbanisation"]["rural"])
    if areas is not None:
        area_codes = np.asarray(areas.codes.values, dtype=np.int64)
        by_area = _blocks(people, area_codes, len(areas.names) + 1, combos)
        group["areas"] = {name: by_area[k] for k, name in enumerate(areas.names, start=1)}
        group["outside_areas"] = by_area[0]
    return group


def _check_grid(ds: xr.Dataset, other: xr.Dataset | xr.DataArray, what: str) -> None:
    if (other.sizes["y"], other.sizes["x"]) != (ds.sizes["y"], ds.sizes["x"]):
        raise GridError(
            f"{what} has grid shape {(other.sizes['y'], other.sizes['x'])}, "
            f"the analysis {(ds.sizes['y'], ds.sizes['x'])}"
        )


def _zone_block(group: Mapping[str, Any], zone: str) -> Mapping[str, Any]:
    return group["total"] if zone == "total" else group["urbanisation"][zone]


def _sharing_gain(groups: Mapping[str, Mapping[str, Any]], operators: list[str]) -> dict[str, Any]:
    """Gain of the all-operators union over the best single operator (ties: the first named)."""
    gain: dict[str, Any] = {}
    for zone in ("total", *URBANISATION_ZONES):
        union_block = _zone_block(groups[ALL_OPERATORS], zone)
        gain[zone] = {}
        for tech in TECHNOLOGIES:
            covered = [_zone_block(groups[op], zone)["at_least"][tech]["covered_population"] for op in operators]
            best = operators[covered.index(max(covered))]
            union = union_block["at_least"][tech]
            single = _zone_block(groups[best], zone)["at_least"][tech]
            pp = None
            if union["covered_pct"] is not None and single["covered_pct"] is not None:
                pp = round(union["covered_pct"] - single["covered_pct"], _PCT_DIGITS)
            gain[zone][tech] = {
                "best_single_operator": best,
                "covered_population": union["covered_population"] - single["covered_population"],
                "pct_points": pp,
            }
    return gain


def indicators(
    ds: xr.Dataset,
    *,
    operators: Mapping[str, xr.Dataset] | None = None,
    areas: AdminAreas | None = None,
) -> dict[str, Any]:
    """ITU-style coverage indicators of an analysis Dataset.

    Parameters
    ----------
    ds : xr.Dataset
        The analysis Dataset: ``population`` (people per cell),
        ``covered_<tech>`` (uint8 0/1) for the modelled technologies, with
        every site of every operator (the all-operators group: a person is
        covered when any operator covers them, as with national roaming or
        full sharing), and ``urbanisation`` (computed from ``population``
        with :func:`covgap.urbanisation.degree_of_urbanisation` when absent).
    operators : mapping of str to xr.Dataset, optional
        Operator name -> Dataset with that operator's own
        ``covered_<tech>`` layers (propagation of its sites alone), on the
        same grid. Adds one group per operator and the sharing gain.
    areas : AdminAreas, optional
        From :func:`rasterize_areas`; adds per-area breakdowns.

    Returns
    -------
    dict
        JSON-able; whole people as ``int``, shares in percent (4
        decimals, ``None`` where the population is 0). Layout::

            {"schema": "covgap.indicators/1",
             "population_rounding": "...", "technologies": [...],
             "total_population": int,
             "uncovered_population": int,          # no service at all
             "groups": {"all_operators": GROUP, "<operator>": GROUP, ...},
             "sharing_gain": {ZONE: {tech: {"best_single_operator": str,
                 "covered_population": int, "pct_points": float}}}}  # with operators
            GROUP = {"total": BLOCK,
                     "urbanisation": {"urban_centre"|"urban_cluster"|"urban"|"rural": BLOCK},
                     "rural_urban_gap_pp": {tech: float},   # urban minus rural
                     "areas": {name: BLOCK}, "outside_areas": BLOCK}  # with areas
            BLOCK = {"population": int,
                     "at_least":   {tech: {"covered_population": int,
                                           "uncovered_population": int,
                                           "covered_pct": float}},
                     "technology": {tech: {...same, that technology alone...}}}

    Raises
    ------
    covgap.errors.GridError
        If an operator Dataset or the areas are on another grid.
    """
    people = integer_population(ds["population"])
    classes_da = ds["urbanisation"] if "urbanisation" in ds else degree_of_urbanisation(ds["population"])
    classes = np.asarray(classes_da.values)
    if classes.size and (classes.min() < RURAL or classes.max() > URBAN_CENTRE):
        raise InputValueError(
            f"urbanisation holds class codes {sorted(set(np.unique(classes).tolist()) - {1, 2, 3})}; "
            "allowed are 1 rural, 2 urban cluster, 3 urban centre"
        )
    if areas is not None:
        _check_grid(ds, areas.codes, "the administrative areas raster")
        codes = np.asarray(areas.codes.values)
        if codes.min(initial=0) < 0 or codes.max(initial=0) > len(areas.names):
            raise InputValueError(f"administrative area codes must be 0..{len(areas.names)} (one per name, 0 outside)")
    groups = {ALL_OPERATORS: _group(ds, people, classes, areas)}
    for name, covered in (operators or {}).items():
        if name == ALL_OPERATORS:
            raise InputValueError(f"operator name {ALL_OPERATORS!r} is reserved for the union of all operators")
        _check_grid(ds, covered, f"operator {name!r}")
        groups[name] = _group(covered, people, classes, areas)
    total = groups[ALL_OPERATORS]["total"]
    out: dict[str, Any] = {
        "schema": INDICATOR_SCHEMA,
        "population_rounding": "cumulative rounding of cell population to whole people, row-major, before all sums",
        "technologies": list(TECHNOLOGIES),
        "total_population": total["population"],
        "uncovered_population": total["at_least"]["2G"]["uncovered_population"],
        "groups": groups,
    }
    if operators:
        out["sharing_gain"] = _sharing_gain(groups, list(operators))
    return out


def _block_rows(operators: str, breakdown: str, zone: str, block: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for measure in ("at_least", "technology"):
        for tech, cell in block[measure].items():
            yield {
                "operators": operators,
                "breakdown": breakdown,
                "zone": zone,
                "measure": measure,
                "technology": tech,
                "population": block["population"],
                "covered_population": cell["covered_population"],
                "uncovered_population": cell["uncovered_population"],
                "covered_pct": cell["covered_pct"],
                "difference_pct_points": None,
                "compared_with": None,
            }


def indicators_rows(indicators: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flatten an indicator dict into CSV rows (keys :data:`ROW_FIELDS`).

    One row per (operators, breakdown, zone, measure, technology):

    * ``breakdown`` ``total`` (zone ``all``), ``urbanisation`` (zones
      ``urban_centre``, ``urban_cluster``, ``urban``, ``rural``), ``area``
      (zone = area name or ``outside_areas``): population, covered and
      uncovered people and ``covered_pct``; ``measure`` is ``at_least``
      (that generation or newer) or ``technology`` (that one alone);
    * ``breakdown`` ``urbanisation``, zone ``rural_urban_gap``:
      ``difference_pct_points`` = urban minus rural coverage;
    * ``breakdown`` ``sharing_gain`` (with operators): ``covered_population``
      and ``difference_pct_points`` gained by the all-operators union over
      the best single operator, named in ``compared_with``.

    Empty cells are ``None``. Works on :func:`covgap.compare.indicator_difference`
    output too (then every number is a difference).
    """
    rows: list[dict[str, Any]] = []
    blank = dict.fromkeys(ROW_FIELDS)
    for operators, group in indicators["groups"].items():
        rows.extend(_block_rows(operators, "total", "all", group["total"]))
        for zone, block in group["urbanisation"].items():
            rows.extend(_block_rows(operators, "urbanisation", zone, block))
        for tech, gap in group["rural_urban_gap_pp"].items():
            rows.append(
                {
                    **blank,
                    "operators": operators,
                    "breakdown": "urbanisation",
                    "zone": "rural_urban_gap",
                    "measure": "at_least",
                    "technology": tech,
                    "difference_pct_points": gap,
                    "compared_with": "urban - rural",
                }
            )
        for name, block in (group.get("areas") or {}).items():
            rows.extend(_block_rows(operators, "area", name, block))
        if "outside_areas" in group:
            rows.extend(_block_rows(operators, "area", "outside_areas", group["outside_areas"]))
    for zone, techs in (indicators.get("sharing_gain") or {}).items():
        for tech, gain in techs.items():
            rows.append(
                {
                    **blank,
                    "operators": ALL_OPERATORS,
                    "breakdown": "sharing_gain",
                    "zone": zone,
                    "measure": "at_least",
                    "technology": tech,
                    "covered_population": gain["covered_population"],
                    "difference_pct_points": gain["pct_points"],
                    "compared_with": gain["best_single_operator"],
                }
            )
    return rows
