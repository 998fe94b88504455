"""RL environments over the twin (``pip install citybrain[rl]``) and trained policies as controllers.

- :func:`make_env`: a Gymnasium ``Env`` for one light, also ``gymnasium.make("citybrain/Signal-v0",
  scenario=...)``;
- :func:`make_parallel_env`: a PettingZoo ``ParallelEnv``, one agent per light;
- :func:`policy_controller`: a saved policy as a controller factory (formats in :mod:`.policy`).

Observations and actions are laid out in :mod:`.encoding`; the episode runs in a
:class:`~.session.TwinSession`. With the ``libsumo`` backend one environment runs per process
(libsumo is one simulation per process); pass ``backend="traci"`` for several.
"""

from __future__ import annotations

from citybrain.exceptions import BackendUnavailableError

from .encoding import REWARDS, ObservationLayout
from .policy import load_policy, policy_controller, save_linear_policy

__all__ = [
    "ENV_ID",
    "REWARDS",
    "ObservationLayout",
    "load_policy",
    "make_env",
    "make_parallel_env",
    "policy_controller",
    "save_linear_policy",
]

#: The Gymnasium id of :func:`make_env`.
ENV_ID = "citybrain/Signal-v0"
INSTALL = "pip install 'citybrain[rl]'"


def _envs():
    try:
        from . import envs
    except ImportError as exc:
        msg = f"The RL environments need gymnasium and pettingzoo ({exc.name} is missing): {INSTALL}"
        raise BackendUnavailableError(msg) from None
    return envs


def make_env(scenario, tls: str | None = None, protocol: str = "resco", reward: str = "delay", seed: int = 0, **kw):
    """A Gymnasium environment for light ``tls`` of ``scenario`` (a TOML / ``.sumocfg`` path or a ``Scenario``).

    Parameters
    ----------
    scenario : str, Path or Scenario
        The scenario.
    tls : str or None
        The learning light (``None``: the scenario's only light); the others run ``others``.
    protocol : str
        ``"resco"`` (a step is 10 s) or ``"native"`` (1 s).
    reward : str
        ``"delay"``, ``"pressure"`` or ``"queue"`` (:func:`.encoding.reward`).
    seed : int
        SUMO's seed when ``reset`` gets none.
    **kw
        ``others`` (controller of the other lights, default ``"fixed"``), ``backend``
        (``"libsumo"`` or ``"traci"``).

    Raises
    ------
    BackendUnavailableError
        If the ``rl`` extra is not installed (the message gives the command).
    ValueError
        If the light, protocol or reward is unknown.
    """
    return _envs().SignalEnv(scenario, tls, protocol, reward, seed, **kw)


def make_parallel_env(scenario, lights=None, protocol: str = "resco", reward: str = "delay", seed: int = 0, **kw):
    """A PettingZoo parallel environment, one agent per light (``lights``: all of them by default).

    Parameters and errors as :func:`make_env`; observations and actions are padded to the
    largest light (``info[agent]["action_mask"]`` marks each light's own phases).
    """
    return _envs().ParallelSignalEnv(scenario, lights, protocol, reward, seed, **kw)


def _register() -> None:
    try:
        import gymnasium
    except ImportError:
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(ENV_ID, entry_point="citybrain.app.rl.envs:SignalEnv", disable_env_checker=True)


_register()
