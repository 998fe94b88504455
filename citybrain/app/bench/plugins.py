"""Controllers by reference, resolved inside each run's process: registered names, plug-ins, trained policies.

A sweep names a controller as

- a registered name (``citybrain.control.CONTROLLERS``: ``fixed``, ``maxpressure`` ...);
- ``rl:path/to/policy`` (a trained policy, :func:`citybrain.app.rl.policy_controller`);
- ``package.module:Class`` (an importable module) or ``path/to/file.py:Class`` (a file);
  ``Class(network, tls, **params)`` builds the controller of one light, which implements the
  controller protocol (:class:`citybrain.control.Controller`: ``name``, ``program_driven``,
  ``decide(observation)``; ``docs/controllers.md``).

A run's process starts fresh (``spawn``, or a Dask worker), so a controller registered with
``register_controller`` in a script, ``python -c`` or a notebook is unknown there. A
:class:`ControllerRun` therefore carries the reference and resolves it in the run's process,
registering the factory there under the controller's key before the twin starts.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from citybrain.control import CONTROLLERS, Controller, ControllerFactory, register_controller
from citybrain.exceptions import ValidationError
from simulation import RunResult, RunSpec
from simulation.runner import failed_result, run_one

__all__ = ["ControllerRun", "absolute_reference", "controller_factory", "registered_reference", "resolve_controller"]


def absolute_reference(name: str, base: Path | None = None) -> str:
    """``name`` with a ``file.py:Class`` or ``rl:`` file made absolute (against ``base``, default the working folder)."""
    base = base or Path.cwd()
    if name.startswith("rl:"):
        return "rl:" + _absolute(name[3:], base)
    if ":" in name and name.rsplit(":", 1)[0].endswith(".py"):
        file, attr = name.rsplit(":", 1)
        return f"{_absolute(file, base)}:{attr}"
    return name


def _absolute(text: str, base: Path) -> str:
    head, sep, tail = text.partition(".py:")
    file = head + ".py" if sep else text
    path = Path(file)
    path = path if path.is_absolute() else (base / path).resolve()
    return f"{path}:{tail}" if sep else str(path)


def registered_reference(name: str) -> str | None:
    """For a controller registered in this process by a user, the ``module:Class`` its run processes import.

    ``None`` for citybrain's own controllers (registered in every process) and for names that
    are not registered.

    Raises
    ------
    ValidationError
        If the factory lives in ``__main__`` (a script, ``python -c``, a notebook) or in a
        function's locals, which a run's process cannot import.
    """
    factory = CONTROLLERS.get(name)
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if factory is None or module is None or module.split(".")[0] == "citybrain":
        return None
    if module == "__main__" or "<" in qualname:
        msg = (f"Controller {name!r} is registered from {module}.{qualname}, which the runs' processes cannot "
               "import (they start fresh); put it in a module or a file and name it as package.module:Class or "
               "path/to/file.py:Class.")
        raise ValidationError(msg)
    return f"{module}:{qualname}"


def resolve_controller(name: str) -> ControllerFactory:
    """The factory ``factory(network, tls, **params) -> Controller`` a controller name refers to.

    Raises
    ------
    ValidationError
        If the name is neither registered nor a loadable ``module:Class``, ``file.py:Class``
        or ``rl:`` policy (naming what was expected).
    """
    if name in CONTROLLERS:
        return CONTROLLERS[name]
    if name.startswith("rl:"):
        from citybrain.app.rl.policy import policy_controller

        return policy_controller(name[3:])
    if ":" not in name:
        msg = (f"Unknown controller {name!r}: expected a registered one ({', '.join(sorted(CONTROLLERS))}), "
               "a plan strategy, rl:path/to/policy, package.module:Class or path/to/file.py:Class.")
        raise ValidationError(msg)
    ref, attr = name.rsplit(":", 1)
    module = _load_file(Path(ref), name) if ref.endswith(".py") else _import(ref, name)
    factory = getattr(module, attr, None)
    if not callable(factory):
        msg = f"Controller {name!r}: {ref} defines no class or function {attr!r}."
        raise ValidationError(msg)
    return factory


def _import(module: str, name: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        msg = f"Controller {name!r}: cannot import module {module!r} ({exc}); is it on the Python path of the runs?"
        raise ValidationError(msg) from None


def _load_file(path: Path, name: str):
    if not path.is_file():
        msg = f"Controller {name!r}: file {path} not found (expected path/to/file.py:Class)."
        raise ValidationError(msg)
    module_name = "citybrain_plugin_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        msg = f"Controller {name!r}: {path} cannot be loaded as a Python file."
        raise ValidationError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        msg = f"Controller {name!r}: importing {path} failed: {type(exc).__name__}: {exc}"
        raise ValidationError(msg) from None
    return module


def controller_factory(name: str, params: dict[str, object] | None = None) -> ControllerFactory:
    """The factory of ``name`` with ``params`` bound, checking what it builds against the controller protocol.

    Raises
    ------
    ValidationError
        If the name cannot be resolved, or the factory takes no such parameters.
    """
    factory = resolve_controller(name)
    params = dict(params or {})
    try:
        inspect.signature(factory).bind(None, "tls", **params)
    except TypeError as exc:
        msg = f"Controller {name!r} cannot take the parameters {params} ({exc}); it is built as factory(network, tls, **params)."
        raise ValidationError(msg) from None
    except ValueError:  # a builtin without a signature: let the call decide
        pass
    return _checked(name, factory, params)


def _checked(name: str, factory: Callable, params: dict[str, object]) -> ControllerFactory:
    def build(network, tls: str) -> Controller:
        controller = factory(network, tls, **params)
        if not isinstance(controller, Controller):
            missing = [a for a in ("name", "program_driven", "decide") if not hasattr(controller, a)]
            msg = (f"Controller {name!r} built a {type(controller).__name__} that does not implement the controller "
                   f"protocol: it lacks {', '.join(missing)} (see docs/controllers.md).")
            raise ValidationError(msg)
        return controller

    return build


@dataclass(frozen=True, slots=True)
class ControllerRun:
    """A twin run (a :class:`simulation.runner.Task`) whose controller is resolved in the run's process.

    Attributes
    ----------
    spec : simulation.RunSpec
        The run; ``spec.controller`` is the key the controller is registered under.
    reference : str or None
        The controller reference to resolve (:func:`resolve_controller`); ``None`` when
        ``spec.controller`` is already registered as it is (no parameters).
    params : tuple of (str, value)
        The controller's parameters.
    """

    spec: RunSpec
    reference: str | None = None
    params: tuple[tuple[str, object], ...] = ()

    @property
    def duration_s(self) -> float:
        """Simulated seconds of the run."""
        return self.spec.scenario.duration_s

    def run(self, workdir: Path, on_progress: Callable[[float], None]) -> RunResult:
        """Register the controller here, then run the twin; return its RunResult."""
        if self.reference is not None:
            register_controller(self.spec.controller, controller_factory(self.reference, dict(self.params)))
        return run_one(self.spec, workdir, on_progress)

    def failed(self, error: str, wall_s: float) -> RunResult:
        """The RunResult of a run that failed with ``error``."""
        return failed_result(self.spec, error, wall_s)
