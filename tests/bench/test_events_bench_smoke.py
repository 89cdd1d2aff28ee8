"""A quick run of the events benchmark: both topologies run and report well-formed figures.

No timing is asserted: only that every figure exists and no event went missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.processes import REPO_ROOT


def test_a_quick_events_run_reports_every_figure(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.events", "--quick", "--out", str(tmp_path)]
    subprocess.run(command, cwd=REPO_ROOT, check=True, timeout=600)  # noqa: S603

    [result_file] = tmp_path.glob("events-*.json")
    doc = json.loads(result_file.read_text())
    assert [result["topology"] for result in doc["results"]] == ["embedded", "redis"]
    for result in doc["results"]:
        for round_ in result["rounds"]:
            for row in round_["latency"]:
                assert (row["errors"], row["missing_events"]) == (0, 0)
                assert set(row["latency_ms"]) == {"p50", "p95", "p99", "max", "mean"}
        streams = result["streams"]
        assert streams["idle_streams"] == doc["plan"]["idle_streams"]
        assert streams["fanout_streams_complete"] == streams["idle_streams"]
    assert (tmp_path / "events-latest.md").read_text().startswith("# Events benchmark")
