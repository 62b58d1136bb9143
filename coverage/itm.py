"""Longley-Rice Irregular Terrain Model (ITM v1.4): parameters, validation, Python API.

The numerics live in :mod:`covgap.kernels.itm` (a port of NTIA's reference
implementation, GitHub ``NTIA/itm``) and :mod:`covgap.kernels.itm_sweep`
(one site over a DEM). This module validates inputs against ITM's domain
and raises :class:`~covgap.errors.SiteError` (heights, frequency, site
position) or :class:`~covgap.errors.ScenarioError` (``[propagation.itm]``
parameters) with the bad value and the allowed range, so that the kernels
never see inputs outside the model's domain.

Scenario table ``[propagation.itm]`` (all keys optional)::

    climate = "maritime_subtropical"   # or 1..7, see CLIMATES
    n0 = 370.0                         # surface refractivity N_0, N-units, 250..400
    ground = "average"                 # preset, see GROUNDS; or give both of:
    # epsilon = 15.0                   # relative permittivity, >= 1
    # sigma_s_per_m = 0.005            # conductivity, S/m, > 0
    polarization = "vertical"          # or "horizontal"
    variability_mode = "mobile"        # single_message | accidental | mobile | broadcast, or mdvar 0..33
    time_pct = 50.0                    # (0, 100); higher = more pessimistic loss
    location_pct = 50.0
    situation_pct = 50.0
    # or, NTIA's confidence/reliability form (instead of the three above):
    # reliability_pct = 90.0           # -> time_pct; location_pct = 50
    # confidence_pct = 50.0            # -> situation_pct
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from covgap.errors import ScenarioError, SiteError
from covgap.kernels import itm as _k
from covgap.kernels import itm_sweep as _sweep

__all__ = [
    "CLIMATES",
    "GROUNDS",
    "VARIABILITY_MODES",
    "ItmParams",
    "ItmResult",
    "ItmResults",
    "point_to_point",
    "point_to_point_many",
    "area",
    "radial_profile",
    "site_path_loss",
]

#: Radio climates (ITM codes 1..7).
CLIMATES: dict[str, int] = {
    "equatorial": 1,
    "continental_subtropical": 2,
    "maritime_subtropical": 3,
    "desert": 4,
    "continental_temperate": 5,
    "maritime_temperate_land": 6,
    "maritime_temperate_sea": 7,
}

#: Ground presets: (relative permittivity, conductivity S/m), as used by SPLAT! / Signal-Server.
GROUNDS: dict[str, tuple[float, float]] = {
    "average": (15.0, 0.005),
    "poor": (4.0, 0.001),
    "good": (25.0, 0.020),
    "city": (5.0, 0.001),
    "fresh_water": (81.0, 0.010),
    "sea_water": (81.0, 5.0),
}

#: Modes of variability (NTIA ``mdvar`` base values; add 10 to drop location
#: variability, 20 to drop situation variability).
VARIABILITY_MODES: dict[str, int] = {
    "single_message": _k.MDVAR_SINGLE_MESSAGE,
    "accidental": _k.MDVAR_ACCIDENTAL,
    "mobile": _k.MDVAR_MOBILE,
    "broadcast": _k.MDVAR_BROADCAST,
}

_POLARIZATIONS = {"horizontal": _k.POLARIZATION_HORIZONTAL, "vertical": _k.POLARIZATION_VERTICAL}
_SITING = {"random": _k.SITING_RANDOM, "careful": _k.SITING_CAREFUL, "very_careful": _k.SITING_VERY_CAREFUL}

_WARNING_TEXT = {
    _k.WARN_TX_TERMINAL_HEIGHT: "transmitter height is near the limits of the model (1-1000 m)",
    _k.WARN_RX_TERMINAL_HEIGHT: "receiver height is near the limits of the model (1-1000 m)",
    _k.WARN_FREQUENCY: "frequency is near the limits of the model (40-10000 MHz)",
    _k.WARN_PATH_DISTANCE_TOO_BIG_1: "path distance is near its upper limit (> 1000 km)",
    _k.WARN_PATH_DISTANCE_TOO_BIG_2: "path distance is large (> 2000 km); use the result with care",
    _k.WARN_PATH_DISTANCE_TOO_SMALL_1: "path distance is near its lower limit",
    _k.WARN_PATH_DISTANCE_TOO_SMALL_2: "path distance is small (< 1 km); use the result with care",
    _k.WARN_TX_HORIZON_ANGLE: "transmitter horizon angle is large (> 200 mrad)",
    _k.WARN_RX_HORIZON_ANGLE: "receiver horizon angle is large (> 200 mrad)",
    _k.WARN_TX_HORIZON_DISTANCE_1: "transmitter horizon is closer than 1/10 of the smooth-earth horizon",
    _k.WARN_RX_HORIZON_DISTANCE_1: "receiver horizon is closer than 1/10 of the smooth-earth horizon",
    _k.WARN_TX_HORIZON_DISTANCE_2: "transmitter horizon is farther than 3x the smooth-earth horizon",
    _k.WARN_RX_HORIZON_DISTANCE_2: "receiver horizon is farther than 3x the smooth-earth horizon",
    _k.WARN_EXTREME_VARIABILITIES: "a variability percentage is far in the tail of its distribution",
    _k.WARN_SURFACE_REFRACTIVITY: "surface refractivity N_s is small (< 250 N-units)",
}

_ERROR_TEXT = {
    _k.RC_SURFACE_REFRACTIVITY_SMALL: "surface refractivity N_s at the path height is below 150 N-units",
    _k.RC_SURFACE_REFRACTIVITY_LARGE: "surface refractivity N_s at the path height is above 400 N-units",
    _k.RC_EFFECTIVE_EARTH: "effective earth radius is outside 4000-13333 km",
    _k.RC_GROUND_IMPEDANCE: "ground impedance: imaginary part exceeds the real part (check epsilon, sigma)",
    _k.RC_PROFILE_NOT_FINITE: "the terrain profile holds a NaN or infinite elevation",
}

_INTER_NAMES = (
    "theta_hzn_tx",
    "theta_hzn_rx",
    "d_hzn_tx_m",
    "d_hzn_rx_m",
    "h_e_tx_m",
    "h_e_rx_m",
    "n_s",
    "delta_h_m",
    "a_ref_db",
    "a_fs_db",
    "d_km",
    "mode",
)

_KEYS = (
    "climate",
    "n0",
    "ground",
    "epsilon",
    "sigma_s_per_m",
    "polarization",
    "variability_mode",
    "time_pct",
    "location_pct",
    "situation_pct",
    "reliability_pct",
    "confidence_pct",
)


@dataclass(frozen=True)
class ItmParams:
    """ITM settings that do not depend on the path.

    Defaults suit the sample region (Da Nang, coastal central Vietnam):
    maritime subtropical climate with N_0 = 370 N-units (Hufford's table for
    that climate), average ground, vertical polarisation, mobile variability,
    median time/location/situation.
    """

    #: Radio climate code, 1..7 (see :data:`CLIMATES`).
    climate: int = CLIMATES["maritime_subtropical"]
    #: Surface refractivity N_0 at sea level, N-units.
    n0: float = 370.0
    #: Relative permittivity of the ground.
    epsilon: float = 15.0
    #: Ground conductivity, S/m.
    sigma_s_per_m: float = 0.005
    #: 0 horizontal, 1 vertical.
    polarization: int = _k.POLARIZATION_VERTICAL
    #: NTIA ``mdvar``.
    mdvar: int = VARIABILITY_MODES["mobile"]
    #: Time, location and situation percentages, each in (0, 100).
    time_pct: float = 50.0
    location_pct: float = 50.0
    situation_pct: float = 50.0

    def __post_init__(self) -> None:
        _check_params(self, "ItmParams")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, where: str = "[propagation.itm]") -> "ItmParams":
        """Build from a scenario table; raise ScenarioError naming the bad key.

        Parameters
        ----------
        table : mapping
            The ``[propagation.itm]`` table (see the module docstring).
        where : str
            Location used in error messages.

        Raises
        ------
        ScenarioError
            On an unknown key, a value of the wrong type or out of range.

        Examples
        --------
        >>> ItmParams.from_mapping({"climate": "equatorial", "location_pct": 90}).climate
        1
        """
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {unknown}; allowed keys are {list(_KEYS)}")
        kw: dict[str, Any] = {}
        if "climate" in table:
            kw["climate"] = _choice(table["climate"], CLIMATES, f"{where} climate", 1, 7)
        if "n0" in table:
            kw["n0"] = _number(table["n0"], f"{where} n0")
        if "ground" in table:
            if "epsilon" in table or "sigma_s_per_m" in table:
                raise ScenarioError(f"{where}: give either 'ground' or 'epsilon' + 'sigma_s_per_m', not both")
            name = table["ground"]
            if name not in GROUNDS:
                raise ScenarioError(f"{where} ground: {name!r} is not one of {sorted(GROUNDS)}")
            kw["epsilon"], kw["sigma_s_per_m"] = GROUNDS[name]
        elif ("epsilon" in table) != ("sigma_s_per_m" in table):
            raise ScenarioError(f"{where}: 'epsilon' and 'sigma_s_per_m' must be given together")
        elif "epsilon" in table:
            kw["epsilon"] = _number(table["epsilon"], f"{where} epsilon")
            kw["sigma_s_per_m"] = _number(table["sigma_s_per_m"], f"{where} sigma_s_per_m")
        if "polarization" in table:
            pol = table["polarization"]
            if pol not in _POLARIZATIONS:
                raise ScenarioError(f"{where} polarization: {pol!r} is not one of {sorted(_POLARIZATIONS)}")
            kw["polarization"] = _POLARIZATIONS[pol]
        if "variability_mode" in table:
            kw["mdvar"] = _choice(table["variability_mode"], VARIABILITY_MODES, f"{where} variability_mode", 0, 33)
        tls = [k for k in ("time_pct", "location_pct", "situation_pct") if k in table]
        cr = [k for k in ("reliability_pct", "confidence_pct") if k in table]
        if tls and cr:
            raise ScenarioError(f"{where}: use either {tls} or {cr} (NTIA's confidence/reliability form), not both")
        for key in tls:
            kw[key] = _number(table[key], f"{where} {key}")
        if "reliability_pct" in table:
            kw["time_pct"] = _number(table["reliability_pct"], f"{where} reliability_pct")
        if "confidence_pct" in table:
            kw["situation_pct"] = _number(table["confidence_pct"], f"{where} confidence_pct")
        _check_params(SimpleNamespace(**{**asdict(cls()), **kw}), where)
        return cls(**kw)


@dataclass(frozen=True)
class ItmResult:
    """Result of one ITM prediction.

    Attributes
    ----------
    loss_db : float
        Basic transmission loss, dB.
    return_code : int
        NTIA's return code: 0 success, 1 success with warnings.
    warnings : int
        NTIA's warning flags (``covgap.kernels.itm.WARN_*``).
    messages : list of str
        The warnings in words.
    intermediate : dict
        theta_hzn_tx/rx (rad), d_hzn_tx/rx_m, h_e_tx/rx_m, n_s, delta_h_m,
        a_ref_db, a_fs_db, d_km and mode (1 line of sight, 2 diffraction,
        3 troposcatter).
    """

    loss_db: float
    return_code: int
    warnings: int
    messages: list[str] = field(default_factory=list)
    intermediate: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)  # array fields: no element-wise ==, which has no single truth value
class ItmResults:
    """Results of many ITM predictions over one link (:func:`point_to_point_many`).

    Attributes
    ----------
    loss_db : ndarray float64 (m,)
        Basic transmission loss of each profile, dB.
    return_code : ndarray int64 (m,)
        NTIA's return code of each: 0 success, 1 success with warnings.
    warnings : ndarray int64 (m,)
        NTIA's warning flags of each (``covgap.kernels.itm.WARN_*``).
    intermediate : ndarray float64 (m, 12)
        Each profile's intermediate values, columns named by
        :attr:`INTERMEDIATE_NAMES` (as in :attr:`ItmResult.intermediate`).
    """

    #: Column names of :attr:`intermediate`.
    INTERMEDIATE_NAMES: ClassVar[tuple[str, ...]] = _INTER_NAMES

    loss_db: np.ndarray
    return_code: np.ndarray
    warnings: np.ndarray
    intermediate: np.ndarray

    def __len__(self) -> int:
        return int(self.loss_db.shape[0])

    def __getitem__(self, i: int) -> ItmResult:
        """Profile ``i``'s result as an :class:`ItmResult` (with its warnings in words)."""
        return _result(self.loss_db[i], self.warnings[i], self.return_code[i], self.intermediate[i])


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"{what}: expected a finite number, got {value!r}")
    return float(value)


def _choice(value: Any, names: Mapping[str, int], what: str, lo: int, hi: int) -> int:
    if isinstance(value, str):
        if value not in names:
            raise ScenarioError(f"{what}: {value!r} is not one of {sorted(names)}")
        return names[value]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ScenarioError(f"{what}: expected one of {sorted(names)} or an integer {lo}..{hi}, got {value!r}")
    return value


def _check_params(p: Any, where: str) -> None:
    """Raise ScenarioError for parameters outside ITM's domain."""
    if p.climate not in CLIMATES.values():
        raise ScenarioError(f"{where} climate: {p.climate!r} is not 1..7")
    if not 250.0 <= p.n0 <= 400.0:
        raise ScenarioError(f"{where} n0: {p.n0} N-units is outside ITM's range 250..400")
    if not p.epsilon >= 1.0:
        raise ScenarioError(f"{where} epsilon: {p.epsilon} must be >= 1")
    if not p.sigma_s_per_m > 0.0:
        raise ScenarioError(f"{where} sigma_s_per_m: {p.sigma_s_per_m} S/m must be > 0")
    if p.polarization not in _POLARIZATIONS.values():
        raise ScenarioError(f"{where} polarization: {p.polarization!r} is not 0 (horizontal) or 1 (vertical)")
    md = p.mdvar
    if not (isinstance(md, int) and (0 <= md % 10 <= 3) and 0 <= md <= 33):
        raise ScenarioError(f"{where} variability_mode: mdvar {md!r} must be 0..3 (+10 and/or +20)")
    for name in ("time_pct", "location_pct", "situation_pct"):
        v = getattr(p, name)
        if not 0.0 < v < 100.0:
            raise ScenarioError(f"{where} {name}: {v} must be strictly between 0 and 100")
    z_g = _ground_impedance(p, 100.0)
    if z_g.real <= abs(z_g.imag):
        raise ScenarioError(
            f"{where}: epsilon={p.epsilon}, sigma={p.sigma_s_per_m} S/m give an invalid ground impedance"
        )


def _ground_impedance(p: Any, freq_mhz: float) -> complex:
    z_g, _, _ = _k.initialize_point_to_point(float(freq_mhz), 0.0, p.n0, p.polarization, p.epsilon, p.sigma_s_per_m)
    return complex(z_g)


@lru_cache(maxsize=256)
def _checked_link(tx_height_m: float, rx_height_m: float, freq_mhz: float, p: ItmParams) -> np.ndarray:
    """The kernels' link array (:func:`covgap.kernels.itm.link_parameters`), inputs checked against ITM's domain.

    Cached: a caller predicting one path at a time over the same link pays
    for the checks and the link's constants once. The array is shared
    between callers; the kernels only read it.
    """
    for name, h in (("tx_height_m", tx_height_m), ("rx_height_m", rx_height_m)):
        if not (math.isfinite(h) and 0.5 <= h <= 3000.0):
            raise SiteError(f"{name}: {h} m is outside ITM's range 0.5..3000 m")
    if not (math.isfinite(freq_mhz) and 20.0 <= freq_mhz <= 20000.0):
        raise SiteError(f"freq_mhz: {freq_mhz} MHz is outside ITM's range 20..20000 MHz")
    z_g = _ground_impedance(p, freq_mhz)
    if z_g.real <= abs(z_g.imag):
        raise SiteError(
            f"freq_mhz: at {freq_mhz} MHz the ground (epsilon={p.epsilon}, sigma={p.sigma_s_per_m} S/m) "
            "gives an invalid ITM ground impedance"
        )
    link = _k.link_parameters(
        float(tx_height_m), float(rx_height_m), p.climate, p.n0, float(freq_mhz), p.polarization, p.epsilon,
        p.sigma_s_per_m, p.mdvar, p.time_pct, p.location_pct, p.situation_pct,
    )
    rc = int(link[_k.LINK_RETURN_CODE])
    if rc != _k.RC_SUCCESS:
        raise SiteError(f"ITM error {rc}: input outside the model domain")
    return link


def _error_text(rc: int) -> str:
    return _ERROR_TEXT.get(rc, "input outside the model domain")


def _result(loss: float, warnings: int, rc: int, inter: np.ndarray) -> ItmResult:
    if rc >= 1000:
        raise SiteError(f"ITM error {rc}: {_error_text(rc)}")
    messages = [text for flag, text in _WARNING_TEXT.items() if warnings & flag] if warnings else []
    values = dict(zip(_INTER_NAMES, inter.tolist()))
    values["mode"] = int(values["mode"])
    return ItmResult(float(loss), int(rc), int(warnings), messages, values)


def _elevation_failure(loss: float, rc: int) -> bool:
    """Whether a prediction failed on its profile's elevations.

    Refused as not finite, or a NaN loss without an ITM error code.
    """
    return rc == _k.RC_PROFILE_NOT_FINITE or (rc < 1000 and math.isnan(loss))


def _elevation_error(z: np.ndarray, where: str) -> SiteError:
    """The error of a profile ITM refused as not finite, or gave a NaN loss over.

    The kernel checks the profile in the pass that takes its mean height
    (:data:`~covgap.kernels.itm.RC_PROFILE_NOT_FINITE`); the elevations are
    searched here only to name the first NaN or infinite one. Finite
    elevations so far beyond terrain that ITM's arithmetic overflows are
    named by their range.
    """
    finite = np.isfinite(z)
    if not finite.all():
        at = int(np.argmin(finite))
        return SiteError(f"{where}: point {at} is {z[at]}; elevations must be finite numbers")
    return SiteError(
        f"{where}: ITM gives no finite loss over elevations from {z.min():g} to {z.max():g} m; "
        "expected terrain heights in metres"
    )


def point_to_point(
    elevation_m: np.ndarray,
    spacing_m: float,
    tx_height_m: float,
    rx_height_m: float,
    freq_mhz: float,
    params: ItmParams | None = None,
) -> ItmResult:
    """ITM point-to-point loss over a terrain profile.

    Parameters
    ----------
    elevation_m : array-like (n,)
        Terrain elevations (m) from transmitter to receiver, n >= 2, finite.
    spacing_m : float
        Distance between samples, m (> 0).
    tx_height_m, rx_height_m : float
        Antenna heights above ground, m (0.5..3000).
    freq_mhz : float
        Frequency, MHz (20..20000).
    params : ItmParams, optional
        Climate, ground, variability; defaults to ``ItmParams()``.

    Returns
    -------
    ItmResult

    Raises
    ------
    SiteError
        Inputs outside ITM's domain, an ITM error return code, a NaN or
        infinite elevation (named by its index), or elevations over which
        ITM gives no finite loss.
    """
    p = params or ItmParams()
    z = np.ascontiguousarray(elevation_m, dtype=np.float64)
    if z.ndim != 1 or z.size < 2:
        raise SiteError(f"elevation_m: need a 1-D profile of at least 2 points, got shape {z.shape}")
    if not (math.isfinite(spacing_m) and spacing_m > 0):
        raise SiteError(f"spacing_m: {spacing_m} must be a positive distance in metres")
    link = _checked_link(tx_height_m, rx_height_m, freq_mhz, p)
    inter = np.empty(_k.N_INTER)
    loss, warnings, rc = _k.itm_p2p_tls(z, float(spacing_m), link, inter)
    if _elevation_failure(loss, rc):
        raise _elevation_error(z, "elevation_m")
    return _result(loss, warnings, rc, inter)


def _stack_profiles(profiles: np.ndarray | Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The profiles one after another (float64, checked) and where each starts (int64, m + 1)."""
    if isinstance(profiles, np.ndarray):
        if profiles.ndim != 2:
            raise SiteError(
                f"profiles: need a 2-D array (one profile per row) or a sequence of 1-D profiles, "
                f"got an array of shape {profiles.shape}"
            )
        m, n = profiles.shape
        lengths = np.array([n])
        flat = np.ascontiguousarray(profiles, dtype=np.float64).reshape(-1)
        starts = np.arange(0, (m + 1) * n, n, dtype=np.int64) if n else np.zeros(m + 1, dtype=np.int64)
    else:
        try:
            lengths = np.array([len(z) for z in profiles], dtype=np.int64)
            flat = np.concatenate(profiles, dtype=np.float64) if len(lengths) else np.empty(0)
        except (TypeError, ValueError) as err:
            raise SiteError(f"profiles: each profile must be a 1-D sequence of elevations ({err})") from None
        if flat.ndim != 1 or flat.size != lengths.sum():
            raise SiteError("profiles: each profile must be a 1-D sequence of elevations")
        starts = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
    if starts.size == 1:
        raise SiteError("profiles: no profile given")
    if lengths.min() < 2:
        i = int(np.argmax(lengths < 2))
        raise SiteError(f"profiles[{i}]: need at least 2 points, got {lengths[i]}")
    return flat, starts


def point_to_point_many(
    profiles: np.ndarray | Sequence[Any],
    spacing_m: float | np.ndarray,
    tx_height_m: float,
    rx_height_m: float,
    freq_mhz: float,
    params: ItmParams | None = None,
) -> ItmResults:
    """ITM point-to-point loss over many terrain profiles of one link, in one call.

    For link budgets over many paths (every planned hop of a backhaul
    network, sample paths around a site, a drive-test route): the inputs and
    the link are checked once and the profiles run in one compiled loop, so
    each prediction costs what the kernel costs, without a Python call each.
    The profiles are shared among Numba's threads (all cores unless
    ``numba.set_num_threads`` says fewer). Each result equals
    :func:`point_to_point`'s for that profile.

    Parameters
    ----------
    profiles : ndarray (m, n) or sequence of array-like (n_i,)
        Terrain elevations (m) from transmitter to receiver: one profile per
        row of a 2-D array, or a sequence of 1-D profiles of any lengths;
        each at least 2 points, finite.
    spacing_m : float or array-like (m,)
        Distance between samples (m, > 0): one for all, or one per profile.
    tx_height_m, rx_height_m, freq_mhz, params
        As :func:`point_to_point`, shared by every profile.

    Returns
    -------
    ItmResults
        Arrays of losses, return codes, warnings and intermediate values;
        ``results[i]`` is profile ``i``'s :class:`ItmResult`.

    Raises
    ------
    SiteError
        A profile or spacing that is not valid (named by its index), inputs
        outside ITM's domain, or an ITM error on a profile (the first such
        profile is named).

    Examples
    --------
    >>> res = point_to_point_many(np.zeros((3, 101)), 30.0, 30.0, 1.5, 900.0)
    >>> len(res), bool(res.loss_db[0] == point_to_point(np.zeros(101), 30.0, 30.0, 1.5, 900.0).loss_db)
    (3, True)
    """
    p = params or ItmParams()
    flat, starts = _stack_profiles(profiles)
    m = starts.size - 1
    try:
        xi = np.asarray(spacing_m, dtype=np.float64)
    except (TypeError, ValueError):
        raise SiteError(f"spacing_m: {spacing_m!r} is not a distance in metres or a sequence of them") from None
    if xi.ndim == 0:
        xi = np.full(m, float(xi))
    elif xi.shape != (m,):
        raise SiteError(f"spacing_m: need one spacing or one per profile ({m}), got shape {xi.shape}")
    valid = np.isfinite(xi) & (xi > 0)
    if not valid.all():
        i = int(np.argmin(valid))
        raise SiteError(f"spacing_m[{i}]: {xi[i]} must be a positive distance in metres")
    link = _checked_link(tx_height_m, rx_height_m, freq_mhz, p)
    loss = np.empty(m)
    warnings = np.empty(m, dtype=np.int64)
    codes = np.empty(m, dtype=np.int64)
    inter = np.empty((m, _k.N_INTER))
    _k.itm_p2p_tls_many(flat, starts, np.ascontiguousarray(xi), link, loss, warnings, codes, inter)
    failed = np.flatnonzero(np.isnan(loss))  # every error gives a NaN loss
    if failed.size:
        i = int(failed[0])
        rc = int(codes[i])
        if _elevation_failure(loss[i], rc):
            raise _elevation_error(flat[starts[i] : starts[i + 1]], f"profiles[{i}]")
        more = f" ({failed.size} profiles failed)" if failed.size > 1 else ""
        raise SiteError(f"profiles[{i}]: ITM error {rc}: {_error_text(rc)}{more}")
    return ItmResults(loss, codes, warnings, inter)


def area(
    distance_km: float,
    delta_h_m: float,
    tx_height_m: float,
    rx_height_m: float,
    freq_mhz: float,
    params: ItmParams | None = None,
    *,
    tx_siting: str = "random",
    rx_siting: str = "random",
) -> ItmResult:
    """ITM area-mode loss at a distance over terrain of irregularity ``delta_h_m``.

    Parameters
    ----------
    distance_km : float
        Path length, km (> 0).
    delta_h_m : float
        Terrain irregularity parameter, m (>= 0; 0 smooth, 90 hills, 200 mountains).
    tx_height_m, rx_height_m, freq_mhz, params
        As :func:`point_to_point`.
    tx_siting, rx_siting : {"random", "careful", "very_careful"}
        Siting criteria of the terminals.

    Returns
    -------
    ItmResult

    Raises
    ------
    SiteError
        Inputs outside ITM's domain.
    """
    p = params or ItmParams()
    if not (math.isfinite(distance_km) and distance_km > 0):
        raise SiteError(f"distance_km: {distance_km} must be > 0")
    if not (math.isfinite(delta_h_m) and delta_h_m >= 0):
        raise SiteError(f"delta_h_m: {delta_h_m} must be >= 0")
    for name, s in (("tx_siting", tx_siting), ("rx_siting", rx_siting)):
        if s not in _SITING:
            raise SiteError(f"{name}: {s!r} is not one of {sorted(_SITING)}")
    link = _checked_link(tx_height_m, rx_height_m, freq_mhz, p)
    inter = np.empty(_k.N_INTER)
    loss, warnings, rc = _k.itm_area_tls(
        float(distance_km), float(delta_h_m), _SITING[tx_siting], _SITING[rx_siting], link, inter
    )
    return _result(loss, warnings, rc, inter)


def _radial_count(radius_cells: float) -> int:
    return max(8, int(math.ceil(2.0 * math.pi * radius_cells)))


def radial_profile(elevation: np.ndarray, row: float, col: float, bearing_rad: float, n_int: int) -> np.ndarray:
    """The terrain profile :func:`site_path_loss` uses along one bearing.

    ``row``/``col`` as in :func:`site_path_loss`; ``bearing_rad`` is
    ``atan2(d_row, d_col)``. Returns ``n_int + 1`` bilinear samples one cell
    apart (NaN from the first sample outside the grid or on nodata).
    """
    z = np.empty(n_int + 1)
    _sweep.radial_profile(np.ascontiguousarray(elevation, dtype=np.float64), row - 0.5, col - 0.5,
                          float(bearing_rad), int(n_int), z)
    return z


def site_path_loss(
    elevation: np.ndarray,
    cell_size_m: float,
    row: float,
    col: float,
    tx_height_m: float,
    rx_height_m: float,
    freq_mhz: float,
    radius_m: float,
    params: ItmParams | None = None,
) -> np.ndarray:
    """ITM basic transmission loss from one site to every cell of a DEM.

    Each cell within ``radius_m`` takes the radial (of ``ceil(2 pi R)``,
    R = radius in cells) nearest to its bearing and the sample nearest to its
    distance ``k`` cells (at least 1, so the site's own cell gets the loss at
    one cell); its loss is exactly ITM point-to-point on that radial's
    profile from the site to sample ``k`` (bilinear samples one cell apart,
    see :func:`radial_profile`). See :mod:`covgap.kernels.itm_sweep` for what
    is carried along a radial and what is recomputed per cell. Runs in
    parallel over radials on Numba's threads.

    Parameters
    ----------
    elevation : ndarray (H, W)
        Elevation, m, NaN = nodata (cast to float64 once).
    cell_size_m : float
        Cell size, m (square cells).
    row, col : float
        Site position as fractional row/col, cell centres on half-integers
        (as :meth:`covgap.grid.AnalysisGrid.rowcol` returns).
    tx_height_m, rx_height_m : float
        Antenna heights above ground, m (0.5..3000).
    freq_mhz : float
        Frequency, MHz (20..20000).
    radius_m : float
        Maximum distance, m.
    params : ItmParams, optional
        Climate, ground, variability.

    Returns
    -------
    ndarray float32 (H, W)
        Basic transmission loss, dB; NaN beyond ``radius_m`` and where the
        profile meets nodata or leaves the grid.

    Raises
    ------
    SiteError
        Inputs outside ITM's domain, a site outside the grid or on nodata.
    """
    p = params or ItmParams()
    elev = np.ascontiguousarray(elevation, dtype=np.float64)
    if elev.ndim != 2:
        raise SiteError(f"elevation: expected a 2-D array, got shape {elev.shape}")
    if not (math.isfinite(cell_size_m) and cell_size_m > 0):
        raise SiteError(f"cell_size_m: {cell_size_m} must be > 0")
    if not (math.isfinite(radius_m) and radius_m >= cell_size_m):
        raise SiteError(f"radius_m: {radius_m} must be at least one cell ({cell_size_m} m)")
    h, w = elev.shape
    r0, c0 = row - 0.5, col - 0.5
    if not (0.0 <= r0 <= h - 1 and 0.0 <= c0 <= w - 1):
        raise SiteError(f"site at row={row}, col={col} is outside the elevation grid ({h} x {w} cells)")
    if math.isnan(_sweep.bilinear(elev, r0, c0)):
        raise SiteError(f"site at row={row}, col={col} stands on nodata elevation")
    link = _checked_link(tx_height_m, rx_height_m, freq_mhz, p)
    radius_cells = radius_m / cell_size_m
    _check_path_heights(elev, r0, c0, radius_cells, p)
    out = np.empty((h, w), np.float32)
    _sweep.itm_site_sweep(elev, float(cell_size_m), r0, c0, radius_cells, _radial_count(radius_cells), link, out)
    return out


def _check_path_heights(elev: np.ndarray, r0: float, c0: float, radius_cells: float, p: ItmParams) -> None:
    """Every mean path height lies within the DEM's range; refuse ranges where N_s leaves 150..400."""
    h, w = elev.shape
    win = elev[
        max(0, int(r0 - radius_cells) - 1) : min(h, int(r0 + radius_cells) + 2),
        max(0, int(c0 - radius_cells) - 1) : min(w, int(c0 + radius_cells) + 2),
    ]
    lo, hi = float(np.nanmin(win)), float(np.nanmax(win))
    for z in (lo, hi):
        _, n_s = _k.effective_curvature(z, p.n0)
        if not 150.0 <= n_s <= 400.0:
            raise SiteError(
                f"elevation {z:.0f} m around the site gives surface refractivity N_s={n_s:.1f}, "
                "outside ITM's range 150..400 N-units"
            )
