"""The RL environments over the real twin: Gymnasium's and PettingZoo's own checkers, and a policy as a controller."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import gymnasium
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

from citybrain.app.rl import ObservationLayout, make_env, make_parallel_env, policy_controller, save_linear_policy
from citybrain.generate import generate_grid
from simulation import RunSpec, Scenario, Twin, load_scenario
from simulation.scenario import Flow

from ...conftest import ROOT

pytestmark = pytest.mark.sumo


@pytest.fixture(scope="module")
def lone(tmp_path_factory) -> Scenario:
    """A lone signalised junction, 5 minutes of traffic from every side."""
    net = generate_grid(tmp_path_factory.mktemp("lone") / "lone.net.xml", 1, 1)
    flows = tuple(Flow(f"{s}0A0", f"A0{d}0", 300.0, 0.0, 300.0) for s, d in
                  (("left", "right"), ("right", "left"), ("top", "bottom"), ("bottom", "top")))
    return Scenario(name="lone", source=net, network=net, end_s=300.0, flows=flows)


@pytest.fixture(scope="module")
def arterial() -> Scenario:
    return replace(load_scenario(ROOT / "scenarios" / "demo.toml"), end_s=200.0)


def test_check_env_passes_on_a_lone_junction(lone):
    env = make_env(lone, reward="queue")
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=1)
    assert env.observation_space.contains(obs) and info["action_mask"].sum() == env.action_space.n
    steps, done = 0, False
    while not done:
        obs, r, terminated, done, info = env.step(env.action_space.sample())
        steps += 1
    assert steps == 30 and not terminated and "delay_s" in info  # 300 s in 10 s decisions
    env.close()


def test_check_env_passes_on_one_light_of_an_arterial_and_gym_make_builds_it(arterial):
    env = make_env(arterial, tls="J3", reward="pressure")
    check_env(env, skip_render_check=True)
    env.close()
    made = gymnasium.make("citybrain/Signal-v0", scenario=arterial, tls="J1")
    assert made.unwrapped.tls == "J1" and made.observation_space.contains(made.reset(seed=0)[0])
    made.close()


def test_parallel_api_test_passes_with_one_agent_per_light(arterial):
    env = make_parallel_env(arterial)
    assert env.possible_agents == ["J1", "J2", "J3", "J4", "J5"]
    parallel_api_test(env, num_cycles=25)
    env.close()


def test_the_agents_choices_change_the_lights_and_the_metric(lone):
    env = make_env(lone, reward="delay")
    totals = []
    for action in (0, None):  # hold the first green, or cycle through the greens
        env.reset(seed=0)
        done, k, total = False, 0, 0.0
        while not done:
            k += 1
            _, r, _, done, info = env.step(0 if action == 0 else k % env.action_space.n)
            total += r
        totals.append((total, info["delay_s"]))
        # the delay rewards add up to the run's halting vehicle-seconds on the light's lanes
        assert total == pytest.approx(-info["queue_veh"] * 300.0)
    env.close()
    assert totals[0][1] > totals[1][1] and totals[0][0] < totals[1][0]  # starving three approaches costs delay


def test_a_policy_file_runs_as_a_controller(lone, tmp_path):
    env = make_env(lone)
    layout = env.layout
    env.close()
    py = tmp_path / "policy.py"
    py.write_text(f"LAYOUT = {(layout.phases, layout.moves, layout.lanes)}\n"
                  "def policy(x, mask):\n    return int(x[0] > 0)  # leave the first green, hold the second\n")
    w = np.zeros((layout.phases, layout.size))
    w[1, layout.phases] = 1.0  # the second green once the first has run a while
    for spec in (py, save_linear_policy(tmp_path / "lin", w, np.zeros(layout.phases), layout)):
        factory = policy_controller(spec)
        twin = Twin(RunSpec(replace(lone, end_s=120.0), protocol="resco"), tmp_path / spec.suffix[1:],
                    controllers={"A0": factory(None, "A0")})
        result = twin.run()
        assert result.arrived > 0 and result.monitor["total"] == 0


def test_a_broken_policy_file_is_named(tmp_path):
    from citybrain.exceptions import ValidationError

    bad = tmp_path / "p.npz"
    np.savez(bad, weights=np.zeros((2, 3)), bias=np.zeros(2), layout=np.array([2, 1, 1]))
    with pytest.raises(ValidationError, match="do not match layout"):
        policy_controller(bad)
    with pytest.raises(ValidationError, match="does not exist"):
        policy_controller(tmp_path / "none.npz")


def test_a_missing_extra_names_the_install_command(monkeypatch, lone):
    import sys

    from citybrain.exceptions import BackendUnavailableError

    monkeypatch.setitem(sys.modules, "gymnasium", None)
    monkeypatch.delitem(sys.modules, "citybrain.app.rl.envs", raising=False)
    monkeypatch.delattr(sys.modules["citybrain.app.rl"], "envs", raising=False)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'citybrain\[rl\]'"):
        make_env(lone)
