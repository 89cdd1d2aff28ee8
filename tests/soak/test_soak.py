"""No-loss soak: concurrent users against the API and the stream worker while DynamoDB fails
now and then; afterwards every acknowledged message is stored exactly once and every inbox
row agrees with the messages and read markers.

Bounded: ``CRUDDUR_SOAK_SECONDS`` of traffic (default 45), then at most ``DRAIN_SECONDS`` for
the worker to catch up. ``CRUDDUR_SOAK_SEED`` and ``CRUDDUR_SOAK_FAULT_RATE`` (per DynamoDB
attempt, default 0.02) reproduce or vary a run; the order of concurrent calls still varies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from app import ddb
from app.crypto.cipher import TextCipher
from app.main import create_app
from app.repositories.schema import create_table, drop_table
from app.repositories.table import Table
from app.settings import Settings
from app.state import AppState, cipher_of
from app.streams import worker as worker_module
from app.streams.checkpoints import CheckpointFile
from tests.conftest import RunningApp, SignedIn
from tests.faults.injector import FaultInjector, FaultKind
from tests.routers.conftest import sign_up
from tests.soak.checks import inbox_problems, message_problems, row_problems, snapshot
from tests.soak.conftest import SOAK_REPORTS
from tests.soak.workload import Workload

if TYPE_CHECKING:
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient

pytestmark = [pytest.mark.streams, pytest.mark.transactions]

SOAK_SECONDS = float(os.environ.get("CRUDDUR_SOAK_SECONDS", "45"))
SOAK_SEED = int(os.environ.get("CRUDDUR_SOAK_SEED", "20261128"))
FAULT_RATE = float(os.environ.get("CRUDDUR_SOAK_FAULT_RATE", "0.02"))
DRAIN_SECONDS = 20.0
USERS = 8
ACTORS_PER_USER = 2
OPENING_RACES = 10

WRITES = frozenset({"PutItem", "UpdateItem", "TransactWriteItems"})


@dataclass
class SoakRig:
    http: httpx.AsyncClient
    table: Table
    """On its own client: the checks see DynamoDB without faults."""
    injector: FaultInjector
    users: list[SignedIn]
    streams: DynamoDBStreamsClient
    checkpoints: Path
    cipher: TextCipher
    """The app's: the checks read message text as the API does."""

    async def drained(self, seconds: float) -> bool:
        """Wait (at most ``seconds``) until the worker has handled every stream record."""
        deadline = time.monotonic() + seconds
        while True:
            if await self.worker_caught_up():
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)

    async def worker_caught_up(self) -> bool:
        """Whether the worker has handled (checkpointed) every record of the stream."""
        description = await self.table.client.describe_table(TableName=self.table.name)
        arn = description["Table"]["LatestStreamArn"]
        [shard] = (await self.streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
        position = CheckpointFile(self.checkpoints).position(arn, shard["ShardId"])
        if position is None:
            return False
        iterator = await self.streams.get_shard_iterator(
            StreamArn=arn,
            ShardId=shard["ShardId"],
            ShardIteratorType="AFTER_SEQUENCE_NUMBER",
            SequenceNumber=position,
        )
        records = await self.streams.get_records(ShardIterator=iterator["ShardIterator"])
        return not records["Records"]


def inject_background_faults(injector: FaultInjector, rate: float) -> None:
    """Each DynamoDB attempt fails with probability ``rate``, in any of these ways."""
    injector.fail(
        None,
        [
            FaultKind.THROTTLED,
            FaultKind.THROTTLING,
            FaultKind.INTERNAL_ERROR,
            FaultKind.CONNECTION_ERROR,
            FaultKind.READ_TIMEOUT,
        ],
        rate=rate,
    )
    # Writes DynamoDB applied but whose answer was lost; transactions cancelled by throttling.
    injector.fail(
        WRITES, [FaultKind.INTERNAL_ERROR, FaultKind.READ_TIMEOUT], after_send=True, rate=rate / 2
    )
    injector.fail("TransactWriteItems", FaultKind.TRANSACTION_THROTTLED, rate=rate / 2)


@pytest_asyncio.fixture
async def rig(
    settings: Settings,
    kms_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[SoakRig]:
    soak_settings = settings.model_copy(
        update={
            "table_name": f"cruddur-soak-{uuid4().hex[:8]}",
            "local_state_dir": tmp_path,
            "rate_limit_enabled": False,
            "stream_poll_interval_seconds": 0.05,
        }
    )
    injector = FaultInjector(seed=SOAK_SEED)

    async def open_hooked_client(*args: Any, **kwargs: Any) -> Any:
        client = await ddb.open_client(*args, **kwargs)
        if client.meta.service_model.service_name == "dynamodb":
            injector.attach(client)
        return client

    monkeypatch.setattr(worker_module, "open_client", open_hooked_client)
    async with AsyncExitStack() as stack:
        table = Table(await ddb.open_client(soak_settings, stack), soak_settings.table_name)
        streams = await ddb.open_client(soak_settings, stack, "dynamodbstreams")
        await create_table(table.client, table.name)
        stack.push_async_callback(drop_table, table.client, table.name)
        application = create_app(soak_settings)
        manager = await stack.enter_async_context(LifespanManager(application))
        state: AppState = manager._state["app_state"]
        running = RunningApp(application, manager.app, state)
        users = [await sign_up(running, table, f"soak_{index}") for index in range(USERS)]
        transport = httpx.ASGITransport(app=manager.app)
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://soak")
        )
        injector.attach(state.ddb)
        stack.push_async_callback(injector.close)

        stop = asyncio.Event()
        worker = asyncio.create_task(worker_module.run_worker(soak_settings, stop))

        async def stop_worker() -> None:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(worker, 10)

        stack.push_async_callback(stop_worker)
        checkpoints = worker_module.checkpoint_path(soak_settings)
        cipher = cipher_of(state.data_keys)
        yield SoakRig(http, table, injector, users, streams, checkpoints, cipher)


def report(
    workload: Workload, injector: FaultInjector, counts: Counter[str], seconds: tuple[float, float]
) -> str:
    ledger = workload.ledger
    acknowledged = sum(1 for send in ledger.sends if send.acknowledged)
    in_worker = injector.injected - ledger.faults_in_requests
    return "\n".join(
        [
            f"soak: {seconds[0]:.0f} s of traffic, {seconds[1]:.1f} s to drain the stream, "
            f"seed {SOAK_SEED}, fault rate {FAULT_RATE}, {len(workload.users)} users",
            f"  sends {len(ledger.sends)}, acknowledged {acknowledged}, verified stored exactly "
            f"once {counts['acknowledged verified']}; unacknowledged: stored "
            f"{counts['unacknowledged stored']}, absent {counts['unacknowledged absent']}; "
            f"first-contact races {ledger.races}",
            f"  requests {sum(ledger.statuses.values())}: {dict(sorted(ledger.statuses.items()))}"
            f"; actions {dict(sorted(ledger.actions.items()))}",
            f"  faults injected {injector.injected}: {ledger.faults_in_requests} in API requests "
            f"({ledger.faults_survived} survived to a 2xx), {in_worker} in the stream worker; "
            f"{injector.absorbed} absorbed by SDK retries",
            f"  by kind {dict(sorted(injector.by_kind().items()))}",
            f"  injected-fault 503s {dict(ledger.fault_503s)}, other 5xx "
            f"{len(ledger.unexplained_5xx)}, unexpected 4xx {len(ledger.unexpected_4xx)}",
        ]
    )


async def test_no_acknowledged_message_is_lost_or_duplicated_under_faults(rig: SoakRig) -> None:
    inject_background_faults(rig.injector, FAULT_RATE)
    workload = Workload(rig.http, rig.users, rig.injector, random.Random(SOAK_SEED))
    started = time.monotonic()

    await workload.run(SOAK_SECONDS, ACTORS_PER_USER, OPENING_RACES)

    traffic = time.monotonic() - started
    rig.injector.heal()
    drained = await rig.drained(DRAIN_SECONDS)
    drain = time.monotonic() - started - traffic
    snap = await snapshot(rig.table, rig.users, rig.cipher)
    lost_or_doubled, counts = message_problems(snap, workload.ledger.sends)
    rows = row_problems(snap)
    inboxes, inbox_rows = await inbox_problems(rig.http, rig.users, snap)
    conversations = sum(1 for stored in snap.messages.values() if stored)
    SOAK_REPORTS.append(
        report(workload, rig.injector, counts, (traffic, drain))
        + f"\n  conversations {conversations}, inbox rows checked {inbox_rows}"
    )

    assert drained, f"the stream worker did not catch up within {DRAIN_SECONDS} s"
    assert workload.ledger.unexplained_5xx == []
    assert workload.ledger.unexpected_4xx == []
    assert lost_or_doubled == []
    assert rows == []
    assert inboxes == []
    assert counts["acknowledged verified"] > 0
    assert rig.injector.injected > 0
