"""Encrypting text stored before encryption was on, in place: one scan page at a time.

Every write is conditional on the plaintext it replaces, so a concurrent change (an edit, a
delete, a row moved to a newer message by the stream handler, another backfill) is never
overwritten: that item is left as the other writer made it. A message is sealed in place (text
and preview); a row or idempotency record then gets its message's envelopes, as the stream
handler would have copied them. A deleted message has no text left, so a row showing it keeps
the public ``DELETED_TEXT``. Running it again finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.crypto.cipher import TextCipher
from app.domain import SealedText
from app.repositories import keys
from app.repositories.messages import claim_attribute, message_from_item
from app.repositories.sealing import PREVIEW_ATTRIBUTE, TEXT_ATTRIBUTE, message_binding
from app.repositories.table import ConditionFailed, Item, Table

_MESSAGE_TEXTS = (TEXT_ATTRIBUTE, PREVIEW_ATTRIBUTE)
_ROW_COPY = {"last_message": PREVIEW_ATTRIBUTE}
"""A row copies its message's preview (its text, for messages stored before previews)."""
_RECORD_COPY = {claim_attribute(attribute): attribute for attribute in _MESSAGE_TEXTS}


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
            if keys.is_message_pk(pk) and _plain(item, _MESSAGE_TEXTS):
                counts.messages += await self._seal_message(item, counts)
            elif keys.is_conversation_row_pk(pk) and isinstance(item.get("last_message"), str):
                group = UUID(item["message_group_uuid"])
                counts.rows += await self._copy_into(
                    item, _ROW_COPY, group, item["last_message_sk"], counts
                )
            elif _plain(item, _RECORD_COPY):
                group = keys.group_of_message_pk(item[claim_attribute("pk")])
                counts.records += await self._copy_into(
                    item, _RECORD_COPY, group, item[claim_attribute("sk")], counts
                )
        return BackfillPage(counts, scanned.next)

    async def _seal_message(self, item: Item, counts: BackfillCounts) -> int:
        """Seal the message's text and preview, each bound to its attribute."""
        message = message_from_item(item)
        updates: dict[str, tuple[str, bytes]] = {}
        for attribute in _MESSAGE_TEXTS:
            plaintext = item.get(attribute)
            if not isinstance(plaintext, str):
                continue
            binding = message_binding(
                self.table.name,
                message.message_group_uuid,
                item["sk"],
                message.sender_uuid,
                attribute,
            )
            sealed = await self.cipher.seal(binding, plaintext)
            if not isinstance(sealed, SealedText):
                raise ValueError("the backfill needs encryption=kms")
            updates[attribute] = (plaintext, sealed.envelope)
        return await self._replace(item, updates, counts)

    async def _copy_into(
        self,
        item: Item,
        copies: Mapping[str, str],
        group: UUID,
        message_sk: str,
        counts: BackfillCounts,
    ) -> int:
        """Give copies of a message's text or preview (``copies``: attribute of the copy ->
        attribute of the message) the message's envelopes, sealing the message first."""
        message_key = {"pk": keys.message_pk(group), "sk": message_sk}
        message = await self.table.get(message_key, consistent=True)
        if message is not None and _plain(message, _MESSAGE_TEXTS):
            counts.messages += await self._seal_message(message, counts)
            message = await self.table.get(message_key, consistent=True)
        if message is None or message.get("deleted") or _plain(message, _MESSAGE_TEXTS):
            # Gone (nothing to bind the copy to), deleted (no envelope: the copy shows the
            # public DELETED_TEXT), or changed meanwhile.
            return 0
        updates = {
            copy: (item[copy], bytes(message[source if source in message else TEXT_ATTRIBUTE]))
            for copy, source in copies.items()
            if isinstance(item.get(copy), str)
        }
        return await self._replace(item, updates, counts)

    async def _replace(
        self, item: Item, updates: Mapping[str, tuple[str, bytes]], counts: BackfillCounts
    ) -> int:
        """One conditional write: each attribute from its plaintext to its envelope."""
        names = {f"#a{index}": attribute for index, attribute in enumerate(updates)}
        values: dict[str, Any] = {}
        for index, (plaintext, envelope) in enumerate(updates.values()):
            values[f":p{index}"] = plaintext
            values[f":e{index}"] = envelope
        try:
            await self.table.update(
                {"pk": item["pk"], "sk": item["sk"]},
                update="SET " + ", ".join(f"#a{i} = :e{i}" for i in range(len(updates))),
                condition=" AND ".join(f"#a{i} = :p{i}" for i in range(len(updates))),
                names=names,
                values=values,
            )
        except ConditionFailed:
            counts.changed_meanwhile += 1
            return 0
        return 1


def _plain(item: Item, attributes: Iterable[str]) -> bool:
    return any(isinstance(item.get(attribute), str) for attribute in attributes)
