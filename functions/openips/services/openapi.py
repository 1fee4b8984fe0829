"""The service's OpenAPI 3.1 document, generated from the same pydantic models."""

from __future__ import annotations

from functools import lru_cache

from pydantic.json_schema import models_json_schema

from openips.models import api, image_presets, processing, projects, set_presets
from openips.services.jobs import LOG_SORT_FIELDS, MAX_RECORDS_PER_PAGE
from openips.services.pages import DEFAULT_LIMIT, MAX_LIMIT

# (method, path, operation id, request model, response model, success status)
ROUTES: tuple[tuple[str, str, str, type | None, type | None, int], ...] = (
    ("post", "/v1/upload-jobs", "openUploadJob", api.CreateUploadJobRequest, api.UploadJobResponse, 201),
    ("post", "/v1/upload-jobs/{jobHandle}/upload-form", "renewUploadForm", None, api.UploadJobResponse, 200),
    ("post", "/v1/upload-jobs/{jobHandle}/end", "endJob", None, api.JobHandleResponse, 202),
    ("get", "/v1/upload-jobs/{jobHandle}/task-status", "getUploadTaskStatus", None,
     api.UploadTaskStatusResponse, 200),
    ("get", "/v1/jobs/active", "getActiveJobs", None, api.ActiveJobsResponse, 200),
    ("get", "/v1/jobs/logs", "getJobLogs", None, api.JobLogsPageResponse, 200),
    ("get", "/v1/jobs/{jobHandle}/log-details", "getJobLogDetails", None, api.JobLogsResponse, 200),
    ("get", "/v1/jobs/log-details", "getJobLogDetailsByOriginalName", None, api.JobLogsResponse, 200),
    ("get", "/v1/jobs/{jobHandle}/archived-log-details", "getArchivedJobLogDetails", None, api.JobLogsResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/execute", "executeJob", None, api.EmptyResponse, 200),
    ("get", "/v1/jobs/scheduled", "getScheduledJobs", None, api.ScheduledJobsResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/stop", "stopJob", None, api.EmptyResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/pause", "pauseJob", None, api.EmptyResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/resume", "resumeJob", None, api.EmptyResponse, 200),
    ("delete", "/v1/jobs/{jobHandle}", "deleteJob", None, api.EmptyResponse, 200),
    ("get", "/v1/assets/{assetHandle}", "getAsset", None, api.AssetResponse, 200),
    ("get", "/v1/assets/{assetHandle}/job-logs", "getAssetJobLogs", None, api.AssetJobLogsResponse, 200),
    ("get", "/v1/assets/{assetHandle}/archived-job-logs", "getAssetArchivedJobLogs", None,
     api.AssetJobLogsResponse, 200),
    ("get", "/v1/assets", "findAssets", None, api.AssetsResponse, 200),
    ("get", "/v1/assets/{assetHandle}/auto-crop-rect", "getAutoCropRect", None, processing.CropRect, 200),
    ("get", "/v1/assets/{assetHandle}/smart-crops", "getSmartCrops", None, processing.SmartCropsResponse, 200),
    ("put", "/v1/assets/{assetHandle}/smart-crops/{name}", "setSmartCrop", processing.SmartCropRect,
     processing.SmartCropsResponse, 200),
    ("get", "/v1/admin/companies/{companyHandle}", "getCompanySettings", None, api.CompanySettings, 200),
    ("patch", "/v1/admin/companies/{companyHandle}", "setCompanySettings", api.UpdateCompanyRequest,
     api.CompanySettings, 200),
    ("post", "/v1/admin/companies", "createCompany", api.CreateCompanyRequest, api.CreateCompanyResponse, 201),
    ("post", "/v1/admin/users", "createUser", api.CreateUserRequest, api.CreateUserResponse, 201),
    ("post", "/v1/admin/users/{userHandle}/api-key", "issueApiKey", None, api.CreateUserResponse, 201),
    ("delete", "/v1/admin/users/{userHandle}/api-key", "revokeApiKey", None, api.EmptyResponse, 200),
    ("delete", "/v1/admin/users/{userHandle}", "deleteUser", None, api.EmptyResponse, 200),
    ("post", "/v1/set-presets", "createSetPreset", set_presets.CreateSetPresetRequest,
     set_presets.SetPresetHandleResponse, 201),
    ("get", "/v1/set-presets", "getSetPresets", None, set_presets.SetPresetListResponse, 200),
    ("get", "/v1/set-presets/{presetHandle}", "getSetPreset", None, set_presets.SetPreset, 200),
    ("delete", "/v1/set-presets/{presetHandle}", "deleteSetPreset", None, api.EmptyResponse, 200),
    ("post", "/v1/image-presets", "createImagePreset", image_presets.CreateImagePresetRequest,
     image_presets.ImagePreset, 201),
    ("get", "/v1/image-presets", "getImagePresets", None, image_presets.ImagePresetListResponse, 200),
    ("get", "/v1/image-presets/{name}", "getImagePreset", None, image_presets.ImagePreset, 200),
    ("delete", "/v1/image-presets/{name}", "deleteImagePreset", None, api.EmptyResponse, 200),
    ("get", "/v1/admin/companies/{companyHandle}/webhook-secret", "getWebhookSecret", None,
     api.WebhookSecretResponse, 200),
    ("post", "/v1/admin/companies/{companyHandle}/webhook-secret/rotate", "rotateWebhookSecret", None,
     api.WebhookSecretResponse, 200),
    ("get", "/v1/jobs/{jobHandle}/accounting", "verifyJobAccounting", None, api.JobAccountingResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/accounting/repair", "repairJobAccounting", None, api.JobAccountingResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/notifications/resend", "resendJobNotifications", None,
     api.ResendNotificationsResponse, 202),
    ("post", "/v1/projects", "createProject", projects.CreateProjectRequest, projects.ProjectHandleResponse, 201),
    ("get", "/v1/projects", "getProjects", None, projects.ProjectsResponse, 200),
    ("get", "/v1/projects/{projectHandle}", "getProject", None, projects.ProjectResponse, 200),
    ("delete", "/v1/projects/{projectHandle}", "deleteProject", None, api.EmptyResponse, 200),
)


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    # An empty value is the same as leaving the parameter out (``?jobHandle=&originalName=``).
    return {"name": name, "in": "query", "required": False, "description": description,
            "allowEmptyValue": True, "schema": schema or {"type": "string"}}


_COMPANY = _query("companyHandle", "The company to read (IpsAdmin: any; other roles: their own, the default)")
_LOCALE = _query("locale", "Language of log messages (default: each job's own locale)",
                 {"type": "string", "pattern": r"^[a-z]{2}(-[A-Z]{2})?$"})
_DIRECTION = {"type": "string", "enum": ["Ascending", "Descending"]}
_DATE = {"type": "string", "format": "date-time"}

# The query parameters of each operation, by operation id: the document's one source for them
# (every name a handler reads must be declared; tests/integration/test_openapi_fuzz.py checks it).
QUERY_PARAMETERS: dict[str, tuple[dict, ...]] = {
    "getActiveJobs": (_COMPANY, _query("jobHandle", "Only this job"),
                      _query("originalName", "Only jobs opened with this name"),
                      _query("includeWaitingJobs", "false: leave out jobs with nothing running (WaitingClient, "
                             "WaitingCoordinator); default true", {"type": "string", "enum": ["true", "false"]})),
    "getJobLogs": (
        _COMPANY, _query("userHandle", "Only jobs submitted by this user"),
        _query("sortBy", "Sort field (default StartDate)", {"type": "string", "enum": list(LOG_SORT_FIELDS)}),
        _query("sortDirection", "Default Descending", _DIRECTION),
        _query("startDate", "Jobs started at or after (ISO 8601 with a zone)", _DATE),
        _query("endDate", "Jobs started at or before (ISO 8601 with a zone)", _DATE),
        _query("numRows", "Jobs per page (default 100)", {"type": "integer", "minimum": 1, "maximum": 10000}),
        _query("nextToken", "The nextToken of the previous page of the same query (sortBy StartDate, CompanyName "
               "or JobName; the other sorts have one page)"),
    ),
    "getJobLogDetails": (
        _query("logTypeArray", "Only these log types, comma separated (e.g. UploadSuccess,UploadError)"),
        _query("recordsPerPage", f"Detail rows per page (default {MAX_RECORDS_PER_PAGE})",
               {"type": "integer", "minimum": 1, "maximum": MAX_RECORDS_PER_PAGE}),
        _query("resultsPage", "Page number, from 1", {"type": "integer", "minimum": 1}),
        _query("sortBy", "Sort field (default Date)", {"type": "string", "enum": ["Date", "LogType"]}),
        _query("sortDirection", "Default Ascending", _DIRECTION),
        _LOCALE,
    ),
    "getScheduledJobs": (_COMPANY,),
    "getAssetJobLogs": (_LOCALE,),
    "getAssetArchivedJobLogs": (_LOCALE,),
    "findAssets": (
        _COMPANY, _query("jobHandle", "Assets created or updated by this job"),
        _query("folder", "Assets in this folder"), _query("name", "The asset of this name (company-unique)"),
        _query("type", "Only assets of this type (Image, Pdf, IccProfile, ImageSet…)"),
        _query("projectHandle", "Assets of this project"),
        _query("text", "Assets whose extracted words (pdfOptions.extractSearchWords) include every word given "
               "(case-insensitive, at most 10 words)"),
        _query("limit", f"Assets per page (default {DEFAULT_LIMIT}); a page read with filters (type, or a "
               "second criterion) may hold fewer, with a nextToken",
               {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        _query("nextToken", "The nextToken of the previous page of the same query"),
    ),
    "getProjects": (_COMPANY,),
    "getAutoCropRect": (
        _query("type", "Color (trim the corner's colour) or Transparent",
               {"type": "string", "enum": ["Color", "Transparent"]}) | {"required": True},
        _query("corner", "With Color: the corner whose colour is trimmed (default UpperLeft)",
               {"type": "string", "enum": ["UpperLeft", "BottomLeft", "UpperRight", "BottomRight"]}),
        _query("tolerance", "0 (exact) to 1 (widest); default 0", {"type": "number", "minimum": 0, "maximum": 1}),
    ),
    "getSetPresets": (_COMPANY,),
    "getImagePresets": (_COMPANY,),
    "getImagePreset": (_COMPANY,),
    "deleteImagePreset": (_COMPANY,),
}

QUERY_PARAMETERS["getArchivedJobLogDetails"] = QUERY_PARAMETERS["getJobLogDetails"]
QUERY_PARAMETERS["getJobLogDetailsByOriginalName"] = (
    _query("originalName", "The name the jobs were opened with (before any uniqueness suffix); the answer holds "
           "each such job, newest first, at most 20", {"type": "string", "minLength": 1})
    | {"required": True, "allowEmptyValue": False},
    _COMPANY, *QUERY_PARAMETERS["getJobLogDetails"])

FAULT_SCHEMA = {
    "type": "object",
    "required": ["fault"],
    "properties": {"fault": {"type": "object", "required": ["type", "code", "reason"], "properties": {
        "type": {"enum": ["authenticationFault", "authorizationFault", "ipsApiFault"]},
        "code": {"type": "integer"}, "reason": {"type": "string"}}}},
}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    models = {m for _, _, _, req, resp, _ in ROUTES for m in (req, resp) if m is not None}
    refs, defs = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                                    by_alias=True, ref_template="#/components/schemas/{model}")
    schemas = dict(defs.get("$defs", {})) | {"Fault": FAULT_SCHEMA}
    paths: dict[str, dict] = {}
    for method, path, operation, req, resp, status in ROUTES:
        op: dict = {"operationId": operation, "responses": {
            str(status): {"description": "Success", "content": {"application/json": {
                "schema": refs[(resp, "validation")]}}},
            "default": {"description": "IPS fault", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Fault"}}}},
        }}
        if req is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[(req, "validation")]}}}
        params = [{"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                  for part in path.split("/") if part.startswith("{")]
        params += QUERY_PARAMETERS.get(operation, ())
        if params:
            op["parameters"] = params
        op["security"] = [{"apiKey": []}]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "openips", "version": "1.0.0",
                 "description": "Scene7 IPS upload jobs (UploadPostJob) on AWS"},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
    }
