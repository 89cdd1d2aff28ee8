"""The Lambda package: built by deploy/build_lambda.py, it runs its handlers with nothing else."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from deploy.build_lambda import HANDLER_MODULES, PLATFORMS, PYTHON_VERSION, build, write_zip

# Runs in a venv that has nothing but the standard library and the unzipped package.
SMOKE_TEST = """
import sys
import app.cognito.post_confirmation
import app.streams.handler

event = {"triggerSource": "PostConfirmation_ConfirmForgotPassword"}
assert app.cognito.post_confirmation.handler(event, None) is event
assert app.streams.handler.handler({"Records": []}, None) == {"batchItemFailures": []}
api_only = {"fastapi", "starlette", "uvicorn", "httpx", "jwt", "moto"}
assert not api_only & {name.split(".")[0] for name in sys.modules}, "API code in the Lambda"
"""


@pytest.mark.package
def test_the_package_runs_its_handlers_in_a_clean_environment(tmp_path: Path) -> None:
    out = tmp_path / "lambda.zip"
    build(out, platform=None)  # this machine's wheels, so this machine can run them

    package = tmp_path / "package"
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        archive.extractall(package)
    assert {f"{module.replace('.', '/')}.py" for module in HANDLER_MODULES} <= set(names)
    assert not [name for name in names if name.startswith(("app/routers/", "tests/", "fastapi/"))]
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    result = subprocess.run(  # noqa: S603 - argv built here, no shell
        [str(environment / "bin" / "python"), "-s", "-c", SMOKE_TEST],
        cwd=tmp_path,
        env={"PYTHONPATH": str(package), "CRUDDUR_AWS_REGION": "us-east-1", "PATH": os.defpath},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.package
def test_the_deployable_package_holds_wheels_for_the_lambda_runtime(tmp_path: Path) -> None:
    out = tmp_path / "lambda.zip"
    build(out, PLATFORMS["arm64"])

    with zipfile.ZipFile(out) as archive:
        extensions = [name for name in archive.namelist() if name.endswith(".so")]
    tag = f"cpython-{PYTHON_VERSION.replace('.', '')}-aarch64-linux-gnu.so"
    assert extensions
    assert [name for name in extensions if not name.endswith(tag)] == []
    assert any(name.startswith("pydantic_core/") for name in extensions)
    if sys.platform == "linux":  # the host's own wheels must not leak in
        assert not [name for name in extensions if "x86_64" in name]


def test_the_zip_depends_only_on_the_files(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "module.py").write_text("VALUE = 1\n")
    (source / "pkg" / "__pycache__").mkdir()
    (source / "pkg" / "__pycache__" / "module.cpython-311.pyc").write_bytes(b"\0")

    first = write_zip(source, tmp_path / "first.zip")
    os.utime(source / "pkg" / "module.py", (0, 0))
    second = write_zip(source, tmp_path / "second.zip")

    assert first == second == hashlib.sha256((tmp_path / "first.zip").read_bytes()).hexdigest()
    with zipfile.ZipFile(tmp_path / "first.zip") as archive:
        assert archive.namelist() == ["pkg/module.py"]
