"""The ``openips`` client's look: plain lines on a pipe, rich on a terminal, and never anyone's markup or escapes."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console
from rich.text import Text

from openips_cli import main as entry
from openips_cli.cli.follow import FollowDisplay, detail_line
from openips_cli.cli.terminal import Column, Output, Screen, fit_widths, format_table, printable
from openips_cli.cli.transfer import UploadProgress, tail

MARKUP = "[bold]x[/bold]"
ESC = "demo\x1b[2J\x1b]0;pwned\x07"
ESCAPED = "demo\\u001b[2J\\u001b]0;pwned\\u0007"
# What rich itself writes on a terminal: SGR colours, cursor moves, line erases, cursor show/hide.
RICH_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

LOGS = {"jobLogArray": [
    {"jobHandle": "j-abcdefghijklmnopqrst", "jobName": MARKUP, "logType": "EndUpload",
     "startDate": "2026-11-28T10:20:51.123Z", "endDate": "2026-11-28T10:21:03.456Z", "totalFileCount": 4,
     "fileSuccessCount": 3, "fileUpdateCount": 0, "fileDuplicateCount": 0, "fileWarningCount": 1,
     "fileErrorCount": 1},
    {"jobHandle": "j-bcdefghijklmnopqrstu", "jobName": ESC, "logType": "BeginUpload",
     "startDate": "2026-11-28T10:22:00Z", "totalFileCount": 12, "fileSuccessCount": 0, "fileUpdateCount": 0,
     "fileDuplicateCount": 0, "fileWarningCount": 0, "fileErrorCount": 0},
]}


class FakeClient:
    """The few reads these tests make, answered from memory."""

    def __init__(self, api_url: str, api_key: str) -> None:
        pass

    def job_logs(self, **_: object) -> dict:
        return LOGS

    def close(self) -> None:
        pass


def terminal(width: int = 80) -> tuple[Console, io.StringIO]:
    """A console that believes it draws on a terminal of ``width`` cells, recording what it writes."""
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=width, markup=False, emoji=False, highlight=False), buffer


def visible(written: str) -> str:
    """What a terminal shows of rich's output: its own control sequences taken out."""
    return RICH_CONTROL.sub("", written)


def assert_nothing_of_theirs_escaped_to_the_terminal(written: str) -> None:
    assert "\x1b" not in visible(written) and "\x07" not in written


@pytest.fixture
def fake_api(monkeypatch):
    monkeypatch.setattr(entry, "OpenIpsClient", FakeClient)
    return ["--api-url", "http://api.example", "--api-key", "k"]


# ---- on a pipe: exactly what scripts have always read --------------------------------------------------


def test_line_and_paragraph_separators_are_escaped_as_the_server_escapes_them():
    from openips.models.text import escape_hidden

    name = "row one\u2028row two\u2029\u202e\x1b[2J"
    assert printable(name) == "row one\\u2028row two\\u2029\\u202e\\u001b[2J"
    assert printable(name) == escape_hidden(name)
    assert printable("keeps\nline breaks\tand tabs") == "keeps\nline breaks\tand tabs"


def test_a_listing_on_a_pipe_is_the_plain_table_with_every_hidden_character_escaped(fake_api, capsys):
    assert entry.main([*fake_api, "jobs", "logs"]) == 0
    out = capsys.readouterr().out
    # (column widths are counted before the escapes, as they always were: that name's row runs long)
    assert out.splitlines() == [
        "JOB                     NAME                LOG TYPE     STARTED              ENDED                "
        "FILES  NEW  UPD  DUP  WARN  ERR",
        "j-abcdefghijklmnopqrst  [bold]x[/bold]      EndUpload    2026-11-28 10:20:51  2026-11-28 10:21:03      "
        "4    3    0    0     1    1",
        f"j-bcdefghijklmnopqrstu  {ESCAPED}  BeginUpload  2026-11-28 10:22:00                          "
        "12    0    0    0     0    0",
    ]
    assert "\x1b" not in out and "\r" not in out


def test_json_is_the_same_bytes_on_a_pipe_and_on_a_terminal(fake_api, monkeypatch, capsys):
    expected = json.dumps(LOGS, indent=2, ensure_ascii=False) + "\n"
    assert entry.main([*fake_api, "--json", "jobs", "logs"]) == 0
    # (the ESC of a name is escaped by PrintableStream as JSON does: the document stays valid)
    piped = capsys.readouterr().out
    console, drawn = terminal()
    monkeypatch.setattr(entry.Screen, "detect", classmethod(lambda cls, out, err: Screen(out=console, err=console)))
    assert entry.main([*fake_api, "--json", "jobs", "logs"]) == 0
    assert capsys.readouterr().out == piped and drawn.getvalue() == ""
    assert json.loads(piped) == LOGS and piped == expected.replace("\u001b", "\\u001b").replace("\u0007", "\\u0007")


def test_upload_progress_on_a_pipe_prints_only_the_refusals(capsys):
    progress = UploadProgress({"a.jpg": 10, MARKUP: 5}, console=None)
    progress.file_started("a.jpg", 10)(10)
    progress.file_done("a.jpg")
    progress.message(f"refused: {MARKUP}: EntityTooLarge: too big")
    progress.file_done(MARKUP, refused=True)
    progress.finish()
    out = capsys.readouterr()
    assert out.out == "" and out.err == f"refused: {MARKUP}: EntityTooLarge: too big\n"
    assert (progress.files_done, progress.total) == (2, 10)


def test_following_on_a_pipe_prints_each_row_and_each_change_of_state(capsys):
    display = FollowDisplay(Output(as_json=False, quiet=False))
    running = {"state": "Running", "progress": 40, "progressMessage": "2 of 5 files processed"}
    display.row({"logType": "UploadError", "logMessage": "broken.jpg could not be processed"})
    display.state(running)
    display.state(running)
    display.state({**running, "progress": 60, "progressMessage": "3 of 5 files processed"})
    display.close()
    assert capsys.readouterr().out.splitlines() == [
        "UploadError    broken.jpg could not be processed",
        "Running 40%: 2 of 5 files processed",
        "Running 60%: 3 of 5 files processed",
    ]


# ---- on a terminal: rich, fitted, and still nobody's markup --------------------------------------------


def test_a_listing_on_a_terminal_fits_its_width_and_shows_names_as_they_are(fake_api, monkeypatch, capsys):
    console, drawn = terminal(width=200)
    monkeypatch.setattr(entry.Screen, "detect", classmethod(lambda cls, out, err: Screen(out=console)))
    assert entry.main([*fake_api, "jobs", "logs"]) == 0
    assert capsys.readouterr().out == ""  # all of it drawn by rich, on the real stream
    written = drawn.getvalue()
    assert_nothing_of_theirs_escaped_to_the_terminal(written)
    shown = visible(written)
    assert MARKUP in shown and ESCAPED in shown and "─" * 10 in shown
    assert "\x1b[" in written  # styled: the header is bold, the error count red


@pytest.mark.parametrize("width", [120, 70])
def test_a_wide_table_wraps_its_text_and_dates_before_its_handles_and_never_cuts_a_number(width):
    console, drawn = terminal(width)
    columns = [Column("JOB", "handle"), Column("NAME"), Column("LOG TYPE", "word"), Column("STARTED", "date"),
               Column("FILES", "count"), Column("ERR", "count", alert="red")]
    rows = [["j-abcdefghijklmnopqrst", "a rather long job name with words", "EndUpload", "2026-11-28 10:20:51",
             1234, 7]]
    Output(False, False, Screen(out=console)).table(columns, rows, empty="none")
    lines = visible(drawn.getvalue()).splitlines()
    assert all(len(line) <= width for line in lines)
    assert lines[2].split()[-2:] == ["1234", "7"]  # the numbers, whole, on the row's first line
    assert lines[2].startswith("j-abcdefghijklmnopqrst  ")  # the handle stays whole
    if width == 120:
        assert "a rather long job name with words" in lines[2] and "2026-11-28 10:20:51" in lines[2]
    else:  # the name wrapped, then the date went over two lines
        assert "2026-11-28" in lines[2] and "10:20:51" in lines[3] and "long job" in lines[3]


def test_fitting_takes_text_first_then_dates_then_words_then_handles():
    columns = [Column("H", "handle"), Column("T"), Column("D", "date"), Column("S", "word"), Column("N", "count")]
    cells = [[Text("h" * 22), Text("t" * 30), Text("2026-11-28 10:20:51"), Text("WaitingCoordinator"), Text("9")]]
    numeric = [False, False, False, False, True]
    natural = fit_widths(columns, cells, numeric, 200)
    assert natural == [22, 30, 19, 18, 1]
    # 98 cells with the four gaps of two
    assert fit_widths(columns, cells, numeric, 98) == natural
    assert fit_widths(columns, cells, numeric, 90) == [22, 22, 19, 18, 1]
    assert fit_widths(columns, cells, numeric, 70) == [22, 10, 11, 18, 1]
    assert fit_widths(columns, cells, numeric, 60) == [22, 10, 10, 9, 1]
    assert fit_widths(columns, cells, numeric, 50) == [14, 10, 10, 7, 1]
    assert fit_widths(columns, cells, numeric, 10) == [4, 4, 4, 4, 1]  # cropped at the edge


def test_upload_progress_on_a_terminal_has_a_bar_per_file_and_a_total_with_bytes_rate_and_time():
    console, drawn = terminal(width=120)
    now = [100.0]
    sizes = {"shoes/red.jpg": 2048, f"{MARKUP}.jpg": 1024, f"{ESC}.jpg": 4096}
    progress = UploadProgress(sizes, console, clock=lambda: now[0])
    sent = {name: progress.file_started(name, size) for name, size in sizes.items()}
    sent["shoes/red.jpg"](1024)
    now[0] += 1
    sent[f"{MARKUP}.jpg"](1024)
    now[0] += 1
    progress._bars.refresh()
    frame = visible(drawn.getvalue()).split("\r")[-1]
    assert "0/3 files" in frame and "2.0 KB / 7.0 KB" in frame and "1.0 KB / 2.0 KB" in frame
    assert "1.0 KB/s" in frame and "0:00:05" in frame  # 5 KB left at 1 KB/s
    assert "shoes/red.jpg" in frame and f"{MARKUP}.jpg" in frame
    assert "…" + f"{ESCAPED}.jpg"[-31:] in frame  # a long name keeps its end, in 32 cells
    assert "-:--:--" in frame or "0:00:0" in frame  # time left
    progress.file_done(f"{MARKUP}.jpg")
    sent["shoes/red.jpg"](1024)
    progress.file_done("shoes/red.jpg")
    progress.message(f"refused: {ESC}.jpg: EntityTooLarge: too big")
    progress.file_done(f"{ESC}.jpg", refused=True)  # none of its bytes sent: they leave the total
    progress.finish()
    written = drawn.getvalue()
    assert_nothing_of_theirs_escaped_to_the_terminal(written)
    last = visible(written).rstrip("\n").splitlines()[-1]
    assert "3/3 files" in last and "100%" in last and "3.0 KB / 3.0 KB" in last and "KB/s" in last
    assert f"refused: {ESCAPED}.jpg: EntityTooLarge: too big" in visible(written)


def test_upload_progress_shows_at_most_eight_files_and_counts_the_others():
    console, drawn = terminal(width=120)
    sizes = {f"f{n:02d}.jpg": 10 for n in range(12)}
    progress = UploadProgress(sizes, console)
    for name in sizes:
        progress.file_started(name, 10)
    progress._bars.refresh()
    frame = visible(drawn.getvalue()).split("0/12 files")[-1]
    assert "(+4 not shown)" in frame and "f07.jpg" in frame and "f08.jpg" not in frame
    progress.file_done("f00.jpg")
    progress._bars.refresh()
    frame = visible(drawn.getvalue()).split("1/12 files")[-1]
    assert "(+3 not shown)" in frame and "f08.jpg" in frame and "f00.jpg" not in frame
    progress.finish()


def test_following_on_a_terminal_shows_counts_live_and_rows_above_them():
    console, drawn = terminal(width=120)
    display = FollowDisplay(Output(as_json=False, quiet=False, screen=Screen(out=console)))
    display.row({"logType": "UploadError", "logMessage": f"{MARKUP} {ESC}.jpg could not be processed",
                 "auxArray": [{"logMessage": "truncated"}]})
    display.state({"state": "Running", "progress": 40, "progressMessage": "2 of 5 files processed",
                   "taskProgressArray": [{"numProcessed": 2, "numProcessing": 1, "numPending": 2}]})
    display._live.refresh()
    display.close()
    written = drawn.getvalue()
    assert_nothing_of_theirs_escaped_to_the_terminal(written)
    shown = visible(written)
    assert f"UploadError    {MARKUP} {ESCAPED}.jpg could not be processed (truncated)" in shown
    assert "Running" in shown and "2/5 processed · 1 processing · 2 pending · 1 errors · 0 warnings" in shown


def test_quiet_draws_nothing_even_on_a_terminal():
    console, drawn = terminal()
    out = Output(as_json=False, quiet=True, screen=Screen(out=console, err=console))
    assert out.info_console is None and out.progress_console is None
    assert Output(as_json=True, quiet=False, screen=Screen(out=None, err=console)).info_console is console


# ---- small parts ------------------------------------------------------------------------------------


def test_a_long_path_keeps_its_end():
    assert tail("shoes/red.jpg", 32) == "shoes/red.jpg"
    assert tail("a/very/deep/folder/of/shoes/red.jpg", 16) == "…f/shoes/red.jpg"
    assert tail("靴/赤い靴.jpg", 8) == "…靴.jpg"


def test_the_plain_table_and_the_follow_line_are_unchanged():
    assert format_table(["A", "N"], [["x", 1], ["yy", 10]]) == "A   N\nx    1\nyy  10"
    assert detail_line({"logType": "UploadWarning", "logMessage": "m", "auxArray": [{"logMessage": "a"}]}) == \
        "UploadWarning  m (a)"
