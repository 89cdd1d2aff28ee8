"""The shared DynamoDB client as app.ddb configures it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from app.ddb import USER_AGENT, open_client
from app.settings import Settings


async def test_every_request_carries_the_fixed_user_agent(settings: Settings) -> None:
    sent: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request.headers["User-Agent"].decode())

    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        client.meta.events.register("before-send.dynamodb", capture)
        await client.list_tables(Limit=1)
        await client.list_tables(Limit=2)

    # Not botocore's per-call rebuild, whose SDK feature metrics ("m/...") cost CPU per call.
    assert len(sent) == 2
    assert sent[0] == sent[1]
    assert sent[0].startswith(USER_AGENT)
    assert " m/" not in sent[0]
