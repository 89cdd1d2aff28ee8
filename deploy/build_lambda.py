"""Build the Lambda deployment package: the handlers' code and their locked dependencies.

    python -m deploy.build_lambda --out build/lambda.zip            # arm64, Python 3.12
    python -m deploy.build_lambda --out build/lambda.zip --arch x86_64

Only what the handlers import goes in: the modules of ``app/`` they reach (no routers, no
auth) and the distributions providing the third-party modules those import, installed by
uv with the versions and hashes of ``requirements.lock``, as wheels for the Lambda platform.
boto3 and botocore are packaged too: the runtime's own copies are other versions than the
botocore that aiobotocore pins. The zip is byte-for-byte reproducible, so its hash can name
the S3 object and an unchanged build leaves the functions alone.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
HANDLER_MODULES = ("app.streams.handler", "app.cognito.post_confirmation")
"""The modules of the template's ``Handler`` entries (``<module>.handler``)."""

PYTHON_VERSION = "3.12"
"""The template's ``Runtime: python3.12``."""
PLATFORMS = {
    # Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34).
    "arm64": "aarch64-manylinux_2_28",
    "x86_64": "x86_64-manylinux_2_28",
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so equal inputs give an equal zip


class BuildError(Exception):
    pass


def _module_file(module: str, root: Path) -> Path:
    path = root.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _runtime_imports(tree: ast.Module) -> Iterator[str]:
    """Modules imported when the module runs (not those under ``if TYPE_CHECKING:``)."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))


def import_closure(roots: Iterable[str], root: Path = REPO) -> tuple[set[str], set[str]]:
    """(our modules, third-party top-level names) that importing ``roots`` runs."""
    ours: set[str] = set()
    third_party: set[str] = set()
    pending = list(roots)
    while pending:
        module = pending.pop()
        parts = module.split(".")
        if not _module_file(module, root).exists():
            if parts[0] != "app":
                third_party.add(parts[0])
            continue  # `from app.x import name`: the name is not a module
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        for end in range(1, len(parts) + 1):
            name = ".".join(parts[:end])
            if name not in ours:
                ours.add(name)
                source = _module_file(name, root).read_text(encoding="utf-8")
                pending.extend(_runtime_imports(ast.parse(source)))
    stdlib = sys.stdlib_module_names | {"__future__"}
    return ours, {name for name in third_party if name not in stdlib}


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    """Distribution name -> version pinned by the lock (hash lines are uv's business)."""
    versions: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        requirement = line.split(";")[0].split("\\")[0].strip()
        if "==" in requirement and not line.startswith((" ", "#")):
            name, version = requirement.split("==")
            versions[_canonical(name)] = version.strip()
    return versions


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def requirements_for(modules: Iterable[str], lock: Path = LOCK) -> list[str]:
    """``name==version`` of the distributions providing ``modules``, as locked."""
    providers = packages_distributions()
    versions = locked_versions(lock)
    requirements = set()
    for module in modules:
        if module not in providers:
            raise BuildError(f"no installed distribution provides {module!r}: run `make install`")
        for distribution in providers[module]:
            name = _canonical(distribution)
            if name not in versions:
                raise BuildError(f"{name} (for {module!r}) is not in {lock.name}")
            requirements.add(f"{name}=={versions[name]}")
    return sorted(requirements)


def _uv() -> str:
    beside_python = Path(sys.executable).with_name("uv")
    found = str(beside_python) if beside_python.exists() else shutil.which("uv")
    if found is None:
        raise BuildError("uv not found: `make install` puts it in .venv/bin")
    return found


def install(requirements: list[str], target: Path, platform: str | None) -> None:
    """Wheels only, hash-checked against the lock; ``platform=None`` targets this machine."""
    command = [_uv(), "pip", "install", "--quiet", "--target", str(target)]
    if platform is None:
        command += ["--python", sys.executable]
    else:
        command += ["--python-platform", platform, "--python-version", PYTHON_VERSION]
    command += ["--only-binary", ":all:", "--require-hashes", "--constraint", str(LOCK)]
    subprocess.run([*command, *requirements], check=True)  # noqa: S603 - argv built here, no shell
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: nothing runs them


def copy_modules(modules: Iterable[str], target: Path, root: Path = REPO) -> None:
    for module in modules:
        source = _module_file(module, root)
        destination = target / source.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def write_zip(source: Path, out: Path) -> str:
    """Zip ``source`` reproducibly; returns the zip's sha256."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(
        path
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            entry = zipfile.ZipInfo(path.relative_to(source).as_posix(), _ZIP_TIME)
            entry.external_attr = 0o644 << 16  # Lambda only needs to read the files
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return hashlib.sha256(out.read_bytes()).hexdigest()


def build(out: Path, platform: str | None = PLATFORMS["arm64"]) -> str:
    """Build the package at ``out``; returns its sha256."""
    ours, third_party = import_closure(HANDLER_MODULES)
    requirements = requirements_for(third_party)
    with tempfile.TemporaryDirectory(prefix="lambda-") as staging:
        target = Path(staging)
        install(requirements, target, platform)
        copy_modules(sorted(ours), target)
        return write_zip(target, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "lambda.zip")
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    arguments = parser.parse_args(argv)
    digest = build(arguments.out, PLATFORMS[arguments.arch])
    size_mib = arguments.out.stat().st_size / 2**20
    print(f"{arguments.out} ({size_mib:.1f} MiB) sha256={digest}")
    print(f"upload as: lambda-{digest[:16]}.zip")


if __name__ == "__main__":
    main()
