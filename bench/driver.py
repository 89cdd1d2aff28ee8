"""The load generator process: ``python -m bench.driver``, one per phase.

Runs apart from the service (and from the orchestrator), on uvloop, so its own CPU is
measured separately and it competes with the service only as a client would. It stays up
for the whole phase (its start-up costs seconds on a busy machine) and runs one level per
line on stdin: ``SPEC.json<TAB>RESULT.json``, answering ``done`` on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal, TypedDict

import uvloop

from bench.closed_loop import CpuWatch, LevelResult, RequestFeed, Target, run_level
from bench.floor_target import FloorTarget
from bench.http_target import HttpTarget
from bench.patterns import BY_NAME
from bench.workload import Descriptor, UserEntry


class DriverSpec(TypedDict):
    mode: Literal["api", "http_floor", "floor"]
    pattern: str
    concurrency: int
    warmup_seconds: float
    duration_seconds: float
    watch: dict[str, list[int]]
    """Processes whose CPU time is read at the window's edges, summed by role."""
    users: list[UserEntry]
    tokens: list[str]
    requests: list[Descriptor]
    service_host: str
    service_ports: list[int]
    """One per service process; connections are spread over them round-robin."""
    ddb_endpoint: str
    table_name: str
    idempotency_prefix: str


def build_target(spec: DriverSpec) -> Target:
    pattern = BY_NAME[spec["pattern"]]
    if spec["mode"] in ("api", "http_floor"):
        return HttpTarget(
            spec["service_host"],
            spec["service_ports"],
            pattern,
            spec["requests"],
            spec["tokens"],
            spec["idempotency_prefix"],
            http_floor=spec["mode"] == "http_floor",
        )
    return FloorTarget(
        spec["ddb_endpoint"],
        spec["table_name"],
        pattern,
        spec["requests"],
        spec["users"],
        spec["idempotency_prefix"],
    )


async def drive(spec: DriverSpec) -> LevelResult:
    pattern = BY_NAME[spec["pattern"]]
    feed = RequestFeed(len(spec["requests"]), cycle=not pattern.fresh_targets)
    return await run_level(
        build_target(spec),
        feed,
        spec["concurrency"],
        spec["warmup_seconds"],
        spec["duration_seconds"],
        CpuWatch(spec["watch"]),
    )


def main() -> None:
    for line in sys.stdin:
        spec_path, result_path = line.rstrip("\n").split("\t")
        spec: DriverSpec = json.loads(Path(spec_path).read_text())
        result = uvloop.run(drive(spec))
        Path(result_path).write_text(json.dumps(result))
        print("done", flush=True)


if __name__ == "__main__":
    main()
