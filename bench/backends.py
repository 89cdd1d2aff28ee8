"""The DynamoDB-compatible servers the benchmark runs against: dynalite and moto.

dynalite (npm, pinned in package.json) is fast and close to DynamoDB on reads, but has no
transactions; moto (our serialized embedded launcher) has them, so the paths that need
TransactWriteItems run there. Every figure in the results names the backend it came from.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil

from bench.processes import REPO_ROOT, free_port, stop, wait_until_answering
from scripts.embedded import embedded_dynamodb

BackendName = Literal["dynalite", "moto"]
DYNALITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "dynalite"
DYNALITE_PACKAGE = REPO_ROOT / "node_modules" / "dynalite" / "package.json"


@dataclass(frozen=True, slots=True)
class Backend:
    name: BackendName
    endpoint: str
    pid: int
    version: str


def node_tools_present() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def ensure_dynalite_installed() -> None:
    """``npm ci`` from package-lock.json when node_modules lacks dynalite."""
    if DYNALITE_BIN.exists():
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],  # noqa: S607 - npm from PATH, like a developer
        cwd=REPO_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def dynalite_version() -> str:
    return str(json.loads(DYNALITE_PACKAGE.read_text())["version"])


def moto_version() -> str:
    return importlib.metadata.version("moto")


@contextmanager
def dynalite(log_path: Path) -> Iterator[Backend]:
    """dynalite in memory on a free loopback port, tables ACTIVE at once."""
    ensure_dynalite_installed()
    port = free_port()
    argv = [str(DYNALITE_BIN), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    endpoint = f"http://127.0.0.1:{port}"
    try:
        # Any HTTP answer (it refuses unsigned requests with a 400) means it is serving.
        wait_until_answering(endpoint, process, accept=lambda _: True)
        yield Backend("dynalite", endpoint, process.pid, dynalite_version())
    finally:
        stop(process)


def _embedded_server_pid(port: int) -> int:
    for child in psutil.Process().children():
        command = child.cmdline()
        if "scripts.embedded" in command and str(port) in command:
            return child.pid
    raise RuntimeError("cannot find the embedded DynamoDB process")


@contextmanager
def moto(log_path: Path) -> Iterator[Backend]:
    """moto behind our serialized launcher (one request at a time, as the tests use it)."""
    port = free_port()
    with embedded_dynamodb(port, log_path) as endpoint:
        yield Backend("moto", endpoint, _embedded_server_pid(port), moto_version())


@contextmanager
def backend(name: BackendName, log_dir: Path) -> Iterator[Backend]:
    starter = dynalite if name == "dynalite" else moto
    with starter(log_dir / f"{name}.log") as started:
        yield started
