"""Terrain scans from a transmitter: line of sight and diffraction.

Line of sight alone
-------------------
:func:`line_of_sight` is GDAL's viewshed scan (Wang et al. 2000): every
cell is read once, its horizon interpolated from two inner neighbours, the
four quadrants in parallel. It gives the same answer as ``gdal_viewshed``
(GDAL 3.6) up to rounding.

Radial sweep (full model)
-------------------------
The full model needs each path's profile (for diffraction), so
:func:`sweep_sites` and :func:`site_fields` sweep rays. The grid around a
site is split into four sides (east, north, west, south). On a side,
``u >= 1`` counts cells away from the site along the side's axis
and ``v`` across it; the side owns the cells with ``-u < v <= u``, so every
cell but the site's own belongs to exactly one side. A side of half-width
``R`` cells is swept by ``2 R`` rays, ray ``k`` (``-R < k <= R``) running
through ``v = k u / R``. At each column ``u`` a ray samples the terrain by
linear interpolation between the two cells it passes, and it *owns* the one
cell whose centre is nearest to it (``round(v R / u) == k``): exactly one
ray owns each cell, so rays can run in parallel, each writing only its own
cells. A ray carries its horizon (the steepest elevation angle seen so far)
and, when diffraction is asked for, the upper convex hull of its terrain
profile, so each cell costs O(1) (line of sight) or O(log n) (diffraction)
instead of O(profile length). A ray stops where it leaves the radius; the
whole sweep takes about two samples per cell inside it. Rays run in
parallel blocks of :data:`BLOCK_RAYS`; a block advances :data:`U_CHUNK`
columns per ray in turn, so that neighbouring rays, which read and write
the same cache lines, do so while those lines are still in the cache.

For the full model (:func:`sweep_sites`), each cell a ray owns gets the
site's path loss (tabulated per site against distance, LOS and NLOS, and
interpolated; evaluated directly within :data:`EXACT_RADIUS_CELLS`), the
diffraction loss and, for each sector sharing the mast and carrier, its
antenna pattern; the received power is folded straight into the
best-server state of :mod:`covgap.kernels.bestserver`.

Heights are taken in the transmitter's frame with Earth curvature folded in:
``z' = z - d^2 / (2 k a)``. In that frame radio rays are straight lines, so
"visible" is ``slope(rx) >= max slope(terrain in between)``. The radial
sweep and :func:`line_of_sight` interpolate the terrain differently and
disagree on a few per cent of cells near shadow edges.

Diffraction
-----------
Where the terrain blocks the line of sight, the loss is ITU-R P.526-15's
single knife-edge J(v) at the Bullington equivalent edge (sect. 4.5.2: the
crossing of the steepest ray from the transmitter with the steepest ray
from the receiver) or, optionally, Deygout's construction with up to three
edges (principal edge, then one edge on each side). Both use only hull
vertices, which is exact for Bullington and, for Deygout, takes each edge
as the vertex highest above its sub-path. Unobstructed paths get no
diffraction loss: partial Fresnel-zone clearance over open ground is part of
what the empirical base models already fit.
"""

import math

import numpy as np
from numba import prange

from covgap.kernels.antenna import atan2_deg, gain_db
from covgap.kernels.bestserver import add_power
from covgap.kernels.jit import cell_jit, inline_jit, ngjit, pjit
from covgap.kernels.pathloss import (
    EARTH_RADIUS_M,
    SPEED_OF_LIGHT_M_S,
    knife_edge_table_db,
    path_loss_db,
)

#: Values of :func:`line_of_sight`'s output.
INVISIBLE = 0
VISIBLE = 1
OUT_OF_RANGE = 255

#: Diffraction modes.
NO_DIFFRACTION = 0
BULLINGTON = 1
DEYGOUT = 2

# Columns of the per-site parameter matrix given to :func:`sweep_sites`.
S_ROW = 0  # row of the site's cell
S_COL = 1  # column of the site's cell
S_HEIGHT = 2  # antenna height above ground (m)
S_FREQ = 3  # carrier frequency (MHz)
S_POWER = 4  # metric power at boresight minus boresight gain (dBm - dBi)
S_MODEL = 5  # path-loss model id (covgap.kernels.pathloss)
S_ENV = 6  # environment id
S_DIFFRACTION = 7  # NO_DIFFRACTION, BULLINGTON or DEYGOUT
S_OMNI = 8  # 1 omni, 0 sector
S_AZIMUTH = 9  # antenna azimuth (degrees clockwise from grid north)
S_HBW = 10  # horizontal 3 dB beamwidth (degrees)
S_VBW = 11  # vertical 3 dB beamwidth (degrees)
S_FTB = 12  # front-to-back ratio A_m (dB)
S_SLA = 13  # vertical side-lobe level SLA_V (dB)
S_MECH_TILT = 14  # mechanical downtilt (degrees)
S_ELEC_TILT = 15  # electrical downtilt (degrees)
S_GAIN = 16  # boresight gain (dBi)
S_RADIUS = 17  # radius (m) the site is computed out to
N_SITE_FIELDS = 18


@ngjit
def _side_axes(side):
    """Grid steps ``(drow_u, dcol_u, drow_v, dcol_v)`` of a side's u and v axes."""
    if side == 0:  # east
        return 0, 1, -1, 0
    if side == 1:  # north
        return -1, 0, 0, -1
    if side == 2:  # west
        return 0, -1, 1, 0
    return 1, 0, 0, 1  # south


@ngjit
def _side_lengths(height, width, row0, col0, radius_cells):
    """Number of columns ``u`` each side's rays walk (bounded by grid and radius)."""
    lengths = np.empty(4, np.int64)
    lengths[0] = min(radius_cells, width - 1 - col0)
    lengths[1] = min(radius_cells, row0)
    lengths[2] = min(radius_cells, col0)
    lengths[3] = min(radius_cells, height - 1 - row0)
    for s in range(4):
        lengths[s] = max(lengths[s], 0)
    return lengths


#: Rays swept together by one parallel task; the task walks its rays
#: :data:`U_CHUNK` columns at a time.
BLOCK_RAYS = 32


@ngjit
def _blocks(lengths):
    """Start of each side's blocks in the flat block numbering (5 entries)."""
    starts = np.zeros(5, np.int64)
    for side in range(4):
        starts[side + 1] = starts[side] + (2 * lengths[side] + BLOCK_RAYS - 1) // BLOCK_RAYS
    return starts


@ngjit
def _block_of(b, starts, lengths):
    """Side, first and last ray number k of the b-th block."""
    side = 0
    while b >= starts[side + 1]:
        side += 1
    big_r = lengths[side]
    k_first = -big_r + 1 + (b - starts[side]) * BLOCK_RAYS
    k_last = min(k_first + BLOCK_RAYS - 1, big_r)
    return side, k_first, k_last


@ngjit
def _cross_limits(side, height, width, row0, col0):
    """Range (vmin, vmax) of the cross offset v that stays on the grid."""
    if side == 0:
        return row0 - (height - 1), row0
    if side == 1:
        return col0 - (width - 1), col0
    if side == 2:
        return -row0, height - 1 - row0
    return -col0, width - 1 - col0


@ngjit
def _ray_end(k, big_r, vmin, vmax):
    """Last column u where one of ray k's sample cells, floor(k u / R) and the next, is on the grid."""
    if k > 0:
        return min(big_r, ((vmax + 1) * big_r - 1) // k)
    if k < 0:
        return min(big_r, ((1 - vmin) * big_r) // (-k))
    return big_r


@ngjit
def _target_span(drow_u, dcol_u, drow_v, dcol_v, dr0, dr1, dc0, dc1):
    """Ranges ``(ulo, uhi, vlo, vhi)`` of a side's u and v over the rows ``dr0..dr1`` and columns ``dc0..dc1`` (offsets from the site)."""
    ulo = min(drow_u * dr0, drow_u * dr1) + min(dcol_u * dc0, dcol_u * dc1)
    uhi = max(drow_u * dr0, drow_u * dr1) + max(dcol_u * dc0, dcol_u * dc1)
    vlo = min(drow_v * dr0, drow_v * dr1) + min(dcol_v * dc0, dcol_v * dc1)
    vhi = max(drow_v * dr0, drow_v * dr1) + max(dcol_v * dc0, dcol_v * dc1)
    return ulo, uhi, vlo, vhi


@ngjit
def _ray_target_span(k, big_r, ulo, uhi, vlo, vhi):
    """Columns ``(first, last)`` between which ray k may own cells of the target ``ulo..uhi`` x ``vlo..vhi`` (first > last: none).

    Ray k owns cells with ``(k - 1/2) u / R <= v < (k + 1/2) u / R``; the
    bounds are widened by a cell, the exact test being per cell.
    """
    if k < 0:  # mirror: v -> -v
        k, vlo, vhi = -k, -vhi, -vlo
    if vhi < 0 or (k == 0 and vlo > 0):
        return 1, 0
    last = uhi if k == 0 else min(uhi, int(math.floor(vhi * big_r / (k - 0.5))) + 1)
    first = max(ulo, 1) if vlo <= 0 else max(ulo, int(math.floor(vlo * big_r / (k + 0.5))) - 1)
    return first, last


@inline_jit
def _los_cell(out_row, col, z, p, rx_height_m):
    """Classify one cell (heights relative to the antenna); return its horizon height."""
    out_row[col] = INVISIBLE if z + rx_height_m < p else VISIBLE
    return max(z, p)


@ngjit
def _axis_scan(dem, row0, col0, drow, dcol, n, z_tx, rx_height_m, curv, r2max, inv, out, hz):
    """Scan the site's row or column outward; ``hz[s]`` gets the horizon height ``s`` cells out."""
    hz[0] = dem[row0, col0] - z_tx
    for s in range(1, n + 1):
        if s * s > r2max:
            break
        row = row0 + drow * s
        col = col0 + dcol * s
        z = dem[row, col] - z_tx - s * s * curv
        if s == 1 and dcol != 0:  # GDAL marks the site's two row neighbours visible
            out[row, col] = VISIBLE
            hz[s] = z
            continue
        p = hz[0] if s == 1 else hz[s - 1] * (1.0 + inv[s - 1])
        hz[s] = _los_cell(out[row], col, z, p, rx_height_m)


@ngjit
def _row_limit(dy, r2max, n):
    """Largest ``dx <= n`` with ``dx^2 + dy^2 <= r2max`` (-1 if none)."""
    rem = r2max - dy * dy
    if rem < 0.0:
        return -1
    lim = min(n, int(math.sqrt(rem)) + 1)
    while lim > 0 and lim * lim > rem:
        lim -= 1
    return lim


@pjit
def line_of_sight(dem, row0, col0, tx_height_m, rx_height_m, radius_m, cell_m, k_factor):
    """Visibility of every cell within ``radius_m`` of a transmitter.

    The scan of GDAL's viewshed (Wang et al. 2000, GDAL >= 3.6 "edge"
    cell mode): the site's row and column are scanned outward first; then
    each quadrant row by row outward, every cell once. A cell's horizon
    height is the higher of its terrain and the sight line from the
    antenna through the horizon heights of its two inner neighbours (on the
    plane through the antenna and those two points), and the cell is
    visible when its receiver is not below that line. The four quadrants
    run in parallel. A cell depends only on cells between it and the site,
    so the answer does not depend on the grid window as long as it holds
    the site and the cell.

    Parameters
    ----------
    dem : ndarray float32 (H, W)
        Ground elevation (m), no NaN.
    row0, col0 : int
        The transmitter's cell.
    tx_height_m, rx_height_m : float
        Antenna heights above ground (m).
    radius_m : float
        Cells farther than this (centre to centre) are :data:`OUT_OF_RANGE`.
    cell_m : float
        Cell size (m).
    k_factor : float
        Effective Earth radius factor (``inf`` for a flat Earth).

    Returns
    -------
    ndarray uint8 (H, W)
        :data:`VISIBLE`, :data:`INVISIBLE` or :data:`OUT_OF_RANGE`.
    """
    height, width = dem.shape
    out = np.empty((height, width), np.uint8)
    r2max = (radius_m / cell_m) ** 2
    curv = cell_m * cell_m / (2.0 * k_factor * EARTH_RADIUS_M)  # curvature drop per squared cell
    z_tx = np.float64(dem[row0, col0]) + tx_height_m
    n_max = max(height, width) + 1
    inv = np.empty(n_max)  # 1 / i: multiplications instead of divisions in the inner loops
    inv[0] = 0.0
    for i in range(1, n_max):
        inv[i] = 1.0 / i
    lengths = np.array([width - 1 - col0, col0, row0, height - 1 - row0])  # east, west, north, south
    axes = np.empty((4, n_max))
    out[row0, col0] = VISIBLE
    for a in range(4):
        drow = 0 if a < 2 else (-1 if a == 2 else 1)
        dcol = (1 if a == 0 else -1) if a < 2 else 0
        _axis_scan(dem, row0, col0, drow, dcol, lengths[a], z_tx, rx_height_m, curv, r2max, inv, out, axes[a])
        for s in range(1, lengths[a] + 1):
            if s * s > r2max:
                out[row0 + drow * s, col0 + dcol * s] = OUT_OF_RANGE
    for q in prange(4):
        sr = -1 if q < 2 else 1
        sc = 1 if q % 2 == 0 else -1
        nrow = row0 if sr < 0 else height - 1 - row0
        ncol = lengths[0] if sc > 0 else lengths[1]
        row_axis = 0 if sc > 0 else 1
        col_axis = 2 if sr < 0 else 3
        last = np.empty(ncol + 1)  # horizon heights of the previous row, by dx
        this = np.empty(ncol + 1)
        for i in range(_row_limit(0, r2max, ncol) + 1):
            last[i] = axes[row_axis, i]
        for dy in range(1, nrow + 1):
            row = row0 + sr * dy
            z_row = dem[row]
            out_row = out[row]
            lim = _row_limit(dy, r2max, ncol)
            this[0] = axes[col_axis, dy]
            base = z_tx + dy * dy * curv
            inv_y = inv[dy - 1]
            # steep part (dx < dy): the sight line passes between (dx-1, dy-1) and (dx, dy-1)
            for dx in range(1, min(dy - 1, lim) + 1):
                col = col0 + sc * dx
                p = (last[dx - 1] * dx + last[dx] * (dy - dx)) * inv_y
                this[dx] = _los_cell(out_row, col, z_row[col] - base - dx * dx * curv, p, rx_height_m)
            h = 0.0
            if dy <= lim:  # the diagonal: straight through (dy-1, dy-1)
                col = col0 + sc * dy
                p = last[dy - 1] * (1.0 + inv_y) if dy > 1 else last[0]
                h = _los_cell(out_row, col, z_row[col] - base - dy * dy * curv, p, rx_height_m)
                this[dy] = h
            # shallow part (dx > dy): between (dx-1, dy-1) and (dx-1, dy), the cell just done
            for dx in range(dy + 1, lim + 1):
                col = col0 + sc * dx
                p = (last[dx - 1] * dy + h * (dx - dy)) * inv[dx - 1]
                h = _los_cell(out_row, col, z_row[col] - base - dx * dx * curv, p, rx_height_m)
                this[dx] = h
            for dx in range(max(lim + 1, 1), ncol + 1):
                out_row[col0 + sc * dx] = OUT_OF_RANGE
            last, this = this, last
    return out


@cell_jit
def _hull_push(hd, hh, n, d, h):
    """Append (d, h) to an upper convex hull held in hd[:n], hh[:n]; return new n."""
    while n >= 2:
        # pop the last vertex while it lies on or below the chord to the new point
        if (hh[n - 1] - hh[n - 2]) * (d - hd[n - 1]) <= (h - hh[n - 1]) * (hd[n - 1] - hd[n - 2]):
            n -= 1
        else:
            break
    hd[n] = d
    hh[n] = h
    return n + 1


@cell_jit
def _hull_highest(hd, hh, lo, hi, slope):
    """Vertex in [lo, hi] highest above lines of the given slope (concave chain)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if hh[mid + 1] - hh[mid] >= slope * (hd[mid + 1] - hd[mid]):
            lo = mid + 1
        else:
            hi = mid
    return lo


@cell_jit
def _hull_tangent_tx(hd, hh, n):
    """Hull vertex with the steepest slope seen from the origin (the transmitter)."""
    lo = 0
    hi = n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        # moving right helps while the next vertex is above the ray through mid
        if hh[mid + 1] * hd[mid] >= hh[mid] * hd[mid + 1]:
            lo = mid + 1
        else:
            hi = mid
    return lo


@inline_jit
def _steeper_next(hd, hh, i, d, h):
    """Whether hull vertex i + 1 is seen at least as steeply as vertex i from the receiver at (d, h)."""
    # slope seen from (d, h): (hh - h) / (d - hd); true below the tangent vertex, false from it on
    return (hh[i + 1] - h) * (d - hd[i]) >= (hh[i] - h) * (d - hd[i + 1])


@inline_jit
def _hull_tangent_rx(hd, hh, n, d, h, guess):
    """Hull vertex with the steepest slope seen back from the receiver at (d, h).

    Galloping search from ``guess`` (the answer for the previous receiver on
    the ray, which is usually at or next to the new one), then bisection:
    O(log distance from the guess).
    """
    g = min(max(guess, 0), n - 1)
    if g < n - 1 and _steeper_next(hd, hh, g, d, h):  # the answer lies right of g
        lo = g + 1
        hi = lo
        step = 1
        while hi < n - 1 and _steeper_next(hd, hh, hi, d, h):
            lo = hi + 1
            hi = min(lo + step, n - 1)
            step *= 2
    else:  # the answer is g or left of it
        hi = g
        lo = hi - 1
        step = 1
        while lo >= 0 and not _steeper_next(hd, hh, lo, d, h):
            hi = lo
            lo = hi - step
            step *= 2
        lo = max(lo + 1, 0)
    while lo < hi:
        mid = (lo + hi) // 2
        if _steeper_next(hd, hh, mid, d, h):
            lo = mid + 1
        else:
            hi = mid
    return lo


@cell_jit
def _edge_v(h, d1, d2, wavelength):
    """Fresnel-Kirchhoff parameter v of an edge h metres above the path."""
    return h * math.sqrt(2.0 * (d1 + d2) / (wavelength * d1 * d2))


@inline_jit
def _bullington_db(hd, hh, n, horizon, d, h_rx, wavelength, guess):
    """:func:`diffraction_db` for :data:`BULLINGTON`, on an obstructed path with a non-empty hull."""
    t2 = _hull_tangent_rx(hd, hh, n, d, h_rx, guess)
    # The equivalent edge is where the transmitter's horizon line (slope
    # ``horizon``) meets the receiver's (through vertex t2): with
    # a = horizon d - h_rx (> 0: obstructed), rise = hh[t2] - h_rx and
    # run = d - hd[t2], it lies at d_b = (h_rx run + rise d) / c from the
    # transmitter, c = horizon run + rise, h_b = a d_b / d above the direct
    # path, and d - d_b = a run / c from the receiver; so
    # v^2 = h_b^2 2 d / (lambda d_b (d - d_b)) = 2 a (h_rx run + rise d) / (lambda d run).
    rise = hh[t2] - h_rx
    run = d - hd[t2]
    a = horizon * d - h_rx
    b = h_rx * run + rise * d
    if horizon * run + rise <= 0.0 or b <= 0.0:
        return 0.0, t2
    return knife_edge_table_db(math.sqrt(2.0 * a * b / (wavelength * d * run))), t2


@cell_jit
def _deygout_db(hd, hh, n, d, h_rx, wavelength, guess):
    """:func:`diffraction_db` for :data:`DEYGOUT`, on an obstructed path with a non-empty hull."""
    t2 = _hull_tangent_rx(hd, hh, n, d, h_rx, guess)
    s_tr = h_rx / d
    t1 = _hull_tangent_tx(hd, hh, n)
    if t1 > t2:
        t1 = t2
    p = _hull_highest(hd, hh, t1, t2, s_tr)
    loss = knife_edge_table_db(_edge_v(hh[p] - s_tr * hd[p], hd[p], d - hd[p], wavelength))
    if p > t1:
        s1 = hh[p] / hd[p]
        q = _hull_highest(hd, hh, t1, p - 1, s1)
        loss += knife_edge_table_db(_edge_v(hh[q] - s1 * hd[q], hd[q], hd[p] - hd[q], wavelength))
    if p < t2:
        s2 = (h_rx - hh[p]) / (d - hd[p])
        q = _hull_highest(hd, hh, p + 1, t2, s2)
        h_line = hh[p] + s2 * (hd[q] - hd[p])
        loss += knife_edge_table_db(_edge_v(hh[q] - h_line, hd[q] - hd[p], d - hd[q], wavelength))
    return loss, t2


@inline_jit
def diffraction_db(hd, hh, n, horizon, d, h_rx, wavelength, mode, guess):
    """Diffraction loss (dB) of an obstructed path from the profile hull, and the receiver's tangent vertex.

    Inlined at Numba IR level into :func:`_field_ray`'s loop together with
    :func:`_bullington_db` (the default construction), so that an
    obstructed cell costs no call passing both hull arrays on the stack;
    :func:`_deygout_db` stays a call.

    Parameters
    ----------
    hd, hh : ndarray float64
        Hull vertices: distance from the transmitter (m) and height (m) in
        the transmitter's curvature-corrected frame (transmitter at 0).
    n : int
        Number of hull vertices.
    horizon : float
        Steepest slope from the transmitter over the profile.
    d, h_rx : float
        The receiver's distance (m) and antenna height (m) in the same frame.
    wavelength : float
        Wavelength (m).
    mode : int
        :data:`BULLINGTON` or :data:`DEYGOUT`.
    guess : int
        Where to start looking for the hull vertex the receiver sees
        steepest: the second value returned for the previous receiver on the
        same ray (any index is correct, a near one is fast).

    Returns
    -------
    (float, int)
        The loss (dB) and the next ``guess``.
    """
    if n == 0 or horizon * d <= h_rx:
        return 0.0, guess
    if mode == BULLINGTON:
        return _bullington_db(hd, hh, n, horizon, d, h_rx, wavelength, guess)
    return _deygout_db(hd, hh, n, d, h_rx, wavelength, guess)


@cell_jit
def _pattern(site, inv_bw, azimuth_deg, depression_deg):
    """Antenna gain (dBi) of a site towards a direction (azimuth from grid north, angle below horizontal).

    ``inv_bw`` holds the reciprocals of the site's horizontal and vertical
    beamwidths (:func:`_inverse_beamwidths`).
    """
    return gain_db(
        azimuth_deg - site[S_AZIMUTH],
        depression_deg,
        site[S_OMNI] != 0.0,
        inv_bw[0],
        site[S_FTB],
        inv_bw[1],
        site[S_SLA],
        site[S_MECH_TILT],
        site[S_ELEC_TILT],
        site[S_GAIN],
    )


@ngjit
def _inverse_beamwidths(sites):
    """Reciprocal horizontal and vertical beamwidths (1/degree) of each site row, (n, 2)."""
    inv = np.empty((sites.shape[0], 2))
    for i in range(sites.shape[0]):
        inv[i, 0] = 1.0 / sites[i, S_HBW]
        inv[i, 1] = 1.0 / sites[i, S_VBW]
    return inv


@cell_jit
def _direction(row0, col0, row, col, d, h_rx_frame, cell_m, directional):
    """Azimuth (degrees from grid north; 0 unless ``directional``) and depression (degrees) of a cell seen from the site.

    Omni antennas have no horizontal pattern, so their sweeps skip the azimuth.
    """
    azimuth = atan2_deg((col - col0) * cell_m, (row0 - row) * cell_m) if directional else 0.0
    return azimuth, atan2_deg(-h_rx_frame, d)


@ngjit
def _cell_power(site, row0, col0, row, col, d, h_rx_frame, los, diff_db, rx_height_m, cell_m):
    """Received metric power (dBm) at a cell from one site (path loss evaluated directly)."""
    loss = path_loss_db(
        int(site[S_MODEL]), int(site[S_ENV]), site[S_FREQ], d, site[S_HEIGHT], rx_height_m, los
    ) + diff_db
    azimuth, depression = _direction(row0, col0, row, col, d, h_rx_frame, cell_m, site[S_OMNI] == 0.0)
    return site[S_POWER] + _pattern(site, _inverse_beamwidths(site.reshape(1, -1))[0], azimuth, depression) - loss


#: Path loss is tabulated per site every 1/LOSS_TABLE_STEPS cell and interpolated
#: linearly; cells nearer than EXACT_RADIUS_CELLS evaluate the model directly.
LOSS_TABLE_STEPS = 8
EXACT_RADIUS_CELLS = 32


@pjit
def _loss_tables(site, rx_height_m, cell_m, radius_cells):
    """Path loss of one site against distance, LOS (row 0) and NLOS (row 1), float64 (2, n)."""
    n = (radius_cells + 2) * LOSS_TABLE_STEPS
    table = np.empty((2, n))
    model = int(site[S_MODEL])
    env = int(site[S_ENV])
    for i in prange(n):
        d = i * cell_m / LOSS_TABLE_STEPS
        table[0, i] = path_loss_db(model, env, site[S_FREQ], d, site[S_HEIGHT], rx_height_m, True)
        table[1, i] = path_loss_db(model, env, site[S_FREQ], d, site[S_HEIGHT], rx_height_m, False)
    return table


@inline_jit
def table_loss_db(site, table, d, r2, los, rx_height_m, steps_per_m):
    """A site's path loss (dB) at distance ``d`` (``r2`` cells squared) from its :func:`_loss_tables`.

    Evaluated directly within :data:`EXACT_RADIUS_CELLS`, else interpolated
    linearly in the LOS or NLOS row; ``steps_per_m`` is
    ``LOSS_TABLE_STEPS / cell_m``.
    """
    if r2 < EXACT_RADIUS_CELLS * EXACT_RADIUS_CELLS:
        return path_loss_db(int(site[S_MODEL]), int(site[S_ENV]), site[S_FREQ], d, site[S_HEIGHT], rx_height_m, los)
    x = d * steps_per_m
    i = int(x)
    t = 1 if los else 0
    lo = table[1 - t, i]
    return lo + (x - i) * (table[1 - t, i + 1] - lo)


@cell_jit
def _field_ray(flat, base, su, sv, k, u_start, u_stop, big_r, inv_r, vmin, vmax, horizon, n, hd, hh, z_tx,
               rx_height_m, cell_m, inv_2ka, r2max, inv_step, inv_u, group, indices, row0, col0, t_height, t_width,
               drow_u, dcol_u, drow_v, dcol_v, wavelength, mode, table, best, second, total, best_index, field_loss,
               field_diff, field_los, write_fields, directional, inv_bw):
    """Advance ray k over columns [u_start, u_stop): model each target cell it owns; return its horizon and hull size.

    ``row0``, ``col0`` are the site's cell in the target's frame; the target
    (the state's or the fields' cells) is ``t_height`` x ``t_width`` cells.
    """
    site = group[0]
    step = 1.0 / inv_step
    steps_per_m = LOSS_TABLE_STEPS / cell_m
    tangent = n - 1  # the receiver's tangent vertex on the hull, carried from cell to cell
    # At column u the ray crosses v = k u / R = v0 + rem / R, between the cells
    # v0 and v0 + 1 (flat index a and a + sv); both advance by whole steps.
    num = k * u_start
    v0 = int(math.floor(num * inv_r))  # floor(num / R) without an integer division
    rem = num - v0 * big_r
    if rem < 0:
        v0 -= 1
        rem += big_r
    elif rem >= big_r:
        v0 += 1
        rem -= big_r
    a = base + u_start * su + v0 * sv
    own_lo = (2 * k - 1) * u_start  # the ray owns the cell j with own_lo <= 2 j R < own_hi
    own_hi = (2 * k + 1) * u_start
    for u in range(u_start, u_stop):
        # the terrain height, interpolated linearly between the two cells
        if v0 < vmin:  # only the upper cell is on the grid
            z = flat[a + sv]
        else:
            z = flat[a]
            if rem != 0 and v0 < vmax:
                z += (rem * inv_r) * (flat[a + sv] - z)
        # the cell whose centre is nearest to the ray, if the ray owns it
        j = v0 + 1 if 2 * rem >= big_r else v0
        two_jr = 2 * j * big_r
        if vmin <= j <= vmax and own_lo <= two_jr < own_hi:
            r2 = u * u + j * j
            row = row0 + drow_u * u + drow_v * j
            col = col0 + dcol_u * u + dcol_v * j
            if r2 <= r2max and 0 <= row < t_height and 0 <= col < t_width:
                d2 = r2 * cell_m * cell_m
                d = math.sqrt(d2)
                h_rx = flat[a + (j - v0) * sv] + rx_height_m - d2 * inv_2ka - z_tx
                los = h_rx >= horizon * d
                diff = 0.0
                if not los and mode != NO_DIFFRACTION:
                    diff, tangent = diffraction_db(hd, hh, n, horizon, d, h_rx, wavelength, mode, tangent)
                loss = table_loss_db(site, table, d, r2, los, rx_height_m, steps_per_m)
                azimuth, depression = _direction(row0, col0, row, col, d, h_rx, cell_m, directional)
                if write_fields:
                    field_loss[row, col] = loss + diff - _pattern(site, inv_bw[0], azimuth, depression)
                    field_diff[row, col] = diff
                    field_los[row, col] = VISIBLE if los else INVISIBLE
                else:
                    for g in range(group.shape[0]):  # the sectors sharing this mast and carrier
                        p = group[g, S_POWER] + _pattern(group[g], inv_bw[g], azimuth, depression) - loss - diff
                        add_power(best, second, total, best_index, row, col, p, indices[g])
        d = u * step
        h = z - d * d * inv_2ka - z_tx
        if mode != NO_DIFFRACTION:
            n = _hull_push(hd, hh, n, d, h)
        s = h * (inv_u[u] * inv_step)
        if s > horizon:
            horizon = s
        # next column: |k| <= R, so v0 moves by at most one cell
        rem += k
        a += su
        own_lo += 2 * k - 1
        own_hi += 2 * k + 1
        if rem >= big_r:
            rem -= big_r
            v0 += 1
            a += sv
        elif rem < 0:
            rem += big_r
            v0 -= 1
            a -= sv
    return horizon, n


#: Columns a block of rays advances along one ray before moving to the next.
#: On every side (east and west too, although their rays run along rows)
#: this keeps the cells the block reads and writes within the cache: a
#: near-diagonal ray moves to another row at almost every column, and the
#: neighbouring rays touch the same cache lines.
U_CHUNK = 64
#: Parallel work items of one sweep; blocks are dealt to them in turn so that
#: each thread's share spans every side (sea and hills cost differently).
WORK_ITEMS = 64


@pjit
def _sweep_site(dem, group, indices, rx_height_m, cell_m, k_factor, best, second, total, best_index, t_row0, t_col0,
                field_loss, field_diff, field_los, write_fields):
    """One mast's radial sweep for a group of sectors sharing position, height, carrier and model.

    Terrain, path loss and diffraction are computed once per cell; each
    sector adds its own antenna pattern. Folds the powers into the state,
    or (``write_fields``, one sector) writes the fields. The state (or the
    fields) covers the target ``dem[t_row0:, t_col0:]`` of its own shape;
    rays are walked only as far as they can reach the target.
    """
    site = group[0]
    height, width = dem.shape
    row0 = int(site[S_ROW])
    col0 = int(site[S_COL])
    t_height, t_width = field_los.shape if write_fields else best.shape
    radius_m = site[S_RADIUS]
    radius_cells = int(min(radius_m / cell_m, height + width))
    lengths = _side_lengths(height, width, row0, col0, radius_cells)
    starts = _blocks(lengths)
    inv_2ka = 1.0 / (2.0 * k_factor * EARTH_RADIUS_M)
    z_tx = dem[row0, col0] + site[S_HEIGHT]
    r2max = (radius_m / cell_m) ** 2
    wavelength = SPEED_OF_LIGHT_M_S / (site[S_FREQ] * 1.0e6)
    mode = int(site[S_DIFFRACTION])
    cap = radius_cells + 1 if mode != NO_DIFFRACTION else 1
    inv_u = 1.0 / np.arange(radius_cells + 1).astype(np.float64)
    table = _loss_tables(site, rx_height_m, cell_m, radius_cells)
    flat = dem.ravel()
    base = row0 * width + col0
    # the site's own cell
    s_row = row0 - t_row0
    s_col = col0 - t_col0
    if 0 <= s_row < t_height and 0 <= s_col < t_width:
        for g in range(1 if write_fields else group.shape[0]):
            p = _cell_power(group[g], row0, col0, row0, col0, 0.0, rx_height_m - site[S_HEIGHT], True, 0.0,
                            rx_height_m, cell_m)
            if write_fields:
                field_loss[s_row, s_col] = site[S_POWER] - p
                field_diff[s_row, s_col] = 0.0
                field_los[s_row, s_col] = VISIBLE
            else:
                add_power(best, second, total, best_index, s_row, s_col, p, indices[g])
    directional = False
    for g in range(group.shape[0]):
        directional = directional or group[g, S_OMNI] == 0.0
    inv_bw = _inverse_beamwidths(group)
    n_blocks = starts[4]
    n_items = min(n_blocks, WORK_ITEMS)
    for item in prange(n_items):
        # the profile hulls of a block's rays (distance, height), reused by the item's blocks
        hd = np.empty((BLOCK_RAYS, cap))
        hh = np.empty((BLOCK_RAYS, cap))
        for b in range(item, n_blocks, n_items):
            _sweep_block(flat, base, b, starts, lengths, height, width, row0, col0, t_row0, t_col0, t_height, t_width,
                         radius_m, z_tx, rx_height_m, cell_m, inv_2ka, r2max, inv_u, group, indices, wavelength,
                         mode, table, best, second, total, best_index, field_loss, field_diff, field_los, write_fields,
                         directional, inv_bw, hd, hh)


@ngjit
def _sweep_block(flat, base, b, starts, lengths, height, width, row0, col0, t_row0, t_col0, t_height, t_width,
                 radius_m, z_tx, rx_height_m, cell_m, inv_2ka, r2max, inv_u, group, indices, wavelength, mode,
                 table, best, second, total, best_index, field_loss, field_diff, field_los, write_fields, directional,
                 inv_bw, hd, hh):
    """Sweep the b-th block of :data:`BLOCK_RAYS` rays of one mast (see :func:`_sweep_site`)."""
    side, k_first, k_last = _block_of(b, starts, lengths)
    big_r = lengths[side]
    inv_r = 1.0 / big_r
    drow_u, dcol_u, drow_v, dcol_v = _side_axes(side)
    ulo, uhi, vlo, vhi = _target_span(drow_u, dcol_u, drow_v, dcol_v, t_row0 - row0, t_row0 + t_height - 1 - row0,
                                      t_col0 - col0, t_col0 + t_width - 1 - col0)
    su = drow_u * width + dcol_u
    sv = drow_v * width + dcol_v
    vmin, vmax = _cross_limits(side, height, width, row0, col0)
    n_k = k_last - k_first + 1
    horizon = np.full(n_k, -np.inf)
    counts = np.zeros(n_k, np.int64)
    ends = np.empty(n_k, np.int64)
    inv_steps = np.empty(n_k)
    for kl in range(n_k):
        k = k_first + kl
        stretch = math.sqrt(1.0 + (k * inv_r) ** 2)
        # past u = (radius + 1) / stretch the ray owns no cell within the radius (it owns cells
        # at most half a cell across from it), so its further samples matter to nothing
        first, last = _ray_target_span(k, big_r, ulo, uhi, vlo, vhi)
        ends[kl] = min(_ray_end(k, big_r, vmin, vmax), int((radius_m / cell_m + 1.0) / stretch) + 1, last)
        if first > ends[kl]:  # the ray never reaches the target
            ends[kl] = 0
        inv_steps[kl] = 1.0 / (cell_m * stretch)
    for u_start in range(1, big_r + 1, U_CHUNK):  # U_CHUNK columns per ray in turn
        for kl in range(n_k):
            u_stop = min(u_start + U_CHUNK, ends[kl] + 1)
            if u_stop > u_start:
                h, n = _field_ray(
                    flat, base, su, sv, k_first + kl, u_start, u_stop, big_r, inv_r, vmin, vmax, horizon[kl],
                    counts[kl], hd[kl], hh[kl], z_tx, rx_height_m, cell_m, inv_2ka, r2max, inv_steps[kl], inv_u,
                    group, indices, row0 - t_row0, col0 - t_col0, t_height, t_width, drow_u, dcol_u, drow_v, dcol_v,
                    wavelength, mode, table, best, second, total, best_index, field_loss, field_diff, field_los,
                    write_fields, directional, inv_bw,
                )
                horizon[kl] = h
                counts[kl] = n


@ngjit
def sweep_sites(dem, sites, indices, group_starts, rx_height_m, cell_m, k_factor, best, second, total, best_index,
                t_row0, t_col0):
    """Fold every site's received power into a best-server state (in place).

    The state may cover only a part of the DEM, the target
    ``dem[t_row0:t_row0 + h, t_col0:t_col0 + w]`` (``(h, w)`` the state's
    shape): terrain outside it still shapes the profiles, but rays are
    walked only as far as they can reach it and only its cells are modelled.

    Parameters
    ----------
    dem : ndarray float32 (H, W)
        Ground elevation (m), no NaN.
    sites : ndarray float64 (n, N_SITE_FIELDS)
        One row per transmitter, columns ``S_*``, ordered so that sectors
        sharing a mast, height, carrier, model and radius are adjacent.
    indices : ndarray int32 (n,)
        The server index recorded in ``best_index`` for each row of ``sites``.
    group_starts : ndarray int64 (g + 1,)
        Row where each group starts, then ``n``; one terrain sweep per group.
    rx_height_m, cell_m, k_factor : float
        Receiver height (m), cell size (m), effective Earth radius factor.
    best, second, total, best_index
        The state of :func:`covgap.kernels.bestserver.new_state`, of the target's shape.
    t_row0, t_col0 : int
        The DEM cell of the target's first row and column (0, 0 for the whole DEM).
    """
    dummy_f = np.empty((1, 1), np.float32)
    dummy_u = np.empty((1, 1), np.uint8)
    for g in range(group_starts.shape[0] - 1):
        lo = group_starts[g]
        hi = group_starts[g + 1]
        _sweep_site(dem, sites[lo:hi], indices[lo:hi], rx_height_m, cell_m, k_factor, best, second, total,
                    best_index, t_row0, t_col0, dummy_f, dummy_f, dummy_u, False)


@ngjit
def site_fields(dem, site, rx_height_m, cell_m, k_factor):
    """One site's path loss, diffraction loss and line of sight on the grid.

    ``loss`` (float32 dB, NaN beyond the radius) is the total loss from the
    site's metric power to the received power, antenna pattern included
    (``S_POWER - received``); ``diffraction`` (float32 dB) is its terrain
    part; ``los`` is uint8 :data:`VISIBLE`/:data:`INVISIBLE`/:data:`OUT_OF_RANGE`.
    """
    height, width = dem.shape
    loss = np.full((height, width), np.nan, np.float32)
    diff = np.full((height, width), np.nan, np.float32)
    los = np.full((height, width), OUT_OF_RANGE, np.uint8)
    best = np.empty((1, 1), np.float32)
    total = np.empty((1, 1), np.float64)
    index = np.empty((1, 1), np.int32)
    _sweep_site(dem, site.reshape(1, -1), np.zeros(1, np.int32), rx_height_m, cell_m, k_factor, best, best, total,
                index, 0, 0, loss, diff, los, True)
    return loss, diff, los


@pjit
def fold_loss_grid(dem, loss, site, index, rx_height_m, cell_m, k_factor, best, second, total, best_index, t_row0, t_col0):
    """Fold a site's precomputed basic transmission loss grid into a best-server state.

    For models computed elsewhere (ITM): adds the antenna pattern towards
    each cell (elevation angle with Earth curvature) to ``site[S_POWER]``
    and subtracts ``loss`` (float32 dB on the DEM's grid, NaN = not
    reached). The state covers the target ``dem[t_row0:, t_col0:]`` of its
    own shape, as in :func:`sweep_sites`.
    """
    height, width = best.shape
    row0 = int(site[S_ROW])
    col0 = int(site[S_COL])
    inv_2ka = 1.0 / (2.0 * k_factor * EARTH_RADIUS_M)
    z_tx = dem[row0, col0] + site[S_HEIGHT]
    directional = site[S_OMNI] == 0.0
    inv_bw = _inverse_beamwidths(site.reshape(1, -1))[0]
    for row in prange(height):
        for col in range(width):
            path = loss[row + t_row0, col + t_col0]
            if math.isnan(path):
                continue
            dy = (row + t_row0 - row0) * cell_m
            dx = (col + t_col0 - col0) * cell_m
            d2 = dx * dx + dy * dy
            h_rx = dem[row + t_row0, col + t_col0] + rx_height_m - d2 * inv_2ka - z_tx
            azimuth, depression = _direction(row0, col0, row + t_row0, col + t_col0, math.sqrt(d2), h_rx, cell_m,
                                             directional)
            gain = _pattern(site, inv_bw, azimuth, depression)
            add_power(best, second, total, best_index, row, col, site[S_POWER] + gain - path, index)
