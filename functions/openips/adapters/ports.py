"""What the services need of storage: one repository ``Protocol`` per aggregate.

Two implementations of each: the DynamoDB one (``adapters/dynamodb/``, the jobs and accounts
tables) and the in-memory fake of the tests (``tests/fakes/``). Both pass the same contract tests
(``tests/unit/repository_contract/``), so a service rule tested on the fakes holds on
DynamoDB. Services reach them as ``deps.companies``, ``deps.jobs``, ``deps.claims``, ``deps.logs``,
``deps.assets``, ``deps.presets``, ``deps.image_presets``, ``deps.projects``, ``deps.steps``,
``deps.quotas`` and ``deps.accounts`` (``services/deps.py``).

Conditions are part of the contract: a method that returns ``bool`` (or a reason) wrote nothing
when its condition failed, and a write made of several items is all or nothing. A write whose
condition nobody expects to fail (a new random handle, an asset that must exist) raises
``ConditionFailed``. ``TransientError`` (``models.errors``) means "try again later".

This module holds no AWS code: the services and the fakes import it without boto3.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from openips.adapters.paging import Position
from openips.models.domain import Asset, Company, FileClaim, Job, JobClock, JobCounts, LogEntry, User, VideoRendition
from openips.models.image_presets import ImagePreset
from openips.models.projects import Project
from openips.models.set_presets import SetPreset


class ConditionFailed(Exception):
    """A conditional write found its item not as it expected, and wrote nothing."""


ClaimStatus = Literal["new", "retry", "done", "busy"]
StepState = Literal["new", "done", "busy"]
Over = Literal["job", "company"]
# A listing read page by page: each item (None when a link names an item gone since) with the
# position just after it, whose ``token()`` is the ``nextToken`` that continues the listing.
Listed = Iterator[tuple[Any, Position]]


@dataclass(frozen=True)
class ClaimResult:
    """What ``claim_file`` found: a new file, a retry of ours, finished, or in flight elsewhere."""

    status: ClaimStatus
    claim: FileClaim


class CompanyRepository(Protocol):
    def create(self, company: Company) -> None:
        """Store a new company (``ConditionFailed`` if its handle exists)."""

    def replace(self, company: Company) -> None:
        """Write an existing company anew (``ConditionFailed`` if it does not exist)."""

    def get(self, company_handle: str) -> Company | None: ...

    def list_handles(self) -> list[str]:
        """Every company's handle, in handle order."""

    def find_by_name(self, name: str) -> list[Company]:
        """The companies named exactly ``name`` (case-sensitive), in handle order: names need not be unique."""


class JobRepository(Protocol):
    def create(self, job: Job, rows: list[LogEntry]) -> bool:
        """Create the job with its first log rows and take its name in the company; False when the name is taken."""

    def get(self, job_handle: str) -> Job | None: ...

    def get_many(self, job_handles: set[str]) -> dict[str, Job]: ...

    def query_active(self, company_handle: str) -> tuple[list[Job], int]:
        """The company's jobs not finalized yet, by start date, and how many items were read for them."""

    def count_active(self, company_handle: str) -> int: ...

    def iter_active_clocks(self, company_handle: str) -> Iterator[JobClock]:
        """``query_active`` without the jobs' options: what the sweeper decides on."""

    def query_company(self, company_handle: str, start: datetime | None, end: datetime | None,
                      newest_first: bool) -> Iterator[Job]:
        """The company's jobs (deleted ones left out) by start date, between ``start`` and ``end``."""

    def iter_by_start(self, company_handle: str, start: datetime | None, end: datetime | None,
                      newest_first: bool, after: str | None, chunk: int) -> Listed:
        """``query_company`` from the page token ``after`` on (``InvalidPageToken`` for another listing's)."""

    def iter_by_name(self, company_handle: str, descending: bool, after: str | None, chunk: int) -> Listed:
        """Every job of the company, deleted ones too, in name order, from the page token ``after`` on."""

    def named_from(self, company_handle: str, original_name: str, limit: int) -> tuple[list[Job], bool]:
        """The jobs whose ``original_name`` it is, from the names that start with it (the name itself or the
        name with openips' suffixes), at most ``limit`` names read; and whether more names start with it."""

    def touch(self, job_handle: str, now: datetime) -> None: ...

    def close(self, job_handle: str, expected_files: int, reason: str, now: datetime) -> bool:
        """Mark an open job closed, adding ``expected_files``; False when it was closed or finished."""

    def try_finish(self, job: Job, now: datetime, end_row: LogEntry, force: bool = False) -> bool:
        """End the job with ``end_row`` if its counters are still ``job``'s and it is drained; exactly one wins."""

    def pause(self, job_handle: str, now: datetime) -> bool: ...

    def resume(self, job_handle: str, now: datetime) -> bool: ...

    def stop(self, job: Job, by: str, now: datetime, delete: bool = False) -> bool: ...

    def stop_paused(self, job: Job, by: str, now: datetime, row: LogEntry) -> bool:
        """Stop a job still paused since ``job.paused_at``, logging ``row``; False if it changed meanwhile."""

    def count_late_file(self, job_handle: str) -> int: ...

    def mark_finalized(self, job_handle: str) -> bool: ...

    def repair_counts(self, job: Job, counts: JobCounts, row: LogEntry) -> bool:
        """Set the counters to ``counts`` (logging ``row``) if they are still ``job``'s."""

    def note_repair(self, job_handle: str, row: LogEntry) -> None: ...


class ClaimRepository(Protocol):
    def claim_file(self, claim: FileClaim, now: datetime) -> ClaimResult:
        """Claim one uploaded object; a new claim counts as a received file of its job."""

    def hold(self, claim: FileClaim, until: datetime, error: str) -> bool:
        """Keep a failed attempt's claim until ``until``; False when the claim is no longer ours."""

    def hold_for_job(self, claim: FileClaim, until: datetime, external_job: str) -> bool:
        """Keep the claim until ``until`` while the job ``external_job`` makes its file; False when no longer ours."""

    def get(self, job_handle: str, claim_id: str) -> FileClaim | None: ...

    def list_for_job(self, job_handle: str, processing_only: bool = False) -> list[FileClaim]: ...

    def record_decision(self, claim: FileClaim, outcome: str, asset_handle: str | None) -> None: ...

    def complete(self, claim: FileClaim, counts: dict[str, int], rows: list[LogEntry], asset_link: str | None,
                 count_as_done: bool = True, completed: datetime | None = None, result: str | None = None,
                 more_expected: int = 0) -> None:
        """Claim done, job counters and log rows at once; a second completion changes nothing."""


class LogRepository(Protocol):
    def count(self, job_handle: str) -> int: ...

    def query(self, job_handle: str, log_types: list[str] | None, newest_first: bool) -> Iterator[LogEntry]:
        """The job's rows in their order; ``log_types`` matches a row's type or a type in its ``aux``."""

    def query_for_asset(self, asset_handle: str) -> Iterator[tuple[str, LogEntry]]:
        """(job handle, row) of every row that named the asset, newest first."""


class AssetRepository(Protocol):
    def get(self, asset_handle: str) -> Asset | None: ...

    def get_many(self, asset_handles: set[str]) -> dict[str, Asset]: ...

    def find_by_name(self, company_handle: str, name: str) -> Asset | None: ...

    def create(self, asset: Asset) -> bool:
        """Create the asset, take its company-unique name, link it to its job; False if the name is taken."""

    def replace(self, asset: Asset) -> None:
        """Write an existing asset anew and link it to its job (``ConditionFailed`` if it does not exist)."""

    def update_set_members(self, asset: Asset, old_members: list[str]) -> bool:
        """``replace`` if the asset's members are still ``old_members``; False if not."""

    def set_smart_crops(self, asset: Asset) -> bool:
        """Store ``asset.smart_crops`` alone if the asset is still the version read (same ``last_claim``);
        False if not."""

    def add_rendition(self, asset_handle: str, rendition: VideoRendition) -> bool:
        """Add (or replace) one video rendition by its name, leaving the others; False if the asset is gone."""

    def list_for_job(self, job_handle: str) -> list[Asset]: ...

    def iter_for_job(self, job_handle: str, after: str | None, chunk: int) -> Listed: ...

    def iter_in_folder(self, company_handle: str, folder: str, after: str | None, chunk: int) -> Listed: ...

    def index_words(self, company_handle: str, asset_handle: str, old: list[str], new: list[str]) -> None: ...

    def iter_with_word(self, company_handle: str, word: str, after: str | None, chunk: int) -> Listed: ...


class PresetRepository(Protocol):
    def create(self, preset: SetPreset) -> None: ...

    def get(self, preset_handle: str) -> SetPreset | None: ...

    def list_for_company(self, company_handle: str) -> list[SetPreset]: ...

    def delete(self, preset: SetPreset) -> bool: ...

    def get_run(self, job_handle: str, marker: str) -> LogEntry | None:
        """The row a preset run already wrote for ``marker`` (``<preset>#<set>``) in this job."""

    def record_run(self, job_handle: str, marker: str, row: LogEntry) -> LogEntry:
        """Log ``row`` once per marker; the row the job log holds for it (``row`` or an earlier one)."""


ImagePresetCreated = Literal["created", "exists", "full"]


class ImagePresetRepository(Protocol):
    """A company's image presets (``$name$`` in delivery URLs), one per name in any case."""

    def create(self, preset: ImagePreset, max_per_company: int) -> ImagePresetCreated:
        """``exists``: the company has a preset of that name (case-insensitive); ``full``: it has
        ``max_per_company`` already (counted with the write, so concurrent creates cannot pass it)."""

    def get(self, company_handle: str, name: str) -> ImagePreset | None:
        """The company's preset of that name, in any case."""

    def list_for_company(self, company_handle: str) -> list[ImagePreset]:
        """The company's presets, by name (case-insensitive order)."""

    def delete(self, company_handle: str, name: str) -> bool:
        """Delete the preset of that name (any case); False when there was none."""


class ProjectRepository(Protocol):
    def create(self, project: Project) -> bool:
        """False when the company has a project of that name (case-insensitive)."""

    def get(self, project_handle: str) -> Project | None: ...

    def list_for_company(self, company_handle: str) -> list[Project]: ...

    def delete(self, project: Project) -> None:
        """Remove the project, its name and its links; its assets stop naming it."""

    def link_assets(self, project_handles: list[str], asset_handle: str) -> None: ...

    def asset_handles(self, project_handle: str) -> list[str]: ...

    def iter_assets(self, project_handle: str, after: str | None, chunk: int) -> Listed: ...


class StepRepository(Protocol):
    """Finalize steps and webhook attempts: one marker per job and step, taken with a lease."""

    def claim(self, job_handle: str, step: str, now: datetime, lease_seconds: int) -> StepState: ...

    def get(self, job_handle: str, step: str) -> dict | None:
        """The step's fields (``status``, and what ``finish``/``set_fields`` wrote), or None."""

    def finish(self, job_handle: str, step: str, rows: list[LogEntry], **fields: Any) -> bool:
        """Mark the step done and log its rows at once; False if it was already done."""

    def set_fields(self, job_handle: str, step: str, **fields: Any) -> None: ...


class QuotaRepository(Protocol):
    """Budgets counted with conditional writes: in-flight slots, archive extraction, mail and re-sends."""

    def take_inflight_slot(self, company_handle: str, holder: str, until: datetime, cap: int,
                           now: datetime) -> bool: ...

    def release_inflight_slot(self, company_handle: str, holder: str) -> bool: ...

    def inflight_holders(self, company_handle: str) -> dict[str, datetime]: ...

    def reserve_extraction(self, claim: FileClaim, company_handle: str, day: str, members: int, size: int,
                           job_limits: tuple[int, int], company_limits: tuple[int, int]) -> Over | None: ...

    def reserve_resend(self, job_handle: str, company_handle: str, day: str, per_job: int,
                       per_company_day: int) -> Over | None: ...

    def reserve_mail(self, job_handle: str, step: str, company_handle: str, day: str, per_company_day: int) -> bool:
        ...


class AccountRepository(Protocol):
    """Users, their one live API key (as a hash) and each company's webhook secret (the accounts table)."""

    def put_user(self, user: User, key_hash: str) -> None: ...

    def find_user_by_email(self, company_handle: str, email: str) -> User | None: ...

    def get_user_by_key_hash(self, key_hash: str) -> User | None: ...

    def get_user(self, user_handle: str) -> tuple[User, str] | None:
        """A user and the hash of its live key ("" once revoked)."""

    def replace_user_key(self, user: User, old_hash: str | None, new_hash: str | None) -> None: ...

    def delete_user(self, user: User, key_hash: str | None) -> None: ...

    def get_webhook_secret(self, company_handle: str) -> dict | None: ...

    def create_webhook_secret(self, company_handle: str, secret: str, now: datetime) -> dict: ...

    def rotate_webhook_secret(self, company_handle: str, secret: str, now: datetime,
                              previous_valid_until: datetime) -> dict: ...


class JobsTableRepositories(Protocol):
    """The repositories of the jobs table, as ``Deps`` holds them."""

    companies: CompanyRepository
    jobs: JobRepository
    claims: ClaimRepository
    logs: LogRepository
    assets: AssetRepository
    presets: PresetRepository
    image_presets: ImagePresetRepository
    projects: ProjectRepository
    steps: StepRepository
    quotas: QuotaRepository
