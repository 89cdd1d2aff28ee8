"""The Markdown summary of a run (bench/results/latest.md), built from its JSON document."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bench.patterns import BY_NAME
from bench.profiling import APP_LAYER, DYNAMODB_CLIENT, EVENT_LOOP
from bench.results import FLOOR_SHARE_TARGET
from bench.summary_upkeep import PER_BATCH

CAPACITY_TITLES = {
    "summary_update": "E: summary update (per message)",
    "message_total": "C + E: one message, all in",
    "summary_upkeep_worst": "E: upkeep per message, worst case",
    **{
        f"summary_upkeep_burst_{per_batch}": f"E: upkeep per message, burst, {per_batch} per batch"
        for per_batch in PER_BATCH
    },
    "edit_message_total": "edit a just-sent message (+ E)",
    "delete_message_total": "delete a just-sent message (+ E)",
    "block_user": "block a user (both rows flagged)",
}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def pattern_title(pattern: str) -> str:
    """``B: list my conversations``; capacity-only rows have their own titles."""
    known = BY_NAME.get(pattern)
    if known is None:
        return CAPACITY_TITLES.get(pattern, pattern)
    return f"{known.contract}: {known.title}" if known.contract else known.title


def _units(by_target: dict[str, float]) -> str:
    if not by_target:
        return "0"
    return ", ".join(f"{target} {units:g}" for target, units in sorted(by_target.items()))


def _throughput_section(doc: dict[str, Any]) -> list[str]:
    by_mode = {
        (m["mode"], m["pattern"], m["backend"], m["concurrency"]): m for m in doc["measurements"]
    }
    rows = []
    for api in (m for m in doc["measurements"] if m["mode"] == "api"):
        level = (api["pattern"], api["backend"], api["concurrency"])
        floor = by_mode[("floor", *level)]
        http_floor = by_mode.get(("http_floor", *level))
        ratio = api["throughput_rps"] / floor["throughput_rps"] if floor["throughput_rps"] else 0
        latency, cpu = api["latency_ms"], api["cpu_per_1k_requests"]
        rows.append(
            (
                pattern_title(api["pattern"]),
                api["backend"],
                api["concurrency"],
                f"{api['throughput_rps']:.0f}",
                f"{latency['p50']:.1f}",
                f"{latency['p95']:.1f}",
                f"{latency['p99']:.1f}",
                f"{api['errors']}" + (" (list ran out)" if api["exhausted"] else ""),
                f"{cpu.get('service', 0):.2f}",
                f"{http_floor['throughput_rps']:.0f}" if http_floor else "",
                f"{floor['throughput_rps']:.0f}",
                f"{floor['latency_ms']['p99']:.1f}",
                f"{ratio:.2f}",
                f"{cpu.get('driver', 0):.2f}",
                f"{cpu.get('backend', 0):.2f}",
            )
        )
    header = (
        "pattern", "backend", "conc.", "API req/s", "p50 ms", "p95 ms", "p99 ms", "errors",
        "service CPU s/1k", "HTTP floor req/s", "floor req/s", "floor p99 ms", "API/floor",
        "load-gen CPU s/1k", "backend CPU s/1k",
    )  # fmt: skip
    rounds = doc["options"]["rounds"]
    return [
        "## Throughput and latency",
        "",
        f"Best of {rounds} interleaved (API, HTTP floor, floor) rounds per level, each "
        f"{doc['options']['duration_seconds']:g} s after {doc['options']['warmup_seconds']:g} s "
        "of warm-up; every round's req/s is in the JSON. CPU columns are CPU seconds per "
        "1,000 requests of the service, the load generator and the backend. The floor makes "
        "each request's DynamoDB calls straight from the load generator; the HTTP floor makes "
        "them behind uvicorn, configured as the service, with no framework or app code "
        "(bench/http_floor.py).",
        "",
        *markdown_table(header, rows),
        "",
    ]


def _targets_section(doc: dict[str, Any]) -> list[str]:
    rows = [
        (
            pattern_title(r["pattern"]),
            r["backend"],
            r["concurrency"],
            f"{r['ratio']:.2f}",
            f"{r['http_floor_share']:.2f}",
            f"{r['api_share_of_http_floor']:.2f}",
            " / ".join(
                f"{r['cpu_ms'][layer]:.2f}"
                for layer in ("dynamodb_calls", "http_hop", "framework_and_app")
            ),
            f"{r['cpu_ratio']:.2f}",
            f">= {r['target']}",
            "yes" if r["met"] else "**no**",
        )
        for r in doc["ratios"]
    ]
    header = (
        "pattern", "backend", "conc.", "API/floor req/s", "HTTP floor/floor", "API/HTTP floor",
        "CPU ms: DynamoDB calls / HTTP hop / FastAPI + app", "floor/API CPU", "target", "met",
    )  # fmt: skip
    return [
        "## API throughput as a share of the raw-aioboto3 floor",
        "",
        "`met` judges the measured throughput ratio. `HTTP floor/floor` is the ceiling of any "
        "service on uvicorn making these calls: where it is under the target, no framework or "
        "code change can meet it. `API/HTTP floor` is the share of that ceiling FastAPI and our "
        "code keep. The CPU columns split a request's CPU into its layers (per request, in "
        "ms); `floor/API CPU` is the throughput ratio to expect when both are CPU-bound, and "
        "much less sensitive to a busy neighbour.",
        "",
        *markdown_table(header, rows),
        "",
    ]


def _capacity_section(doc: dict[str, Any]) -> list[str]:
    if not doc["capacity"]:
        return []  # only patterns without capacity rows (edits, deletes) were run
    rows = [
        (
            pattern_title(f["pattern"]),
            f["design"],
            _units(f["read"]),
            _units(f["write"]),
            f"{f['total_read']:.2f}",
            f"{f['total_write']:.2f}",
            f["note"],
        )
        for f in doc["capacity"]
    ]
    header = ("pattern", "design", "RCU by target", "WCU by target", "RCU", "WCU", "note")
    return [
        "## Capacity units per request",
        "",
        "Computed from the seeded items' sizes by DynamoDB's rules (bench/item_size.py, "
        "bench/capacity_model.py); `measured` rows are the backend's ConsumedCapacity.",
        "",
        *markdown_table(header, rows),
        "",
    ]


def _profile_budget(profile: dict[str, Any], doc: dict[str, Any], cpu_us: float) -> list[str]:
    """What 0.7 of the floor leaves for everything but the DynamoDB client, what of it the
    code we do not write takes (framework, server, loop, stdlib), and what that leaves ours."""
    floors = [
        m
        for m in doc["measurements"]
        if m["mode"] == "floor"
        and m["pattern"] == profile["pattern"]
        and m["concurrency"] == profile["concurrency"]
    ]
    layers = profile.get("layers", {})
    if not floors or not layers:
        return []
    floor_us = floors[0]["cpu_per_1k_requests"].get("driver", 0.0) * 1000
    # The floor has a client and an event loop too: both count as the calls' side here, so
    # the loop's share of HTTP is not held against the framework.
    calls_us = cpu_us * sum(layers.get(name, 0.0) for name in (DYNAMODB_CLIENT, EVENT_LOOP))
    budget_us = floor_us / FLOOR_SHARE_TARGET - calls_us
    ours_us = layers.get(APP_LAYER, 0.0) * cpu_us
    theirs_us = cpu_us - calls_us - ours_us
    left_us = budget_us - theirs_us
    return [
        f"At {FLOOR_SHARE_TARGET} of the floor (the calls alone: {floor_us:.0f} us of CPU a "
        f"request), everything but the DynamoDB client and the event loop may take "
        f"{budget_us:.0f} us a request. The code we do not write (FastAPI, Starlette, "
        f"Pydantic, uvicorn, the standard library) takes {theirs_us:.0f} us of it, "
        + (
            f"which leaves our code {left_us:.0f} us; it takes {ours_us:.0f} us."
            if left_us > 0
            else f"more than all of it: not even without our code ({ours_us:.0f} us)."
        ),
        "",
    ]


def _profile_section(profile: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    packages = sorted(profile["by_package_self"].items(), key=lambda item: -item[1])[:12]
    functions = profile["top_self"][:12]
    [measured] = [
        m
        for m in doc["measurements"]
        if m["mode"] == "api"
        and m["pattern"] == profile["pattern"]
        and m["concurrency"] == profile["concurrency"]
    ]
    cpu_us = measured["cpu_per_1k_requests"].get("service", 0.0) * 1000
    layers = profile.get("layers", {})
    return [
        f"## Service profile: {pattern_title(profile['pattern'])}, "
        f"concurrency {profile['concurrency']}",
        "",
        *_profile_budget(profile, doc, cpu_us),
        f"py-spy, {profile['samples']} samples of the service process during the level's last "
        f"round, which spent {cpu_us:.0f} us of CPU a request. By layer (the innermost frame's "
        "package; a stack with any DynamoDB client frame is the client's):",
        "",
        *markdown_table(
            ("layer", "share", "us a request"),
            ((name, f"{share:.1%}", f"{share * cpu_us:.0f}") for name, share in layers.items()),
        ),
        "",
        "Hot paths (share of samples whose stack includes them):",
        "",
        *markdown_table(
            ("hot path", "share"), ((f"`{n}`", f"{s:.1%}") for n, s in profile["hot_paths"].items())
        ),
        "",
        "Self time by top-level package:",
        "",
        *markdown_table(("package", "share"), ((name, f"{share:.1%}") for name, share in packages)),
        "",
        *markdown_table(
            ("function (self time)", "share"), ((f"`{n}`", f"{s:.1%}") for n, s in functions)
        ),
        "",
    ]


def markdown(doc: dict[str, Any]) -> str:
    machine = doc["machine"]
    load = machine["load_average_at_start"][0]
    backends = ", ".join(f"{b['backend']} {b['backend_version']}" for b in doc["phases"])
    native = ", ".join(sorted({n for b in doc["phases"] for n in b["service_native_modules"]}))
    lines = [
        f"# Benchmark run {doc['run_id']}",
        "",
        *([f"**{doc['label']}**", ""] if doc["label"] else []),
        f"Command: `{doc['command']}` ({doc['elapsed_seconds']:.0f} s).",
        f"Machine: {machine['cpu_model']}, {machine['logical_cores']} logical cores, "
        f"Python {machine['python']}, load average at start {load:.2f}.",
        f"Backends: {backends}. Each row names the backend its figures came from."
        + (
            f" Every measured target reached the backend through bench/latency_proxy.py, "
            f"which adds {latency:g} ms to each round trip."
            if (latency := doc["options"].get("ddb_latency_ms"))
            else ""
        ),
        "",
        f"Service: {doc['service']['description']} Native modules loaded: {native}."
        + (f" Extra settings: `{extra}`." if (extra := doc["service"]["extra_settings"]) else ""),
        f"Load generator: {doc['load_generator']}",
        "",
        *_throughput_section(doc),
        *_targets_section(doc),
        *_capacity_section(doc),
        *[line for profile in doc["profiles"] for line in _profile_section(profile, doc)],
    ]
    return "\n".join(lines)
