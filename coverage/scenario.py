"""Scenario files: what to analyse, on which grid, with which thresholds.

A scenario is a TOML file. Paths inside it are relative to the file. Every key
is checked before any computation; an unknown key or a bad value raises
:class:`~covgap.errors.ScenarioError` naming the key and what is allowed.
See the README for the schema and an example.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from covgap.errors import InputFileError, ScenarioError
from covgap.propagation import PropagationConfig
from covgap.types import TECHNOLOGIES, BBox

__all__ = ["Scenario", "Inputs", "GridSpec", "Changes", "DEFAULT_THRESHOLDS_DBM", "load_scenario", "load_scenarios"]

#: Regulator-style coverage thresholds in the metric of each technology:
#: 2G RxLev, 3G RSCP, 4G RSRP, 5G SS-RSRP (dBm).
DEFAULT_THRESHOLDS_DBM: dict[str, float] = {"2G": -95.0, "3G": -100.0, "4G": -110.0, "5G": -110.0}

SITE_FORMATS = ("auto", "csv", "opencellid", "geojson")
SHARING_MODES = ("none", "national_roaming")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Inputs:
    """Input files of a scenario (absolute paths)."""

    dem: Path
    population: Path
    sites: Path
    sites_format: str = "auto"
    boundaries: Path | None = None
    boundaries_name_field: str = "shapeName"


@dataclass(frozen=True)
class GridSpec:
    """How to build the analysis grid."""

    resolution_m: float = 100.0
    crs: str | None = None
    bounds: BBox | None = None


@dataclass(frozen=True)
class Changes:
    """What the scenario changes relative to the input network.

    Attributes
    ----------
    switch_off : tuple of str
        Technologies switched off (for example ``("2G", "3G")``).
    operators : tuple of str or None
        Keep only these operators' transmitters; ``None`` keeps all.
    sharing : str
        ``"none"``: each operator's subscribers use only its network;
        ``"national_roaming"``: everybody may use every network.
    add_sites : Path or None
        A site file whose transmitters are added.
    remove_sites : tuple of str
        ``site_id`` values whose transmitters are removed.
    """

    switch_off: tuple[str, ...] = ()
    operators: tuple[str, ...] | None = None
    sharing: str = "none"
    add_sites: Path | None = None
    remove_sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A parsed, validated scenario file."""

    path: Path
    name: str
    title: str
    inputs: Inputs
    grid: GridSpec
    propagation: PropagationConfig
    thresholds: dict[str, float]
    changes: Changes
    metadata: dict[str, Any] = field(default_factory=dict)


def load_scenarios(paths: list[Path]) -> list[Scenario]:
    """Load scenario files; a directory stands for every ``*.toml`` in it, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise ScenarioError(f"{path}: directory holds no scenario (*.toml) file")
            files.extend(found)
        else:
            files.append(path)
    scenarios = [load_scenario(f) for f in files]
    names = [s.name for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioError(f"scenario names must be unique in one batch; repeated: {', '.join(duplicates)}")
    return scenarios


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    A scenario may start from another with ``base = "other.toml"``: the base's
    tables are read first (its paths relative to the base file) and every key
    the scenario sets replaces the base's.

    Parameters
    ----------
    path : str or Path
        The scenario file.

    Returns
    -------
    Scenario

    Raises
    ------
    InputFileError
        The file (or its base) is missing or unreadable.
    ScenarioError
        The file is not valid TOML, or a key is unknown or has a bad value.
    """
    path = Path(path).resolve()
    return parse_scenario(_read_document(path, ()), base=path.parent, path=path)


#: Keys holding paths, by table, resolved against the file that sets them.
_PATH_KEYS = {"inputs": ("dem", "population", "sites", "boundaries"), "scenario": ("add_sites",)}


def _read_document(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The TOML document of ``path`` with its paths made absolute and its base merged in."""
    if path in seen:
        raise ScenarioError(f"{path}: 'base' files form a cycle: {' -> '.join(str(p) for p in (*seen, path))}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read scenario file ({exc.strerror or exc})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    for table, keys in _PATH_KEYS.items():
        section = doc.get(table)
        if isinstance(section, dict):
            for key in keys:
                if isinstance(section.get(key), str):
                    section[key] = str(path.parent / section[key])
    base = doc.pop("base", None)
    if base is None:
        return doc
    if not isinstance(base, str):
        raise ScenarioError(f"{path}: 'base' must be the path of another scenario file, got {base!r}")
    merged = _read_document((path.parent / base).resolve(), (*seen, path))
    merged.pop("name", None)
    merged.pop("title", None)
    return _merge(merged, doc)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parse_scenario(doc: Mapping[str, Any], *, base: Path, path: Path) -> Scenario:
    """Validate a scenario already parsed from TOML; paths resolve against ``base``."""
    where = str(path)
    _check_keys(doc, {"name", "title", "inputs", "grid", "propagation", "thresholds", "scenario", "metadata"}, where, "")
    name = _get(doc, "name", str, where, "", default=path.stem.lower())
    if not _NAME_RE.match(name):
        raise ScenarioError(
            f"{where}: 'name' = {name!r} must be lower-case letters, digits, '-' or '_' (it names the output run)"
        )
    title = _get(doc, "title", str, where, "", default=name)

    inputs_t = _table(doc, "inputs", where, required=True)
    _check_keys(
        inputs_t,
        {"dem", "population", "sites", "sites_format", "boundaries", "boundaries_name_field"},
        where,
        "inputs.",
    )
    sites_format = _get(inputs_t, "sites_format", str, where, "inputs.", default="auto")
    if sites_format not in SITE_FORMATS:
        raise ScenarioError(f"{where}: 'inputs.sites_format' = {sites_format!r}; allowed: {', '.join(SITE_FORMATS)}")
    boundaries = _get(inputs_t, "boundaries", str, where, "inputs.", default=None)
    inputs = Inputs(
        dem=base / _get(inputs_t, "dem", str, where, "inputs.", required=True),
        population=base / _get(inputs_t, "population", str, where, "inputs.", required=True),
        sites=base / _get(inputs_t, "sites", str, where, "inputs.", required=True),
        sites_format=sites_format,
        boundaries=None if boundaries is None else base / boundaries,
        boundaries_name_field=_get(inputs_t, "boundaries_name_field", str, where, "inputs.", default="shapeName"),
    )

    grid_t = _table(doc, "grid", where)
    _check_keys(grid_t, {"resolution_m", "crs", "bounds"}, where, "grid.")
    resolution = float(_get(grid_t, "resolution_m", (int, float), where, "grid.", default=100.0))
    if not (5.0 <= resolution <= 10_000.0):
        raise ScenarioError(f"{where}: 'grid.resolution_m' = {resolution!r}; allowed: 5 to 10000 metres")
    bounds = _get(grid_t, "bounds", list, where, "grid.", default=None)
    if bounds is not None:
        if len(bounds) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in bounds):
            raise ScenarioError(f"{where}: 'grid.bounds' must be [west, south, east, north] in degrees, got {bounds!r}")
        w, s, e, n = (float(v) for v in bounds)
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ScenarioError(
                f"{where}: 'grid.bounds' = {bounds!r} must satisfy -180 <= west < east <= 180 and -90 <= south < north <= 90"
            )
        bounds = (w, s, e, n)
    grid = GridSpec(resolution_m=resolution, crs=_get(grid_t, "crs", str, where, "grid.", default=None), bounds=bounds)

    propagation = PropagationConfig.from_mapping(_table(doc, "propagation", where), where=f"{where}: [propagation]")

    thresholds_t = _table(doc, "thresholds", where)
    _check_keys(thresholds_t, set(TECHNOLOGIES), where, "thresholds.")
    thresholds = dict(DEFAULT_THRESHOLDS_DBM)
    for tech in thresholds_t:
        value = _get(thresholds_t, tech, (int, float), where, "thresholds.")
        if not (-160.0 <= value <= -30.0):
            raise ScenarioError(f"{where}: 'thresholds.{tech}' = {value!r}; allowed: -160 to -30 dBm")
        thresholds[tech] = float(value)

    changes_t = _table(doc, "scenario", where)
    _check_keys(changes_t, {"switch_off", "operators", "sharing", "add_sites", "remove_sites"}, where, "scenario.")
    switch_off = tuple(_str_list(changes_t, "switch_off", where, default=[]))
    for tech in switch_off:
        if tech not in TECHNOLOGIES:
            raise ScenarioError(
                f"{where}: 'scenario.switch_off' names {tech!r}; allowed: {', '.join(TECHNOLOGIES)}"
            )
    operators = _str_list(changes_t, "operators", where, default=None)
    sharing = _get(changes_t, "sharing", str, where, "scenario.", default="none")
    if sharing not in SHARING_MODES:
        raise ScenarioError(f"{where}: 'scenario.sharing' = {sharing!r}; allowed: {', '.join(SHARING_MODES)}")
    add_sites = _get(changes_t, "add_sites", str, where, "scenario.", default=None)
    changes = Changes(
        switch_off=switch_off,
        operators=None if operators is None else tuple(operators),
        sharing=sharing,
        add_sites=None if add_sites is None else base / add_sites,
        remove_sites=tuple(_str_list(changes_t, "remove_sites", where, default=[])),
    )

    metadata = dict(_table(doc, "metadata", where))
    attribution = metadata.get("attribution", [])
    if not (isinstance(attribution, list) and all(isinstance(a, str) for a in attribution)):
        raise ScenarioError(f"{where}: 'metadata.attribution' must be a list of strings")
    return Scenario(
        path=path,
        name=name,
        title=title,
        inputs=inputs,
        grid=grid,
        propagation=propagation,
        thresholds=thresholds,
        changes=changes,
        metadata=metadata,
    )


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key '{prefix}{unknown[0]}'; allowed here: {', '.join(sorted(allowed))}"
        )


def _table(doc: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> Mapping[str, Any]:
    if key not in doc:
        if required:
            raise ScenarioError(f"{where}: missing table [{key}]")
        return {}
    value = doc[key]
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: '{key}' must be a table ([{key}]), got {type(value).__name__}")
    return value


def _get(
    table: Mapping[str, Any],
    key: str,
    types: type | tuple[type, ...],
    where: str,
    prefix: str,
    *,
    default: Any = None,
    required: bool = False,
) -> Any:
    if key not in table:
        if required:
            raise ScenarioError(f"{where}: missing key '{prefix}{key}'")
        return default
    value = table[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ScenarioError(f"{where}: '{prefix}{key}' must be {names}, got {value!r}")
    return value


def _str_list(table: Mapping[str, Any], key: str, where: str, *, default: list[str] | None) -> list[str] | None:
    value = _get(table, key, list, where, "scenario.", default=default)
    if value is not None and not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"{where}: 'scenario.{key}' must be a list of strings, got {value!r}")
    return value
