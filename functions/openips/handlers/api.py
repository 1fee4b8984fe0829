"""ApiFunction: the HTTP API (http-api.md). Wiring only: parse, call a service, answer."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.handlers.http import caller, json_response, make_app, query
from openips.handlers.snapstart import prime_before_snapshot
from openips.models.api import (
    ActiveJobsResponse,
    AssetJobLogsResponse,
    AssetsResponse,
    CreateCompanyRequest,
    CreateCompanyResponse,
    CreateUploadJobRequest,
    CreateUserRequest,
    CreateUserResponse,
    EmptyResponse,
    JobHandleResponse,
    JobLogsPageResponse,
    JobLogsResponse,
    ResendNotificationsResponse,
    ScheduledJobsResponse,
    UpdateCompanyRequest,
    UploadJobResponse,
    UploadTaskStatusResponse,
    WebhookSecretResponse,
)
from openips.models.domain import User, utcnow
from openips.models.errors import missing_parameter
from openips.models.image_presets import CreateImagePresetRequest, ImagePresetListResponse
from openips.models.projects import CreateProjectRequest, ProjectHandleResponse, ProjectsResponse
from openips.models.set_presets import CreateSetPresetRequest, SetPresetHandleResponse, SetPresetListResponse
from openips.observability import logger, metrics, tracer
from openips.services import assets, auth, companies, control, jobs, pages, projects, web_ui
from openips.services.deps import Deps, get_deps
from openips.services.params import parse_body, query_bool, query_date, query_int, query_list

# Services off the hot path (presets, notifications, accounting, the OpenAPI document) are imported
# by their routes on first call, and boto3 with the first client (docs/performance.md: the import
# went from 408 to about 240 ms here). Under SnapStart they are loaded into the snapshot instead.
LOADED_ON_FIRST_USE = ("openips.services.accounting", "openips.services.notifications", "openips.services.openapi",
                       "openips.services.set_presets", "openips.services.delivery.presets",
                       "openips.services.asset_smart_crops")
prime_before_snapshot(LOADED_ON_FIRST_USE, get_deps)

app = make_app()


def _deps() -> Deps:
    return get_deps()


def _caller() -> User:
    return caller(app)


def _query(name: str) -> str | None:
    return query(app, name)


@app.get("/v1/openapi.json")
def get_openapi() -> Response:
    from openips.services.openapi import openapi_document

    return Response(status_code=200, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(openapi_document()))


# ---- the upload page (docs/web-ui.md): public, static, the key is asked for by the page ----


@app.get("/")
def get_upload_page() -> Response:
    return _web_file(web_ui.PAGE)


@app.get("/ui/<file_name>")
def get_upload_page_file(file_name: str) -> Response:
    return _web_file(file_name)


def _web_file(name: str) -> Response:
    settings = _deps().settings
    origins = web_ui.storage_origins(_deps().storage, (settings.incoming_bucket, settings.assets_bucket))
    served = web_ui.serve(name, app.current_event.headers.get("if-none-match"), origins)
    return Response(status_code=served.status, content_type=served.content_type, body=served.body,
                    headers=served.headers)


@app.post("/v1/upload-jobs")
def create_upload_job() -> Response:
    user = _caller()
    request = parse_body(CreateUploadJobRequest, app.current_event.body, app.current_event.is_base64_encoded)
    source_ip = app.current_event.request_context.http.source_ip
    job, form = jobs.open_job(_deps(), user, request, source_ip, utcnow())
    logger.info("job opened", job_handle=job.job_handle)
    metrics.add_metric(name="JobOpened", unit=MetricUnit.Count, value=1)
    return json_response(UploadJobResponse(job_handle=job.job_handle, upload=form), 201)


@app.post("/v1/upload-jobs/<job_handle>/upload-form")
def renew_upload_form(job_handle: str) -> Response:
    form = jobs.renew_form(_deps(), _caller(), job_handle, utcnow())
    return json_response(UploadJobResponse(job_handle=job_handle, upload=form))


@app.post("/v1/upload-jobs/<job_handle>/end")
def end_upload_job(job_handle: str) -> Response:
    jobs.end_job(_deps(), _caller(), job_handle, utcnow())
    return json_response(JobHandleResponse(job_handle=job_handle), 202)


@app.get("/v1/upload-jobs/<job_handle>/task-status")
def get_upload_task_status(job_handle: str) -> Response:
    status = jobs.upload_task_status(_deps(), _caller(), job_handle)
    return json_response(UploadTaskStatusResponse(upload_task_status_array=[status]))


@app.get("/v1/jobs/active")
def get_active_jobs() -> Response:
    found, _ = jobs.active_jobs(_deps(), _caller(), _query("companyHandle"), _query("jobHandle"),
                                _query("originalName"), utcnow(),
                                query_bool(_query("includeWaitingJobs"), "includeWaitingJobs"))
    return json_response(ActiveJobsResponse(job_array=found))


@app.get("/v1/jobs/scheduled")
def get_scheduled_jobs() -> Response:
    found = jobs.scheduled_jobs(_deps(), _caller(), _query("companyHandle"))
    return json_response(ScheduledJobsResponse(job_array=found))


@app.post("/v1/jobs/<job_handle>/stop")
def stop_job(job_handle: str) -> Response:
    control.stop_job(_deps(), _caller(), job_handle, utcnow())
    return json_response(EmptyResponse())


@app.post("/v1/jobs/<job_handle>/pause")
def pause_job(job_handle: str) -> Response:
    control.pause_job(_deps(), _caller(), job_handle, utcnow())
    return json_response(EmptyResponse())


@app.post("/v1/jobs/<job_handle>/resume")
def resume_job(job_handle: str) -> Response:
    control.resume_job(_deps(), _caller(), job_handle, utcnow())
    return json_response(EmptyResponse())


@app.delete("/v1/jobs/<job_handle>")
def delete_job(job_handle: str) -> Response:
    control.delete_job(_deps(), _caller(), job_handle, utcnow())
    return json_response(EmptyResponse())


@app.get("/v1/jobs/logs")
def get_job_logs() -> Response:
    page = jobs.job_logs(
        _deps(), _caller(), _query("companyHandle"), _query("userHandle"), _query("sortBy"),
        _query("sortDirection"), query_date(_query("startDate"), "startDate"),
        query_date(_query("endDate"), "endDate"), query_int(_query("numRows"), "numRows", 1, 10000),
        _query("nextToken"))
    return json_response(JobLogsPageResponse(job_log_array=page.items, next_token=page.next_token))


@app.get("/v1/jobs/log-details")
def get_job_log_details_by_original_name() -> Response:
    original_name = _query("originalName")
    if not original_name:
        raise missing_parameter("originalName (or use /v1/jobs/{jobHandle}/log-details)")
    logs = jobs.job_log_details_by_original_name(
        _deps(), _caller(), _query("companyHandle"), original_name, query_list(_query("logTypeArray")),
        query_int(_query("recordsPerPage"), "recordsPerPage", 1, jobs.MAX_RECORDS_PER_PAGE),
        query_int(_query("resultsPage"), "resultsPage", 1, None),
        _query("sortBy"), _query("sortDirection"), _query("locale"))
    return json_response(JobLogsResponse(job_log_array=logs))


@app.post("/v1/jobs/<job_handle>/execute")
def execute_job(job_handle: str) -> Response:
    control.execute_job(_deps(), _caller(), job_handle)
    return json_response(EmptyResponse())  # not reached: upload jobs are never scheduled


# getArchivedJobLogDetails / getAssetArchivedJobLogs: openips keeps every log row, so the
# archived views are the same reads.
@app.get("/v1/jobs/<job_handle>/archived-log-details")
@app.get("/v1/jobs/<job_handle>/log-details")
def get_job_log_details(job_handle: str) -> Response:
    log = jobs.job_log_details(
        _deps(), _caller(), job_handle, query_list(_query("logTypeArray")),
        query_int(_query("recordsPerPage"), "recordsPerPage", 1, jobs.MAX_RECORDS_PER_PAGE),
        query_int(_query("resultsPage"), "resultsPage", 1, None),
        _query("sortBy"), _query("sortDirection"), _query("locale"))
    return json_response(JobLogsResponse(job_log_array=[log]))


@app.get("/v1/assets/<asset_handle>")
def get_asset(asset_handle: str) -> Response:
    # Assets keep their nulls (cropRect, files.mask): http-api.md shows them.
    return json_response(assets.get_asset(_deps(), _caller(), asset_handle), exclude_none=False)


@app.get("/v1/assets/<asset_handle>/archived-job-logs")
@app.get("/v1/assets/<asset_handle>/job-logs")
def get_asset_job_logs(asset_handle: str) -> Response:
    rows = assets.asset_job_logs(_deps(), _caller(), asset_handle, _query("locale"))
    return json_response(AssetJobLogsResponse(job_log_array=rows))


@app.get("/v1/assets/<asset_handle>/smart-crops")
def get_smart_crops(asset_handle: str) -> Response:
    from openips.services.asset_smart_crops import get_smart_crops as read

    return json_response(read(_deps(), _caller(), asset_handle), exclude_none=False)


@app.put("/v1/assets/<asset_handle>/smart-crops/<name>")
def put_smart_crop(asset_handle: str, name: str) -> Response:
    from openips.models.processing import SmartCropRect
    from openips.services.asset_smart_crops import adjust_smart_crop

    rect = parse_body(SmartCropRect, app.current_event.body, app.current_event.is_base64_encoded)
    return json_response(adjust_smart_crop(_deps(), _caller(), asset_handle, name, rect), exclude_none=False)


@app.get("/v1/assets")
def find_assets() -> Response:
    page = assets.find_assets(_deps(), _caller(), _query("companyHandle"), _query("jobHandle"),
                              _query("folder"), _query("name"), _query("type"), _query("projectHandle"),
                              _query("text"), query_int(_query("limit"), "limit", 1, pages.MAX_LIMIT),
                              _query("nextToken"))
    return json_response(AssetsResponse(asset_array=page.items, next_token=page.next_token), exclude_none=False)


@app.post("/v1/admin/companies")
def create_company() -> Response:
    request = parse_body(CreateCompanyRequest, app.current_event.body, app.current_event.is_base64_encoded)
    company = auth.create_company(_deps().companies, _caller(), request)
    return json_response(CreateCompanyResponse(company_handle=company.company_handle), 201)


@app.get("/v1/admin/companies/<company_handle>")
def get_company_settings(company_handle: str) -> Response:
    return json_response(companies.get_settings(_deps(), _caller(), company_handle), exclude_none=False)


@app.patch("/v1/admin/companies/<company_handle>")
def update_company_settings(company_handle: str) -> Response:
    request = parse_body(UpdateCompanyRequest, app.current_event.body, app.current_event.is_base64_encoded)
    return json_response(companies.update_settings(_deps(), _caller(), company_handle, request), exclude_none=False)


@app.post("/v1/admin/users")
def create_user() -> Response:
    request = parse_body(CreateUserRequest, app.current_event.body, app.current_event.is_base64_encoded)
    user, api_key = auth.create_user(_deps().companies, _deps().accounts, _caller(), request)
    return json_response(CreateUserResponse(user_handle=user.user_handle, api_key=api_key), 201)


@app.post("/v1/admin/users/<user_handle>/api-key")
def issue_api_key(user_handle: str) -> Response:
    api_key = auth.issue_key(_deps().accounts, _caller(), user_handle)
    logger.info("api key issued", user_handle=user_handle)
    return json_response(CreateUserResponse(user_handle=user_handle, api_key=api_key), 201)


@app.delete("/v1/admin/users/<user_handle>/api-key")
def revoke_api_key(user_handle: str) -> Response:
    auth.revoke_key(_deps().accounts, _caller(), user_handle)
    logger.info("api key revoked", user_handle=user_handle)
    return json_response(EmptyResponse())


@app.delete("/v1/admin/users/<user_handle>")
def delete_user(user_handle: str) -> Response:
    auth.delete_user(_deps().accounts, _caller(), user_handle)
    logger.info("user deleted", user_handle=user_handle)
    return json_response(EmptyResponse())


# ---- batch set presets (docs/sets.md) ----

@app.post("/v1/set-presets")
def create_set_preset() -> Response:
    from openips.services import set_presets

    user = _caller()  # authenticate before saying anything about the body
    request = parse_body(CreateSetPresetRequest, app.current_event.body, app.current_event.is_base64_encoded)
    preset = set_presets.create_preset(_deps(), user, request)
    return json_response(SetPresetHandleResponse(preset_handle=preset.preset_handle), 201)


@app.get("/v1/set-presets")
def list_set_presets() -> Response:
    from openips.services import set_presets

    found = set_presets.list_presets(_deps(), _caller(), _query("companyHandle"))
    return json_response(SetPresetListResponse(set_preset_array=found))


@app.get("/v1/set-presets/<preset_handle>")
def get_set_preset(preset_handle: str) -> Response:
    from openips.services import set_presets

    return json_response(set_presets.get_preset(_deps(), _caller(), preset_handle))


@app.delete("/v1/set-presets/<preset_handle>")
def delete_set_preset(preset_handle: str) -> Response:
    from openips.services import set_presets

    set_presets.delete_preset(_deps(), _caller(), preset_handle)
    return json_response(EmptyResponse())


# ---- image presets: $name$ in delivery URLs (docs/delivery.md) ----

@app.post("/v1/image-presets")
def create_image_preset() -> Response:
    from openips.services.delivery import presets as image_presets

    user = _caller()
    request = parse_body(CreateImagePresetRequest, app.current_event.body, app.current_event.is_base64_encoded)
    return json_response(image_presets.create_preset(_deps(), user, request), 201)


@app.get("/v1/image-presets")
def list_image_presets() -> Response:
    from openips.services.delivery import presets as image_presets

    found = image_presets.list_presets(_deps(), _caller(), _query("companyHandle"))
    return json_response(ImagePresetListResponse(image_preset_array=found))


@app.get("/v1/image-presets/<name>")
def get_image_preset(name: str) -> Response:
    from openips.services.delivery import presets as image_presets

    return json_response(image_presets.get_preset(_deps(), _caller(), name, _query("companyHandle")))


@app.delete("/v1/image-presets/<name>")
def delete_image_preset(name: str) -> Response:
    from openips.services.delivery import presets as image_presets

    image_presets.delete_preset(_deps(), _caller(), name, _query("companyHandle"))
    return json_response(EmptyResponse())


@app.post("/v1/projects")
def create_project() -> Response:
    request = parse_body(CreateProjectRequest, app.current_event.body, app.current_event.is_base64_encoded)
    project = projects.create_project(_deps(), _caller(), request, utcnow())
    return json_response(ProjectHandleResponse(project_handle=project.project_handle), 201)


@app.get("/v1/projects")
def list_projects() -> Response:
    found = projects.list_projects(_deps(), _caller(), _query("companyHandle"))
    return json_response(ProjectsResponse(project_array=found))


@app.get("/v1/projects/<project_handle>")
def get_project(project_handle: str) -> Response:
    return json_response(projects.get_project(_deps(), _caller(), project_handle))


@app.delete("/v1/projects/<project_handle>")
def delete_project(project_handle: str) -> Response:
    projects.delete_project(_deps(), _caller(), project_handle)
    return json_response(EmptyResponse())


# ---- notifications (docs/notifications.md) ----


def _secret_response(company_handle: str, record: dict) -> Response:
    return json_response(WebhookSecretResponse(
        company_handle=company_handle, webhook_secret=record["secret"], created_at=record["created_at"],
        previous_secret_valid_until=record.get("previous_valid_until")))


@app.get("/v1/admin/companies/<company_handle>/webhook-secret")
def get_webhook_secret(company_handle: str) -> Response:
    from openips.services import notifications

    return _secret_response(company_handle,
                            notifications.get_webhook_secret(_deps(), _caller(), company_handle, utcnow()))


@app.post("/v1/admin/companies/<company_handle>/webhook-secret/rotate")
def rotate_webhook_secret(company_handle: str) -> Response:
    from openips.services import notifications

    return _secret_response(company_handle,
                            notifications.rotate_webhook_secret(_deps(), _caller(), company_handle, utcnow()))


@app.post("/v1/jobs/<job_handle>/notifications/resend")
def resend_notifications(job_handle: str) -> Response:
    from openips.services import notifications

    resend_id = notifications.request_resend(_deps(), _caller(), job_handle)
    return json_response(ResendNotificationsResponse(job_handle=job_handle, resend_id=resend_id), 202)


@app.get("/v1/jobs/<job_handle>/accounting")
def verify_job_accounting(job_handle: str) -> Response:
    from openips.services import accounting

    return json_response(accounting.verify_job(_deps(), _caller(), job_handle, utcnow()))


@app.post("/v1/jobs/<job_handle>/accounting/repair")
def repair_job_accounting(job_handle: str) -> Response:
    from openips.services import accounting

    return json_response(accounting.verify_job(_deps(), _caller(), job_handle, utcnow(), fix=True))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
