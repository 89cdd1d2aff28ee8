"""Capacity units as the backend reports them (ConsumedCapacity), through the service's own code.

Sample requests of each pattern go through ``MessagingService`` on a ``Table`` that asks for
``ReturnConsumedCapacity=INDEXES`` and keeps the answers in a ``CapacityLog``. dynalite
computes reads from item sizes like DynamoDB, and table units of writes, but no index write
units; moto returns constants. So this validates the computed read figures and table writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Any
from uuid import UUID

from app.ddb import open_client
from app.domain import Message
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import MessagesRepository
from app.repositories.table import CapacityLog, Table
from app.repositories.users import UsersRepository
from app.services.cursors import CursorCodec
from app.services.messaging import MessagingService
from app.settings import Settings
from bench.capacity import SUMMARY_UPDATE, CapacityFigure
from bench.capacity_model import TABLE, Units
from bench.dataset import DataSet
from bench.patterns import (
    LIST_CONVERSATIONS,
    MESSAGE_HANDLE_EXISTING,
    PAGE_LIMIT,
    READ_PAGE,
    SEND_MESSAGE,
    Pattern,
)
from bench.workload import Descriptor

READ_OPERATIONS = frozenset({"GetItem", "Query", "BatchGetItem", "TransactGetItems"})
MEASURABLE = (LIST_CONVERSATIONS, READ_PAGE, SEND_MESSAGE, MESSAGE_HANDLE_EXISTING)
"""The patterns that need no transaction, so dynalite can serve them."""


def units_of(entries: Sequence[tuple[str, Mapping[str, Any]]]) -> Units:
    """Sum ConsumedCapacity entries by target; reads and writes apart."""
    units = Units()
    for operation, consumed in entries:
        side = units.read if operation in READ_OPERATIONS else units.write
        found: dict[str, float] = {
            TABLE: consumed.get("Table", {}).get("CapacityUnits", consumed.get("CapacityUnits", 0))
        }
        for kind in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
            for index, detail in consumed.get(kind, {}).items():
                found[index] = detail.get("CapacityUnits", 0)
        for target, value in found.items():
            if value:
                side[target] = side.get(target, 0.0) + float(value)
    return units


class _Sampler:
    """Runs one pattern's request through the service and returns what it consumed."""

    def __init__(self, table: Table, log: CapacityLog, dataset: DataSet) -> None:
        self.log = log
        self.users = dataset.users
        self.conversations = ConversationsRepository(table)
        self.service = MessagingService(
            UsersRepository(table),
            self.conversations,
            MessagesRepository(table),
            CursorCodec(b"bench-capacity"),
            idempotency_ttl_seconds=86400,
        )
        self.sent: list[Message] = []

    async def measure(self, request: Callable[[], Awaitable[object]]) -> Units:
        self.log.entries.clear()
        await request()
        return units_of(self.log.entries)

    def run(self, pattern: Pattern, descriptor: Descriptor) -> Callable[[], Awaitable[object]]:
        user = self.users[descriptor["user"]]
        group = UUID(descriptor["group"]) if descriptor["group"] else None
        text = descriptor["text"] or ""
        if pattern is LIST_CONVERSATIONS:
            return lambda: self.service.list_conversations(user, limit=PAGE_LIMIT, cursor=None)
        if pattern is READ_PAGE:
            assert group is not None
            return lambda: self.service.read_messages(user, group, limit=PAGE_LIMIT, cursor=None)
        if pattern is SEND_MESSAGE:
            return lambda: self._keep(self.service.send(user, text=text, message_group_uuid=group))
        return lambda: self.service.send(user, text=text, handle=descriptor["handle"])

    async def _keep(self, sending: Awaitable[Message]) -> None:
        """Pattern E is then measured on these, as it is computed on send_message's samples."""
        self.sent.append(await sending)

    async def summary_update(self, message: Message) -> Units:
        """Pattern E for one message, as the stream handler applies it."""
        return await self.measure(
            lambda: self.conversations.apply_messages(message.message_group_uuid, [message])
        )


def _figure(pattern: str, units: Units, backend: str) -> CapacityFigure:
    return CapacityFigure(
        pattern=pattern,
        design=f"ours, measured ({backend})",
        read=units.read,
        write=units.write,
        total_read=units.total_read,
        total_write=units.total_write,
        note=f"ConsumedCapacity from {backend}: reads computed by size, writes table only",
    )


async def measured_capacity(
    endpoint: str,
    table_name: str,
    backend: str,
    dataset: DataSet,
    samples: Mapping[Pattern, Sequence[Descriptor]],
) -> list[CapacityFigure]:
    settings = Settings(ddb_endpoint_url=endpoint, table_name=table_name, _env_file=None)
    figures = []
    async with AsyncExitStack() as stack:
        log = CapacityLog()
        sampler = _Sampler(Table(await open_client(settings, stack), table_name, log), log, dataset)
        for pattern in MEASURABLE:
            requests = samples.get(pattern, [])
            total = Units()
            for descriptor in requests:
                total.add(await sampler.measure(sampler.run(pattern, descriptor)))
            if requests:
                figures.append(_figure(pattern.name, total.scaled(1 / len(requests)), backend))
        if sampler.sent:
            total = Units()
            for message in sampler.sent:
                total.add(await sampler.summary_update(message))
            figures.append(_figure(SUMMARY_UPDATE, total.scaled(1 / len(sampler.sent)), backend))
    return figures
