"""ITM point-to-point loss of one site to every cell of a DEM, by radial sweep.

Geometry. The site sits at fractional cell-centre coordinates ``(r0, c0)``
(cell ``(i, j)`` has its centre at ``(i, j)``). ``n_rad`` radials leave the
site at bearings ``2 pi j / n_rad`` in the (row, col) plane; radial ``j`` is
sampled every cell (spacing ``cell`` metres) by bilinear interpolation,
giving the profile ``z_j[0..K]``. A cell at distance ``rho`` cells and
bearing ``phi`` takes the radial nearest to ``phi`` and the sample
``k = max(1, round(rho))``; its loss is exactly :func:`itm_p2p_tls` on the
profile ``z_j[0..k]`` (``k`` intervals of ``cell`` metres). With
``n_rad >= 2 pi K`` the sample lies within half a cell of the cell centre.

What is carried along a radial (computed once per radial, O(K)):

* the profile itself and its prefix sums ``sum z`` and ``sum i z`` (mean
  path height ``h_sys`` and the least-squares fits in O(1));
* the prefix maximum of the terrain and its maximum per block of
  :data:`HORIZON_BLOCK` samples (bound the receiver-horizon search);
* the transmitter horizon: the candidates ``theta_i(g) = (z_i - z_tx)/d_i -
  d_i g / 2`` are lines in the effective curvature ``g``, which varies per
  cell with ``h_sys``; their upper envelope is kept incrementally (convex
  hull trick), so each cell finds its transmitter horizon in O(log K).

Computed once per site, by the caller: the link array
(:func:`~covgap.kernels.itm.link_parameters`, as point-to-point takes it),
which holds the terms of Longley-Rice and the variability that depend only
on frequency, ground, climate and the time/location/situation percentages.

What is recomputed per cell: ``h_sys``, ``N_s`` and the effective earth
radius; the receiver horizon (a backward scan from the cell that skips
blocks whose maximum cannot beat the best angle found, and stops when the
prefix maximum cannot); ``delta_h``
(NTIA's 10-245 point resampling and the 10 %/90 % deciles); the effective
heights; the Longley-Rice reference attenuation and the variability.
``delta_h``'s resampled points change with every cell (their spacing is
the path's 10-90 % window over 244), so nothing of them can be carried
exactly; what is carried is a guess: the previous cell's deciles, widened
by :data:`~covgap.kernels.itm.DECILE_MARGIN` of their spread, screen the
new residuals, and the deciles are selected from the few beyond them, split
at the previous deciles (exact whatever the guess; a guess that gathers too
few falls back to the full selection).

Only samples some cell maps to are evaluated. Sums taken from prefix sums
and receiver distances taken as ``(k - i) * cell`` differ from NTIA's
running sums by rounding only, so a cell's loss equals
:func:`itm_p2p_tls` on its profile to ~1e-9 dB (float32 output).

Radials run in ``prange`` (dealt round-robin to :data:`RADIAL_GROUPS` work
items, so that every thread's static share spans all bearings); each radial
allocates its own scratch and writes only its own row of the per-radial
loss table. Memory: a float32
table and a uint8 mask of ``n_rad x (K + 1)`` plus an int64 cell-to-sample
code per cell of the disc's bounding box (about 180 MB for 50 km at 30 m).
"""

import math

import numpy as np
from numba import prange

from covgap.kernels.itm import (
    DELTA_H_SCRATCH,
    LINK_CLIMATE,
    LINK_F_MHZ,
    LINK_H_RX,
    LINK_H_TX,
    LINK_N_0,
    LINK_Z_G_IMAG,
    LINK_Z_G_REAL,
    MODE_P2P,
    N_INTER,
    RC_SUCCESS,
    compute_delta_h,
    effective_curvature,
    finish_quick_pfl,
    loss_from_geometry,
)
from covgap.kernels.jit import ngjit, pjit

#: Absolute slack (m) of the receiver-horizon pruning tests.
HORIZON_SLACK_M = 1e-6
#: Samples per block of the receiver-horizon search (a block is skipped when
#: its highest point cannot beat the best angle found so far).
HORIZON_BLOCK = 16
#: The radials are dealt round-robin to this many parallel work items.
RADIAL_GROUPS = 256


@ngjit
def bilinear(elev, r, c):
    """Bilinear elevation at fractional cell-centre coordinates; NaN outside."""
    h, w = elev.shape
    if not (r >= 0.0 and c >= 0.0 and r <= h - 1 and c <= w - 1):
        return math.nan
    i0 = int(r)
    j0 = int(c)
    i1 = min(i0 + 1, h - 1)
    j1 = min(j0 + 1, w - 1)
    fr = r - i0
    fc = c - j0
    top = elev[i0, j0] * (1.0 - fc) + elev[i0, j1] * fc
    bot = elev[i1, j0] * (1.0 - fc) + elev[i1, j1] * fc
    return top * (1.0 - fr) + bot * fr


@ngjit
def radial_profile(elev, r0, c0, bearing, n_int, z):
    """Sample ``n_int + 1`` points one cell apart from ``(r0, c0)`` along ``bearing``.

    ``bearing`` (rad) is ``atan2(d_row, d_col)``. Writes ``z`` (float64,
    ``n_int + 1``) and returns the number of valid intervals: from the first
    NaN sample (nodata or outside the grid) on, every sample is NaN.
    """
    dr = math.sin(bearing)
    dc = math.cos(bearing)
    valid = -1
    for k in range(n_int + 1):
        v = bilinear(elev, r0 + k * dr, c0 + k * dc) if valid < 0 else math.nan
        if valid < 0 and math.isnan(v):
            valid = k - 1
        z[k] = v
    if valid < 0:
        valid = n_int
    return valid


@ngjit
def cell_sample(i, j, r0, c0, radius_cells, n_rad):
    """``(radial, sample)`` a cell takes its loss from, or ``(-1, -1)`` beyond the radius."""
    dr = i - r0
    dc = j - c0
    rho = math.sqrt(dr * dr + dc * dc)
    if rho > radius_cells:
        return -1, -1
    k = max(1, int(rho + 0.5))
    rad = int(math.floor(math.atan2(dr, dc) / (2.0 * math.pi) * n_rad + 0.5)) % n_rad
    return rad, k


@ngjit
def _line_x(b1, s1, b2, s2):
    """``g`` where two lines ``b + s g`` cross (``s1 > s2``)."""
    return (b2 - b1) / (s1 - s2)


@ngjit
def _radial_losses(elev, r0, c0, bearing, n_k, xi, link, need, out):
    """ITM loss for every needed sample ``k`` of one radial; writes ``out[k]``."""
    h_tx = link[LINK_H_TX]
    h_rx = link[LINK_H_RX]
    n_0 = link[LINK_N_0]
    f_mhz = link[LINK_F_MHZ]
    climate = int(link[LINK_CLIMATE])
    z_g = complex(link[LINK_Z_G_REAL], link[LINK_Z_G_IMAG])
    z = np.empty(n_k + 1)
    n_valid = radial_profile(elev, r0, c0, bearing, n_k, z)
    if n_valid < 1:
        return
    s0 = np.empty(n_k + 2)
    s1 = np.empty(n_k + 2)
    zmax = np.empty(n_k + 1)
    d_acc = np.empty(n_k + 1)
    s0[0] = 0.0
    s1[0] = 0.0
    d_acc[0] = 0.0
    zmax[0] = -math.inf
    bmax = np.full(n_k // HORIZON_BLOCK + 1, -math.inf)
    for i in range(n_valid + 1):
        s0[i + 1] = s0[i] + z[i]
        bmax[i // HORIZON_BLOCK] = max(bmax[i // HORIZON_BLOCK], z[i])
        s1[i + 1] = s1[i] + i * z[i]
        if i > 0:
            d_acc[i] = d_acc[i - 1] + xi  # NTIA accumulates d_tx this way
            zmax[i] = max(zmax[i - 1], z[i])
    scratch = np.empty(DELTA_H_SCRATCH)
    inter = np.empty(N_INTER)
    hull = np.empty(n_k, np.int64)
    bp = np.empty(n_k)
    icpt = np.empty(n_k + 1)
    m = 0
    z_tx = z[0] + h_tx
    q10 = math.nan  # deciles of the last cell's delta_h residuals
    q90 = math.nan
    for k in range(1, n_valid + 1):
        # transmitter-horizon candidates are samples 1 .. k-1
        i_new = k - 1
        if i_new >= 1:
            icpt[i_new] = (z[i_new] - z_tx) / d_acc[i_new]
            s_new = -0.5 * d_acc[i_new]
            while m >= 2:
                a = hull[m - 2]
                b = hull[m - 1]
                x_ab = bp[m - 2]
                x_bn = _line_x(icpt[b], -0.5 * d_acc[b], icpt[i_new], s_new)
                if x_bn >= x_ab:
                    m -= 1
                else:
                    break
            if m >= 1:
                b = hull[m - 1]
                bp[m - 1] = _line_x(icpt[b], -0.5 * d_acc[b], icpt[i_new], s_new)
            hull[m] = i_new
            m += 1
        if need[k] == 0:
            continue
        n_int = k
        d_m = n_int * xi
        p10 = int(0.1 * n_int)
        h_sys = (s0[n_int - p10 + 1] - s0[p10]) / (n_int - 2 * p10 + 1)
        gamma_e, n_s = effective_curvature(h_sys, n_0)
        a_e = 1.0 / gamma_e
        z_rx = z[n_int] + h_rx
        th_tx = (z_rx - z_tx) / d_m - d_m / (2.0 * a_e)
        th_rx = -(z_rx - z_tx) / d_m - d_m / (2.0 * a_e)
        dh_tx = d_m
        dh_rx = d_m
        if m > 0:
            lo = 0
            hi = m - 1
            g = 1.0 / a_e
            while lo < hi:
                mid = (lo + hi) // 2
                if bp[mid] <= g:
                    hi = mid
                else:
                    lo = mid + 1
            for t in range(max(lo - 1, 0), min(lo + 2, m)):
                i = hull[t]
                theta = (z[i] - z_tx) / d_acc[i] - d_acc[i] / (2.0 * a_e)
                if theta > th_tx:
                    th_tx = theta
                    dh_tx = d_acc[i]
        # theta > best  <=>  z - z_rx > r (best + r c): the division-free
        # tests (loosened by HORIZON_SLACK_M) screen, NTIA's expression decides
        c = 0.5 / a_e
        best_i = -1
        i = n_int - 1
        while i >= 1:
            b_start = max((i // HORIZON_BLOCK) * HORIZON_BLOCK, 1)
            r = (n_int - i) * xi
            bound = r * (th_rx + r * c) - HORIZON_SLACK_M
            if max(zmax[i], z_rx) - z_rx < bound:
                break  # nothing farther can beat the best angle
            if max(bmax[i // HORIZON_BLOCK], z_rx) - z_rx >= bound:
                for ii in range(i, b_start - 1, -1):
                    r = (n_int - ii) * xi
                    if z[ii] - z_rx >= r * (th_rx + r * c) - HORIZON_SLACK_M:
                        theta = -(z_rx - z[ii]) / r - r / (2.0 * a_e)
                        if theta > th_rx or (theta == th_rx and best_i >= 0):
                            th_rx = theta
                            dh_rx = r
                            best_i = ii
            i = b_start - 1
        d_start = min(15.0 * h_tx, 0.1 * dh_tx)
        d_end = d_m - min(15.0 * h_rx, 0.1 * dh_rx)
        delta_h, q10_k, q90_k = compute_delta_h(z, n_int, xi, d_start, d_end, scratch, q10, q90)
        if not math.isnan(q10_k):
            q10 = q10_k
            q90 = q90_k
        th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx = finish_quick_pfl(
            z, n_int, xi, a_e, h_tx, h_rx, th_tx, th_rx, dh_tx, dh_rx, delta_h, s0, s1
        )
        a_db, _, rc = loss_from_geometry(th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx, delta_h, d_m, n_s,
                                         gamma_e, z_g, f_mhz, h_tx, h_rx, climate, link, MODE_P2P, inter)
        out[k] = a_db if rc == RC_SUCCESS else math.nan


@pjit
def itm_site_sweep(elev, cell, r0, c0, radius_cells, n_rad, link, out):
    """ITM basic transmission loss (dB) from one site to every cell within a radius.

    Parameters
    ----------
    elev : float64 (H, W)
        Elevation, m; NaN = nodata.
    cell : float
        Cell size, m (square cells).
    r0, c0 : float
        Site position in cell-centre coordinates (cell (i, j) centred at (i, j)).
    radius_cells : float
        Radius, in cells.
    n_rad : int
        Number of radials (>= 2 pi radius_cells for half-cell accuracy).
    link : float64 (N_LINK,)
        The link (antenna heights, frequency, climate, ground, variability)
        from :func:`covgap.kernels.itm.link_parameters`, validated by the
        caller (return code 0).
    out : float32 (H, W)
        Receives the loss; cells beyond the radius, or whose profile meets
        nodata or leaves the grid, or where ITM returns an error, get NaN.
    """
    h, w = elev.shape
    n_k = int(radius_cells) + 1
    i_lo = max(0, int(math.floor(r0 - radius_cells)))
    i_hi = min(h - 1, int(math.ceil(r0 + radius_cells)))
    j_lo = max(0, int(math.floor(c0 - radius_cells)))
    j_hi = min(w - 1, int(math.ceil(c0 + radius_cells)))
    # which (radial, sample) each cell takes, -1 beyond the radius
    code = np.empty((i_hi - i_lo + 1, j_hi - j_lo + 1), np.int64)
    for i in prange(i_lo, i_hi + 1):
        for j in range(j_lo, j_hi + 1):
            rad, k = cell_sample(i, j, r0, c0, radius_cells, n_rad)
            code[i - i_lo, j - j_lo] = rad * (n_k + 1) + k if rad >= 0 else -1
    need = np.zeros(n_rad * (n_k + 1), np.uint8)
    for c in code.ravel():
        if c >= 0:
            need[c] = 1
    need2 = need.reshape((n_rad, n_k + 1))
    table = np.full((n_rad, n_k + 1), np.float32(np.nan), np.float32)
    # radials interleaved over the threads' static shares, so that each
    # thread gets terrain from every direction (sea and hills cost differently)
    n_groups = min(RADIAL_GROUPS, n_rad)
    for g in prange(n_groups):
        for rad in range(g, n_rad, n_groups):
            bearing = 2.0 * math.pi * rad / n_rad
            _radial_losses(elev, r0, c0, bearing, n_k, cell, link, need2[rad], table[rad])
    flat = table.ravel()
    for i in prange(h):
        for j in range(w):
            out[i, j] = np.nan
            if i_lo <= i <= i_hi and j_lo <= j <= j_hi:
                c = code[i - i_lo, j - j_lo]
                if c >= 0:
                    out[i, j] = flat[c]
