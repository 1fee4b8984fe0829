"""In-memory repositories: the ``adapters/ports.py`` protocols without DynamoDB.

They keep models, not items, and pass the same contract tests as the DynamoDB repositories
(``tests/unit/repository_contract/``): every condition that decides a return value is
evaluated the same way, a write of several items is all or nothing (one lock around each
operation; conditions are checked before anything changes), and listings come in the same
order with the same page tokens (positions are made with ``keys.py``'s key builders, so a token
of a fake listing is the token DynamoDB would give).

Reads return copies: changing a returned model changes nothing stored, as with DynamoDB.
What DynamoDB would do to an item nobody wrote (an ``UpdateItem`` that creates a half item) is
not modelled: the services never do it, and the contract tests do not ask.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from openips.adapters.dynamodb import keys
from openips.adapters.dynamodb.keys import iso
from openips.adapters.paging import InvalidPageToken, KeyShape, Position
from openips.adapters.ports import ClaimResult, ConditionFailed, ImagePresetCreated, Over, StepState
from openips.models.domain import (
    Asset,
    Company,
    FileClaim,
    Job,
    JobClock,
    JobCounts,
    JobState,
    LogEntry,
    User,
    VideoRendition,
)
from openips.models.image_presets import ImagePreset
from openips.models.projects import Project
from openips.models.set_presets import SetPreset

M = TypeVar("M")


def _copy(model: M) -> M:
    return model.model_copy(deep=True)  # type: ignore[attr-defined]


@dataclass
class MemoryTables:
    """What both tables hold, as models. ``lock``: one operation at a time, as conditions need."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    companies: dict[str, Company] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    job_counters: dict[str, dict[str, int]] = field(default_factory=dict)  # late_files, extracted_*, resend_requests
    job_names: dict[tuple[str, str], str] = field(default_factory=dict)  # (company, name) → job
    claims: dict[tuple[str, str], FileClaim] = field(default_factory=dict)
    log_rows: dict[str, dict[str, LogEntry]] = field(default_factory=dict)  # job → sort key → row
    job_links: dict[str, set[str]] = field(default_factory=dict)  # job → assets it wrote
    assets: dict[str, Asset] = field(default_factory=dict)
    asset_names: dict[tuple[str, str], str] = field(default_factory=dict)
    words: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (company, word) → assets
    presets: dict[str, SetPreset] = field(default_factory=dict)
    set_runs: dict[tuple[str, str], LogEntry] = field(default_factory=dict)
    image_presets: dict[tuple[str, str], ImagePreset] = field(default_factory=dict)  # (company, casefolded name)
    projects: dict[str, Project] = field(default_factory=dict)
    project_names: dict[tuple[str, str], str] = field(default_factory=dict)  # (company, casefolded name)
    project_links: dict[str, set[str]] = field(default_factory=dict)
    steps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    inflight: dict[str, dict[str, int]] = field(default_factory=dict)  # company → holder → lease end (epoch s)
    extraction_counted: set[tuple[str, str]] = field(default_factory=set)
    extraction_days: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    mail_days: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    mail_counted: set[tuple[str, str]] = field(default_factory=set)
    users: dict[str, tuple[User, str]] = field(default_factory=dict)  # handle → (user, live key hash)
    api_keys: dict[str, User] = field(default_factory=dict)
    webhook_secrets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_rows(self, job_handle: str, rows: Iterable[LogEntry], numbered: bool = False) -> None:
        stored = self.log_rows.setdefault(job_handle, {})
        for seq, row in enumerate(rows):
            stored[keys.log_row_key(job_handle, row, seq if numbered else None)["sk"]] = _copy(row)


def _listing(shape: KeyShape, entries: Iterable[tuple[dict[str, str], Any]], order: tuple[str, ...],
             descending: bool, after: str | None) -> Iterator[tuple[Any, Position]]:
    """A listing as DynamoDB pages it: sorted by ``order`` (sort-key attributes, compared as text),
    from just after the position ``after`` names (checked as DynamoDB's repository checks it)."""
    start = shape.start_key(after)
    ranked = sorted(entries, key=lambda entry: tuple(entry[0][name] for name in order), reverse=descending)
    if start is not None:
        cut = tuple(start[name] for name in order)
        ranked = [entry for entry in ranked
                  if (tuple(entry[0][name] for name in order) < cut if descending
                      else tuple(entry[0][name] for name in order) > cut)]
    for key, value in ranked:
        yield value, shape.position(key)


class MemoryCompanies:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def create(self, company: Company) -> None:
        with self.t.lock:
            if company.company_handle in self.t.companies:
                raise ConditionFailed(f"company {company.company_handle} exists")
            self.t.companies[company.company_handle] = _copy(company)

    def replace(self, company: Company) -> None:
        with self.t.lock:
            if company.company_handle not in self.t.companies:
                raise ConditionFailed(f"no company {company.company_handle}")
            self.t.companies[company.company_handle] = _copy(company)

    def get(self, company_handle: str) -> Company | None:
        with self.t.lock:
            found = self.t.companies.get(company_handle)
            return _copy(found) if found else None

    def list_handles(self) -> list[str]:
        with self.t.lock:
            return sorted(self.t.companies)

    def find_by_name(self, name: str) -> list[Company]:
        with self.t.lock:
            return [_copy(c) for _, c in sorted(self.t.companies.items()) if c.name == name]


_RUNNING = (JobState.WAITING_CLIENT, JobState.WAITING_COORDINATOR, JobState.STOPPING)
_COUNTERS = [name for name in JobCounts.model_fields if name != "log_rows"]


class MemoryJobs:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def create(self, job: Job, rows: list[LogEntry]) -> bool:
        with self.t.lock:
            guard = (job.company_handle, job.name)
            if guard in self.t.job_names or job.job_handle in self.t.jobs:
                return False
            self.t.job_names[guard] = job.job_handle
            self.t.jobs[job.job_handle] = _copy(job)
            self.t.add_rows(job.job_handle, rows)
            return True

    def get(self, job_handle: str) -> Job | None:
        with self.t.lock:
            found = self.t.jobs.get(job_handle)
            return _copy(found) if found else None

    def get_many(self, job_handles: set[str]) -> dict[str, Job]:
        with self.t.lock:
            return {h: _copy(self.t.jobs[h]) for h in job_handles if h in self.t.jobs}

    def _active(self, company_handle: str) -> list[Job]:
        found = [j for j in self.t.jobs.values() if j.company_handle == company_handle and not j.finalized]
        return sorted(found, key=keys.job_start_sort)

    def query_active(self, company_handle: str) -> tuple[list[Job], int]:
        with self.t.lock:
            active = [_copy(j) for j in self._active(company_handle)]
            return active, len(active)

    def count_active(self, company_handle: str) -> int:
        with self.t.lock:
            return len(self._active(company_handle))

    def iter_active_clocks(self, company_handle: str) -> Iterator[JobClock]:
        with self.t.lock:
            clocks = [JobClock.model_validate(j.model_dump(include=set(JobClock.model_fields)))
                      for j in self._active(company_handle)]
        yield from clocks

    def _listed(self, company_handle: str) -> list[tuple[dict[str, str], Job]]:
        """The company's jobs as gsi1 lists them (deleted ones are in another partition)."""
        return [({**keys.job_key(j.job_handle), **keys.job_index(j)}, _copy(j)) for j in self.t.jobs.values()
                if j.company_handle == company_handle and not j.deleted]

    def query_company(self, company_handle: str, start: datetime | None, end: datetime | None,
                      newest_first: bool) -> Iterator[Job]:
        low = keys.sort_time(start) if start else None
        high = keys.sort_time(end) + "~" if end else None
        with self.t.lock:
            found = [(key["gsi1sk"], job) for key, job in self._listed(company_handle)
                     if (low is None or key["gsi1sk"] >= low) and (high is None or key["gsi1sk"] <= high)]
        for _, job in sorted(found, key=lambda entry: entry[0], reverse=newest_first):
            yield job

    def iter_by_start(self, company_handle: str, start: datetime | None, end: datetime | None,
                      newest_first: bool, after: str | None, chunk: int) -> Iterator[tuple[Job | None, Position]]:
        shape = keys.jobs_by_start(company_handle, newest_first)
        low = keys.sort_time(start) if start else None
        high = keys.sort_time(end) + "~" if end else None
        if low and high and low > high:
            return
        begin = shape.start_key(after)
        if begin is not None and ((low and begin["gsi1sk"] < low) or (high and begin["gsi1sk"] > high)):
            # DynamoDB refuses a start key outside the query's key range (another date range).
            raise InvalidPageToken("does not continue this listing")
        with self.t.lock:
            listed = [(key, job) for key, job in self._listed(company_handle)
                      if (low is None or key["gsi1sk"] >= low) and (high is None or key["gsi1sk"] <= high)]
        yield from _listing(shape, listed, ("gsi1sk",), newest_first, after)

    def iter_by_name(self, company_handle: str, descending: bool, after: str | None,
                     chunk: int) -> Iterator[tuple[Job | None, Position]]:
        shape = keys.jobs_by_name(company_handle, descending)
        with self.t.lock:
            guards = [(keys.job_name_guard_key(company, name), handle)
                      for (company, name), handle in self.t.job_names.items() if company == company_handle]
        for handle, position in _listing(shape, guards, ("sk",), descending, after):
            yield self.get(handle), position

    def named_from(self, company_handle: str, original_name: str, limit: int) -> tuple[list[Job], bool]:
        with self.t.lock:
            names = sorted((name, handle) for (company, name), handle in self.t.job_names.items()
                           if company == company_handle and name.startswith(original_name))
        found = [self.get(handle) for _, handle in names[:limit]]
        return [job for job in found if job is not None and job.original_name == original_name], len(names) > limit

    def _update(self, job_handle: str, condition: Callable[[Job], bool], change: Callable[[Job], None]) -> bool:
        with self.t.lock:
            job = self.t.jobs.get(job_handle)
            if job is None or not condition(job):
                return False
            change(job)
            return True

    def touch(self, job_handle: str, now: datetime) -> None:
        self._update(job_handle, lambda job: True, lambda job: setattr(job, "last_activity", now))

    def close(self, job_handle: str, expected_files: int, reason: str, now: datetime) -> bool:
        def change(job: Job) -> None:
            job.closed, job.close_reason, job.closed_at, job.last_activity = True, reason, now, now
            job.expected_files += expected_files
        return self._update(job_handle, lambda job: not job.closed and job.state != JobState.DONE, change)

    def try_finish(self, job: Job, now: datetime, end_row: LogEntry, force: bool = False) -> bool:
        def ready(stored: Job) -> bool:
            return (stored.closed and stored.state != JobState.DONE
                    and stored.counts.done == stored.counts.received
                    and stored.expected_files == job.expected_files
                    and all(getattr(stored.counts, n) == getattr(job.counts, n) for n in _COUNTERS)
                    and (force or stored.counts.received >= stored.expected_files))

        def change(stored: Job) -> None:
            stored.state, stored.end_date = JobState.DONE, now
            stored.counts.log_rows += 1
            self.t.add_rows(job.job_handle, [end_row])
        return self._update(job.job_handle, ready, change)

    def _transition(self, job_handle: str, to: JobState, from_states: tuple[JobState, ...], now: datetime,
                    more: Callable[[Job], None] = lambda job: None) -> bool:
        def change(job: Job) -> None:
            job.state, job.last_activity = to, now
            more(job)
        return self._update(job_handle, lambda job: job.state in from_states, change)

    def pause(self, job_handle: str, now: datetime) -> bool:
        return self._transition(job_handle, JobState.WAITING_COORDINATOR, (JobState.WAITING_CLIENT,), now,
                                lambda job: setattr(job, "paused_at", now))

    def resume(self, job_handle: str, now: datetime) -> bool:
        return self._transition(job_handle, JobState.WAITING_CLIENT, (JobState.WAITING_COORDINATOR,), now)

    def stop(self, job: Job, by: str, now: datetime, delete: bool = False) -> bool:
        def more(stored: Job) -> None:
            stored.stopped_by = stored.stopped_by or by
            stored.deleted = stored.deleted or delete
        return self._transition(job.job_handle, JobState.STOPPING, _RUNNING, now, more)

    def stop_paused(self, job: Job, by: str, now: datetime, row: LogEntry) -> bool:
        def still_paused(stored: Job) -> bool:
            if stored.state != JobState.WAITING_COORDINATOR:
                return False
            if job.paused_at is None:
                return stored.paused_at is None
            return stored.paused_at is not None and iso(stored.paused_at) == iso(job.paused_at)

        def change(stored: Job) -> None:
            stored.state, stored.last_activity = JobState.STOPPING, now
            stored.stopped_by = stored.stopped_by or by
            stored.counts.log_rows += 1
            self.t.add_rows(job.job_handle, [row])
        return self._update(job.job_handle, still_paused, change)

    def count_late_file(self, job_handle: str) -> int:
        with self.t.lock:
            counters = self.t.job_counters.setdefault(job_handle, {})
            counters["late_files"] = counters.get("late_files", 0) + 1
            return counters["late_files"]

    def mark_finalized(self, job_handle: str) -> bool:
        return self._update(job_handle, lambda job: not job.finalized and job.state == JobState.DONE,
                            lambda job: setattr(job, "finalized", True))

    def repair_counts(self, job: Job, counts: JobCounts, row: LogEntry) -> bool:
        def unchanged(stored: Job) -> bool:
            return all(getattr(stored.counts, n) == getattr(job.counts, n) for n in [*_COUNTERS, "log_rows"])

        def change(stored: Job) -> None:
            for name in _COUNTERS:
                setattr(stored.counts, name, getattr(counts, name))
            stored.counts.log_rows = counts.log_rows + 1
            stored.repairs += 1
            self.t.add_rows(job.job_handle, [row])
        return self._update(job.job_handle, unchanged, change)

    def note_repair(self, job_handle: str, row: LogEntry) -> None:
        def change(stored: Job) -> None:
            stored.counts.log_rows += 1
            stored.repairs += 1
            self.t.add_rows(job_handle, [row])
        self._update(job_handle, lambda job: True, change)


class MemoryClaims:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def claim_file(self, claim: FileClaim, now: datetime) -> ClaimResult:
        with self.t.lock:
            key = (claim.job_handle, claim.claim_id)
            stored = self.t.claims.get(key)
            if stored is None:
                self.t.claims[key] = _copy(claim)
                job = self.t.jobs.get(claim.job_handle)
                if job is not None:
                    job.counts.received += 1
                    job.last_activity = now
                return ClaimResult("new", _copy(claim))
            existing = _copy(stored)
            if existing.status == "Done":
                return ClaimResult("done", existing)
            if existing.lease_until > now:
                return ClaimResult("busy", existing)
            stored.lease_until, stored.attempt_started = claim.lease_until, now
            stored.attempts += 1
            return ClaimResult("retry", _copy(stored))

    def hold(self, claim: FileClaim, until: datetime, error: str) -> bool:
        with self.t.lock:
            stored = self.t.claims.get((claim.job_handle, claim.claim_id))
            if stored is None or stored.status == "Done" or iso(stored.lease_until) != iso(claim.lease_until):
                return False
            stored.lease_until, stored.last_error, stored.external_job = until, error, None
            return True

    def hold_for_job(self, claim: FileClaim, until: datetime, external_job: str) -> bool:
        with self.t.lock:
            stored = self.t.claims.get((claim.job_handle, claim.claim_id))
            if stored is None or stored.status == "Done" or iso(stored.lease_until) != iso(claim.lease_until):
                return False
            stored.lease_until, stored.external_job, stored.last_error = until, external_job, None
            return True

    def get(self, job_handle: str, claim_id: str) -> FileClaim | None:
        with self.t.lock:
            found = self.t.claims.get((job_handle, claim_id))
            return _copy(found) if found else None

    def list_for_job(self, job_handle: str, processing_only: bool = False) -> list[FileClaim]:
        with self.t.lock:
            found = [c for (job, _), c in self.t.claims.items()
                     if job == job_handle and (not processing_only or c.status == "Processing")]
            return [_copy(c) for c in sorted(found, key=lambda c: c.claim_id)]

    def record_decision(self, claim: FileClaim, outcome: str, asset_handle: str | None) -> None:
        with self.t.lock:
            stored = self.t.claims.get((claim.job_handle, claim.claim_id))
            if stored is not None:
                stored.outcome, stored.asset_handle = outcome, asset_handle  # type: ignore[assignment]

    def complete(self, claim: FileClaim, counts: dict[str, int], rows: list[LogEntry], asset_link: str | None,
                 count_as_done: bool = True, completed: datetime | None = None, result: str | None = None,
                 more_expected: int = 0) -> None:
        adds = {**counts, "log_rows": len(rows)}
        if count_as_done:
            adds["done"] = adds.get("done", 0) + 1
        with self.t.lock:
            stored = self.t.claims.get((claim.job_handle, claim.claim_id))
            if stored is None or stored.status == "Done":
                return  # a duplicate delivery completed it first: counted once
            stored.status, stored.completed, stored.result = "Done", completed, result
            stored.counts = {**adds, "more_expected": more_expected}
            job = self.t.jobs.get(claim.job_handle)
            if job is not None:
                for name, value in adds.items():
                    setattr(job.counts, name, getattr(job.counts, name) + value)
                job.expected_files += more_expected
            if asset_link:
                self.t.job_links.setdefault(claim.job_handle, set()).add(asset_link)
            self.t.add_rows(claim.job_handle, rows, numbered=True)


class MemoryLogs:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def count(self, job_handle: str) -> int:
        with self.t.lock:
            return len(self.t.log_rows.get(job_handle, {}))

    def query(self, job_handle: str, log_types: list[str] | None, newest_first: bool) -> Iterator[LogEntry]:
        with self.t.lock:
            rows = sorted(self.t.log_rows.get(job_handle, {}).items(), reverse=newest_first)
        for _, row in rows:
            if not log_types or row.log_type.value in log_types or set(row.aux_types) & set(log_types):
                yield _copy(row)

    def query_for_asset(self, asset_handle: str) -> Iterator[tuple[str, LogEntry]]:
        with self.t.lock:
            found = [(sk, job, row) for job, rows in self.t.log_rows.items() for sk, row in rows.items()
                     if row.asset_handle == asset_handle]
        for _, job, row in sorted(found, key=lambda entry: entry[0], reverse=True):
            yield job, _copy(row)


class MemoryAssets:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def get(self, asset_handle: str) -> Asset | None:
        with self.t.lock:
            found = self.t.assets.get(asset_handle)
            return _copy(found) if found else None

    def get_many(self, asset_handles: set[str]) -> dict[str, Asset]:
        with self.t.lock:
            return {h: _copy(self.t.assets[h]) for h in asset_handles if h in self.t.assets}

    def find_by_name(self, company_handle: str, name: str) -> Asset | None:
        with self.t.lock:
            handle = self.t.asset_names.get((company_handle, name))
            return self.get(handle) if handle else None

    def _write(self, asset: Asset) -> None:
        self.t.assets[asset.asset_handle] = _copy(asset)
        self.t.job_links.setdefault(asset.updated_job_handle, set()).add(asset.asset_handle)

    def create(self, asset: Asset) -> bool:
        with self.t.lock:
            guard = (asset.company_handle, asset.name)
            if guard in self.t.asset_names or asset.asset_handle in self.t.assets:
                return False
            self.t.asset_names[guard] = asset.asset_handle
            self._write(asset)
            return True

    def replace(self, asset: Asset) -> None:
        with self.t.lock:
            if asset.asset_handle not in self.t.assets:
                raise ConditionFailed(f"no asset {asset.asset_handle}")
            self._write(asset)

    def add_rendition(self, asset_handle: str, rendition: VideoRendition) -> bool:
        with self.t.lock:
            stored = self.t.assets.get(asset_handle)
            if stored is None:
                return False
            stored.renditions[rendition.name] = rendition.model_copy()
            return True

    def set_smart_crops(self, asset: Asset) -> bool:
        with self.t.lock:
            stored = self.t.assets.get(asset.asset_handle)
            if stored is None or stored.last_claim != asset.last_claim:
                return False
            stored.smart_crops = [c.model_copy() for c in asset.smart_crops]
            return True

    def update_set_members(self, asset: Asset, old_members: list[str]) -> bool:
        with self.t.lock:
            stored = self.t.assets.get(asset.asset_handle)
            if stored is None or stored.members != old_members:
                return False
            self._write(asset)
            return True

    def list_for_job(self, job_handle: str) -> list[Asset]:
        with self.t.lock:
            handles = sorted(self.t.job_links.get(job_handle, set()))
            return [_copy(self.t.assets[h]) for h in handles if h in self.t.assets]

    def linked(self, shape: KeyShape, handles: Iterable[str], key: Callable[[str], dict[str, str]],
               after: str | None) -> Iterator[tuple[Asset | None, Position]]:
        """Assets named by link items: the link's position, the asset if it still exists."""
        for handle, position in _listing(shape, [(key(h), h) for h in handles], ("sk",), False, after):
            yield self.get(handle), position

    def iter_for_job(self, job_handle: str, after: str | None, chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        with self.t.lock:
            handles = set(self.t.job_links.get(job_handle, set()))
        return self.linked(keys.assets_of_job(job_handle), handles,
                           lambda h: keys.job_asset_link_key(job_handle, h), after)

    def iter_in_folder(self, company_handle: str, folder: str, after: str | None,
                       chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        shape = keys.assets_in_folder(company_handle, folder)
        with self.t.lock:
            listed = [({**keys.asset_key(a.asset_handle), **keys.asset_index(a)}, _copy(a))
                      for a in self.t.assets.values() if a.company_handle == company_handle and a.folder == folder]
        return _listing(shape, listed, ("gsi1sk", "pk"), False, after)

    def index_words(self, company_handle: str, asset_handle: str, old: list[str], new: list[str]) -> None:
        with self.t.lock:
            for word in set(new) - set(old):
                self.t.words.setdefault((company_handle, word), set()).add(asset_handle)
            for word in set(old) - set(new):
                self.t.words.get((company_handle, word), set()).discard(asset_handle)

    def iter_with_word(self, company_handle: str, word: str, after: str | None,
                       chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        with self.t.lock:
            handles = set(self.t.words.get((company_handle, word), set()))
        return self.linked(keys.assets_with_word(company_handle, word), handles,
                           lambda h: keys.word_key(company_handle, word, h), after)


class MemoryPresets:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def create(self, preset: SetPreset) -> None:
        with self.t.lock:
            if preset.preset_handle in self.t.presets:
                raise ConditionFailed(f"preset {preset.preset_handle} exists")
            self.t.presets[preset.preset_handle] = _copy(preset)

    def get(self, preset_handle: str) -> SetPreset | None:
        with self.t.lock:
            found = self.t.presets.get(preset_handle)
            return _copy(found) if found else None

    def list_for_company(self, company_handle: str) -> list[SetPreset]:
        with self.t.lock:
            return [_copy(p) for h, p in sorted(self.t.presets.items()) if p.company_handle == company_handle]

    def delete(self, preset: SetPreset) -> bool:
        with self.t.lock:
            return self.t.presets.pop(preset.preset_handle, None) is not None

    def get_run(self, job_handle: str, marker: str) -> LogEntry | None:
        with self.t.lock:
            found = self.t.set_runs.get((job_handle, marker))
            return _copy(found) if found else None

    def record_run(self, job_handle: str, marker: str, row: LogEntry) -> LogEntry:
        with self.t.lock:
            if (job_handle, marker) in self.t.set_runs:
                return _copy(self.t.set_runs[(job_handle, marker)])
            self.t.set_runs[(job_handle, marker)] = _copy(row)
            job = self.t.jobs.get(job_handle)
            if job is not None:
                job.counts.log_rows += 1
            self.t.add_rows(job_handle, [row])
            return row


class MemoryImagePresets:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def create(self, preset: ImagePreset, max_per_company: int) -> ImagePresetCreated:
        key = (preset.company_handle, preset.name.casefold())
        with self.t.lock:
            if key in self.t.image_presets:
                return "exists"
            if sum(company == preset.company_handle for company, _ in self.t.image_presets) >= max_per_company:
                return "full"
            self.t.image_presets[key] = _copy(preset)
            return "created"

    def get(self, company_handle: str, name: str) -> ImagePreset | None:
        with self.t.lock:
            found = self.t.image_presets.get((company_handle, name.casefold()))
            return _copy(found) if found else None

    def list_for_company(self, company_handle: str) -> list[ImagePreset]:
        with self.t.lock:
            return [_copy(p) for (company, _), p in sorted(self.t.image_presets.items()) if company == company_handle]

    def delete(self, company_handle: str, name: str) -> bool:
        with self.t.lock:
            return self.t.image_presets.pop((company_handle, name.casefold()), None) is not None


class MemoryProjects:
    def __init__(self, tables: MemoryTables, assets: MemoryAssets) -> None:
        self.t = tables
        self.assets = assets

    def create(self, project: Project) -> bool:
        with self.t.lock:
            guard = (project.company_handle, project.name.casefold())
            if guard in self.t.project_names or project.project_handle in self.t.projects:
                return False
            self.t.project_names[guard] = project.project_handle
            self.t.projects[project.project_handle] = _copy(project)
            return True

    def get(self, project_handle: str) -> Project | None:
        with self.t.lock:
            found = self.t.projects.get(project_handle)
            return _copy(found) if found else None

    def list_for_company(self, company_handle: str) -> list[Project]:
        with self.t.lock:
            found = [p for p in self.t.projects.values() if p.company_handle == company_handle]
            return [_copy(p) for p in sorted(found, key=lambda p: p.name.casefold())]

    def link_assets(self, project_handles: list[str], asset_handle: str) -> None:
        with self.t.lock:
            for handle in project_handles:
                self.t.project_links.setdefault(handle, set()).add(asset_handle)

    def asset_handles(self, project_handle: str) -> list[str]:
        with self.t.lock:
            return sorted(self.t.project_links.get(project_handle, set()))

    def iter_assets(self, project_handle: str, after: str | None,
                    chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        return self.assets.linked(keys.assets_of_project(project_handle), self.asset_handles(project_handle),
                                  lambda h: keys.project_asset_link_key(project_handle, h), after)

    def delete(self, project: Project) -> None:
        with self.t.lock:
            for handle in self.t.project_links.pop(project.project_handle, set()):
                asset = self.t.assets.get(handle)
                if asset is not None and project.project_handle in asset.project_handles:
                    asset.project_handles = [h for h in asset.project_handles if h != project.project_handle]
            self.t.projects.pop(project.project_handle, None)
            self.t.project_names.pop((project.company_handle, project.name.casefold()), None)


class MemorySteps:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def claim(self, job_handle: str, step: str, now: datetime, lease_seconds: int) -> StepState:
        now_ms = int(now.timestamp() * 1000)
        with self.t.lock:
            item = self.t.steps.get((job_handle, step))
            if item is None or (item.get("status") == "Running" and item.get("lease_until_ms", now_ms) < now_ms):
                self.t.steps[(job_handle, step)] = {
                    "status": "Running", "lease_until_ms": now_ms + lease_seconds * 1000, "claimed_at": iso(now)}
                return "new"
            return "done" if item.get("status") == "Done" else "busy"

    def get(self, job_handle: str, step: str) -> dict | None:
        with self.t.lock:
            item = self.t.steps.get((job_handle, step))
            return dict(item) if item is not None else None

    def finish(self, job_handle: str, step: str, rows: list[LogEntry], **fields: Any) -> bool:
        with self.t.lock:
            item = self.t.steps.setdefault((job_handle, step), {})
            if item.get("status") == "Done":
                return False
            item.update({"status": "Done", **{k: v for k, v in fields.items() if v is not None}})
            if rows:
                job = self.t.jobs.get(job_handle)
                if job is not None:
                    job.counts.log_rows += len(rows)
                self.t.add_rows(job_handle, rows)
            return True

    def set_fields(self, job_handle: str, step: str, **fields: Any) -> None:
        with self.t.lock:
            self.t.steps.setdefault((job_handle, step), {}).update(fields)


class MemoryQuotas:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def take_inflight_slot(self, company_handle: str, holder: str, until: datetime, cap: int,
                           now: datetime) -> bool:
        with self.t.lock:
            holders = self.t.inflight.setdefault(company_handle, {})
            if holder not in holders and len(holders) >= cap:
                deadline = int(now.timestamp())
                for name in [name for name, end in holders.items() if end <= deadline]:
                    del holders[name]  # its invocation crashed before releasing: the lease ended
                if len(holders) >= cap:
                    return False
            holders[holder] = int(until.timestamp())
            return True

    def release_inflight_slot(self, company_handle: str, holder: str) -> bool:
        with self.t.lock:
            return self.t.inflight.get(company_handle, {}).pop(holder, None) is not None

    def inflight_holders(self, company_handle: str) -> dict[str, datetime]:
        with self.t.lock:
            return {name: datetime.fromtimestamp(end, UTC)
                    for name, end in self.t.inflight.get(company_handle, {}).items()}

    def reserve_extraction(self, claim: FileClaim, company_handle: str, day: str, members: int, size: int,
                           job_limits: tuple[int, int], company_limits: tuple[int, int]) -> Over | None:
        def within(counters: dict[str, int], limits: tuple[int, int]) -> bool:
            # A counter not counted yet passes, as attribute_not_exists() does on DynamoDB.
            return all(name not in counters or counters[name] <= limit - add for name, limit, add in (
                ("extracted_members", limits[0], members), ("extracted_bytes", limits[1], size)))

        with self.t.lock:
            job = self.t.job_counters.setdefault(claim.job_handle, {})
            today = self.t.extraction_days.setdefault((company_handle, day), {})
            if (claim.job_handle, claim.claim_id) in self.t.extraction_counted:
                return None  # this archive reserved its members on an earlier attempt
            if not within(job, job_limits):
                return "job"
            if not within(today, company_limits):
                return "company"
            self.t.extraction_counted.add((claim.job_handle, claim.claim_id))
            for counters in (job, today):
                counters["extracted_members"] = counters.get("extracted_members", 0) + members
                counters["extracted_bytes"] = counters.get("extracted_bytes", 0) + size
            return None

    def reserve_resend(self, job_handle: str, company_handle: str, day: str, per_job: int,
                       per_company_day: int) -> Over | None:
        if per_job <= 0 or per_company_day <= 0:
            return "job" if per_job <= 0 else "company"
        with self.t.lock:
            counters = self.t.job_counters.setdefault(job_handle, {})
            today = self.t.mail_days.setdefault((company_handle, day), {})
            if job_handle not in self.t.jobs or counters.get("resend_requests", 0) >= per_job:
                return "job"
            if today.get("resends", 0) >= per_company_day:
                return "company"
            counters["resend_requests"] = counters.get("resend_requests", 0) + 1
            today["resends"] = today.get("resends", 0) + 1
            return None

    def reserve_mail(self, job_handle: str, step: str, company_handle: str, day: str, per_company_day: int) -> bool:
        if per_company_day <= 0:
            return False
        with self.t.lock:
            if (job_handle, step) in self.t.mail_counted:
                return True  # counted by an earlier attempt of the step
            today = self.t.mail_days.setdefault((company_handle, day), {})
            if today.get("mails", 0) >= per_company_day:
                return False
            self.t.mail_counted.add((job_handle, step))
            today["mails"] = today.get("mails", 0) + 1
            return True


class MemoryAccounts:
    def __init__(self, tables: MemoryTables) -> None:
        self.t = tables

    def put_user(self, user: User, key_hash: str) -> None:
        with self.t.lock:
            if user.user_handle in self.t.users or key_hash in self.t.api_keys:
                raise ConditionFailed("user or key exists")
            self.t.users[user.user_handle] = (_copy(user), key_hash)
            self.t.api_keys[key_hash] = _copy(user)

    def find_user_by_email(self, company_handle: str, email: str) -> User | None:
        with self.t.lock:
            found = sorted((u for u, _ in self.t.users.values()
                            if u.company_handle == company_handle and u.email == email), key=lambda u: u.user_handle)
            return _copy(found[0]) if found else None

    def get_user_by_key_hash(self, key_hash: str) -> User | None:
        with self.t.lock:
            keyed = self.t.api_keys.get(key_hash)
            found = self.t.users.get(keyed.user_handle) if keyed else None
            return _copy(found[0]) if found and found[1] == key_hash else None

    def get_user(self, user_handle: str) -> tuple[User, str] | None:
        with self.t.lock:
            found = self.t.users.get(user_handle)
            return (_copy(found[0]), found[1]) if found else None

    def replace_user_key(self, user: User, old_hash: str | None, new_hash: str | None) -> None:
        with self.t.lock:
            if user.user_handle not in self.t.users or (new_hash and new_hash in self.t.api_keys):
                raise ConditionFailed("no such user, or the new key exists")
            self.t.users[user.user_handle] = (self.t.users[user.user_handle][0], new_hash or "")
            if old_hash:
                self.t.api_keys.pop(old_hash, None)
            if new_hash:
                self.t.api_keys[new_hash] = _copy(user)

    def delete_user(self, user: User, key_hash: str | None) -> None:
        with self.t.lock:
            self.t.users.pop(user.user_handle, None)
            if key_hash:
                self.t.api_keys.pop(key_hash, None)

    def get_webhook_secret(self, company_handle: str) -> dict | None:
        with self.t.lock:
            found = self.t.webhook_secrets.get(company_handle)
            return dict(found) if found else None

    def create_webhook_secret(self, company_handle: str, secret: str, now: datetime) -> dict:
        with self.t.lock:
            self.t.webhook_secrets.setdefault(company_handle, {"secret": secret, "created_at": iso(now)})
            return dict(self.t.webhook_secrets[company_handle])

    def rotate_webhook_secret(self, company_handle: str, secret: str, now: datetime,
                              previous_valid_until: datetime) -> dict:
        with self.t.lock:
            old = self.t.webhook_secrets.get(company_handle)
            item: dict[str, Any] = {"secret": secret, "created_at": iso(now)}
            if old:
                item |= {"previous_secret": old["secret"], "previous_valid_until": iso(previous_valid_until)}
            self.t.webhook_secrets[company_handle] = item
            return dict(item)


@dataclass
class MemoryRepositories:
    """Every repository of both tables over one ``MemoryTables`` (``ports.JobsTableRepositories`` and accounts)."""

    tables: MemoryTables = field(default_factory=MemoryTables)

    def __post_init__(self) -> None:
        t = self.tables
        self.companies = MemoryCompanies(t)
        self.jobs = MemoryJobs(t)
        self.claims = MemoryClaims(t)
        self.logs = MemoryLogs(t)
        self.assets = MemoryAssets(t)
        self.presets = MemoryPresets(t)
        self.image_presets = MemoryImagePresets(t)
        self.projects = MemoryProjects(t, self.assets)
        self.steps = MemorySteps(t)
        self.quotas = MemoryQuotas(t)
        self.accounts = MemoryAccounts(t)
