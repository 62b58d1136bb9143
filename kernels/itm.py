"""Longley-Rice Irregular Terrain Model (ITM), NTIA reference v1.4, in Numba.

A line-by-line port of NTIA's C++ reference implementation (GitHub
``NTIA/itm``, v1.4; a work of the US Government). Function names follow the
reference (``FindHorizons`` -> :func:`find_horizons`, ...), every array is
float64 and every kernel is pure: no global or static state, so all of them
may be called from inside ``prange`` loops.

Terrain profiles are passed as ``z`` (float64, ``n_int + 1`` elevations in
metres, transmitter first; the internal kernels also take ``n_int``, the
number of intervals, to use a prefix of a longer profile) and ``xi``
(interval length, m) instead of NTIA's ``pfl`` array (``pfl[0] = n_int``,
``pfl[1] = xi``, ``pfl[i + 2] = z[i]``).

The arithmetic is NTIA's except in places rewritten for speed, where
results agree with the reference to rounding (about 1e-12 dB): sums over
the profile are vectorized (added in another order); ``delta_h`` places its resampled
points directly instead of by an accumulated walk (interpolating from the
sample before each point, not after), and sums its least-squares fit while
it places them; its 10 % / 90 % deciles are selected from the residuals
beyond a guess when one is given (the site sweep passes the previous
cell's), else by a histogram selection, instead of ``std::nth_element``
(the same order statistics, exactly). The horizon search evaluates NTIA's
angles a block of points at a time in a loop LLVM vectorizes, at
distances ``i * xi`` (NTIA accumulates ``xi``) and with one division a
point for both terminals, and looks for the first point of the largest
angle only in a block whose largest angle beats the horizon so far (the
same point). LongleyRice skips
the two troposcatter losses on paths too short for troposcatter to take
over whatever their values (the same result). Elementary functions are
spent sparingly, each rewrite equal to NTIA's expression to rounding:
``log10(x)`` is ``log(x) / ln(10)`` (:func:`_log10`), ``x ** 0.25`` is
``sqrt(sqrt(x))``, the free-space loss takes one logarithm of
``f * d``, the line-of-sight fit one of ``d / d_sml`` (none when its
logarithmic term is zero), the ground reflection coefficient is complex
arithmetic written out in reals, and Vogler's radii enter through the
ratios they are used in.

The terms of LongleyRice and Variability that depend only on the link
(frequency, ground, climate, percentages) are evaluated once per link by
:func:`link_parameters`, which also validates the inputs: its float64 array
is all that point-to-point, area mode and the site sweep take of the link,
so a caller predicting many paths of one link builds it once (and a call
from Python unboxes four arguments, not sixteen).

:func:`link_parameters` is ``ngjit``; :func:`itm_p2p_tls_many`,
point-to-point over many profiles of one link in one call (one unboxing
for the whole batch), is ``pjit``, parallel over the profiles. The per-prediction entry points
:func:`itm_p2p_tls` (which takes the scratch of ``delta_h`` on its stack,
:func:`_stack_scratch`, no heap allocation) and :func:`itm_area_tls` are
``call_jit``: no NRT, so a call from Python unboxes its arrays without
creating a MemInfo for each, and the GIL kept (releasing and re-taking
it costs about 0.1 us per call). Every helper is compiled without NRT
reference counting (``cell_jit``), so the arrays and slices passed between
them cost no atomic reference-count updates; the horizon search, the
profile's mean height and least-squares fit, Longley-Rice and Variability
are ``fm_cell_jit`` (the same, with fastmath flags): LLVM may fuse multiply-adds and multiply by reciprocals
there, which changes results in the last bits only (about 1e-13 dB); the
sums over the profile and a block's largest horizon angle are
``reduce_jit`` (also reordered, so that LLVM vectorizes them); code whose
exact values decide an index or must cancel exactly (the fit
range, ``delta_h`` and its deciles, the effective heights' fit distances)
stays plain IEEE. ``delta_h`` indexes the profile and its histogram with
unsigned integers where the index is known to be non-negative (no
negative-index wraparound per load).

Intermediate values are written into a float64 array of length
:data:`N_INTER` indexed by the ``INTER_*`` constants. Return codes and
warning flags are NTIA's (see ``RC_*`` and ``WARN_*``).
"""

import math

import numpy as np
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from covgap.kernels.jit import call_jit, cell_jit, fm_cell_jit, ngjit, pjit, reduce_jit

# --- constants of the reference -------------------------------------------
PI = 3.1415926535897932384
SQRT2 = math.sqrt(2.0)
A_0_M = 6370e3
A_9000_M = 9000e3
THIRD = 1.0 / 3.0
#: ``log10(x) = LOG10_E * log(x)``: libm's log is about twice as fast as its log10.
LOG10_E = 1.0 / math.log(10.0)

#: ``mode`` argument of the diffraction calculation
MODE_P2P = 0
MODE_AREA = 1

#: Mode of propagation (intermediate value)
PROPMODE_NOT_SET = 0
PROPMODE_LINE_OF_SIGHT = 1
PROPMODE_DIFFRACTION = 2
PROPMODE_TROPOSCATTER = 3

#: Mode of variability (``mdvar`` modulo 10; +10 no location, +20 no situation variability)
MDVAR_SINGLE_MESSAGE = 0
MDVAR_ACCIDENTAL = 1
MDVAR_MOBILE = 2
MDVAR_BROADCAST = 3

POLARIZATION_HORIZONTAL = 0
POLARIZATION_VERTICAL = 1

SITING_RANDOM = 0
SITING_CAREFUL = 1
SITING_VERY_CAREFUL = 2

# --- return codes ----------------------------------------------------------
RC_SUCCESS = 0
RC_SUCCESS_WITH_WARNINGS = 1
RC_TX_TERMINAL_HEIGHT = 1000
RC_RX_TERMINAL_HEIGHT = 1001
RC_INVALID_RADIO_CLIMATE = 1002
RC_INVALID_TIME = 1003
RC_INVALID_LOCATION = 1004
RC_INVALID_SITUATION = 1005
RC_INVALID_CONFIDENCE = 1006
RC_INVALID_RELIABILITY = 1007
RC_REFRACTIVITY = 1008
RC_FREQUENCY = 1009
RC_POLARIZATION = 1010
RC_EPSILON = 1011
RC_SIGMA = 1012
RC_GROUND_IMPEDANCE = 1013
RC_MDVAR = 1014
RC_EFFECTIVE_EARTH = 1016
RC_PATH_DISTANCE = 1017
RC_DELTA_H = 1018
RC_TX_SITING_CRITERIA = 1019
RC_RX_SITING_CRITERIA = 1020
RC_SURFACE_REFRACTIVITY_SMALL = 1021
RC_SURFACE_REFRACTIVITY_LARGE = 1022
#: covgap's, not NTIA's: the profile holds an elevation that is NaN or infinite
#: (or elevations so large that their sum overflows).
RC_PROFILE_NOT_FINITE = 1100

# --- warning flags ---------------------------------------------------------
WARN_TX_TERMINAL_HEIGHT = 0x0001
WARN_RX_TERMINAL_HEIGHT = 0x0002
WARN_FREQUENCY = 0x0004
WARN_PATH_DISTANCE_TOO_BIG_1 = 0x0008
WARN_PATH_DISTANCE_TOO_BIG_2 = 0x0010
WARN_PATH_DISTANCE_TOO_SMALL_1 = 0x0020
WARN_PATH_DISTANCE_TOO_SMALL_2 = 0x0040
WARN_TX_HORIZON_ANGLE = 0x0080
WARN_RX_HORIZON_ANGLE = 0x0100
WARN_TX_HORIZON_DISTANCE_1 = 0x0200
WARN_RX_HORIZON_DISTANCE_1 = 0x0400
WARN_TX_HORIZON_DISTANCE_2 = 0x0800
WARN_RX_HORIZON_DISTANCE_2 = 0x1000
WARN_EXTREME_VARIABILITIES = 0x2000
WARN_SURFACE_REFRACTIVITY = 0x4000

# --- intermediate values ---------------------------------------------------
INTER_THETA_HZN_TX = 0
INTER_THETA_HZN_RX = 1
INTER_D_HZN_TX_M = 2
INTER_D_HZN_RX_M = 3
INTER_H_E_TX_M = 4
INTER_H_E_RX_M = 5
INTER_N_S = 6
INTER_DELTA_H_M = 7
INTER_A_REF_DB = 8
INTER_A_FS_DB = 9
INTER_D_KM = 10
INTER_MODE = 11
N_INTER = 12

# --- the link array (float64, N_LINK, built by link_parameters) -----------
#: Indices 0..13: the terms of LongleyRice and Variability that depend only
#: on the link (written by :func:`link_constants`).
LC_F_THIRD = 0
LC_F_MTHIRD = 1
LC_ABS_Z_G = 2
LC_Z_T = 3
LC_Z_L = 4
LC_Z_S = 5
LC_WN = 6
LC_D_EX_WN = 7
LC_G_MINUS = 8
LC_G_PLUS = 9
LC_MD = 10
LC_PLUS10 = 11
LC_PLUS20 = 12
LC_WARNINGS = 13
#: Indices 14..: the link's parameters, its ground impedance and the
#: validation of its inputs (NTIA's return code and warning flags).
LINK_H_TX = 14
LINK_H_RX = 15
LINK_CLIMATE = 16
LINK_N_0 = 17
LINK_F_MHZ = 18
LINK_Z_G_REAL = 19
LINK_Z_G_IMAG = 20
LINK_RETURN_CODE = 21
LINK_INPUT_WARNINGS = 22
N_LINK = 23

#: Histogram bins of :func:`deciles`.
DECILE_BINS = 256
#: :func:`deciles` looks for the bin of a decile in blocks of this many bins.
DECILE_BLOCK = 8
#: :func:`compute_delta_h` selects a decile from the residuals gathered by
#: its guess when there are at most this many (else from all, by histogram).
DECILE_GATHER_MAX = 64
#: :func:`compute_delta_h` gathers the residuals beyond the guessed deciles
#: moved inwards by this fraction of their spread (exact whatever the guess).
DECILE_MARGIN = 0.03
#: :func:`find_horizons` computes the angles of this many points at a time.
ANGLE_BLOCK = 32
#: Its buffer: the angles from each terminal.
ANGLE_SCRATCH = 2 * ANGLE_BLOCK
#: 0, 1, 2, ...: a point's distance within a block is ``d_0 + _STEPS[k] * xi``
#: (a float load, where ``k * xi`` would convert an integer in every lane).
_STEPS = np.arange(ANGLE_BLOCK, dtype=np.float64)
#: Length of the scratch buffer :func:`compute_delta_h` needs.
DELTA_H_SCRATCH = 247 + 245 + 2 * 245 + 2 * DECILE_BINS

# --- variability tables ([Algorithm, Table 5.1], TN101 fig. 10.13) ---------
ALL_YEAR = np.array(
    [
        [-9.67, -0.62, 1.26, -9.21, -0.62, -0.39, 3.15],
        [12.7, 9.19, 15.5, 9.05, 9.19, 2.86, 857.9],
        [144.9e3, 228.9e3, 262.6e3, 84.1e3, 228.9e3, 141.7e3, 2222.0e3],
        [190.3e3, 205.2e3, 185.2e3, 101.1e3, 205.2e3, 315.9e3, 164.8e3],
        [133.8e3, 143.6e3, 99.8e3, 98.6e3, 143.6e3, 167.4e3, 116.3e3],
    ]
)
BSM1 = np.array([2.13, 2.66, 6.11, 1.98, 2.68, 6.86, 8.51])
BSM2 = np.array([159.5, 7.67, 6.65, 13.11, 7.16, 10.38, 169.8])
XSM1 = np.array([762.2e3, 100.4e3, 138.2e3, 139.1e3, 93.7e3, 187.8e3, 609.8e3])
XSM2 = np.array([123.6e3, 172.5e3, 242.2e3, 132.7e3, 186.8e3, 169.6e3, 119.9e3])
XSM3 = np.array([94.5e3, 136.4e3, 178.6e3, 193.5e3, 133.5e3, 108.9e3, 106.6e3])
BSP1 = np.array([2.11, 6.87, 10.08, 3.68, 4.75, 8.58, 8.43])
BSP2 = np.array([102.3, 15.53, 9.60, 159.3, 8.12, 13.97, 8.19])
XSP1 = np.array([636.9e3, 138.7e3, 165.3e3, 464.4e3, 93.2e3, 216.0e3, 136.2e3])
XSP2 = np.array([134.8e3, 143.7e3, 225.7e3, 93.1e3, 135.9e3, 152.0e3, 188.5e3])
XSP3 = np.array([95.6e3, 98.6e3, 129.7e3, 94.2e3, 113.4e3, 122.7e3, 122.9e3])
C_D = np.array([1.224, 0.801, 1.380, 1.000, 1.224, 1.518, 1.518])
Z_D = np.array([1.282, 2.161, 1.282, 20.0, 1.282, 1.282, 1.282])
BFM1 = np.array([1.0, 1.0, 1.0, 1.0, 0.92, 1.0, 1.0])
BFM2 = np.array([0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0])
BFM3 = np.array([0.0, 0.0, 0.0, 0.0, 1.77, 0.0, 0.0])
BFP1 = np.array([1.0, 0.93, 1.0, 0.93, 0.93, 1.0, 1.0])
BFP2 = np.array([0.0, 0.31, 0.0, 0.19, 0.31, 0.0, 0.0])
BFP3 = np.array([0.0, 2.00, 0.0, 1.79, 2.00, 0.0, 0.0])
H0_A = np.array([25.0, 80.0, 177.0, 395.0, 705.0])
H0_B = np.array([24.0, 45.0, 68.0, 80.0, 105.0])
_NO_PREFIX = np.empty(0)


@intrinsic
def _stack_scratch(typingctx, size):
    """A float64 array of ``size`` elements (a constant) on the calling function's stack.

    For the scratch of one prediction: no heap allocation and no reference
    count (the array has no MemInfo). Valid only while the calling function
    runs: it must never be returned or stored.
    """
    if not isinstance(size, types.IntegerLiteral):
        return None
    n = size.literal_value
    sig = types.Array(types.float64, 1, "C")(size)

    def codegen(context, builder, signature, args):
        count = context.get_constant(types.intp, n)
        itemsize = context.get_constant(types.intp, 8)
        data = cgutils.alloca_once(builder, context.get_value_type(types.float64), size=count)
        ary = make_array(signature.return_type)(context, builder)
        populate_array(ary, data=data, shape=[count], strides=[itemsize], itemsize=itemsize, meminfo=None)
        return ary._getvalue()

    return sig, codegen


@cell_jit
def _fdim(a, b):
    return a - b if a > b else 0.0


@fm_cell_jit
def _log10(x):
    """``log10(x)`` as ``log(x) / ln(10)`` (equal to about 1 ulp)."""
    return LOG10_E * math.log(x)


# =============================================================================
# Small helper functions
# =============================================================================


@fm_cell_jit
def free_space_loss(d_m, f_mhz):
    """Free-space basic transmission loss (dB) at ``d_m`` metres.

    NTIA's ``32.45 + 20 log10(f_mhz) + 20 log10(d_km)``, with one logarithm.
    """
    return 32.45 + 20.0 * _log10(f_mhz * (d_m / 1000.0))


@fm_cell_jit
def terrain_roughness(d_m, delta_h_m):
    """``delta_h(d)`` [ERL 79-ITS 67, Eqn 3], metres."""
    return delta_h_m * (1.0 - 0.8 * math.exp(-d_m / 50e3))


@fm_cell_jit
def sigma_h_function(delta_h_m):
    """RMS terrain deviation in the first Fresnel zone [ERL 79-ITS 67, 3.6a]."""
    return 0.78 * delta_h_m * math.exp(-0.5 * math.sqrt(math.sqrt(delta_h_m)))  # delta_h ** 0.25


@fm_cell_jit
def fresnel_integral(v2):
    """Knife-edge loss ``A(v, 0)`` (dB) from ``v2 = v**2``."""
    if v2 < 5.76:
        return 6.02 + 9.11 * math.sqrt(v2) - 1.27 * v2
    return 12.953 + 10.0 * _log10(v2)


@cell_jit
def inverse_ccdf(q):
    """Inverse complementary normal CDF, Abramowitz & Stegun 26.2.23."""
    x = q
    if q > 0.5:
        x = 1.0 - x
    t_x = math.sqrt(-2.0 * math.log(x))
    zeta_x = ((0.010328 * t_x + 0.802853) * t_x + 2.515516) / (
        ((0.001308 * t_x + 0.189269) * t_x + 1.432788) * t_x + 1.0
    )
    q_q = t_x - zeta_x
    if q > 0.5:
        q_q = -q_q
    return q_q


@fm_cell_jit
def h0_curve(j, r):
    """Curve fit ``H_01(r, j)`` (dB), [Algorithm, 6.13]."""
    return 10.0 * _log10(1.0 + H0_A[j] * (1.0 / r) ** 4 + H0_B[j] * (1.0 / r) ** 2)


@fm_cell_jit
def h0_function(r, eta_s):
    """Troposcatter frequency gain function ``H_0`` (dB) [TN101v1, 9.2]."""
    eta_s = min(max(eta_s, 1.0), 5.0)
    i = int(eta_s)
    q = eta_s - i
    result = h0_curve(i - 1, r)
    if q != 0.0:
        result = (1.0 - q) * result + q * h0_curve(i, r)
    return result


@fm_cell_jit
def f_function(td):
    """Troposcatter attenuation function ``F(theta * d)`` (dB)."""
    if td <= 10e3:
        return 133.4 + 0.332e-3 * td + -10.0 * _log10(td)
    if td <= 70e3:
        return 104.6 + 0.212e-3 * td + -2.5 * _log10(td)
    return 71.8 + 0.157e-3 * td + 5.0 * _log10(td)


@fm_cell_jit
def height_function(x_km, k):
    """Smooth-earth height-gain function ``F(x, K)`` (dB)."""
    if x_km < 200.0:
        w = -math.log(k)
        if k < 1e-5 or x_km * w**3 > 5495.0:
            result = -117.0
            if x_km > 1.0:
                result = 17.372 * math.log(x_km) + result
        else:
            result = 2.5e-5 * x_km**2 / k - 8.686 * w - 15.0
    else:
        log_x = math.log(x_km)
        result = 0.05751 * x_km - 4.343 * log_x
        if x_km < 2000.0:
            w = 0.0134 * x_km * math.exp(-0.005 * x_km)
            result = (1.0 - w) * result + w * (17.372 * log_x - 117.0)
    return result


# =============================================================================
# Terrain profile analysis
# =============================================================================


@cell_jit
def _fit_range(n_int, xi, d_start, d_end):
    """Profile indices ``(i_start, i_end)`` of the least-squares fit between two distances (NTIA's rule)."""
    i_start = int(_fdim(d_start / xi, 0.0))
    i_end = n_int - int(_fdim(float(n_int), d_end / xi))
    if i_end <= i_start:
        i_start = int(_fdim(float(i_start), 1.0))
        i_end = n_int - int(_fdim(float(n_int), i_end + 1.0))
    return i_start, i_end


@reduce_jit
def _weighted_sums(zs, w_0):
    """``sum(zs)`` and ``sum(zs[k] * (w_0 + k))``, in whatever order LLVM vectorizes them."""
    a = 0.0
    b = 0.0
    w = w_0  # a float walk: no integer conversion per lane (exact for the (half-)integer weights used)
    for k in range(zs.shape[0]):
        a += zs[k]
        b += zs[k] * w
        w += 1.0
    return a, b


@fm_cell_jit
def linear_least_squares_fit(z, n_int, xi, d_start, d_end):
    """Least-squares line through ``z`` between two distances.

    Parameters
    ----------
    z : float64 (n_int + 1,)
        Elevations at spacing ``xi``.
    n_int : int
        Number of intervals.
    xi : float
        Spacing, m.
    d_start, d_end : float
        Distances (m) bounding the fit.

    Returns
    -------
    (fit_y1, fit_y2) : fitted heights at the two ends of the profile.
    """
    i_start, i_end = _fit_range(n_int, xi, d_start, d_end)
    x_length = float(i_end - i_start)
    mid = -0.5 * x_length
    mid_end = i_end + mid
    sum_y = 0.5 * (z[i_start] + z[i_end])
    scaled = 0.5 * (z[i_start] - z[i_end]) * mid
    # NTIA adds z[i] and z[i] * (i - i_start - L / 2) one by one over the
    # inner points (the weight of i_start + 1 is 1 + mid); vectorized sums
    # give the same to ~1e-15 relative
    a, b = _weighted_sums(z[i_start + 1 : i_end], 1.0 + mid)
    sum_y += a
    scaled += b
    sum_y = sum_y / x_length
    scaled = scaled * 12.0 / ((x_length * x_length + 2.0) * x_length)
    return sum_y - scaled * mid_end, sum_y + scaled * (n_int - mid_end)


@cell_jit
def _bin(x, lo, scale):
    b = int((x - lo) * scale)
    return b if b < DECILE_BINS else DECILE_BINS - 1


@cell_jit
def _bin_range(b):
    """``(low, high)``: ``x >= lo`` falls in bin ``b`` of :func:`_bin` when ``low <= (x - lo) * scale < high``.

    (``int`` truncates, and the last bin holds everything beyond it.) The
    passes that gather a bin's values test this, without converting each
    value to an integer.
    """
    return float(b), (b + 1.0 if b < DECILE_BINS - 1 else math.inf)


@cell_jit
def _find_bin(hist, k, descending):
    """The bin of ``hist`` holding the k-th value from the top (``descending``) or bottom, and its rank there.

    ``hist``: int64 counts. Walks whole blocks of :data:`DECILE_BLOCK` bins
    first (their sums do not depend on the running count), then the bins of
    the block found.
    """
    cum = 0
    step = -DECILE_BLOCK if descending else DECILE_BLOCK
    blk = DECILE_BINS - DECILE_BLOCK if descending else 0
    while True:
        h = 0
        for t in range(DECILE_BLOCK):
            h += hist[blk + t]
        if cum + h >= k:
            break
        cum += h
        blk += step
    b = blk + DECILE_BLOCK - 1 if descending else blk
    while cum + hist[b] < k:
        cum += hist[b]
        b += -1 if descending else 1
    return b, k - cum


@cell_jit
def _rank_in(buf, m, rank, descending, hist):
    """The rank-th (1-based) value of ``buf[:m]`` in the given order; reorders ``buf``.

    Small sets are sorted; larger ones are narrowed by histograms (each pass
    keeps only the bin holding the wanted rank, compacting ``buf``) counted
    in ``hist`` (int64, :data:`DECILE_BINS`).
    """
    while m > 12:
        lo = buf[0]
        hi = buf[0]
        for j in range(1, m):
            lo = min(lo, buf[j])
            hi = max(hi, buf[j])
        if not hi > lo:
            return hi
        scale = DECILE_BINS / (hi - lo)
        hist[:] = 0
        for j in range(m):
            hist[np.uint64(_bin(buf[j], lo, scale))] += 1
        b, rank = _find_bin(hist, rank, descending)
        b_lo, b_hi = _bin_range(b)
        kept = 0
        for j in range(m):
            x = buf[j]
            y = (x - lo) * scale
            buf[kept] = x
            kept += (y >= b_lo) & (y < b_hi)
        m = kept
    for a in range(1, m):
        x = buf[a]
        b = a
        while b > 0 and ((buf[b - 1] < x) if descending else (buf[b - 1] > x)):
            buf[b] = buf[b - 1]
            b -= 1
        buf[b] = x
    return buf[rank - 1]


@cell_jit
def deciles(v, n, k, lo, hi, scratch):
    """The k-th largest and k-th smallest of ``v[:n]`` (2k <= n), ``lo``/``hi`` its min/max.

    Exact order statistics, as ``std::nth_element`` gives them, found by a
    histogram of :data:`DECILE_BINS` bins, then narrowing the two bins that
    hold them (O(n) with few unpredictable branches). The counting pass also
    stores each value over its bin's last one: when both wanted bins hold
    one value, those are the answers, with no second pass. ``scratch``:
    float64, length >= 2 n + 2 DECILE_BINS; the histogram counts in int64
    over DECILE_BINS elements (an integer add per value: a float add would
    chain the increments of one bin at the latency of a float add), the
    last values over the last DECILE_BINS.
    """
    if not hi > lo:
        return hi, lo
    scale = DECILE_BINS / (hi - lo)
    hist = scratch[2 * n : 2 * n + DECILE_BINS].view(np.int64)
    last = scratch[2 * n + DECILE_BINS : 2 * n + 2 * DECILE_BINS]
    hist[:] = 0
    for j in range(n):
        x = v[j]
        b = np.uint64(_bin(x, lo, scale))
        hist[b] += 1
        last[b] = x
    b_top, rank_top = _find_bin(hist, k, True)
    b_bot, rank_bot = _find_bin(hist, k, False)
    if hist[b_top] == 1 and hist[b_bot] == 1:
        return last[b_top], last[b_bot]
    top = scratch[0:n]
    bot = scratch[n : 2 * n]
    m_top = 0
    m_bot = 0
    top_lo, top_hi = _bin_range(b_top)
    bot_lo, bot_hi = _bin_range(b_bot)
    for j in range(n):
        x = v[j]
        y = (x - lo) * scale
        top[m_top] = x
        m_top += (y >= top_lo) & (y < top_hi)
        bot[m_bot] = x
        m_bot += (y >= bot_lo) & (y < bot_hi)
    return _rank_in(top, m_top, rank_top, True, hist), _rank_in(bot, m_bot, rank_bot, False, hist)


@cell_jit
def _rank_by_count(a, m, k, descending):
    """The k-th largest (``descending``) or k-th smallest of ``a[:m]``, 1 <= k <= m.

    The value with fewer than ``k`` values before it and at least ``k`` up
    to it in that order (ties included): exact, branch-free inner loops,
    O(m^2), for the few values :func:`compute_delta_h` gathers.
    """
    for i in range(m):
        x = a[i]
        before = 0
        upto = 0
        if descending:
            for j in range(m):
                before += a[j] > x
                upto += a[j] >= x
        else:
            for j in range(m):
                before += a[j] < x
                upto += a[j] <= x
        if before < k <= upto:
            return x
    return math.nan


@cell_jit
def _rank_about(a, m, k, descending, pivot, rest):
    """:func:`_rank_by_count` of ``a[:m]`` split at a ``pivot`` near the answer; reorders ``a``.

    The values beyond the pivot (``>=`` it for the k-th largest, ``<=`` for
    the k-th smallest) rank first: with ``c`` of them, the answer is the
    k-th among them if ``c >= k``, else the (k - c)-th among the others
    (exact, ties included; a NaN pivot leaves every value with the others).
    A pivot close to the answer leaves two small parts to rank. ``rest``:
    float64 scratch of length >= m.
    """
    c = 0
    e = 0
    for j in range(m):
        v = a[j]
        beyond = (v >= pivot) if descending else (v <= pivot)
        a[c] = v
        c += beyond
        rest[e] = v
        e += not beyond
    if c >= k:
        return _rank_by_count(a, c, k, descending)
    return _rank_by_count(rest, e, k - c, descending)


@cell_jit
def compute_delta_h(z, n_int, xi, d_start_m, d_end_m, scratch, q10_guess, q90_guess):
    """Terrain irregularity parameter ``delta_h`` (m) between two distances.

    ``scratch`` is float64 of length >= :data:`DELTA_H_SCRATCH`.

    ``q10_guess``, ``q90_guess``: guesses of the 10 % / 90 % deciles of the
    residuals (``q10_guess >= q90_guess``; NaN for no guess), e.g. a
    neighbouring path's. Residuals beyond them, moved inwards by
    :data:`DECILE_MARGIN` of their spread, are gathered while they are
    computed; when each side gathers at least as many as the decile's rank,
    the decile lies among them and is selected from these few, split at the
    guess (:func:`_rank_about`; the same value, exactly). Otherwise, or
    without a guess, the deciles come from :func:`deciles` over all
    residuals.

    Returns ``(delta_h, q10, q90)``: ``q10``, ``q90`` are the residuals'
    deciles (NaN when the path is too short to have them).
    """
    x_start = d_start_m / xi
    x_end = d_end_m / xi
    if x_end - x_start < 2.0:
        return 0.0, math.nan, math.nan
    p10 = int(0.1 * (x_end - x_start + 8.0))
    p10 = min(max(4, p10), 25)
    n = 10 * p10 - 5
    np_s = float(n - 1)
    s = scratch[0:n]
    diffs = scratch[247 : 247 + n]
    stride = (x_end - x_start) / np_s
    # NTIA walks an index i and an offset x (accumulated, -1 < x <= 0) along
    # the profile; sample j sits at x_start + j * stride, computed directly
    # here (same points to ~1e-15 of an interval, without the serial chain).
    # Each point interpolates from the profile sample at or before it (NTIA's
    # from the one after: the same value to rounding).
    last = n_int - 1
    # (the profile is indexed with unsigned integers, as the indices are
    # never negative: no negative-index wraparound per load)
    # the least-squares sums of linear_least_squares_fit(s, n - 1, 1, 0, n - 1)
    # accumulate while the points are placed (four partial sums each)
    c = 0.5 * np_s
    a0 = a1 = a2 = a3 = 0.0
    b0 = b1 = b2 = b3 = 0.0
    j = 0
    while j + 3 < n:
        p0 = x_start + j * stride
        p1 = x_start + (j + 1) * stride
        p2 = x_start + (j + 2) * stride
        p3 = x_start + (j + 3) * stride
        i0 = min(int(p0), last)
        i1 = min(int(p1), last)
        i2 = min(int(p2), last)
        i3 = min(int(p3), last)
        z0 = z[np.uint64(i0)]
        v0 = z0 + (z[np.uint64(i0 + 1)] - z0) * (p0 - i0)
        z1 = z[np.uint64(i1)]
        v1 = z1 + (z[np.uint64(i1 + 1)] - z1) * (p1 - i1)
        z2 = z[np.uint64(i2)]
        v2 = z2 + (z[np.uint64(i2 + 1)] - z2) * (p2 - i2)
        z3 = z[np.uint64(i3)]
        v3 = z3 + (z[np.uint64(i3 + 1)] - z3) * (p3 - i3)
        s[j] = v0
        s[j + 1] = v1
        s[j + 2] = v2
        s[j + 3] = v3
        w = j - c
        a0 += v0
        a1 += v1
        a2 += v2
        a3 += v3
        b0 += v0 * w
        b1 += v1 * (w + 1.0)
        b2 += v2 * (w + 2.0)
        b3 += v3 * (w + 3.0)
        j += 4
    while j < n:
        p0 = x_start + j * stride
        i0 = min(int(p0), last)
        z0 = z[np.uint64(i0)]
        v0 = z0 + (z[np.uint64(i0 + 1)] - z0) * (p0 - i0)
        s[j] = v0
        a0 += v0
        b0 += v0 * (j - c)
        j += 1
    # end points carry half weight (NTIA's fit over the whole resampled profile)
    sum_y = ((a0 + a1) + (a2 + a3) - 0.5 * (s[0] + s[n - 1])) / np_s
    scaled = ((b0 + b1) + (b2 + b3) - 0.5 * (s[0] * (0.0 - c) + s[n - 1] * (np_s - c))) * 12.0 / (
        (np_s * np_s + 2.0) * np_s
    )
    fit_y1 = sum_y - scaled * c
    fit_y2 = scaled
    sel = scratch[247 + 245 :]
    margin = DECILE_MARGIN * (q10_guess - q90_guess)
    t_top = q10_guess - margin
    t_bot = q90_guess + margin
    if t_top >= t_bot:
        top = sel[0:n]
        bot = sel[n : 2 * n]
        m_top = 0
        m_bot = 0
        for j in range(n):
            v = s[j] - (fit_y1 + j * fit_y2)
            top[m_top] = v
            m_top += v >= t_top
            bot[m_bot] = v
            m_bot += v <= t_bot
        if p10 <= m_top <= DECILE_GATHER_MAX and p10 <= m_bot <= DECILE_GATHER_MAX:
            rest = sel[2 * n : 2 * n + DECILE_GATHER_MAX]
            q10 = _rank_about(top, m_top, p10, True, q10_guess, rest)
            q90 = _rank_about(bot, m_bot, p10, False, q90_guess, rest)
            return (q10 - q90) / (1.0 - 0.8 * math.exp(-(d_end_m - d_start_m) / 50e3)), q10, q90
    # the residuals and their range (four partial extremes)
    lo0 = lo1 = lo2 = lo3 = math.inf
    hi0 = hi1 = hi2 = hi3 = -math.inf
    j = 0
    while j + 3 < n:
        v0 = s[j] - (fit_y1 + j * fit_y2)
        v1 = s[j + 1] - (fit_y1 + (j + 1) * fit_y2)
        v2 = s[j + 2] - (fit_y1 + (j + 2) * fit_y2)
        v3 = s[j + 3] - (fit_y1 + (j + 3) * fit_y2)
        diffs[j] = v0
        diffs[j + 1] = v1
        diffs[j + 2] = v2
        diffs[j + 3] = v3
        lo0 = min(lo0, v0)
        hi0 = max(hi0, v0)
        lo1 = min(lo1, v1)
        hi1 = max(hi1, v1)
        lo2 = min(lo2, v2)
        hi2 = max(hi2, v2)
        lo3 = min(lo3, v3)
        hi3 = max(hi3, v3)
        j += 4
    while j < n:
        v0 = s[j] - (fit_y1 + j * fit_y2)
        diffs[j] = v0
        lo0 = min(lo0, v0)
        hi0 = max(hi0, v0)
        j += 1
    lo = min(min(lo0, lo1), min(lo2, lo3))
    hi = max(max(hi0, hi1), max(hi2, hi3))
    q10, q90 = deciles(diffs, n, p10, lo, hi, sel)
    # NTIA's q90 is the (p90 + 1)-th largest, i.e. the p10-th smallest
    delta_h_d = q10 - q90
    return delta_h_d / (1.0 - 0.8 * math.exp(-(d_end_m - d_start_m) / 50e3)), q10, q90


@reduce_jit
def _block_max(t, m):
    """The largest of ``t[:m]`` (finite values)."""
    best = -math.inf
    for k in range(m):
        best = max(best, t[k])
    return best


@cell_jit
def _index_of(t, m, x):
    """The first index of ``t[:m]`` holding ``x`` (which it holds)."""
    for k in range(m):
        if t[k] == x:
            return k
    return m


@fm_cell_jit
def find_horizons(z, n_int, xi, a_e_m, h_tx_m, h_rx_m):
    """Terminal horizon angles (rad) and distances (m) over a profile.

    Returns ``(theta_tx, theta_rx, d_hzn_tx, d_hzn_rx)``. NTIA's search
    keeps the first point whose angle beats every earlier one; here the
    angles of :data:`ANGLE_BLOCK` points at a time are computed without
    branches and a block is searched only when
    its largest angle beats the horizon so far: the same point, the same
    angle. Distances are ``i xi``, not NTIA's running sum of ``xi``, and
    the angles divide by way of one reciprocal for both terminals (equal to
    rounding).
    """
    d_m = n_int * xi
    z_tx = z[0] + h_tx_m
    z_rx = z[n_int] + h_rx_m
    theta_tx_h = (z_rx - z_tx) / d_m - d_m / (2.0 * a_e_m)
    theta_rx_h = -(z_rx - z_tx) / d_m - d_m / (2.0 * a_e_m)
    d_tx_h = d_m
    d_rx_h = d_m
    c = 1.0 / (2.0 * a_e_m)
    buf = _stack_scratch(ANGLE_SCRATCH)
    t_tx = buf[:ANGLE_BLOCK]
    t_rx = buf[ANGLE_BLOCK:]
    for i in range(1, n_int, ANGLE_BLOCK):
        m = min(ANGLE_BLOCK, n_int - i)
        d_0 = i * xi
        zs = z[i : i + m]
        # NTIA's expressions, without branches over independent points:
        # LLVM vectorizes this loop; one division a point gives both
        # reciprocals (1 / d_tx = d_rx / (d_tx d_rx); equal to rounding)
        for k in range(m):
            d_tx = d_0 + _STEPS[k] * xi
            d_rx = d_m - d_tx
            r = 1.0 / (d_tx * d_rx)
            t_tx[k] = (zs[k] - z_tx) * (d_rx * r) - d_tx * c
            t_rx[k] = (zs[k] - z_rx) * (d_tx * r) - d_rx * c
        best = _block_max(t_tx, m)
        if best > theta_tx_h:
            theta_tx_h = best
            d_tx_h = d_0 + _STEPS[_index_of(t_tx, m, best)] * xi
        best = _block_max(t_rx, m)
        if best > theta_rx_h:
            theta_rx_h = best
            d_rx_h = d_m - (d_0 + _STEPS[_index_of(t_rx, m, best)] * xi)
    return theta_tx_h, theta_rx_h, d_tx_h, d_rx_h


@fm_cell_jit
def effective_curvature(h_sys_m, n_0):
    """Effective earth curvature ``gamma_e`` (1/m) and ``N_s`` at height ``h_sys_m``."""
    if h_sys_m == 0.0:
        n_s = n_0
    else:
        n_s = n_0 * math.exp(-h_sys_m / 9460.0)
    return 157e-9 * (1.0 - 0.04665 * math.exp(n_s / 179.3)), n_s


@cell_jit
def initialize_point_to_point(f_mhz, h_sys_m, n_0, pol, epsilon, sigma):
    """Ground impedance ``Z_g``, effective curvature ``gamma_e`` and ``N_s``."""
    gamma_e, n_s = effective_curvature(h_sys_m, n_0)
    ep_r = complex(epsilon, 18000.0 * sigma / f_mhz)
    z_g = np.sqrt(ep_r - 1.0)
    if pol == POLARIZATION_VERTICAL:
        z_g = z_g / ep_r
    return z_g, gamma_e, n_s


@fm_cell_jit
def _horizon_distance(h_e, a_e, delta_h):
    return math.sqrt(2.0 * h_e * a_e) * math.exp(-0.07 * math.sqrt(delta_h / max(h_e, 5.0)))


@cell_jit
def linear_least_squares_fit_prefix(z, n_int, xi, d_start, d_end, s0, s1):
    """:func:`linear_least_squares_fit` in O(1) from prefix sums.

    ``s0[i] = sum(z[:i])`` and ``s1[i] = sum(p * z[p] for p < i)``; the
    index range is chosen exactly as in the plain fit, only the order of
    the additions differs (results agree to ~1e-9 m).
    """
    i_start, i_end = _fit_range(n_int, xi, d_start, d_end)
    x_length = float(i_end - i_start)
    mid = -0.5 * x_length
    mid_end = i_end + mid
    inner0 = 0.0
    inner1 = 0.0
    if i_end - i_start >= 2:
        inner0 = s0[i_end] - s0[i_start + 1]
        inner1 = (s1[i_end] - s1[i_start + 1]) - (i_start - mid) * inner0
    sum_y = 0.5 * (z[i_start] + z[i_end]) + inner0
    scaled = 0.5 * (z[i_start] - z[i_end]) * mid + inner1
    sum_y = sum_y / x_length
    scaled = scaled * 12.0 / ((x_length * x_length + 2.0) * x_length)
    return sum_y - scaled * mid_end, sum_y + scaled * (n_int - mid_end)


@cell_jit
def _fit(z, n_int, xi, d_start, d_end, s0, s1):
    if s0.shape[0] == 0:
        return linear_least_squares_fit(z, n_int, xi, d_start, d_end)
    return linear_least_squares_fit_prefix(z, n_int, xi, d_start, d_end, s0, s1)


@cell_jit
def finish_quick_pfl(z, n_int, xi, a_e, h_tx, h_rx, th_tx, th_rx, dh_tx, dh_rx, delta_h, s0, s1):
    """Effective heights and (LOS paths) smoothed horizons, second half of QuickPfl.

    ``s0``, ``s1``: prefix sums for :func:`linear_least_squares_fit_prefix`,
    or empty arrays for the plain (NTIA order) fit. Returns
    ``(th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx)``.
    """
    d_m = n_int * xi
    d_start = min(15.0 * h_tx, 0.1 * dh_tx)
    d_end = d_m - min(15.0 * h_rx, 0.1 * dh_rx)
    if dh_tx + dh_rx > 1.5 * d_m:
        fit_tx, fit_rx = _fit(z, n_int, xi, d_start, d_end, s0, s1)
        he_tx = h_tx + _fdim(z[0], fit_tx)
        he_rx = h_rx + _fdim(z[n_int], fit_rx)
        dh_tx = _horizon_distance(he_tx, a_e, delta_h)
        dh_rx = _horizon_distance(he_rx, a_e, delta_h)
        comb = dh_tx + dh_rx
        if comb <= d_m:
            q = (d_m / comb) ** 2
            he_tx = he_tx * q
            dh_tx = _horizon_distance(he_tx, a_e, delta_h)
            he_rx = he_rx * q
            dh_rx = _horizon_distance(he_rx, a_e, delta_h)
        q = math.sqrt(2.0 * he_tx * a_e)
        th_tx = (0.65 * delta_h * (q / dh_tx - 1.0) - 2.0 * he_tx) / q
        q = math.sqrt(2.0 * he_rx * a_e)
        th_rx = (0.65 * delta_h * (q / dh_rx - 1.0) - 2.0 * he_rx) / q
    else:
        fit_tx, _ = _fit(z, n_int, xi, d_start, 0.9 * dh_tx, s0, s1)
        he_tx = h_tx + _fdim(z[0], fit_tx)
        _, fit_rx = _fit(z, n_int, xi, d_m - 0.9 * dh_rx, d_end, s0, s1)
        he_rx = h_rx + _fdim(z[n_int], fit_rx)
    return th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx


@cell_jit
def delta_h_of_profile(z, n_int, xi, h_tx, h_rx, dh_tx, dh_rx, scratch):
    """``delta_h`` over the part of the profile QuickPfl considers."""
    d_m = n_int * xi
    d_start = min(15.0 * h_tx, 0.1 * dh_tx)
    d_end = d_m - min(15.0 * h_rx, 0.1 * dh_rx)
    return compute_delta_h(z, n_int, xi, d_start, d_end, scratch, math.nan, math.nan)[0]


# =============================================================================
# Propagation losses
# =============================================================================


@fm_cell_jit
def knife_edge_diffraction(d_m, f_mhz, a_e, theta_los, dh_tx, dh_rx):
    """Double knife-edge diffraction loss (dB)."""
    d_ml = dh_tx + dh_rx
    theta_nlos = d_m / a_e - theta_los
    d_nlos = d_m - d_ml
    v_1 = 0.0795775 * (f_mhz / 47.7) * theta_nlos**2 * dh_tx * d_nlos / (d_nlos + dh_tx)
    v_2 = 0.0795775 * (f_mhz / 47.7) * theta_nlos**2 * dh_rx * d_nlos / (d_nlos + dh_rx)
    return fresnel_integral(v_1) + fresnel_integral(v_2)


@fm_cell_jit
def _vogler_terminal(d_hzn, h_e, f_third, f_mthird, abs_z_g):
    """Terminal radius terms of Vogler's method: ``(x_km, F(x, K))``.

    NTIA's radius ``a = d_hzn^2 / (2 h_e)`` enters only as ``4/3 A_0 / a``.
    """
    c = ((8.0 / 3.0) * A_0_M * h_e / (d_hzn * d_hzn)) ** THIRD
    k = 0.017778 * c * f_mthird / abs_z_g
    x = (1.607 - k) * c**2 * f_third * (d_hzn / 1000.0)
    return x, height_function(x, k)


@fm_cell_jit
def _vogler_path(d_m, a_e, theta_los, d_ml, x1, x2, f_third, f_mthird, abs_z_g):
    """Distance function ``G(x)`` (dB) of Vogler's method for the diffraction path.

    NTIA's radius ``a0 = (d - d_ml) / theta_nlos`` enters only as
    ``4/3 A_0 / a0`` and as ``a0 theta_nlos = d - d_ml``, written so.
    """
    theta_nlos = d_m / a_e - theta_los
    d_nlos = d_m - d_ml
    c0 = ((4.0 / 3.0) * A_0_M * theta_nlos / d_nlos) ** THIRD
    k0 = 0.017778 * c0 * f_mthird / abs_z_g
    x0 = (1.607 - k0) * c0**2 * f_third * (d_nlos / 1000.0) + x1 + x2
    return 0.05751 * x0 - 10.0 * _log10(x0)


@fm_cell_jit
def diffraction_losses(d_3, d_4, dh_tx, dh_rx, he_tx, he_rx, abs_z_g, a_e, delta_h, h_tx, h_rx,
                       mode, theta_los, d_sml, f_mhz, f_third, f_mthird):
    """NTIA's DiffractionLoss at the two distances ``d_3`` and ``d_4`` (dB).

    The terms that do not depend on the distance (terminal height-gain
    functions, clutter factor, weighting prefactor) are computed once;
    ``f_third``, ``f_mthird`` are ``f_mhz ** (1/3)`` and ``f_mhz ** (-1/3)``.
    """
    d_ml = dh_tx + dh_rx
    x1, f1 = _vogler_terminal(dh_tx, he_tx, f_third, f_mthird, abs_z_g)
    x2, f2 = _vogler_terminal(dh_rx, he_rx, f_third, f_mthird, abs_z_g)
    sigma_h_d = sigma_h_function(terrain_roughness(d_sml, delta_h))
    a_fo = min(15.0, 5.0 * _log10(1.0 + 1e-5 * h_tx * h_rx * f_mhz * sigma_h_d))
    q = h_tx * h_rx
    qk = he_tx * he_rx - q
    if mode == MODE_P2P:
        q += 10.0
    term1 = math.sqrt(1.0 + qk / q)
    out_3 = 0.0
    out_4 = 0.0
    for which in range(2):
        d_m = d_3 if which == 0 else d_4
        a_k = knife_edge_diffraction(d_m, f_mhz, a_e, theta_los, dh_tx, dh_rx)
        # Vogler three-radii smooth-earth loss, NTIA's order of operations
        a_se = _vogler_path(d_m, a_e, theta_los, d_ml, x1, x2, f_third, f_mthird, abs_z_g) - f1 - f2 - 20.0
        delta_h_d = terrain_roughness(d_m, delta_h)
        qq = (term1 + (-theta_los * a_e + d_ml) / d_m) * min(delta_h_d * f_mhz / 47.7, 6283.2)
        w = 25.1 / (25.1 + math.sqrt(qq))
        if which == 0:
            out_3 = w * a_se + (1.0 - w) * a_k + a_fo
        else:
            out_4 = w * a_se + (1.0 - w) * a_k + a_fo
    return out_3, out_4


@fm_cell_jit
def line_of_sight_loss(d_m, he_tx, he_rx, z_g, delta_h, m_d, a_d0, d_sml, f_mhz):
    """Two-ray / extended-diffraction loss in the line-of-sight region (dB)."""
    sigma_h_d = sigma_h_function(terrain_roughness(d_m, delta_h))
    wn = f_mhz / 47.7
    sin_psi = (he_tx + he_rx) / math.sqrt(d_m**2 + (he_tx + he_rx) ** 2)
    # NTIA's complex R_e = (sin_psi - Z_g) / (sin_psi + Z_g) * exp(-min(10, k sigma_h sin_psi)),
    # in real arithmetic: (sin_psi^2 - |Z_g|^2 - 2 i sin_psi Im Z_g) / |sin_psi + Z_g|^2
    zr = z_g.real
    zi = z_g.imag
    g = math.exp(-min(10.0, wn * sigma_h_d * sin_psi)) / ((sin_psi + zr) ** 2 + zi * zi)
    re_r = (sin_psi * sin_psi - zr * zr - zi * zi) * g
    re_i = -2.0 * sin_psi * zi * g
    q = re_r * re_r + re_i * re_i
    if q < 0.25 or q < sin_psi:
        g = math.sqrt(sin_psi / q)
        re_r = re_r * g
        re_i = re_i * g
    delta_phi = wn * 2.0 * he_tx * he_rx / d_m
    if delta_phi > PI / 2.0:
        delta_phi = PI - (PI / 2.0) ** 2 / delta_phi
    # |exp(-i delta_phi) + R_e|^2
    rr_r = math.cos(delta_phi) + re_r
    rr_i = re_i - math.sin(delta_phi)
    a_t = -10.0 * _log10(rr_r * rr_r + rr_i * rr_i)
    a_d = m_d * d_m + a_d0
    w = 1.0 / (1.0 + f_mhz * delta_h / max(10e3, d_sml))
    return w * a_t + (1.0 - w) * a_d


@fm_cell_jit
def troposcatter_loss(d_m, th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx, a_e, n_s, f_mhz, theta_los, h0):
    """Troposcatter loss (dB); returns ``(loss, h0)`` with the updated ``H_0``."""
    wn = f_mhz / 47.7
    if h0 > 15.0:
        h_0 = h0
    else:
        ad = dh_tx - dh_rx
        rr = he_rx / he_tx
        if ad < 0.0:
            ad = -ad
            rr = 1.0 / rr
        theta = th_tx + th_rx + d_m / a_e
        r_1 = 2.0 * wn * theta * he_tx
        r_2 = 2.0 * wn * theta * he_rx
        if r_1 < 0.2 and r_2 < 0.2:
            return 1001.0, h0
        s = (d_m - ad) / (d_m + ad)
        q = min(max(0.1, rr / s), 10.0)
        s = max(0.1, s)
        h_0_m = (d_m - ad) * (d_m + ad) * theta * 0.25 / d_m
        eta_s = (h_0_m / 1.7556e3) * (
            1.0
            + (0.031 - n_s * 2.32e-3 + n_s**2 * 5.67e-6)
            * math.exp(-(min(1.7, h_0_m / 8.0e3) ** 6))
        )
        h_00 = (h0_function(r_1, eta_s) + h0_function(r_2, eta_s)) / 2.0
        delta_h_0 = min(h_00, 6.0 * (0.6 - _log10(max(eta_s, 1.0))) * _log10(s) * _log10(q))
        h_0 = h_00 + delta_h_0
        h_0 = max(h_0, 0.0)
        if eta_s < 1.0:
            h_0 = eta_s * h_0 + (1.0 - eta_s) * 10.0 * _log10(
                ((1.0 + SQRT2 / r_1) * (1.0 + SQRT2 / r_2)) ** 2 * (r_1 + r_2) / (r_1 + r_2 + 2.0 * SQRT2)
            )
        if h_0 > 15.0 and h0 >= 0.0:
            h_0 = h0
    th = d_m / a_e - theta_los
    loss = (
        f_function(th * d_m)
        + 10.0 * _log10(wn * 47.7 * th**4)
        - 0.1 * (n_s - 301.0) * math.exp(-th * d_m / 40e3)
        + h_0
    )
    return loss, h_0


@fm_cell_jit
def longley_rice(th_tx, th_rx, f_mhz, z_g, dh_tx, dh_rx, he_tx, he_rx, gamma_e, n_s,
                 delta_h, h_tx, h_rx, d_m, mode, lc):
    """Reference attenuation (dB) below free space.

    ``lc``: the link array of ``f_mhz`` and ``z_g`` (:func:`link_parameters`). Returns
    ``(A_ref_db, warnings, propmode, return_code)``.
    """
    warnings = 0
    a_e = 1.0 / gamma_e
    ds_tx = math.sqrt(2.0 * he_tx * a_e)
    ds_rx = math.sqrt(2.0 * he_rx * a_e)
    d_sml = ds_tx + ds_rx
    d_ml = dh_tx + dh_rx
    theta_los = -max(th_tx + th_rx, -d_ml / a_e)
    if abs(th_tx) > 200e-3:
        warnings |= WARN_TX_HORIZON_ANGLE
    if abs(th_rx) > 200e-3:
        warnings |= WARN_RX_HORIZON_ANGLE
    if dh_tx < 0.1 * ds_tx:
        warnings |= WARN_TX_HORIZON_DISTANCE_1
    if dh_rx < 0.1 * ds_rx:
        warnings |= WARN_RX_HORIZON_DISTANCE_1
    if dh_tx > 3.0 * ds_tx:
        warnings |= WARN_TX_HORIZON_DISTANCE_2
    if dh_rx > 3.0 * ds_rx:
        warnings |= WARN_RX_HORIZON_DISTANCE_2
    if n_s < 150:
        return 0.0, warnings, PROPMODE_NOT_SET, RC_SURFACE_REFRACTIVITY_SMALL
    if n_s > 400:
        return 0.0, warnings, PROPMODE_NOT_SET, RC_SURFACE_REFRACTIVITY_LARGE
    if n_s < 250:
        warnings |= WARN_SURFACE_REFRACTIVITY
    if a_e < 4000000 or a_e > 13333333:
        return 0.0, warnings, PROPMODE_NOT_SET, RC_EFFECTIVE_EARTH
    if z_g.real <= abs(z_g.imag):
        return 0.0, warnings, PROPMODE_NOT_SET, RC_GROUND_IMPEDANCE
    abs_z_g = lc[LC_ABS_Z_G]
    scale = (a_e**2 / f_mhz) ** THIRD
    d_3 = max(d_sml, d_ml + 5.0 * scale)
    d_4 = d_3 + 10.0 * scale
    a_3, a_4 = diffraction_losses(d_3, d_4, dh_tx, dh_rx, he_tx, he_rx, abs_z_g, a_e, delta_h, h_tx, h_rx,
                                  mode, theta_los, d_sml, f_mhz, lc[LC_F_THIRD], lc[LC_F_MTHIRD])
    m_d = (a_4 - a_3) / (d_4 - d_3)
    a_d0 = a_3 - m_d * d_3
    d_min = abs(he_tx - he_rx) / 200e-3
    if d_m < d_min:
        warnings |= WARN_PATH_DISTANCE_TOO_SMALL_1
    if d_m < 1e3:
        warnings |= WARN_PATH_DISTANCE_TOO_SMALL_2
    if d_m > 1000e3:
        warnings |= WARN_PATH_DISTANCE_TOO_BIG_1
    if d_m > 2000e3:
        warnings |= WARN_PATH_DISTANCE_TOO_BIG_2
    if d_m < d_sml:
        a_sml = d_sml * m_d + a_d0
        d_0 = 0.04 * f_mhz * he_tx * he_rx
        if a_d0 >= 0.0:
            d_0 = min(d_0, 0.5 * d_ml)
            d_1 = d_0 + 0.25 * (d_ml - d_0)
        else:
            d_1 = max(-a_d0 / m_d, 0.25 * d_ml)
        a_1 = line_of_sight_loss(d_1, he_tx, he_rx, z_g, delta_h, m_d, a_d0, d_sml, f_mhz)
        flag = False
        k_1 = 0.0
        k_2 = 0.0
        if d_0 < d_1:
            a_0 = line_of_sight_loss(d_0, he_tx, he_rx, z_g, delta_h, m_d, a_d0, d_sml, f_mhz)
            q = math.log(d_sml / d_0)
            k_2 = max(
                0.0,
                ((d_sml - d_0) * (a_1 - a_0) - (d_1 - d_0) * (a_sml - a_0))
                / ((d_sml - d_0) * math.log(d_1 / d_0) - (d_1 - d_0) * q),
            )
            flag = a_d0 > 0.0 or k_2 > 0.0
            if flag:
                k_1 = (a_sml - a_0 - k_2 * q) / (d_sml - d_0)
                if k_1 < 0.0:
                    k_1 = 0.0
                    k_2 = _fdim(a_sml, a_0) / q
                    if k_2 == 0.0:
                        k_1 = m_d
        if not flag:
            k_1 = _fdim(a_sml, a_1) / (d_sml - d_1)
            k_2 = 0.0
            if k_1 == 0.0:
                k_1 = m_d
        # NTIA's A_o + k_1 d + k_2 ln(d), A_o = A_sml - k_1 d_sml - k_2 ln(d_sml)
        a_ref = a_sml + k_1 * (d_m - d_sml)
        if k_2 != 0.0:
            a_ref += k_2 * math.log(d_m / d_sml)
        propmode = PROPMODE_LINE_OF_SIGHT
    else:
        # troposcatter takes over beyond d_x, which is at least d_x0 (or
        # 10,000 km): a shorter path is in diffraction whatever the
        # troposcatter losses, which are then not evaluated (NTIA evaluates
        # them on every path beyond the smooth-earth horizon)
        d_x0 = max(d_sml, d_ml + 1.088 * scale * math.log(f_mhz))
        a_ref = m_d * d_m + a_d0
        propmode = PROPMODE_DIFFRACTION
        if d_m > min(d_x0, 10e6):
            d_5 = d_ml + 200e3
            d_6 = d_ml + 400e3
            a_6, h0 = troposcatter_loss(d_6, th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx, a_e, n_s, f_mhz, theta_los,
                                        -1.0)
            a_5, h0 = troposcatter_loss(d_5, th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx, a_e, n_s, f_mhz, theta_los,
                                        h0)
            if a_5 < 1000.0:
                m_s = (a_6 - a_5) / 200e3
                d_x = max(d_x0, (a_5 - a_d0 - m_s * d_5) / (m_d - m_s))
                a_s0 = (m_d - m_s) * d_x + a_d0
            else:
                m_s = m_d
                a_s0 = a_d0
                d_x = 10e6
            if d_m > d_x:
                a_ref = m_s * d_m + a_s0
                propmode = PROPMODE_TROPOSCATTER
    a_ref = max(a_ref, 0.0)
    return a_ref, warnings, propmode, RC_SUCCESS


@fm_cell_jit
def _curve(c1, c2, x1, x2, x3, d_e):
    return (c1 + c2 / (1.0 + ((d_e - x2) / x3) ** 2)) * ((d_e / x1) ** 2) / (1.0 + ((d_e / x1) ** 2))


@cell_jit
def link_constants(f_mhz, z_g, climate, mdvar, time, location, situation, link):
    """The terms of LongleyRice and Variability that depend only on the link's parameters.

    The same expressions as NTIA's, evaluated once per link instead of per
    path; written into ``link[LC_*]`` (float64, :data:`N_LINK`).
    ``time``, ``location``, ``situation`` are percentages (0, 100).
    """
    warnings = 0
    z_t = inverse_ccdf(time / 100.0)
    z_l = inverse_ccdf(location / 100.0)
    z_s = inverse_ccdf(situation / 100.0)
    c = climate - 1
    wn = f_mhz / 47.7
    md = mdvar
    plus20 = md >= 20
    if plus20:
        md -= 20
    plus10 = md >= 10
    if plus10:
        md -= 10
    if md == MDVAR_SINGLE_MESSAGE:
        z_t = z_s
        z_l = z_s
    elif md == MDVAR_ACCIDENTAL:
        z_l = z_s
    elif md == MDVAR_MOBILE:
        z_l = z_t
    if abs(z_t) > 3.10 or abs(z_l) > 3.10 or abs(z_s) > 3.10:
        warnings |= WARN_EXTREME_VARIABILITIES
    q = math.log(0.133 * wn)
    g_minus = BFM1[c] + BFM2[c] / ((BFM3[c] * q) ** 2 + 1.0)
    g_plus = BFP1[c] + BFP2[c] / ((BFP3[c] * q) ** 2 + 1.0)
    link[LC_F_THIRD] = f_mhz**THIRD
    link[LC_F_MTHIRD] = f_mhz ** (-THIRD)
    link[LC_ABS_Z_G] = abs(z_g)
    link[LC_Z_T] = z_t
    link[LC_Z_L] = z_l
    link[LC_Z_S] = z_s
    link[LC_WN] = wn
    link[LC_D_EX_WN] = (575.7e12 / wn) ** THIRD
    link[LC_G_MINUS] = g_minus
    link[LC_G_PLUS] = g_plus
    link[LC_MD] = md
    link[LC_PLUS10] = 1.0 if plus10 else 0.0
    link[LC_PLUS20] = 1.0 if plus20 else 0.0
    link[LC_WARNINGS] = warnings


@fm_cell_jit
def variability(lc, he_tx, he_rx, delta_h, d_m, a_ref, climate):
    """Variability adjustment ``A_ref - V_med - Y_R - Y_S`` (dB) of one path.

    ``lc``: the link array (:func:`link_parameters`; holds the warnings).
    """
    z_t = lc[LC_Z_T]
    z_l = lc[LC_Z_L]
    z_s = lc[LC_Z_S]
    wn = lc[LC_WN]
    md = lc[LC_MD]
    c = climate - 1
    d_ex = math.sqrt(2.0 * A_9000_M * he_tx) + math.sqrt(2.0 * A_9000_M * he_rx) + lc[LC_D_EX_WN]
    if d_m < d_ex:
        d_e = 130e3 * d_m / d_ex
    else:
        d_e = 130e3 + d_m - d_ex
    if lc[LC_PLUS20] != 0.0:
        sigma_s = 0.0
    else:
        sigma_s = 5.0 + 3.0 * math.exp(-d_e / 100e3)
    v_med = _curve(ALL_YEAR[0, c], ALL_YEAR[1, c], ALL_YEAR[2, c], ALL_YEAR[3, c], ALL_YEAR[4, c], d_e)
    if lc[LC_PLUS10] != 0.0:
        sigma_l = 0.0
    else:
        delta_h_d = terrain_roughness(d_m, delta_h)
        sigma_l = 10.0 * wn * delta_h_d / (wn * delta_h_d + 13.0)
    y_l = sigma_l * z_l
    sigma_t_minus = _curve(BSM1[c], BSM2[c], XSM1[c], XSM2[c], XSM3[c], d_e) * lc[LC_G_MINUS]
    sigma_t_plus = _curve(BSP1[c], BSP2[c], XSP1[c], XSP2[c], XSP3[c], d_e) * lc[LC_G_PLUS]
    sigma_td = C_D[c] * sigma_t_plus
    tgtd = (sigma_t_plus - sigma_td) * Z_D[c]
    if z_t < 0.0:
        sigma_t = sigma_t_minus
    elif z_t <= Z_D[c]:
        sigma_t = sigma_t_plus
    else:
        sigma_t = sigma_td + tgtd / z_t
    y_t = sigma_t * z_t
    y_s_temp = sigma_s**2 + y_t**2 / (7.8 + z_s**2) + y_l**2 / (24.0 + z_s**2)
    if md == MDVAR_SINGLE_MESSAGE:
        y_r = 0.0
        y_s = math.sqrt(sigma_t**2 + sigma_l**2 + y_s_temp) * z_s
    elif md == MDVAR_ACCIDENTAL:
        y_r = y_t
        y_s = math.sqrt(sigma_l**2 + y_s_temp) * z_s
    elif md == MDVAR_MOBILE:
        y_r = math.sqrt(sigma_t**2 + sigma_l**2) * z_t
        y_s = math.sqrt(y_s_temp) * z_s
    else:
        y_r = y_t + y_l
        y_s = math.sqrt(y_s_temp) * z_s
    result = a_ref - v_med - y_r - y_s
    if result < 0.0:
        result = result * (29.0 - result) / (29.0 - 10.0 * result)
    return result


@cell_jit
def validate_inputs(h_tx, h_rx, climate, time, location, situation, n_0, f_mhz, pol, epsilon, sigma, mdvar):
    """NTIA's ValidateInputs; returns ``(return_code, warnings)``."""
    warnings = 0
    if h_tx < 1.0 or h_tx > 1000.0:
        warnings |= WARN_TX_TERMINAL_HEIGHT
    if h_tx < 0.5 or h_tx > 3000.0:
        return RC_TX_TERMINAL_HEIGHT, warnings
    if h_rx < 1.0 or h_rx > 1000.0:
        warnings |= WARN_RX_TERMINAL_HEIGHT
    if h_rx < 0.5 or h_rx > 3000.0:
        return RC_RX_TERMINAL_HEIGHT, warnings
    if climate < 1 or climate > 7:
        return RC_INVALID_RADIO_CLIMATE, warnings
    if n_0 < 250 or n_0 > 400:
        return RC_REFRACTIVITY, warnings
    if f_mhz < 40.0 or f_mhz > 10000.0:
        warnings |= WARN_FREQUENCY
    if f_mhz < 20 or f_mhz > 20000:
        return RC_FREQUENCY, warnings
    if pol != POLARIZATION_HORIZONTAL and pol != POLARIZATION_VERTICAL:
        return RC_POLARIZATION, warnings
    if epsilon < 1:
        return RC_EPSILON, warnings
    if sigma <= 0:
        return RC_SIGMA, warnings
    if mdvar < 0 or (3 < mdvar < 10) or (13 < mdvar < 20) or (23 < mdvar < 30) or mdvar > 33:
        return RC_MDVAR, warnings
    if situation <= 0 or situation >= 100:
        return RC_INVALID_SITUATION, warnings
    if time <= 0 or time >= 100:
        return RC_INVALID_TIME, warnings
    if location <= 0 or location >= 100:
        return RC_INVALID_LOCATION, warnings
    return RC_SUCCESS, warnings


@fm_cell_jit
def loss_from_geometry(th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx, delta_h, d_m, n_s, gamma_e, z_g,
                       f_mhz, h_tx, h_rx, climate, lc, mode, inter):
    """Basic transmission loss (dB) from the path geometry: LongleyRice + Variability.

    Shared by point-to-point, area and the site sweep; ``lc`` is the link
    array (:func:`link_parameters`). Fills ``inter`` (float64,
    :data:`N_INTER`) and returns ``(A_db, warnings, return_code)``.
    """
    a_ref, warnings, propmode, rc = longley_rice(th_tx, th_rx, f_mhz, z_g, dh_tx, dh_rx, he_tx, he_rx,
                                                 gamma_e, n_s, delta_h, h_tx, h_rx, d_m, mode, lc)
    inter[INTER_THETA_HZN_TX] = th_tx
    inter[INTER_THETA_HZN_RX] = th_rx
    inter[INTER_D_HZN_TX_M] = dh_tx
    inter[INTER_D_HZN_RX_M] = dh_rx
    inter[INTER_H_E_TX_M] = he_tx
    inter[INTER_H_E_RX_M] = he_rx
    inter[INTER_N_S] = n_s
    inter[INTER_DELTA_H_M] = delta_h
    inter[INTER_D_KM] = d_m / 1000.0
    if rc != RC_SUCCESS:
        return math.nan, warnings, rc
    a_fs = free_space_loss(d_m, f_mhz)
    v = variability(lc, he_tx, he_rx, delta_h, d_m, a_ref, climate)
    warnings |= int(lc[LC_WARNINGS])
    inter[INTER_A_REF_DB] = a_ref
    inter[INTER_A_FS_DB] = a_fs
    inter[INTER_MODE] = propmode
    return v + a_fs, warnings, rc


@reduce_jit
def _total(zs):
    """``sum(zs)``, in whatever order LLVM vectorizes it (NaN and infinities carry)."""
    t = 0.0
    for k in range(zs.shape[0]):
        t += zs[k]
    return t


@fm_cell_jit
def profile_mean_height(z, n_int):
    """Mean path height (m) ignoring the first and last 10 % (NTIA's ``h_sys``), and whether the profile is finite.

    Returns ``(h_sys, finite)``: ``finite`` is False when an elevation is
    NaN or infinite (they carry into the sum of the whole profile, taken in
    the same pass), or when that sum overflows.
    """
    p10 = int(0.1 * n_int)
    inner = _total(z[p10 : n_int - p10 + 1])
    total = inner + _total(z[:p10]) + _total(z[n_int - p10 + 1 :])
    return inner / (n_int - 2 * p10 + 1), math.isfinite(total)


@ngjit
def link_parameters(h_tx, h_rx, climate, n_0, f_mhz, pol, epsilon, sigma, mdvar, time, location, situation):
    """Validate a link's ITM inputs and evaluate, once, what depends only on them.

    Point-to-point (:func:`itm_p2p_tls`), area mode (:func:`itm_area_tls`)
    and the site sweep take the link as this one array, built once per link
    however many paths are predicted.

    Parameters
    ----------
    h_tx, h_rx : float
        Structural antenna heights above ground, m.
    climate : int
        Radio climate, 1..7.
    n_0 : float
        Surface refractivity at sea level, N-units.
    f_mhz : float
        Frequency, MHz.
    pol : int
        Polarisation, 0 horizontal, 1 vertical.
    epsilon, sigma : float
        Relative permittivity and conductivity (S/m) of the ground.
    mdvar : int
        Mode of variability (NTIA's ``mdvar``).
    time, location, situation : float
        Percentages, (0, 100).

    Returns
    -------
    link : float64 (N_LINK,)
        Indexed by the ``LC_*`` and ``LINK_*`` constants.
        ``link[LINK_RETURN_CODE]`` is NTIA's ValidateInputs code (0, or an
        error >= 1000 that every prediction of the link returns, with a NaN
        loss), ``link[LINK_INPUT_WARNINGS]`` its warning flags; after an
        error the link's terms are NaN.
    """
    link = np.full(N_LINK, math.nan)
    rc, warnings = validate_inputs(h_tx, h_rx, climate, time, location, situation, n_0, f_mhz,
                                   pol, epsilon, sigma, mdvar)
    link[LINK_H_TX] = h_tx
    link[LINK_H_RX] = h_rx
    link[LINK_CLIMATE] = climate
    link[LINK_N_0] = n_0
    link[LINK_F_MHZ] = f_mhz
    link[LINK_RETURN_CODE] = rc
    link[LINK_INPUT_WARNINGS] = warnings
    if rc == RC_SUCCESS:
        z_g, _, _ = initialize_point_to_point(f_mhz, 0.0, n_0, pol, epsilon, sigma)
        link[LINK_Z_G_REAL] = z_g.real
        link[LINK_Z_G_IMAG] = z_g.imag
        link_constants(f_mhz, z_g, climate, mdvar, time, location, situation, link)
    return link


@call_jit
def itm_p2p_tls(z, xi, link, inter):
    """ITM point-to-point mode, time/location/situation variability (NTIA ``ITM_P2P_TLS``).

    Parameters
    ----------
    z : float64 (n_int + 1,)
        Terrain elevations (m), transmitter first, spacing ``xi``; at least
        2 points.
    xi : float
        Interval length, m.
    link : float64 (N_LINK,)
        The link: antenna heights, climate, refractivity, frequency,
        polarisation, ground, variability (:func:`link_parameters`).
    inter : float64 (N_INTER,)
        Receives the intermediate values.

    Returns
    -------
    (A_db, warnings, return_code) : basic transmission loss (dB, NaN on
    error), warning flags, NTIA return code (0, 1 or an error >= 1000;
    :data:`RC_PROFILE_NOT_FINITE` when ``z`` holds a NaN or an infinity).
    """
    for i in range(N_INTER):
        inter[i] = math.nan
    rc = int(link[LINK_RETURN_CODE])
    warnings = int(link[LINK_INPUT_WARNINGS])
    if rc != RC_SUCCESS:
        return math.nan, warnings, rc
    n_int = z.shape[0] - 1
    h_tx = link[LINK_H_TX]
    h_rx = link[LINK_H_RX]
    z_g = complex(link[LINK_Z_G_REAL], link[LINK_Z_G_IMAG])
    h_sys, finite = profile_mean_height(z, n_int)
    if not finite:
        return math.nan, warnings, RC_PROFILE_NOT_FINITE
    gamma_e, n_s = effective_curvature(h_sys, link[LINK_N_0])
    a_e = 1.0 / gamma_e
    th_tx, th_rx, dh_tx, dh_rx = find_horizons(z, n_int, xi, a_e, h_tx, h_rx)
    scratch = _stack_scratch(DELTA_H_SCRATCH)
    delta_h = delta_h_of_profile(z, n_int, xi, h_tx, h_rx, dh_tx, dh_rx, scratch)
    th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx = finish_quick_pfl(
        z, n_int, xi, a_e, h_tx, h_rx, th_tx, th_rx, dh_tx, dh_rx, delta_h, _NO_PREFIX, _NO_PREFIX
    )
    d_m = n_int * xi
    a_db, w2, rc = loss_from_geometry(th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx, delta_h, d_m, n_s, gamma_e, z_g,
                                      link[LINK_F_MHZ], h_tx, h_rx, int(link[LINK_CLIMATE]), link, MODE_P2P,
                                      inter)
    warnings |= w2
    if rc == RC_SUCCESS and warnings != 0:
        rc = RC_SUCCESS_WITH_WARNINGS
    return a_db, warnings, rc


@pjit
def itm_p2p_tls_many(z, starts, xi, link, loss, warnings, codes, inter):
    """:func:`itm_p2p_tls` over many profiles of one link, in one call, in parallel over the profiles.

    Parameters
    ----------
    z : float64 (total,)
        The profiles one after another (see :func:`itm_p2p_tls`).
    starts : int64 (m + 1,)
        Profile ``p`` is ``z[starts[p]:starts[p + 1]]`` (at least 2 points).
    xi : float64 (m,)
        Interval length of each profile, m.
    link : float64 (N_LINK,)
        The link shared by every profile (:func:`link_parameters`).
    loss : float64 (m,)
        Receives each basic transmission loss (dB, NaN on error).
    warnings, codes : int64 (m,)
        Receive each warning flags and NTIA return code.
    inter : float64 (m, N_INTER)
        Receives each profile's intermediate values.
    """
    for p in prange(starts.shape[0] - 1):
        loss[p], warnings[p], codes[p] = itm_p2p_tls(z[starts[p] : starts[p + 1]], xi[p], link, inter[p])


@cell_jit
def _area_terminal(site, h, gamma_e, delta_h):
    """Effective height, horizon distance and horizon angle of one terminal in area mode."""
    if site == SITING_RANDOM:
        he = h
    else:
        b = 4.0 if site == SITING_CAREFUL else 9.0
        if h < 5.0:
            b = b * math.sin(0.1 * PI * h)
        he = h + (1.0 + b) * math.exp(-min(20.0, 2.0 * h / max(1e-3, delta_h)))
    d_ls = math.sqrt(2.0 * he / gamma_e)
    dh = d_ls * math.exp(-0.07 * math.sqrt(delta_h / max(he, 5.0)))
    th = (0.65 * delta_h * (d_ls / dh - 1.0) - 2.0 * he) / d_ls
    return he, dh, th


@cell_jit
def initialize_area(site_tx, site_rx, gamma_e, delta_h, h_tx, h_rx):
    """Effective heights, horizon distances and angles for area mode.

    Returns ``(he_tx, he_rx, dh_tx, dh_rx, th_tx, th_rx)``.
    """
    he_tx, dh_tx, th_tx = _area_terminal(site_tx, h_tx, gamma_e, delta_h)
    he_rx, dh_rx, th_rx = _area_terminal(site_rx, h_rx, gamma_e, delta_h)
    return he_tx, he_rx, dh_tx, dh_rx, th_tx, th_rx


@call_jit
def itm_area_tls(d_km, delta_h, site_tx, site_rx, link, inter):
    """ITM area mode, time/location/situation variability (NTIA ``ITM_AREA_TLS``).

    Parameters
    ----------
    d_km : float
        Path distance, km.
    delta_h : float
        Terrain irregularity parameter, m.
    site_tx, site_rx : int
        Siting criteria of the terminals (``SITING_*``).
    link : float64 (N_LINK,)
        The link (:func:`link_parameters`).
    inter : float64 (N_INTER,)
        Receives the intermediate values.

    Returns
    -------
    (A_db, warnings, return_code) : as :func:`itm_p2p_tls`.
    """
    for i in range(N_INTER):
        inter[i] = math.nan
    rc = int(link[LINK_RETURN_CODE])
    warnings = int(link[LINK_INPUT_WARNINGS])
    if rc != RC_SUCCESS:
        return math.nan, warnings, rc
    if d_km <= 0:
        return math.nan, warnings, RC_PATH_DISTANCE
    if delta_h < 0:
        return math.nan, warnings, RC_DELTA_H
    if site_tx < 0 or site_tx > 2:
        return math.nan, warnings, RC_TX_SITING_CRITERIA
    if site_rx < 0 or site_rx > 2:
        return math.nan, warnings, RC_RX_SITING_CRITERIA
    h_tx = link[LINK_H_TX]
    h_rx = link[LINK_H_RX]
    z_g = complex(link[LINK_Z_G_REAL], link[LINK_Z_G_IMAG])
    gamma_e, n_s = effective_curvature(0.0, link[LINK_N_0])
    he_tx, he_rx, dh_tx, dh_rx, th_tx, th_rx = initialize_area(site_tx, site_rx, gamma_e, delta_h, h_tx, h_rx)
    d_m = d_km * 1000.0
    a_db, w2, rc = loss_from_geometry(th_tx, th_rx, dh_tx, dh_rx, he_tx, he_rx, delta_h, d_m, n_s, gamma_e, z_g,
                                      link[LINK_F_MHZ], h_tx, h_rx, int(link[LINK_CLIMATE]), link, MODE_AREA,
                                      inter)
    warnings |= w2
    inter[INTER_D_KM] = d_km
    if rc == RC_SUCCESS and warnings != 0:
        rc = RC_SUCCESS_WITH_WARNINGS
    return a_db, warnings, rc
