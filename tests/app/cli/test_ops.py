"""``citybrain ops``: usage errors without a service (token, server, plan file)."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from citybrain.app.cli.ops import ops


def _dead_server() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_no_token_is_a_message_and_exit_2():
    result = CliRunner().invoke(ops, ["list", "--server", _dead_server()], env={"CITYBRAIN_TOKEN": ""})
    assert result.exit_code == 2 and "set the environment variable CITYBRAIN_TOKEN" in result.output


def test_no_server_a_bad_url_and_a_bad_plan_file_are_exit_2(tmp_path):
    server, env = _dead_server(), {"CITYBRAIN_TOKEN": "t"}
    result = CliRunner().invoke(ops, ["lights", "--server", server], env=env)
    assert result.exit_code == 2 and f"cannot reach the plan service at {server}" in result.output
    result = CliRunner().invoke(ops, ["list", "--server", "127.0.0.1:8000"], env=env)
    assert result.exit_code == 2 and "--server '127.0.0.1:8000': expected the service's URL" in result.output
    (tmp_path / "plan.json").write_text('{"schema": "citybrain.plans", "version": 1, "periods": []}')
    result = CliRunner().invoke(ops, ["create", str(tmp_path / "plan.json"), "--server", server], env=env)
    assert result.exit_code == 2 and "plan.json" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(ops, ["create", str(tmp_path / "plan.json"), "--plan", "1", "--server", server], env=env)
    assert result.exit_code == 2 and "--plan and --base-version go together" in result.output
