"""``ddb users delete``: the user stops working within the identity cache's TTL, and the other
participant keeps reading (and writing into) their shared history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest

from app.repositories.table import Table
from app.settings import Settings
from scripts.ddb import main
from tests.conftest import MakeUser, all_items, start_conversation
from tests.routers.conftest import serving, settings_like

TTL_SECONDS = 30.0


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


async def delete_user(handle: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> int:
    """The operator's command, as run from a shell (its own event loop, hence a thread)."""
    assert settings.ddb_endpoint_url is not None
    monkeypatch.setenv("CRUDDUR_DDB_ENDPOINT_URL", settings.ddb_endpoint_url)
    monkeypatch.setenv("CRUDDUR_TABLE_NAME", settings.table_name)
    return await asyncio.to_thread(main, ["users", "delete", "--handle", handle])


async def test_a_deleted_user_is_refused_once_the_cache_entry_expires(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    table: Table,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    andrew, bayko = await make_user("andrew"), await make_user("bayko")
    group = await start_conversation(client, andrew, bayko, "hello bayko")
    clock = FakeClock()
    async with serving(settings_like(settings, identity_cache_ttl_seconds=TTL_SECONDS)) as app:
        app.state.identities.clock = clock
        assert (await app.http.get("/api/me", headers=andrew.headers)).status_code == 200

        assert await delete_user("andrew", settings, monkeypatch) == 0
        partitions = {item["pk"] for item in await all_items(table)}
        andrews = {f"USER#{andrew.user.uuid}", "HANDLE#andrew", f"SUB#{andrew.user.cognito_sub}"}
        assert not partitions & andrews
        assert {f"MSG#{group}", f"GRP#{andrew.user.uuid}", f"GRP#{bayko.user.uuid}"} <= partitions

        clock.now += TTL_SECONDS - 1  # still remembered: staleness is bounded, not zero
        assert (await app.http.get("/api/me", headers=andrew.headers)).status_code == 200
        clock.now += 1
        me = await app.http.get("/api/me", headers=andrew.headers)
        sent = await app.http.post(
            "/api/messages",
            json={"message": "still here?", "message_group_uuid": group},
            headers=andrew.headers,
        )
        assert [me.status_code, sent.status_code] == [401, 401]
        assert me.json()["code"] == sent.json()["code"] == "user_unknown"

        page = await app.http.get(f"/api/messages/{group}", headers=bayko.headers)
        listing = await app.http.get("/api/message_groups", headers=bayko.headers)
        reply = await app.http.post(
            "/api/messages",
            json={"message": "bye", "message_group_uuid": group},
            headers=bayko.headers,
        )
        by_handle = await app.http.post(
            "/api/messages", json={"message": "hi", "handle": "andrew"}, headers=bayko.headers
        )
    assert [page.status_code, listing.status_code, reply.status_code] == [200, 200, 200]
    assert [(m["handle"], m["message"]) for m in page.json()] == [("andrew", "hello bayko")]
    assert listing.json()[0]["handle"] == "andrew"
    assert (by_handle.status_code, by_handle.json()["code"]) == (404, "user_not_found")


async def test_deleting_an_unknown_handle_is_a_clear_error(
    table: Table,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await delete_user("nobody", settings, monkeypatch) == 1
    assert capsys.readouterr().err == "ddb: no user has the handle 'nobody'\n"


async def test_a_zero_ttl_looks_the_user_up_on_every_request(
    make_user: MakeUser, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    andrew = await make_user("andrew")
    async with serving(settings_like(settings, identity_cache_ttl_seconds=0)) as app:
        assert (await app.http.get("/api/me", headers=andrew.headers)).status_code == 200
        assert await delete_user("andrew", settings, monkeypatch) == 0
        assert (await app.http.get("/api/me", headers=andrew.headers)).status_code == 401
