"""The scale model: a workload at a number of daily users -> capacity, cost, compute, limits.

Inputs: capacity units per request (``bench.scale.units``, from the benchmark's capacity
model), CPU per request and the benchmark's coalescing (``bench.scale.measured``, from a run's
JSON), the stream settings of deploy/template.yaml, published prices and limits
(``bench.scale.published``) and the assumptions below, each of which docs/scaling.md states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from app.repositories import keys
from app.repositories.conversations import PARTICIPANTS_PER_CONVERSATION
from bench.capacity import SUMMARY_UPDATE
from bench.capacity_model import Units
from bench.patterns import (
    LIST_CONVERSATIONS,
    MESSAGE_HANDLE_NEW,
    PAGE_LIMIT,
    READ_PAGE,
    SEND_IDEMPOTENT,
    SEND_MESSAGE,
)
from bench.scale import published as pub
from bench.scale.measured import RunInputs, StreamConfig, poisson_updates_per_message
from bench.scale.units import MARK_READ, RequestUnits
from bench.scale.workload import Workload

SECONDS_PER_DAY = 86_400
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Assumptions:
    """Figures nobody has measured yet; each is named in docs/scaling.md."""

    cpu_target_utilisation: float = 0.6
    min_tasks: int = 2
    task_memory_gb: float = 2.0
    provisioned_target_utilisation: float = 0.7
    """DynamoDB auto scaling's usual target."""
    dynamodb_round_trip_ms: float = 8.0
    """One DynamoDB call from Lambda in-Region (not measured: the benchmark runs locally)."""
    handler_cpu_ms_per_record: float = 1.0
    event_cpu_ms: float = 0.5
    """Service CPU to serialise and write one event or heartbeat to a stream."""
    heartbeat_seconds: float = 15.0
    """The events design's heartbeat interval (shared interface)."""
    kms_calls_per_1k_requests: float = 5.0
    """Issue 15's steady-state target, with the data-key cache warm."""
    max_streams_per_task: int = 5000
    """Open event streams one 1-vCPU task holds (memory and descriptors; not measured)."""
    mark_read_cpu_as: str = SEND_MESSAGE.name
    """Mark-read is not benchmarked: priced at the CPU of a send (a read and a write)."""


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    used: float
    limit: pub.Published
    ranked: bool = True
    """Counted for the first limit: the design as built, moving with the number of users."""

    @property
    def utilisation(self) -> float:
        return self.used / self.limit.value


@dataclass(frozen=True, slots=True)
class Tier:
    daily_active_users: int
    rates: dict[str, float]
    """Requests per second at the average, by pattern (and messages coalesced, mark-read)."""
    peak_factor: float
    messages_per_second: float
    updates_per_message: float
    read_units: float
    """Per second, average; multiply by ``peak_factor`` for the busiest hour."""
    write_units: float
    write_units_by_target: dict[str, float]
    on_demand_monthly: float
    provisioned_monthly: float
    """Auto scaled: average units over the target utilisation, all month."""
    provisioned_peak_monthly: float
    """Flat at the busiest hour's units over the target utilisation."""
    storage_gb_per_month: float
    storage_gb: float
    storage_monthly: float
    partitions: int
    stream_shards: int
    api_cpu_seconds_per_second: float
    api_tasks: int
    api_tasks_average: int
    fargate_monthly: float
    lambda_invocations_per_second: float
    lambda_duration_ms: float
    lambda_concurrency: int
    lambda_monthly: float
    bus_publishes_per_second: float
    bus_deliveries_per_second: float
    bus_connections: int
    open_streams: float
    streams_per_task: float
    kms_per_second: float
    kms_per_second_uncached: float
    limits: list[Limit] = field(default_factory=list)

    @property
    def peak_read_units(self) -> float:
        return self.read_units * self.peak_factor

    @property
    def peak_write_units(self) -> float:
        return self.write_units * self.peak_factor

    @property
    def first_limit(self) -> Limit:
        """The limit that grows with users and is closest to (or furthest past) its number."""
        return max((limit for limit in self.limits if limit.ranked), key=lambda x: x.utilisation)


def request_rates(workload: Workload) -> dict[str, float]:
    """Average requests per second by pattern."""
    messages = workload.daily_active_users * workload.messages_per_user_per_day / SECONDS_PER_DAY
    opening = messages * workload.new_conversation_share
    idempotent = messages * workload.idempotent_share
    reads = messages * workload.reads_per_send
    return {
        SEND_MESSAGE.name: messages - opening - idempotent,
        SEND_IDEMPOTENT.name: idempotent,
        MESSAGE_HANDLE_NEW.name: opening,
        LIST_CONVERSATIONS.name: reads * workload.list_share_of_reads,
        READ_PAGE.name: reads * (1 - workload.list_share_of_reads),
        MARK_READ: messages * workload.mark_reads_per_send,
    }


def _messages(rates: dict[str, float]) -> float:
    """Messages per second: every kind of send."""
    return sum(rates[p.name] for p in (SEND_MESSAGE, SEND_IDEMPOTENT, MESSAGE_HANDLE_NEW))


def _units_per_second(rates: dict[str, float], units: RequestUnits, summaries: float) -> Units:
    total = Units()
    for name, rate in rates.items():
        total.add(units.by_pattern[name].scaled(rate))
    return total.add(units.by_pattern[SUMMARY_UPDATE].scaled(summaries))


def _storage_growth_bytes_per_day(
    workload: Workload, units: RequestUnits, rates: dict[str, float]
) -> float:
    overhead = pub.ITEM_STORAGE_OVERHEAD.value
    sizes = units.sizes
    per_message = sizes.message + overhead
    per_conversation = PARTICIPANTS_PER_CONVERSATION * (
        sizes.row + sizes.activity_entry + sizes.participants_entry + 3 * overhead
    )
    messages = _messages(rates)
    return SECONDS_PER_DAY * (
        messages * per_message + rates[MESSAGE_HANDLE_NEW.name] * per_conversation
    )


def _invocations_per_shard(rate: float, stream: StreamConfig) -> float:
    """A shard's batch closes when the window ends or the batch is full."""
    window = stream.batching_window_seconds
    if rate * window >= stream.batch_size:
        return rate / stream.batch_size
    # Windows that hold at least one record: the same count as a conversation's row updates.
    return rate * poisson_updates_per_message(rate, window)


def shard_ceiling(stream: StreamConfig, assumptions: Assumptions = Assumptions()) -> pub.Published:
    """Records a second one shard's batches can apply, one batch in flight per shard."""
    full_batch_seconds = (
        2 * assumptions.dynamodb_round_trip_ms
        + stream.batch_size * assumptions.handler_cpu_ms_per_record
    ) / 1000
    return pub.Published(
        stream.parallelization_factor * stream.batch_size / full_batch_seconds,
        f"records/s one stream shard applies: {stream.parallelization_factor} batch(es) in "
        f"flight (ParallelizationFactor, documented default 1, max 10) of {stream.batch_size}",
        pub.PARALLELIZATION_FACTOR_MAX.source,
    )


def tier(
    workload: Workload,
    units: RequestUnits,
    run: RunInputs,
    stream: StreamConfig,
    assumptions: Assumptions = Assumptions(),
) -> Tier:
    rates = request_rates(workload)
    messages = _messages(rates)
    peak = workload.peak_to_average
    # A conversation's messages arrive in sessions; the handler coalesces each batching window.
    in_session = workload.messages_per_session / workload.session_seconds
    coalescing = poisson_updates_per_message(in_session, stream.batching_window_seconds)
    summaries = (rates[SEND_MESSAGE.name] + rates[SEND_IDEMPOTENT.name]) * coalescing
    per_second = _units_per_second(rates, units, summaries)
    read, write = per_second.total_read, per_second.total_write

    on_demand = (
        SECONDS_PER_MONTH
        / 1e6
        * (
            read * pub.ON_DEMAND_READ_PER_MILLION.value
            + write * pub.ON_DEMAND_WRITE_PER_MILLION.value
        )
    )

    def provisioned(factor: float) -> float:
        hourly = (
            factor
            / assumptions.provisioned_target_utilisation
            * (read * pub.PROVISIONED_RCU_HOUR.value + write * pub.PROVISIONED_WCU_HOUR.value)
        )
        return HOURS_PER_MONTH * hourly

    growth = _storage_growth_bytes_per_day(workload, units, rates) * 30 / GIB
    stored = growth * workload.months_of_history
    partitions = max(
        1,
        math.ceil(
            read * peak / pub.PARTITION_READ_UNITS.value
            + write * peak / pub.PARTITION_WRITE_UNITS.value
        ),
        math.ceil(stored * GIB / pub.ITEM_COLLECTION_BYTES.value),
    )
    shards = partitions  # assumption: one open stream shard per partition

    cpu_ms = dict(run.cpu_ms)
    cpu_ms[MARK_READ] = cpu_ms[assumptions.mark_read_cpu_as]
    connected = workload.daily_active_users * workload.connected_share_at_peak
    streams = connected * workload.streams_per_connected_user
    publishes = PARTICIPANTS_PER_CONVERSATION * (messages + rates[MARK_READ])
    deliveries = publishes * workload.connected_share_at_peak * workload.streams_per_connected_user

    def cpu_seconds(factor: float, open_streams: float) -> float:
        requests = sum(rate * cpu_ms[name] for name, rate in rates.items()) * factor
        events = deliveries * factor + open_streams / assumptions.heartbeat_seconds
        return (requests + events * assumptions.event_cpu_ms) / 1000

    cpu_peak = cpu_seconds(peak, streams)
    cpu_average = cpu_seconds(1, streams / peak)

    def tasks(cpu: float, open_streams: float) -> int:
        by_cpu = math.ceil(cpu / assumptions.cpu_target_utilisation)
        by_streams = math.ceil(open_streams / assumptions.max_streams_per_task)
        return max(assumptions.min_tasks, by_cpu, by_streams)

    api_tasks, api_tasks_average = tasks(cpu_peak, streams), tasks(cpu_average, streams / peak)
    fargate = (
        api_tasks_average
        * HOURS_PER_MONTH
        * (
            pub.FARGATE_VCPU_HOUR_ARM.value
            + assumptions.task_memory_gb * pub.FARGATE_GB_HOUR_ARM.value
        )
    )

    invocations = shards * _invocations_per_shard(messages / shards, stream)
    records_per_invocation = messages / invocations if invocations else 0.0
    duration_ms = (
        2 * assumptions.dynamodb_round_trip_ms
        + records_per_invocation * assumptions.handler_cpu_ms_per_record
    )
    # One batch in flight per shard at most; in use, invocations times duration (Little's law).
    lambda_environments = shards * stream.parallelization_factor
    lambda_concurrency = min(
        lambda_environments, math.ceil(invocations * peak * duration_ms / 1000)
    )
    lambda_monthly = (
        SECONDS_PER_MONTH
        * invocations
        * (
            duration_ms / 1000 * stream.memory_mb / 1024 * pub.LAMBDA_GB_SECOND_ARM.value
            + pub.LAMBDA_PER_MILLION_REQUESTS.value / 1e6
        )
    )

    api_requests = sum(rates.values())
    kms = api_requests * peak * assumptions.kms_calls_per_1k_requests / 1000
    kms_uncached = peak * (
        messages
        + rates[READ_PAGE.name]
        + rates[LIST_CONVERSATIONS.name] * min(PAGE_LIMIT, workload.conversations_per_user)
    )
    bus_connections = 2 * api_tasks + lambda_environments

    result = Tier(
        daily_active_users=workload.daily_active_users,
        rates={**rates, SUMMARY_UPDATE: summaries},
        peak_factor=peak,
        messages_per_second=messages,
        updates_per_message=coalescing,
        read_units=read,
        write_units=write,
        write_units_by_target=dict(per_second.write),
        on_demand_monthly=on_demand,
        provisioned_monthly=provisioned(1.0),
        provisioned_peak_monthly=provisioned(peak),
        storage_gb_per_month=growth,
        storage_gb=stored,
        storage_monthly=max(0.0, stored - 25) * pub.STORAGE_GB_MONTH.value,
        partitions=partitions,
        stream_shards=shards,
        api_cpu_seconds_per_second=cpu_peak,
        api_tasks=api_tasks,
        api_tasks_average=api_tasks_average,
        fargate_monthly=fargate,
        lambda_invocations_per_second=invocations,
        lambda_duration_ms=duration_ms,
        lambda_concurrency=lambda_concurrency,
        lambda_monthly=lambda_monthly,
        bus_publishes_per_second=publishes * peak,
        bus_deliveries_per_second=deliveries * peak,
        bus_connections=bus_connections,
        open_streams=streams,
        streams_per_task=streams / api_tasks,
        kms_per_second=kms,
        kms_per_second_uncached=kms_uncached,
    )
    result.limits.extend(
        [
            Limit(
                "table writes, on-demand quota (peak WCU)", write * peak, pub.ON_DEMAND_TABLE_UNITS
            ),
            Limit(
                "table reads, on-demand quota (peak RCU)", read * peak, pub.ON_DEMAND_TABLE_UNITS
            ),
            Limit(
                "GSI writes, on-demand quota (peak WCU of the KEYS_ONLY index)",
                per_second.write.get(keys.CONVERSATION_INDEX, 0.0) * peak,
                pub.ON_DEMAND_TABLE_UNITS,
            ),
            Limit(
                "Lambda concurrency at peak (invocations x duration)",
                lambda_concurrency,
                pub.LAMBDA_CONCURRENCY,
            ),
            Limit(
                "stream records/s per shard at peak",
                messages * peak / shards,
                shard_ceiling(stream, assumptions),
            ),
            Limit(
                "readers per stream shard (the mapping only)",
                1,
                pub.STREAM_READERS_PER_SHARD,
                ranked=False,
            ),
            Limit("KMS requests/s at issue 15's cache target", kms, pub.KMS_SYMMETRIC_RATE),
            Limit(
                "KMS requests/s with no data-key cache",
                kms_uncached,
                pub.KMS_SYMMETRIC_RATE,
                ranked=False,
            ),
            Limit(
                "Redis connections (2 per task + 1 per shard's Lambda)",
                bus_connections,
                pub.ELASTICACHE_CONNECTIONS,
            ),
            Limit(
                "heartbeat interval vs load balancer idle timeout (s)",
                assumptions.heartbeat_seconds,
                pub.ALB_IDLE_TIMEOUT_SECONDS,
                ranked=False,
            ),
        ]
    )
    return result
