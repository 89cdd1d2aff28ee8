"""Stream records that can never be applied, set aside with their full image for the repair.

Only records that retrying cannot fix land here (an image that is not a message item, a
message of a conversation that has no rows); transient failures are retried until they
succeed. Both the Lambda and the local worker write here, and ``ddb summaries repair``
reads, repairs the conversation each record names, and deletes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.repositories import keys
from app.repositories.table import Item, Table


@dataclass(frozen=True, slots=True)
class DeadLetter:
    event_id: str
    reason: str
    record: dict[str, Any]
    """The Lambda-shaped stream record, ``dynamodb.NewImage`` included."""
    set_aside_at: str


def _dead_letter_from(item: Item) -> DeadLetter:
    return DeadLetter(
        event_id=str(item["event_id"]),
        reason=str(item["reason"]),
        record=json.loads(item["record"]),
        set_aside_at=str(item["set_aside_at"]),
    )


class DeadLettersRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def put(self, record: Mapping[str, Any], reason: str) -> None:
        """Set ``record`` aside; idempotent (a redelivered record overwrites its own entry)."""
        event_id = str(record.get("eventID") or record["dynamodb"]["SequenceNumber"])
        await self.table.put(
            {
                **keys.dead_letter_key(event_id),
                "event_id": event_id,
                "reason": reason,
                # As JSON text: the image may hold anything, including what made it undecodable.
                "record": json.dumps(record, default=str, sort_keys=True),
                "set_aside_at": keys.format_timestamp(datetime.now(UTC)),
            }
        )

    async def page(
        self, *, limit: int, after: Mapping[str, Any] | None = None
    ) -> tuple[list[DeadLetter], Item | None]:
        page = await self.table.query(
            key_condition="pk = :pk",
            values={":pk": keys.DEAD_LETTERS_PK},
            limit=limit,
            next=after,
            consistent=True,
        )
        return [_dead_letter_from(item) for item in page.items], page.next

    async def delete(self, event_id: str) -> None:
        await self.table.delete(keys.dead_letter_key(event_id))
