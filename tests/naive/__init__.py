"""Slow, obvious pure-numpy references for the numba kernels, one module per topic."""
