"""What a person sees, and where it goes: results on stdout, chatter and errors on stderr.

On a pipe, a file or a captured stream, every command prints the plain, line-oriented text it
always did (no ANSI escapes, no carriage-return redraws): scripts parse it. Only a stream that is
a terminal gets a rich ``Console`` (``Screen``): tables that fit its width, live progress.

Names and messages come from other people's uploads and jobs. Everything shown is made
``printable`` first, and reaches rich as ``Text``, never as markup: a file named
``[bold]x[/bold]`` shows as itself, an ESC as ``\\u001b``.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TextIO

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

# ---- values as text --------------------------------------------------------------------------


# Control, format, surrogate, private-use and unassigned characters, and line/paragraph separators
# (as the server's models.text.escape_hidden shows them in mails).
HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def printable(text: str) -> str:
    """``text`` with every control and invisible format character shown as an escape (``\\u001b``, ``\\u202e``).

    Names and messages come from other people's uploads and jobs: an ESC sequence in a job name
    must not rewrite the terminal of whoever lists it, nor U+202E reverse what they read, nor a
    line or paragraph separator (U+2028, U+2029) break one row in two for a script reading lines.
    """
    # JSON's own escapes (``\\u001b``), so that ``--json`` output stays valid JSON through this too.
    return "".join(ch if ch in "\n\t\r" or unicodedata.category(ch) not in HIDDEN_CATEGORIES
                   else json.dumps(ch)[1:-1] for ch in text)


def shown(value: Any, style: str = "") -> Text:
    """``value`` as rich ``Text``: printable, and never read as markup."""
    return Text(printable("" if value is None else str(value)), style=style)


def short_date(value: Any) -> str:
    """An ISO 8601 date as ``YYYY-MM-DD HH:MM:SS`` (unchanged when it does not parse)."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)


def human_size(size: float) -> str:
    """Bytes in B, KB, MB, GB or TB (powers of 1024, one decimal above bytes)."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


# What a word means, on a terminal: log types and job states by colour.
STYLES = {
    "UploadError": "bold red", "FileCancel": "red", "UploadWarning": "yellow",
    "UploadSuccess": "green", "FileUpdated": "green", "EndUpload": "green", "DuplicateSkipped": "dim",
    "BeginUpload": "cyan", "Running": "cyan", "WaitingClient": "dim", "Stopping": "yellow",
    "WaitingCoordinator": "yellow",
}


# ---- tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a listing, and how it gives way when the terminal is too narrow for the table.

    Numbers never do (right-aligned, as on a pipe); then, in this order, ``text`` wraps at spaces
    down to 10 cells, a ``date`` to its day over its time, a ``word`` (one value: a state, a log
    type, a size; coloured when ``STYLES`` names it) folds to 7 cells, and a ``handle`` folds last,
    never cut: people copy handles. A ``count`` is a number that ``alert`` colours when not zero.
    """

    header: str
    kind: Literal["handle", "text", "date", "word", "count"] = "text"
    alert: str = ""


# (order in which a kind of column gives way, the narrowest it gets); numbers are not listed: they never do.
_GIVE_WAY = {"text": (0, 10), "date": (1, 10), "word": (2, 7), "handle": (3, 12), "count": (3, 12)}
LAST_FLOOR = 4  # the narrowest any column gets before a table is cropped at the terminal's edge
GAP = 2  # cells between two columns, on a terminal as on a pipe


def _numeric_columns(values: Sequence[Sequence[Any]], count: int) -> list[bool]:
    return [bool(values) and all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool)
                                 for row in values if row[i] is not None) for i in range(count)]


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table: columns two spaces apart, numbers right-aligned, no trailing blanks."""
    values = [list(row) for row in rows]
    cells = [[("" if v is None else str(v)) for v in row] for row in values]
    numeric = _numeric_columns(values, len(headers))
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str], header: bool = False) -> str:
        parts = [v.rjust(w) if numeric[i] and not header else v.ljust(w)
                 for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers, header=True)] + [line(row) for row in cells])


def fit_widths(columns: Sequence[Column], cells: Sequence[Sequence[Text]], numeric: Sequence[bool],
               available: int) -> list[int]:
    """Each column's width: what its widest cell needs, less what the table is too wide by, taken in order.

    Within one kind the widest column gives a cell first, so columns of a kind end up alike. When
    every kind is down to its floor, all but the numbers go on giving, widest first, down to
    ``LAST_FLOOR``; a table that cannot fit even then is cropped at the terminal's edge.
    """
    widths = [max(cell_len(line) for text in [Text(c.header), *(row[i] for row in cells)]
                  for line in text.plain.split("\n")) for i, c in enumerate(columns)]
    excess = sum(widths) + GAP * (len(columns) - 1) - available
    for order in range(4):
        floors = {i: min(widths[i], _GIVE_WAY[c.kind][1]) for i, c in enumerate(columns)
                  if not numeric[i] and _GIVE_WAY[c.kind][0] == order}
        while excess > 0:
            giving = [i for i in floors if widths[i] > floors[i]]
            if not giving:
                break
            widest = max(giving, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    # Still too wide: every column but the numbers gives way below its floor, widest first.
    while excess > 0:
        giving = [i for i in range(len(columns)) if not numeric[i] and widths[i] > LAST_FLOOR]
        if not giving:
            break
        widths[max(giving, key=lambda i: widths[i])] -= 1
        excess -= 1
    return widths


def rich_table(columns: Sequence[Column], rows: Iterable[Sequence[Any]], width: int) -> Table:
    """The same table for a terminal of ``width`` cells: a rule under the header, and it fits (``fit_widths``)."""
    values = [list(row) for row in rows]
    numeric = _numeric_columns(values, len(columns))
    cells = []
    for row in values:
        line = []
        for column, value in zip(columns, row):
            style = STYLES.get(str(value), "") if column.kind == "word" else ""
            if column.kind == "count" and column.alert and isinstance(value, int) and value:
                style = column.alert
            line.append(shown(value, style))
        cells.append(line)
    widths = fit_widths(columns, cells, numeric, width)
    # SIMPLE_HEAD: a rule under the header, and one blank divider between columns: with one cell of
    # padding on the right, columns are GAP apart. The table's width is what ``fit_widths`` made it,
    # so that rich shrinks nothing further (a table wider than the terminal is cropped at its edge).
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold", width=sum(widths) + GAP * (len(widths) - 1))
    for column, is_number, fitted in zip(columns, numeric, widths):
        table.add_column(Text(column.header), justify="right" if is_number else "left", width=fitted,
                         no_wrap=is_number, overflow="fold")
    for line in cells:
        table.add_row(*line)
    return table


# ---- where text goes ---------------------------------------------------------------------------


def terminal_console(stream: TextIO) -> Console | None:
    """A rich console on ``stream`` when it is a terminal; ``None`` on a pipe, a file or a captured stream."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    # No markup, emoji codes or highlighting: rich draws what it is given, styled only where we say.
    return Console(file=stream, markup=False, emoji=False, highlight=False) if interactive else None


@dataclass(frozen=True)
class Screen:
    """The rich consoles of stdout and stderr: each ``None`` unless that stream is a terminal."""

    out: Console | None = None
    err: Console | None = None

    @classmethod
    def detect(cls, stdout: TextIO, stderr: TextIO) -> Screen:
        """The consoles of these streams, taken before ``PrintableStream`` wraps them (rich writes its own escapes)."""
        return cls(terminal_console(stdout), terminal_console(stderr))


class PrintableStream:
    """A text stream that writes ``printable(text)``: what a person reads (``--json`` escapes by itself)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class Output:
    """Where text goes: results on stdout (JSON with ``--json``), chatter and errors on stderr."""

    def __init__(self, as_json: bool, quiet: bool, screen: Screen | None = None) -> None:
        self.as_json, self.quiet = as_json, quiet
        self.screen = screen or Screen()

    def result(self, data: Any, human: Callable[[], None]) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            human()

    def info(self, text: str) -> None:
        """Human progress text: stdout normally, stderr under ``--json``, nowhere under ``-q``."""
        if not self.quiet:
            print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    @property
    def info_console(self) -> Console | None:
        """The terminal ``info`` text goes to, for live displays; ``None`` on a pipe and under ``-q``."""
        return None if self.quiet else (self.screen.err if self.as_json else self.screen.out)

    @property
    def progress_console(self) -> Console | None:
        """The terminal upload progress is drawn on (stderr); ``None`` on a pipe and under ``-q``."""
        return None if self.quiet else self.screen.err

    def table(self, columns: Sequence[Column], rows: Iterable[Sequence[Any]], empty: str) -> None:
        """A listing on stdout: rich and fitted on a terminal, ``format_table`` elsewhere, ``empty`` without rows."""
        values = [list(row) for row in rows]
        if not values:
            print(empty)
        elif self.screen.out is None:
            print(format_table([c.header for c in columns], values))
        else:
            self.screen.out.print(rich_table(columns, values, self.screen.out.width))

    @staticmethod
    def warn(text: str) -> None:
        print(text, file=sys.stderr, flush=True)
