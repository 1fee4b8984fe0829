"""Projects: named groups of assets that ``projectHandleArray`` adds a job's assets to (spec §4 #19)."""

from datetime import datetime

from pydantic import Field

from openips.models.base import Model
from openips.models.upload_job import IpsModel

# No slash or backslash, no control characters, and none of the invisible format characters that
# make a name read as another (bidi overrides, zero-width spaces): models.text, as a pattern.
PROJECT_NAME = Field(min_length=1, max_length=128,
                     pattern=r"^[^\x00-\x1f\x7f-\x9f/\\\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]+$")


class Project(Model):
    project_handle: str
    company_handle: str
    name: str
    created: datetime
    created_by: str


class CreateProjectRequest(IpsModel):
    company_handle: str | None = None
    name: str = PROJECT_NAME


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
