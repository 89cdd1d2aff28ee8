"""The ddb tool with encryption: scan shows ciphertext; the patterns decrypt when they may."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.ddb import main
from scripts.seed_dialogue import DIALOGUE
from tests.scripts.test_ddb_cli import json_lines, run

TABLE = "cli-encrypted-messages"

pytestmark = pytest.mark.transactions  # the seed creates users and the conversation in one


@pytest.fixture
def encrypted_env(
    ddb_endpoint: str, kms_endpoint: str, kms_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("CRUDDUR_DDB_ENDPOINT_URL", ddb_endpoint)
    monkeypatch.setenv("CRUDDUR_TABLE_NAME", TABLE)
    monkeypatch.setenv("CRUDDUR_ENCRYPTION", "kms")
    monkeypatch.setenv("CRUDDUR_KMS_ENDPOINT_URL", kms_endpoint)
    monkeypatch.setenv("CRUDDUR_KMS_KEY_ID", kms_key)
    main(["drop", "--yes", TABLE])
    main(["schema-load"])
    main(["seed"])
    yield
    main(["drop", "--yes", TABLE])


def test_scan_shows_ciphertext_and_the_patterns_decrypt_with_kms_access(
    encrypted_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, first_line = DIALOGUE[0]
    code, out, _ = run(capsys, "scan")
    assert code == 0
    assert first_line not in out
    assert '"message": "base64:' in out

    code, out, err = run(
        capsys, "patterns", "get-conversation", "--handle", "andrewbrown", "--with", "bayko"
    )
    assert code == 0, err
    texts = [line["message"] for line in json_lines(out) if "uuid" in line]
    assert texts
    assert all(isinstance(text, str) for text in texts)
    assert err == ""


def test_without_kms_the_patterns_show_no_text_and_say_why(
    encrypted_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRUDDUR_ENCRYPTION", "off")
    code, out, err = run(capsys, "patterns", "list-conversations", "--handle", "andrewbrown")

    assert code == 0
    [conversation] = [line for line in json_lines(out) if "with" in line]
    assert conversation["last_message"] is None
    assert conversation["last_message_error"] == "encryption_off"
    assert "encrypted texts not shown: set CRUDDUR_ENCRYPTION=kms" in err
