"""The scale model held to the code it describes.

The main check replays one day of a tiny workload through the service's own code on
dynalite, which computes ConsumedCapacity from item sizes as DynamoDB does, and compares with
what ``bench.scale`` predicts for that workload. Tolerances: 5% on the day's total read units
and table write units, 10% per pattern. The model prices rows as they are created (one unread
key) and pages drawn from the length distribution; the replayed rows collect unread keys and
its pages are particular windows, and units round up per 1 KB written and 4 KB read, so exact
equality is not expected. dynalite reports no index write units: those (the LSI rewrite on
every summary update) rest on the rules tests/bench/test_capacity_model.py checks.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio

from app.ddb import open_client
from app.domain import Message
from app.repositories import keys
from app.repositories.conversations import ConversationsRepository
from app.repositories.messages import message_item
from app.repositories.schema import create_table, drop_table
from app.repositories.table import CapacityLog, Table, serialize
from app.settings import Settings
from app.streams.handler import handle_event
from bench.backends import dynalite, dynalite_version
from bench.capacity_model import TABLE
from bench.scale import report
from bench.scale.__main__ import main
from bench.scale.doc import SCALING_DOC, SCALING_FIGURE, updated
from bench.scale.measured import latest_run, run_inputs, stream_config
from bench.scale.plot import plot
from bench.scale.simulate import CHECK_WORKLOAD, Day, replay_day
from bench.scale.simulate import report as simulated_report
from bench.scale.units import inbox_of, marked_read, request_units, workload_dataset
from bench.scale.workload import load
from bench.seeding import batch_write
from tests.conftest import LATER, MakeUser, message_in, start_conversation
from tests.deploy.cfn import load_template

DAY_TOLERANCE = 0.05
PATTERN_TOLERANCE = 0.10


@pytest.fixture(scope="module")
def dynalite_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dynalite(tmp_path_factory.mktemp("dynalite") / "dynalite.log") as backend:
        yield backend.endpoint


@pytest_asyncio.fixture(scope="module")
async def replayed_day(dynalite_endpoint: str) -> Day:
    return await replay_day(dynalite_endpoint, CHECK_WORKLOAD)


def _close(measured: float, predicted: float, tolerance: float) -> bool:
    return abs(measured - predicted) <= tolerance * max(predicted, 1.0)


async def test_a_days_read_and_write_units_match_the_model(replayed_day: Day) -> None:
    measured = replayed_day.total(replayed_day.measured)
    predicted = replayed_day.total(replayed_day.predicted)
    assert measured.total_read > 0
    assert measured.write[TABLE] > 0
    assert _close(measured.total_read, predicted.total_read, DAY_TOLERANCE), (measured, predicted)
    assert _close(measured.write[TABLE], predicted.write[TABLE], DAY_TOLERANCE)


async def test_each_patterns_units_match_the_model(replayed_day: Day) -> None:
    for name, predicted in replayed_day.predicted.items():
        measured = replayed_day.measured[name]
        assert _close(measured.total_read, predicted.total_read, PATTERN_TOLERANCE), name
        table_writes = measured.write.get(TABLE, 0.0)
        assert _close(table_writes, predicted.write.get(TABLE, 0.0), PATTERN_TOLERANCE), name


@pytest_asyncio.fixture
async def seeded_table(dynalite_endpoint: str) -> AsyncIterator[tuple[Table, CapacityLog]]:
    name = f"scale-{uuid4().hex[:8]}"
    settings = Settings(ddb_endpoint_url=dynalite_endpoint, table_name=name, _env_file=None)
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        await create_table(client, name)
        await batch_write(client, name, workload_dataset(CHECK_WORKLOAD).items())
        log = CapacityLog()
        yield Table(client, name, log), log
        await drop_table(client, name)


def _insert_record(message: Message, sequence: int) -> dict[str, object]:
    item = message_item(message)
    return {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": serialize({"pk": item["pk"], "sk": item["sk"]}),
            "NewImage": serialize(item),
            "SequenceNumber": str(sequence),
        },
    }


async def test_the_handler_updates_each_row_once_per_conversation_and_batch(
    seeded_table: tuple[Table, CapacityLog],
) -> None:
    """What the coalescing model counts: row updates per batch = rows x distinct conversations."""
    table, log = seeded_table
    busy, quiet = inbox_of(workload_dataset(CHECK_WORKLOAD))[:2]
    arrivals = [(busy, "one"), (busy, "two"), (busy, "three"), (quiet, "hi")]
    messages = [
        message_in(c.message_group_uuid, c.second, text, at=LATER + timedelta(seconds=second))
        for second, (c, text) in enumerate(arrivals)
    ]
    event = {"Records": [_insert_record(m, n) for n, m in enumerate(messages)]}

    response = await handle_event(event, ConversationsRepository(table))

    assert response == {"batchItemFailures": []}
    updates = [operation for operation, _ in log.entries if operation == "UpdateItem"]
    assert len(updates) == 2 * 2  # two conversations, two rows each; four messages


async def test_the_modelled_mark_read_leaves_the_row_the_repository_leaves(
    client: httpx.AsyncClient, make_user: MakeUser, table: Table
) -> None:
    andrew, bayko = await make_user(), await make_user()
    group = UUID(await start_conversation(client, andrew, bayko, "hello?"))
    conversations = ConversationsRepository(table)
    reply = message_in(group, bayko.user, "yes!", at=LATER)
    await conversations.apply_messages(group, [reply])
    row_key = keys.conversation_key(andrew.user.uuid, group)
    before = await table.get(row_key)
    assert before is not None
    assert before.get("unread_count")

    await conversations.mark_read(andrew.user.uuid, group)

    present = {name: value for name, value in marked_read(before).items() if value is not None}
    assert await table.get(row_key) == present


def test_the_stream_settings_are_the_templates() -> None:
    resources = load_template()["Resources"]
    mapping = resources["StreamEventSourceMapping"]["Properties"]
    function = resources["StreamHandlerFunction"]["Properties"]
    stream = stream_config()
    assert stream.batch_size == mapping["BatchSize"]
    assert stream.batching_window_seconds == mapping["MaximumBatchingWindowInSeconds"]
    assert stream.parallelization_factor == mapping["ParallelizationFactor"]
    assert stream.memory_mb == function["MemorySize"]


def test_the_cli_reads_a_workload_file_and_reports_every_tier(tmp_path: Path) -> None:
    workload = tmp_path / "workload.toml"
    workload.write_text('messages_per_user_per_day = 40\nmessage_length = "50:1"\n')
    figure = tmp_path / "scaling.png"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(["--workload", str(workload), "--peak-to-average", "2", "--plot", str(figure)])
    report = printed.getvalue()
    for heading in ("### DynamoDB", "### Compute and events", "### Limits", "### Hot spots"):
        assert heading in report
    for users in ("10,000", "1,000,000", "10,000,000"):
        assert f"| {users} |" in report
    assert "| messages_per_user_per_day | 40.0 |" in report
    assert "| peak_to_average | 2.0 |" in report
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_the_committed_scaling_doc_is_what_the_model_writes_now(tmp_path: Path) -> None:
    """docs/scaling.md's model tables and its figure are ``python -m bench.scale --update-doc
    docs/scaling.md --plot docs/scaling.png``'s output from the code as it is: a change to the
    row design (or the run, the template, the prices) that moves a figure fails here until the
    document is regenerated and its prose checked."""
    stream = stream_config()
    workload = load(None, {})
    units = request_units(workload)
    regions = report.regions(workload, units, run_inputs(latest_run(), stream), stream)
    committed = SCALING_DOC.read_text(encoding="utf-8")
    assert updated(committed, regions) == committed, "run the command in docs/scaling.md"
    figure = tmp_path / "scaling.png"
    plot(workload, units, run_inputs(latest_run(), stream), stream, figure)
    assert figure.read_bytes() == SCALING_FIGURE.read_bytes()


async def test_the_committed_simulation_is_what_the_replay_measures_now(
    replayed_day: Day,
) -> None:
    """docs/scaling.md's region ``simulated`` is ``python -m bench.scale.simulate --update-doc
    docs/scaling.md``'s output: dynalite's capacity units depend on item sizes only."""
    committed = SCALING_DOC.read_text(encoding="utf-8")
    regions = {"simulated": simulated_report(replayed_day, dynalite_version())}
    assert updated(committed, regions) == committed, "run the command in docs/scaling.md"


def test_a_region_the_document_lacks_is_an_error() -> None:
    with pytest.raises(ValueError, match="'absent'"):
        updated("<!-- begin other -->\nx\n<!-- end other -->\n", {"absent": "y"})


def test_an_unknown_workload_field_is_refused(tmp_path: Path) -> None:
    workload = tmp_path / "workload.json"
    workload.write_text('{"daily_users": 5}')
    with pytest.raises(ValueError, match="daily_users"):
        load(workload, {})


def test_a_bad_workload_value_is_one_line_and_exit_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--new-conversation-share", "0.9", "--idempotent-share", "0.5"])
    assert exit_info.value.code == 2
    assert "must lie between 0 and 1" in capsys.readouterr().err
