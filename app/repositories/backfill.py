"""Encrypting text stored before encryption was on, in place: one scan page at a time.

Every write is conditional on the plaintext it replaces, so a concurrent change (a row moved
to a newer message by the stream handler, another backfill) is never overwritten: that item
is left as the other writer made it. Message text never changes after a send, so a message
is sealed once; a row or idempotency record then gets its message's envelope, as the stream
handler would have copied it. Running it again finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.crypto.cipher import TextCipher
from app.domain import SealedText
from app.repositories import keys
from app.repositories.messages import message_from_item
from app.repositories.sealing import TEXT_ATTRIBUTE, message_binding
from app.repositories.table import ConditionFailed, Item, Table

_RECORD_PREFIX = "message_"
"""An idempotency record keeps its message's attributes under this prefix."""
_RECORD_TEXT = _RECORD_PREFIX + TEXT_ATTRIBUTE


@dataclass(slots=True)
class BackfillCounts:
    scanned: int = 0
    messages: int = 0
    rows: int = 0
    records: int = 0
    changed_meanwhile: int = 0
    """Plaintext found, but changed by another writer before ours: left as that writer made it."""

    def add(self, other: BackfillCounts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class BackfillPage:
    counts: BackfillCounts
    resume_after: Item | None
    """The scan position to continue from; None when the table is done."""


class EncryptionBackfill:
    def __init__(self, table: Table, cipher: TextCipher) -> None:
        self.table = table
        self.cipher = cipher

    async def page(self, *, limit: int, after: Mapping[str, Any] | None) -> BackfillPage:
        scanned = await self.table.scan(limit=limit, next=after, consistent=True)
        counts = BackfillCounts(scanned=len(scanned.items))
        for item in scanned.items:
            pk = str(item["pk"])
            if keys.is_message_pk(pk) and isinstance(item.get(TEXT_ATTRIBUTE), str):
                counts.messages += await self._seal_message(item, counts)
            elif keys.is_conversation_row_pk(pk) and isinstance(item.get("last_message"), str):
                group = UUID(item["message_group_uuid"])
                counts.rows += await self._copy_into(
                    item, "last_message", group, item["last_message_sk"], counts
                )
            elif isinstance(item.get(_RECORD_TEXT), str):
                group = keys.group_of_message_pk(item[_RECORD_PREFIX + "pk"])
                counts.records += await self._copy_into(
                    item, _RECORD_TEXT, group, item[_RECORD_PREFIX + "sk"], counts
                )
        return BackfillPage(counts, scanned.next)

    async def _seal_message(self, item: Item, counts: BackfillCounts) -> int:
        message = message_from_item(item)
        assert isinstance(message.text, str)
        binding = message_binding(
            self.table.name, message.message_group_uuid, item["sk"], message.sender_uuid
        )
        sealed = await self.cipher.seal(binding, message.text)
        if not isinstance(sealed, SealedText):
            raise ValueError("the backfill needs encryption=kms")
        return await self._replace(item, TEXT_ATTRIBUTE, sealed.envelope, counts)

    async def _copy_into(
        self, item: Item, attribute: str, group: UUID, message_sk: str, counts: BackfillCounts
    ) -> int:
        """Give a copy of a message's text its message's envelope (sealing the message first)."""
        message_key = {"pk": keys.message_pk(group), "sk": message_sk}
        message = await self.table.get(message_key, consistent=True)
        if message is not None and isinstance(message.get(TEXT_ATTRIBUTE), str):
            counts.messages += await self._seal_message(message, counts)
            message = await self.table.get(message_key, consistent=True)
        if message is None or isinstance(message.get(TEXT_ATTRIBUTE), str):
            return 0  # its message is gone (nothing to bind the copy to) or changed meanwhile
        return await self._replace(item, attribute, bytes(message[TEXT_ATTRIBUTE]), counts)

    async def _replace(
        self, item: Item, attribute: str, envelope: bytes, counts: BackfillCounts
    ) -> int:
        try:
            await self.table.update(
                {"pk": item["pk"], "sk": item["sk"]},
                update="SET #text = :envelope",
                condition="#text = :plaintext",
                names={"#text": attribute},
                values={":envelope": envelope, ":plaintext": item[attribute]},
            )
        except ConditionFailed:
            counts.changed_meanwhile += 1
            return 0
        return 1
