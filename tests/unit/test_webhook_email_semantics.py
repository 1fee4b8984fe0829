"""Which job-end mail each emailSetting sends (docs/notifications.md), without AWS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openips.models.domain import Job, JobCounts, JobState
from openips.models.upload_job import UploadPostJob
from openips.services.notify_email import language, mail_kind


def job(setting: str, error: int = 0, warning: int = 0, fatal: bool = False) -> Job:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    options = UploadPostJob.model_validate({"overwrite": True, "readyForPublish": True, "createMask": False,
                                            "emailSetting": setting})
    return Job(job_handle="j-1", company_handle="c-1", name="n", original_name="n", submit_user_handle="u-1",
               submit_user_email="u@x.example", options=options, state=JobState.DONE, start_date=now,
               last_activity=now, end_date=now, fatal_error=fatal,
               counts=JobCounts(received=3, error=error, warning=warning))


@pytest.mark.parametrize(("setting", "counts", "kind"), [
    ("All", {}, "Completion"), ("All", {"error": 1}, "Completion"),
    ("JobCompletion", {}, "Completion"), ("JobCompletion", {"warning": 2}, "Completion"),
    ("Error", {}, None), ("Error", {"warning": 1}, None), ("Error", {"error": 1}, "Error"),
    ("Error", {"fatal": True}, "Error"),
    ("ErrorAndWarning", {}, None), ("ErrorAndWarning", {"warning": 1}, "Warning"),
    ("ErrorAndWarning", {"error": 1, "warning": 1}, "Error"),
    ("None", {"error": 5, "warning": 5, "fatal": True}, None),
])
def test_mail_kind(setting, counts, kind):
    assert mail_kind(job(setting, **counts)) == kind


@pytest.mark.parametrize(("locale", "lang"), [("ko-KR", "ko"), ("ko", "ko"), ("ko_KR", "ko"), ("en-US", "en"),
                                              ("fr-FR", "en"), ("", "en"), (None, "en")])
def test_language(locale, lang):
    assert language(locale) == lang
