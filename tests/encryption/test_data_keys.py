"""Data keys against the embedded server's KMS: one per conversation and epoch, cached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from app.crypto.binding import Binding
from app.crypto.data_keys import DataKeyPolicy, DataKeys, encryption_context
from app.crypto.envelope import EnvelopeError, open_envelope, seal
from app.ddb import open_client
from app.errors import Unavailable
from app.repositories.data_keys import DataKeysRepository
from app.repositories.table import Table
from app.settings import Settings
from tests.conftest import all_items

if TYPE_CHECKING:
    from types_aiobotocore_kms import KMSClient

DAY = 86400.0


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def kms(settings: Settings, kms_key: str) -> AsyncIterator[KMSClient]:
    async with AsyncExitStack() as stack:
        yield await open_client(settings, stack, "kms")


MakeKeys = Callable[..., DataKeys]


@pytest.fixture
def make_keys(kms: KMSClient, kms_key: str, table: Table) -> MakeKeys:
    """A process's data keys: each call is another process, with its own empty cache."""

    def make(clock: Clock | None = None, **policy: float) -> DataKeys:
        defaults: dict[str, float] = {
            "epoch_seconds": 30 * DAY,
            "cache_seconds": 300,
            "cache_uses": 1000,
            "cache_size": 100,
        }
        chosen = DataKeyPolicy(**{**defaults, **policy})  # type: ignore[arg-type]
        return DataKeys(kms, kms_key, DataKeysRepository(table), chosen, clock or Clock())

    return make


async def test_concurrent_first_writers_in_two_processes_agree_on_one_key(
    make_keys: MakeKeys, table: Table
) -> None:
    group = uuid4()
    first, second = make_keys(), make_keys()
    (epoch, one), (same_epoch, other) = await asyncio.gather(
        first.for_writing(group), second.for_writing(group)
    )

    where = Binding("t", "MSG#x", "sk", group, uuid4(), "message")
    assert open_envelope(other, where, seal(one, epoch, where, "agreed")) == "agreed"
    assert epoch == same_epoch
    stored = [i for i in await all_items(table) if i["pk"] == f"DATAKEY#{group}"]
    assert len(stored) == 1
    assert first.calls.generate_data_key + second.calls.generate_data_key == 2
    assert first.calls.decrypt + second.calls.decrypt == 1  # the loser unwraps the winner's


async def test_concurrent_misses_in_one_process_share_one_kms_call(make_keys: MakeKeys) -> None:
    keys = make_keys()
    group = uuid4()
    await asyncio.gather(*(keys.for_writing(group) for _ in range(20)))
    assert (keys.calls.generate_data_key, keys.calls.decrypt) == (1, 0)
    assert keys.calls.cache_hits == 0  # all 20 waited on the one fetch


async def test_the_cache_is_bounded_by_uses_and_by_time(make_keys: MakeKeys) -> None:
    clock = Clock()
    keys = make_keys(clock, cache_uses=3, cache_seconds=60)
    group = uuid4()
    for _ in range(3):
        await keys.for_writing(group)
    assert (keys.calls.generate_data_key, keys.calls.decrypt, keys.calls.cache_hits) == (1, 0, 2)
    await keys.for_writing(group)  # the fourth use: unwrapped again
    assert keys.calls.decrypt == 1
    clock.now += 61
    await keys.for_writing(group)
    assert (keys.calls.generate_data_key, keys.calls.decrypt) == (1, 2)


async def test_a_new_epoch_by_age_gets_a_new_key_and_old_epochs_stay_readable(
    make_keys: MakeKeys,
) -> None:
    clock = Clock()
    writer = make_keys(clock, epoch_seconds=DAY)
    group = uuid4()
    where = Binding("t", "MSG#x", "sk", group, uuid4(), "message")
    old_epoch, old_key = await writer.for_writing(group)
    old_envelope = seal(old_key, old_epoch, where, "last month")
    clock.now += DAY
    new_epoch, new_key = await writer.for_writing(group)

    assert new_epoch == old_epoch + 1
    assert writer.calls.generate_data_key == 2
    with pytest.raises(EnvelopeError):
        open_envelope(new_key, where, old_envelope)
    reader = make_keys(clock, epoch_seconds=DAY)  # another process, cold cache
    assert open_envelope(await reader.for_reading(group, old_epoch), where, old_envelope) == (
        "last month"
    )


async def test_reading_an_epoch_that_has_no_key_is_reported(make_keys: MakeKeys) -> None:
    with pytest.raises(EnvelopeError) as raised:
        await make_keys().for_reading(uuid4(), 12)
    assert raised.value.code == "data_key_missing"


async def test_kms_refuses_a_wrapped_key_under_another_encryption_context(
    kms: KMSClient, kms_key: str
) -> None:
    group = uuid4()
    generated = await kms.generate_data_key(
        KeyId=kms_key, KeySpec="AES_256", EncryptionContext=encryption_context(group, 1)
    )
    for wrong in (encryption_context(uuid4(), 1), encryption_context(group, 2), {}):
        with pytest.raises(ClientError) as refused:
            await kms.decrypt(CiphertextBlob=generated["CiphertextBlob"], EncryptionContext=wrong)
        assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException"


async def test_a_master_key_kms_does_not_know_is_unavailable_not_an_error_of_ours(
    kms: KMSClient, table: Table
) -> None:
    """KMS's own NotFoundException (a key id that does not exist), as a 503."""
    policy = DataKeyPolicy(epoch_seconds=86400, cache_seconds=300, cache_uses=10, cache_size=8)
    missing = DataKeys(kms, str(uuid4()), DataKeysRepository(table), policy, Clock())
    with pytest.raises(Unavailable) as refused:
        await missing.for_writing(uuid4())
    assert refused.value.code == "kms_unavailable"
