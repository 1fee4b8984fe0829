"""Names and free text that cannot lie: no control (Cc) or format (Cf) characters.

A format character (U+202E RIGHT-TO-LEFT OVERRIDE, zero-width spaces, invisible separators)
makes a name read differently from what it is; a control character (ESC) rewrites the
terminal of whoever lists it, and a newline forges lines in a mail subject or a log. Slash
look-alikes make one path segment read as two folders.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field

# Characters that render as a slash but are not one (U+2215 DIVISION SLASH and its cousins).
SLASH_LOOKALIKES = frozenset("\u2215\u2044\u29f8\uff0f\u2571\u29f5\u2216\uff3c")
# Free text may keep its line structure; names may not.
TEXT_WHITESPACE = frozenset("\n\r\t")


HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs")  # control, format, lone surrogates


def hidden_characters(value: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The control, format and lone surrogate characters of ``value``, as ``U+XXXX`` (first 5)."""
    found = [f"U+{ord(ch):04X}" for ch in value
             if ch not in allowed and unicodedata.category(ch) in HIDDEN_CATEGORIES]
    return list(dict.fromkeys(found))[:5]


# What may not reach a mail header or a line of text as itself: the hidden characters, private-use and
# unassigned ones, and the line and paragraph separators (U+2028, U+2029) that some readers break on.
ESCAPED_CATEGORIES = frozenset({*HIDDEN_CATEGORIES, "Co", "Cn", "Zl", "Zp"})


def escape_hidden(value: str, keep: frozenset[str] = frozenset()) -> str:
    """``value`` with each such character shown as an escape (``\\u000a``, ``\\u001b``, ``\\u202e``).

    For text stored before the naming rules (a legacy job name with CR/LF) that goes into a mail;
    ``keep`` lets a body keep its own line breaks. Escaping twice changes nothing more.
    """
    def shown(ch: str) -> str:
        code = ord(ch)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return "".join(shown(ch) if ch not in keep and unicodedata.category(ch) in ESCAPED_CATEGORIES else ch
                   for ch in value)


# Where Unicode puts its control, format and surrogate characters (the rest of the planes has none).
_HIDDEN_PLANES = (range(0x20000), range(0xE0000, 0xE1000))


@lru_cache(maxsize=2)
def _excluding_pattern(allowed: frozenset[str]) -> str:
    """A regular expression of strings without hidden characters: the same rule, in the OpenAPI document.

    Built only when a schema is generated (about 0.1 s), never on a function's cold start.
    """
    ranges: list[list[int]] = []
    codes = (code for plane in _HIDDEN_PLANES for code in plane if unicodedata.category(chr(code)) in HIDDEN_CATEGORIES)
    for code in codes:
        if chr(code) not in allowed:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])

    # The characters themselves, not escapes: JSON-Schema tools differ in the escapes they read.
    def char(code: int) -> str:  # surrogates cannot stand in a UTF-8 document: those as escapes
        return f"\\u{code:04x}" if 0xD800 <= code <= 0xDFFF else chr(code)
    return "^[^" + "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges) + "]*$"


def _plain_name(value: str) -> str:
    if hidden := hidden_characters(value):
        raise ValueError(f"must not contain control or invisible format characters ({', '.join(hidden)})")
    return value


def _plain_text(value: str) -> str:
    if hidden := hidden_characters(value, TEXT_WHITESPACE):
        raise ValueError(f"must not contain control or invisible format characters ({', '.join(hidden)})")
    return value


def name_schema(schema: dict) -> None:
    schema["pattern"] = _excluding_pattern(frozenset())


def _text_schema(schema: dict) -> None:
    schema["pattern"] = _excluding_pattern(TEXT_WHITESPACE)


PlainName = Annotated[str, AfterValidator(_plain_name),  # job, company, project, preset names
                      Field(json_schema_extra=name_schema)]
PlainText = Annotated[str, AfterValidator(_plain_text),  # descriptions: lines and tabs allowed
                      Field(json_schema_extra=_text_schema)]
