"""Text DynamoDB can store: UTF-8, which has no encoding for a lone surrogate.

JSON's ``\\udfff`` escape and Python strings both allow lone surrogates; UTF-8 does not, so
such text can neither be stored nor sent back in a response. Writes refuse it; reads replace
it, so that text some other writer stored never breaks a page.
"""

from __future__ import annotations

import re
from typing import Final

from app.errors import ValidationCode

UNSTORABLE_TEXT: Final[ValidationCode] = "text_unstorable"

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT_CHARACTER = "\ufffd"


def is_storable(text: str) -> bool:
    return text.isascii() or _LONE_SURROGATE.search(text) is None


def storable(text: str) -> str:
    """``text``, each lone surrogate replaced by U+FFFD (the Unicode replacement character)."""
    return text if is_storable(text) else _LONE_SURROGATE.sub(REPLACEMENT_CHARACTER, text)
