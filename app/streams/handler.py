"""The DynamoDB Streams handler: every inserted message moves its conversation's rows forward,
and every edited or deleted message (a MODIFY of its item) updates the rows that show it.

It never decrypts: with encryption on, it copies the message's envelope into the rows as
stored, and its role has no KMS permission.

Deliveries are at least once and messages of one conversation arrive in no guaranteed order;
``ConversationsRepository.apply_messages`` is idempotent and forward-only, so duplicates,
retries and reordering are harmless. A record that can never be applied (its image is not a
message item, or its conversation has no rows) is set aside in the dead-letter store with its
full image and counts as handled, so it never blocks its shard. Every other failure is
transient (throttling, 5xx, timeouts) and is reported per record (``batchItemFailures``, with
``ReportBatchItemFailures`` on the event source mapping), to be retried until it succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.domain import Message
from app.errors import ServiceError
from app.events.bus import Event, EventPublisher, RedisPublisher
from app.events.publishing import publish_changes, publish_messages
from app.lambda_runtime import LambdaRuntime
from app.repositories import keys
from app.repositories.conversations import (
    ConversationsRepository,
    NoConversationRows,
    latest_versions,
)
from app.repositories.dead_letters import DeadLettersRepository
from app.repositories.messages import message_from_item
from app.repositories.table import Table, deserialize
from app.settings import Settings
from app.streams.events import sequence_number, with_binary_decoded

log = logging.getLogger(__name__)

BatchResponse = dict[str, list[dict[str, str]]]

LAMBDA_MIN_ATTEMPTS = 5
"""Attempts per DynamoDB call in the Lambda: nobody waits on it, unlike on an API request."""


class _UndecodableRecord(Exception):
    """A message INSERT or MODIFY whose new image is not a message item; retrying will not help."""


_MESSAGE_EVENTS = frozenset({"INSERT", "MODIFY"})


def _record_message(record: Mapping[str, Any]) -> Message | None:
    """The message a stream record inserts or changes (edit, delete), or None for every other
    kind of record.

    A MODIFY of a message that was neither edited nor deleted changed only how its text is
    stored (the encryption backfill sealing it in place): nothing anyone reads, so it is
    ignored. With new images only, that rewrite of an edited message is not told from its
    edit; it counts as the edit delivered again, which the rows already guard against.
    """
    change = record.get("dynamodb", {})
    partition_key = change.get("Keys", {}).get("pk", {}).get("S", "")
    event_name = record.get("eventName")
    if event_name not in _MESSAGE_EVENTS or not keys.is_message_pk(partition_key):
        return None
    try:
        message = message_from_item(deserialize(change["NewImage"]))
    except (KeyError, TypeError, ValueError) as error:
        raise _UndecodableRecord(type(error).__name__) from error
    if event_name == "MODIFY" and not message.deleted and message.edited_at is None:
        return None
    return message


def _error_name(error: BaseException) -> str:
    # Type and stable code only: exception texts may quote attribute values, i.e. message text.
    if isinstance(error, ServiceError):
        return f"{type(error).__name__}({error.code})"
    return type(error).__name__


class _BatchPublisher:
    """The bus for one batch, until its first failure: after that nothing more of the batch
    is published. An unreachable Redis makes every publish wait out its timeout, and one per
    conversation would stall the batch (and the summaries behind it) past the Lambda's timeout
    for what are only hints."""

    def __init__(self, bus: EventPublisher) -> None:
        self.bus = bus
        self.failed = False

    async def publish(self, user_uuid: UUID, event: Event) -> None:
        try:
            await self.bus.publish(user_uuid, event)
        except Exception:
            self.failed = True
            raise


async def _set_aside(
    records: list[Mapping[str, Any]], reason: str, dead_letters: DeadLettersRepository | None
) -> bool:
    """Store the records in the dead-letter store; False when they must count as failed."""
    if dead_letters is None:
        return False
    for record in records:
        try:
            await dead_letters.put(record, reason)
        except ServiceError as error:  # the store is DynamoDB: transient, retry the record
            log.warning(
                "dead-letter write failed sequence_number=%s error=%s",
                sequence_number(record),
                _error_name(error),
            )
            return False
        log.error(
            "stream record set aside in the dead-letter store sequence_number=%s reason=%s",
            sequence_number(record),
            reason,
        )
    return True


async def handle_event(
    event: Mapping[str, Any],
    conversations: ConversationsRepository,
    dead_letters: DeadLettersRepository | None = None,
    publisher: EventPublisher | None = None,
) -> BatchResponse:
    """Apply a batch of stream records; report the sequence numbers of the records that failed.

    Without ``dead_letters``, records that can never be applied are reported failed too. With
    a ``publisher``, each conversation whose update succeeded is then announced to its
    participants, once every summary is written (events are hints: a failed publish is logged,
    never retried, and ends publishing for the rest of the batch).
    """
    records = event.get("Records", [])
    failed: set[str] = set()
    messages_by_group: defaultdict[UUID, list[Message]] = defaultdict(list)
    changes_by_group: defaultdict[UUID, list[Message]] = defaultdict(list)
    records_by_group: defaultdict[UUID, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        try:
            message = _record_message(record)
        except _UndecodableRecord as error:
            log.warning(
                "stream record undecodable sequence_number=%s error=%s",
                sequence_number(record),
                error,
            )
            if not await _set_aside([record], f"undecodable: {error}", dead_letters):
                failed.add(sequence_number(record))
            continue
        if message is not None:
            inserted = record.get("eventName") == "INSERT"
            (messages_by_group if inserted else changes_by_group)[
                message.message_group_uuid
            ].append(message)
            records_by_group[message.message_group_uuid].append(record)

    async def apply(group: UUID) -> None:
        # One update per conversation however many of its messages the batch holds; a
        # message's INSERT before its own changes.
        await conversations.apply_messages(group, messages_by_group[group])
        await conversations.apply_changes(group, changes_by_group[group])

    groups = list(records_by_group)
    outcomes = await asyncio.gather(*(apply(group) for group in groups), return_exceptions=True)
    batch_publisher = _BatchPublisher(publisher) if publisher is not None else None
    unannounced = 0
    for group, outcome in zip(groups, outcomes, strict=True):
        group_records = records_by_group[group]
        if isinstance(outcome, NoConversationRows) and await _set_aside(
            group_records, "no conversation rows", dead_letters
        ):
            continue
        if isinstance(outcome, BaseException):
            log.warning(
                "conversation update failed message_group_uuid=%s records=%d error=%s",
                group,
                len(group_records),
                _error_name(outcome),
            )
            failed.update(sequence_number(record) for record in group_records)
        elif batch_publisher is not None and batch_publisher.failed:
            unannounced += 1
        elif batch_publisher is not None:
            await _announce(
                conversations,
                batch_publisher,
                group,
                messages_by_group[group],
                changes_by_group[group],
            )
    if unannounced:
        log.warning("event publish skipped for the rest of the batch conversations=%d", unannounced)

    log.info(
        "stream batch records=%d messages=%d changes=%d conversations=%d failed=%d",
        len(records),
        sum(len(messages) for messages in messages_by_group.values()),
        sum(len(changed) for changed in changes_by_group.values()),
        len(groups),
        len(failed),
    )
    return {
        "batchItemFailures": [
            {"itemIdentifier": sequence_number(record)}
            for record in records
            if sequence_number(record) in failed
        ]
    }


async def _announce(
    conversations: ConversationsRepository,
    publisher: EventPublisher,
    group: UUID,
    messages: list[Message],
    changed: list[Message],
) -> None:
    """New messages, then changes. A message deleted in the same batch is announced by its
    tombstone only: its INSERT image still holds the text it was sent with. (An INSERT whose
    delete comes in a later batch is announced as it was sent, then deleted.)"""
    deleted = {message.uuid for message in latest_versions(changed) if message.deleted}
    try:
        await publish_messages(
            conversations, publisher, group, [m for m in messages if m.uuid not in deleted]
        )
        await publish_changes(conversations, publisher, group, changed)
    except Exception as error:  # a lost hint: clients resume from the table
        log.warning(
            "event publish failed message_group_uuid=%s error=%s", group, _error_name(error)
        )


def _lambda_settings() -> Settings:
    """``CRUDDUR_*`` from the function's environment, with more attempts than the API allows:
    nobody waits on a stream batch, and a failed one is retried as a whole."""
    configured = Settings()
    attempts = max(configured.ddb_max_attempts, LAMBDA_MIN_ATTEMPTS)
    return configured.model_copy(update={"ddb_max_attempts": attempts})


@dataclass(frozen=True, slots=True)
class SummaryStores:
    """What the handler writes: conversation rows, and the records it sets aside; and where
    it announces them (only where Redis is configured: nothing else reaches API streams)."""

    conversations: ConversationsRepository
    dead_letters: DeadLettersRepository
    publisher: RedisPublisher | None = None

    @classmethod
    def over(cls, table: Table, publisher: RedisPublisher | None = None) -> SummaryStores:
        return cls(ConversationsRepository(table), DeadLettersRepository(table), publisher)


def _lambda_stores(table: Table) -> SummaryStores:
    redis_url = Settings().events_redis_url
    return SummaryStores.over(table, RedisPublisher(redis_url) if redis_url else None)


runtime: LambdaRuntime[SummaryStores] = LambdaRuntime(_lambda_stores, _lambda_settings)


def handler(event: Mapping[str, Any], context: object) -> BatchResponse:
    """AWS Lambda entry point (synchronous): one loop and one client per container."""

    async def work(stores: SummaryStores) -> BatchResponse:
        return await handle_event(
            with_binary_decoded(event), stores.conversations, stores.dead_letters, stores.publisher
        )

    return runtime.run(work)
