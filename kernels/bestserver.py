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

from covgap.kernels.jit import ngjit, pjit

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


@ngjit
def add_power(best, second, total, index, row, col, power_dbm, site):
    """Fold one transmitter's power at one cell into the state (in place)."""
    total[row, col] += math.exp(power_dbm * _LN10_OVER_10)
    if power_dbm > best[row, col]:
        second[row, col] = best[row, col]
        best[row, col] = power_dbm
        index[row, col] = site
    elif power_dbm > second[row, col]:
        second[row, col] = power_dbm


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
