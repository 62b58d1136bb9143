"""Numba kernels over plain NumPy arrays and scalars.

Nothing here imports xarray, rasterio, Flask or does file I/O; the wrappers in
:mod:`covgap` validate inputs and cast them before calling a kernel.
"""
