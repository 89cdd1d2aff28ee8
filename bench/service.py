"""The service under test, started the production way (``python -m app.serve``) in its own process.

Production settings apart from three, each forced by running offline on one machine: the
DynamoDB endpoint is the local backend; auth is the local issuer (Cognito needs AWS; its
RS256 tokens go through the same verifier, so the per-request auth cost is the same); and the
per-user rate limits are raised out of reach, so the limiter still does its bookkeeping on
every request but a benchmark's few users never get 429. Logs at WARNING (no access lines),
no SIGTERM drain (no load balancer to drain from).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.processes import child_environment, free_port, stop, wait_until_answering

UNREACHABLE_RATE_LIMIT = "1000000/minute"
NATIVE_SPEEDUPS = ("uvloop", "httptools")
"""What uvicorn's "auto" loop and HTTP choices should pick; recorded from the live process."""


@dataclass(frozen=True, slots=True)
class Service:
    """One or more service processes, each on its own port, as instances behind a balancer."""

    host: str
    ports: tuple[int, ...]
    pids: tuple[int, ...]
    native: tuple[str, ...]
    """Which of NATIVE_SPEEDUPS the running processes have loaded."""

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(f"http://{self.host}:{port}" for port in self.ports)


def service_environment(
    endpoint: str, table_name: str, state_dir: Path, overrides: Mapping[str, str]
) -> dict[str, str]:
    return child_environment(
        {
            "CRUDDUR_DDB_ENDPOINT_URL": endpoint,
            "CRUDDUR_TABLE_NAME": table_name,
            "CRUDDUR_AUTH_MODE": "local",
            "CRUDDUR_LOCAL_STATE_DIR": str(state_dir),
            "CRUDDUR_LOG_LEVEL": "WARNING",
            "CRUDDUR_RATE_LIMIT_SENDS": UNREACHABLE_RATE_LIMIT,
            "CRUDDUR_RATE_LIMIT_READS": UNREACHABLE_RATE_LIMIT,
            "CRUDDUR_SHUTDOWN_DRAIN_SECONDS": "0",
            # Local servers ignore credentials, but botocore will not sign without some.
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            **overrides,
        }
    )


def native_modules(pid: int) -> tuple[str, ...]:
    mapped = " ".join(region.path for region in psutil.Process(pid).memory_maps())
    return tuple(name for name in NATIVE_SPEEDUPS if f"/{name}/" in mapped)


@contextmanager
def running_service(
    endpoint: str,
    table_name: str,
    state_dir: Path,
    log_path: Path,
    overrides: Mapping[str, str],
    processes: int = 1,
) -> Iterator[Service]:
    ports = tuple(free_port() for _ in range(processes))
    started: list[subprocess.Popen[bytes]] = []
    try:
        with log_path.open("ab") as log:
            for port in ports:
                argv = [sys.executable, "-m", "app.serve", "--host", "127.0.0.1"]
                started.append(
                    subprocess.Popen(  # noqa: S603 - our interpreter, fixed module
                        [*argv, "--port", str(port)],
                        env=service_environment(endpoint, table_name, state_dir, overrides),
                        # Settings also read ./.env: start where there is none.
                        cwd=state_dir,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        for port, process in zip(ports, started, strict=True):
            wait_until_answering(
                f"http://127.0.0.1:{port}/readyz",
                process,
                accept=lambda answer: answer.status_code == 200,
            )
        pids = tuple(process.pid for process in started)
        yield Service("127.0.0.1", ports, pids, native_modules(pids[0]))
    finally:
        for process in started:
            stop(process)
