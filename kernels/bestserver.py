"""Best-server reduction over many transmitters, in O(grid) memory.

The running state is four arrays of the grid's shape: best power (dBm),
second-best power (dBm), the linear power sum of every server (mW, float64)
and the best server's index. Each transmitter's contribution is folded into
them cell by cell with :func:`add_power`; nothing of shape
``(sites, height, width)`` ever exists.
"""

import math

import numpy as np
from numba import prange

from covgap.kernels.jit import cell_jit, ngjit, pjit

#: Best-server index of a cell no transmitter reaches.
NO_SERVER = -1
_LN10_OVER_10 = math.log(10.0) / 10.0
#: Dominance (dB) reported where no other transmitter is received at all.
DOMINANCE_CAP_DB = 60.0


@ngjit
def new_state(height, width):
    """Empty reduction state ``(best, second, total_mw, best_index)``."""
    best = np.full((height, width), -np.inf, np.float32)
    second = np.full((height, width), -np.inf, np.float32)
    total = np.zeros((height, width), np.float64)
    index = np.full((height, width), NO_SERVER, np.int32)
    return best, second, total, index


@cell_jit
def add_power(best, second, total, index, row, col, power_dbm, site):
    """Fold one transmitter's power at one cell into the state (in place).

    Of two servers with the same power the lower index wins, so that the
    result does not depend on the order in which transmitters are folded.
    """
    total[row, col] += math.exp(power_dbm * _LN10_OVER_10)
    p = np.float32(power_dbm)  # compare as stored, so that ties are ties
    b = best[row, col]
    if p > b or (p == b and site < index[row, col]):
        second[row, col] = b
        best[row, col] = p
        index[row, col] = site
    elif p > second[row, col]:
        second[row, col] = p


@pjit
def add_power_grid(power, site, best, second, total, index):
    """Fold a whole ``(H, W)`` float32 power grid (NaN = not reached) into the state."""
    height, width = power.shape
    for row in prange(height):
        for col in range(width):
            p = power[row, col]
            if not math.isnan(p):
                add_power(best, second, total, index, row, col, p, site)


@pjit
def merge(best, second, total, index, o_best, o_second, o_total, o_index):
    """Fold another state (of other transmitters) into the first, in place.

    The result is exactly the state of both sets of transmitters folded
    together: the best of the two bests wins, the second best is the best of
    what remains, and the power sums add.
    """
    height, width = best.shape
    for row in prange(height):
        for col in range(width):
            b, ob = best[row, col], o_best[row, col]
            total[row, col] += o_total[row, col]
            if ob > b or (ob == b and ob > -np.inf and o_index[row, col] < index[row, col]):
                second[row, col] = max(b, o_second[row, col])
                best[row, col] = ob
                index[row, col] = o_index[row, col]
            else:
                second[row, col] = max(second[row, col], ob)


@pjit
def finish(best, second, total):
    """Turn the state into output layers, in place, and return dominance.

    ``best`` and ``second`` become NaN where fewer than one / two servers
    reach. Dominance is best power minus the power sum of all other
    servers (dB), :data:`DOMINANCE_CAP_DB` where there is no other server.
    """
    height, width = best.shape
    dominance = np.empty((height, width), np.float32)
    for row in prange(height):
        for col in range(width):
            b = best[row, col]
            if b == -np.inf:
                best[row, col] = np.nan
                second[row, col] = np.nan
                dominance[row, col] = np.nan
                continue
            others = total[row, col] - 10.0 ** (b / 10.0)
            if second[row, col] == -np.inf:
                second[row, col] = np.nan
            if others <= total[row, col] * 10.0 ** (-DOMINANCE_CAP_DB / 10.0):
                dominance[row, col] = DOMINANCE_CAP_DB
            else:
                dominance[row, col] = b - 10.0 * math.log10(others)
    return dominance
