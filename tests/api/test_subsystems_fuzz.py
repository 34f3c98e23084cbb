"""Schemathesis on the alerts, recalls, vulnerabilities, risk, stats and network operations with
the full demo data behind them (alerts, recalls, findings and scores present, unlike the
capture-only store of test_openapi_fuzz): no generated request makes a 5xx."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import FAST_HASHER, PASSWORD
from tests.api.fulldemo import build_full_demo

PREFIXES = ("/alerts", "/recalls", "/vulnerabilities", "/risk", "/stats", "/network")


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    """(the schema loaded from an app on the full demo, the Authorization header of an analyst)."""
    from wardwatch.store.sql import open_store
    from wardwatch.web.app import create_app

    base = tmp_path_factory.mktemp("fuzzfull")
    build_full_demo(base / "seed.sqlite")
    shutil.copy(base / "seed.sqlite", base / "fuzz.sqlite")
    app = create_app(store=open_store(f"sqlite:///{base / 'fuzz.sqlite'}"), hasher=FAST_HASHER)
    app.state.auth.add_user(name="fuzzer", password=PASSWORD, role="analyst", actor="test")
    secret, _ = app.state.auth.create_token(user_name="fuzzer", name="schemathesis", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=headers), headers


def test_no_generated_request_to_the_subsystem_routes_makes_a_server_error(
    fuzz_target: tuple[Any, dict[str, str]],
) -> None:
    schema, headers = fuzz_target
    failures: list[str] = []
    statuses: list[int] = []
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.removeprefix("/api/v1").startswith(PREFIXES) or op.path.endswith(("/risk", "/mitigations"))
    ]
    assert {op.path for op in operations} >= {
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}/{action}",
        "/api/v1/recalls",
        "/api/v1/vulnerabilities/{vuln_id}",
    }
    for operation in operations:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
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
    assert 200 in statuses and {400, 404, 422} & set(statuses)
