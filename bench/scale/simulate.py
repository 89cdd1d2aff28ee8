"""One day of a tiny workload through the service's own code, priced by the server.

dynalite computes ConsumedCapacity from item sizes as DynamoDB does (reads by target, writes
for the table only; index write units are not reported), so replaying a workload's day
against it and comparing with what the model predicts for that day checks the model against
the code it describes. ``python -m bench.scale.simulate`` starts dynalite and prints the
comparison, and the hot-spot ceilings recomputed from the measured units.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar
from uuid import UUID

from app.ddb import open_client
from app.domain import Message
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import MessagesRepository
from app.repositories.schema import create_table, drop_table
from app.repositories.table import CapacityLog, Table
from app.repositories.users import UsersRepository
from app.services.cursors import CursorCodec
from app.services.messaging import MessagingService
from app.settings import Settings
from bench.backends import dynalite
from bench.capacity import SUMMARY_UPDATE
from bench.capacity_measured import units_of
from bench.capacity_model import TABLE, Units
from bench.patterns import LIST_CONVERSATIONS, PAGE_LIMIT, READ_PAGE, SEND_MESSAGE
from bench.report import markdown_table, pattern_title
from bench.scale import published as pub
from bench.scale.doc import update
from bench.scale.model import SECONDS_PER_DAY, request_rates
from bench.scale.units import (
    MARK_READ,
    inbox_of,
    request_units,
    sample_texts,
    workload_dataset,
)
from bench.scale.workload import Workload
from bench.seeding import batch_write

T = TypeVar("T")
REPLAYED = (SEND_MESSAGE.name, SUMMARY_UPDATE, LIST_CONVERSATIONS.name, READ_PAGE.name, MARK_READ)
CHECK_WORKLOAD = Workload(
    daily_active_users=4,
    new_conversation_share=0.0,  # transactions: dynalite has none
    idempotent_share=0.0,
    session_seconds=1e9,  # one message per stream batch: no coalescing to model
)
"""A day small enough to replay in seconds, with only the paths dynalite can serve."""


@dataclass
class Day:
    requests: dict[str, int]
    measured: dict[str, Units] = field(default_factory=dict)
    predicted: dict[str, Units] = field(default_factory=dict)
    writes: dict[str, list[float]] = field(default_factory=dict)
    """Table write units of each message put (``PutItem``) and row update (``UpdateItem``) the
    sends and their summary updates made."""

    def total(self, side: dict[str, Units]) -> Units:
        result = Units()
        for units in side.values():
            result.add(units)
        return result


def day_requests(workload: Workload) -> dict[str, int]:
    """Requests of one day by pattern; every send into a conversation gets its summary update."""
    rates = request_rates(workload)
    counts = {name: round(rates[name] * SECONDS_PER_DAY) for name in REPLAYED if name in rates}
    counts[SUMMARY_UPDATE] = counts[SEND_MESSAGE.name]
    return counts


def _schedule(requests: dict[str, int]) -> list[tuple[float, str]]:
    """Each pattern's requests spread evenly over the day, sends and their updates first."""
    order = {name: rank for rank, name in enumerate(REPLAYED)}
    slots = [(index / count, name) for name, count in requests.items() for index in range(count)]
    return sorted(slots, key=lambda slot: (slot[0], order[slot[1]]))


async def replay_day(endpoint: str, workload: Workload, table_name: str = "scale-check") -> Day:
    """Seed the workload's data set, then run its day through the service, pattern by pattern."""
    dataset = workload_dataset(workload)
    day = Day(day_requests(workload))
    settings = Settings(ddb_endpoint_url=endpoint, table_name=table_name, _env_file=None)
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        await drop_table(client, table_name)
        await create_table(client, table_name)
        await batch_write(client, table_name, dataset.items())
        log = CapacityLog()
        table = Table(client, table_name, log)
        conversations = ConversationsRepository(table)
        service = MessagingService(
            UsersRepository(table),
            conversations,
            MessagesRepository(table),
            CursorCodec(b"scale-check"),
            idempotency_ttl_seconds=SECONDS_PER_DAY,
        )
        owner = dataset.users[0]
        inbox = inbox_of(dataset)
        texts = sample_texts(workload)
        latest: UUID = inbox[0].message_group_uuid
        sent = 0

        async def measure(name: str, call: Callable[[], Awaitable[T]]) -> T:
            log.entries.clear()
            result = await call()
            day.measured.setdefault(name, Units()).add(units_of(log.entries))
            if name in (SEND_MESSAGE.name, SUMMARY_UPDATE):
                for entry in log.entries:
                    written = units_of([entry]).write.get(TABLE, 0.0)
                    day.writes.setdefault(entry[0], []).append(written)
            return result

        message: Message | None = None
        for _, name in _schedule(day.requests):
            if name == SEND_MESSAGE.name:
                conversation = inbox[sent % len(inbox)]
                sender = (conversation.first, conversation.second)[sent % 2]
                latest = conversation.message_group_uuid
                send = partial(
                    service.send, sender, text=texts[sent % len(texts)], message_group_uuid=latest
                )
                message = await measure(name, send)
                sent += 1
            elif name == SUMMARY_UPDATE:
                assert message is not None  # each slot's send comes before its update
                await measure(name, partial(conversations.apply_messages, latest, [message]))
            elif name == LIST_CONVERSATIONS.name:
                listing = partial(service.list_conversations, owner, limit=PAGE_LIMIT, cursor=None)
                await measure(name, listing)
            elif name == READ_PAGE.name:
                page = partial(service.read_messages, owner, latest, limit=PAGE_LIMIT, cursor=None)
                await measure(name, page)
            else:
                await measure(name, partial(service.mark_read, owner, latest, None))
        await drop_table(client, table_name)
    per_request = request_units(workload).by_pattern
    day.predicted = {name: per_request[name].scaled(count) for name, count in day.requests.items()}
    return day


def comparison(day: Day) -> str:
    """Measured against predicted: all read units, and table write units (what dynalite
    reports)."""
    rows = []
    for name in (*REPLAYED, "all"):
        measured = day.total(day.measured) if name == "all" else day.measured.get(name, Units())
        predicted = day.total(day.predicted) if name == "all" else day.predicted[name]
        rows.append(
            [
                pattern_title(name),
                str(sum(day.requests.values()) if name == "all" else day.requests[name]),
                f"{measured.total_read:,.1f}",
                f"{predicted.total_read:,.1f}",
                f"{measured.write.get(TABLE, 0.0):,.1f}",
                f"{predicted.write.get(TABLE, 0.0):,.1f}",
            ]
        )
    header = ["pattern", "requests", "RCU measured", "RCU model", "table WCU measured",
              "table WCU model"]  # fmt: skip
    return "\n".join(markdown_table(header, rows))


def _average(values: list[float]) -> float:
    return sum(values) / len(values)


def hot_spot_ceilings(day: Day, workload: Workload) -> str:
    """The per-key ceilings of the first two hot spots with the replay's measured table units
    in place of the model's (the LSI part stays the model's: dynalite does not report it)."""
    units = request_units(workload).by_pattern
    message_put = _average(day.writes["PutItem"])
    # Each row update: the sender's by the send, the recipient's by the handler.
    row_table = _average(day.writes["UpdateItem"])
    row_index = units[SUMMARY_UPDATE].write.get(keys.ACTIVITY_INDEX, 0.0)  # the recipient's row
    limit = pub.PARTITION_WRITE_UNITS.value
    rows = [
        ["`MSG#<group>`: a message put", f"{message_put:.2f}", f"{limit / message_put:,.0f}"],
        [
            "`GRP#<owner>`: a summary update of one row (table + LSI)",
            f"{row_table:.2f} + {row_index:.2f}",
            f"{limit / (row_table + row_index):,.0f}",
        ],
    ]
    header = ["partition key: event", "WCU per event (measured table + model LSI)", "events/s"]
    return "\n".join(markdown_table(header, rows))


def report(day: Day, dynalite_version: str) -> str:
    """What ``python -m bench.scale.simulate`` prints: the region ``simulated`` of
    docs/scaling.md."""
    return "\n\n".join(
        [
            f"One day of {CHECK_WORKLOAD.daily_active_users} users on dynalite "
            f"{dynalite_version} (`bench.scale.simulate.CHECK_WORKLOAD`):",
            comparison(day),
            "Per-key write ceilings from these measurements (1,000 WCU per partition):",
            hot_spot_ceilings(day, CHECK_WORKLOAD),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale.simulate", description=__doc__)
    parser.add_argument(
        "--update-doc", type=Path, help="rewrite the region `simulated` of this document"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # dynalite's missing TTL API is expected here
    with tempfile.TemporaryDirectory() as scratch, dynalite(Path(scratch) / "dynalite.log") as db:
        day = asyncio.run(replay_day(db.endpoint, CHECK_WORKLOAD))
    printed = report(day, db.version)
    print(printed)
    if args.update_doc:
        try:
            update(args.update_doc, {"simulated": printed})
        except (OSError, ValueError) as error:
            parser.error(f"{args.update_doc}: {error}")


if __name__ == "__main__":
    main()
