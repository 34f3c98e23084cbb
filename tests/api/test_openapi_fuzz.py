"""Schemathesis, driven by the app's own OpenAPI document: no generated request (valid or not)
makes a 5xx. Runs in process over ASGI, authenticated with an admin API token so the whole API
(user and token management included) is reachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import FAST_HASHER, PASSWORD


@pytest.fixture(scope="module")
def fuzz_target(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    """(the schema loaded from the running app, the Authorization header)."""
    import shutil

    from wardwatch.store.sql import open_store
    from wardwatch.web.app import create_app

    copy = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite"
    shutil.copy(demo_db, copy)
    app = create_app(store=open_store(f"sqlite:///{copy}"), hasher=FAST_HASHER)
    app.state.auth.add_user(name="fuzzer", password=PASSWORD, role="admin", actor="test")
    secret, _ = app.state.auth.create_token(user_name="fuzzer", name="schemathesis", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=headers), headers


def test_no_generated_request_makes_a_server_error(fuzz_target: tuple[Any, dict[str, str]]) -> None:
    schema, headers = fuzz_target
    failures: list[str] = []
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # the whole API is described (and reachable with the token)
    for operation in operations:

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                )

        run()
    assert not failures, failures
    # It did call the API, and got past authentication: successes and refusals of bad input.
    assert len(statuses) > 200 and 200 in statuses and {400, 404, 422} & set(statuses)
