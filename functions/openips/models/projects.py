"""Projects: named groups of assets that ``projectHandleArray`` adds a job's assets to (spec §4 #19)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from openips.models.text import PlainName
from openips.models.upload_job import IpsModel

PROJECT_NAME = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f/\\]+$")


class Project(BaseModel):
    project_handle: str
    company_handle: str
    name: str
    created: datetime
    created_by: str


class CreateProjectRequest(IpsModel):
    company_handle: str | None = None
    name: PlainName = PROJECT_NAME


class ProjectResponse(IpsModel):
    project_handle: str
    company_handle: str
    name: str
    created: datetime
    created_by: str


class ProjectsResponse(IpsModel):
    project_array: list[ProjectResponse]


class ProjectHandleResponse(IpsModel):
    project_handle: str
