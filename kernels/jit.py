"""The one definition of the Numba decorators used by every kernel."""

from numba import njit

#: Serial kernel: compiled once, cached on disk, releases the GIL.
ngjit = njit(cache=True, nogil=True)

#: Parallel kernel: the outer ``prange`` iterations must write disjoint cells.
pjit = njit(cache=True, nogil=True, parallel=True)

#: Small per-step helper, inlined into its callers' loops at Numba IR level.
inline_jit = njit(cache=True, nogil=True, inline="always")

#: Per-cell helper called inside the hot loops of sweeps: compiled without
#: NRT reference counting (Numba's ``_nrt=False``), so passing arrays to it
#: costs no atomic increments; it may index and slice arrays but never
#: allocate one (Numba refuses to compile an allocation here).
cell_jit = njit(cache=True, nogil=True, _nrt=False)
