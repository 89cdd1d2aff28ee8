"""The orchestrator's handle on the load-generator process (bench/driver.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from bench.closed_loop import LevelResult
from bench.driver import DriverSpec
from bench.processes import REPO_ROOT, child_environment, stop


class LoadGenerator:
    """One driver process for a whole phase; ``run`` measures one level in it."""

    def __init__(self, workdir: Path, name: str) -> None:
        self._workdir = workdir
        self._log_path = workdir / f"driver-{name}.log"
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bench.driver"],
                cwd=REPO_ROOT,
                env=child_environment(
                    {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
                ),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    def run(self, spec: DriverSpec, tag: str) -> LevelResult:
        spec_path = self._workdir / f"{tag}.spec.json"
        result_path = self._workdir / f"{tag}.result.json"
        spec_path.write_text(json.dumps(spec))
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(f"{spec_path}\t{result_path}\n")
        self._process.stdin.flush()
        if self._process.stdout.readline().strip() != "done":
            raise RuntimeError(f"the load generator failed on {tag}; see {self._log_path}")
        spec_path.unlink()  # it holds every token
        result: LevelResult = json.loads(result_path.read_text())
        result_path.unlink()
        return result

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()  # end of input: the driver exits
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop(self._process)
