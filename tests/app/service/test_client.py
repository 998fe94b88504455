"""ServiceClient's own errors: a bad server URL and a server that does not answer.

Its calls against a real service are tested through ``citybrain ops`` (tests/app/cli/test_ops.py).
"""

from __future__ import annotations

import socket

import pytest

from citybrain.app.service.client import ServiceClient, ServiceClientError
from citybrain.exceptions import ValidationError


@pytest.mark.parametrize(("server", "match"), [
    ("127.0.0.1:8000", "expected the service's URL"),
    ("ftp://127.0.0.1:21", "expected the service's URL"),
    ("http://", "expected the service's URL"),
    ("http://127.0.0.1:99999", "not a valid URL"),
])
def test_a_bad_server_url_is_a_validation_error(server, match):
    with pytest.raises(ValidationError, match=match):
        ServiceClient(server, "t")


def test_a_server_that_does_not_answer_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ServiceClient(f"http://127.0.0.1:{port}", "t", timeout_s=2) as client:
        with pytest.raises(ServiceClientError, match=f"cannot reach the plan service at http://127.0.0.1:{port}") as info:
            client.health()
    assert info.value.status is None and info.value.problems == [info.value.detail]
