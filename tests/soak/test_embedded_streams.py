"""The embedded server's repair (scripts/embedded.py): a cancelled transaction leaves no stream
record, and readers keep seeing the records written after it (as on DynamoDB)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import pytest_asyncio

from app import ddb
from app.repositories.table import Table
from app.settings import Settings
from tests.conftest import all_items
from tests.streams.conftest import StreamReader

pytestmark = [pytest.mark.streams, pytest.mark.transactions]


@pytest_asyncio.fixture
async def reader(settings: Settings, table: Table) -> AsyncIterator[StreamReader]:
    """Reads the test table's stream from its start."""
    async with AsyncExitStack() as stack:
        streams = await ddb.open_client(settings, stack, "dynamodbstreams")
        description = await table.client.describe_table(TableName=table.name)
        yield StreamReader(streams, description["Table"]["LatestStreamArn"])


async def keys_of_new_records(reader: StreamReader) -> list[str]:
    return [record["dynamodb"]["Keys"]["pk"]["S"] for record in await reader.new_records()]


async def test_a_cancelled_transaction_leaves_no_record_and_the_stream_goes_on(
    table: Table, reader: StreamReader
) -> None:
    await table.put({"pk": "A", "sk": "S"})
    assert await keys_of_new_records(reader) == ["A"]

    # B is put, then A's condition fails: the whole transaction is cancelled.
    cancelled: list[Any] = [
        table.put_op({"pk": "B", "sk": "S"}),
        table.put_op({"pk": "A", "sk": "S"}, condition="attribute_not_exists(pk)"),
    ]
    with pytest.raises(table.client.exceptions.TransactionCanceledException):
        await table.client.transact_write_items(TransactItems=cancelled)
    await table.put({"pk": "C", "sk": "S"})

    assert await keys_of_new_records(reader) == ["C"]


async def test_cancelled_transactions_amid_concurrent_writes_lose_nothing_and_leave_no_record(
    table: Table, reader: StreamReader
) -> None:
    """The undo records restore only what the transaction touched: concurrent writes stay."""
    for n in range(50):
        await table.put({"pk": f"FILL#{n}", "sk": "S"})
    await table.put({"pk": "KEPT", "sk": "S", "text": "before"})
    await table.put({"pk": "DOOMED", "sk": "S"})
    await reader.new_records()

    def cancelled(n: int) -> list[Any]:
        # The first three operations are applied before the last one's condition fails.
        return [
            table.put_op({"pk": f"NEW#{n}", "sk": "S"}),
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {"pk": {"S": "KEPT"}, "sk": {"S": "S"}},
                    "UpdateExpression": "SET #t = :after",
                    "ExpressionAttributeNames": {"#t": "text"},
                    "ExpressionAttributeValues": {":after": {"S": f"after {n}"}},
                }
            },
            {
                "Delete": {
                    "TableName": table.name,
                    "Key": {"pk": {"S": "DOOMED"}, "sk": {"S": "S"}},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": table.name,
                    "Key": {"pk": {"S": "FILL#0"}, "sk": {"S": "S"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]

    async def cancel(n: int) -> None:
        with pytest.raises(table.client.exceptions.TransactionCanceledException):
            await table.client.transact_write_items(TransactItems=cancelled(n))

    await asyncio.gather(
        *(cancel(n) for n in range(10)),
        *(table.put({"pk": f"WRITTEN#{n}", "sk": "S"}) for n in range(20)),
    )

    stored = {item["pk"]: item for item in await all_items(table)}
    assert {f"WRITTEN#{n}" for n in range(20)} <= set(stored)
    assert not [pk for pk in stored if str(pk).startswith("NEW#")]
    assert stored["KEPT"]["text"] == "before"
    assert "DOOMED" in stored
    assert len(stored) == 50 + 2 + 20
    records = await reader.new_records()
    assert sorted(record["dynamodb"]["Keys"]["pk"]["S"] for record in records) == sorted(
        f"WRITTEN#{n}" for n in range(20)
    )
