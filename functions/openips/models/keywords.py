"""The ``xmpKeywords`` string format (spec §5.19): comma-separated, ``\\,`` a comma, ``\\\\`` a backslash.

Decisions where the format says nothing: a backslash before any other character, or
at the very end, is kept literally (``a\\b`` stays ``a\\b``); each keyword is trimmed of
surrounding whitespace (escaped commas included: ``red\\, blue`` is ``red, blue``); empty
keywords are dropped; an exact repeat of an earlier keyword is dropped, first one wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_KEYWORDS = 1000
MAX_KEYWORD_LENGTH = 256
# Characters XML 1.0 cannot hold (controls other than tab/CR/LF, lone surrogates, U+FFFE/F):
# such a keyword could never be written into the file's XMP, so the job is refused.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def parse_xmp_keywords(text: str) -> list[str]:
    """The keywords of an ``xmpKeywords`` string, unescaped, trimmed, in order, without empties or repeats."""
    keywords: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in ",\\":
            current.append(text[i + 1])
            i += 2
            continue
        if char == ",":
            keywords.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    keywords.append("".join(current))
    return merge_keywords([], (k.strip() for k in keywords))


def merge_keywords(existing: Iterable[str], added: Iterable[str]) -> list[str]:
    """``existing`` then the new entries of ``added``: order kept, empties and exact repeats dropped."""
    merged: list[str] = []
    seen: set[str] = set()
    for keyword in (*existing, *added):
        if keyword and keyword not in seen:
            seen.add(keyword)
            merged.append(keyword)
    return merged


def check_xmp_keywords(text: str) -> list[str]:
    """Parse ``text``; ValueError when it has too many keywords or one is too long."""
    keywords = parse_xmp_keywords(text)
    if len(keywords) > MAX_KEYWORDS:
        raise ValueError(f"at most {MAX_KEYWORDS} keywords are allowed, got {len(keywords)}")
    for keyword in keywords:
        if _NOT_XML.search(keyword):
            raise ValueError(f"keyword {keyword[:40]!r} holds a control character that XMP cannot carry")
        if len(keyword) > MAX_KEYWORD_LENGTH:
            raise ValueError(f"keyword {keyword[:40]!r}… is {len(keyword)} characters long; "
                             f"the limit is {MAX_KEYWORD_LENGTH}")
    return keywords
