"""The capacity table's claims for pattern E (issue 11), held as tests."""

from __future__ import annotations

from bench.summary_upkeep import NO_RYW, PER_BATCH, burst_per_message, worst_per_message


def test_the_worst_case_upkeep_is_at_most_6_wcu_a_message() -> None:
    worst = worst_per_message()
    assert worst["ours"].total_write <= 6
    assert worst[NO_RYW].total_write <= 6
    assert worst["previous"].total_write > 6


def test_without_read_your_writes_the_burst_costs_less_than_before_at_any_batching() -> None:
    for per_batch in PER_BATCH:
        burst = burst_per_message(per_batch)
        assert burst[NO_RYW].total_write <= burst["previous"].total_write, per_batch
        assert burst["ours"].total_write <= 6, per_batch
