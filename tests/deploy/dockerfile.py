"""A reading of the Dockerfile and .dockerignore, enough to know what each stage holds and runs."""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

from deploy.build_lambda import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

Instruction = tuple[str, str]
"""(INSTRUCTION, arguments), continuation lines joined."""


def stages() -> dict[str, list[Instruction]]:
    """Each stage's instructions (its FROM first), by stage name (or index when unnamed)."""
    result: dict[str, list[Instruction]] = {}
    logical = ""
    current: list[Instruction] | None = None
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        logical += line.rstrip().removesuffix("\\") + " " if line.endswith("\\") else line
        if line.endswith("\\"):
            continue
        keyword, _, arguments = logical.strip().partition(" ")
        logical = ""
        instruction = (keyword.upper(), arguments.strip())
        if instruction[0] == "FROM":
            name = arguments.split(" AS ")[-1].strip() if " AS " in arguments else str(len(result))
            current = result[name] = []
        if current is not None:
            current.append(instruction)
    return result


def final_stage() -> list[Instruction]:
    return list(stages().values())[-1]


def arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [found_arguments for found, found_arguments in stage if found == keyword]


def copied_sources(stage_name: str) -> set[str]:
    """What the build context's COPY instructions put into the stage, its base stages included."""
    all_stages = stages()
    sources: set[str] = set()
    name: str | None = stage_name
    while name in all_stages:
        stage = all_stages[name]
        for copy in arguments(stage, "COPY"):
            if not copy.startswith("--from"):
                sources.update(copy.split()[:-1])
        [base] = arguments(stage, "FROM")
        name = base.split(" AS ")[0].strip()
    return sources


def in_build_context(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (last matching rule wins)."""
    included = True
    for rule in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.removeprefix("!").rstrip("/")
        parents = [str(p) for p in PurePosixPath(path).parents if str(p) != "."]
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in [path, *parents]):
            included = negated
    return included
