"""The Redis bus against a real redis-server: instances deliver to their own connections."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack, ExitStack
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest

from app.ddb import open_client
from app.events.bus import Event, RedisPublisher, channel_of, redis_client
from app.events.model import opened
from app.repositories.table import Table
from app.settings import Settings
from app.streams import handler as lambda_module
from app.streams.worker import run_worker
from scripts.redis_server import redis_server
from tests.conftest import MakeUser, RunningApp, SignedIn, start_conversation
from tests.events.conftest import (
    WAIT_SECONDS,
    EventReader,
    eventually,
    live_server,
    live_settings,
    open_stream,
)
from tests.streams.conftest import StreamReader, event_of


async def test_a_client_on_one_instance_gets_the_event_of_a_send_through_another(
    settings: Settings, table: object, make_user: MakeUser, redis_url: str
) -> None:
    instance = live_settings(settings, events_redis_url=redis_url, stream_worker_enabled=False)
    andrew, bayko = await make_user(), await make_user()
    publisher = RedisPublisher(redis_url)
    stop = asyncio.Event()
    # The one stream consumer (the Lambda's part), publishing through Redis only.
    worker = asyncio.create_task(run_worker(instance, stop, publisher))
    try:
        async with (
            live_server(instance) as first,
            live_server(instance) as second,
            first.client() as via_first,
            second.client() as via_second,
            open_stream(via_second, bayko) as bayko_on_second,
            open_stream(via_first, andrew) as andrew_on_first,
        ):
            sent = await via_first.post(
                "/api/messages",
                json={"message": "across instances", "handle": bayko.user.handle},
                headers=andrew.headers,
            )
            assert sent.status_code == 200, sent.text
            assert await bayko_on_second.next_json("message") == sent.json()
            row = await bayko_on_second.next_json("conversation")
            assert (row["handle"], row["unread_count"]) == (andrew.user.handle, 1)
            assert (await andrew_on_first.next_json("message"))["uuid"] == sent.json()["uuid"]

            # mark-read on one instance reaches the user's tab on the other
            group = sent.json()["message_group_uuid"]
            read = await via_first.post(f"/api/message_groups/{group}/read", headers=bayko.headers)
            assert read.status_code == 200
            assert (await bayko_on_second.next_json("read"))["unread_count"] == 0

            # a ticket is single-use across instances (its use is remembered in Redis)
            ticket = (await via_first.post("/api/events/tickets", headers=bayko.headers)).json()
            async with open_stream(via_second, params={"ticket": ticket["ticket"]}):
                pass
            reused = await via_first.get("/api/events", params={"ticket": ticket["ticket"]})
            assert (reused.status_code, reused.json()["code"]) == (401, "ticket_invalid")
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, WAIT_SECONDS)
        await publisher.aclose()


async def test_the_stream_lambda_publishes_through_redis_when_configured(
    settings: Settings,
    table: Table,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    running_app: RunningApp,
) -> None:
    """The Lambda has no KMS: its events carry the text sealed (``message`` null, the envelope
    beside the data), and the API process that delivers them opens it."""
    andrew, bayko = await make_user(), await make_user()
    group = await start_conversation(client, andrew, bayko)
    reply = await client.post(
        "/api/messages",
        json={"message": "via the Lambda", "message_group_uuid": group},
        headers=bayko.headers,
    )
    assert reply.status_code == 200, reply.text
    async with AsyncExitStack() as stack:
        streams = await open_client(settings, stack, "dynamodbstreams")
        description = await table.client.describe_table(TableName=table.name)
        records = await StreamReader(streams, description["Table"]["LatestStreamArn"]).new_records()
        listener = redis_client(redis_url)
        stack.push_async_callback(listener.aclose)
        pubsub = listener.pubsub()
        await pubsub.subscribe(channel_of(andrew.user.uuid))

        assert settings.ddb_endpoint_url is not None
        for name, value in (
            ("DDB_ENDPOINT_URL", settings.ddb_endpoint_url),
            ("TABLE_NAME", settings.table_name),
            ("AWS_REGION", settings.aws_region),
            ("EVENTS_REDIS_URL", redis_url),
        ):
            monkeypatch.setenv(f"CRUDDUR_{name}", value)
        lambda_module.runtime.close()
        try:
            answer = await asyncio.to_thread(lambda_module.handler, event_of(records), None)
        finally:
            await asyncio.to_thread(lambda_module.runtime.close)
        assert answer == {"batchItemFailures": []}

        received: list[Event] = []
        async with asyncio.timeout(WAIT_SECONDS):
            while len(received) < 3:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    received.append(Event.from_json(message["data"]))
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    # The batch holds the opening message and the reply: both, oldest first, then the row.
    assert [event.name for event in received] == ["message", "message", "conversation"]
    assert received[1].data["uuid"] == reply.json()["uuid"]
    assert (received[2].data["message"], received[2].data["unread_count"]) == (None, 1)
    assert all(event.sealed is not None for event in received)
    cipher = running_app.state.messaging.messages.cipher
    shown = [await opened(event, cipher) for event in received]
    assert [event.data["message"] for event in shown[1:]] == ["via the Lambda"] * 2
    assert not [event for event in shown if "message_error" in event.data]


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


async def send_and_receive(
    http: httpx.AsyncClient, sender: SignedIn, stream: EventReader, group: str, text: str
) -> None:
    sent = await http.post(
        "/api/messages",
        json={"message": text, "message_group_uuid": group},
        headers=sender.headers,
    )
    assert sent.status_code == 200, sent.text
    assert (await stream.next_json("message"))["uuid"] == sent.json()["uuid"]


async def test_a_payload_that_is_no_event_is_skipped_and_the_bus_keeps_delivering(
    settings: Settings, table: object, make_user: MakeUser, redis_url: str
) -> None:
    andrew, bayko = await make_user(), await make_user()
    async with (
        live_server(live_settings(settings, events_redis_url=redis_url)) as server,
        server.client() as http,
        open_stream(http, bayko) as stream,
    ):
        group = await start_conversation(http, andrew, bayko)
        await stream.next("conversation")
        other = redis_client(redis_url)
        try:
            for payload in ("[]", "5", "not json", '{"name": "message"}'):
                await other.publish(channel_of(bayko.user.uuid), payload)
        finally:
            await other.aclose()
        await send_and_receive(http, andrew, stream, group, "still here")


async def test_streams_end_when_redis_goes_and_events_flow_again_when_it_is_back(
    settings: Settings, table: object, make_user: MakeUser
) -> None:
    """Redis stopped under open streams: they end (clients resume and replay); started again
    on the same port, the bus reconnects by itself and new streams get events."""
    andrew, bayko = await make_user(), await make_user()
    with ExitStack() as first_redis:
        url = first_redis.enter_context(redis_server())
        async with (
            live_server(live_settings(settings, events_redis_url=url)) as server,
            server.client() as http,
        ):
            async with open_stream(http, bayko) as stream:
                group = await start_conversation(http, andrew, bayko)
                await stream.next("conversation")
                first_redis.close()
                await stream.wait_ended()
            with redis_server(port_of(url)):

                async def reopened() -> None:  # 503 events_unavailable until reconnected
                    async with open_stream(http, bayko) as again:
                        await send_and_receive(http, andrew, again, group, "back")

                await eventually(reopened)


async def test_a_publisher_outlives_a_redis_restart() -> None:
    """Its pooled connection, closed by the stopped server, is not the next event's loss."""
    user = uuid4()
    event = Event("reset", "1", {})
    with ExitStack() as first_redis:
        url = first_redis.enter_context(redis_server())
        publisher = RedisPublisher(url)
        await publisher.publish(user, event)
    try:
        with redis_server(port_of(url)):
            listener = redis_client(url)
            pubsub = listener.pubsub()
            await pubsub.subscribe(channel_of(user))
            await publisher.publish(user, event)
            async with asyncio.timeout(WAIT_SECONDS):
                while (
                    message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                ) is None:
                    pass
            assert Event.from_json(message["data"]) == event
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await listener.aclose()
    finally:
        await publisher.aclose()
