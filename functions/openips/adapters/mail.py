"""Amazon SES: the job-end notification mails. The only boto3 SES user."""

from __future__ import annotations

from functools import lru_cache

from botocore.exceptions import BotoCoreError, ClientError

from openips.models.errors import TransientError
from openips.models.text import escape_hidden

_BODY_LINE_BREAK = frozenset("\n")  # the body's own lines; every other control character is shown escaped
_TRANSIENT = {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure",
              "RequestTimeout", "TooManyRequestsException"}


class MailRejectedError(Exception):
    """SES refused the message for good (unverified sender, bad address, account paused)."""


class Mailer:
    def __init__(self) -> None:
        import boto3  # with the client, not the module: the API function's cold start rarely mails
        from botocore.config import Config

        # Throttling and 5xx are retried by botocore first (standard mode), then by the caller.
        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)
        self.ses = boto3.client("ses", config=config)

    def send(self, sender: str, recipient: str, subject: str, text: str) -> str:
        """Send one plain-text UTF-8 mail; returns the SES message ID.

        Whatever the caller passes, no header gets a line break or another hidden character: the
        subject's are escaped, and an address holding one (or a space) is refused.
        """
        for role, address in (("sender", sender), ("recipient", recipient)):
            if escape_hidden(address) != address or any(ch.isspace() for ch in address):
                raise MailRejectedError(f"the {role} address {escape_hidden(address)!r} holds a control, "
                                        "invisible or space character")
        try:
            response = self.ses.send_email(
                Source=sender,
                Destination={"ToAddresses": [recipient]},
                Message={"Subject": {"Data": escape_hidden(subject), "Charset": "UTF-8"},
                         "Body": {"Text": {"Data": escape_hidden(text, keep=_BODY_LINE_BREAK), "Charset": "UTF-8"}}},
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in _TRANSIENT or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                raise TransientError(f"SES: {code}") from exc
            raise MailRejectedError(f"SES: {code}: {exc.response['Error'].get('Message', '')}") from exc
        except BotoCoreError as exc:  # endpoint unreachable, read timeout
            raise TransientError(f"SES: {type(exc).__name__}") from exc
        return response["MessageId"]


@lru_cache(maxsize=1)
def get_mailer() -> Mailer:
    return Mailer()
