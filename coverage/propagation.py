"""Received signal per technology from a site table over a DEM: ``covgap.propagation``.

:func:`signal_layers` validates every transmitter (raising
:class:`~covgap.errors.SiteError` naming the site and field before any
kernel runs), converts each carrier's total EIRP to the technology's
coverage metric, runs the radial terrain sweep of
:mod:`covgap.kernels.terrain` for every site and reduces the sites to a
best server per cell, in memory proportional to the grid.

Coverage metric per technology (what ``received_power_<tech>`` holds)
---------------------------------------------------------------------
=====  ============  ==========================================================
tech   metric        conversion from the carrier's total EIRP (defaults)
=====  ============  ==========================================================
2G     RxLev         BCCH carrier power, 0 dB (the BCCH carrier always sends
                     at full power)
3G     RSCP          CPICH power, ``cpich_share_db`` = -10 dB of the total
4G     RSRP          per resource element: -10 log10(12 N_RB), 20 MHz
                     -> N_RB = 100 -> -30.8 dB
5G     SS-RSRP       per resource element: -10 log10(12 N_RB), 100 MHz at
                     30 kHz -> N_RB = 273 -> -35.2 dB (SSB EPRE equal to the
                     average EPRE)
=====  ============  ==========================================================
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor used on the grids)
import xarray as xr

from covgap.errors import CovgapWarning, GridError, ScenarioError, SiteError
from covgap.grid import AnalysisGrid
from covgap.kernels import bestserver, pathloss, terrain
from covgap.types import TECHNOLOGIES

__all__ = [
    "signal_layers_by_group",
    "AntennaConfig",
    "PropagationConfig",
    "metric_offset_db",
    "resolve_model",
    "signal_layers",
]

#: Model names a scenario may give, and their kernel ids (``auto`` and ``itm`` are resolved here).
MODEL_IDS: dict[str, int] = {
    "free_space": pathloss.FREE_SPACE,
    "hata": pathloss.HATA,
    "cost231": pathloss.COST231,
    "rma": pathloss.RMA,
    "uma": pathloss.UMA,
}
MODEL_NAMES: tuple[str, ...] = ("auto", *MODEL_IDS, "itm")
ENVIRONMENT_IDS: dict[str, int] = {
    "dense_urban": pathloss.DENSE_URBAN,
    "urban": pathloss.URBAN,
    "suburban": pathloss.SUBURBAN,
    "rural": pathloss.RURAL,
}
DIFFRACTION_IDS: dict[str, int] = {
    "none": terrain.NO_DIFFRACTION,
    "bullington": terrain.BULLINGTON,
    "deygout": terrain.DEYGOUT,
}
#: Models that already account for terrain obstruction: no diffraction is added to them.
TERRAIN_AWARE_MODELS = frozenset({"rma", "uma", "itm"})

#: LTE channel bandwidth (MHz) -> resource blocks (3GPP TS 36.101 Table 5.6-1).
LTE_RESOURCE_BLOCKS = {1.4: 6, 3.0: 15, 5.0: 25, 10.0: 50, 15.0: 75, 20.0: 100}
#: NR FR1 (subcarrier spacing kHz, bandwidth MHz) -> resource blocks (TS 38.104 Table 5.3.2-1).
NR_RESOURCE_BLOCKS = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 40: 216, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 40: 106, 50: 133, 60: 162, 70: 189, 80: 217, 90: 245,
         100: 273},
    60: {10: 11, 15: 18, 20: 24, 25: 31, 30: 38, 40: 51, 50: 65, 60: 79, 70: 93, 80: 107, 90: 121, 100: 135},
}
#: Frequencies (MHz) the Longley-Rice ITM covers.
ITM_FREQUENCY_RANGE_MHZ = (20.0, 20000.0)
#: Radius (m) searched for valid elevation when a site's own DEM cell is nodata.
SITE_DEM_SEARCH_M = 1000.0


@dataclass(frozen=True)
class AntennaConfig:
    """Antenna pattern parameters shared by all sectors (TR 38.901 Table 7.3-1 form).

    Attributes
    ----------
    gain_dbi : float
        Boresight gain (dBi). ``eirp_dbm`` in the site table is main-beam
        EIRP, so the gain only shapes the pattern relative to it.
    front_to_back_db : float
        A_m: maximum attenuation off the main beam (dB).
    vertical_beamwidth_deg : float
        Vertical 3 dB beamwidth (degrees).
    sidelobe_db : float
        SLA_V: vertical side-lobe attenuation (dB).
    electrical_tilt_deg : float
        Electrical downtilt (degrees) added to each site's ``tilt_deg``,
        which is taken as mechanical downtilt.
    """

    gain_dbi: float = 17.0
    front_to_back_db: float = 25.0
    vertical_beamwidth_deg: float = 10.0
    sidelobe_db: float = 20.0
    electrical_tilt_deg: float = 0.0


@dataclass(frozen=True)
class PropagationConfig:
    """Validated ``[propagation]`` table of a scenario.

    Attributes
    ----------
    receiver_height_m : float
        Mobile antenna height above ground (m), default 1.5.
    k_factor : float
        Effective Earth radius factor, default 4/3.
    max_radius_km : float
        Each site is computed out to this distance (km), default 20.
    model : str
        Default model: ``auto`` (by frequency: Okumura-Hata up to
        1500 MHz, COST-231 Hata to 2000 MHz, above that 3GPP UMa in
        ``urban``/``dense_urban`` and RMa otherwise), ``free_space``,
        ``hata``, ``cost231``, ``rma``, ``uma`` or ``itm``.
    environment : str
        ``dense_urban``, ``urban``, ``suburban`` (default) or ``rural``.
    diffraction : str
        ``bullington`` (default), ``deygout`` or ``none``; added to
        ``free_space``, ``hata`` and ``cost231`` only.
    models : dict
        Per-technology model overriding ``model``.
    antenna : AntennaConfig
        Pattern parameters.
    power : dict
        Per-technology metric conversion: ``3G`` ``cpich_share_db``,
        ``4G`` ``bandwidth_mhz``, ``5G`` ``bandwidth_mhz`` and ``scs_khz``.
    itm : object or None
        ``covgap.itm.ItmParams`` when the ITM module is available.
    """

    receiver_height_m: float = 1.5
    k_factor: float = 4.0 / 3.0
    max_radius_km: float = 20.0
    model: str = "auto"
    environment: str = "suburban"
    diffraction: str = "bullington"
    models: Mapping[str, str] = field(default_factory=dict)
    antenna: AntennaConfig = AntennaConfig()
    power: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            "3G": {"cpich_share_db": -10.0},
            "4G": {"bandwidth_mhz": 20.0},
            "5G": {"bandwidth_mhz": 100.0, "scs_khz": 30.0},
        }
    )
    itm: Any = None

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, where: str = "[propagation]") -> "PropagationConfig":
        """Build from a parsed TOML table, raising :class:`ScenarioError` on bad keys or values.

        Examples
        --------
        >>> PropagationConfig.from_mapping({"model": "hata", "k_factor": 1.2}).k_factor
        1.2
        """
        allowed = {
            "receiver_height_m", "k_factor", "max_radius_km", "model", "environment", "diffraction",
            "models", "antenna", "power", "itm",
        }
        _check_keys(table, allowed, where)
        kw: dict[str, Any] = {}
        for key, lo, hi in (("receiver_height_m", 0.1, 100.0), ("k_factor", 0.5, 100.0), ("max_radius_km", 0.1, 300.0)):
            if key in table:
                kw[key] = _number(table, key, where, lo, hi)
        for key, choices in (("model", MODEL_NAMES), ("environment", tuple(ENVIRONMENT_IDS)),
                             ("diffraction", tuple(DIFFRACTION_IDS))):
            if key in table:
                kw[key] = _choice(table[key], choices, where, key)
        models = _subtable(table, "models", where)
        _check_keys(models, set(TECHNOLOGIES), f"{where}.models")
        kw["models"] = {tech: _choice(models[tech], MODEL_NAMES, where, f"models.{tech}") for tech in models}
        antenna = _subtable(table, "antenna", where)
        ant_limits = {
            "gain_dbi": (-10.0, 40.0), "front_to_back_db": (0.0, 60.0), "vertical_beamwidth_deg": (0.5, 180.0),
            "sidelobe_db": (0.0, 60.0), "electrical_tilt_deg": (-30.0, 30.0),
        }
        _check_keys(antenna, set(ant_limits), f"{where}.antenna")
        kw["antenna"] = AntennaConfig(**{k: _number(antenna, k, f"{where}.antenna", *ant_limits[k]) for k in antenna})
        power = _subtable(table, "power", where)
        _check_keys(power, {"3G", "4G", "5G"}, f"{where}.power")
        merged = {tech: dict(v) for tech, v in cls().power.items()}
        power_limits = {
            "3G": {"cpich_share_db": (-20.0, 0.0)},
            "4G": {"bandwidth_mhz": (1.4, 20.0)},
            "5G": {"bandwidth_mhz": (5.0, 100.0), "scs_khz": (15.0, 60.0)},
        }
        for tech, sub in power.items():
            sub_where = f"{where}.power.{tech}"
            if not isinstance(sub, Mapping):
                raise ScenarioError(f"{sub_where} must be a table, got {sub!r}")
            _check_keys(sub, set(power_limits[tech]), sub_where)
            for key in sub:
                merged[tech][key] = _number(sub, key, sub_where, *power_limits[tech][key])
        kw["power"] = merged
        config = cls(**kw)
        for tech in TECHNOLOGIES:  # rejects bandwidths the 3GPP tables do not list
            try:
                metric_offset_db(tech, config)
            except ValueError as exc:
                raise ScenarioError(f"{where}.power.{tech}: {exc}") from None
        uses_itm = config.model == "itm" or "itm" in config.models.values()
        itm_table = _subtable(table, "itm", where)
        if uses_itm or "itm" in table:
            itm_module = _itm_module()
            if itm_module is None:
                raise ScenarioError(
                    f"{where}: model 'itm' not available (covgap.itm is not installed); "
                    f"use one of: {', '.join(n for n in MODEL_NAMES if n != 'itm')}"
                )
            config = replace(config, itm=itm_module.ItmParams.from_mapping(itm_table, where=f"{where}.itm"))
        return config

    def model_for(self, tech: str, site_model: str = "") -> str:
        """The model name a transmitter of ``tech`` uses (site column, then per tech, then default)."""
        if site_model:
            return site_model
        return self.models.get(tech, self.model)


def _itm_module() -> Any:
    try:
        from covgap import itm
    except ImportError:
        return None
    return itm


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r}; allowed here: {', '.join(sorted(allowed))}")


def _subtable(table: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: '{key}' must be a table ([propagation.{key}]), got {value!r}")
    return value


def _number(table: Mapping[str, Any], key: str, where: str, lo: float, hi: float) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (lo <= value <= hi):
        raise ScenarioError(f"{where}: '{key}' = {value!r}; allowed: a number from {lo:g} to {hi:g}")
    return float(value)


def _choice(value: Any, choices: tuple[str, ...], where: str, key: str) -> str:
    if value not in choices:
        raise ScenarioError(f"{where}: '{key}' = {value!r}; allowed: {', '.join(choices)}")
    return str(value)


def resolve_model(name: str, freq_mhz: float, environment: str) -> str:
    """Concrete model for a frequency: ``auto`` picks by band, others pass through.

    Raises
    ------
    ValueError
        If ``auto`` has no model for the frequency (below 150 MHz).
    """
    if name != "auto":
        return name
    if freq_mhz < 150.0:
        raise ValueError(f"no model covers {freq_mhz:g} MHz (auto: Okumura-Hata starts at 150 MHz)")
    if freq_mhz <= 1500.0:
        return "hata"
    if freq_mhz <= 2000.0:
        return "cost231"
    return "uma" if environment in ("urban", "dense_urban") else "rma"


def metric_offset_db(tech: str, config: PropagationConfig) -> float:
    """dB to add to a carrier's total EIRP to get the technology's coverage metric.

    Examples
    --------
    >>> round(metric_offset_db("4G", PropagationConfig()), 2)
    -30.79
    """
    power = config.power
    if tech == "2G":
        return 0.0
    if tech == "3G":
        return float(power["3G"]["cpich_share_db"])
    if tech == "4G":
        bw = float(power["4G"]["bandwidth_mhz"])
        if bw not in LTE_RESOURCE_BLOCKS:
            raise ValueError(f"bandwidth_mhz = {bw:g}; allowed: {', '.join(f'{b:g}' for b in LTE_RESOURCE_BLOCKS)}")
        return -10.0 * math.log10(12 * LTE_RESOURCE_BLOCKS[bw])
    if tech == "5G":
        scs = int(power["5G"]["scs_khz"])
        bw = float(power["5G"]["bandwidth_mhz"])
        table = NR_RESOURCE_BLOCKS.get(scs)
        if table is None:
            raise ValueError(f"scs_khz = {scs}; allowed: 15, 30, 60")
        if bw not in table:
            raise ValueError(f"bandwidth_mhz = {bw:g} at {scs} kHz; allowed: {', '.join(str(b) for b in table)}")
        return -10.0 * math.log10(12 * table[int(bw)])
    raise ValueError(f"unknown technology {tech!r}; allowed: {', '.join(TECHNOLOGIES)}")


_METRIC_NAMES = {"2G": "RxLev", "3G": "RSCP", "4G": "RSRP", "5G": "SS-RSRP"}
_REQUIRED_COLUMNS = ("site_id", "tech", "x", "y", "height_m", "freq_mhz", "eirp_dbm", "azimuth_deg", "beamwidth_deg")


def _site_error(sites: pd.DataFrame, i: int, fieldname: str, problem: str) -> SiteError:
    return SiteError(f"site {sites['site_id'].iloc[i]!r} (row {i}): {fieldname} {problem}")


class _ValidityLog:
    """Counts model-validity breaches and warns once per kind per run."""

    def __init__(self) -> None:
        self.breaches: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, site_id: str) -> None:
        self.breaches[kind].append(site_id)

    def warn(self) -> None:
        for kind, ids in sorted(self.breaches.items()):
            shown = ", ".join(repr(s) for s in sorted(set(ids))[:5])
            more = "" if len(set(ids)) <= 5 else ", ..."
            warnings.warn(f"{len(ids)} transmitter(s) {kind} (sites {shown}{more}); results are extrapolated",
                          CovgapWarning, stacklevel=3)


def _site_rows(
    sites: pd.DataFrame, grid: AnalysisGrid, dem: np.ndarray, config: PropagationConfig, log: _ValidityLog
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Validate every transmitter; return the kernel parameter matrix, model names and fractional (row, col)."""
    missing = [c for c in _REQUIRED_COLUMNS if c not in sites.columns]
    if missing:
        raise SiteError(f"the site table lacks column(s) {', '.join(missing)}")
    n = len(sites)
    params = np.zeros((n, terrain.N_SITE_FIELDS), np.float64)
    models: list[str] = []
    cell = grid.resolution
    rows, cols = grid.rowcol(sites["x"].to_numpy(float), sites["y"].to_numpy(float))
    ant = config.antenna
    radius_m = config.max_radius_km * 1000.0
    search = max(1, int(round(SITE_DEM_SEARCH_M / cell)))
    for i in range(n):
        rec = sites.iloc[i]
        sid = str(rec["site_id"])
        tech = rec["tech"]
        if tech not in TECHNOLOGIES:
            raise _site_error(sites, i, "tech", f"= {tech!r}; allowed: {', '.join(TECHNOLOGIES)}")
        x, y = float(rec["x"]), float(rec["y"])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise _site_error(sites, i, "lon/lat", f"is not a valid position (x={x!r}, y={y!r})")
        r, c = rows[i], cols[i]
        if not (0 <= r < grid.height and 0 <= c < grid.width):
            raise _site_error(sites, i, "lon/lat", "lies outside the analysis grid")
        r, c = int(r), int(c)
        height = float(rec["height_m"])
        if not (math.isfinite(height) and height > 0):
            raise _site_error(sites, i, "height_m", f"= {height!r}; must be a positive number of metres")
        freq = float(rec["freq_mhz"])
        if not (math.isfinite(freq) and freq > 0):
            raise _site_error(sites, i, "freq_mhz", f"= {freq!r}; must be a positive number of MHz")
        eirp = float(rec["eirp_dbm"])
        if not math.isfinite(eirp):
            raise _site_error(sites, i, "eirp_dbm", f"= {eirp!r}; must be a number of dBm")
        beamwidth = float(rec["beamwidth_deg"])
        azimuth = float(rec["azimuth_deg"])
        omni = math.isnan(beamwidth) or beamwidth >= 360.0
        if not omni:
            if not (beamwidth > 0):
                raise _site_error(sites, i, "beamwidth_deg", f"= {beamwidth!r}; must be > 0 (or empty for omni)")
            if not math.isfinite(azimuth):
                raise _site_error(sites, i, "azimuth_deg", f"= {azimuth!r}; a sector needs an azimuth in degrees")
        tilt = float(rec["tilt_deg"]) if "tilt_deg" in sites.columns else 0.0
        if math.isnan(tilt):
            tilt = 0.0
        if not (-90.0 <= tilt <= 90.0):
            raise _site_error(sites, i, "tilt_deg", f"= {tilt!r}; allowed: -90 to 90 degrees")
        site_model = str(rec["model"]) if "model" in sites.columns and isinstance(rec["model"], str) else ""
        if site_model and site_model not in MODEL_NAMES:
            raise _site_error(sites, i, "model", f"= {site_model!r}; allowed: {', '.join(MODEL_NAMES)} or empty")
        try:
            model = resolve_model(config.model_for(tech, site_model), freq, config.environment)
        except ValueError as exc:
            raise _site_error(sites, i, "freq_mhz", f"= {freq:g}: {exc}") from None
        if model == "itm" and config.itm is None:
            raise _site_error(sites, i, "model", "= 'itm': model 'itm' not available (covgap.itm is not installed)")
        if model != "itm":
            model_id = MODEL_IDS[model]
            f_lo, f_hi = pathloss.FREQUENCY_RANGE_MHZ[model_id]
            if not (f_lo <= freq <= f_hi):
                raise _site_error(
                    sites, i, "freq_mhz",
                    f"= {freq:g} MHz is outside model {model!r} ({f_lo:g}-{f_hi:g} MHz); choose another model "
                    "for this technology in [propagation.models] or use 'auto'",
                )
            h_lo, h_hi = pathloss.TX_HEIGHT_RANGE_M[model_id]
            if not (h_lo <= height <= h_hi):
                log.add(f"have height_m outside model {model!r}'s {h_lo:g}-{h_hi:g} m", sid)
            rx_lo, rx_hi = pathloss.RX_HEIGHT_RANGE_M[model_id]
            if not (rx_lo <= config.receiver_height_m <= rx_hi):
                log.add(f"use a receiver height outside model {model!r}'s {rx_lo:g}-{rx_hi:g} m", sid)
            if radius_m > pathloss.MAX_DISTANCE_M[model_id]:
                log.add(
                    f"are computed beyond model {model!r}'s {pathloss.MAX_DISTANCE_M[model_id] / 1000:g} km "
                    f"(max_radius_km = {config.max_radius_km:g})",
                    sid,
                )
        else:
            model_id = pathloss.FREE_SPACE
            if not (ITM_FREQUENCY_RANGE_MHZ[0] <= freq <= ITM_FREQUENCY_RANGE_MHZ[1]):
                raise _site_error(sites, i, "freq_mhz", f"= {freq:g} MHz is outside model 'itm' (20-20000 MHz)")
        if math.isnan(dem[r, c]):
            window = dem[max(0, r - search): r + search + 1, max(0, c - search): c + search + 1]
            if np.isnan(window).all():
                raise _site_error(
                    sites, i, "lon/lat",
                    f"has no valid elevation within {SITE_DEM_SEARCH_M:g} m (the DEM is nodata around the site)",
                )
            log.add("stand on a nodata DEM cell (ground taken as the mean of valid cells within 1 km)", sid)
        diffraction = 0 if model in TERRAIN_AWARE_MODELS else DIFFRACTION_IDS[config.diffraction]
        params[i, terrain.S_ROW] = r
        params[i, terrain.S_COL] = c
        params[i, terrain.S_HEIGHT] = height
        params[i, terrain.S_FREQ] = freq
        params[i, terrain.S_POWER] = eirp + metric_offset_db(tech, config) - ant.gain_dbi
        params[i, terrain.S_MODEL] = model_id
        params[i, terrain.S_ENV] = ENVIRONMENT_IDS[config.environment]
        params[i, terrain.S_DIFFRACTION] = diffraction
        params[i, terrain.S_OMNI] = 1.0 if omni else 0.0
        params[i, terrain.S_AZIMUTH] = 0.0 if omni else azimuth
        params[i, terrain.S_HBW] = 360.0 if omni else beamwidth
        params[i, terrain.S_VBW] = ant.vertical_beamwidth_deg
        params[i, terrain.S_FTB] = ant.front_to_back_db
        params[i, terrain.S_SLA] = ant.sidelobe_db
        params[i, terrain.S_MECH_TILT] = tilt
        params[i, terrain.S_ELEC_TILT] = ant.electrical_tilt_deg
        params[i, terrain.S_GAIN] = ant.gain_dbi
        params[i, terrain.S_RADIUS] = radius_m
        models.append(model)
    return params, models, np.column_stack([rows, cols])


def _filled_dem(dem: np.ndarray, params: np.ndarray, cell: float) -> np.ndarray:
    """DEM for the kernels: nodata -> 0 m (sea level), site cells -> mean of valid neighbours."""
    filled = np.where(np.isnan(dem), np.float32(0.0), dem).astype(np.float32)
    search = max(1, int(round(SITE_DEM_SEARCH_M / cell)))
    for r, c in params[:, [terrain.S_ROW, terrain.S_COL]].astype(int):
        if math.isnan(dem[r, c]):
            window = dem[max(0, r - search): r + search + 1, max(0, c - search): c + search + 1]
            filled[r, c] = np.float32(np.nanmean(window))
    return filled


#: Columns that must match for sectors to share one terrain sweep.
_SHARED_FIELDS = [terrain.S_ROW, terrain.S_COL, terrain.S_HEIGHT, terrain.S_FREQ, terrain.S_MODEL, terrain.S_ENV,
                  terrain.S_DIFFRACTION, terrain.S_RADIUS]


def _mast_groups(params: np.ndarray, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Order rows so that sectors of one mast and carrier are adjacent; return rows and group starts."""
    groups: dict[tuple[float, ...], list[int]] = {}
    for i in rows:
        groups.setdefault(tuple(params[i, _SHARED_FIELDS]), []).append(i)
    order = [i for members in groups.values() for i in members]
    starts = np.cumsum([0] + [len(m) for m in groups.values()]).astype(np.int64)
    return np.asarray(order, dtype=np.int64), starts


#: Masts swept per kernel call, between two progress reports.
_MASTS_PER_CALL = 32


def _fold_itm(
    dem: np.ndarray, site: np.ndarray, index: int, position: np.ndarray, cell: float, config: PropagationConfig,
    state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], origin: tuple[int, int],
) -> None:
    """Run covgap.itm for one site and fold its loss grid (plus antenna pattern) into the state."""
    itm = _itm_module()
    loss = itm.site_path_loss(
        dem.astype(np.float64), cell, float(position[0]), float(position[1]), float(site[terrain.S_HEIGHT]),
        config.receiver_height_m, float(site[terrain.S_FREQ]), float(site[terrain.S_RADIUS]), config.itm,
    )
    terrain.fold_loss_grid(
        dem, np.asarray(loss, dtype=np.float32), site, index, config.receiver_height_m, cell, config.k_factor, *state,
        *origin,
    )


def signal_layers(elevation: xr.DataArray, sites: pd.DataFrame, config: PropagationConfig) -> xr.Dataset:
    """Best-server received power per technology.

    Parameters
    ----------
    elevation : xarray.DataArray
        float32 ``(y, x)`` ground elevation (m) on an :class:`~covgap.grid.AnalysisGrid`
        (metric CRS, square cells); NaN = nodata. Nodata cells are taken as
        0 m in terrain profiles and get NaN in every output.
    sites : pandas.DataFrame
        The site table (see ``covgap.datasets.sites``) with grid coordinates
        ``x``, ``y`` added; server indices refer to its row positions.
    config : PropagationConfig
        Models, heights, antenna and metric settings.

    Returns
    -------
    xarray.Dataset
        For every technology present in ``sites``: ``received_power_<tech>``
        (float32 dBm in the tech's metric, NaN where no site reaches),
        ``best_server_<tech>`` (int32 row position, -1 none),
        ``second_power_<tech>`` (float32 dBm) and ``dominance_<tech>``
        (float32 dB: best minus the power sum of all other servers).

    Raises
    ------
    SiteError
        A transmitter cannot be modelled; the message names the site and field.
    """
    union, _groups = signal_layers_by_group(elevation, sites, config, by=None)
    return union


def signal_layers_by_group(
    elevation: xr.DataArray,
    sites: pd.DataFrame,
    config: PropagationConfig,
    *,
    by: str | None,
    progress: Callable[[int], None] | None = None,
    crop: Mapping[str, slice] | None = None,
) -> tuple[xr.Dataset, dict[str, xr.Dataset]]:
    """Signal of all transmitters together and of each group alone, in one pass.

    Every transmitter is swept once, into the state of its group (for
    example its operator); the groups' states are then merged exactly into
    the state of all transmitters together. This costs the same as
    :func:`signal_layers` over all transmitters.

    Parameters
    ----------
    elevation, sites, config
        As for :func:`signal_layers`.
    by : str or None
        The site-table column that names each transmitter's group; ``None``
        for no groups.
    progress : callable, optional
        Called with the number of transmitters just computed, every few masts.
    crop : mapping of str to slice, optional
        Compute only ``elevation.isel(crop)`` (``{"y": slice, "x": slice}``,
        unit steps): the terrain around it still shapes every path, but
        only its cells are modelled and held (a chunk of a larger run).

    Returns
    -------
    union : xarray.Dataset
        The layers of :func:`signal_layers` for all transmitters.
    groups : dict of str to xarray.Dataset
        The same layers for each group's transmitters alone (empty when
        ``by`` is ``None``); server indices stay row positions in ``sites``.
    """
    grid = AnalysisGrid.from_dataarray(elevation)
    dem = np.asarray(elevation.values, dtype=np.float32)
    log = _ValidityLog()
    params, models, positions = _site_rows(sites, grid, dem, config, log)
    log.warn()
    filled = _filled_dem(dem, params, grid.resolution)
    target_rows, target_cols = _crop_ranges(crop, dem.shape)
    origin = (target_rows.start, target_cols.start)
    nodata = np.isnan(dem[target_rows, target_cols])
    target = AnalysisGrid.from_dataarray(elevation.isel(y=target_rows, x=target_cols))
    labels = np.zeros(len(sites), dtype=np.int64) if by is None else pd.factorize(sites[by], sort=True)[0]
    names = [] if by is None else sorted(set(sites[by]))
    union_layers: dict[str, xr.DataArray] = {}
    group_layers: dict[str, dict[str, xr.DataArray]] = {name: {} for name in names}
    for tech in (t for t in TECHNOLOGIES if (sites["tech"] == t).any()):
        of_tech = (sites["tech"] == tech).to_numpy()
        states = []
        for g in range(max(1, len(names))):
            idx = np.flatnonzero(of_tech & (labels == g))
            state = bestserver.new_state(*target.shape)
            sweep, starts = _mast_groups(params, [i for i in idx if models[i] != "itm"])
            for first in range(0, len(starts) - 1, _MASTS_PER_CALL):
                bounds = starts[first : first + _MASTS_PER_CALL + 1]
                rows = sweep[bounds[0] : bounds[-1]]
                terrain.sweep_sites(
                    filled, params[rows], rows.astype(np.int32), bounds - bounds[0], config.receiver_height_m,
                    grid.resolution, config.k_factor, *state, *origin,
                )
                if progress is not None:
                    progress(len(rows))
            for i in idx:
                if models[i] == "itm":
                    _fold_itm(filled, params[i], int(i), positions[i], grid.resolution, config, state, origin)
                    if progress is not None:
                        progress(1)
            states.append(state)
        union = tuple(a.copy() for a in states[0]) if names else states[0]
        for state in states[1:]:
            bestserver.merge(*union, *state)
        union_layers.update(_tech_layers(target, tech, union, nodata))
        for name, state in zip(names, states):
            group_layers[name].update(_tech_layers(target, tech, state, nodata))
    return xr.Dataset(union_layers), {name: xr.Dataset(layers) for name, layers in group_layers.items()}


def _crop_ranges(crop: Mapping[str, slice] | None, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Row and column slices (with start and stop) of ``crop`` over a grid of ``shape``."""
    crop = crop or {}
    out = []
    for dim, size in zip(("y", "x"), shape):
        given = crop.get(dim, slice(None))
        start, stop, step = given.indices(size)
        if step != 1 or stop <= start:
            raise GridError(f"crop {dim}: expected a non-empty slice with unit step over {size} cells, got {given}")
        out.append(slice(start, stop))
    return out[0], out[1]


def _tech_layers(
    grid: AnalysisGrid, tech: str, state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], nodata: np.ndarray
) -> dict[str, xr.DataArray]:
    """The output layers of one technology from a finished sweep's state (consumed)."""
    best, second, total, index = state
    dominance = bestserver.finish(best, second, total)
    for arr in (best, second, dominance):
        arr[nodata] = np.nan
    index[nodata | np.isnan(best)] = bestserver.NO_SERVER
    metric = _METRIC_NAMES[tech]
    return {
        f"received_power_{tech}": grid.dataarray(
            best, f"received_power_{tech}", "dBm", f"best-server {metric} ({tech})", metric=metric
        ),
        f"best_server_{tech}": grid.dataarray(
            index, f"best_server_{tech}", "1", f"best-server transmitter (row in the site table), {tech}",
            _FillValue=bestserver.NO_SERVER,
        ),
        f"second_power_{tech}": grid.dataarray(
            second, f"second_power_{tech}", "dBm", f"second-best server {metric} ({tech})", metric=metric
        ),
        f"dominance_{tech}": grid.dataarray(
            dominance, f"dominance_{tech}", "dB",
            f"{tech} dominance: best server minus the power sum of all others (SINR proxy)",
        ),
    }
