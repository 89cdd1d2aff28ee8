"""A tiny end-to-end run of the benchmark harness: it runs, and its results are well-formed.

Quick mode, one concurrency level, one pattern per kind of path: a read, a send, an edit and a
delete (of messages written before each run) on the main backend (dynalite when node/npm
exist, else moto) and the transactional path on moto. No
timing is asserted: only that every figure exists, is a number and is not negative.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.backends import node_tools_present
from bench.processes import REPO_ROOT

PRICED = ("list_conversations", "send_message", "message_handle_new")
PATTERNS = (*PRICED, "edit_message", "delete_message")
"""Edits and deletes have no capacity rows of their own (the ``_total`` rows price them)."""
LEVEL = 2
MEASUREMENT_KEYS = {
    "pattern", "backend", "mode", "concurrency", "requests", "errors", "error_kinds",
    "window_seconds", "throughput_rps", "latency_ms", "cpu_seconds", "cpu_per_1k_requests",
    "exhausted",
}  # fmt: skip


def _non_negative_numbers(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_non_negative_numbers(v) for v in value.values())
    return isinstance(value, int | float) and value >= 0


def test_a_quick_run_writes_well_formed_json_markdown_and_plot(tmp_path: Path) -> None:
    main_backend = "dynalite" if node_tools_present() else "moto"
    command = [sys.executable, "-m", "bench.run", "--quick", "--backend", main_backend]
    command += [
        "--concurrency",
        str(LEVEL),
        "--patterns",
        ",".join(PATTERNS),
        "--out",
        str(tmp_path),
    ]
    subprocess.run(command, cwd=REPO_ROOT, check=True, timeout=900)  # noqa: S603

    [result_file] = tmp_path.glob("run-*.json")
    doc = json.loads(result_file.read_text())
    assert doc["schema_version"] == 1
    assert {"cpu_model", "logical_cores", "python", "packages"} <= set(doc["machine"])
    assert {phase["backend"] for phase in doc["phases"]} == {main_backend, "moto"}
    assert all(phase["backend_version"] for phase in doc["phases"])

    measured = {(m["pattern"], m["mode"]): m for m in doc["measurements"]}
    modes = ("api", "http_floor", "floor")
    assert set(measured) == {(pattern, mode) for pattern in PATTERNS for mode in modes}
    for m in doc["measurements"]:
        assert set(m) >= MEASUREMENT_KEYS
        assert m["concurrency"] == LEVEL
        assert m["backend"] == ("moto" if m["pattern"] == "message_handle_new" else main_backend)
        assert set(m["latency_ms"]) == {"p50", "p95", "p99", "max", "mean"}
        for key in ("requests", "errors", "window_seconds", "throughput_rps", "latency_ms",
                    "cpu_seconds", "cpu_per_1k_requests"):  # fmt: skip
            assert _non_negative_numbers(m[key]), (key, m[key])
        assert m["requests"] > m["errors"], m  # something got through
    assert "service" in measured["list_conversations", "api"]["cpu_seconds"]
    assert "driver" in measured["list_conversations", "floor"]["cpu_seconds"]
    assert "service" in measured["list_conversations", "http_floor"]["cpu_seconds"]

    assert {r["pattern"] for r in doc["ratios"]} == set(PATTERNS)
    for ratio in doc["ratios"]:
        for key in ("ratio", "http_floor_share", "api_share_of_http_floor", "cpu_ratio"):
            assert _non_negative_numbers(ratio[key]), (key, ratio)
        # The layers add up to the service's CPU per request.
        api = measured[ratio["pattern"], "api"]
        assert sum(ratio["cpu_ms"].values()) == pytest.approx(api["cpu_per_1k_requests"]["service"])
    designs = {(f["pattern"], f["design"]) for f in doc["capacity"]}
    for pattern in PRICED:
        assert {(pattern, "ours"), (pattern, "reference")} <= designs
    assert all(_non_negative_numbers(f["read"]) and _non_negative_numbers(f["write"])
               for f in doc["capacity"])  # fmt: skip

    report = (tmp_path / "latest.md").read_text()
    assert "| pattern |" in report
    assert "B: list my conversations" in report
    assert (tmp_path / "latest.png").read_bytes().startswith(b"\x89PNG")

    comparison = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.compare", str(tmp_path), str(result_file)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    compared = [
        line for line in comparison.splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert len(compared) == 1 + len(PATTERNS)  # the header, then one row per pattern and level
    for ratio in doc["ratios"]:
        figure = f"{ratio['ratio']:.2f}"
        assert any(figure in row and f"| {LEVEL} |" in row for row in compared), ratio


def test_several_service_processes_share_the_load_and_their_cpu_is_summed(tmp_path: Path) -> None:
    main_backend = "dynalite" if node_tools_present() else "moto"
    command = [sys.executable, "-m", "bench.run", "--quick", "--backend", main_backend]
    command += ["--concurrency", str(LEVEL), "--patterns", "list_conversations"]
    command += ["--service-processes", "2", "--out", str(tmp_path)]
    subprocess.run(command, cwd=REPO_ROOT, check=True, timeout=900)  # noqa: S603

    [result_file] = tmp_path.glob("run-*.json")
    doc = json.loads(result_file.read_text())
    assert doc["service"]["processes"] == 2
    [api] = [m for m in doc["measurements"] if m["mode"] == "api"]
    assert api["requests"] > api["errors"] == 0  # both processes answered: none refused
    assert api["cpu_seconds"]["service"] > 0
    assert "2 processes" in (tmp_path / "latest.md").read_text()
