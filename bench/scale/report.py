"""The model's answer as Markdown tables (what ``python -m bench.scale`` prints)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.report import markdown_table, pattern_title
from bench.scale import published as pub
from bench.scale.hotspots import HotSpot, hot_spots, list_ceiling, ordinary_collection_years
from bench.scale.measured import RunInputs, StreamConfig
from bench.scale.model import Tier, tier
from bench.scale.units import RequestUnits
from bench.scale.workload import TIERS, Workload


def regions(
    workload: Workload, units: RequestUnits, run: RunInputs, stream: StreamConfig
) -> dict[str, str]:
    """Everything ``python -m bench.scale`` prints, by the name of its region in
    docs/scaling.md."""
    tiers = [tier(workload.at(users), units, run, stream) for users in TIERS]
    return {
        "inputs": inputs(workload, units, run, stream),
        "dynamodb": dynamodb(tiers),
        "compute": compute(tiers),
        "limits": limits(tiers),
        "hot-spots": hot_spot_table(hot_spots(units, stream), workload, units),
        "sources": sources(),
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return "\n".join(markdown_table(header, rows))


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def inputs(workload: Workload, units: RequestUnits, run: RunInputs, stream: StreamConfig) -> str:
    shown = {k: v for k, v in vars_of(workload).items() if k != "daily_active_users"}
    workload_rows = [[name, str(value)] for name, value in shown.items()]
    unit_rows = [
        [
            pattern_title(name),
            _n(u.total_read, 2),
            _n(u.total_write, 2),
            run.cpu_source.get(name, "-"),
            _n(run.cpu_ms[name], 2) if name in run.cpu_ms else "-",
        ]
        for name, u in units.by_pattern.items()
    ]
    coalescing = [
        [_n(c.messages_per_second), _n(c.messages_per_batch), _n(c.updates_per_message, 2)]
        for c in run.coalescing
    ]
    return "\n\n".join(
        [
            "### Workload\n\n" + _table(["field", "value"], workload_rows),
            f"### Per request (capacity model; CPU from `{run.path.name}`)\n\n"
            + _table(["pattern", "RCU", "WCU", "CPU measured on", "service CPU ms"], unit_rows),
            "### Stream settings (deploy/template.yaml)\n\n"
            + _table(
                ["batch size", "batching window s", "parallelization", "memory MB"],
                [
                    [
                        str(stream.batch_size),
                        _n(stream.batching_window_seconds, 1),
                        str(stream.parallelization_factor),
                        str(stream.memory_mb),
                    ]
                ],
            )
            + "\n\nCoalescing at the benchmark's send rates and mix (row updates per message):\n\n"
            + _table(["sends/s", "messages per batch", "updates per message"], coalescing),
        ]
    )


def vars_of(workload: Workload) -> dict[str, object]:
    return {name: getattr(workload, name) for name in workload.__slots__}


def dynamodb(tiers: Sequence[Tier]) -> str:
    rows = [
        [
            _n(t.daily_active_users),
            _n(t.messages_per_second, 1),
            _n(t.updates_per_message, 3),
            f"{_n(t.read_units)} / {_n(t.peak_read_units)}",
            f"{_n(t.write_units)} / {_n(t.peak_write_units)}",
            _usd(t.on_demand_monthly),
            _usd(t.provisioned_monthly),
            _usd(t.provisioned_peak_monthly),
            _n(t.storage_gb_per_month, 1),
            f"{_n(t.storage_gb)} ({_usd(t.storage_monthly)})",
            _n(t.partitions),
            _n(t.stream_shards),
        ]
        for t in tiers
    ]
    header = [
        "daily users",
        "messages/s",
        "row updates per message",
        "RCU/s avg / peak",
        "WCU/s avg / peak",
        "on-demand $/month",
        "provisioned, auto scaled $/month",
        "provisioned at peak $/month",
        "storage GB/month",
        "stored GB after months ($/month)",
        "partitions",
        "stream shards",
    ]
    return "### DynamoDB\n\n" + _table(header, rows)


def compute(tiers: Sequence[Tier]) -> str:
    rows = [
        [
            _n(t.daily_active_users),
            _n(t.api_cpu_seconds_per_second, 1),
            f"{t.api_tasks} / {t.api_tasks_average}",
            _usd(t.fargate_monthly),
            _n(t.lambda_invocations_per_second, 1),
            _n(t.lambda_duration_ms),
            str(t.lambda_concurrency),
            _usd(t.lambda_monthly),
            _n(t.bus_publishes_per_second),
            _n(t.bus_deliveries_per_second),
            str(t.bus_connections),
            _n(t.open_streams),
            _n(t.streams_per_task),
            f"{_n(t.kms_per_second)} / {_n(t.kms_per_second_uncached)}",
        ]
        for t in tiers
    ]
    header = [
        "daily users",
        "API CPU s/s at peak",
        "API tasks peak / avg (1 vCPU)",
        "Fargate $/month (avg tasks)",
        "Lambda invocations/s",
        "Lambda ms each",
        "Lambda concurrency",
        "Lambda $/month",
        "bus publishes/s peak",
        "bus deliveries/s peak",
        "Redis connections",
        "open streams peak",
        "streams per task",
        "KMS/s peak: cached / uncached",
    ]
    return "### Compute and events\n\n" + _table(header, rows)


def limits(tiers: Sequence[Tier]) -> str:
    names = [limit.name for limit in tiers[0].limits]
    rows = []
    for index, name in enumerate(names):
        documented = tiers[0].limits[index].limit
        cells = [f"{_n(t.limits[index].used)} ({t.limits[index].utilisation:.0%})" for t in tiers]
        rows.append([name, f"{_n(documented.value)} {documented.unit}", *cells])
    header = ["limit", "documented", *[f"{_n(t.daily_active_users)} users" for t in tiers]]
    first = []
    for t in tiers:
        limit = t.first_limit
        share = f"{limit.utilisation:.0%} of {_n(limit.limit.value)} ({limit.limit.source})"
        if limit.utilisation < 0.01:
            first.append(f"- {_n(t.daily_active_users)} users: none above 1%")
        else:
            first.append(f"- {_n(t.daily_active_users)} users: **{limit.name}** at {share}")
    return (
        "### Limits (used, share of the documented limit)\n\n"
        + _table(header, rows)
        + ("\n\nFirst limit each tier reaches:\n\n" + "\n".join(first))
    )


def hot_spot_table(spots: Sequence[HotSpot], workload: Workload, units: RequestUnits) -> str:
    rows = [
        [
            s.name,
            f"`{s.partition}`",
            s.event,
            _n(s.units_per_event, 2),
            _n(s.ceiling_per_second),
            _n(s.events_to_collection_limit),
        ]
        for s in spots
    ]
    header = [
        "hot spot",
        "partition key",
        "event",
        "WCU on that key per event",
        "ceiling events/s (1,000 WCU)",
        "events to the 10 GB collection limit",
    ]
    answers = [
        f"- **{s.name}.** Today: {s.today}. Design answer: {s.design_answer}." for s in spots
    ]
    return (
        "### Hot spots: ceilings per partition key\n\n"
        + _table(header, rows)
        + f"\n\nOne owner's partition serves {_n(list_ceiling(units))} list requests/s "
        f"({_n(pub.PARTITION_READ_UNITS.value)} RCU). An ordinary conversation under this "
        f"workload reaches 10 GB after {_n(ordinary_collection_years(workload, units))} years.\n\n"
        + "\n".join(answers)
    )


def sources() -> str:
    rows = [
        [figure.unit, f"{figure.value:g}", figure.source, figure.note]
        for figure in (*pub.PRICES, *pub.LIMITS)
    ]
    return f"### Prices and limits (read {pub.READ_ON})\n\n" + _table(
        ["figure", "value", "source", "note"], rows
    )
