"""Each IPS operation: its parameters (read by ``codec``) to the service call the JSON API makes.

The rules live in the services (``jobs``, ``control``, ``assets``, ``auth``); this module only
names the arguments and turns the answers into the camelCase dicts ``codec`` writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openips.models import errors
from openips.models.api import AssetResponse
from openips.models.domain import User, utcnow
from openips.services import assets, auth, control, jobs, pages
from openips.services.deps import Deps
from openips.services.params import query_int

MAX_SEARCH_ROWS = 10_000  # searchAssets counts totalRows by reading the matches, up to this many


@dataclass(frozen=True)
class Call:
    deps: Deps
    user: User | None  # None only for checkLogin without header credentials
    params: dict[str, Any]
    locale: str | None  # authHeader/locale

    @property
    def caller(self) -> User:
        if self.user is None:
            raise errors.AuthenticationFault(errors.NO_CREDENTIALS, "Missing credentials: send an authHeader "
                                             "(user = e-mail, password = API key) or HTTP Basic")
        return self.user

    def get(self, name: str) -> Any:
        return self.params.get(name)


def _dump(models: list) -> list[dict]:
    return [m.model_dump(by_alias=True, mode="json") for m in models]


def check_login(call: Call) -> dict:
    """checkLogin: ValidLogin when the e-mail and API key are a user's (of ``companyHandle`` if given)."""
    try:
        checked = auth.authenticate_email_key(call.deps.accounts, call.get("email"), call.get("password"))
        auth.company_scope(checked, call.get("companyHandle"))
    except (errors.AuthenticationFault, errors.AuthorizationFault):
        return {"status": "InvalidLogin"}
    return {"status": "ValidLogin"}


def get_company_info(call: Call) -> dict:
    user = call.caller
    auth.require_role(user, auth.READ_ROLES, "getCompanyInfo")
    handle, name = call.get("companyHandle"), call.get("companyName")
    if not handle and not name:
        raise errors.missing_parameter("getCompanyInfoParam needs companyHandle or companyName")
    company = call.deps.companies.get(auth.company_scope(user, handle)) if handle else None
    if handle and company is None:
        raise errors.unknown_handle("company", handle)
    if company is None:  # by name: IpsAdmin finds any company; others their own (another's name is unknown)
        named = [c for c in call.deps.companies.find_by_name(name)
                 if user.role == "IpsAdmin" or c.company_handle == user.company_handle]
        if not named:
            raise errors.invalid_parameter(f"Unknown company name (give companyHandle): {name}")
        if len(named) > 1:
            raise errors.invalid_parameter(f"{len(named)} companies are named {name}: give companyHandle")
        company = named[0]
    elif name and company.name != name:
        raise errors.invalid_parameter(f"Company {handle} is not named {name}")
    return {"companyInfo": {"companyHandle": company.company_handle, "name": company.name,
                            "rootPath": f"{company.name}/"}}


def get_active_jobs(call: Call) -> dict:
    found, _ = jobs.active_jobs(call.deps, call.caller, call.get("companyHandle"), call.get("jobHandle"),
                                call.get("originalName"), utcnow(), call.get("includeWaitingJobs"))
    return {"jobArray": _dump(found)}


def get_scheduled_jobs(call: Call) -> dict:
    return {"jobArray": _dump(jobs.scheduled_jobs(call.deps, call.caller, call.get("companyHandle")))}


def get_job_logs(call: Call) -> dict:
    num_rows = call.get("numRows")
    if num_rows is not None:
        num_rows = query_int(str(num_rows), "numRows", 1, 10000)  # the JSON API's bounds
    page = jobs.job_logs(call.deps, call.caller, call.get("companyHandle"), call.get("userHandle"),
                         call.get("sortBy"), call.get("sortDirection"), call.get("startDate"),
                         call.get("endDate"), num_rows)
    return {"jobLogArray": _dump(page.items)}


def get_job_log_details(call: Call) -> dict:
    user = call.caller
    company = auth.company_scope(user, call.get("companyHandle"))
    job_handle = call.get("jobHandle")
    if not job_handle:
        original_name = call.get("originalName")
        if not original_name:
            raise errors.missing_parameter("getJobLogDetailsParam needs jobHandle or originalName")
        return {"jobLogArray": _dump(jobs.job_log_details_by_original_name(
            call.deps, user, company, original_name, call.get("logTypeArray") or None, call.get("recordsPerPage"),
            call.get("resultsPage"), call.get("sortBy"), call.get("sortDirection"), call.locale))}
    log = jobs.job_log_details(call.deps, user, job_handle, call.get("logTypeArray") or None,
                               call.get("recordsPerPage"), call.get("resultsPage"), call.get("sortBy"),
                               call.get("sortDirection"), call.locale)
    if log.company_handle != company:
        raise errors.illegal_company()
    return {"jobLogArray": _dump([log])}


def get_asset_job_logs(call: Call) -> dict:
    user = call.caller
    auth.company_scope(user, call.get("companyHandle"))  # the service checks the asset is the caller's
    return {"jobLogArray": _dump(assets.asset_job_logs(call.deps, user, call.get("assetHandle"), call.locale))}


def _control(action: Callable[[Deps, User, str, Any], None]) -> Callable[[Call], dict]:
    def run(call: Call) -> dict:
        user = call.caller
        auth.company_scope(user, call.get("companyHandle"))  # the service checks the job is the caller's
        action(call.deps, user, call.get("jobHandle"), utcnow())
        return {}
    return run


def _asset(view: AssetResponse) -> dict:
    return {"assetHandle": view.asset_handle, "type": view.type, "name": view.name, "folder": view.folder,
            "fileName": view.file_name, "created": view.created.isoformat(),
            "lastModified": view.updated.isoformat()}


def get_assets(call: Call) -> dict:
    """getAssets: the assets of the handles the caller may read; others are left out (as IPS does)."""
    user = call.caller
    company = auth.company_scope(user, call.get("companyHandle"))
    found = []
    for handle in call.get("assetHandleArray") or []:
        try:
            view = assets.get_asset(call.deps, user, handle)
        except errors.Fault as fault:
            if fault.code in (errors.INVALID_PARAMETER, errors.ILLEGAL_COMPANY):
                continue
            raise
        if view.company_handle == company:
            found.append(_asset(view))
    return {"assetArray": found}


def search_assets(call: Call) -> dict:
    """searchAssets: one folder (not its subfolders), an exact name (systemField ``Name`` Equals), one type."""
    user = call.caller
    company_handle = auth.company_scope(user, call.get("companyHandle"))
    if call.get("includeSubfolders"):
        raise errors.invalid_parameter("searchAssetsParam/includeSubfolders=true is not supported by openips")
    name = None
    for condition in call.get("systemFieldConditionArray") or []:
        if condition.get("field") != "Name" or condition.get("op") != "Equals" or name is not None:
            raise errors.invalid_parameter("searchAssetsParam/systemFieldConditionArray: openips answers one "
                                           "condition, field Name with op Equals")
        name = condition.get("value")
    types = call.get("assetTypeArray") or []
    if len(types) > 1:
        raise errors.invalid_parameter("searchAssetsParam/assetTypeArray: openips answers one asset type")
    per_page = query_int(str(call.get("recordsPerPage") or 1000), "recordsPerPage", 1, 1000)
    results_page = query_int(str(call.get("resultsPage") or 1), "resultsPage", 1, None) or 1
    folder = call.get("folder")
    company = call.deps.companies.get(company_handle)
    root = f"{company.name}/" if company else None
    if folder is not None and root and (folder == root.rstrip("/") or folder.startswith(root)):
        folder = folder[len(root):]  # IPS folders start at the company root folder
    if folder is None and name is None:
        folder = ""  # IPS: the company root
    matches: list[dict] = []
    token = None
    while True:
        page = assets.find_assets(call.deps, user, company_handle, None, folder, name,
                                  types[0] if types else None, None, None, pages.MAX_LIMIT, token)
        matches.extend(_asset(view) for view in page.items)
        token = page.next_token
        if token is None:
            break
        if len(matches) > MAX_SEARCH_ROWS:
            raise errors.invalid_parameter(f"searchAssets matches more than {MAX_SEARCH_ROWS} assets: "
                                           "narrow it (a folder, a type)")
    start = (results_page - 1) * per_page
    return {"totalRows": len(matches), "assetArray": matches[start:start + per_page]}


HANDLERS: dict[str, Callable[[Call], dict]] = {
    "checkLogin": check_login,
    "getCompanyInfo": get_company_info,
    "getActiveJobs": get_active_jobs,
    "getScheduledJobs": get_scheduled_jobs,
    "getJobLogs": get_job_logs,
    "getJobLogDetails": get_job_log_details,
    "getAssetJobLogs": get_asset_job_logs,
    "stopJob": _control(control.stop_job),
    "pauseJob": _control(control.pause_job),
    "resumeJob": _control(control.resume_job),
    "deleteJob": _control(control.delete_job),
    "getAssets": get_assets,
    "searchAssets": search_assets,
}
