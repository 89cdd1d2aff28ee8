"""Stream fixtures: the embedded server's stream read as Lambda would deliver it, plus hooks
on the DynamoDB client to count or fail calls."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest_asyncio
from aiobotocore.awsrequest import AioAWSResponse
from botocore.compat import HTTPHeaders

from app.ddb import open_client
from app.repositories.conversations import ConversationsRepository
from app.repositories.table import Table
from app.settings import Settings
from app.streams.events import lambda_event
from tests.conftest import SignedIn

if TYPE_CHECKING:
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient

LambdaRecord = dict[str, Any]


@pytest_asyncio.fixture(scope="session")
async def streams_client(settings: Settings) -> AsyncIterator[DynamoDBStreamsClient]:
    async with AsyncExitStack() as stack:
        yield await open_client(settings, stack, "dynamodbstreams")


@pytest_asyncio.fixture
async def conversations(table: Table) -> ConversationsRepository:
    return ConversationsRepository(table)


@dataclass
class StreamReader:
    """Reads the records the table's stream gained since the last read, as Lambda records."""

    streams: DynamoDBStreamsClient
    stream_arn: str
    iterator: str | None = None

    async def new_records(self) -> list[LambdaRecord]:
        if self.iterator is None:
            description = await self.streams.describe_stream(StreamArn=self.stream_arn)
            [shard] = description["StreamDescription"]["Shards"]  # moto: one shard per table
            response = await self.streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )
            self.iterator = response["ShardIterator"]
        records: list[LambdaRecord] = []
        while True:
            page = await self.streams.get_records(ShardIterator=self.iterator)
            self.iterator = page["NextShardIterator"]
            if not page["Records"]:
                return records
            records += lambda_event(page["Records"], self.stream_arn)["Records"]


@pytest_asyncio.fixture
async def stream(table: Table, streams_client: DynamoDBStreamsClient) -> StreamReader:
    description = await table.client.describe_table(TableName=table.name)
    return StreamReader(streams_client, description["Table"]["LatestStreamArn"])


def event_of(records: list[LambdaRecord]) -> dict[str, Any]:
    return {"Records": records}


def message_records(records: list[LambdaRecord]) -> list[LambdaRecord]:
    return [
        record
        for record in records
        if record["eventName"] == "INSERT"
        and record["dynamodb"]["Keys"]["pk"]["S"].startswith("MSG#")
    ]


def sequence_numbers(records: list[LambdaRecord]) -> list[str]:
    return [record["dynamodb"]["SequenceNumber"] for record in records]


@contextmanager
def hooked(table: Table, event_name: str, hook: Callable[..., Any]) -> Iterator[None]:
    """``hook`` registered on the table's client for the block, and unregistered after it."""
    table.client.meta.events.register(event_name, hook)
    try:
        yield
    finally:
        table.client.meta.events.unregister(event_name, hook)


@dataclass(eq=False)  # hashable: botocore keys its handlers by identity
class CallCounter:
    """Counts the DynamoDB operations a client sends (a ``before-call.dynamodb`` hook)."""

    operations: list[str] = field(default_factory=list)

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)


class _Body:
    def __init__(self, content: bytes) -> None:
        self.content = content

    async def read(self) -> bytes:
        return self.content


def failing_sends(marker: str, error_code: str = "AccessDeniedException") -> Callable[..., Any]:
    """A ``before-send`` hook answering a DynamoDB error to every request whose body names
    ``marker``; botocore takes a hook's response instead of sending the request."""

    async def hook(request: Any, **_: Any) -> AioAWSResponse | None:
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        if marker.encode() not in body:
            return None
        error = {"__type": f"com.amazonaws.dynamodb.v20120810#{error_code}", "message": "injected"}
        headers = HTTPHeaders()
        headers["content-type"] = "application/x-amz-json-1.0"
        return AioAWSResponse(request.url, 400, headers, _Body(json.dumps(error).encode()))

    return hook


async def eventually(check: Callable[[], Awaitable[None]], wait_seconds: float = 5.0) -> None:
    """Wait until ``check`` stops raising AssertionError (a bounded wait, not a timing claim)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            await check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def send(
    client: httpx.AsyncClient, sender: SignedIn, group: str, text: str
) -> dict[str, Any]:
    response = await client.post(
        "/api/messages", json={"message": text, "message_group_uuid": group}, headers=sender.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def inbox(client: httpx.AsyncClient, owner: SignedIn) -> dict[str, dict[str, Any]]:
    """The owner's conversations by group uuid (in listed order), checking newest comes first."""
    response = await client.get("/api/message_groups", headers=owner.headers)
    assert response.status_code == 200, response.text
    listed = response.json()
    times = [datetime.fromisoformat(conversation["created_at"]) for conversation in listed]
    assert times == sorted(times, reverse=True)
    return {conversation["uuid"]: conversation for conversation in listed}


@dataclass
class FastClock:
    """The worker's clock and sleep, with time made fast: a sleep moves ``now`` at once.

    Each sleep still yields to the event loop briefly, so other tasks (the test's sends, the
    embedded server's answers) run while hours of backoff pass in a moment.
    """

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, stop: asyncio.Event, seconds: float) -> bool:
        self.now += seconds
        await asyncio.sleep(0.005)
        return stop.is_set()
