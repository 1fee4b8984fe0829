"""Search words (``pdfOptions.extractSearchWords``, ``GET /v1/assets?text=``): one tokenizer for both.

A word is a run of Unicode letters and digits (``\\w`` without ``_``), lower-cased (``casefold``).
Words longer than ``MAX_WORD_CHARS`` are dropped (hashes, base64 runs), and an asset keeps at
most ``MAX_WORDS`` unique words totalling at most ``MAX_WORD_TOTAL_CHARS`` characters, in
order of first appearance, so the asset item and its index entries stay bounded (DynamoDB
items are at most 400 KB).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_WORD_CHARS = 64
MAX_WORDS = 5000
MAX_WORD_TOTAL_CHARS = 100_000

_WORD = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Every word of ``text``, lower-cased, in order (duplicates kept)."""
    return [w for w in _WORD.findall(text.casefold()) if len(w) <= MAX_WORD_CHARS]


class WordSet:
    """Unique words in order of first appearance, within the limits; ``full`` once a limit is hit."""

    def __init__(self) -> None:
        self._words: dict[str, None] = {}
        self._chars = 0
        self.full = False

    def add(self, words: Iterable[str]) -> None:
        for word in words:
            if word in self._words:
                continue
            if len(self._words) >= MAX_WORDS or self._chars + len(word) > MAX_WORD_TOTAL_CHARS:
                self.full = True
                return
            self._words[word] = None
            self._chars += len(word)

    @property
    def words(self) -> list[str]:
        return list(self._words)
