"""Company settings: read and change them (IpsAdmin: any company; IpsCompanyAdmin: its own)."""

from __future__ import annotations

from openips.models import errors
from openips.models.api import CompanySettings, UpdateCompanyRequest
from openips.models.domain import Company, User
from openips.services import auth
from openips.services.deps import Deps

ADMIN_ROLES = frozenset({"IpsAdmin", "IpsCompanyAdmin"})


def _owned_company(deps: Deps, user: User, company_handle: str, operation: str) -> Company:
    auth.require_role(user, ADMIN_ROLES, operation)
    auth.check_owner(user, company_handle)
    company = deps.store.get_company(company_handle)
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
    profile = changes.get("default_source_profile_handle")
    if profile:
        asset = deps.store.get_asset(profile)
        if asset is None or asset.company_handle != company_handle or asset.type != "IccProfile":
            raise errors.invalid_parameter(
                f"defaultSourceProfileHandle: {profile} is not an IccProfile asset of this company")
    updated = company.model_copy(update=changes)
    deps.store.replace_company(updated)
    return CompanySettings(**updated.model_dump())
