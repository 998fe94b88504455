"""Numba kernels of flow estimation (:mod:`citybrain.estimation`), one module per concept.

* :mod:`.rows` -- one row of one interval's problem: weight, target, residual;
* :mod:`.bounded_lsq` -- bounded least squares by coordinate descent (whole sweeps, and the
  work-list polish of the direct solver);
* :mod:`.blocks` -- the junction blocks of the normal equations: inverses and block products;
* :mod:`.normal_equations` -- right-hand sides, sparse products and triangular solves of the
  condensed link system;
* :mod:`.standard_errors` -- ``se_vph`` per junction block;
* :mod:`.keys` -- numbering the count keys of a table;
* :mod:`.tables` -- counted rates, CSR/CSC order, the flows and fit tables.

Pure-numpy references: ``tests/naive/estimation.py``.
"""
