"""Stateful fuzzing: chains of calls along the OpenAPI links (send -> read, list -> mark read...),
so later requests carry ids that exist, with every check run on every step."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.fuzz.api import TARGET, schema

# Sends start conversations (TransactWriteItems), as does the seed behind the server.
pytestmark = pytest.mark.transactions

SCENARIOS = 50
MAX_STEPS = 8


class SignedInWorkflow(schema.as_state_machine()):  # type: ignore[misc]
    def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
        return {"base_url": TARGET.base_url, "headers": TARGET.auth}

    def after_call(self, response: schemathesis.Response, case: schemathesis.Case[Any]) -> None:
        TARGET.cases[f"stateful {case.operation.label}"] += 1

    def validate_response(
        self,
        response: schemathesis.Response,
        case: schemathesis.Case[Any],
        additional_checks: Any = None,
        **kwargs: Any,
    ) -> None:
        # The token is ours, not generated: say so, as `call_and_validate(headers=...)` does,
        # so `ignored_auth` probes without it instead of blaming the generator.
        case.validate_response(
            response,
            headers=TARGET.auth,
            additional_checks=additional_checks,
            transport_kwargs=kwargs,
        )


def test_the_schema_declares_links_for_the_state_machine() -> None:
    links = schema.statistic.transitions
    assert links.total >= 9, links  # each was resolved to its target operation


@pytest.mark.usefixtures("target")
def test_workflows_along_links_conform_to_the_schema() -> None:
    SignedInWorkflow.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=MAX_STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
    )
