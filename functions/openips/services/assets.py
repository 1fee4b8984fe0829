"""Reading assets, with short-lived presigned GET URLs for their files."""

from __future__ import annotations

from collections.abc import Iterable

from openips.adapters.paging import Position
from openips.models import errors
from openips.models.api import AssetFile, AssetFiles, AssetJobLog, AssetRendition, AssetResponse
from openips.models.domain import Asset, User
from openips.models.words import tokenize
from openips.services import auth, pages, views
from openips.services.deps import Deps
from openips.services.jobs import get_owned_job, reading_locale
from openips.services.naming import normalize_folder
from openips.services.projects import owned_project


def asset_view(deps: Deps, asset: Asset) -> AssetResponse:
    bucket = deps.settings.assets_bucket
    storage = deps.storage
    optimized = None
    if asset.optimized_key:
        stem = asset.file_name.rsplit(".", 1)[0]
        optimized = AssetFile(url=storage.presign_get(bucket, asset.optimized_key, f"{stem}.tif"),
                              key=asset.optimized_key, format=asset.optimized_format)
    mask = None
    if asset.mask_key:
        mask = AssetFile(url=storage.presign_get(bucket, asset.mask_key, f"{asset.name}-mask.tif"),
                         key=asset.mask_key, format="ptiff")
    thumbnail = None
    if asset.thumbnail_key:  # no file name: served inline, for <img src>
        thumbnail = AssetFile(url=storage.presign_get(bucket, asset.thumbnail_key, None),
                              key=asset.thumbnail_key, format=asset.thumbnail_format)
    master = None
    if asset.master_key:  # set assets have no files of their own
        master = AssetFile(url=storage.presign_get(bucket, asset.master_key, asset.file_name), key=asset.master_key)
    renditions = [AssetRendition(url=storage.presign_get(bucket, r.key, r.file_name),
                                 **r.model_dump(exclude={"created"}))
                  for _, r in sorted(asset.renditions.items())]
    files = AssetFiles(master=master, optimized=optimized, mask=mask, thumbnail=thumbnail, renditions=renditions)
    return AssetResponse(**asset.model_dump(exclude={"master_key", "optimized_key", "optimized_format",
                                                     "mask_key", "thumbnail_key", "thumbnail_format", "renditions",
                                                     "extension", "last_claim", "members"}),
                         files=files, children=list(asset.members))


def get_asset(deps: Deps, user: User, asset_handle: str) -> AssetResponse:
    auth.require_role(user, auth.READ_ROLES, "getAssets")
    return asset_view(deps, _owned_asset(deps, user, asset_handle))


def asset_job_logs(deps: Deps, user: User, asset_handle: str, locale: str | None = None) -> list[AssetJobLog]:
    """getAssetJobLogs: every job-log row that named the asset, across jobs, newest first.

    Messages are in ``locale`` when given, else in each job's own locale.
    """
    auth.require_role(user, auth.READ_ROLES, "getAssetJobLogs")
    locale = reading_locale(locale)
    asset = _owned_asset(deps, user, asset_handle)
    rows = list(deps.logs.query_for_asset(asset.asset_handle))
    jobs = deps.jobs.get_many({job_handle for job_handle, _ in rows})
    return [views.asset_job_log(jobs[handle], row, locale or jobs[handle].locale)
            for handle, row in rows if handle in jobs]


def _owned_asset(deps: Deps, user: User, asset_handle: str) -> Asset:
    asset = deps.assets.get(asset_handle)
    if asset is None:
        raise errors.unknown_handle("asset", asset_handle)
    auth.check_owner(user, asset.company_handle)
    return asset


def find_assets(deps: Deps, user: User, company: str | None, job_handle: str | None,
                folder: str | None, name: str | None, asset_type: str | None,
                project_handle: str | None = None, text: str | None = None,
                limit: int | None = None, next_token: str | None = None) -> pages.Page[AssetResponse]:
    """Assets by job, by folder, by name (the company-unique asset ID), by project or by words (``text``).

    One page of at most ``limit`` assets; ``next_token`` (an earlier page's) continues the same query.
    """
    auth.require_role(user, auth.READ_ROLES, "searchAssets")
    company_handle = auth.company_scope(user, company)
    size = limit or pages.DEFAULT_LIMIT
    chunk = size + 1  # a full page reads one item more, to know whether another page follows
    try:
        folder_key = normalize_folder(folder) if folder is not None else None
    except errors.FileRejectedError as exc:
        raise errors.invalid_parameter(f"folder: {exc.message}") from exc
    words = _search_words(text) if text is not None else []

    def wanted(asset: Asset) -> bool:
        return (asset.company_handle == company_handle
                and (folder_key is None or asset.folder == folder_key)
                and (not name or asset.name == name)
                and (not asset_type or asset.type == asset_type)
                # The index finds the assets; each asset says which words it holds now.
                and set(words) <= set(asset.search_words)
                and (text is None or not job_handle
                     or job_handle in (asset.created_job_handle, asset.updated_job_handle)))

    listed: Iterable[tuple[Asset | None, Position]]
    if text is not None:
        # The longest word is likely the rarest: fewer assets read per match.
        listed = deps.assets.iter_with_word(company_handle, max(words, key=len), next_token, chunk)
    elif project_handle:
        project = owned_project(deps, user, project_handle)
        listed = deps.projects.iter_assets(project.project_handle, next_token, chunk)
    elif job_handle:
        job = get_owned_job(deps, user, job_handle)
        listed = deps.assets.iter_for_job(job.job_handle, next_token, chunk)
        if company is None:  # the job names the company (IpsAdmin: any); a companyHandle given still filters
            company_handle = job.company_handle
    elif name:
        asset = deps.assets.find_by_name(company_handle, name)
        return pages.single_page([asset_view(deps, asset)] if asset and wanted(asset) else [], next_token)
    elif folder_key is not None:
        listed = deps.assets.iter_in_folder(company_handle, folder_key, next_token, chunk)
    else:
        raise errors.missing_parameter("Give one of jobHandle, folder, name, projectHandle or text")
    page = pages.take_page(listed, size, wanted)
    return pages.Page([asset_view(deps, a) for a in page.items], page.next_token)


def _search_words(text: str) -> list[str]:
    """The words of ``text`` an asset must all hold (extractSearchWords)."""
    words = list(dict.fromkeys(tokenize(text)))
    if not words:
        raise errors.invalid_parameter("text: give at least one word (letters or digits)")
    if len(words) > 10:
        raise errors.invalid_parameter("text: at most 10 words")
    return words
