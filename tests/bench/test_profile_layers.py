"""bench/profiling.py: each py-spy sample is charged to one layer of the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.processes import REPO_ROOT
from bench.profiling import DYNAMODB_CLIENT, EVENT_LOOP, OTHER_LAYER, layer_of, summarize
from bench.report import markdown

ROUTE = "list_conversations (app/routers/message_groups.py:82)"
QUERY = "ConversationsRepository.list_recent (app/repositories/conversations.py:164)"
PARSE = "JSONDecoder.raw_decode (json/decoder.py:353)"


def test_a_sample_under_a_client_call_is_the_clients_whatever_its_innermost_frame() -> None:
    under_botocore = [ROUTE, QUERY, "ResponseParser.parse (botocore/parsers.py:290)", PARSE]
    assert layer_of(under_botocore) == DYNAMODB_CLIENT
    assert layer_of([PARSE]) == OTHER_LAYER  # py-spy lost the stack above it


def test_other_samples_go_by_their_innermost_frames_package() -> None:
    assert layer_of([ROUTE, "TypeAdapter.dump_json (pydantic/type_adapter.py:651)"]).startswith(
        "framework"
    )
    assert layer_of(["solve_dependencies (fastapi/dependencies/utils.py:726)"]).startswith(
        "framework"
    )
    assert layer_of([ROUTE, QUERY]) == "app (ours)"
    assert layer_of(["RequestResponseCycle.send (uvicorn/protocols/http/h.py:524)"]).startswith(
        "HTTP server"
    )
    assert layer_of(["Runner.run (asyncio/runners.py:118)"]).startswith("event loop")


def test_layer_shares_add_up_to_every_sample(tmp_path: Path) -> None:
    raw = "\n".join(
        [
            f"{ROUTE};{QUERY};AioBaseClient._make_api_call (aiobotocore/client.py:365) 6",
            f"{ROUTE};ConversationOut.of (app/schemas.py:289) 3",
            "Runner.run (asyncio/runners.py:118) 1",
        ]
    )
    profile = summarize(raw, "list_conversations", 8, tmp_path / "raw.txt")
    assert profile["samples"] == 10
    assert profile["layers"][DYNAMODB_CLIENT] == 0.6
    assert profile["layers"]["app (ours)"] == 0.3
    assert sum(profile["layers"].values()) == pytest.approx(1.0)


def test_the_report_says_what_the_target_leaves_our_code() -> None:
    """From a committed profile run: each profile states the budget the 0.7 target leaves."""
    [run] = (REPO_ROOT / "bench" / "results" / "profile-20261130-layers").glob("run-*.json")
    doc = json.loads(run.read_text())
    report = markdown(doc)
    assert report.count("At 0.7 of the floor") == len(doc["profiles"]) > 0
    [listing] = [p for p in doc["profiles"] if p["pattern"] == "list_conversations"][:1]
    [api] = [
        m
        for m in doc["measurements"]
        if m["mode"] == "api"
        and m["pattern"] == "list_conversations"
        and m["concurrency"] == listing["concurrency"]
    ]
    [floor] = [
        m
        for m in doc["measurements"]
        if m["mode"] == "floor"
        and m["pattern"] == "list_conversations"
        and m["concurrency"] == listing["concurrency"]
    ]
    cpu_us = api["cpu_per_1k_requests"]["service"] * 1000
    calls_us = cpu_us * (listing["layers"][DYNAMODB_CLIENT] + listing["layers"][EVENT_LOOP])
    budget_us = floor["cpu_per_1k_requests"]["driver"] * 1000 / 0.7 - calls_us
    assert f"may take {budget_us:.0f} us a request" in report
