"""Wrapped data keys (``DATAKEY#<group>`` / ``EPOCH#<n>``): useless without KMS Decrypt."""

from __future__ import annotations

from uuid import UUID

from app.repositories import keys
from app.repositories.table import ConditionFailed, Table


class DataKeysRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def get(self, message_group_uuid: UUID, epoch: int) -> bytes | None:
        item = await self.table.get(keys.data_key_key(message_group_uuid, epoch), consistent=True)
        return None if item is None else bytes(item["wrapped_key"])

    async def put_first(self, message_group_uuid: UUID, epoch: int, wrapped: bytes) -> bytes:
        key = keys.data_key_key(message_group_uuid, epoch)
        try:
            await self.table.put(
                {**key, "wrapped_key": wrapped}, condition="attribute_not_exists(pk)"
            )
        except ConditionFailed:
            stored = await self.table.get(key, consistent=True)
            assert stored is not None  # key items are never deleted
            return bytes(stored["wrapped_key"])
        return wrapped
