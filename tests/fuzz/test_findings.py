"""What the fuzzer found, pinned: generated cases may change with schemathesis, these do not."""

from __future__ import annotations

import httpx
import pytest

from app.errors import PROBLEM_JSON
from tests.fuzz.api import TARGET, schema

PROBLEM_SCHEMA = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}


def test_every_documented_error_is_problem_json_with_its_schema() -> None:
    undocumented = [
        f"{method.upper()} {path} {status}"
        for path, methods in schema.raw_schema["paths"].items()
        for method, operation in methods.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400 and path != "/readyz"  # /readyz answers 503 with its HealthOut
        if response.get("content", {}).get(PROBLEM_JSON) != PROBLEM_SCHEMA
    ]
    assert undocumented == []


@pytest.mark.transactions
@pytest.mark.usefixtures("target")
@pytest.mark.parametrize("path", ["/api/messages", "/api/dev/tokens"])
def test_a_body_that_is_not_utf8_is_a_422_like_any_body_that_is_not_json(path: str) -> None:
    response = httpx.post(
        f"{TARGET.base_url}{path}",
        content=b'{"message": "\xff"}',
        headers={**TARGET.auth, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "body_malformed"
