"""Numba kernels of plate re-identification: linking sightings, weighing path fragments.

:func:`citybrain.estimation.link_fragments` links consecutive sightings of a plate into path
fragments (``_link_sightings``); :func:`citybrain.estimation.fragment_turn_shares` sums the
fragments' weights over the movements of their paths (``_path_weights``). Pure-numpy
references: ``tests/naive/plates.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ... import config

__all__ = ["_link_sightings", "_path_weights"]


# "(i8[:], f8[:], i8[:], i8[:], f8[:], i8, f8, f8, f8)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _link_sightings(plate, time_s, camera, pair_key, pair_free_s, n_cameras, max_factor, slack_s, min_factor):
    """Numba kernel for :func:`citybrain.estimation.link_fragments`: consecutive sightings into fragments.

    Sightings are sorted by ``plate`` then ``time_s`` (s); ``camera`` is each one's camera
    number. ``pair_key`` (sorted) holds ``a * n_cameras + b`` for every camera pair joined by a
    path, ``pair_free_s`` the free-flow time (s) of its shortest path. Sightings ``i`` and
    ``i + 1`` form a fragment when they are of one plate, at two cameras of a known pair, and
    ``min_factor * free <= time_s[i + 1] - time_s[i] <= max_factor * free + slack_s``.

    Returns
    -------
    first : ndarray
        Index of each fragment's first sighting.
    pair : ndarray
        Index into ``pair_key`` of each fragment's camera pair.
    """
    n = plate.shape[0]
    n_pairs = pair_key.shape[0]
    first = np.empty(max(n - 1, 0), dtype=np.int64)
    pair = np.empty(max(n - 1, 0), dtype=np.int64)
    k = 0
    for i in range(n - 1):
        if plate[i + 1] != plate[i] or camera[i + 1] == camera[i]:
            continue
        key = camera[i] * n_cameras + camera[i + 1]
        j = np.searchsorted(pair_key, key)
        if j >= n_pairs or pair_key[j] != key:
            continue
        dt = time_s[i + 1] - time_s[i]
        free = pair_free_s[j]
        if dt < min_factor * free or dt > max_factor * free + slack_s:
            continue
        first[k] = i
        pair[k] = j
        k += 1
    return first[:k], pair[:k]


# "(i8[:], i8[:], i8[:], f8[:], i8)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _path_weights(fragment_pair, pair_ptr, pair_var, weight, n_var):
    """Numba kernel for :func:`citybrain.estimation.fragment_turn_shares`: fragment weight per flow.

    Fragment ``f`` follows the path of its camera pair ``fragment_pair[f]``, whose flows
    (movements) are ``pair_var[pair_ptr[p]:pair_ptr[p + 1]]``. Returns, per flow, the sum of
    the weights of the fragments through it and the sum of their squares.
    """
    total = np.zeros(n_var)
    square = np.zeros(n_var)
    for f in range(fragment_pair.shape[0]):
        p = fragment_pair[f]
        w = weight[f]
        for k in range(pair_ptr[p], pair_ptr[p + 1]):
            v = pair_var[k]
            total[v] += w
            square[v] += w * w
    return total, square
