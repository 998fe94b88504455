"""Slow, obvious references for plate re-identification and pooled turning ratios.

* :func:`link_sightings` -- consecutive sightings paired with a Python loop and a dict of
  camera pairs (reference of ``_link_sightings``);
* :func:`path_weights` -- fragment weights summed over their paths with :func:`numpy.add.at`
  (reference of ``_path_weights``);
* :func:`pool_turning_ratios` -- per approach, the shrunk least-squares ratios with
  :func:`numpy.linalg.lstsq` on the stacked intervals (reference of ``_pool_turning_ratios``).
"""

from __future__ import annotations

import numpy as np


def link_sightings(plate, time_s, camera, pair_key, pair_free_s, n_cameras, max_factor, slack_s, min_factor):
    """Fragments (first sighting, pair index) of consecutive sightings of one plate at a known pair."""
    pairs = {int(k): i for i, k in enumerate(pair_key)}
    first, pair = [], []
    for i in range(len(plate) - 1):
        if plate[i] != plate[i + 1] or camera[i] == camera[i + 1]:
            continue
        j = pairs.get(int(camera[i]) * n_cameras + int(camera[i + 1]))
        if j is None:
            continue
        dt = time_s[i + 1] - time_s[i]
        if min_factor * pair_free_s[j] <= dt <= max_factor * pair_free_s[j] + slack_s:
            first.append(i)
            pair.append(j)
    return np.array(first, dtype=np.int64), np.array(pair, dtype=np.int64)


def path_weights(fragment_pair, pair_ptr, pair_var, weight, n_var):
    """Sum of weights and of squared weights of the fragments through every flow."""
    total = np.zeros(n_var)
    square = np.zeros(n_var)
    for p, w in zip(fragment_pair, weight, strict=True):
        members = pair_var[pair_ptr[p] : pair_ptr[p + 1]]
        np.add.at(total, members, w)
        np.add.at(square, members, w * w)
    return total, square


def pool_turning_ratios(x, seg_start, seg_end, prior, prior_weight):
    """Ratios r minimising sum_t |x_t - r Q_t|^2 + c |r - prior|^2, c = prior_weight sum_t Q_t^2, per approach."""
    out = prior.copy()
    for a, b in zip(seg_start, seg_end, strict=True):
        q = x[:, a:b].sum(axis=1)
        c = prior_weight * float(q @ q)
        if float(q @ q) <= 0:
            continue
        for m in range(a, b):
            # stacked least squares: q r = x_m (every interval) and sqrt(c) r = sqrt(c) prior_m
            lhs = np.concatenate([q, [np.sqrt(c)]])[:, None]
            rhs = np.concatenate([x[:, m], [np.sqrt(c) * prior[m]]])
            out[m] = np.linalg.lstsq(lhs, rhs, rcond=None)[0][0]
    return out
