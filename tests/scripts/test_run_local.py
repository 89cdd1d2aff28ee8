"""``make run`` (scripts.run_local) as a person uses it: a banner and readable logs on a terminal,
JSON lines elsewhere, and Ctrl-C stops everything cleanly, the embedded server last."""

from __future__ import annotations

import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from deploy.build_lambda import REPO

pytestmark = [pytest.mark.transactions, pytest.mark.streams]  # the embedded server's own


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunLocal:
    process: subprocess.Popen[bytes]
    api: str
    ddb_port: int
    chunks: list[bytes] = field(default_factory=list)

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


def _drain(stream: int, chunks: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(stream, 65536)
        except OSError:  # the pty's other side closed
            return
        if not chunk:
            return
        chunks.append(chunk)


@contextmanager
def run_local(tmp_path: Path, *, terminal: bool) -> Iterator[RunLocal]:
    """run_local in its own process group, as a shell runs a foreground job; output collected.

    With ``terminal``, stderr is a pseudo-terminal, as in a developer's shell.
    """
    api_port, ddb_port = _free_port(), _free_port()
    reader, writer = pty.openpty() if terminal else os.pipe()
    environment = {
        "PATH": os.environ["PATH"],
        "CRUDDUR_LOCAL_STATE_DIR": str(tmp_path / "state"),
        "CRUDDUR_TABLE_NAME": "run-local-test",
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            *(sys.executable, "-m", "scripts.run_local"),
            *("--port", str(api_port), "--ddb-port", str(ddb_port)),
        ],
        cwd=REPO,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=writer,
        stderr=writer,
        start_new_session=True,
    )
    os.close(writer)
    running = RunLocal(process, f"http://127.0.0.1:{api_port}", ddb_port)
    drain = threading.Thread(target=_drain, args=(reader, running.chunks), daemon=True)
    drain.start()
    descendants = psutil.Process(process.pid)
    try:
        yield running
    finally:
        try:
            leftovers = [child.pid for child in descendants.children(recursive=True)]
        except psutil.NoSuchProcess:  # exited, and stopped its children itself
            leftovers = []
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for pid in leftovers:
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)
        drain.join(timeout=5)
        os.close(reader)


def wait_until_ready(running: RunLocal) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert running.process.poll() is None, running.output
        try:
            if httpx.get(f"{running.api}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, running.output
        time.sleep(0.2)


def ctrl_c_stops_everything_cleanly(running: RunLocal) -> None:
    """Ctrl-C in a terminal signals the whole foreground process group."""
    os.killpg(running.process.pid, signal.SIGINT)
    assert running.process.wait(timeout=60) == 0, running.output
    assert "Traceback" not in running.output
    with socket.socket() as probe:  # the embedded server is gone too
        assert probe.connect_ex(("127.0.0.1", running.ddb_port)) != 0


def test_on_a_terminal_a_banner_readable_logs_and_a_clean_ctrl_c(tmp_path: Path) -> None:
    with run_local(tmp_path, terminal=True) as running:
        wait_until_ready(running)
        httpx.get(f"{running.api}/livez", timeout=5)
        ctrl_c_stops_everything_cleanly(running)
    output = running.output
    assert f"web client    {running.api}/" in output
    assert f"API explorer  {running.api}/docs" in output
    assert "andrewbrown, bayko" in output
    assert f"curl -s -X POST {running.api}/api/dev/tokens" in output
    assert "app.access: request method=GET path=/livez status=200" in output
    assert '{"time"' not in output
    assert "Traceback" not in (tmp_path / "state" / "moto.log").read_text()


def test_off_a_terminal_json_lines_and_a_clean_ctrl_c(tmp_path: Path) -> None:
    with run_local(tmp_path, terminal=False) as running:
        wait_until_ready(running)
        ctrl_c_stops_everything_cleanly(running)
    lines = [line for line in running.output.splitlines() if line.strip()]
    assert lines
    assert all(line.startswith("{") for line in lines), running.output
    assert "API explorer" not in running.output
    assert '"message": "serving api=' in running.output
