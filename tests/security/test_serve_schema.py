"""Schemathesis over ``kaito-serve``'s OpenAPI schema, on the tiny model (issue 16).

Every operation gets a bounded number of generated requests, valid and invalid; none may be
answered with a 5xx, and every answer must match the schema (status codes, content types, bodies).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.conftest import serving

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def served_app(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with serving(tiny_model_dir, tmp_path_factory.mktemp("schema-adapters")) as client:
        yield client.app


@pytest.fixture(scope="module")
def api_schema(served_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", served_app)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_generated_requests_get_no_5xx_and_answers_match_the_schema(api_schema: Any) -> None:
    tried: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        tried.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        run()
    assert len(tried) >= 8, tried


def test_the_schema_lists_every_route(served_app: Any) -> None:
    paths = set(TestClient(served_app).get("/openapi.json").json()["paths"])
    assert {"/v1/chat/completions", "/v1/completions", "/tokenize", "/chat"} <= paths
