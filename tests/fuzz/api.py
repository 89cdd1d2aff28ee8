"""The schema under fuzz, how schemathesis is configured for it, and where its requests go.

The schema is the app's own OpenAPI document, built at import (``create_app`` does no I/O) so
pytest can collect one test per operation; ``test_served_schema_is_the_fuzzed_one`` proves it
is what ``/openapi.json`` serves. The server itself only exists once the session fixtures have
started it, so each call names ``TARGET.base_url`` and ``TARGET.auth``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from app.main import create_app
from app.settings import Settings

SEED = 20261120
MAX_EXAMPLES_PER_OPERATION = 50

# Operations with rules JSON Schema cannot state, so a schema-valid request can rightly get a
# 422: a cursor is opaque and HMAC-signed (`cursor_invalid`), and a message needs exactly one
# target that is not yourself (`message_target_ambiguous`, `message_self`), an edit's text is
# not blank once trimmed (`message_blank`), and you cannot block yourself (`block_self`).
# Everywhere else
# `positive_data_acceptance` holds; `negative_data_rejection` holds everywhere.
_SEMANTICALLY_VALIDATED = [
    "GET /api/blocks",
    "GET /api/message_groups",
    "GET /api/messages/{message_group_uuid}",
    "POST /api/messages",
    "PATCH /api/messages/{message_group_uuid}/{message_uuid}",
    "POST /api/users/@{handle}/block",
]

CONFIG: dict[str, Any] = {
    "seed": SEED,
    "request-timeout": 10,
    # A busy 2-core CI box must not fail the run for being slow to generate.
    "suppress-health-check": ["too_slow"],
    "generation": {
        "max-examples": MAX_EXAMPLES_PER_OPERATION,
        "deterministic": True,  # the same cases on every run: CI failures reproduce locally
        "database": "none",  # nothing written under .hypothesis/
        # The token is a real one from the app's issuer, sent by each test; generating random
        # Authorization values is left to `ignored_auth`, which probes missing and bad tokens.
        "with-security-parameters": False,
    },
    # Every built-in check is on except these two (`max_response_time` needs a limit, so it is
    # off unless one is given, and none is: latency belongs to bench/, not a shared CI box).
    "checks": {
        # Needs several identities declared in a WFC auth file to swap between; ownership (BOLA)
        # is covered by the two-user tests under tests/routers/.
        "object_level_authorization": {"enabled": False},
    },
    "operations": [
        {
            "include-name": _SEMANTICALLY_VALIDATED,
            "checks": {"positive_data_acceptance": {"enabled": False}},
        },
        # An endless event stream has no response to validate (every valid case would run into
        # the request timeout); tests/events/ drive it over a real socket instead.
        {"include-name": "GET /api/events", "enabled": False},
    ],
}


def _build_schema() -> OpenApiSchema:
    document = create_app(Settings(auth_mode="local", _env_file=None)).openapi()
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(CONFIG))


schema = _build_schema()


@dataclass
class Target:
    """The running server and a signed-in user's token; set by the ``target`` fixture."""

    base_url: str = ""
    token: str = ""
    cases: Counter[str] = field(default_factory=Counter)
    """Requests generated per kind of run, for the summary at the end of the session."""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


TARGET = Target()
