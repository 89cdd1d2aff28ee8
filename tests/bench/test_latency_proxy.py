"""bench/latency_proxy.py: bytes pass intact both ways, each round trip held at least as asked."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack

from app.ddb import open_client
from app.settings import Settings
from bench.latency_proxy import latency_proxy

ROUND_TRIP_MS = 40.0


async def test_calls_through_the_proxy_answer_the_same_and_wait_a_round_trip(
    settings: Settings,
) -> None:
    direct_endpoint = str(settings.ddb_endpoint_url)
    with latency_proxy(direct_endpoint, ROUND_TRIP_MS) as proxied_endpoint:
        assert proxied_endpoint != direct_endpoint
        async with AsyncExitStack() as stack:
            direct = await open_client(settings, stack)
            proxied = await open_client(
                settings.model_copy(update={"ddb_endpoint_url": proxied_endpoint}), stack
            )
            await proxied.list_tables()  # the connection is open before timing
            started = time.perf_counter()
            through = await proxied.list_tables()
            waited = time.perf_counter() - started
            straight = await direct.list_tables()
    assert through["TableNames"] == straight["TableNames"]
    # A lower bound only: the proxy holds each way's bytes for half the round trip.
    assert waited >= ROUND_TRIP_MS / 1000
