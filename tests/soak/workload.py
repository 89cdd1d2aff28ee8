"""The soak's clients: concurrent users sending, reading, racing and marking read, with a ledger
of every request, every acknowledged message and the faults each request ran into."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import SignedIn
from tests.faults.injector import FaultInjector

FAULT_CODES = frozenset({"dynamodb_throttled", "dynamodb_unavailable", "dynamodb_unreachable"})
"""The 503 codes an injected fault may legitimately surface as."""
CLIENT_ATTEMPTS = 8
"""A client's attempts at one request while it keeps getting 503s."""
CLIENT_RETRY_SECONDS = (0.02, 0.1)
"""Jittered pause before a client retry (Retry-After says 1 s; the soak is in a hurry)."""
KEYLESS_SHARE = 0.1
"""Sends without an Idempotency-Key: never retried, so a 503 leaves them unacknowledged."""


@dataclass
class Send:
    """One logical send, however many HTTP attempts it took."""

    token: str
    sender: int
    recipient: int
    key: str | None
    acknowledged: dict[str, Any] | None = None


@dataclass
class Ledger:
    statuses: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    fault_503s: Counter[str] = field(default_factory=Counter)
    unexplained_5xx: list[str] = field(default_factory=list)
    unexpected_4xx: list[str] = field(default_factory=list)
    faults_in_requests: int = 0
    faults_survived: int = 0
    """Faults in requests whose client eventually got its 2xx (after SDK or client retries)."""
    sends: list[Send] = field(default_factory=list)
    races: int = 0


class Workload:
    def __init__(
        self,
        http: httpx.AsyncClient,
        users: Sequence[SignedIn],
        injector: FaultInjector,
        rng: random.Random,
    ) -> None:
        self.http = http
        self.users = users
        self.injector = injector
        self.rng = rng
        self.ledger = Ledger()
        self.groups: dict[frozenset[int], str] = {}
        self._tokens = itertools.count()

    # One request, retried on 503 as a well-behaved client would

    async def _request(
        self,
        method: str,
        url: str,
        who: int,
        *,
        body: dict[str, Any] | None = None,
        key: str | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        headers = dict(self.users[who].headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        faults = 0
        for _ in range(CLIENT_ATTEMPTS):
            with self.injector.scope() as injected:
                response = await self.http.request(method, url, json=body, headers=headers)
            faults += len(injected)
            self._check(method, url, response, len(injected))
            if response.status_code != 503 or not retry:
                break
            await asyncio.sleep(self.rng.uniform(*CLIENT_RETRY_SECONDS))
        self.ledger.faults_in_requests += faults
        if response.is_success:
            self.ledger.faults_survived += faults
        return response

    def _check(self, method: str, url: str, response: httpx.Response, faults: int) -> None:
        status = response.status_code
        self.ledger.statuses[status] += 1
        if status < 400:
            return
        code = response.json().get("code")
        what = f"{method} {url} -> {status} {code} ({faults} faults injected)"
        if status == 503 and code in FAULT_CODES and faults:
            self.ledger.fault_503s[code] += 1
        elif status >= 500:
            self.ledger.unexplained_5xx.append(what)
        else:
            self.ledger.unexpected_4xx.append(what)

    # Actions

    async def send(self, sender: int, recipient: int, *, by_handle: bool = False) -> None:
        token = f"m{next(self._tokens):06d}"
        keyed = self.rng.random() >= KEYLESS_SHARE
        record = Send(token, sender, recipient, f"soak-{token}" if keyed else None)
        self.ledger.sends.append(record)
        group = self.groups.get(frozenset((sender, recipient)))
        if group is None or by_handle or self.rng.random() < 0.2:
            target: dict[str, str] = {"handle": self.users[recipient].user.handle}
        else:
            target = {"message_group_uuid": group}
        body = {"message": f"soak {token} {sender}->{recipient}", **target}
        response = await self._request(
            "POST", "/api/messages", sender, body=body, key=record.key, retry=keyed
        )
        if response.status_code == 200:
            record.acknowledged = response.json()
            self.groups[frozenset((sender, recipient))] = response.json()["message_group_uuid"]

    async def race(self, first: int, second: int) -> None:
        """Both write to each other at once, for the first time."""
        self.ledger.races += 1
        await asyncio.gather(
            self.send(first, second, by_handle=True), self.send(second, first, by_handle=True)
        )

    def _known_group(self, who: int) -> str | None:
        mine = [group for pair, group in self.groups.items() if who in pair]
        return self.rng.choice(mine) if mine else None

    async def read_group(self, who: int, group: str) -> list[dict[str, Any]]:
        response = await self._request("GET", f"/api/messages/{group}", who)
        return list(response.json()) if response.status_code == 200 else []

    async def read(self, who: int) -> None:
        group = self._known_group(who)
        if group is not None:
            await self.read_group(who, group)

    async def mark_read(self, who: int) -> None:
        group = self._known_group(who)
        if group is None:
            return
        body = None
        if self.rng.random() < 0.4:
            page = await self.read_group(who, group)
            others = [m for m in page if m["handle"] != self.users[who].user.handle]
            if others:
                body = {"up_to_message_uuid": self.rng.choice(others)["uuid"]}
        await self._request("POST", f"/api/message_groups/{group}/read", who, body=body)

    async def list_inbox(self, who: int) -> None:
        await self._request("GET", "/api/message_groups?limit=50", who)

    async def first_contact(self, me: int) -> None:
        """A race with someone ``me`` has never written to (a send when there is no one left)."""
        others = [other for other in range(len(self.users)) if other != me]
        strangers = [other for other in others if frozenset((me, other)) not in self.groups]
        if strangers:
            await self.race(me, self.rng.choice(strangers))
        else:
            await self.send(me, self.rng.choice(others))

    async def any_send(self, me: int) -> None:
        await self.send(me, self.rng.choice([o for o in range(len(self.users)) if o != me]))

    async def user(self, me: int, deadline: float) -> None:
        actions = {
            "send": (self.any_send, 50),
            "first_contact": (self.first_contact, 5),
            "read": (self.read, 15),
            "inbox": (self.list_inbox, 10),
            "mark_read": (self.mark_read, 20),
        }
        names = list(actions)
        weights = [weight for _, weight in actions.values()]
        while time.monotonic() < deadline:
            [name] = self.rng.choices(names, weights)
            self.ledger.actions[name] += 1
            await actions[name][0](me)

    async def run(self, seconds: float, actors_per_user: int, opening_races: int) -> None:
        """Opening first-contact races, then every user's actors until ``seconds`` are up."""
        deadline = time.monotonic() + seconds
        pairs = list(itertools.combinations(range(len(self.users)), 2))
        self.rng.shuffle(pairs)
        await asyncio.gather(*(self.race(a, b) for a, b in pairs[:opening_races]))
        await asyncio.gather(
            *(
                self.user(me, deadline)
                for me in range(len(self.users))
                for _ in range(actors_per_user)
            )
        )
