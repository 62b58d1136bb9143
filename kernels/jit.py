"""The one definition of the Numba decorators used by every kernel.

Every kernel divides as C does (``error_model="numpy"``): a division by
zero gives IEEE infinity or NaN instead of raising Python's
ZeroDivisionError. Kernels are given checked inputs, and the divisor check
Numba would otherwise add to every division costs a branch each and keeps
LLVM from vectorizing any loop that divides.
"""

from numba import njit

#: Serial kernel: compiled once, cached on disk, releases the GIL.
ngjit = njit(cache=True, nogil=True, error_model="numpy")

#: Parallel kernel: the outer ``prange`` iterations must write disjoint cells.
pjit = njit(cache=True, nogil=True, parallel=True, error_model="numpy")

#: Small per-step helper, inlined into its callers' loops at Numba IR level.
inline_jit = njit(cache=True, nogil=True, inline="always", error_model="numpy")

#: Per-cell helper called inside the hot loops of sweeps: compiled without
#: NRT reference counting (Numba's ``_nrt=False``), so passing arrays to it
#: costs no atomic increments; it may index and slice arrays but never
#: allocate one (Numba refuses to compile an allocation here).
cell_jit = njit(cache=True, nogil=True, _nrt=False, error_model="numpy")

#: :data:`cell_jit` with the fastmath flags that change rounding only: fused
#: multiply-add (``contract``), multiplication by a reciprocal (``arcp``) and
#: no signed zeros (``nsz``). NaN and infinity keep their IEEE behaviour
#: (no ``nnan``/``ninf``) and no sum is reassociated, so results differ from
#: plain IEEE arithmetic in the last bits only (and which operations LLVM
#: fuses may depend on where it inlined the code). Not for code whose exact
#: values decide something discrete: an index taken from a quotient, a sum
#: that must cancel to zero, a tie between equal values.
fm_cell_jit = njit(cache=True, nogil=True, _nrt=False, fastmath={"contract", "arcp", "nsz"}, error_model="numpy")

#: :data:`fm_cell_jit` for a reduction that LLVM may reorder, interleave and
#: vectorize (``reassoc``): a maximum or minimum comes out exact, a sum
#: equal to rounding (about 1e-15 relative). NaN and infinity keep their
#: IEEE behaviour, so they still carry into the result.
reduce_jit = njit(
    cache=True, nogil=True, _nrt=False, fastmath={"contract", "arcp", "nsz", "reassoc"}, error_model="numpy"
)

#: Entry point called from Python once per small piece of work (one ITM
#: prediction, about a microsecond): compiled without NRT, so unboxing an
#: array argument creates no MemInfo (like :data:`cell_jit`, it may not
#: allocate an array), and without ``nogil``: releasing and re-taking the
#: GIL costs about 0.1 us per call, and no other thread could use so short a
#: release. Called from compiled code it behaves as any other kernel.
call_jit = njit(cache=True, _nrt=False, error_model="numpy")
