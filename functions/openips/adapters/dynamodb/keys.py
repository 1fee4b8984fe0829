"""Every key of the jobs and accounts tables, built here and nowhere else.

The table below is generated from the builders of this module (``key_table.render_key_table()``;
``tests/unit/test_dynamodb_keys.py`` fails when it differs from this docstring, and checks that
every item the repositories write matches one of its rows). Deployed tables hold these items:
a change here is a data migration.

=====================  ==========  =====================  =========================  ================================
item                   table       pk                     sk                         indexes, notes
=====================  ==========  =====================  =========================  ================================
company                jobs        ``C#<c>``              ``COMPANY``                gsi1 ``COMPANIES`` / ``<c>``
job                    jobs        ``J#<j>``              ``JOB``                    gsi1 ``C#<c>#JOBS`` /
                                                                                     ``<start>#<j>``
                                                                                     (``C#<c>#DELETED`` once
                                                                                     deleted); active ``<c>`` /
                                                                                     ``<start>#<j>`` until finalized
                                                                                     (sparse)
job-name guard         jobs        ``C#<c>``              ``JN#<name>``              one per job, kept: getJobLogs by
                                                                                     name pages through them
file claim             jobs        ``J#<j>``              ``F#<claim>``
log row                jobs        ``J#<j>``              ``L#<date>#<order>``       gsi1 ``A#<a>#LOGS`` / the sk,
                                                                                     when the row names an asset;
                                                                                     order: rank (begin 0, end 9,
                                                                                     others 5), the file's row
                                                                                     number, 8 random hex digits
job→asset link         jobs        ``J#<j>``              ``A#<a>``                  the job created or updated the
                                                                                     asset
asset                  jobs        ``A#<a>``              ``ASSET``                  gsi1 ``C#<c>#F#<folder>`` /
                                                                                     ``<name>``
asset-ID guard         jobs        ``C#<c>``              ``N#<name>``               asset IDs are unique in the
                                                                                     company
word index entry       jobs        ``C#<c>#W#<word>``     ``A#<a>``                  an asset holding the word
                                                                                     (extractSearchWords; ``?text=``)
set preset             jobs        ``P#<p>``              ``PRESET``
preset listing         jobs        ``C#<c>``              ``P#<p>``                  a copy of the preset: a
                                                                                     company's presets are one Query
set-run marker         jobs        ``J#<j>``              ``S#<p>#<set>``            the row a preset run wrote for
                                                                                     one set (re-runs answer it)
image preset           jobs        ``C#<c>``              ``IP#<name, casefolded>``  ``$name$`` of delivery URLs: one
                                                                                     per name in any case
image preset count     jobs        ``C#<c>``              ``IMAGE_PRESETS``          ``n``: the company's image
                                                                                     presets, counted with each write
project                jobs        ``P#<p>``              ``PROJECT``                gsi1 ``C#<c>#PROJECTS`` /
                                                                                     ``<name, casefolded>``
project-name guard     jobs        ``C#<c>``              ``PN#<name, casefolded>``
project→asset link     jobs        ``P#<p>``              ``A#<a>``
step marker            jobs        ``J#<j>``              ``X#<step>``               a finalize step or webhook
                                                                                     attempt, taken with a lease
in-flight slots        jobs        ``C#<c>``              ``INFLIGHT``               ``holders``: holder id → lease
                                                                                     end (epoch s)
extraction budget day  jobs        ``C#<c>``              ``EXTRACTED#<day>``        members and bytes extracted that
                                                                                     UTC day (TTL ``expiresAt``)
extraction counted     jobs        ``J#<j>``              ``R#<claim>``              the archive's members were
                                                                                     counted (a retry is a no-op)
mail quota day         jobs        ``C#<c>``              ``MAIL#<day>``             ``mails``, ``resends`` counted
                                                                                     that UTC day (TTL ``expiresAt``)
mail counted           jobs        ``J#<j>``              ``M#<step>``               the step's mail took its place
user                   accounts    ``U#<u>``              ``USER``                   gsi1 ``C#<c>#USERS`` /
                                                                                     ``<email>``
API key                accounts    ``K#<sha256>``         ``KEY``                    the user item names its one live
                                                                                     key
webhook secret         accounts    ``W#<c>``              ``WEBHOOK_SECRET``
=====================  ==========  =====================  =========================  ================================

The job counters live on the job item (``n_received``, ``n_done``, …, ``expected_files``,
``repairs``, ``late_files``, ``extracted_members``, ``extracted_bytes``, ``resend_requests``).
IAM conditions name the accounts table's leading-key prefixes (``USER_PREFIX``, ``KEY_PREFIX``,
``WEBHOOK_SECRET_PREFIX``; template.yaml): keep them in step.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from openips.adapters.paging import KeyShape
from openips.models.domain import Asset, Company, Job, LogEntry, LogType, User
from openips.models.projects import Project

OWNER_INDEX = "ByOwnerIndex"  # gsi1pk / gsi1sk, both tables
ACTIVE_INDEX = "ActiveJobsIndex"  # activePk / activeSk, sparse
KEY_ATTRIBUTES = ("pk", "sk", "gsi1pk", "gsi1sk", "activePk", "activeSk")

# The accounts table's leading-key prefixes, which IAM conditions name (template.yaml).
USER_PREFIX = "U#"
KEY_PREFIX = "K#"
WEBHOOK_SECRET_PREFIX = "W#"

_COMPANY, _JOB, _ASSET, _PRESET = "C#", "J#", "A#", "P#"  # PRESET: presets and projects alike
_CLAIM, _LOG, _NAME, _JOB_NAME, _PROJECT_NAME = "F#", "L#", "N#", "JN#", "PN#"
_SET_RUN, _STEP, _MAIL_COUNTED, _EXTRACTION_COUNTED = "S#", "X#", "M#", "R#"
_IMAGE_PRESET = "IP#"


def iso(value: datetime) -> str:
    """A time as stored in attributes (``Z`` for UTC), as pydantic writes it: conditions compare it as is."""
    return value.isoformat().replace("+00:00", "Z")


def sort_time(value: datetime) -> str:
    """A time in a sort key: UTC, always six fraction digits, so that keys order as the times do.

    ``isoformat`` drops the fraction of a time on a whole second: ``…:00Z`` sorts after ``…:00.123000Z``
    (``Z`` > ``.``), and one row in a thousand (times are in milliseconds) came after later rows.
    """
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Prefixed:
    """A Query of the base table: one partition, the sort keys that start with ``sk_prefix``."""

    pk: str
    sk_prefix: str


# ---- companies ---------------------------------------------------------------------------------

COMPANIES_PARTITION = "COMPANIES"


def company_key(company_handle: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": "COMPANY"}


def company_index(company: Company) -> dict[str, str]:
    return {"gsi1pk": COMPANIES_PARTITION, "gsi1sk": company.company_handle}


# ---- jobs --------------------------------------------------------------------------------------


def job_key(job_handle: str) -> dict[str, str]:
    return {"pk": f"{_JOB}{job_handle}", "sk": "JOB"}


def company_jobs_partition(company_handle: str, deleted: bool = False) -> str:
    return f"{_COMPANY}{company_handle}#DELETED" if deleted else f"{_COMPANY}{company_handle}#JOBS"


def job_start_sort(job: Job) -> str:
    return f"{sort_time(job.start_date)}#{job.job_handle}"


def job_index(job: Job) -> dict[str, str]:
    return {"gsi1pk": company_jobs_partition(job.company_handle, job.deleted), "gsi1sk": job_start_sort(job)}


def active_index(job: Job) -> dict[str, str]:
    """The sparse active-jobs index: present until the job is finalized."""
    return {"activePk": job.company_handle, "activeSk": job_start_sort(job)}


def job_name_guard_key(company_handle: str, name: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": f"{_JOB_NAME}{name}"}


def jobs_by_start(company_handle: str, newest_first: bool) -> KeyShape:
    """getJobLogs by start date: gsi1 of the company's (not deleted) jobs."""
    return KeyShape(f"jobs-by-start-{'desc' if newest_first else 'asc'}",
                    {"gsi1pk": company_jobs_partition(company_handle), "sk": "JOB"}, {"gsi1sk": "", "pk": _JOB})


def jobs_by_name(company_handle: str, descending: bool) -> KeyShape:
    """getJobLogs by name: the company's job-name guards."""
    return KeyShape(f"jobs-by-name-{'desc' if descending else 'asc'}",
                    {"pk": f"{_COMPANY}{company_handle}"}, {"sk": _JOB_NAME})


# ---- claims, log rows, job→asset links ---------------------------------------------------------


def claim_key(job_handle: str, claim_id: str) -> dict[str, str]:
    return {"pk": f"{_JOB}{job_handle}", "sk": f"{_CLAIM}{claim_id}"}


def claims_of(job_handle: str) -> Prefixed:
    return Prefixed(f"{_JOB}{job_handle}", _CLAIM)


LOG_RANKS = {LogType.BEGIN_UPLOAD: 0, LogType.END_UPLOAD: 9}  # others: 5


def log_row_sort(date: str, rank: int | str, order: str, nonce: str) -> str:
    return f"{_LOG}{date}#{rank}{order}{nonce}"


def log_row_key(job_handle: str, row: LogEntry, seq: int | None = None) -> dict[str, str]:
    """Rows of one millisecond keep the job's story in order: begin, files, end; and the rows of
    one file (``seq``: a PDF, its pages, its catalog) keep theirs. A row that names an asset is in
    gsi1 under it (getAssetJobLogs: the asset's rows across jobs, by date)."""
    order = f"{seq:04d}" if seq is not None else ""
    sk = log_row_sort(sort_time(row.date_created), LOG_RANKS.get(row.log_type, 5), order, secrets.token_hex(4))
    key = {"pk": f"{_JOB}{job_handle}", "sk": sk}
    if row.asset_handle:
        key |= {"gsi1pk": asset_logs_partition(row.asset_handle), "gsi1sk": sk}
    return key


def logs_of(job_handle: str) -> Prefixed:
    return Prefixed(f"{_JOB}{job_handle}", _LOG)


def asset_logs_partition(asset_handle: str) -> str:
    return f"{_ASSET}{asset_handle}#LOGS"


def job_of_row(pk: str) -> str:
    """The job handle of a log row's partition key."""
    return pk.removeprefix(_JOB)


def job_asset_link_key(job_handle: str, asset_handle: str) -> dict[str, str]:
    return {"pk": f"{_JOB}{job_handle}", "sk": f"{_ASSET}{asset_handle}"}


def assets_of_job(job_handle: str) -> KeyShape:
    return KeyShape("assets-of-job", {"pk": f"{_JOB}{job_handle}"}, {"sk": _ASSET})


# ---- assets and the word index ------------------------------------------------------------------


def asset_key(asset_handle: str) -> dict[str, str]:
    return {"pk": f"{_ASSET}{asset_handle}", "sk": "ASSET"}


def folder_partition(company_handle: str, folder: str) -> str:
    return f"{_COMPANY}{company_handle}#F#{folder}"


def asset_index(asset: Asset) -> dict[str, str]:
    return {"gsi1pk": folder_partition(asset.company_handle, asset.folder), "gsi1sk": asset.name}


def asset_name_guard_key(company_handle: str, name: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": f"{_NAME}{name}"}


def assets_in_folder(company_handle: str, folder: str) -> KeyShape:
    return KeyShape("assets-in-folder", {"gsi1pk": folder_partition(company_handle, folder), "sk": "ASSET"},
                    {"gsi1sk": "", "pk": _ASSET})


def word_partition(company_handle: str, word: str) -> str:
    return f"{_COMPANY}{company_handle}#W#{word}"


def word_key(company_handle: str, word: str, asset_handle: str) -> dict[str, str]:
    return {"pk": word_partition(company_handle, word), "sk": f"{_ASSET}{asset_handle}"}


def assets_with_word(company_handle: str, word: str) -> KeyShape:
    return KeyShape("assets-with-word", {"pk": word_partition(company_handle, word)}, {"sk": _ASSET})


# ---- set presets and set runs ------------------------------------------------------------------


def preset_key(preset_handle: str) -> dict[str, str]:
    return {"pk": f"{_PRESET}{preset_handle}", "sk": "PRESET"}


def preset_listing_key(company_handle: str, preset_handle: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": f"{_PRESET}{preset_handle}"}


def presets_of(company_handle: str) -> Prefixed:
    return Prefixed(f"{_COMPANY}{company_handle}", _PRESET)


def set_run_key(job_handle: str, marker: str) -> dict[str, str]:
    return {"pk": f"{_JOB}{job_handle}", "sk": f"{_SET_RUN}{marker}"}


# ---- image presets (docs/delivery.md) -------------------------------------------------------------


def image_preset_key(company_handle: str, name: str) -> dict[str, str]:
    """One per name in any case: IS macro names are case-insensitive."""
    return {"pk": f"{_COMPANY}{company_handle}", "sk": f"{_IMAGE_PRESET}{name.casefold()}"}


def image_presets_of(company_handle: str) -> Prefixed:
    return Prefixed(f"{_COMPANY}{company_handle}", _IMAGE_PRESET)


def image_preset_count_key(company_handle: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": "IMAGE_PRESETS"}


# ---- projects ---------------------------------------------------------------------------------


def project_key(project_handle: str) -> dict[str, str]:
    return {"pk": f"{_PRESET}{project_handle}", "sk": "PROJECT"}


def company_projects_partition(company_handle: str) -> str:
    return f"{_COMPANY}{company_handle}#PROJECTS"


def project_index(project: Project) -> dict[str, str]:
    return {"gsi1pk": company_projects_partition(project.company_handle), "gsi1sk": project.name.casefold()}


def project_name_guard_key(company_handle: str, name: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": f"{_PROJECT_NAME}{name.casefold()}"}


def project_asset_link_key(project_handle: str, asset_handle: str) -> dict[str, str]:
    return {"pk": f"{_PRESET}{project_handle}", "sk": f"{_ASSET}{asset_handle}"}


def assets_of_project(project_handle: str) -> KeyShape:
    return KeyShape("assets-of-project", {"pk": f"{_PRESET}{project_handle}"}, {"sk": _ASSET})


# ---- steps, slots and quotas ------------------------------------------------------------------


def step_key(job_handle: str, step: str) -> dict[str, str]:
    return {"pk": f"{_JOB}{job_handle}", "sk": f"{_STEP}{step}"}


def inflight_key(company_handle: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": "INFLIGHT"}


def extraction_day_key(company_handle: str, day: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": f"EXTRACTED#{day}"}


def extraction_counted_key(job_handle: str, claim_id: str) -> dict[str, str]:
    return {"pk": f"{_JOB}{job_handle}", "sk": f"{_EXTRACTION_COUNTED}{claim_id}"}


def mail_day_key(company_handle: str, day: str) -> dict[str, str]:
    return {"pk": f"{_COMPANY}{company_handle}", "sk": f"MAIL#{day}"}


def mail_counted_key(job_handle: str, step: str) -> dict[str, str]:
    return {"pk": f"{_JOB}{job_handle}", "sk": f"{_MAIL_COUNTED}{step}"}


# ---- the accounts table -----------------------------------------------------------------------


def user_key(user_handle: str) -> dict[str, str]:
    return {"pk": f"{USER_PREFIX}{user_handle}", "sk": "USER"}


def company_users_partition(company_handle: str) -> str:
    return f"{_COMPANY}{company_handle}#USERS"


def user_index(user: User) -> dict[str, str]:
    return {"gsi1pk": company_users_partition(user.company_handle), "gsi1sk": user.email}


def api_key_key(key_hash: str) -> dict[str, str]:
    return {"pk": f"{KEY_PREFIX}{key_hash}", "sk": "KEY"}


def webhook_secret_key(company_handle: str) -> dict[str, str]:
    return {"pk": f"{WEBHOOK_SECRET_PREFIX}{company_handle}", "sk": "WEBHOOK_SECRET"}


def without_keys(item: dict) -> dict:
    """An item's own attributes, its key attributes left out."""
    return {k: v for k, v in item.items() if k not in KEY_ATTRIBUTES}
