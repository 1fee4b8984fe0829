"""The IPS ``UploadFile`` servlet (spec §3): multipart POSTs that open a job, add files, end it.

One POST = parts ``auth`` (an ``authHeader``, §2: user = the user's e-mail, password = the user's
API key), ``uploadParams`` (an ``uploadPostParam``, §3.2) and any number of file parts. The rules
are those of the JSON API's: the first POST opens the job with ``jobs.open_job``, later ones go
through ``jobs.renew_form`` (role, owner, still open, idle clock), ``endJob`` is ``jobs.end_job``.
Files are written under the job's incoming prefix, so S3's notification hands them to
ProcessFileFunction exactly as a presigned upload's. Every refusal is a ``Fault``; no file is
written unless the whole POST is valid.
"""

from __future__ import annotations

import io
import typing
import xml.etree.ElementTree as ET  # noqa: S405 - walking and writing trees; parsing is safe_xml's
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from types import UnionType
from typing import Any

from pydantic import BaseModel, ValidationError

from openips.models import errors
from openips.models.api import CreateUploadJobRequest
from openips.models.domain import Company, User
from openips.models.upload_job import UploadPostJob
from openips.services import auth, jobs
from openips.services.deps import Deps
from openips.services.ips_wire import safe_xml
from openips.services.keys import UPLOADED_FROM, incoming_prefix
from openips.services.naming import normalize_folder, target_path
from openips.services.params import fault_from_validation

IPS_NS = "http://www.scene7.com/IpsApi/xsd"  # faults and authHeader (spec §2, §3.4)
MAX_PARTS = 1000
_TRUE, _FALSE = {"true", "1"}, {"false", "0"}
# uploadPostParam's elements (spec §3.2), in XSD order.
POST_PARAM_FIELDS = ("companyHandle", "jobName", "jobHandle", "locale", "description", "destFolder",
                     "fileName", "endJob", "uploadParams")
AUTH_FIELDS = ("user", "password", "accessToken", "samlResponse", "locale", "appName", "appVersion",
               "gzipResponse", "faultHttpStatusCode")


@dataclass
class FilePart:
    filename: str
    data: bytes


@dataclass
class ServletRequest:
    """One POST, parsed: the two XML documents and the files, in order."""

    auth: ET.Element | None = None
    upload_params: ET.Element | None = None
    files: list[FilePart] = field(default_factory=list)

    @property
    def answer_namespace(self) -> str:
        """The namespace of the request's ``uploadPostParam`` (the success answer uses it)."""
        if self.upload_params is not None:
            ns = safe_xml.namespace(self.upload_params.tag)
            if ns and ns.startswith(IPS_NS):
                return ns
        return IPS_NS


# ---- parsing -----------------------------------------------------------------------------------


def parse_multipart(body: bytes, content_type: str | None) -> ServletRequest:
    """The parts of a ``multipart/form-data`` body (the standard library's parser, RFC 7578)."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise errors.IpsApiFault(errors.INVALID_REQUEST,
                                 "UploadFile takes a multipart/form-data POST with the parts auth and uploadParams")
    if "\r" in content_type or "\n" in content_type:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "Content-Type header is malformed")
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
                                                   + body)
    if not message.is_multipart() or message.defects:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "The multipart/form-data body is malformed (boundary?)")
    request = ServletRequest()
    parts = list(typing.cast(EmailMessage, message).iter_parts())
    if len(parts) > MAX_PARTS:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"More than {MAX_PARTS} parts in one POST")
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        if filename is not None:
            request.files.append(FilePart(str(filename), data))
        elif name in ("auth", "uploadParams"):
            if getattr(request, "auth" if name == "auth" else "upload_params") is not None:
                raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Part {name} is given twice")
            root = _xml(data, str(name))
            setattr(request, "auth" if name == "auth" else "upload_params", root)
        # other plain form fields are ignored, as a servlet ignores unknown parameters
    return request


def _xml(data: bytes, part: str) -> ET.Element:
    try:
        return safe_xml.parse(data)
    except safe_xml.XmlRejected as exc:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Part {part}: {exc}") from exc


def _children(element: ET.Element, names: tuple[str, ...], where: str) -> dict[str, ET.Element]:
    found: dict[str, ET.Element] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = safe_xml.local_name(child.tag)
        if name not in names:
            raise errors.invalid_parameter(f"{where}/{name} is not an element of {where}")
        if name in found:
            raise errors.IpsApiFault(errors.INVALID_REQUEST, f"{where}/{name} is given twice")
        found[name] = child
    return found


def _text(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip()


def _bool(element: ET.Element | None, where: str) -> bool:
    text = (_text(element) or "false").lower()
    if text not in _TRUE | _FALSE:
        raise errors.invalid_parameter(f"{where} must be true or false")
    return text in _TRUE


def read_auth(element: ET.Element | None) -> tuple[str | None, str | None, int | None]:
    """(user, password, faultHttpStatusCode) of an ``authHeader`` (children in any order, any namespace)."""
    if element is None:
        return None, None, None
    if safe_xml.local_name(element.tag) != "authHeader":
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "Part auth must hold an authHeader document")
    found = _children(element, AUTH_FIELDS, "authHeader")
    status_text = _text(found.get("faultHttpStatusCode"))
    status = int(status_text) if status_text and status_text.isdigit() and 200 <= int(status_text) <= 599 else None
    return _text(found.get("user")), _text(found.get("password")), status


def fault_status(request: ServletRequest | None) -> int | None:
    """The ``faultHttpStatusCode`` the caller asked for, if its authHeader could be read."""
    try:
        return read_auth(request.auth)[2] if request is not None else None
    except errors.Fault:
        return None


def xml_to_value(element: ET.Element, annotation: Any, where: str) -> Any:
    """An element as the JSON value the pydantic model takes: objects by child name, arrays by ``items``."""
    model = _model_of(annotation)
    if model is not None:
        by_alias = {f.alias or name: f for name, f in model.model_fields.items()}
        value: dict[str, Any] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = safe_xml.local_name(child.tag)
            if name in value:
                raise errors.IpsApiFault(errors.INVALID_REQUEST, f"{where}/{name} is given twice")
            info = by_alias.get(name)
            # An unknown element is passed on as text: the model refuses it by name (30001).
            value[name] = xml_to_value(child, info.annotation, f"{where}/{name}") if info else (child.text or "")
        return value
    item = _list_item(annotation)
    if item is not None:  # HandleArray / StringArray and the typed arrays: items children (spec §5.20)
        return [xml_to_value(child, item, f"{where}/items") for child in element
                if isinstance(child.tag, str) and safe_xml.local_name(child.tag) == "items"]
    return (element.text or "").strip()


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in _alternatives(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _list_item(annotation: Any) -> Any:
    for candidate in _alternatives(annotation):
        if typing.get_origin(candidate) is list:
            return typing.get_args(candidate)[0]
    return None


def _alternatives(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _alternatives(typing.get_args(annotation)[0])
    if origin in (typing.Union, UnionType):
        return [alt for arg in typing.get_args(annotation) for alt in _alternatives(arg)]
    return [annotation]


def upload_post_job(element: ET.Element) -> UploadPostJob:
    """``uploadPostParam/uploadParams`` → the model (XSD element names = its camelCase aliases)."""
    try:
        return UploadPostJob.model_validate(xml_to_value(element, UploadPostJob, "uploadParams"))
    except ValidationError as exc:
        raise fault_from_validation(exc) from exc


# ---- the POST ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    job_handle: str
    files: int
    ended: bool
    namespace: str


def handle_post(deps: Deps, request: ServletRequest, source_ip: str | None, now: datetime) -> Posted:
    """Authenticate, open or continue the job, write its files, end it if asked."""
    user_name, password, _ = read_auth(request.auth)
    if request.auth is None:
        raise errors.AuthenticationFault(errors.NO_CREDENTIALS, "Missing part auth (an authHeader document)")
    user = auth.authenticate_email_key(deps.accounts, user_name, password)
    auth.require_role(user, auth.UPLOAD_ROLES, "uploadPostJob")  # before anything of the request is judged
    if request.upload_params is None:
        raise errors.missing_parameter("Missing part uploadParams (an uploadPostParam document)")
    root = request.upload_params
    if safe_xml.local_name(root.tag) not in ("uploadPostParam", "uploadPostParams"):
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "Part uploadParams must hold an uploadPostParam document")
    params = _children(root, POST_PARAM_FIELDS, "uploadPostParam")
    company_handle = _text(params.get("companyHandle"))
    if not company_handle:
        raise errors.missing_parameter("uploadPostParam/companyHandle is required")
    job_name, job_handle = _text(params.get("jobName")), _text(params.get("jobHandle"))
    if bool(job_name) == bool(job_handle):
        raise errors.missing_parameter("uploadPostParam needs exactly one of jobName (a new job) and jobHandle")
    end = _bool(params.get("endJob"), "uploadPostParam/endJob")
    file_name = _text(params.get("fileName"))
    if file_name and len(request.files) > 1:
        raise errors.invalid_parameter("uploadPostParam/fileName names one file; this POST has "
                                       f"{len(request.files)} file parts")
    raw_folder = _text(params.get("destFolder")) or ""
    if job_name:
        if params.get("uploadParams") is None:
            raise errors.missing_parameter("uploadPostParam/uploadParams is required on the POST that opens a job")
        options = upload_post_job(params["uploadParams"])
        # Checked before the job exists, so a refused file opens nothing.
        company = _company(deps, user, company_handle)
        dest_folder = _folder(raw_folder, company.name)
        try:
            create = CreateUploadJobRequest(
                company_handle=company_handle, job_name=job_name, dest_folder=dest_folder,
                description=_text(params.get("description")) or "", locale=_text(params.get("locale")) or "en-US",
                upload_params=options)
        except ValidationError as exc:
            raise fault_from_validation(exc) from exc
        relatives = _relatives(request.files, file_name, company.name, dest_folder)
        _check_sizes(deps, request.files, company.max_file_size)
        job, _ = jobs.open_job(deps, user, create, source_ip, now)
    else:
        job = jobs.get_owned_job(deps, user, str(job_handle))
        if auth.company_scope(user, company_handle) != job.company_handle:
            raise errors.invalid_parameter(f"Job {job_handle} is not a job of company {company_handle}")
        company = _company(deps, user, job.company_handle)
        if company.enforce_same_ip and job.source_ip and source_ip and source_ip != job.source_ip:
            raise errors.invalid_parameter(
                f"Job {job_handle} was opened from another IP address; every POST of a job must come from "
                "the address that opened it (spec §3.3)")
        dest_folder = _folder(raw_folder, company.name)
        if dest_folder and dest_folder != job.dest_folder:
            raise errors.invalid_parameter(f"uploadPostParam/destFolder {dest_folder!r} differs from the job's "
                                           f"({job.dest_folder!r}); open a new job for another folder")
        relatives = _relatives(request.files, file_name, company.name, job.dest_folder)
        _check_sizes(deps, request.files, company.max_file_size)
        jobs.renew_form(deps, user, job.job_handle, now)  # still open (else 409/30001), idle clock reset
    prefix = incoming_prefix(job)
    for part, relative in zip(request.files, relatives, strict=True):
        deps.storage.upload_stream(io.BytesIO(part.data), deps.settings.incoming_bucket, prefix + relative,
                                   metadata={UPLOADED_FROM: source_ip} if source_ip else None)
    if end:
        jobs.end_job(deps, user, job.job_handle, now)
    return Posted(job.job_handle, len(request.files), end, request.answer_namespace)


def _company(deps: Deps, user: User, company_handle: str) -> Company:
    handle = auth.company_scope(user, company_handle)
    company = deps.companies.get(handle)
    if company is None:
        raise errors.unknown_handle("company", handle)
    return company


def _folder(folder: str, company_root: str) -> str:
    """``destFolder`` as the job keeps it: the company's root folder left out (IPS paths start with it)."""
    segments = [s for s in folder.replace("\\", "/").split("/") if s]
    if segments and segments[0] == company_root:
        folder = "/".join(segments[1:])
    try:
        return normalize_folder(folder)
    except errors.FileRejectedError as exc:
        raise errors.invalid_parameter(f"uploadPostParam/destFolder: {exc.message}") from exc


def _relatives(files: list[FilePart], file_name: str | None, company_root: str, dest_folder: str) -> list[str]:
    """Each file's path below the job's prefix (processing puts it in ``destFolder``): its ``filename``
    (or ``fileName``), empty segments collapsed. A path that starts with the company's root folder is a
    full IPS path (spec §3.1): the root, then ``destFolder`` if it follows, are left out, so the file is
    not put in ``destFolder`` twice. ``..``, ``.`` and other hostile paths are refused."""
    relatives = []
    folder = [s for s in dest_folder.split("/") if s]
    for part in files:
        raw = (file_name or part.filename).replace("\\", "/")
        segments = [s for s in raw.split("/") if s]
        if len(segments) > 1 and segments[0] == company_root:
            segments = segments[1:]
            if folder and segments[:len(folder)] == folder and len(segments) > len(folder):
                segments = segments[len(folder):]
        relative = "/".join(segments)
        try:
            target_path(dest_folder, relative)  # the checks processing makes, before any byte is written
        except errors.FileRejectedError as exc:
            raise errors.invalid_parameter(f"File part {part.filename!r}: {exc.message}") from exc
        relatives.append(relative)
    return relatives


def _check_sizes(deps: Deps, files: list[FilePart], company_max: int | None) -> None:
    limit = min(company_max or deps.settings.max_file_size_bytes, deps.settings.max_file_size_bytes)
    for part in files:
        if len(part.data) > limit:
            raise errors.invalid_parameter(f"File {part.filename!r} is {len(part.data)} bytes; the limit is {limit}",
                                           413)


# ---- answers -----------------------------------------------------------------------------------


def success_body(posted: Posted) -> bytes:
    """``uploadPostReturn`` in the namespace of the request's ``uploadPostParam`` (spec §3.4)."""
    root = ET.Element(f"{{{posted.namespace}}}uploadPostReturn")
    ET.SubElement(root, f"{{{posted.namespace}}}jobHandle").text = posted.job_handle
    return _document(root, posted.namespace)


def fault_body(fault: errors.Fault) -> bytes:
    """The bare fault element (no envelope) with ``code`` and ``reason`` (spec §3.4, §11.2)."""
    root = ET.Element(f"{{{IPS_NS}}}{fault.fault_type}")
    ET.SubElement(root, f"{{{IPS_NS}}}code").text = str(fault.code)
    ET.SubElement(root, f"{{{IPS_NS}}}reason").text = fault.reason
    return _document(root, IPS_NS)


def _document(root: ET.Element, ns: str) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=ns)
