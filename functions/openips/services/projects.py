"""Projects (``projectHandleArray``): create, list, read and delete; check a job's handles."""

from __future__ import annotations

from datetime import datetime

from openips.models import errors
from openips.models.domain import User, new_handle
from openips.models.projects import CreateProjectRequest, Project, ProjectResponse
from openips.services import auth
from openips.services.deps import Deps

MANAGE_ROLES = frozenset({"IpsAdmin", "IpsCompanyAdmin"})
MAX_PROJECTS_PER_JOB = 100


def create_project(deps: Deps, user: User, request: CreateProjectRequest, now: datetime) -> Project:
    auth.require_role(user, MANAGE_ROLES, "createProject")
    company_handle = auth.company_scope(user, request.company_handle)
    if deps.companies.get(company_handle) is None:
        raise errors.unknown_handle("company", company_handle)
    project = Project(project_handle=new_handle("pj"), company_handle=company_handle, name=request.name,
                      created=now, created_by=user.email)
    if not deps.projects.create(project):
        raise errors.invalid_parameter(f"Company {company_handle} already has a project named {request.name}", 409)
    return project


def list_projects(deps: Deps, user: User, company: str | None) -> list[ProjectResponse]:
    auth.require_role(user, auth.READ_ROLES, "getProjects")
    company_handle = auth.company_scope(user, company)
    projects = sorted(deps.projects.list_for_company(company_handle), key=lambda p: p.name.casefold())
    return [view(p) for p in projects]


def get_project(deps: Deps, user: User, project_handle: str) -> ProjectResponse:
    auth.require_role(user, auth.READ_ROLES, "getProjects")
    return view(owned_project(deps, user, project_handle))


def delete_project(deps: Deps, user: User, project_handle: str) -> None:
    """Delete the project; its assets stay, and no longer name it."""
    auth.require_role(user, MANAGE_ROLES, "deleteProject")
    deps.projects.delete(owned_project(deps, user, project_handle))


def owned_project(deps: Deps, user: User, project_handle: str) -> Project:
    project = deps.projects.get(project_handle)
    if project is None:
        raise errors.unknown_handle("project", project_handle)
    auth.check_owner(user, project.company_handle)
    return project


def view(project: Project) -> ProjectResponse:
    return ProjectResponse(**project.model_dump())


def check_job_projects(deps: Deps, company_handle: str, handles: list[str] | None) -> None:
    """``projectHandleArray``: every handle a project of the job's company (30001 otherwise)."""
    handles = handles or []
    if len(handles) > MAX_PROJECTS_PER_JOB:
        raise errors.invalid_parameter(f"projectHandleArray: at most {MAX_PROJECTS_PER_JOB} projects per job")
    for handle in handles:
        project = deps.projects.get(handle)
        # One answer for unknown and foreign handles: nothing leaks about other companies.
        if project is None or project.company_handle != company_handle:
            raise errors.invalid_parameter(f"projectHandleArray: no project {handle} in this company")


def live_projects(deps: Deps, company_handle: str, handles: list[str] | None) -> tuple[list[str], list[str]]:
    """(projects that still exist, handles deleted since the job was opened)."""
    live, gone = [], []
    for handle in dict.fromkeys(handles or []):
        project = deps.projects.get(handle)
        (live if project is not None and project.company_handle == company_handle else gone).append(handle)
    return live, gone
