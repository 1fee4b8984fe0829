"""Names and free text that cannot lie: no control (Cc) or format (Cf) characters.

A format character (U+202E RIGHT-TO-LEFT OVERRIDE, zero-width spaces, invisible separators)
makes a name read differently from what it is; a control character (ESC) rewrites the
terminal of whoever lists it, and a newline forges lines in a mail subject or a log. Slash
look-alikes make one path segment read as two folders.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

# Characters that render as a slash but are not one (U+2215 DIVISION SLASH and its cousins).
SLASH_LOOKALIKES = frozenset("\u2215\u2044\u29f8\uff0f\u2571\u29f5\u2216\uff3c")
# Free text may keep its line structure; names may not.
TEXT_WHITESPACE = frozenset("\n\r\t")


def hidden_characters(value: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The control, format, surrogate and unassigned characters of ``value``, as ``U+XXXX`` (first 5)."""
    found = [f"U+{ord(ch):04X}" for ch in value
             if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Cn")]
    return list(dict.fromkeys(found))[:5]


def _plain_name(value: str) -> str:
    if hidden := hidden_characters(value):
        raise ValueError(f"must not contain control or invisible format characters ({', '.join(hidden)})")
    return value


def _plain_text(value: str) -> str:
    if hidden := hidden_characters(value, TEXT_WHITESPACE):
        raise ValueError(f"must not contain control or invisible format characters ({', '.join(hidden)})")
    return value


PlainName = Annotated[str, AfterValidator(_plain_name)]  # job, company, project, preset names
PlainText = Annotated[str, AfterValidator(_plain_text)]  # descriptions: lines and tabs allowed
