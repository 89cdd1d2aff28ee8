"""The injector itself: it leaves a client exactly as it found it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from app.ddb import open_client
from app.settings import Settings
from tests.faults.injector import FaultInjector, FaultKind, standard_retry_handler

EVENTS = ("before-call", "before-send", "after-call")


def hooks(client: Any) -> dict[str, int]:
    handlers = client.meta.events._emitter._handlers
    return {event: len(handlers.prefix_search(f"{event}.dynamodb.GetItem")) for event in EVENTS}


async def test_closing_unhooks_and_restores_the_retry_settings(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        client: Any = await open_client(settings, stack)
        backoff = standard_retry_handler(client)._retry_policy._retry_backoff
        before = hooks(client), backoff._max_backoff
        injector = FaultInjector()
        injector.attach(client, max_backoff=0.01)
        injector.fail("GetItem", FaultKind.THROTTLED)
        assert hooks(client) == {event: count + 1 for event, count in before[0].items()}
        assert backoff._max_backoff == 0.01

        await injector.close()

        assert (hooks(client), backoff._max_backoff) == before
