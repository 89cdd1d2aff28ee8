"""Blocks: ``USER#<blocker>`` / ``BLOCK#<blocked>`` items, mirrored as a flag on the pair's rows.

The block item is the truth (it is what "my blocks" lists, and what creating a conversation
checks in its transaction). The pair's conversation rows carry the flag ``blocked_by`` (a set
of blocker uuids) so that a send into an existing conversation sees the block in the
membership read it already makes, at no extra cost; and so that the blocker's listing can leave
the row out. Blocking writes the item first and then the flags; unblocking clears the flags
first and then the item: an interrupted call, repeated, finishes the job, and
``reconcile`` makes rows agree with items.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any
from uuid import UUID

from app.domain import Block, Page, User, pair_conversation_uuid
from app.repositories import keys
from app.repositories.table import ConditionFailed, Item, Table

BLOCKED_BY = "blocked_by"
"""The rows' flag: the set of participants who blocked the other (absent when empty)."""
BLOCKS_CONDITION = f"attribute_not_exists({BLOCKED_BY})"
"""True on a row while nobody in its conversation blocked the other."""


def _block_item(blocker_uuid: UUID, blocked: User, created_at: datetime) -> Item:
    return {
        **keys.block_key(blocker_uuid, blocked.uuid),
        "blocked_handle": blocked.handle,
        "blocked_display_name": blocked.display_name,
        "created_at": keys.format_timestamp(created_at),
    }


def _block_from(blocker_uuid: UUID, item: Item) -> Block:
    return Block(
        blocker_uuid=blocker_uuid,
        blocked=User(
            uuid=keys.blocked_of_block_sk(item["sk"]),
            handle=item["blocked_handle"],
            display_name=item["blocked_display_name"],
        ),
        created_at=keys.parse_timestamp(item["created_at"]),
    )


def blocks_absent_ops(table: Table, first: UUID, second: UUID) -> list[dict[str, Any]]:
    """Transaction operations that hold only while neither user blocked the other (for the
    transaction that creates their conversation): first blocks second, then the reverse."""
    return [
        table.condition_check_op(
            keys.block_key(blocker, blocked), condition="attribute_not_exists(pk)"
        )
        for blocker, blocked in ((first, second), (second, first))
    ]


class BlocksRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def block(self, blocker_uuid: UUID, blocked: User, created_at: datetime) -> Block:
        """Idempotent: blocking again keeps the first block's time."""
        item = _block_item(blocker_uuid, blocked, created_at)
        with contextlib.suppress(ConditionFailed):
            await self.table.put(item, condition="attribute_not_exists(pk)")
        await self._flag_rows(blocker_uuid, blocked.uuid, blocking=True)
        stored = await self.table.get(keys.block_key(blocker_uuid, blocked.uuid), consistent=True)
        return _block_from(blocker_uuid, stored or item)

    async def unblock(self, blocker_uuid: UUID, blocked_uuid: UUID) -> None:
        """Idempotent: unblocking someone not blocked changes nothing."""
        await self._flag_rows(blocker_uuid, blocked_uuid, blocking=False)
        await self.table.delete(keys.block_key(blocker_uuid, blocked_uuid))

    async def _flag_rows(self, blocker_uuid: UUID, blocked_uuid: UUID, *, blocking: bool) -> None:
        group = pair_conversation_uuid(blocker_uuid, blocked_uuid)
        update = f"{'ADD' if blocking else 'DELETE'} {BLOCKED_BY} :blocker"

        async def flag(owner: UUID) -> None:
            # No row: they never talked, and creating the conversation checks the block item.
            with contextlib.suppress(ConditionFailed):
                await self.table.update(
                    keys.conversation_key(owner, group),
                    update=update,
                    condition="attribute_exists(pk)",
                    values={":blocker": {str(blocker_uuid)}},
                )

        await asyncio.gather(flag(blocker_uuid), flag(blocked_uuid))

    async def blocks_of(
        self, blocker_uuid: UUID, *, limit: int, next: str | None = None
    ) -> Page[Block, str]:
        """The users ``blocker_uuid`` blocked, in uuid order; positions are block sort keys."""
        pk = keys.user_key(blocker_uuid)["pk"]
        page = await self.table.query(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            values={":pk": pk, ":prefix": keys.BLOCK_SK_PREFIX},
            limit=limit,
            next={"pk": pk, "sk": next} if next is not None else None,
        )
        return Page(
            items=[_block_from(blocker_uuid, item) for item in page.items],
            next=str(page.next["sk"]) if page.next else None,
        )

    async def blocked_pairs(self, user_uuid: UUID, other_uuid: UUID) -> set[UUID]:
        """Which of the two blocked the other (strongly consistent)."""
        found = await asyncio.gather(
            self.table.get(keys.block_key(user_uuid, other_uuid), consistent=True, projection="pk"),
            self.table.get(keys.block_key(other_uuid, user_uuid), consistent=True, projection="pk"),
        )
        return {
            blocker for blocker, item in zip((user_uuid, other_uuid), found, strict=True) if item
        }

    async def reconcile(self, owner_uuid: UUID, message_group_uuid: UUID, other_uuid: UUID) -> bool:
        """Make the owner's row's flag agree with the pair's block items; True if it changed."""
        row_key = keys.conversation_key(owner_uuid, message_group_uuid)
        item = await self.table.get(row_key, consistent=True, projection=f"pk, {BLOCKED_BY}")
        if item is None:
            return False
        flagged = {UUID(value) for value in item.get(BLOCKED_BY, set())}
        truth = await self.blocked_pairs(owner_uuid, other_uuid)
        if flagged == truth:
            return False
        add, remove = truth - flagged, flagged - truth
        parts = []
        if add:
            parts.append(f"ADD {BLOCKED_BY} :add")
        if remove:
            parts.append(f"DELETE {BLOCKED_BY} :remove")
        with contextlib.suppress(ConditionFailed):
            await self.table.update(
                row_key,
                update=" ".join(parts),
                condition="attribute_exists(pk)",
                values={
                    ":add": {str(uuid) for uuid in add} or None,
                    ":remove": {str(uuid) for uuid in remove} or None,
                },
            )
        return True
