"""Anti-entropy for conversation rows: recompute them from the stored messages.

The stream keeps rows current; this repairs what it could not: records that expired after
failing for 24 hours (the failure queue's alarm), records set aside in the dead-letter store,
rows written by older code. Each row is recomputed from the source of truth (the conversation's
messages and the row's own read marker) with conditional, forward-only writes, so it is safe
while the stream handler runs and idempotent. Paced to ``rows_per_second``; a whole-table run
reports a position to resume from after each page.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.repositories import keys
from app.repositories.blocks import BlocksRepository
from app.repositories.conversations import ConversationsRepository
from app.repositories.dead_letters import DeadLettersRepository

log = logging.getLogger(__name__)

PAGE_SIZE = 100


@dataclass
class RepairReport:
    rows_checked: int = 0
    rows_repaired: int = 0
    dead_letters_processed: int = 0


def encode_position(next_key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(next_key, sort_keys=True).encode()).decode()


def decode_position(position: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(position.encode()))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("not a position printed by an earlier repair") from error
    if not isinstance(decoded, dict):
        raise ValueError("not a position printed by an earlier repair")
    return decoded


class SummariesRepair:
    def __init__(
        self,
        conversations: ConversationsRepository,
        dead_letters: DeadLettersRepository,
        blocks: BlocksRepository,
        *,
        rows_per_second: float,
    ) -> None:
        self.conversations = conversations
        self.dead_letters = dead_letters
        self.blocks = blocks
        self.interval = 1 / rows_per_second
        self.report = RepairReport()
        self._next_row_at = 0.0

    async def _row(self, owner: UUID, message_group_uuid: UUID) -> None:
        wait = self._next_row_at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._next_row_at = max(self._next_row_at, time.monotonic()) + self.interval
        self.report.rows_checked += 1
        repaired = await self.conversations.repair_row(owner, message_group_uuid)
        row = await self.conversations.get(owner, message_group_uuid)
        if row is not None and await self.blocks.reconcile(
            owner, message_group_uuid, row.other_uuid
        ):
            repaired = True  # its block flag now agrees with the block items
        if repaired:
            self.report.rows_repaired += 1
            log.info("row repaired owner=%s message_group_uuid=%s", owner, message_group_uuid)

    async def conversation(self, message_group_uuid: UUID) -> None:
        for owner in await self.conversations.participants(message_group_uuid):
            await self._row(owner, message_group_uuid)

    async def user(self, owner_uuid: UUID) -> None:
        """Every conversation the user is in, both participants' rows."""
        after: dict[str, Any] | None = None
        while True:
            groups, after = await self.conversations.groups_of(
                owner_uuid, limit=PAGE_SIZE, after=after
            )
            for group in groups:
                await self.conversation(group)
            if after is None:
                return

    async def everything(
        self, *, after: dict[str, Any] | None, progress: Callable[[str], None]
    ) -> None:
        """Every row of the table; ``progress`` gets a position to resume from after each page."""
        while True:
            rows, after = await self.conversations.all_rows(limit=PAGE_SIZE, after=after)
            for owner, group in rows:
                await self._row(owner, group)
            if after is None:
                return
            progress(encode_position(after))

    async def set_aside_records(self) -> None:
        """Repair the conversation each dead letter names, then remove the dead letter.

        One that names no conversation (its key is not a message key) stays, logged.
        """
        after: dict[str, Any] | None = None
        while True:
            letters, after = await self.dead_letters.page(limit=PAGE_SIZE, after=after)
            for letter in letters:
                partition_key = letter.record.get("dynamodb", {}).get("Keys", {}).get("pk", {})
                try:
                    group = keys.group_of_message_pk(str(partition_key.get("S", "")))
                except ValueError:
                    log.warning("dead letter names no conversation event_id=%s", letter.event_id)
                    continue
                await self.conversation(group)
                await self.dead_letters.delete(letter.event_id)
                self.report.dead_letters_processed += 1
            if after is None:
                return
