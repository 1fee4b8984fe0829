"""The service's OpenAPI 3.1 document, generated from the same pydantic models."""

from __future__ import annotations

from functools import lru_cache

from pydantic.json_schema import models_json_schema

from openips.models import api

# (method, path, operation id, request model, response model, success status)
ROUTES: tuple[tuple[str, str, str, type | None, type | None, int], ...] = (
    ("post", "/v1/upload-jobs", "openUploadJob", api.CreateUploadJobRequest, api.UploadJobResponse, 201),
    ("post", "/v1/upload-jobs/{jobHandle}/upload-form", "renewUploadForm", None, api.UploadJobResponse, 200),
    ("post", "/v1/upload-jobs/{jobHandle}/end", "endJob", None, api.JobHandleResponse, 202),
    ("get", "/v1/jobs/active", "getActiveJobs", None, api.ActiveJobsResponse, 200),
    ("get", "/v1/jobs/logs", "getJobLogs", None, api.JobLogsResponse, 200),
    ("get", "/v1/jobs/{jobHandle}/log-details", "getJobLogDetails", None, api.JobLogsResponse, 200),
    ("get", "/v1/jobs/scheduled", "getScheduledJobs", None, api.ScheduledJobsResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/stop", "stopJob", None, api.EmptyResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/pause", "pauseJob", None, api.EmptyResponse, 200),
    ("post", "/v1/jobs/{jobHandle}/resume", "resumeJob", None, api.EmptyResponse, 200),
    ("delete", "/v1/jobs/{jobHandle}", "deleteJob", None, api.EmptyResponse, 200),
    ("get", "/v1/assets/{assetHandle}", "getAsset", None, api.AssetResponse, 200),
    ("get", "/v1/assets/{assetHandle}/job-logs", "getAssetJobLogs", None, api.AssetJobLogsResponse, 200),
    ("get", "/v1/assets", "findAssets", None, api.AssetsResponse, 200),
    ("get", "/v1/admin/companies/{companyHandle}", "getCompanySettings", None, api.CompanySettings, 200),
    ("patch", "/v1/admin/companies/{companyHandle}", "setCompanySettings", api.UpdateCompanyRequest,
     api.CompanySettings, 200),
    ("post", "/v1/admin/companies", "createCompany", api.CreateCompanyRequest, api.CreateCompanyResponse, 201),
    ("post", "/v1/admin/users", "createUser", api.CreateUserRequest, api.CreateUserResponse, 201),
)

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
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                for p in params]
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
