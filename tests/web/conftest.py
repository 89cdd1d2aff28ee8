"""The browser client in real Chromium (Debian's, through Playwright), against the service run
the way `make run` runs it: scripts.run_local on a free loopback port, with the stream worker
and the demo data, on the suite's embedded DynamoDB server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from app.ddb import open_client
from app.domain import User
from app.repositories.table import Table
from app.repositories.users import UsersRepository
from app.settings import Settings
from tests.conftest import wait_until_serving

CHROMIUM = "/usr/bin/chromium"
WEB_TABLE = "cruddur-messages-web"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

expect.set_options(timeout=10_000)  # polling clients see changes within 3 s


@dataclass(frozen=True)
class WebServer:
    url: str
    settings: Settings

    def token(self, handle: str) -> str:
        response = httpx.post(f"{self.url}/api/dev/tokens", json={"handle": handle})
        response.raise_for_status()
        return str(response.json()["access_token"])

    def api(self, handle: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(handle)}"}
        return httpx.Client(base_url=self.url, headers=headers)

    def create_user(self, display_name: str) -> str:
        """A fresh user (handle returned), so each test starts from an empty inbox."""
        [handle] = self.create_users([display_name])
        return handle

    def create_users(self, display_names: list[str]) -> list[str]:
        handles = [f"{name.split()[0].lower()}_{uuid4().hex[:8]}" for name in display_names]

        async def create() -> None:
            async with AsyncExitStack() as stack:
                client = await open_client(self.settings, stack)
                users = UsersRepository(Table(client, self.settings.table_name))
                for handle, name in zip(handles, display_names, strict=True):
                    await users.create(User(uuid4(), handle, name, cognito_sub=str(uuid4())))

        # Playwright's sync API keeps an event loop running in this thread: use another one.
        with ThreadPoolExecutor(max_workers=1) as worker:
            worker.submit(asyncio.run, create()).result()
        return handles


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def web_server(ddb_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    state_dir = tmp_path_factory.mktemp("web-state")
    port = _free_port()
    env = {
        **os.environ,
        "CRUDDUR_DDB_ENDPOINT_URL": ddb_endpoint,
        "CRUDDUR_TABLE_NAME": WEB_TABLE,
        "CRUDDUR_LOCAL_STATE_DIR": str(state_dir),
        "CRUDDUR_LOG_LEVEL": "WARNING",
        "CRUDDUR_SHUTDOWN_DRAIN_SECONDS": "0",
        # The suite's shared embedded server can be slow on a busy machine: wait rather than
        # retry (a retried transaction that had gone through fails its own conditions).
        "CRUDDUR_DDB_READ_TIMEOUT": "30",
        # A resume replays only what was sent after the id: an older message changed meanwhile
        # shows only if the client reads it again (as it must, beyond the default overlap).
        "CRUDDUR_EVENTS_REPLAY_OVERLAP_SECONDS": "0",
    }
    log = (state_dir / "server.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "scripts.run_local", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(
            f"{url}/readyz",
            process,
            f"the server (log: {state_dir / 'server.log'})",
            timeout=60,
            ready=lambda response: response.status_code == 200,
        )
        settings = Settings(
            ddb_endpoint_url=ddb_endpoint,
            table_name=WEB_TABLE,
            local_state_dir=state_dir,
            ddb_read_timeout=30,
            ddb_max_attempts=1,
            _env_file=None,
        )
        yield WebServer(url, settings)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


# pytest-playwright's fixtures, narrowed to this package: the sync API keeps an event loop
# running in the main thread while Playwright is up, which the asyncio tests after these
# could not live with. Only Debian's Chromium exists here (Playwright cannot download its own).
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM)
    yield chromium
    chromium.close()


@pytest.fixture(scope="package")
def browser_context_args(web_server: WebServer) -> dict[str, Any]:
    return {"base_url": web_server.url}


def sign_in(page: Page, handle: str) -> None:
    page.goto("/messages")
    page.get_by_label("Or type a handle").fill(handle)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def conversation_row(page: Page, display_name: str) -> Any:
    return page.get_by_role("navigation", name="Conversations").get_by_role(
        "link", name=display_name
    )
