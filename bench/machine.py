"""What the figures were measured on: CPU, cores, load, Python, library and backend versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.processes import REPO_ROOT

PACKAGES = (
    "fastapi", "uvicorn", "uvloop", "httptools", "pydantic", "aioboto3", "aiobotocore",
    "botocore", "pyjwt", "cryptography", "moto", "psutil",
)  # fmt: skip


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _command_output(*argv: str) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)  # noqa: S603
    except (subprocess.SubprocessError, OSError):
        return None
    return done.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    status = _command_output("git", "-C", str(REPO_ROOT), "status", "--porcelain")
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "node": _command_output("node", "--version"),
        "packages": {package: _version(package) for package in PACKAGES},
        "git_commit": _command_output("git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }
