"""One page of a listing: at most ``limit`` results, a bounded number of items read, a token to go on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from openips.adapters.paging import InvalidPageToken, Position
from openips.models import errors

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Filters (type, userHandle, deleted jobs) may drop most of a listing: a page reads at most this
# many items per result it may answer, and past that it is short, with a nextToken to go on.
READS_PER_RESULT = 4


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None = None  # None: this was the last page


def take_page(listed: Iterable[tuple[T | None, Position]], limit: int,
              keep: Callable[[T], bool] = lambda _: True) -> Page[T]:
    """The first ``limit`` items of ``listed`` that ``keep`` accepts (None: an item that is gone).

    ``listed`` must read lazily: this takes one item more than it answers, to know whether
    another page exists, and stops after ``READS_PER_RESULT * limit`` items.
    """
    kept: list[T] = []
    last: Position | None = None
    budget = READS_PER_RESULT * limit
    try:
        for read, (item, position) in enumerate(listed):
            if last is not None and (len(kept) == limit or read == budget):
                return Page(kept, last.token())
            if item is not None and keep(item):
                kept.append(item)
            last = position
    except InvalidPageToken as exc:
        raise errors.invalid_parameter(f"nextToken {exc}") from exc
    return Page(kept)


def single_page(items: list[T], next_token: str | None) -> Page[T]:
    """A listing that is never longer than one page (a lookup by unique name): no token continues it."""
    if next_token is not None:
        raise errors.invalid_parameter("nextToken does not continue this listing (it has one page)")
    return Page(items)
