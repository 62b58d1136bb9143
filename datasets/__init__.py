"""Loaders for DEMs, population rasters and site lists, and the sample region."""
