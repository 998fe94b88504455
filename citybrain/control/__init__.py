"""Online signal controllers behind one protocol (see :mod:`citybrain.control.base`)."""

from __future__ import annotations

from .base import (
    CONTROLLERS,
    DEFAULT_MIN_GREEN_S,
    NATIVE,
    PROTOCOLS,
    RESCO,
    Controller,
    ControllerFactory,
    DecisionProtocol,
    Observation,
    get_protocol,
    make_controller,
    register_controller,
)
from .fixed import FixedController

__all__ = [
    "CONTROLLERS",
    "DEFAULT_MIN_GREEN_S",
    "NATIVE",
    "PROTOCOLS",
    "RESCO",
    "Controller",
    "ControllerFactory",
    "DecisionProtocol",
    "FixedController",
    "Observation",
    "get_protocol",
    "make_controller",
    "register_controller",
]
