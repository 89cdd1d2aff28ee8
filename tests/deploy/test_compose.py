"""docker compose, checked without Docker: the api service's image holds the module it runs,
its environment names real settings, and that command serves with that environment."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.settings import Settings
from deploy.build_lambda import REPO, import_closure
from tests.deploy.dockerfile import arguments, copied_sources, in_build_context, stages

COMPOSE = REPO / "docker-compose.yml"


def api_service() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    return dict(services["api"])


def api_stage() -> str:
    target = api_service()["build"]["target"]
    assert target in stages()
    return str(target)


def api_command() -> list[str]:
    """The compose command, else the target stage's CMD (what the container runs)."""
    if "command" in api_service():
        return list(api_service()["command"])
    [command] = arguments(stages()[api_stage()], "CMD")
    return list(json.loads(command))


def module_path(module: str) -> str:
    path = REPO.joinpath(*module.split("."))
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return file.relative_to(REPO).as_posix()


def test_the_api_image_holds_the_module_compose_runs_and_what_it_imports() -> None:
    command = api_command()
    assert command[:2] == ["python", "-m"]
    modules, _ = import_closure([command[2]])
    sources = copied_sources(api_stage())
    assert module_path(command[2]) in {module_path(m) for m in modules}
    for module in modules:
        path = module_path(module)
        assert path.split("/")[0] in sources, f"{path} is not copied into the {api_stage()} stage"
        assert in_build_context(path), f".dockerignore keeps {path} out of the build"


def test_the_production_image_is_still_the_default_target() -> None:
    [*_, production] = stages()
    assert production != api_stage()
    assert copied_sources(production) == {"app"}


def test_the_compose_environment_names_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    environment: dict[str, str] = api_service()["environment"]
    fields = {f"CRUDDUR_{name.upper()}" for name in Settings.model_fields}
    settings_named = {name for name in environment if name.startswith("CRUDDUR_")}
    assert settings_named
    assert settings_named <= fields, settings_named - fields
    for name in settings_named:
        monkeypatch.setenv(name, environment[name])
    settings = Settings(_env_file=None)
    assert settings.ddb_endpoint_url == environment["CRUDDUR_DDB_ENDPOINT_URL"]
    assert settings.cors_allowed_origins == environment["CRUDDUR_CORS_ALLOWED_ORIGINS"].split(",")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_compose_command_serves_with_the_compose_environment(
    tmp_path: Path, ddb_endpoint: str
) -> None:
    """The embedded server stands in for DynamoDB Local (no Docker here)."""
    for source in copied_sources(api_stage()):
        (tmp_path / source).symlink_to(REPO / source)  # WORKDIR /srv holds these, no .env
    port = _free_port()
    command = [sys.executable, *api_command()[1:]]
    command = [("127.0.0.1" if part == "0.0.0.0" else part) for part in command]  # noqa: S104
    environment = {
        "PATH": os.environ["PATH"],
        **api_service()["environment"],
        "CRUDDUR_DDB_ENDPOINT_URL": ddb_endpoint,
        "CRUDDUR_LOCAL_STATE_DIR": str(tmp_path / "state"),
        "CRUDDUR_TABLE_NAME": "compose-test-messages",
    }
    server = subprocess.Popen(  # noqa: S603 - the image's own command
        [*command, "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0].decode()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "not ready within 60 s"
            time.sleep(0.2)
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/dev/tokens", json={"handle": "andrewbrown"}, timeout=5
        )
        assert token.status_code == 200  # demo data loaded, local sign-in works
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
