"""Child processes of the benchmark: free ports, readiness, a clean environment, stopping."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
_INHERITED_PREFIXES = ("CRUDDUR_", "AWS_")


def free_port() -> int:
    """A port that was free a moment ago (dynalite cannot pick one itself: ``--port 0`` fails)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment minus any CRUDDUR_*/AWS_* settings, plus ``extra``.

    A developer's own settings or real AWS credentials must never leak into a benchmark.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_INHERITED_PREFIXES)
    }
    return {**environment, "PYTHONPATH": str(REPO_ROOT), **extra}


def wait_until_answering(
    url: str, process: subprocess.Popen[bytes], accept: Callable[[httpx.Response], bool]
) -> None:
    """Poll ``url`` until ``accept`` likes the answer; fail fast if the process dies."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            if accept(httpx.get(url, timeout=1.0)):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {STARTUP_TIMEOUT_SECONDS:.0f} s")


def stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
