"""`ignored_auth` on every operation that declares the bearer scheme, from a request that works.

The check only probes (no token, then a bad one: both must be 401) after a 2xx, and random ids
rarely reach one; these requests use the seeded conversation so each operation succeeds once.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid5

import pytest

from app.domain import pair_conversation_uuid
from scripts.seed import DEMO_USERS, SEED_NAMESPACE, demo_user
from scripts.seed_dialogue import DIALOGUE
from tests.fuzz.api import TARGET, schema

# Sends start conversations (TransactWriteItems), as does the seed behind the server.
pytestmark = pytest.mark.transactions

_USERS = {handle: demo_user(handle, name) for handle, name in DEMO_USERS}
SEEDED_GROUP = str(pair_conversation_uuid(_USERS["andrewbrown"].uuid, _USERS["bayko"].uuid))
IN_SEEDED_GROUP = {"message_group_uuid": SEEDED_GROUP}


def _seeded_message(index: int) -> dict[str, str]:
    """Path parameters of the seeded dialogue's message ``index`` (Andrew's when even)."""
    return {
        **IN_SEEDED_GROUP,
        "message_uuid": str(uuid5(SEED_NAMESPACE, f"message:{SEEDED_GROUP}:{index}")),
    }


SUCCEEDING_CALLS: dict[str, dict[str, Any]] = {
    "GET /api/message_groups": {},
    "POST /api/message_groups/{message_group_uuid}/read": {"path_parameters": IN_SEEDED_GROUP},
    "GET /api/messages/{message_group_uuid}": {"path_parameters": IN_SEEDED_GROUP},
    "POST /api/messages": {"body": {"message": "auth probe", **IN_SEEDED_GROUP}},
    "GET /api/users/@{handle}/short": {"path_parameters": {"handle": "bayko"}},
    "GET /api/me": {},
    "POST /api/events/tickets": {},
    # The seeded messages are older than the edit window: the same text again is an edit
    # that succeeds without changing anything.
    "PATCH /api/messages/{message_group_uuid}/{message_uuid}": {
        "path_parameters": _seeded_message(2),
        "body": {"message": DIALOGUE[2][1]},
    },
    "DELETE /api/messages/{message_group_uuid}/{message_uuid}": {
        "path_parameters": _seeded_message(4)
    },
    "POST /api/users/@{handle}/block": {"path_parameters": {"handle": "londo"}},
    "DELETE /api/users/@{handle}/block": {"path_parameters": {"handle": "londo"}},
    "GET /api/blocks": {},
}
STREAMING = {"GET /api/events"}
"""Endless, so never called here; its refusals are tested in tests/events/."""


def test_every_secured_operation_has_a_succeeding_call() -> None:
    secured = {
        f"{method.upper()} {path}"
        for path, methods in schema.raw_schema["paths"].items()
        for method, operation in methods.items()
        if operation.get("security")
    }
    assert secured == set(SUCCEEDING_CALLS) | STREAMING


@pytest.mark.usefixtures("target")
@pytest.mark.parametrize("label", sorted(SUCCEEDING_CALLS))
def test_operation_refuses_a_missing_or_invalid_token(label: str) -> None:
    method, path = label.split(" ", 1)
    case = schema[path][method].Case(**SUCCEEDING_CALLS[label])
    TARGET.cases["auth"] += 1
    response = case.call_and_validate(base_url=TARGET.base_url, headers=TARGET.auth)
    assert 200 <= response.status_code < 300, response.text  # so `ignored_auth` did probe
