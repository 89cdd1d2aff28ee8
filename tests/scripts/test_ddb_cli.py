"""The ddb CLI against the embedded server: schema, seed, drop safety, patterns, clear errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from app.services.summaries_repair import encode_position
from scripts.ddb import main

TABLE = "cli-test-messages"


@pytest.fixture
def cli_env(ddb_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CRUDDUR_DDB_ENDPOINT_URL", ddb_endpoint)
    monkeypatch.setenv("CRUDDUR_TABLE_NAME", TABLE)
    main(["drop", "--yes", TABLE])
    yield
    main(["drop", "--yes", TABLE])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.ttl
def test_schema_load_creates_the_contract_table_and_is_idempotent(
    cli_env: None, capsys: pytest.CaptureFixture[str], ddb_endpoint: str
) -> None:
    code, out, _ = run(capsys, "schema-load")
    assert code == 0
    assert "created" in out
    code, out, _ = run(capsys, "schema-load")
    assert (code, "already exists" in out) == (0, True)

    client = boto3.client(
        "dynamodb",
        endpoint_url=ddb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    table = client.describe_table(TableName=TABLE)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    [gsi] = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "message-group-sk-index"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["message_group_uuid", "sk"]
    assert gsi["Projection"]["ProjectionType"] == "KEYS_ONLY"
    [lsi] = table["LocalSecondaryIndexes"]
    assert [k["AttributeName"] for k in lsi["KeySchema"]] == ["pk", "last_message_sk"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert table["LatestStreamArn"]
    ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


@pytest.mark.transactions
def test_seed_twice_changes_nothing(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "schema-load")
    code, out, _ = run(capsys, "seed")
    assert code == 0
    assert "4 users and 103 messages created" in out
    _, first_scan, _ = run(capsys, "scan")
    code, out, _ = run(capsys, "seed")
    assert (code, "0 users and 0 messages created" in out) == (0, True)
    _, second_scan, _ = run(capsys, "scan")
    assert second_scan == first_scan
    items = json_lines(first_scan)
    assert sum(str(item["pk"]).startswith("MSG#") for item in items) == 103
    assert sum(str(item["pk"]).startswith("GRP#") for item in items) == 2
    assert {item["handle"] for item in items if item["sk"] == "PROFILE"} == {
        "andrewbrown",
        "bayko",
        "londo",
        "altbrown",
    }


@pytest.mark.transactions
def test_messages_purge_removes_the_item_and_its_text_from_the_rows(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "schema-load")
    run(capsys, "seed")
    items = json_lines(run(capsys, "scan")[1])
    [row, _] = [item for item in items if str(item["pk"]).startswith("GRP#")]
    last = next(item for item in items if item["sk"] == row["last_message_sk"])
    group, message = str(row["message_group_uuid"]), str(last["message_uuid"])
    argv = ["messages", "purge", "--message-group-uuid", group, "--message-uuid", message]

    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert json_lines(out) == [{"purged": {"uuid": message, "sender_uuid": last["sender_uuid"]}}]
    after = json_lines(run(capsys, "scan")[1])
    assert not any(item.get("message_uuid") == message for item in after)
    rows = [item for item in after if str(item["pk"]).startswith("GRP#")]
    assert {item["last_message"] for item in rows} == {"message deleted"}
    assert str(last["message"]) not in json.dumps(after)

    code, _, err = run(capsys, *argv)
    assert (code, err) == (1, f"ddb: no message {message} in {group}\n")


def test_a_repair_position_without_all_is_refused(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    position = encode_position({"pk": "GRP#x", "sk": "GRP#y"})
    for scope in (["--handle", "andrewbrown"], ["--dead-letters"]):
        code, _, err = run(capsys, "summaries", "repair", *scope, "--after", position)
        assert (code, err) == (1, "ddb: --after resumes --all: give both\n")


@pytest.mark.transactions
def test_pattern_scripts_print_items_and_consumed_capacity(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "schema-load")
    run(capsys, "seed")
    code, out, _ = run(
        capsys,
        "patterns",
        "get-conversation",
        "--handle",
        "andrewbrown",
        "--with",
        "bayko",
        "--limit",
        "5",
    )
    assert code == 0
    lines = json_lines(out)
    messages = [line for line in lines if "message" in line]
    capacity = [line for line in lines if "operation" in line]
    assert len(messages) == 5
    assert [c["operation"] for c in capacity] == ["GetItem", "Query"]
    assert all("CapacityUnits" in c for c in capacity)

    code, out, _ = run(capsys, "patterns", "list-conversations", "--handle", "bayko")
    lines = json_lines(out)
    assert [line["with"] for line in lines if "with" in line] == ["andrewbrown"]
    assert [line["operation"] for line in lines if "operation" in line] == ["Query"]


def test_drop_refuses_without_the_table_name(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "schema-load")
    for argv in (["drop"], ["drop", "--yes", "other-table"]):
        code, _, err = run(capsys, *argv)
        assert code == 1
        assert "refusing to drop" in err
    code, out, _ = run(capsys, "list-tables")
    assert TABLE in out.split()
    code, out, _ = run(capsys, "drop", "--yes", TABLE)
    assert (code, "dropped" in out) == (0, True)
    assert TABLE not in run(capsys, "list-tables")[1].split()


@pytest.mark.transactions
def test_users_create_and_a_taken_handle(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "schema-load")
    code, out, _ = run(capsys, "users", "create", "--handle", "g_kar", "--display-name", "G'Kar")
    assert code == 0
    assert json_lines(out)[0]["handle"] == "g_kar"
    code, _, err = run(capsys, "users", "create", "--handle", "G_KAR", "--display-name", "Other")
    assert code == 1
    assert "handle_taken" in err


def test_users_create_refuses_text_utf8_cannot_encode(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """An argument with bytes that are not UTF-8 arrives as a lone surrogate (surrogateescape)."""
    run(capsys, "schema-load")
    argv = ["users", "create", "--handle", "g_kar", "--display-name", "G\udcffKar"]
    code, _, err = run(capsys, *argv)
    assert (code, err) == (1, "ddb: text_unstorable: Text must be valid Unicode.\n")


def test_missing_table_is_a_clear_error(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["seed"], ["scan"], ["patterns", "list-conversations", "--handle", "bayko"]):
        code, _, err = run(capsys, *argv)
        assert code == 1
        assert "does not exist" in err
        assert "Traceback" not in err


def test_bad_arguments_exit_2(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["patterns", "list-conversations", "--handle", "bayko", "--limit", "0"],
        ["users", "create", "--handle", "not ok", "--display-name", "x"],
        ["no-such-command"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2


def test_invalid_configuration_exits_2(
    cli_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:  # undone before cli_env's teardown runs
        patched.setenv("CRUDDUR_TABLE_NAME", "x")
        with pytest.raises(SystemExit) as exited:
            main(["list-tables"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "ddb: invalid configuration (environment or .env):\n"
        "  CRUDDUR_TABLE_NAME: String should match pattern '^[A-Za-z0-9_.-]{3,255}$'\n"
    )


def test_unreachable_endpoint_is_a_clear_error_from_the_real_command() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "scripts.ddb", "list-tables"],
        env={
            "PATH": "/usr/bin:/bin",
            "CRUDDUR_DDB_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}",
            "CRUDDUR_DDB_MAX_ATTEMPTS": "1",
            "CRUDDUR_DDB_CONNECT_TIMEOUT": "0.5",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "dynamodb_unreachable" in result.stderr
    assert "Traceback" not in result.stderr
