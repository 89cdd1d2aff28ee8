"""Local stand-in for Lambda's event source mapping: follow the table's stream, call the handler.

As Lambda does: batches per shard in order, parents before children, a failed batch retried
from its lowest failed record. What the handler reports failed is transient (it sets aside what
can never succeed in the dead-letter store itself), so the worker never gives up: it holds the
checkpoint before the failed record and retries with capped exponential backoff until it
succeeds, logging every failure with the lag (ERROR once it has failed for a while) and
publishing it in ``StreamWorker.status``. Checkpoints let a restart resume where it left off;
whatever is replayed, the idempotent handler absorbs.

Run beside the API with ``python -m app.streams.worker``, or start ``run_worker`` in-process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError

from app.ddb import open_client
from app.errors import ServiceError
from app.events.bus import EventPublisher, RedisPublisher
from app.repositories.table import StreamPositionLost, Table, dynamodb_errors
from app.settings import Settings, settings_or_exit
from app.streams.checkpoints import CheckpointFile
from app.streams.events import lambda_event, sequence_number
from app.streams.handler import BatchResponse, SummaryStores, handle_event

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient
    from types_aiobotocore_dynamodbstreams.type_defs import RecordTypeDef

log = logging.getLogger(__name__)

BatchHandler = Callable[[Mapping[str, Any]], Awaitable[BatchResponse]]
Sleep = Callable[[asyncio.Event, float], Awaitable[bool]]
"""Waits the given seconds unless the event is set first; True when it was set."""

RECORDS_PER_BATCH = 100
"""Lambda's default batch size for DynamoDB Streams."""
FIRST_RETRY_DELAY_SECONDS = 0.1
MAX_RETRY_DELAY_SECONDS = 10.0
LOUD_AFTER_SECONDS = 10.0
"""Retrying a batch for longer than this logs at ERROR: rows are falling behind."""
STREAM_WAIT_SECONDS = 1.0
"""Pause while the table or its stream does not exist (yet), or DynamoDB fails."""
SHARD_REFRESH_SECONDS = 5.0
"""How often to look for new shards and for a replaced stream (a recreated table)."""


@dataclass
class _Shard:
    shard_id: str
    parent_shard_id: str | None
    iterator: str | None = None
    ended: bool = False


async def _woken_during(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Sleep until ``seconds`` pass, ``stop`` is set or ``wake`` is set (then clear it)."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    wake.clear()


async def _stopped_during(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, waking early when ``stop`` is set; True when it was."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


@dataclass
class WorkerStatus:
    """How far behind the worker is: read it from another task, or from the logs."""

    retrying_since: float | None = None
    """When (the worker's clock) the batch being retried first failed; None when caught up."""
    attempts: int = 0
    """Attempts of that batch so far."""
    pending_records: int = 0
    """Records of that batch still to apply."""
    lag_seconds: float = 0.0
    """Age of the oldest record not yet applied, when the last batch was handed over."""


def _record_age_seconds(record: Mapping[str, Any]) -> float:
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    return max(0.0, time.time() - float(created)) if created is not None else 0.0


def _error_code(error: Exception) -> str:
    return error.code if isinstance(error, ServiceError) else type(error).__name__


class StreamWorker:
    """Polls every shard of the table's latest stream and hands batches to ``handle``."""

    def __init__(
        self,
        settings: Settings,
        ddb: DynamoDBClient,
        streams: DynamoDBStreamsClient,
        checkpoint_path: Path,
        handle: BatchHandler,
        *,
        sleep: Sleep = _stopped_during,
        clock: Callable[[], float] = time.monotonic,
        wake: asyncio.Event | None = None,
    ) -> None:
        """``sleep`` and ``clock`` are replaceable so tests can make hours pass at once."""
        self.table_name = settings.table_name
        self.poll_interval_seconds = settings.stream_poll_interval_seconds
        self.ddb = ddb
        self.streams = streams
        self.checkpoints = CheckpointFile(checkpoint_path)
        self.handle = handle
        self.sleep = sleep
        self.clock = clock
        self.status = WorkerStatus()
        self.wake = wake
        """Set by the API in this process after it stored a message: poll now, not later."""

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the stream until ``stop`` is set or the task is cancelled.

        The checkpoint is written after each handled batch, so stopping at any point loses
        nothing: at worst the batch in flight is delivered again.
        """
        log.info("stream worker started table=%s", self.table_name)
        reported_missing = False
        try:
            while not stop.is_set():
                try:
                    stream_arn = await self._stream_arn()
                    if stream_arn is not None:
                        reported_missing = False
                        await self._follow(stream_arn, stop)
                        continue
                    if not reported_missing:
                        log.info(
                            "stream worker waiting for table and stream table=%s", self.table_name
                        )
                        reported_missing = True
                # DynamoDB's answers arrive mapped (dynamodb_errors); BotoCoreError is what the
                # SDK raises before any answer (credentials, configuration).
                except (BotoCoreError, ServiceError) as error:
                    log.warning(
                        "stream worker retrying after DynamoDB error table=%s error=%s",
                        self.table_name,
                        _error_code(error),
                    )
                await self.sleep(stop, STREAM_WAIT_SECONDS)
        finally:
            log.info("stream worker stopped table=%s", self.table_name)

    async def _stream_arn(self) -> str | None:
        description = await Table(self.ddb, self.table_name).describe()
        if description is None or not description.get("StreamSpecification", {}).get(
            "StreamEnabled"
        ):
            return None
        arn = description.get("LatestStreamArn")
        return str(arn) if arn else None

    async def _follow(self, stream_arn: str, stop: asyncio.Event) -> None:
        """Poll the stream's shards until stopped or the table gets a new stream."""
        log.info("stream worker attached stream=%s", stream_arn)
        shards: dict[str, _Shard] = {}
        refresh_at = 0.0
        while not stop.is_set():
            if self.clock() >= refresh_at:
                if await self._stream_arn() != stream_arn:
                    log.info("stream replaced or gone stream=%s", stream_arn)
                    return
                await self._refresh_shards(stream_arn, shards)
                refresh_at = self.clock() + SHARD_REFRESH_SECONDS
            handled = 0
            for shard in [shard for shard in shards.values() if _ready(shard, shards)]:
                handled += await self._poll(stream_arn, shard, stop)
                if stop.is_set():
                    return
                if shard.ended:
                    refresh_at = 0.0  # its children are listed by now
            if handled == 0:
                log.debug("stream idle stream=%s", stream_arn)
                if self.wake is None:
                    await self.sleep(stop, self.poll_interval_seconds)
                else:
                    await _woken_during(stop, self.wake, self.poll_interval_seconds)

    async def _refresh_shards(self, stream_arn: str, shards: dict[str, _Shard]) -> None:
        listed: dict[str, str | None] = {}
        params: dict[str, Any] = {"StreamArn": stream_arn}
        while True:
            async with dynamodb_errors():
                described = await self.streams.describe_stream(**params)
            description = described["StreamDescription"]
            for shard in description.get("Shards", []):
                listed[shard["ShardId"]] = shard.get("ParentShardId")
            last_listed = description.get("LastEvaluatedShardId")
            if not last_listed:
                break
            params["ExclusiveStartShardId"] = last_listed
        for shard_id in shards.keys() - listed.keys():
            del shards[shard_id]  # trimmed after 24 hours
        for shard_id, parent_shard_id in listed.items():
            shards.setdefault(shard_id, _Shard(shard_id, parent_shard_id))
        self.checkpoints.retain(stream_arn, listed)

    async def _poll(self, stream_arn: str, shard: _Shard, stop: asyncio.Event) -> int:
        """One GetRecords on the shard and the handling of what it returned; the record count."""
        if shard.iterator is None:
            shard.iterator = await self._iterator(stream_arn, shard.shard_id)
        try:
            async with dynamodb_errors():
                response = await self.streams.get_records(
                    ShardIterator=shard.iterator, Limit=RECORDS_PER_BATCH
                )
        except StreamPositionLost:
            shard.iterator = None  # start again from the checkpoint
            return 0
        records = response.get("Records", [])
        if records and not await self._deliver(stream_arn, shard.shard_id, records, stop):
            return len(records)  # stopped while retrying; the checkpoint stays before them
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.ended = True
            log.info("stream shard ended stream=%s shard=%s", stream_arn, shard.shard_id)
        return len(records)

    async def _iterator(self, stream_arn: str, shard_id: str) -> str:
        position = self.checkpoints.position(stream_arn, shard_id)
        if position is not None:
            try:
                async with dynamodb_errors():
                    response = await self.streams.get_shard_iterator(
                        StreamArn=stream_arn,
                        ShardId=shard_id,
                        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                        SequenceNumber=position,
                    )
            except StreamPositionLost:
                log.warning(
                    "stream checkpoint trimmed, reading from the oldest record shard=%s", shard_id
                )
            else:
                log.info("stream shard reading shard=%s after=%s", shard_id, position)
                return response["ShardIterator"]
        async with dynamodb_errors():
            response = await self.streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )
        log.info("stream shard reading shard=%s from=oldest", shard_id)
        return response["ShardIterator"]

    async def _deliver(
        self,
        stream_arn: str,
        shard_id: str,
        records: Sequence[RecordTypeDef],
        stop: asyncio.Event,
    ) -> bool:
        """Hand the records to the handler until all succeeded; False when stopped meanwhile."""
        pending: list[dict[str, Any]] = lambda_event(records, stream_arn)["Records"]
        attempt = 0
        while True:
            attempt += 1
            self.status.lag_seconds = _record_age_seconds(pending[0])
            first_failed = await self._first_failure(pending)
            if first_failed is None:
                self.checkpoints.advance(stream_arn, shard_id, sequence_number(pending[-1]))
                if self.status.retrying_since is not None:
                    log.warning(
                        "stream batch recovered shard=%s records=%d attempts=%d "
                        "retried_for_seconds=%.1f",
                        shard_id,
                        len(pending),
                        attempt,
                        self.clock() - self.status.retrying_since,
                    )
                else:
                    log.info("stream batch handled shard=%s records=%d", shard_id, len(pending))
                self.status = WorkerStatus(lag_seconds=self.status.lag_seconds)
                return True
            if first_failed > 0:
                # As Lambda does: checkpoint before the lowest failed record, retry from it.
                self.checkpoints.advance(
                    stream_arn, shard_id, sequence_number(pending[first_failed - 1])
                )
                pending = pending[first_failed:]
            now = self.clock()
            if self.status.retrying_since is None:
                self.status.retrying_since = now
            self.status.attempts, self.status.pending_records = attempt, len(pending)
            failing_for = now - self.status.retrying_since
            delay = min(FIRST_RETRY_DELAY_SECONDS * 2 ** (attempt - 1), MAX_RETRY_DELAY_SECONDS)
            log.log(
                logging.ERROR if failing_for >= LOUD_AFTER_SECONDS else logging.WARNING,
                "stream batch failed, holding the checkpoint and retrying shard=%s from=%s "
                "records=%d attempt=%d retrying_for_seconds=%.1f lag_seconds=%.1f "
                "next_retry_seconds=%.1f",
                shard_id,
                sequence_number(pending[0]),
                len(pending),
                attempt,
                failing_for,
                self.status.lag_seconds,
                delay,
            )
            if await self.sleep(stop, delay):
                return False

    async def _first_failure(self, records: list[dict[str, Any]]) -> int | None:
        """Index of the earliest record the handler reported failed; None when all succeeded."""
        try:
            response = await self.handle({"Records": records})
        except Exception:
            log.exception("stream handler raised; the whole batch failed")
            return 0
        failed = [
            failure.get("itemIdentifier") for failure in response.get("batchItemFailures", [])
        ]
        if not failed:
            return None
        index_of = {sequence_number(record): index for index, record in enumerate(records)}
        if any(identifier not in index_of for identifier in failed):
            return 0  # Lambda counts an empty or unknown identifier as a failed batch
        return min(index_of[identifier] for identifier in failed if identifier is not None)


def _ready(shard: _Shard, shards: Mapping[str, _Shard]) -> bool:
    """Not ended, and its parent (if still listed) read to the end: per-item order holds."""
    if shard.ended:
        return False
    parent = shards.get(shard.parent_shard_id) if shard.parent_shard_id else None
    return parent is None or parent.ended


def checkpoint_path(settings: Settings) -> Path:
    return settings.local_state_dir / f"stream-checkpoints.{settings.table_name}.json"


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    publisher: EventPublisher | None = None,
    wake: asyncio.Event | None = None,
) -> None:
    """Follow the table's stream until ``stop`` is set: what the dev runner starts beside the API.

    Opens its own clients; the checkpoint file lives in ``settings.local_state_dir``. Events
    go to ``publisher`` (the API's in-process bus, or Redis); ``wake`` cuts an idle wait short.
    """
    async with AsyncExitStack() as resources:
        ddb = await open_client(settings, resources)
        streams = await open_client(settings, resources, "dynamodbstreams")
        stores = SummaryStores.over(Table(ddb, settings.table_name))
        handle = functools.partial(
            handle_event,
            conversations=stores.conversations,
            dead_letters=stores.dead_letters,
            publisher=publisher,
        )
        worker = StreamWorker(settings, ddb, streams, checkpoint_path(settings), handle, wake=wake)
        await worker.run(stop)


async def _run_until_signalled(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # In its own process the worker reaches API streams only through Redis, when configured.
    publisher = RedisPublisher(settings.events_redis_url) if settings.events_redis_url else None
    try:
        await run_worker(settings, stop, publisher)
    finally:
        if publisher is not None:
            await publisher.aclose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_run_until_signalled(settings_or_exit("app.streams.worker")))


if __name__ == "__main__":
    main()
