"""Empirical and deterministic path-loss models, as scalar Numba functions.

Every function returns a basic transmission loss in dB for one link.
Frequencies are in MHz, distances and heights in metres. The functions do
no validation: :mod:`covgap.propagation` checks each site against the
model's validity range (the ``*_RANGE`` constants below) before any kernel
runs and reports use outside the range as a warning.

==============  ============================================  ===============
model id        formula                                       validity
==============  ============================================  ===============
``FREE_SPACE``  ITU-R P.525-4 eq. (4)                         any f, d > 0
``HATA``        Okumura-Hata (Hata 1980; ITU-R P.529-3)       150-1500 MHz,
                                                              hb 30-200 m,
                                                              hm 1-10 m,
                                                              d 1-20 km
``COST231``     COST-231 Hata (COST Action 231 final report,  1500-2000 MHz,
                sect. 4.4.1)                                  same heights
                                                              and distances
``RMA``         3GPP TR 38.901 V17 Table 7.4.1-1, RMa         0.5-30 GHz,
                                                              hBS 10-150 m,
                                                              hUT 1-10 m,
                                                              d2D 10 m-10 km
                                                              (NLOS 5 km)
``UMA``         3GPP TR 38.901 V17 Table 7.4.1-1, UMa         0.5-100 GHz,
                                                              hBS 25 m,
                                                              hUT 1.5-22.5 m,
                                                              d2D 10 m-5 km
==============  ============================================  ===============

Environment ids select Hata's correction (``URBAN`` medium-sized city,
``DENSE_URBAN`` large city / COST-231 metropolitan centre, ``SUBURBAN``,
``RURAL`` open area); the 3GPP models ignore it.
"""

import math

import numpy as np

from covgap.kernels.jit import ngjit

#: Speed of light in vacuum (m/s).
SPEED_OF_LIGHT_M_S = 299792458.0
#: Mean Earth radius (m), as used with the effective-radius factor k (ITU-R P.834).
EARTH_RADIUS_M = 6371000.0
#: Every model is evaluated at no less than this 2-D distance (m); the
#: 3GPP models start at 10 m and the transmitter's own cell has d = 0.
MIN_DISTANCE_M = 10.0

FREE_SPACE = 0
HATA = 1
COST231 = 2
RMA = 3
UMA = 4

URBAN = 0
DENSE_URBAN = 1
SUBURBAN = 2
RURAL = 3

#: (f_min, f_max) MHz each model covers; outside, a site is rejected.
FREQUENCY_RANGE_MHZ = {
    FREE_SPACE: (1.0, 1.0e6),
    HATA: (150.0, 1500.0),
    COST231: (1500.0, 2000.0),
    RMA: (500.0, 30000.0),
    UMA: (500.0, 100000.0),
}
#: (min, max) base-station antenna height (m) the model was fitted for.
TX_HEIGHT_RANGE_M = {
    FREE_SPACE: (0.0, math.inf),
    HATA: (30.0, 200.0),
    COST231: (30.0, 200.0),
    RMA: (10.0, 150.0),
    UMA: (10.0, 150.0),
}
#: (min, max) mobile antenna height (m).
RX_HEIGHT_RANGE_M = {
    FREE_SPACE: (0.0, math.inf),
    HATA: (1.0, 10.0),
    COST231: (1.0, 10.0),
    RMA: (1.0, 10.0),
    UMA: (1.5, 22.5),
}
#: Largest 2-D distance (m) the model was fitted for.
MAX_DISTANCE_M = {FREE_SPACE: math.inf, HATA: 20000.0, COST231: 20000.0, RMA: 10000.0, UMA: 5000.0}

#: RMa default average building height (m) and street width (m), Table 7.4.1-1 note.
RMA_BUILDING_HEIGHT_M = 5.0
RMA_STREET_WIDTH_M = 20.0
#: UMa effective environment height (m) for the breakpoint distance.
UMA_ENVIRONMENT_HEIGHT_M = 1.0


@ngjit
def free_space_db(f_mhz, d_m):
    """Free-space basic transmission loss, ITU-R P.525 eq. (4).

    ``L = 20 log10(4 pi d / lambda)`` = 32.45 + 20 log10 f[MHz] + 20 log10 d[km].
    """
    d = max(d_m, 1.0)
    wavelength = SPEED_OF_LIGHT_M_S / (f_mhz * 1.0e6)
    return 20.0 * math.log10(4.0 * math.pi * d / wavelength)


@ngjit
def _hata_mobile_correction(f_mhz, h_rx, env):
    """Hata's mobile-antenna correction a(hm) in dB."""
    if env == DENSE_URBAN:
        if f_mhz >= 300.0:
            return 3.2 * math.log10(11.75 * h_rx) ** 2 - 4.97
        return 8.29 * math.log10(1.54 * h_rx) ** 2 - 1.1
    lf = math.log10(f_mhz)
    return (1.1 * lf - 0.7) * h_rx - (1.56 * lf - 0.8)


@ngjit
def hata_db(f_mhz, d_m, h_tx, h_rx, env):
    """Okumura-Hata median loss (Hata 1980, as in ITU-R P.529-3).

    ``L_urban = 69.55 + 26.16 log f - 13.82 log hb - a(hm) + (44.9 - 6.55 log hb) log d``
    with d in km; suburban subtracts ``2 (log(f/28))^2 + 5.4``, open (rural)
    subtracts ``4.78 (log f)^2 - 18.33 log f + 40.94``.
    """
    lf = math.log10(f_mhz)
    lhb = math.log10(h_tx)
    d_km = max(d_m, MIN_DISTANCE_M) / 1000.0
    loss = 69.55 + 26.16 * lf - 13.82 * lhb - _hata_mobile_correction(f_mhz, h_rx, env)
    loss += (44.9 - 6.55 * lhb) * math.log10(d_km)
    if env == SUBURBAN:
        loss -= 2.0 * math.log10(f_mhz / 28.0) ** 2 + 5.4
    elif env == RURAL:
        loss -= 4.78 * lf * lf - 18.33 * lf + 40.94
    return loss


@ngjit
def cost231_db(f_mhz, d_m, h_tx, h_rx, env):
    """COST-231 Hata median loss (COST 231 final report, 1999, sect. 4.4.1).

    ``L = 46.3 + 33.9 log f - 13.82 log hb - a(hm) + (44.9 - 6.55 log hb) log d + Cm``
    with ``Cm = 3 dB`` for metropolitan centres (``DENSE_URBAN``), 0 dB
    otherwise; suburban and rural apply Hata's open/suburban corrections.
    """
    lf = math.log10(f_mhz)
    lhb = math.log10(h_tx)
    d_km = max(d_m, MIN_DISTANCE_M) / 1000.0
    loss = 46.3 + 33.9 * lf - 13.82 * lhb - _hata_mobile_correction(f_mhz, h_rx, env)
    loss += (44.9 - 6.55 * lhb) * math.log10(d_km)
    if env == DENSE_URBAN:
        loss += 3.0
    elif env == SUBURBAN:
        loss -= 2.0 * math.log10(f_mhz / 28.0) ** 2 + 5.4
    elif env == RURAL:
        loss -= 4.78 * lf * lf - 18.33 * lf + 40.94
    return loss


@ngjit
def _rma_los(fc_ghz, d3d, h):
    """RMa PL1 of TR 38.901 Table 7.4.1-1 (d3D in m)."""
    return (
        20.0 * math.log10(40.0 * math.pi * d3d * fc_ghz / 3.0)
        + min(0.03 * h**1.72, 10.0) * math.log10(d3d)
        - min(0.044 * h**1.72, 14.77)
        + 0.002 * math.log10(h) * d3d
    )


@ngjit
def rma_db(f_mhz, d2d_m, h_tx, h_rx, los):
    """3GPP TR 38.901 RMa path loss, LOS (with breakpoint) or NLOS.

    ``d_BP = 2 pi hBS hUT fc / c``; LOS is PL1 up to d_BP and
    ``PL1(d_BP) + 40 log10(d3D / d_BP)`` beyond; NLOS is
    ``max(PL_LOS, PL'_NLOS)`` with W = 20 m, h = 5 m.
    """
    fc_ghz = f_mhz / 1000.0
    h = RMA_BUILDING_HEIGHT_M
    d2d = max(d2d_m, MIN_DISTANCE_M)
    dh = h_tx - h_rx
    d3d = math.sqrt(d2d * d2d + dh * dh)
    d_bp = 2.0 * math.pi * h_tx * h_rx * f_mhz * 1.0e6 / SPEED_OF_LIGHT_M_S
    if d2d <= d_bp:
        pl_los = _rma_los(fc_ghz, d3d, h)
    else:
        pl_los = _rma_los(fc_ghz, d_bp, h) + 40.0 * math.log10(d3d / d_bp)
    if los:
        return pl_los
    w = RMA_STREET_WIDTH_M
    pl_nlos = (
        161.04
        - 7.1 * math.log10(w)
        + 7.5 * math.log10(h)
        - (24.37 - 3.7 * (h / h_tx) ** 2) * math.log10(h_tx)
        + (43.42 - 3.1 * math.log10(h_tx)) * (math.log10(d3d) - 3.0)
        + 20.0 * math.log10(fc_ghz)
        - (3.2 * math.log10(11.75 * h_rx) ** 2 - 4.97)
    )
    return max(pl_los, pl_nlos)


@ngjit
def uma_db(f_mhz, d2d_m, h_tx, h_rx, los):
    """3GPP TR 38.901 UMa path loss, LOS (with breakpoint) or NLOS.

    ``d'_BP = 4 h'BS h'UT fc / c`` with ``h' = h - 1 m``; LOS is
    ``28 + 22 log d3D + 20 log fc`` up to d'_BP and
    ``28 + 40 log d3D + 20 log fc - 9 log(d'_BP^2 + (hBS - hUT)^2)`` beyond;
    NLOS is ``max(PL_LOS, 13.54 + 39.08 log d3D + 20 log fc - 0.6 (hUT - 1.5))``.
    """
    fc_ghz = f_mhz / 1000.0
    lfc = math.log10(fc_ghz)
    d2d = max(d2d_m, MIN_DISTANCE_M)
    dh = h_tx - h_rx
    d3d = math.sqrt(d2d * d2d + dh * dh)
    he = UMA_ENVIRONMENT_HEIGHT_M
    d_bp = 4.0 * max(h_tx - he, 0.1) * max(h_rx - he, 0.1) * f_mhz * 1.0e6 / SPEED_OF_LIGHT_M_S
    if d2d <= d_bp:
        pl_los = 28.0 + 22.0 * math.log10(d3d) + 20.0 * lfc
    else:
        pl_los = 28.0 + 40.0 * math.log10(d3d) + 20.0 * lfc - 9.0 * math.log10(d_bp * d_bp + dh * dh)
    if los:
        return pl_los
    pl_nlos = 13.54 + 39.08 * math.log10(d3d) + 20.0 * lfc - 0.6 * (h_rx - 1.5)
    return max(pl_los, pl_nlos)


@ngjit
def path_loss_db(model, env, f_mhz, d2d_m, h_tx, h_rx, los):
    """Dispatch on ``model`` (one of the ids above); never below free space.

    Parameters
    ----------
    model, env : int
        Model and environment ids.
    f_mhz : float
        Carrier frequency (MHz).
    d2d_m : float
        Horizontal distance (m).
    h_tx, h_rx : float
        Antenna heights above ground (m).
    los : bool
        Terrain line-of-sight state; used by the 3GPP models only.
    """
    fs = free_space_db(f_mhz, max(d2d_m, MIN_DISTANCE_M))
    if model == HATA:
        return max(fs, hata_db(f_mhz, d2d_m, h_tx, h_rx, env))
    if model == COST231:
        return max(fs, cost231_db(f_mhz, d2d_m, h_tx, h_rx, env))
    if model == RMA:
        return max(fs, rma_db(f_mhz, d2d_m, h_tx, h_rx, los))
    if model == UMA:
        return max(fs, uma_db(f_mhz, d2d_m, h_tx, h_rx, los))
    return fs


@ngjit
def curvature_drop_m(d_m, k_factor):
    """Apparent drop (m) of the ground at distance d under effective Earth radius k a.

    ``d^2 / (2 k a)`` with a = :data:`EARTH_RADIUS_M`.
    """
    return d_m * d_m / (2.0 * k_factor * EARTH_RADIUS_M)


@ngjit
def knife_edge_db(v):
    """Single knife-edge diffraction loss J(v), ITU-R P.526-15 eq. (31).

    ``J(v) = 6.9 + 20 log10(sqrt((v - 0.1)^2 + 1) + v - 0.1)`` for v > -0.78,
    else 0.
    """
    if v <= -0.78:
        return 0.0
    t = v - 0.1
    return 6.9 + 20.0 * math.log10(math.sqrt(t * t + 1.0) + t)


#: :func:`knife_edge_table_db` tabulates J(v) every KNIFE_EDGE_STEP from v = -0.78 up to
#: KNIFE_EDGE_V_MAX (J = 40.9 dB); |J''| <= 3.4 dB, so linear interpolation errs by
#: less than KNIFE_EDGE_STEP^2 * 3.4 / 8 = 4.3e-5 dB. The 2,579 entries (21 KB) stay in
#: the L1 cache of the sweep that reads them once per obstructed cell.
KNIFE_EDGE_STEP = 0.01
KNIFE_EDGE_V_MAX = 25.0


def _knife_edge_table():
    """J(v) at v = -0.78 + i KNIFE_EDGE_STEP (plain NumPy, at import)."""
    t = -0.78 + KNIFE_EDGE_STEP * np.arange(int(round((KNIFE_EDGE_V_MAX + 0.78) / KNIFE_EDGE_STEP)) + 1) - 0.1
    return 6.9 + 20.0 * np.log10(np.sqrt(t * t + 1.0) + t)


_KNIFE_EDGE_TABLE = _knife_edge_table()


@ngjit
def knife_edge_table_db(v):
    """:func:`knife_edge_db` from a table (within 5e-5 dB; direct above ``KNIFE_EDGE_V_MAX``)."""
    if v <= -0.78:
        return 0.0
    x = (v + 0.78) * (1.0 / KNIFE_EDGE_STEP)
    i = int(x)
    if i >= _KNIFE_EDGE_TABLE.shape[0] - 1:
        return knife_edge_db(v)
    lo = _KNIFE_EDGE_TABLE[i]
    return lo + (x - i) * (_KNIFE_EDGE_TABLE[i + 1] - lo)
