"""Signal timing: one module per method behind :func:`optimise_plan`.

``webster`` and ``hcm`` time isolated lights (``splits``: equal-saturation greens over the
phases of ``phases``, from the movement flows of ``flows``); ``coordination`` gives a group a
common cycle and offsets over the TRANSYT-style ``delay_model``; ``schedule`` splits a day into
time-of-day periods. :class:`TimingOptions` holds the options every method shares.
"""

from __future__ import annotations

from .optimise import METHODS, choose_method, default_method, get_method, optimise_plan
from .options import TimingOptions

__all__ = ["optimise_plan", "default_method", "METHODS", "get_method", "choose_method", "TimingOptions"]
