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
import re
import typing
import xml.etree.ElementTree as ET  # noqa: S405 - walking and writing trees; parsing is safe_xml's
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MissingHeaderBodySeparatorDefect
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
    """The parts of a ``multipart/form-data`` body (the standard library's parser, RFC 7578).

    A close delimiter followed by more parts (the published example, spec §3.6) is read as a
    delimiter (:func:`mend_early_close`); no file part is ever dropped silently: a part after the
    final close delimiter, a part without a blank line after its headers, or a body that never
    closes is an ``ipsApiFault`` 30003.
    """
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise errors.IpsApiFault(errors.INVALID_REQUEST,
                                 "UploadFile takes a multipart/form-data POST with the parts auth and uploadParams")
    if "\r" in content_type or "\n" in content_type:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "Content-Type header is malformed")
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    boundary = BytesParser(policy=HTTP).parsebytes(head, headersonly=True).get_boundary()
    if not boundary:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "The multipart/form-data Content-Type names no boundary")
    message = BytesParser(policy=HTTP).parsebytes(head + mend_early_close(body, boundary))
    if not message.is_multipart() or message.defects:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "The multipart/form-data body is malformed (boundary?)")
    request = ServletRequest()
    parts = list(typing.cast(EmailMessage, message).iter_parts())
    if len(parts) > MAX_PARTS:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"More than {MAX_PARTS} parts in one POST")
    for number, part in enumerate(parts, 1):
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        if any(isinstance(defect, MissingHeaderBodySeparatorDefect) for defect in part.defects):
            # Where the headers end would be a guess: a file that starts with "Word: …" would lose a line.
            raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Part {number} ({name or filename or 'unnamed'}) has no "
                                     "blank line between its headers and its content")
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


def mend_early_close(body: bytes, boundary: str) -> bytes:
    """``body`` with every close delimiter (``--boundary--``) that more delimiters follow read as a delimiter.

    The reference's example request (spec §3.6) closes the body after ``uploadParams`` and goes on
    with its file parts, each after another ``--boundary--`` line: a strict parser would read them
    as the epilogue and drop them. The boundary cannot occur inside a part (RFC 2046), so a
    delimiter line after a close means the close came early: it becomes a plain delimiter (or,
    followed by nothing but blank lines up to the next delimiter, is left out). After the last
    delimiter, anything that looks like a part (a ``Content-Disposition`` line) is refused: it has
    no delimiter to end it, and dropping it would lose a file without a word.
    """
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    line = re.compile(rb"(?m)^" + re.escape(delimiter) + rb"(--)?[ \t]*(?=\r?\n|\Z)")
    delimiters = list(line.finditer(body))
    if not delimiters:
        return body
    last = delimiters[-1]
    if last.group(1) and _PART_HEADER.search(body, last.end()):
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "A part follows the final close delimiter (--boundary--) "
                                 "without a delimiter of its own to end it; the body is malformed")
    early = [(m, after) for m, after in zip(delimiters, delimiters[1:]) if m.group(1)]
    if not early:
        return body
    pieces, position = [], 0
    for close, after in early:
        pieces.append(body[position:close.start()])
        if body[close.end():after.start()].strip():  # a part's headers follow: a plain delimiter
            pieces.append(delimiter)
            position = close.end()
        else:  # only blank lines up to the next delimiter: this close is left out
            position = after.start()
    pieces.append(body[position:])
    return b"".join(pieces)


_PART_HEADER = re.compile(rb"(?im)^content-disposition[ \t]*:")


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


@dataclass(frozen=True)
class AuthHeader:
    """An ``authHeader`` (spec §2), as the servlet's ``auth`` part or the web service's SOAP header."""

    user: str | None = None
    password: str | None = None
    access_token: str | None = None
    saml_response: str | None = None
    locale: str | None = None
    app_name: str | None = None
    app_version: str | None = None
    gzip_response: bool | None = None  # None: not asked either way (openips then answers uncompressed)
    fault_http_status: int | None = None  # 200-599, else None (500)

    @property
    def client(self) -> dict[str, str]:
        """appName/appVersion for the log ("logged", spec §2): printable, at most 64 characters each."""
        return {key: "".join(c for c in value if c.isprintable())[:64]
                for key, value in (("app_name", self.app_name), ("app_version", self.app_version)) if value}


def read_auth(element: ET.Element | None) -> AuthHeader:
    """The ``authHeader`` document of the ``auth`` part (children in any order, any namespace)."""
    if element is None:
        return AuthHeader()
    if safe_xml.local_name(element.tag) != "authHeader":
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "Part auth must hold an authHeader document")
    found = _children(element, AUTH_FIELDS, "authHeader")
    status_text = _text(found.get("faultHttpStatusCode"))
    gzip = found.get("gzipResponse")
    return AuthHeader(
        user=_text(found.get("user")), password=_text(found.get("password")),
        access_token=_text(found.get("accessToken")), saml_response=_text(found.get("samlResponse")),
        locale=_text(found.get("locale")) or None, app_name=_text(found.get("appName")),
        app_version=_text(found.get("appVersion")),
        gzip_response=None if gzip is None else _bool(gzip, "authHeader/gzipResponse"),
        fault_http_status=fault_http_status(int(status_text) if status_text and status_text.isdigit() else None))


def fault_http_status(value: int | None) -> int | None:
    """``faultHttpStatusCode`` when it is an HTTP status a response may carry; else None (500)."""
    return value if value is not None and 200 <= value <= 599 else None


def authenticate(deps: Deps, header: AuthHeader, basic_auth: tuple[str, str] | None = None,
                 required: bool = True) -> User | None:
    """The caller: ``user`` (e-mail) and ``password`` (API key), else ``accessToken`` (an API key, as the
    JSON API's Bearer), else HTTP Basic (e-mail, API key). ``samlResponse`` is not supported: alone it
    is an ``authenticationFault`` 10000 that says so, not a silent "no credentials"."""
    if header.user or header.password:
        return auth.authenticate_email_key(deps.accounts, header.user, header.password)
    if header.access_token:
        return auth.authenticate(deps.accounts, f"Bearer {header.access_token}")
    if basic_auth is not None:
        return auth.authenticate_email_key(deps.accounts, basic_auth[0], basic_auth[1])
    if header.saml_response:
        raise errors.AuthenticationFault(errors.NO_CREDENTIALS, "authHeader/samlResponse is not supported by "
                                         "openips: send user (e-mail) and password (API key), or accessToken "
                                         "(API key)")
    if required:
        raise errors.AuthenticationFault(errors.NO_CREDENTIALS, "Missing credentials: send an authHeader "
                                         "(user = e-mail, password = API key) or HTTP Basic")
    return None


def locale_from_accept_language(value: str | None) -> str | None:
    """The first ``ll`` / ``ll-CC`` language of an ``Accept-Language`` header by preference, or None.

    Spec §2: ``authHeader/locale``, then ``Accept-Language``, then the default. A header is never
    refused: what is not a plain language tag (``*``, scripts, ``q=0``) is passed over.
    """
    candidates: list[tuple[float, int, str]] = []
    for position, entry in enumerate((value or "")[:1024].split(",")[:32]):
        tag, _, params = entry.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        language, _, country = tag.strip().partition("-")
        locale = language.lower() + (f"-{country.upper()}" if country else "")
        if quality > 0 and jobs.LOCALE.fullmatch(locale):
            candidates.append((-quality, position, locale))
    return min(candidates)[2] if candidates else None


def response_options(request: ServletRequest | None) -> tuple[int | None, bool]:
    """(faultHttpStatusCode, gzipResponse) of the request's authHeader, if it could be read."""
    try:
        header = read_auth(request.auth) if request is not None else AuthHeader()
    except errors.Fault:
        return None, False
    return header.fault_http_status, bool(header.gzip_response)


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
    client: dict[str, str] = field(default_factory=dict)  # appName/appVersion, for the log


def handle_post(deps: Deps, request: ServletRequest, source_ip: str | None, now: datetime,
                accept_language: str | None = None) -> Posted:
    """Authenticate, open or continue the job, write its files, end it if asked.

    A new job's locale: ``uploadPostParam/locale``, else ``authHeader/locale``, else the caller's
    ``Accept-Language``, else ``en-US`` (spec §2's order).
    """
    header = read_auth(request.auth)
    if request.auth is None:
        raise errors.AuthenticationFault(errors.NO_CREDENTIALS, "Missing part auth (an authHeader document)")
    user = typing.cast(User, authenticate(deps, header))
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
                description=_text(params.get("description")) or "",
                locale=_text(params.get("locale")) or header.locale or locale_from_accept_language(accept_language)
                or "en-US",
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
    return Posted(job.job_handle, len(request.files), end, request.answer_namespace, header.client)


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
