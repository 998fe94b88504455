"""Online signal controllers behind one protocol (see :mod:`citybrain.control.base`)."""

from __future__ import annotations

from .base import (
    APPROACH_REACH_M,
    CONTROLLERS,
    DEFAULT_MIN_GREEN_S,
    DETECTOR_SETBACK_M,
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
from .actuated import ActuatedController, PressureActuatedController
from .adaptive import AdaptivePlanController
from .efficient import AdvancedPressureController, EfficientPressureController
from .fixed import FixedController
from .greedy import GreedyController
from .maxpressure import MaxPressureController
from .sumo_programs import SumoProgramController

__all__ = [
    "APPROACH_REACH_M",
    "CONTROLLERS",
    "DEFAULT_MIN_GREEN_S",
    "DETECTOR_SETBACK_M",
    "NATIVE",
    "PROTOCOLS",
    "RESCO",
    "Controller",
    "ControllerFactory",
    "DecisionProtocol",
    "ActuatedController",
    "AdaptivePlanController",
    "AdvancedPressureController",
    "EfficientPressureController",
    "FixedController",
    "GreedyController",
    "MaxPressureController",
    "SumoProgramController",
    "Observation",
    "PressureActuatedController",
    "get_protocol",
    "make_controller",
    "register_controller",
]
