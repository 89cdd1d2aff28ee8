"""Creating the table and bulk-loading items with BatchWriteItem (no transactions needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from app.repositories.table import Item, serialize

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

BATCH_WRITE_LIMIT = 25
"""DynamoDB refuses a BatchWriteItem of more than 25 requests (dynalite enforces it too)."""
BATCHES_IN_FLIGHT = 4
UNPROCESSED_RETRIES = 8
FIRST_RETRY_DELAY_SECONDS = 0.05


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


async def _write_batch(client: DynamoDBClient, table_name: str, chunk: list[Item]) -> None:
    requests: list[Any] = [{"PutRequest": {"Item": serialize(item)}} for item in chunk]
    delay = FIRST_RETRY_DELAY_SECONDS
    for _ in range(UNPROCESSED_RETRIES):
        response = await client.batch_write_item(RequestItems={table_name: requests})
        requests = list(response.get("UnprocessedItems", {}).get(table_name, []))
        if not requests:
            return
        await asyncio.sleep(delay)  # DynamoDB returns leftovers when throttling: back off
        delay *= 2
    raise RuntimeError(f"{len(requests)} items still unprocessed after {UNPROCESSED_RETRIES} tries")


async def batch_write(client: DynamoDBClient, table_name: str, items: Iterable[Item]) -> int:
    """Write ``items`` in batches of 25, a few batches at a time; returns how many."""
    written = 0
    in_flight: set[asyncio.Task[None]] = set()
    for chunk in _chunks(items, BATCH_WRITE_LIMIT):
        if len(in_flight) >= BATCHES_IN_FLIGHT:
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        in_flight.add(asyncio.create_task(_write_batch(client, table_name, chunk)))
        written += len(chunk)
    await asyncio.gather(*in_flight)
    return written
