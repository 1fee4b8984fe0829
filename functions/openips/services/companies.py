"""Company settings: read and change them (IpsAdmin: any company; IpsCompanyAdmin: its own)."""

from __future__ import annotations

from openips.models import errors
from openips.models.api import CompanySettings, UpdateCompanyRequest
from openips.models.domain import Company, User
from openips.services import auth
from openips.services.deps import Deps
from openips.services.profiles import MAX_PROFILE_BYTES

ADMIN_ROLES = frozenset({"IpsAdmin", "IpsCompanyAdmin"})
# Set by the operator (IpsAdmin) for a tenant: its quota and its name. A company admin
# chooses how its uploads behave (overwriteMode, retainPublishState, profile, same-IP).
OPERATOR_FIELDS = {"name": "name", "max_file_size": "maxFileSize"}


def _owned_company(deps: Deps, user: User, company_handle: str, operation: str) -> Company:
    auth.require_role(user, ADMIN_ROLES, operation)
    auth.check_owner(user, company_handle)
    company = deps.companies.get(company_handle)
    if company is None:
        raise errors.unknown_handle("company", company_handle)
    return company


def get_settings(deps: Deps, user: User, company_handle: str) -> CompanySettings:
    company = _owned_company(deps, user, company_handle, "getCompanySettings")
    return CompanySettings(**company.model_dump())


def update_settings(deps: Deps, user: User, company_handle: str, request: UpdateCompanyRequest) -> CompanySettings:
    """setCompanySettings: only the fields given change; the default profile must be an IccProfile asset."""
    company = _owned_company(deps, user, company_handle, "setCompanySettings")
    changes = request.model_dump(exclude_unset=True)
    reserved = [alias for name, alias in OPERATOR_FIELDS.items() if name in changes]
    if reserved and user.role != "IpsAdmin":
        raise errors.AuthorizationFault(errors.NO_OPERATION_PERMISSION,
                                        f"Only IpsAdmin may change {', '.join(reserved)} of a company")
    for field, alias in (("default_source_profile_handle", "defaultSourceProfileHandle"),
                         ("default_display_profile_handle", "defaultDisplayProfileHandle")):
        profile = changes.get(field)
        if profile:
            asset = deps.assets.get(profile)
            if asset is None or asset.company_handle != company_handle or asset.type != "IccProfile":
                raise errors.invalid_parameter(f"{alias}: {profile} is not an IccProfile asset of this company")
            header = deps.storage.read(deps.settings.assets_bucket, asset.master_key, MAX_PROFILE_BYTES)
            if field == "default_display_profile_handle" and header[16:20] != b"RGB ":
                raise errors.invalid_parameter(f"{alias}: {profile} is not an RGB profile; a display profile "
                                               "must be one")
    if changes.get("blocked_file_types") is None and "blocked_file_types" in changes:
        changes["blocked_file_types"] = []  # null clears the list
    updated = company.model_copy(update=changes)
    deps.companies.replace(updated)
    return CompanySettings(**updated.model_dump())
