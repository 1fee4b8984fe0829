"""The body of a signed request against what was signed: its SHA-256, or the signature chain
of an aws-chunked upload (sigv4-streaming), trailer included."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import IO

from openips_cli.s3front.errors import S3Error, missing_content_length, signature_mismatch
from openips_cli.s3front.signing import SHA256_HEX, SIGNED_STREAMING
from openips_cli.s3front.sigv4 import SignedRequest

_READ_SIZE = 256 * 1024
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK_HEADER = re.compile(rb"([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})")
_MAX_CHUNK_LINE = 4096


def verify_payload(signed: SignedRequest, body: IO[bytes], decoded_length: str | None = None) -> None:
    """The body against what was signed: its SHA-256, or every aws-chunked chunk's signature.

    ``decoded_length`` is ``x-amz-decoded-content-length``, which chunk-signed bodies must send.
    Leaves ``body`` at its start; raises ``S3Error``.
    """
    if SHA256_HEX.match(signed.payload):
        digest = hashlib.sha256()
        while chunk := body.read(_READ_SIZE):
            digest.update(chunk)
        if digest.hexdigest() != signed.payload:
            raise S3Error(400, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was computed.",
                          (("ClientComputedContentSHA256", signed.payload),
                           ("S3ComputedContentSHA256", digest.hexdigest())))
    elif signed.payload in SIGNED_STREAMING:
        if decoded_length is None or not re.fullmatch(r"[0-9]{1,19}", decoded_length):
            raise missing_content_length()
        if _verify_chunks(signed, body) != int(decoded_length):
            raise _incomplete()
    body.seek(0)


def _incomplete() -> S3Error:
    return S3Error(400, "IncompleteBody", "The request body terminated unexpectedly")


def _chained(signed: SignedRequest, kind: str, previous: str, provided: str, *hashes: str) -> str:
    """One link of a chunked upload's signature chain (sigv4-streaming): checked, then returned."""
    string = "\n".join((kind, signed.timestamp, signed.scope, previous, *hashes))
    expected = hmac.new(signed.signing_key, string.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), provided.encode()):
        raise signature_mismatch(signed.access_key_id, string, provided)
    return expected


def _verify_chunks(signed: SignedRequest, body: IO[bytes]) -> int:
    """Each chunk's signature chained from the seed, then the trailer's; the decoded size."""

    def line() -> bytes:
        text = body.readline(_MAX_CHUNK_LINE)
        if not text.endswith(b"\n"):
            raise _incomplete()
        return text.rstrip(b"\r\n")

    trailer = signed.payload.endswith("-TRAILER")
    previous, size, total = signed.signature, -1, 0
    while size != 0:  # every pass reads a chunk header from the spooled body, or raises
        match = _CHUNK_HEADER.fullmatch(line())
        if match is None:
            raise _incomplete()
        size = int(match[1], 16)
        data = body.read(size)
        if len(data) != size or (size and body.read(2) != b"\r\n"):
            raise _incomplete()
        previous = _chained(signed, "AWS4-HMAC-SHA256-PAYLOAD", previous, match[2].decode(), _EMPTY_SHA256,
                            hashlib.sha256(data).hexdigest())
        total += size
    trailers, provided = [], ""
    while text := line():  # trailing headers up to the empty line; bounded by the body
        name, colon, value = text.decode("latin-1").partition(":")
        if not colon or not trailer:
            raise _incomplete()
        if name.strip().lower() == "x-amz-trailer-signature":
            provided = value.strip()
        else:
            trailers.append(f"{name.strip().lower()}:{value.strip()}\n")
    if trailer:
        _chained(signed, "AWS4-HMAC-SHA256-TRAILER", previous, provided,
                 hashlib.sha256("".join(trailers).encode()).hexdigest())
    if body.read(1):
        raise _incomplete()
    return total
