"""The DynamoDB Streams handler: every inserted message moves its conversation's rows forward.

It never decrypts: with encryption on, it copies the message's envelope into the rows as
stored, and its role has no KMS permission.

Deliveries are at least once and messages of one conversation arrive in no guaranteed order;
``ConversationsRepository.apply_messages`` is idempotent and forward-only, so duplicates,
retries and reordering are harmless. Failures are reported per record (``batchItemFailures``,
with ``ReportBatchItemFailures`` on the event source mapping), so one poison record never
blocks the rest of its batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from app.domain import Message
from app.errors import ServiceError
from app.lambda_runtime import LambdaRuntime
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import message_from_item
from app.repositories.table import deserialize
from app.settings import Settings
from app.streams.events import sequence_number, with_binary_decoded

log = logging.getLogger(__name__)

BatchResponse = dict[str, list[dict[str, str]]]

LAMBDA_MIN_ATTEMPTS = 5
"""Attempts per DynamoDB call in the Lambda: nobody waits on it, unlike on an API request."""


class _UndecodableRecord(Exception):
    """A message INSERT whose new image is not a message item; retrying will not help."""


def _inserted_message(record: Mapping[str, Any]) -> Message | None:
    """The message a stream record inserts, or None for every other kind of record."""
    change = record.get("dynamodb", {})
    partition_key = change.get("Keys", {}).get("pk", {}).get("S", "")
    if record.get("eventName") != "INSERT" or not keys.is_message_pk(partition_key):
        return None
    try:
        return message_from_item(deserialize(change["NewImage"]))
    except (KeyError, TypeError, ValueError) as error:
        raise _UndecodableRecord(type(error).__name__) from error


def _error_name(error: BaseException) -> str:
    # Type and stable code only: exception texts may quote attribute values, i.e. message text.
    if isinstance(error, ServiceError):
        return f"{type(error).__name__}({error.code})"
    return type(error).__name__


async def handle_event(
    event: Mapping[str, Any], conversations: ConversationsRepository
) -> BatchResponse:
    """Apply a batch of stream records; report the sequence numbers of the records that failed."""
    records = event.get("Records", [])
    failed: set[str] = set()
    messages_by_group: defaultdict[UUID, list[Message]] = defaultdict(list)
    records_by_group: defaultdict[UUID, list[str]] = defaultdict(list)
    for record in records:
        try:
            message = _inserted_message(record)
        except _UndecodableRecord as error:
            log.warning(
                "stream record undecodable sequence_number=%s error=%s",
                sequence_number(record),
                error,
            )
            failed.add(sequence_number(record))
            continue
        if message is not None:
            messages_by_group[message.message_group_uuid].append(message)
            records_by_group[message.message_group_uuid].append(sequence_number(record))

    # One update per conversation however many of its messages the batch holds.
    groups = list(messages_by_group)
    outcomes = await asyncio.gather(
        *(conversations.apply_messages(group, messages_by_group[group]) for group in groups),
        return_exceptions=True,
    )
    for group, outcome in zip(groups, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.warning(
                "conversation update failed message_group_uuid=%s records=%d error=%s",
                group,
                len(records_by_group[group]),
                _error_name(outcome),
            )
            failed.update(records_by_group[group])

    log.info(
        "stream batch records=%d messages=%d conversations=%d failed=%d",
        len(records),
        sum(len(messages) for messages in messages_by_group.values()),
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


def _lambda_settings() -> Settings:
    """``CRUDDUR_*`` from the function's environment, with more attempts than the API allows:
    nobody waits on a stream batch, and a failed one is retried as a whole."""
    configured = Settings()
    attempts = max(configured.ddb_max_attempts, LAMBDA_MIN_ATTEMPTS)
    return configured.model_copy(update={"ddb_max_attempts": attempts})


runtime: LambdaRuntime[ConversationsRepository] = LambdaRuntime(
    ConversationsRepository, _lambda_settings
)


def handler(event: Mapping[str, Any], context: object) -> BatchResponse:
    """AWS Lambda entry point (synchronous): one loop and one client per container."""

    async def work(conversations: ConversationsRepository) -> BatchResponse:
        return await handle_event(with_binary_decoded(event), conversations)

    return runtime.run(work)
