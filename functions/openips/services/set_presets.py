"""Batch set presets: the company resource, and running them over a job's assets at job end.

The grouping, ordering and naming are pure functions (``plan_sets``); ``run_presets_for_job``
applies the plans to the store: it creates or updates set assets and writes one job-log row
per set. It is safe to run again for the same job (see docs/sets.md, "Re-runs").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from openips.models import errors
from openips.models.domain import Asset, Job, LogEntry, LogType, User, new_handle, utcnow
from openips.models.errors import FileRejectedError
from openips.models.messages import message
from openips.models.set_presets import (
    MAX_DUPLICATES_PER_SET,
    MAX_MATCH_NAME,
    MAX_SET_MEMBERS,
    MAX_SET_NAME,
    SOURCE_FOLDER,
    CreateSetPresetRequest,
    SetPreset,
)
from openips.observability import logger
from openips.services import auth
from openips.services.deps import Deps
from openips.services.naming import FORBIDDEN_NAME_CHARS, normalize_folder

SET_TYPES = frozenset({"ImageSet", "SpinSet", "SwatchSet"})
WRITE_ROLES = frozenset({"IpsAdmin", "IpsCompanyAdmin"})
_UPDATE_ATTEMPTS = 8
_DIGITS = re.compile(r"(\d+)")


# ---- the company resource ---------------------------------------------------------------

def create_preset(deps: Deps, user: User, request: CreateSetPresetRequest) -> SetPreset:
    auth.require_role(user, WRITE_ROLES, "createSetPreset")
    company = auth.company_scope(user, request.company_handle)
    if deps.companies.get(company) is None:
        raise errors.unknown_handle("company", company)
    preset = SetPreset(preset_handle=new_handle("p"), company_handle=company, created=utcnow(),
                       created_by=user.user_handle, **request.model_dump(exclude={"company_handle"}))
    deps.presets.create(preset)
    return preset


def list_presets(deps: Deps, user: User, company: str | None) -> list[SetPreset]:
    auth.require_role(user, auth.READ_ROLES, "getSetPresets")
    presets = deps.presets.list_for_company(auth.company_scope(user, company))
    return sorted(presets, key=lambda p: (p.created, p.preset_handle))


def get_preset(deps: Deps, user: User, preset_handle: str) -> SetPreset:
    auth.require_role(user, auth.READ_ROLES, "getSetPreset")
    return _owned(deps, user, preset_handle)


def delete_preset(deps: Deps, user: User, preset_handle: str) -> None:
    """Delete a preset. Jobs that name it later get an ``UploadWarning`` row at job end."""
    auth.require_role(user, WRITE_ROLES, "deleteSetPreset")
    if not deps.presets.delete(_owned(deps, user, preset_handle)):
        raise errors.unknown_handle("set preset", preset_handle)


def _owned(deps: Deps, user: User, preset_handle: str) -> SetPreset:
    preset = deps.presets.get(preset_handle)
    if preset is None:
        raise errors.unknown_handle("set preset", preset_handle)
    auth.check_owner(user, preset.company_handle)
    return preset


# ---- grouping, ordering, naming (pure) ------------------------------------------------------

@dataclass(frozen=True)
class Member:
    asset_handle: str
    name: str
    folder: str
    suffix: str


@dataclass
class SetPlan:
    """One set a preset wants: its name, folder and ordered members, or why it cannot be."""

    base: str
    name: str
    folder: str
    members: list[Member]
    refused: str | None = None
    handles: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.handles = [m.asset_handle for m in self.members]


def match_member(pattern: re.Pattern[str], name: str) -> tuple[str, str] | None:
    """(base, suffix) when the whole asset name matches the rule; None otherwise.

    Names longer than ``MAX_MATCH_NAME`` never match (they bound the regex's work).
    The suffix is the ``suffix`` group when the rule has one, else what follows the base.
    """
    if len(name) > MAX_MATCH_NAME:
        return None
    found = pattern.fullmatch(name)
    if found is None or not found.group("base"):
        return None
    if "suffix" in pattern.groupindex and found.group("suffix") is not None:
        suffix = found.group("suffix")
    else:
        suffix = name[found.end("base"):].lstrip("_-. ")
    return found.group("base"), suffix


def natural_key(text: str) -> tuple:
    """Alphanumeric order: case-insensitive, digit runs by value (``_2`` before ``_10``)."""
    parts = _DIGITS.split(text)
    return tuple((0, int(p), p) if i % 2 else (1, p.casefold(), p) for i, p in enumerate(parts))


def suffix_rank(suffix_order: list[str], suffix: str) -> int:
    """Index of the first ``suffixOrder`` entry the suffix matches (``x*`` = starts with x)."""
    for index, entry in enumerate(suffix_order):
        if entry.endswith("*") and suffix.startswith(entry[:-1]) or entry == suffix:
            return index
    return len(suffix_order)


def order_members(preset: SetPreset, members: list[Member]) -> list[Member]:
    """Alphanumeric (natural) by name, or by ``suffixOrder`` rank then name; one entry per asset."""
    unique = list({m.asset_handle: m for m in members}.values())
    if preset.member_order == "SuffixList":
        return sorted(unique, key=lambda m: (suffix_rank(preset.suffix_order, m.suffix), natural_key(m.name),
                                             m.asset_handle))
    return sorted(unique, key=lambda m: (natural_key(m.name), m.asset_handle))


def set_name(preset: SetPreset, base: str) -> str:
    return preset.set_name_template.replace("{base}", base)


def set_folder(preset: SetPreset, source_folder: str) -> str:
    """The set's folder: ``setFolder`` with ``{sourceFolder}`` = the first member's folder."""
    if preset.set_folder.startswith(SOURCE_FOLDER):
        return source_folder + normalize_folder(preset.set_folder.removeprefix(SOURCE_FOLDER))
    return normalize_folder(preset.set_folder)


def check_member_limits(handles: list[str]) -> str | None:
    """Spec §3.5: at most 1000 assets in a set, and one asset at most 20 times in it."""
    if len(handles) > MAX_SET_MEMBERS:
        return f"{len(handles)} members; a set holds at most {MAX_SET_MEMBERS}"
    counts: dict[str, int] = {}
    for handle in handles:
        counts[handle] = counts.get(handle, 0) + 1
    worst = max(counts.items(), key=lambda kv: kv[1], default=None)
    if worst and worst[1] > MAX_DUPLICATES_PER_SET:
        return f"asset {worst[0]} is in it {worst[1]} times; at most {MAX_DUPLICATES_PER_SET}"
    return None


def plan_sets(preset: SetPreset, assets: list[Asset]) -> list[SetPlan]:
    """Group assets by the preset's rule into ordered sets, sorted by set name.

    Set assets never join a set, nor do assets of another company than the preset's.
    """
    pattern = preset.compiled()
    groups: dict[str, list[Member]] = {}
    for asset in assets:
        if asset.type in SET_TYPES or asset.company_handle != preset.company_handle:
            continue
        matched = match_member(pattern, asset.name)
        if matched is None:
            continue
        base, suffix = matched
        groups.setdefault(base, []).append(Member(asset.asset_handle, asset.name, asset.folder, suffix))
    plans = []
    for base, members in groups.items():
        ordered = order_members(preset, members)
        name = set_name(preset, base)
        refused = check_member_limits([m.asset_handle for m in ordered])
        if len(name) > MAX_SET_NAME:
            refused = f"the set name is {len(name)} characters long; at most {MAX_SET_NAME}"
        elif set(name) & FORBIDDEN_NAME_CHARS:
            refused = "the set name contains characters IPS removes from asset names"
        try:
            folder = set_folder(preset, ordered[0].folder)
        except FileRejectedError as exc:  # pragma: no cover - setFolder is checked at creation
            folder, refused = "", f"set folder: {exc.message}"
        plans.append(SetPlan(base=base, name=name, folder=folder, members=ordered, refused=refused))
    return sorted(plans, key=lambda p: p.name)


# ---- running presets at job end ------------------------------------------------------------

def run_presets_for_job(deps: Deps, job: Job, now: datetime) -> list[LogEntry]:
    """Run every preset of the job's ``autoSetCreationOptions`` over the job's assets.

    Creates or updates one set asset per group and appends one job-log row per set
    (``UploadSuccess`` created, ``FileUpdated`` updated, ``UploadError`` refused;
    ``UploadWarning`` for a preset that no longer exists). Returns the rows.

    Safe to call again for the same job: each row is written once, under a marker
    (``J#<j>`` / ``S#<preset>#<set>``); a re-run returns the rows already written and
    changes no set it already handled.
    """
    options = job.options.auto_set_creation_options
    handles = list(dict.fromkeys(options.auto_sets_array)) if options else []
    if not handles:
        return []
    assets = deps.assets.list_for_job(job.job_handle)
    rows: list[LogEntry] = []
    for preset_handle in handles:
        preset = deps.presets.get(preset_handle)
        if preset is None or preset.company_handle != job.company_handle:
            marker = f"{preset_handle}#"
            row = deps.presets.get_run(job.job_handle, marker) or LogEntry.localised(
                LogType.UPLOAD_WARNING, "set.preset_missing", {"handle": preset_handle}, now,
                code="SetPresetNotFound")
            rows.append(deps.presets.record_run(job.job_handle, marker, row))
            continue
        for plan in plan_sets(preset, assets):
            marker = f"{preset.preset_handle}#{hashlib.sha256(plan.name.encode()).hexdigest()[:32]}"
            done = deps.presets.get_run(job.job_handle, marker)
            if done is None:
                done = deps.presets.record_run(job.job_handle, marker, _apply(deps, job, preset, plan, now))
            rows.append(done)
    logger.info("batch set presets ran", job_handle=job.job_handle, presets=len(handles), rows=len(rows))
    return rows


def _label(preset: SetPreset) -> dict:
    return message("set.preset", name=preset.name, handle=preset.preset_handle)


def _names(names: list[str]) -> dict:
    more = message("set.more", count=len(names) - 10) if len(names) > 10 else ""
    return message("set.names", shown=", ".join(names[:10]), more=more)


def _refused(preset: SetPreset, plan: SetPlan, now: datetime, reason: str, existing: Asset | None = None
             ) -> LogEntry:
    return LogEntry.localised(
        LogType.UPLOAD_ERROR, "set.refused",
        {"type": preset.set_type, "name": plan.name, "preset": _label(preset), "reason": reason}, now,
        code="SetRefused", asset_name=plan.name, asset_type=existing.type if existing else preset.set_type,
        asset_handle=existing.asset_handle if existing else None)


def _apply(deps: Deps, job: Job, preset: SetPreset, plan: SetPlan, now: datetime) -> LogEntry:
    """Create or update the set of one plan; the row that says what happened."""
    if plan.refused:
        return _refused(preset, plan, now, plan.refused)
    for _ in range(_UPDATE_ATTEMPTS):
        existing = deps.assets.find_by_name(job.company_handle, plan.name)
        if existing is None:
            asset = Asset(
                asset_handle=new_handle("a"), company_handle=job.company_handle, name=plan.name,
                type=preset.set_type, folder=plan.folder, file_name=plan.name, extension="",
                publish_state="MarkedForPublish" if job.options.ready_for_publish else "NotMarkedForPublish",
                file_size=0, master_key="", created_job_handle=job.job_handle,
                updated_job_handle=job.job_handle, created=now, updated=now,
                last_claim=f"set:{preset.preset_handle}", members=plan.handles,
            )
            if deps.assets.create(asset):
                return _created(preset, asset, [m.name for m in plan.members], now)
            continue  # another finalize created it first: update theirs
        if existing.type != preset.set_type:
            return _refused(preset, plan, now, f"the asset ID {plan.name} is taken by {existing.type} asset "
                                               f"{existing.asset_handle} in {existing.folder or '/'}", existing)
        merged = _merge(deps, preset, existing, plan)
        problem = check_member_limits([m.asset_handle for m in merged])
        if problem:
            return _refused(preset, plan, now, f"merged with its {len(existing.members)} members it would have "
                                               + problem, existing)
        updated = existing.model_copy(update={
            "members": [m.asset_handle for m in merged], "updated": now, "updated_job_handle": job.job_handle,
        })
        if deps.assets.update_set_members(updated, existing.members):
            if existing.created_job_handle == job.job_handle:
                return _created(preset, updated, [m.name for m in merged], now)  # ours, interrupted before
            added = len(set(updated.members) - set(existing.members))
            return LogEntry.localised(
                LogType.FILE_UPDATED, "set.updated",
                {"type": updated.type, "name": updated.name, "folder": updated.folder or "/",
                 "preset": _label(preset), "count": len(updated.members), "added": added,
                 "names": _names([m.name for m in merged])}, now,
                asset_name=updated.name, asset_type=updated.type, asset_handle=updated.asset_handle)
    raise errors.TransientError(f"set {plan.name} kept changing under us")


def _created(preset: SetPreset, asset: Asset, names: list[str], now: datetime) -> LogEntry:
    return LogEntry.localised(
        LogType.UPLOAD_SUCCESS, "set.created",
        {"type": asset.type, "name": asset.name, "folder": asset.folder or "/", "preset": _label(preset),
         "count": len(asset.members), "names": _names(names)}, now,
        asset_name=asset.name, asset_type=asset.type, asset_handle=asset.asset_handle)


def _merge(deps: Deps, preset: SetPreset, existing: Asset, plan: SetPlan) -> list[Member]:
    """The existing set's members still present, plus the plan's, in the preset's order."""
    pattern = preset.compiled()
    new = {m.asset_handle for m in plan.members}
    members = list(plan.members)
    for handle in existing.members:
        if handle in new:
            continue
        asset = deps.assets.get(handle)
        if asset is None or asset.company_handle != existing.company_handle:
            continue  # deleted since: it leaves the set
        matched = match_member(pattern, asset.name)
        suffix = matched[1] if matched else asset.name
        members.append(Member(asset.asset_handle, asset.name, asset.folder, suffix))
    return order_members(preset, members)
