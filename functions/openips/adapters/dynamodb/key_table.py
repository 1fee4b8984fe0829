"""The table of keys.py's docstring, made by calling its builders with placeholders (``<j>`` for a job handle…).

Not imported by the functions (the tests and whoever regenerates the docstring use it):
``python -c "from openips.adapters.dynamodb.key_table import render_key_table; print(render_key_table())"``.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from openips.adapters.dynamodb.keys import (
    api_key_key,
    asset_index,
    asset_key,
    asset_logs_partition,
    asset_name_guard_key,
    claim_key,
    company_index,
    company_jobs_partition,
    company_key,
    extraction_counted_key,
    extraction_day_key,
    image_preset_count_key,
    image_preset_key,
    inflight_key,
    job_asset_link_key,
    job_key,
    job_name_guard_key,
    log_row_sort,
    logs_of,
    mail_counted_key,
    mail_day_key,
    preset_key,
    preset_listing_key,
    project_asset_link_key,
    project_index,
    project_key,
    project_name_guard_key,
    set_run_key,
    step_key,
    user_index,
    user_key,
    webhook_secret_key,
    word_key,
)


class _Placeholder(str):
    """A stand-in argument (``<j>``) that builders format as they would a handle."""

    def casefold(self) -> str:
        return self.replace(">", ", casefolded>") if self.startswith("<") else super().casefold()


def _p(name: str) -> _Placeholder:
    return _Placeholder(f"<{name}>")


class _Like:
    """A stand-in model: builders read its attributes as placeholders."""

    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)


@dataclass(frozen=True)
class KeyRow:
    item: str
    table: str
    key: Callable[[], dict[str, str]]
    notes: Callable[[], str] = lambda: ""


def _gsi(index: dict[str, str]) -> str:
    return f"gsi1 ``{index['gsi1pk']}`` / ``{index['gsi1sk']}``"


_J, _C, _A, _P = _p("j"), _p("c"), _p("a"), _p("p")
_ASSET_LIKE = _Like(company_handle=_C, folder=_p("folder"), name=_p("name"))
_PROJECT_LIKE = _Like(company_handle=_C, name=_p("name"))


def _job_notes() -> str:
    sort = f"{_p('start')}#{_J}"
    return (f"gsi1 ``{company_jobs_partition(_C)}`` / ``{sort}`` (``{company_jobs_partition(_C, deleted=True)}`` "
            f"once deleted); active ``{_C}`` / ``{sort}`` until finalized (sparse)")


def _log_row_key() -> dict[str, str]:
    return {"pk": logs_of(_J).pk, "sk": log_row_sort(str(_p("date")), "", str(_p("order")), "")}


KEY_TABLE: tuple[KeyRow, ...] = (
    KeyRow("company", "jobs", lambda: company_key(_C), lambda: _gsi(company_index(_Like(company_handle=_C)))),
    KeyRow("job", "jobs", lambda: job_key(_J), _job_notes),
    KeyRow("job-name guard", "jobs", lambda: job_name_guard_key(_C, _p("name")),
           lambda: "one per job, kept: getJobLogs by name pages through them"),
    KeyRow("file claim", "jobs", lambda: claim_key(_J, _p("claim"))),
    KeyRow("log row", "jobs", _log_row_key,
           lambda: (f"gsi1 ``{asset_logs_partition(_A)}`` / the sk, when the row names an asset; order: rank "
                    "(begin 0, end 9, others 5), the file's row number, 8 random hex digits")),
    KeyRow("job→asset link", "jobs", lambda: job_asset_link_key(_J, _A),
           lambda: "the job created or updated the asset"),
    KeyRow("asset", "jobs", lambda: asset_key(_A), lambda: _gsi(asset_index(_ASSET_LIKE))),
    KeyRow("asset-ID guard", "jobs", lambda: asset_name_guard_key(_C, _p("name")),
           lambda: "asset IDs are unique in the company"),
    KeyRow("word index entry", "jobs", lambda: word_key(_C, _p("word"), _A),
           lambda: "an asset holding the word (extractSearchWords; ``?text=``)"),
    KeyRow("set preset", "jobs", lambda: preset_key(_P)),
    KeyRow("preset listing", "jobs", lambda: preset_listing_key(_C, _P),
           lambda: "a copy of the preset: a company's presets are one Query"),
    KeyRow("set-run marker", "jobs", lambda: set_run_key(_J, f"{_P}#{_p('set')}"),
           lambda: "the row a preset run wrote for one set (re-runs answer it)"),
    KeyRow("image preset", "jobs", lambda: image_preset_key(_C, _p("name")),
           lambda: "``$name$`` of delivery URLs: one per name in any case"),
    KeyRow("image preset count", "jobs", lambda: image_preset_count_key(_C),
           lambda: "``n``: the company's image presets, counted with each write"),
    KeyRow("project", "jobs", lambda: project_key(_P),
           lambda: _gsi(project_index(_PROJECT_LIKE))),
    KeyRow("project-name guard", "jobs", lambda: project_name_guard_key(_C, _p("name"))),
    KeyRow("project→asset link", "jobs", lambda: project_asset_link_key(_P, _A)),
    KeyRow("step marker", "jobs", lambda: step_key(_J, _p("step")),
           lambda: "a finalize step or webhook attempt, taken with a lease"),
    KeyRow("in-flight slots", "jobs", lambda: inflight_key(_C),
           lambda: "``holders``: holder id → lease end (epoch s)"),
    KeyRow("extraction budget day", "jobs", lambda: extraction_day_key(_C, _p("day")),
           lambda: "members and bytes extracted that UTC day (TTL ``expiresAt``)"),
    KeyRow("extraction counted", "jobs", lambda: extraction_counted_key(_J, _p("claim")),
           lambda: "the archive's members were counted (a retry is a no-op)"),
    KeyRow("mail quota day", "jobs", lambda: mail_day_key(_C, _p("day")),
           lambda: "``mails``, ``resends`` counted that UTC day (TTL ``expiresAt``)"),
    KeyRow("mail counted", "jobs", lambda: mail_counted_key(_J, _p("step")),
           lambda: "the step's mail took its place"),
    KeyRow("user", "accounts", lambda: user_key(_p("u")),
           lambda: _gsi(user_index(_Like(company_handle=_C, email=_p("email"))))),
    KeyRow("API key", "accounts", lambda: api_key_key(_p("sha256")),
           lambda: "the user item names its one live key"),
    KeyRow("webhook secret", "accounts", lambda: webhook_secret_key(_C)),
)

_WIDTHS = (21, 10, 21, 25, 32)


def render_key_table() -> str:
    """The table of this module's docstring, from the builders themselves."""
    rule = "  ".join("=" * w for w in _WIDTHS)
    lines = [rule, "  ".join(h.ljust(w) for h, w in zip(
        ("item", "table", "pk", "sk", "indexes, notes"), _WIDTHS, strict=True)).rstrip(), rule]
    for row in KEY_TABLE:
        key = row.key()
        notes = textwrap.wrap(row.notes(), _WIDTHS[4]) or [""]
        cells = (row.item, row.table, f"``{key['pk']}``", f"``{key['sk']}``", notes[0])
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, _WIDTHS, strict=True)).rstrip())
        indent = sum(w + 2 for w in _WIDTHS[:4])
        lines += [" " * indent + more for more in notes[1:]]
    lines.append(rule)
    return "\n".join(lines)


def key_patterns() -> dict[str, tuple[re.Pattern[str], re.Pattern[str]]]:
    """Each documented item's (pk, sk) as regular expressions (a placeholder matches any text)."""
    def pattern(text: str) -> re.Pattern[str]:
        return re.compile("".join(".+" if part.startswith("<") else re.escape(part)
                                  for part in re.split(r"(<[^>]*>)", text) if part))
    return {row.item: (pattern(row.key()["pk"]), pattern(row.key()["sk"])) for row in KEY_TABLE}

