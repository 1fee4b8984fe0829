"""API keys, roles and tenant scoping (http-api.md "Authentication")."""

from __future__ import annotations

import hashlib
import secrets

from openips.adapters.ports import AccountRepository, CompanyRepository
from openips.models import errors
from openips.models.api import CreateCompanyRequest, CreateUserRequest
from openips.models.domain import Company, Role, User, new_handle
from openips.models.errors import AuthenticationFault, AuthorizationFault
from openips.services import mail_policy

UPLOAD_ROLES: frozenset[str] = frozenset({"IpsAdmin", "IpsCompanyAdmin", "IpsUser"})
READ_ROLES: frozenset[str] = UPLOAD_ROLES | {"ImagePortalUser"}
ADMIN_ROLES: frozenset[str] = frozenset({"IpsAdmin", "IpsCompanyAdmin"})
KEY_PREFIX = "oips_"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def authenticate(accounts: AccountRepository, authorization: str | None) -> User:
    """The user behind ``Authorization: Bearer <key>``; only the key's hash is stored."""
    if not authorization or not authorization.strip():
        raise AuthenticationFault(errors.NO_CREDENTIALS, "Missing Authorization: Bearer <apiKey> header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFault(errors.NO_CREDENTIALS, "Authorization header must be 'Bearer <apiKey>'")
    user = accounts.get_user_by_key_hash(hash_key(token.strip()))
    if user is None:
        raise AuthenticationFault(errors.INVALID_CREDENTIALS, "Invalid API key")
    return user


def authenticate_email_key(accounts: AccountRepository, email: str | None, api_key: str | None) -> User:
    """The user behind an IPS ``authHeader`` or HTTP Basic pair: user = e-mail, password = API key.

    The key finds the user (only its hash is stored); the e-mail must be that user's.
    """
    if not email or not email.strip() or not api_key or not api_key.strip():
        raise AuthenticationFault(errors.NO_CREDENTIALS, "Missing credentials: user (e-mail) and password (API key)")
    user = accounts.get_user_by_key_hash(hash_key(api_key.strip()))
    if user is None or user.email.casefold() != email.strip().casefold():
        raise AuthenticationFault(errors.INVALID_CREDENTIALS, "Invalid user or password (API key)")
    return user


def require_role(user: User, allowed: frozenset[str], operation: str) -> None:
    if user.role not in allowed:
        raise AuthorizationFault(errors.NO_OPERATION_PERMISSION,
                                 f"Role {user.role} may not call {operation}")


def company_scope(user: User, requested: str | None) -> str:
    """The company a request acts on: the caller's own, or any for ``IpsAdmin``."""
    if requested is None or requested == user.company_handle:
        return user.company_handle
    if user.role == "IpsAdmin":
        return requested
    raise AuthorizationFault(errors.INVALID_COMPANY, f"User is not a member of company {requested}")


def check_owner(user: User, company_handle: str) -> None:
    if user.role != "IpsAdmin" and user.company_handle != company_handle:
        raise errors.illegal_company()


def create_company(companies: CompanyRepository, caller: User, request: CreateCompanyRequest) -> Company:
    require_role(caller, frozenset({"IpsAdmin"}), "createCompany")
    company = Company(company_handle=new_handle("c"), **request.model_dump())
    companies.create(company)
    return company


def create_user(companies: CompanyRepository, accounts: AccountRepository, caller: User | None,
                request: CreateUserRequest) -> tuple[User, str]:
    """Create a user and its API key (returned once, stored only as a hash).

    ``caller`` is None only for the bootstrap command, which runs with table access.
    """
    if caller is not None:
        require_role(caller, ADMIN_ROLES, "createUser")
        check_owner(caller, request.company_handle)
        if request.role == "IpsAdmin" and caller.role != "IpsAdmin":
            raise AuthorizationFault(errors.NO_OPERATION_PERMISSION, "Only IpsAdmin may create IpsAdmin users")
    mail_policy.require_mailable(request.email)  # job-end mails go to this address, from the operator's sender
    if companies.get(request.company_handle) is None:
        raise errors.unknown_handle("company", request.company_handle)
    if accounts.find_user_by_email(request.company_handle, request.email):
        raise errors.invalid_parameter(f"User {request.email} already exists in {request.company_handle}", 409)
    user = User(user_handle=new_handle("u"), **request.model_dump())
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    accounts.put_user(user, hash_key(api_key))
    return user, api_key


def _managed_user(accounts: AccountRepository, caller: User, user_handle: str, operation: str) -> tuple[User, str]:
    """The user an admin acts on: its own company's (any for IpsAdmin); IpsAdmin users only by IpsAdmin."""
    require_role(caller, ADMIN_ROLES, operation)
    found = accounts.get_user(user_handle)
    if found is None:
        raise errors.unknown_handle("user", user_handle)
    check_owner(caller, found[0].company_handle)
    if found[0].role == "IpsAdmin" and caller.role != "IpsAdmin":
        raise AuthorizationFault(errors.NO_OPERATION_PERMISSION, "Only IpsAdmin may manage IpsAdmin users")
    return found


def revoke_key(accounts: AccountRepository, caller: User, user_handle: str) -> None:
    """The user's API key stops working at once; the user stays, with no key until one is issued."""
    user, key_hash = _managed_user(accounts, caller, user_handle, "revokeApiKey")
    accounts.replace_user_key(user, key_hash, None)


def issue_key(accounts: AccountRepository, caller: User, user_handle: str) -> str:
    """A new API key for the user (shown once); the one it had stops working at once."""
    user, key_hash = _managed_user(accounts, caller, user_handle, "issueApiKey")
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    accounts.replace_user_key(user, key_hash, hash_key(api_key))
    return api_key


def delete_user(accounts: AccountRepository, caller: User, user_handle: str) -> None:
    """Remove the user and its key; the jobs and log rows it made keep its e-mail."""
    user, key_hash = _managed_user(accounts, caller, user_handle, "deleteUser")
    if user.user_handle == caller.user_handle:
        raise errors.invalid_parameter("You cannot delete your own user; another admin can", 409)
    accounts.delete_user(user, key_hash)


def bootstrap_admin(companies: CompanyRepository, accounts: AccountRepository, email: str,
                    company_name: str = "openips") -> tuple[User, str]:
    """The first ``IpsAdmin`` and its key, in a company of its own."""
    company = Company(company_handle=new_handle("c"), name=company_name)
    companies.create(company)
    role: Role = "IpsAdmin"
    return create_user(companies, accounts, None, CreateUserRequest(company_handle=company.company_handle,
                                                                email=email, role=role))
