"""A trained policy as a controller of the twin: :func:`policy_controller`.

Two policy formats, both over the observation vector of :mod:`.encoding`:

``path/to/policy.npz``, a linear policy (:func:`save_linear_policy` writes it)
    arrays ``weights`` (``phases x size``), ``bias`` (``phases``) and ``layout``
    (``[phases, moves, lanes]``, the :class:`~.encoding.ObservationLayout` it was trained on);
    the action is the arg-max of ``weights @ x + bias`` over the light's own green phases.
``path/to/policy.py[:name]``, a Python file
    defining ``LAYOUT = (phases, moves, lanes)`` and a callable ``name`` (default ``policy``),
    ``policy(x, action_mask) -> int``, with ``x`` the ``float32`` vector and ``action_mask`` its
    ``int8`` mask; it returns the action (an index into the light's green phases).

The controller runs under the twin like every other one: it chooses among its light's checked
phases and the twin inserts the transitions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from citybrain.control import Controller, ControllerFactory, Observation
from citybrain.exceptions import ValidationError

from .encoding import ObservationLayout, action_phase

__all__ = ["PolicyController", "load_policy", "policy_controller", "save_linear_policy"]

Policy = Callable[[np.ndarray, np.ndarray], int]


class PolicyController:
    """A controller that encodes its observation and asks a policy for the action."""

    program_driven = False

    def __init__(self, name: str, policy: Policy, layout: ObservationLayout) -> None:
        self.name, self.policy, self.layout = name, policy, layout

    def decide(self, observation: Observation) -> int | None:
        """The policy's green phase for this observation (``None`` for a padded action: keep)."""
        x = self.layout.encode(observation)
        return action_phase(observation, self.policy(x, self.layout.mask(observation)))


def save_linear_policy(path: str | Path, weights: np.ndarray, bias: np.ndarray, layout: ObservationLayout) -> Path:
    """Write a linear policy (``.npz``) for :func:`policy_controller`.

    Raises
    ------
    ValueError
        If ``weights`` is not ``layout.phases x layout.size`` or ``bias`` not ``layout.phases`` long.
    """
    w, b = np.asarray(weights, np.float64), np.asarray(bias, np.float64)
    if w.shape != (layout.phases, layout.size) or b.shape != (layout.phases,):
        msg = (f"A linear policy for {layout} needs weights of shape {(layout.phases, layout.size)} and bias of "
               f"shape {(layout.phases,)}; got {w.shape} and {b.shape}.")
        raise ValueError(msg)
    path = Path(path)
    np.savez(path, weights=w, bias=b, layout=np.array([layout.phases, layout.moves, layout.lanes], np.int64))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _linear(path: Path) -> tuple[Policy, ObservationLayout]:
    try:
        data = np.load(path)
        w, b, lay = data["weights"], data["bias"], data["layout"]
    except (OSError, ValueError, KeyError) as exc:
        msg = f"{path}: not a linear policy (.npz with arrays weights, bias and layout): {exc}"
        raise ValidationError(msg) from None
    layout = ObservationLayout(*(int(v) for v in lay))
    if w.shape != (layout.phases, layout.size) or b.shape != (layout.phases,):
        msg = (f"{path}: weights {w.shape} and bias {b.shape} do not match layout {layout} "
               f"(expected {(layout.phases, layout.size)} and {(layout.phases,)}).")
        raise ValidationError(msg)

    def policy(x: np.ndarray, mask: np.ndarray) -> int:
        scores = np.where(mask > 0, w @ x + b, -np.inf)
        return int(np.argmax(scores))

    return policy, layout


def _python(path: Path, name: str) -> tuple[Policy, ObservationLayout]:
    spec = importlib.util.spec_from_file_location(f"citybrain_policy_{path.stem}", path)
    if spec is None or spec.loader is None:
        msg = f"{path}: cannot be loaded as a Python file."
        raise ValidationError(msg)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    policy, layout = getattr(module, name, None), getattr(module, "LAYOUT", None)
    if not callable(policy):
        msg = f"{path}: defines no callable {name!r} (policy(x, action_mask) -> int)."
        raise ValidationError(msg)
    try:
        lay = ObservationLayout(*(int(v) for v in layout))
    except (TypeError, ValueError):
        msg = f"{path}: LAYOUT must be (phases, moves, lanes), three integers; got {layout!r}."
        raise ValidationError(msg) from None
    return policy, lay


def load_policy(spec: str | Path) -> tuple[Policy, ObservationLayout]:
    """Load a policy and its observation layout from ``path.npz`` or ``path.py[:name]``.

    Raises
    ------
    ValidationError
        If the file is missing or not a policy of either format.
    """
    text = str(spec)
    name = "policy"
    if ".py:" in text:
        text, name = text.rsplit(":", 1)
    path = Path(text)
    if not path.is_file():
        msg = f"Policy file {path} does not exist (expected a .npz linear policy or a .py file)."
        raise ValidationError(msg)
    if path.suffix == ".npz":
        return _linear(path)
    if path.suffix == ".py":
        return _python(path, name)
    msg = f"Policy file {path}: unknown format {path.suffix!r}; expected .npz (linear) or .py[:name]."
    raise ValidationError(msg)


def policy_controller(spec: str | Path) -> ControllerFactory:
    """The controller factory ``factory(network, tls) -> Controller`` of the policy ``spec``.

    Register it (``register_controller(f"rl:{spec}", policy_controller(spec))``) or pass its
    controllers to :class:`simulation.Twin` (``controllers=``).

    Raises
    ------
    ValidationError
        If the policy cannot be loaded (:func:`load_policy`).
    """
    policy, layout = load_policy(spec)
    name = f"rl:{spec}"

    def factory(network, tls: str) -> Controller:
        return PolicyController(name, policy, layout)

    return factory
