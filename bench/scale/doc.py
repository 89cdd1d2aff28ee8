"""The generated parts of docs/scaling.md, rewritten in place.

A region runs from ``<!-- begin NAME -->`` to ``<!-- end NAME -->``, each on its own line;
everything outside the regions is prose, which the commands never touch.
``python -m bench.scale --update-doc`` writes the model's regions and
``python -m bench.scale.simulate --update-doc`` the replay's; tests/bench/test_scale.py
requires the committed document to equal what they write now.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

SCALING_DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
SCALING_FIGURE = SCALING_DOC.with_name("scaling.png")


def updated(text: str, regions: Mapping[str, str]) -> str:
    """``text`` with each named region's content replaced; a missing region is an error."""
    for name, content in regions.items():
        begin, end = f"<!-- begin {name} -->\n", f"\n<!-- end {name} -->"
        pattern = re.compile(f"^{re.escape(begin)}.*?{re.escape(end)}$", re.DOTALL | re.MULTILINE)
        text, count = pattern.subn(f"{begin}{content}{end}".replace("\\", "\\\\"), text)
        if count != 1:
            raise ValueError(f"expected one region {name!r}, found {count}")
    return text


def update(path: Path, regions: Mapping[str, str]) -> None:
    path.write_text(updated(path.read_text(encoding="utf-8"), regions), encoding="utf-8")
