"""The per-process GCRA limiter, on a fake clock."""

from __future__ import annotations

import pytest

from app.rate_limit import GcraLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_burst_of_the_whole_limit_then_refusal_with_the_wait(clock: FakeClock) -> None:
    limiter = GcraLimiter(3, 60, clock=clock)

    decisions = [limiter.hit("alice") for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[3].retry_after_seconds == pytest.approx(20)
    assert decisions[3].reset_seconds == pytest.approx(60)


def test_one_request_comes_back_per_interval(clock: FakeClock) -> None:
    limiter = GcraLimiter(3, 60, clock=clock)
    for _ in range(3):
        limiter.hit("alice")

    clock.now += 19.9
    assert not limiter.hit("alice").allowed
    clock.now += 0.1
    assert limiter.hit("alice").allowed
    assert not limiter.hit("alice").allowed


def test_refused_requests_do_not_use_up_quota(clock: FakeClock) -> None:
    limiter = GcraLimiter(2, 10, clock=clock)
    limiter.hit("alice")
    limiter.hit("alice")
    for _ in range(50):
        assert not limiter.hit("alice").allowed

    clock.now += 5
    assert limiter.hit("alice").allowed


def test_after_a_quiet_period_the_whole_burst_is_back(clock: FakeClock) -> None:
    limiter = GcraLimiter(5, 60, clock=clock)
    for _ in range(5):
        limiter.hit("alice")

    clock.now += 60

    assert [limiter.hit("alice").allowed for _ in range(6)] == [True] * 5 + [False]


def test_keys_are_limited_independently(clock: FakeClock) -> None:
    limiter = GcraLimiter(1, 60, clock=clock)

    assert limiter.hit("alice").allowed
    assert not limiter.hit("alice").allowed
    assert limiter.hit("bob").allowed


def test_recovered_users_are_forgotten_so_memory_follows_active_users(clock: FakeClock) -> None:
    limiter = GcraLimiter(10, 60, clock=clock)
    for user in range(5000):
        limiter.hit(f"idle-{user}")
    clock.now += 61  # every idle user's quota has fully recovered

    for user in range(3000):
        limiter.hit(f"active-{user}")

    assert 3000 <= len(limiter) <= 2 * 3000
