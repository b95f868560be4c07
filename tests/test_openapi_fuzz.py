"""Schemathesis generates input, valid and not, for every operation of ``/openapi.json`` and sends it to a real
server: whatever arrives, the answer is never a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case

from tests.conftest import bearer
from tests.support import Server

EXAMPLES_PER_OPERATION = 8


def test_no_input_makes_a_server_error(server: Server) -> None:
    account_id, secret = server.new_account()
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    server_errors: list[str] = []
    operations = 0
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def send(case: Case) -> None:
            if case.path_parameters and "account_id" in case.path_parameters:
                # Reach past the tenancy check into the handlers.
                case.path_parameters["account_id"] = account_id
            response = case.call(base_url=server.base_url, headers=bearer(secret))
            statuses.append(response.status_code)
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

        send()
    assert operations > 50
    assert len(statuses) >= 3 * operations  # it really sent requests
    assert any(status < 300 for status in statuses)  # and some got past validation
    assert server_errors == []
