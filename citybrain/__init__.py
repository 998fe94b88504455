"""citybrain: camera counts -> intersection flows -> signal plans -> SUMO digital twin.

Public modules: :mod:`citybrain.network` (road network model), :mod:`citybrain.network.conflicts`
(movement conflicts and unsafe phases), :mod:`citybrain.generate` (network generators),
:mod:`citybrain.exceptions` (the error tree), :mod:`citybrain.config` (settings).
"""

from .exceptions import CityBrainError
from .network import RoadNetwork, graph_from_sumo_net

__all__ = ["CityBrainError", "RoadNetwork", "graph_from_sumo_net"]
__version__ = "0.1.0"
