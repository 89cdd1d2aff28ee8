"""Sampling the service with py-spy during one measured level, and where its CPU went.

py-spy attaches to the running uvicorn process from outside (no code change, ~no overhead
with ``--nonblocking``) and records collapsed stacks; we summarize them by package (self
time) and by function (self and inclusive), so the hot paths show as numbers, not just a
flame graph.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TypedDict

SAMPLING_RATE_HZ = 250
TOP_FUNCTIONS = 25
HOT_PATHS = {
    "DynamoDB calls (aiobotocore, all inclusive)": ("_make_api_call (",),
    "  of which SigV4 signing": ("SigV4Auth.add_auth (",),
    "  of which response parsing": ("botocore/parsers.py",),
    "thread-pool hand-offs": ("to_thread", "run_in_threadpool", "Thread._bootstrap ("),
    "rate limiter": ("UserRateLimiter.hit (",),
    "access-token verification": ("AccessTokenVerifier.verify (",),
    "FastAPI dependency solving": ("solve_dependencies (",),
    "FastAPI response validation and JSON": ("serialize_response (",),
}
"""Stacks containing any of these frame fragments, as a share of all samples (inclusive)."""

DYNAMODB_CLIENT = "DynamoDB client (aiobotocore, botocore, aiohttp)"
APP_LAYER = "app (ours)"
EVENT_LOOP = "event loop (uvloop, asyncio)"
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("HTTP server (uvicorn, httptools)", frozenset({"uvicorn", "httptools"})),
    ("framework (FastAPI, Starlette, Pydantic)", frozenset({"fastapi", "starlette", "pydantic"})),
    (APP_LAYER, frozenset({"app (ours)"})),
    (EVENT_LOOP, frozenset({"asyncio", "uvloop"})),
)
"""Where a sample's CPU went, by its innermost frame's package; a sample with any DynamoDB
client frame on its stack is the client's, whatever its innermost frame (JSON parsing, hmac)."""
_CLIENT_PACKAGES = frozenset({"aiobotocore", "botocore", "aiohttp", "yarl", "multidict"})
OTHER_LAYER = "other (standard library: uuid, json, logging...)"


class Profile(TypedDict):
    pattern: str
    concurrency: int
    samples: int
    by_package_self: dict[str, float]
    """Share of samples whose innermost frame is in that package."""
    top_self: list[tuple[str, float]]
    top_inclusive: list[tuple[str, float]]
    hot_paths: dict[str, float]
    layers: dict[str, float]
    """Share of samples per layer (``layer_of``), in the order of ``LAYERS``, client first."""
    raw_path: str


def py_spy_path() -> str | None:
    beside_python = Path(sys.executable).parent / "py-spy"
    return str(beside_python) if beside_python.exists() else shutil.which("py-spy")


def start_recording(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    executable = py_spy_path()
    if executable is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    argv = [executable, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    argv += ["--rate", str(SAMPLING_RATE_HZ), "--format", "raw", "--nonblocking"]
    argv += ["--output", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def _package(frame: str) -> str:
    """``send (uvicorn/protocols/http/httptools_impl.py:524)`` -> ``uvicorn``.

    py-spy names files relative to their import root, so the first part is the top-level
    package (or the stdlib module).
    """
    location = frame[frame.rfind("(") + 1 : frame.rfind(":")]
    top = location.split("/", 1)[0].removesuffix(".py")
    return "app (ours)" if top == "app" else top


def layer_of(frames: list[str]) -> str:
    if any(_package(frame) in _CLIENT_PACKAGES for frame in frames):
        return DYNAMODB_CLIENT
    innermost = _package(frames[-1])
    return next((name for name, packages in LAYERS if innermost in packages), OTHER_LAYER)


def summarize(raw: str, pattern: str, concurrency: int, raw_path: Path) -> Profile:
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    hot: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_counts[frames[-1]] += count
        packages[_package(frames[-1])] += count
        layers[layer_of(frames)] += count
        for frame in set(frames):
            inclusive[frame] += count
        for name, fragments in HOT_PATHS.items():
            if any(fragment in stack for fragment in fragments):
                hot[name] += count

    def shares(counter: Counter[str], limit: int | None) -> list[tuple[str, float]]:
        return [(name, count / total) for name, count in counter.most_common(limit)]

    return Profile(
        pattern=pattern,
        concurrency=concurrency,
        samples=total,
        by_package_self=dict(shares(packages, None)) if total else {},
        top_self=shares(self_counts, TOP_FUNCTIONS) if total else [],
        top_inclusive=shares(inclusive, TOP_FUNCTIONS) if total else [],
        hot_paths={name: hot[name] / total for name in HOT_PATHS} if total else {},
        layers={
            name: layers[name] / total
            for name in (DYNAMODB_CLIENT, *(name for name, _ in LAYERS), OTHER_LAYER)
        }
        if total
        else {},
        raw_path=str(raw_path),
    )


def finish_recording(
    recorder: subprocess.Popen[bytes], output: Path, pattern: str, concurrency: int
) -> Profile:
    _, errors = recorder.communicate(timeout=60)
    if recorder.returncode != 0 or not output.exists():
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace').strip()}")
    return summarize(output.read_text(), pattern, concurrency, output)
