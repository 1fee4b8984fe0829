"""Domain errors.

Two families:

* ``Fault`` and its three IPS subclasses are answered to API callers as
  ``{"fault": {"type", "code", "reason"}}`` with the IPS code of spec §11.
* ``FileRejectedError`` is a *permanent* failure of one uploaded file: the file is
  kept aside (quarantine) and the job log gets an ``UploadError`` row with
  ``message``. ``TransientError`` is re-raised so that SQS retries the record.
"""

from __future__ import annotations

from openips.models.outcomes import Handling


class Fault(Exception):
    """An IPS fault answered to the API caller."""

    fault_type: str = "ipsApiFault"

    def __init__(self, code: int, reason: str, http_status: int = 400) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.http_status = http_status

    def body(self) -> dict:
        return {"fault": {"type": self.fault_type, "code": self.code, "reason": self.reason}}


class AuthenticationFault(Fault):
    fault_type = "authenticationFault"

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason, http_status=401)


class AuthorizationFault(Fault):
    fault_type = "authorizationFault"

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason, http_status=403)


class IpsApiFault(Fault):
    fault_type = "ipsApiFault"


# Codes of spec §11.1, named once.
NO_CREDENTIALS = 10000
INVALID_CREDENTIALS = 10001
INVALID_USER = 10002
INVALID_COMPANY = 20000
NO_OPERATION_PERMISSION = 20003
ILLEGAL_COMPANY = 20006
EXCEPTION = 30000
INVALID_PARAMETER = 30001
MISSING_PARAMETER = 30002
INVALID_REQUEST = 30003


def invalid_parameter(reason: str, http_status: int = 400) -> IpsApiFault:
    return IpsApiFault(INVALID_PARAMETER, reason, http_status)


def missing_parameter(reason: str) -> IpsApiFault:
    return IpsApiFault(MISSING_PARAMETER, reason)


def unknown_handle(kind: str, handle: str) -> IpsApiFault:
    return IpsApiFault(INVALID_PARAMETER, f"Unknown {kind} handle: {handle}", http_status=404)


def illegal_company() -> AuthorizationFault:
    # Same answer whether the object exists in another company or not at all would
    # leak existence; http-api.md asks for 403 with 20006 for cross-company access.
    return AuthorizationFault(ILLEGAL_COMPANY, "The requested object belongs to another company")


class FileRejectedError(Exception):
    """A permanent failure of one file: logged as ``UploadError``, bytes kept aside."""

    code = "file.rejected"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class EmptyFileError(FileRejectedError):
    code = "file.empty"


class FileTooLargeError(FileRejectedError):
    code = "file.too_large"


class InvalidPathError(FileRejectedError):
    code = "file.invalid_path"


class UnsupportedFormatError(FileRejectedError):
    code = "image.unsupported_format"


class CorruptImageError(FileRejectedError):
    code = "image.corrupt"


class ImageTooLargeError(FileRejectedError):
    code = "image.too_many_pixels"


class FileTypeNotAllowedError(FileRejectedError):
    code = "file.type_not_allowed"


class JobClosedError(FileRejectedError):
    code = "job.closed"


class SourceIpMismatchError(FileRejectedError):
    code = "job.source_ip"


class TransientError(Exception):
    """A failure worth retrying (throttling, a concurrent claim, a timeout)."""


class RetryLater(Exception):  # noqa: N818 - a signal, not an error
    """The file must come back after ``seconds`` (paused job, claim held, retry not due); ``outcome`` says why."""

    def __init__(self, seconds: int, outcome: Handling) -> None:
        super().__init__(f"{outcome}: retry in {seconds} s")
        self.seconds = seconds
        self.outcome = outcome


class RenditionError(Exception):
    """A rendition (``/is/image``) that cannot be made; ``http_status`` is the answer the route gives."""

    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RenditionTooLargeError(RenditionError):
    """The reply image would have more pixels than the limit (IS's attribute::MaxPix)."""


class RenditionFormatUnavailableError(RenditionError):
    """This libvips build cannot write the requested format (e.g. AVIF without an AV1 encoder)."""

    http_status = 501


class DamagedPyramidError(RenditionError):
    """The stored pyramid TIFF (or mask) cannot be read: cut off, not a TIFF, or corrupt."""

    http_status = 500
