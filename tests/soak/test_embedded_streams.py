"""The embedded server's repair (scripts/embedded.py): a cancelled transaction leaves no stream
record, and readers keep seeing the records written after it (as on DynamoDB)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest

from app import ddb
from app.repositories.table import Table
from app.settings import Settings
from tests.streams.conftest import StreamReader

pytestmark = [pytest.mark.streams, pytest.mark.transactions]


async def keys_of_new_records(reader: StreamReader) -> list[str]:
    return [record["dynamodb"]["Keys"]["pk"]["S"] for record in await reader.new_records()]


async def test_a_cancelled_transaction_leaves_no_record_and_the_stream_goes_on(
    settings: Settings, table: Table
) -> None:
    async with AsyncExitStack() as stack:
        streams = await ddb.open_client(settings, stack, "dynamodbstreams")
        description = await table.client.describe_table(TableName=table.name)
        reader = StreamReader(streams, description["Table"]["LatestStreamArn"])
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
