"""``python -m bench.encryption``: message text encryption on against off, in one run.

One embedded moto server (DynamoDB and KMS on one port) holds two copies of one data set: one
stored as sent, one sealed under per-conversation data keys. Two services run side by side
(``CRUDDUR_ENCRYPTION=off`` on the first, ``kms`` on the second) and each pattern (send, read
a page, list) is driven against them in alternating windows, so both see the same minutes of a
shared machine. Reported per pattern and mode: requests/s (moto serves one request at a time,
so it bounds both), the service's CPU per request (psutil, the service process only), and the
KMS calls per 1,000 requests read from the service's own counters (``/api/dev/kms-calls``),
after a warm-up window that fills the data-key cache, i.e. at steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import httpx
import psutil

from app.auth import LocalIssuer
from app.crypto.cipher import NoEncryption, TextCipher
from app.ddb import open_client
from app.domain import Message, User, pair_conversation_uuid
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import MessagesRepository
from app.repositories.schema import create_table
from app.repositories.table import Table
from app.repositories.users import UsersRepository
from app.settings import Settings
from app.state import cipher_of, open_data_keys
from bench.processes import free_port
from bench.service import running_service
from scripts.embedded import embedded_dynamodb
from scripts.kms_key import ensure_key

MODES = ("off", "kms")
PATTERNS = ("send", "read_page", "list")
NAMESPACE = uuid5(NAMESPACE_URL, "https://cruddur.com/bench/encryption")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    pattern: str
    mode: str
    requests: int
    errors: int
    seconds: float
    cpu_seconds: float
    kms_calls: int
    statuses: dict[str, int]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds / max(self.requests, 1) * 1000


def _users(count: int) -> list[User]:
    return [
        User(
            uuid5(NAMESPACE, f"user{i}"), f"bench{i}", f"Bench {i}", str(uuid5(NAMESPACE, f"s{i}"))
        )
        for i in range(count)
    ]


def _pairs(users: list[User], conversations: int) -> list[tuple[User, User]]:
    pairs = [(a, b) for i, a in enumerate(users) for b in users[i + 1 :]]
    return pairs[:conversations]


async def _seed(
    settings: Settings,
    cipher_wanted: bool,
    users: list[User],
    pairs: list[tuple[User, User]],
    per: int,
) -> None:
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        await create_table(client, settings.table_name)
        table = Table(client, settings.table_name)
        cipher: TextCipher = NoEncryption()
        if cipher_wanted:
            cipher = cipher_of(await open_data_keys(settings, stack, table))
        for user in users:
            await UsersRepository(table).create(user)
        messages = MessagesRepository(table, cipher)
        for first, second in pairs:
            group = pair_conversation_uuid(first.uuid, second.uuid)
            stored: list[Message] = []
            for index in range(per):
                sender = (first, second)[index % 2]
                message = Message(
                    uuid5(NAMESPACE, f"{group}:{index}"),
                    group,
                    sender.uuid,
                    sender.handle,
                    sender.display_name,
                    f"message {index} of a benchmark conversation, about as long as a DM " * 2,
                    START + timedelta(seconds=index),
                )
                opens = (first, second) if index == 0 else None
                stored.append(await messages.add(message, new_conversation=opens))
            await ConversationsRepository(table).apply_messages(group, stored)


@dataclass
class _Target:
    url: str
    pid: int


async def _window(
    target: _Target,
    pattern: str,
    mode: str,
    work: list[tuple[str, str]],
    seconds: float,
    concurrency: int,
) -> Window:
    process = psutil.Process(target.pid)
    async with httpx.AsyncClient(base_url=target.url, timeout=30.0) as http:
        before_kms = (await http.get("/api/dev/kms-calls")).json()
        cpu_before = sum(process.cpu_times()[:2])
        started = time.perf_counter()
        deadline = started + seconds
        counts = {"requests": 0, "errors": 0}
        statuses: Counter[str] = Counter()

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                token, group = rng.choice(work)
                headers = {"Authorization": f"Bearer {token}"}
                if pattern == "send":
                    answer = await http.post(
                        "/api/messages",
                        json={
                            "message": "a new message of ordinary length, sent",
                            "message_group_uuid": group,
                        },
                        headers=headers,
                    )
                elif pattern == "read_page":
                    answer = await http.get(f"/api/messages/{group}", headers=headers)
                else:
                    answer = await http.get("/api/message_groups", headers=headers)
                counts["requests"] += 1
                counts["errors"] += answer.status_code != 200
                statuses[str(answer.status_code)] += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        after_kms = (await http.get("/api/dev/kms-calls")).json()
    kms = sum(after_kms[k] - before_kms[k] for k in ("generate_data_key", "decrypt"))
    return Window(
        pattern, mode, counts["requests"], counts["errors"], elapsed, cpu, kms, dict(statuses)
    )


def _summary(windows: list[Window]) -> list[dict[str, object]]:
    rows = []
    for pattern in PATTERNS:
        figures = {}
        for mode in MODES:
            measured = [w for w in windows if w.pattern == pattern and w.mode == mode]
            requests = sum(w.requests for w in measured)
            figures[mode] = {
                "req_per_s_best": max(w.throughput for w in measured),
                "cpu_ms_per_request_median": statistics.median(
                    w.cpu_ms_per_request for w in measured
                ),
                "kms_calls_per_1000": sum(w.kms_calls for w in measured) / requests * 1000,
                "requests": requests,
                "errors": sum(w.errors for w in measured),
            }
        off, kms = figures["off"], figures["kms"]
        rows.append(
            {
                "pattern": pattern,
                **{
                    f"{mode}_{name}": value
                    for mode in MODES
                    for name, value in figures[mode].items()
                },
                "cpu_ratio": kms["cpu_ms_per_request_median"] / off["cpu_ms_per_request_median"],
                "throughput_ratio": kms["req_per_s_best"] / off["req_per_s_best"],
            }
        )
    return rows


_COLUMNS = (
    ("req/s off", "off_req_per_s_best", "{:.0f}"),
    ("req/s kms", "kms_req_per_s_best", "{:.0f}"),
    ("CPU ms/req off", "off_cpu_ms_per_request_median", "{:.2f}"),
    ("CPU ms/req kms", "kms_cpu_ms_per_request_median", "{:.2f}"),
    ("CPU ratio", "cpu_ratio", "{:.2f}x"),
    ("KMS calls / 1,000 req", "kms_kms_calls_per_1000", "{:.2f}"),
    ("errors off", "off_errors", "{}"),
    ("errors kms", "kms_errors", "{}"),
)


def _markdown(rows: list[dict[str, object]]) -> str:
    header = "| pattern | " + " | ".join(title for title, _, _ in _COLUMNS) + " |"
    lines = [header, "|---" * (len(_COLUMNS) + 1) + "|"]
    for row in rows:
        cells = [form.format(row[key]) for _, key, form in _COLUMNS]
        lines.append(f"| {row['pattern']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def _drive(
    targets: dict[str, _Target], work: list[tuple[str, str]], options: argparse.Namespace
) -> list[Window]:
    windows: list[Window] = []
    for pattern in PATTERNS:
        for mode in MODES:  # warm-up: identity and data-key caches, connections; not counted
            await _window(targets[mode], pattern, mode, work, options.warmup, options.concurrency)
        for round_index in range(options.rounds):
            order = MODES if round_index % 2 == 0 else MODES[::-1]
            for mode in order:
                windows.append(
                    await _window(
                        targets[mode], pattern, mode, work, options.seconds, options.concurrency
                    )
                )
    return windows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.encryption", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--conversations", type=int, default=30)
    parser.add_argument("--messages", type=int, default=25, help="per conversation")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measured window")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    options = parser.parse_args(argv)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Absolute: the services run in it, and resolve their state directory from there.
    workdir = options.out.resolve() / "tmp" / f"encryption-{run_id}"
    workdir.mkdir(parents=True, exist_ok=True)
    users = _users(options.users)
    pairs = _pairs(users, options.conversations)
    issuer = LocalIssuer.load_or_create(workdir)
    tokens = {
        u.uuid: issuer.mint_access_token(
            sub=u.cognito_sub or "", username=u.handle, lifetime_seconds=7200
        )
        for u in users
    }
    work = [
        (tokens[member.uuid], str(pair_conversation_uuid(a.uuid, b.uuid)))
        for a, b in pairs
        for member in (a, b)
    ]
    with embedded_dynamodb(free_port(), workdir / "moto.log") as endpoint:
        tables = {mode: f"bench-encryption-{mode}" for mode in MODES}
        for mode in MODES:
            settings = Settings(
                ddb_endpoint_url=endpoint,
                table_name=tables[mode],
                encryption=mode,
                _env_file=None,
            )
            if mode == "kms":
                asyncio.run(ensure_key(settings))
            asyncio.run(_seed(settings, mode == "kms", users, pairs, options.messages))
        with (
            running_service(
                endpoint, tables["off"], workdir, workdir / "off.log", {"CRUDDUR_ENCRYPTION": "off"}
            ) as off,
            running_service(
                endpoint, tables["kms"], workdir, workdir / "kms.log", {"CRUDDUR_ENCRYPTION": "kms"}
            ) as kms,
        ):
            targets = {
                "off": _Target(off.urls[0], off.pids[0]),
                "kms": _Target(kms.urls[0], kms.pids[0]),
            }
            windows = asyncio.run(_drive(targets, work, options))
    rows = _summary(windows)
    document = {
        "run_id": run_id,
        "command": "python -m bench.encryption " + " ".join(argv or []),
        "options": {k: str(v) for k, v in vars(options).items()},
        "machine_cpus": psutil.cpu_count(),
        "load_average": list(psutil.getloadavg()),
        "summary": rows,
        "windows": [asdict(w) for w in windows],
    }
    (options.out / f"encryption-{run_id}.json").write_text(json.dumps(document, indent=2))
    print(_markdown(rows))
    print(f"load average at the end: {psutil.getloadavg()} on {psutil.cpu_count()} CPUs")
    failed = {status for window in windows for status in window.statuses if status != "200"}
    if failed:
        raise SystemExit(f"bench.encryption: requests failed ({sorted(failed)}): figures invalid")


if __name__ == "__main__":
    main()
