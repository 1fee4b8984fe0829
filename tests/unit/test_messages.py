"""The job-log message catalog: every message in every language, same placeholders."""

from __future__ import annotations

import string

import pytest

from openips.models.messages import MESSAGES, language_of, message, render


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("message_id", sorted(MESSAGES))
def test_every_message_has_english_and_korean_with_the_same_placeholders(message_id):
    texts = MESSAGES[message_id]
    assert set(texts) == {"en", "ko"}
    assert placeholders(texts["ko"]) == placeholders(texts["en"])


@pytest.mark.parametrize(("locale", "language"), [
    ("ko-KR", "ko"), ("ko", "ko"), ("ko_KR", "ko"), ("en-GB", "en"), ("fr-FR", "en"), ("", "en"), (None, "en"),
])
def test_language_of_a_locale(locale, language):
    assert language_of(locale) == language


def test_nested_messages_are_rendered_in_the_same_language():
    params = {"path": "a.jpg", "reason": "the file is empty (0 bytes)",
              "kept": message("file.kept", location="s3://b/quarantine/a.jpg")}
    assert render("file.rejected", params, "en-US") == (
        "a.jpg could not be processed: the file is empty (0 bytes). The file was kept at s3://b/quarantine/a.jpg.")
    korean = render("file.rejected", params, "ko-KR")
    assert korean.startswith("a.jpg 파일을 처리할 수 없습니다: the file is empty (0 bytes).")
    assert korean.endswith("s3://b/quarantine/a.jpg에 보관되었습니다.")


def test_braces_in_parameters_are_not_interpreted():
    assert render("file.warning", {"path": "{x}.jpg", "warning": "{0} {reason}"}, "en") == "{x}.jpg: {0} {reason}"
