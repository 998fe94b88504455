"""Signal timing: one module per method behind :func:`optimise_plan`.

``webster`` and ``hcm`` time isolated lights; ``coordination`` gives a group a common cycle
and offsets (TRANSYT-style delay model, numba search); ``maxband`` finds arterial bandwidth
offsets by MILP; ``schedule`` splits a day into time-of-day periods.
"""

from __future__ import annotations

from .optimise import METHODS, default_method, get_method, optimise_plan

__all__ = ["optimise_plan", "default_method", "METHODS", "get_method"]
