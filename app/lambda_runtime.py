"""What a Lambda execution environment keeps between invocations: one loop, one client.

Opening an aioboto3 client costs hundreds of milliseconds, so it is opened by the first
invocation and reused by every later one. An environment serves one invocation at a time,
so the synchronous ``handler`` can drive its own event loop without locking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Generic, TypeVar

from app.ddb import open_client
from app.repositories.table import Table
from app.settings import Settings

Resource = TypeVar("Resource")
Result = TypeVar("Result")


class LambdaRuntime(Generic[Resource]):
    """Builds ``Resource`` (a repository) over the table once, then lends it to each invocation."""

    def __init__(
        self,
        build: Callable[[Table], Resource],
        settings: Callable[[], Settings] = Settings,
    ) -> None:
        self._build = build
        self._settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resources = AsyncExitStack()
        self._resource: Resource | None = None

    def run(self, work: Callable[[Resource], Awaitable[Result]]) -> Result:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._run(work))

    async def _run(self, work: Callable[[Resource], Awaitable[Result]]) -> Result:
        if self._resource is None:
            settings = self._settings()  # CRUDDUR_* from the function's environment
            client = await open_client(settings, self._resources)
            self._resource = self._build(Table(client, settings.table_name))
        return await work(self._resource)

    def close(self) -> None:
        """Close the client and the loop; a real environment is simply frozen, tests call this."""
        if self._loop is None:
            return
        self._loop.run_until_complete(self._resources.aclose())
        self._loop.close()
        self._loop = None
        self._resource = None
