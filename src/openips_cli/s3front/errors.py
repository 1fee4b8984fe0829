"""S3's error answers: ``S3Error`` and the faults more than one check raises."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape


class S3Error(Exception):
    """An S3 error answer: HTTP status, S3 error code, message and S3's extra elements."""

    def __init__(self, status: int, code: str, message: str, details: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)

    def to_xml(self, request_id: str, host_id: str = "") -> bytes:
        """The ``<Error>`` document S3 sends: Code, Message, the extras, RequestId, HostId."""
        parts = [f"<Code>{escape(self.code)}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{name}>{escape(str(value))}</{name}>" for name, value in self.details]
        parts += [f"<RequestId>{escape(request_id)}</RequestId>", f"<HostId>{escape(host_id)}</HostId>"]
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()


def invalid_argument(message: str, name: str, value: str = "", *extra: tuple[str, str]) -> S3Error:
    return S3Error(400, "InvalidArgument", message, (("ArgumentName", name), ("ArgumentValue", value), *extra))


def hex_bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode())


def signature_mismatch(access_key: str, string_to_sign: str, provided: str, *extra: tuple[str, str]) -> S3Error:
    return S3Error(403, "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you provided. "
                   "Check your key and signing method.",
                   (("AWSAccessKeyId", access_key), ("StringToSign", string_to_sign), ("SignatureProvided", provided),
                    ("StringToSignBytes", hex_bytes(string_to_sign)), *extra))


def unknown_access_key(access_key: str) -> S3Error:
    return S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                   (("AWSAccessKeyId", access_key),))


def entity_too_large(proposed: int, allowed: int) -> S3Error:
    return S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                   (("ProposedSize", str(proposed)), ("MaxSizeAllowed", str(allowed))))


def missing_content_length() -> S3Error:
    return S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
