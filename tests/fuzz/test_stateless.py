"""Stateless fuzzing: every operation of our OpenAPI, positive and negative cases, all checks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis

from tests.fuzz.api import TARGET, schema

# Sends start conversations (TransactWriteItems), as does the seed behind the server.
pytestmark = pytest.mark.transactions


@pytest.mark.usefixtures("target")
@schema.parametrize()
def test_operation_conforms_to_its_schema(case: schemathesis.Case[Any]) -> None:
    TARGET.cases[f"stateless {case.operation.label}"] += 1
    case.call_and_validate(base_url=TARGET.base_url, headers=TARGET.auth)


@pytest.mark.usefixtures("target")
def test_the_fuzzed_schema_is_the_served_one() -> None:
    served = httpx.get(f"{TARGET.base_url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == schema.raw_schema
