"""``python -m bench.run [--quick] [options]``: the whole benchmark in one command.

1. The non-transactional patterns (list, read page, send, message an existing handle, edit,
   delete) run on dynalite with the full data set; the transactional ones (message a new
   handle, send with an Idempotency-Key) on moto with a small one, since dynalite has no
   TransactWriteItems.
2. Each phase seeds its backend, starts the service (uvicorn subprocess) and, for every pattern
   and concurrency level, measures the API and then its raw-aioboto3 floor in load-generator
   processes of their own (edits and deletes: each run's target messages written just before).
3. Capacity units per request are computed from the items (ours and the journal's reference
   design) and, on dynalite, read back from ConsumedCapacity.
4. Results: ``run-<id>.json`` (one per run), ``latest.md`` and ``latest.png`` in ``--out``.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.backends import BackendName, node_tools_present
from bench.machine import machine_info
from bench.options import BenchOptions, parse_options
from bench.phase import PhaseOutcome, run_phase
from bench.plot import plot
from bench.report import markdown
from bench.results import document, floor_ratios
from bench.service import UNREACHABLE_RATE_LIMIT

LOAD_GENERATOR = (
    "bench/driver.py: Python, uvloop, one keep-alive HTTP/1.1 connection per concurrent "
    "worker, requests encoded up front, responses parsed with httptools; closed loop; exact "
    "percentiles from every raw latency. Its own CPU is the `load-gen CPU` column."
)


def _main_backend(options: BenchOptions) -> BackendName:
    if options.backend == "auto":
        return "dynalite" if node_tools_present() else "moto"
    if options.backend == "dynalite" and not node_tools_present():
        raise SystemExit("--backend dynalite needs node and npm on PATH")
    return options.backend


def _phases(options: BenchOptions, workdir: Path) -> list[PhaseOutcome]:
    main_patterns = tuple(p for p in options.patterns if not p.needs_transactions)
    transactional = tuple(p for p in options.patterns if p.needs_transactions)
    outcomes = []
    if main_patterns:
        backend = _main_backend(options)
        outcomes.append(run_phase(backend, main_patterns, options.scale, options, workdir))
    if transactional:
        outcomes.append(run_phase("moto", transactional, options.moto_scale, options, workdir))
    return outcomes


def run(options: BenchOptions) -> Path:
    """Run everything; returns the JSON file written."""
    started_at = datetime.now(UTC)
    run_id = started_at.strftime("%Y%m%dT%H%M%SZ")
    started = time.perf_counter()
    workdir = options.out_dir / "tmp" / run_id  # logs, issuer key, driver specs
    workdir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    outcomes = _phases(options, workdir)
    measurements = [m for outcome in outcomes for m in outcome.measurements]
    doc = document(
        run_id=run_id,
        label=options.label,
        started_at=started_at.isoformat(),
        elapsed_seconds=time.perf_counter() - started,
        command=shlex.join(["python", "-m", "bench.run", *options.argv]),
        machine=machine,
        options={
            "quick": options.quick,
            "concurrency": list(options.concurrency),
            "warmup_seconds": options.warmup_seconds,
            "duration_seconds": options.duration_seconds,
            "rounds": options.rounds,
            "seed": options.seed,
            "ddb_latency_ms": options.ddb_latency_ms,
        },
        service={
            "description": "`python -m app.serve` (uvicorn, "
            + (
                "one process"
                if options.service_processes == 1
                else f"{options.service_processes} processes on their own ports, connections "
                "spread round-robin, CPU summed"
            )
            + ", production settings) "
            "except: DynamoDB endpoint = the backend; local auth (the local issuer's RS256 "
            "tokens, same verifier as Cognito, which needs AWS); rate limits raised to "
            f"{UNREACHABLE_RATE_LIMIT} (still evaluated on every request); log level WARNING. "
            "Identity cache warmed with one request per user before measuring.",
            "processes": options.service_processes,
            "extra_settings": options.service_settings,
        },
        load_generator=LOAD_GENERATOR,
        phases=[
            {
                "backend": o.backend,
                "backend_version": o.backend_version,
                "service_native_modules": list(o.service_native),
                "patterns": sorted({m["pattern"] for m in o.measurements}),
                "dataset": o.dataset,
            }
            for o in outcomes
        ],
        measurements=measurements,
        ratios=floor_ratios(measurements),
        capacity=[figure for outcome in outcomes for figure in outcome.capacity],
        profiles=[profile for outcome in outcomes for profile in outcome.profiles],
    )
    options.out_dir.mkdir(parents=True, exist_ok=True)
    json_path = options.out_dir / f"run-{run_id}.json"
    json_path.write_text(json.dumps(doc, indent=2) + "\n")
    (options.out_dir / "latest.md").write_text(markdown(doc) + "\n")
    plot(doc, options.out_dir / "latest.png")
    shutil.rmtree(workdir)  # kept on failure, for its logs
    return json_path


def main(argv: list[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    path = run(options)
    print(f"[bench] wrote {path}, latest.md and latest.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
