"""The RESCO benchmark's published delays, kept as package data (``resco_published.csv``).

Source: the RESCO repository's result data (Pi-Star-Lab/RESCO; Ault & Sharon 2021), produced
with SUMO 1.9. Delay (s/veh) is RESCO's: ``timeLoss + departDelay`` over every tripinfo entry,
finished or not, plus the vehicles never inserted counted from their scheduled departure to
the window's end (our ``delay_all_s``). How each figure was computed (column ``rule``):
baselines (FIXED = the networks' own programs, MAXWAVE, MAXPRESSURE; the data's keys, which the
paper's figure may label the other way round) are the mean over episodes; learning controllers
(IDQN, IPPO, MPLight, FMA2C) their best episode. ``delay_sd`` is the published spread where given.
Compare with them only under SUMO 1.9.1: under 1.28 the same programs give lower delays.
"""

from __future__ import annotations

from importlib.resources import files

import pandas as pd

__all__ = ["RESCO_SCENARIOS", "resco_published"]

#: The scenarios of the published table.
RESCO_SCENARIOS: tuple[str, ...] = ("cologne1", "cologne3", "ingolstadt1", "ingolstadt7")


def resco_published() -> pd.DataFrame:
    """The published table: ``scenario, controller, delay_s, delay_sd, rule, source``, one row per figure."""
    with files(__package__).joinpath("resco_published.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)
