"""The HTTP API client (http-api.md) and the streamed presigned-form upload and asset download."""

from __future__ import annotations

import os
import threading
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

USER_AGENT = "openips-cli/0.1"
API_TIMEOUT = (10.0, 60.0)
TRANSFER_TIMEOUT = (10.0, 300.0)
CHUNK = 256 * 1024
ProgressCallback = Callable[[int], None]


class ApiError(Exception):
    """A fault body (or any non-2xx answer) from the API."""

    def __init__(self, status: int, fault_type: str, code: int, reason: str) -> None:
        super().__init__(f"{fault_type} {code}: {reason}")
        self.status, self.fault_type, self.code, self.reason = status, fault_type, code, reason


class ApiConnectionError(Exception):
    """The API (or S3) could not be reached at all."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url, self.reason = url, reason


class S3Error(Exception):
    """S3 refused a request (``<Error><Code>`` of its XML answer)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class UploadRefused(S3Error):
    """A file was not accepted by the presigned form."""


class DownloadFailed(S3Error):
    """A presigned GET did not return the object."""


class UploadCancelled(Exception):
    """The upload was stopped on purpose (Ctrl-C) while its body was being sent."""


def parse_s3_error(body: bytes | str, status: int) -> tuple[str, str]:
    """``(Code, Message)`` of an S3 XML error body; an ``HTTP <status>`` pair when it is not one."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return f"HTTP{status}", text.strip()[:300] or f"HTTP status {status}"
    # S3 answers without a namespace, S3-compatible stores sometimes with one.
    values = {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root.iter()}
    code = values.get("Code") or f"HTTP{status}"
    return code, values.get("Message") or f"HTTP status {status}"


def _quote_param(value: str) -> str:
    # HTML5 form encoding, as browsers and urllib3 do it.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    """A ``multipart/form-data`` body that reads its file from disk in chunks, never whole."""

    def __init__(self, fields: Mapping[str, str], filename: str, path: Path,
                 progress_cb: ProgressCallback | None = None, cancel: threading.Event | None = None) -> None:
        self.boundary = uuid.uuid4().hex
        dash = f"--{self.boundary}\r\n".encode()
        head = bytearray()
        for name, value in fields.items():
            head += dash + f'Content-Disposition: form-data; name="{_quote_param(name)}"\r\n\r\n'.encode()
            head += str(value).encode("utf-8") + b"\r\n"
        head += dash + (f'Content-Disposition: form-data; name="file"; filename="{_quote_param(filename)}"\r\n'
                        "Content-Type: application/octet-stream\r\n\r\n").encode("utf-8")
        self._head = bytes(head)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._path = path
        self.file_size = path.stat().st_size
        self._file_end = len(self._head) + self.file_size
        self._length = self._file_end + len(self._tail)
        self._pos = 0
        self._file: Any = None
        self._progress = progress_cb
        self._cancel = cancel

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes of the body (everything left when negative)."""
        if self._cancel is not None and self._cancel.is_set():
            raise UploadCancelled(str(self._path))
        if size is None or size < 0:
            size = self._length - self._pos
        out = bytearray()
        while len(out) < size and self._pos < self._length:
            want = size - len(out)
            if self._pos < len(self._head):
                chunk = self._head[self._pos:self._pos + want]
            elif self._pos < self._file_end:
                chunk = self._read_file(min(want, self._file_end - self._pos))
            else:
                start = self._pos - self._file_end
                chunk = self._tail[start:start + want]
            out += chunk
            self._pos += len(chunk)
        return bytes(out)

    def _read_file(self, size: int) -> bytes:
        if self._file is None:
            self._file = open(self._path, "rb")  # noqa: SIM115 - closed in close() or at EOF
        chunk = self._file.read(min(size, CHUNK))
        if not chunk:
            self.close()
            raise OSError(f"{self._path} got shorter while it was being uploaded")
        if self._pos + len(chunk) >= self._file_end:
            self.close()
        if self._progress is not None:
            self._progress(len(chunk))
        return chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _retrying_session(methods: Iterable[str]) -> requests.Session:
    """A session that retries connection errors and 502/503/504 for ``methods`` only."""
    session = requests.Session()
    retry = Retry(total=0, raise_on_status=False)
    if methods:
        retry = Retry(total=3, connect=3, read=3, status=3, backoff_factor=0.5, allowed_methods=frozenset(methods),
                      status_forcelist=(502, 503, 504), raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


_local = threading.local()


def _transfer_session(retry_gets: bool = False) -> requests.Session:
    """One session per thread: connection reuse for parallel transfers without sharing a Session."""
    name = "get_session" if retry_gets else "session"
    session = getattr(_local, name, None)
    if session is None:
        session = _retrying_session(("GET",) if retry_gets else ())
        setattr(_local, name, session)
    return session


def upload_file(upload_form: Mapping[str, Any], relative_path: str, path: Path,
                progress_cb: ProgressCallback | None = None, *, cancel: threading.Event | None = None,
                session: requests.Session | None = None) -> None:
    """POST one file to the job's presigned form as ``keyPrefix + relative_path``; raises ``UploadRefused``."""
    fields = {name: value for name, value in upload_form["fields"].items() if name != "key"}
    fields = {"key": upload_form["keyPrefix"] + relative_path, **fields}
    body = MultipartBody(fields, relative_path.rsplit("/", 1)[-1], path, progress_cb, cancel)
    try:
        response = (session or _transfer_session()).post(
            upload_form["url"], data=body, headers={"Content-Type": body.content_type}, timeout=TRANSFER_TIMEOUT)
    except requests.Timeout as exc:
        raise UploadRefused("Timeout", str(exc)) from exc
    except requests.RequestException as exc:
        raise UploadRefused("ConnectionError", str(exc)) from exc
    finally:
        body.close()
    if response.status_code not in (200, 201, 204):
        raise UploadRefused(*parse_s3_error(response.content[:65536], response.status_code))


def download_file(url: str, path: Path, progress_cb: ProgressCallback | None = None,
                  session: requests.Session | None = None) -> int:
    """Stream a presigned GET to ``path`` (through a ``.part`` file); returns the byte count."""
    part = path.with_name(path.name + ".part")
    written = 0
    try:
        session = session or _transfer_session(retry_gets=True)
        with session.get(url, stream=True, timeout=TRANSFER_TIMEOUT) as response:
            if response.status_code != 200:
                raise DownloadFailed(*parse_s3_error(response.content[:65536], response.status_code))
            with open(part, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    if progress_cb is not None:
                        progress_cb(len(chunk))
        os.replace(part, path)
    except requests.RequestException as exc:
        raise ApiConnectionError(url.split("?", 1)[0], str(exc)) from exc
    finally:
        part.unlink(missing_ok=True)
    return written


def _query(params: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None or value == [] or value == "":
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


class OpenIpsClient:
    """Typed calls to the openips HTTP API; each returns the parsed JSON body."""

    def __init__(self, api_url: str, api_key: str, timeout: tuple[float, float] = API_TIMEOUT) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._auth = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        # Only GETs are retried after a failure: a repeated POST could open a second job.
        self._get_session = _retrying_session(("GET",))
        self._session = _retrying_session(())

    def close(self) -> None:
        self._get_session.close()
        self._session.close()

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                body: Any = None) -> dict:
        """One API call; raises ``ApiError`` for a fault and ``ApiConnectionError`` when unreachable."""
        url = self.api_url + path
        session = self._get_session if method == "GET" else self._session
        try:
            response = session.request(method, url, params=_query(params or {}), json=body,
                                       headers=self._auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiConnectionError(url, _reason(exc)) from exc
        return _parse(response)

    @staticmethod
    def _h(handle: str) -> str:
        return quote(handle, safe="")

    # ---- upload jobs

    def create_upload_job(self, job_name: str, upload_params: Mapping[str, Any], dest_folder: str | None = None,
                          description: str | None = None, locale: str | None = None,
                          company_handle: str | None = None) -> dict:
        body = {"jobName": job_name, "uploadParams": dict(upload_params), "destFolder": dest_folder,
                "description": description, "locale": locale, "companyHandle": company_handle}
        return self.request("POST", "/v1/upload-jobs", body={k: v for k, v in body.items() if v is not None})

    def renew_upload_form(self, job_handle: str) -> dict:
        return self.request("POST", f"/v1/upload-jobs/{self._h(job_handle)}/upload-form")

    def end_upload_job(self, job_handle: str) -> dict:
        return self.request("POST", f"/v1/upload-jobs/{self._h(job_handle)}/end")

    # ---- jobs

    def active_jobs(self, job_handle: str | None = None, original_name: str | None = None,
                    company_handle: str | None = None) -> dict:
        return self.request("GET", "/v1/jobs/active", {"jobHandle": job_handle, "originalName": original_name,
                                                       "companyHandle": company_handle})

    def job_logs(self, num_rows: int | None = None, sort_by: str | None = None, sort_direction: str | None = None,
                 start_date: str | None = None, end_date: str | None = None, user_handle: str | None = None,
                 company_handle: str | None = None) -> dict:
        return self.request("GET", "/v1/jobs/logs", {
            "numRows": num_rows, "sortBy": sort_by, "sortDirection": sort_direction, "startDate": start_date,
            "endDate": end_date, "userHandle": user_handle, "companyHandle": company_handle})

    def job_log_details(self, job_handle: str, log_types: list[str] | None = None,
                        records_per_page: int | None = None, results_page: int | None = None,
                        sort_by: str | None = None, sort_direction: str | None = None,
                        locale: str | None = None) -> dict:
        return self.request("GET", f"/v1/jobs/{self._h(job_handle)}/log-details", {
            "logTypeArray": log_types, "recordsPerPage": records_per_page, "resultsPage": results_page,
            "sortBy": sort_by, "sortDirection": sort_direction, "locale": locale})

    def job_action(self, job_handle: str, action: str) -> dict:
        """``stop``, ``pause`` or ``resume``."""
        return self.request("POST", f"/v1/jobs/{self._h(job_handle)}/{action}")

    def delete_job(self, job_handle: str) -> dict:
        return self.request("DELETE", f"/v1/jobs/{self._h(job_handle)}")

    def verify_job(self, job_handle: str, repair: bool = False) -> dict:
        """The job's counters against their recount (``repair``: heal what it finds; admins)."""
        if repair:
            return self.request("POST", f"/v1/jobs/{self._h(job_handle)}/accounting/repair")
        return self.request("GET", f"/v1/jobs/{self._h(job_handle)}/accounting")

    # ---- assets

    def get_asset(self, asset_handle: str) -> dict:
        return self.request("GET", f"/v1/assets/{self._h(asset_handle)}")

    def find_assets(self, folder: str | None = None, name: str | None = None, job_handle: str | None = None,
                    asset_type: str | None = None, limit: int | None = None, next_token: str | None = None) -> dict:
        """One page of assets; its ``nextToken``, when there is one, asks for the next."""
        return self.request("GET", "/v1/assets", {"folder": folder, "name": name, "jobHandle": job_handle,
                                                  "type": asset_type, "limit": limit, "nextToken": next_token})

    def find_all_assets(self, folder: str | None = None, name: str | None = None, job_handle: str | None = None,
                        asset_type: str | None = None, page_size: int | None = None) -> dict:
        """Every asset the query finds, page after page: ``{"assetArray": [...]}``."""
        found: list[dict] = []
        token = None
        while True:
            page = self.find_assets(folder, name, job_handle, asset_type, page_size, token)
            found += page.get("assetArray", [])
            token = page.get("nextToken")
            if not token:
                return {"assetArray": found}

    def asset_job_logs(self, asset_handle: str) -> dict:
        return self.request("GET", f"/v1/assets/{self._h(asset_handle)}/job-logs")

    # ---- admin

    def create_company(self, name: str, overwrite_mode: str | None = None,
                       retain_publish_state: bool | None = None) -> dict:
        body = {"name": name, "overwriteMode": overwrite_mode, "retainPublishState": retain_publish_state}
        return self.request("POST", "/v1/admin/companies", body={k: v for k, v in body.items() if v is not None})

    def create_user(self, company_handle: str, email: str, role: str) -> dict:
        return self.request("POST", "/v1/admin/users",
                            body={"companyHandle": company_handle, "email": email, "role": role})

    def issue_key(self, user_handle: str) -> dict:
        """A new API key for the user (shown once); its old key stops working."""
        return self.request("POST", f"/v1/admin/users/{self._h(user_handle)}/api-key")

    def revoke_key(self, user_handle: str) -> dict:
        return self.request("DELETE", f"/v1/admin/users/{self._h(user_handle)}/api-key")

    def delete_user(self, user_handle: str) -> dict:
        return self.request("DELETE", f"/v1/admin/users/{self._h(user_handle)}")


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    inner = exc.args[0] if exc.args else exc
    inner = getattr(inner, "reason", inner)  # urllib3's MaxRetryError wraps the real failure
    root = getattr(inner, "__cause__", None) or inner
    if isinstance(root, OSError) and root.strerror:
        return root.strerror
    return str(inner)


def _parse(response: requests.Response) -> dict:
    try:
        data = response.json() if response.content else {}
    except ValueError:
        data = None
    if 200 <= response.status_code < 300:
        if not isinstance(data, dict):
            raise ApiError(response.status_code, "invalidResponse", 0, "the API answered with something not JSON")
        return data
    fault = data.get("fault") if isinstance(data, dict) else None
    if isinstance(fault, dict):
        return _raise(response.status_code, str(fault.get("type", "fault")), fault.get("code", 0),
                      str(fault.get("reason", "")))
    text = response.text.strip()[:200] or response.reason or ""
    return _raise(response.status_code, "httpError", response.status_code, text)


def _raise(status: int, fault_type: str, code: Any, reason: str) -> dict:
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = 0
    raise ApiError(status, fault_type, number, reason)


__all__ = ["ApiConnectionError", "ApiError", "DownloadFailed", "MultipartBody", "OpenIpsClient", "S3Error",
           "UploadCancelled", "UploadRefused", "download_file", "parse_s3_error", "upload_file"]
