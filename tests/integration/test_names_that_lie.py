"""Issue 13 item 5: names that lie. Control and invisible format characters are refused in
names, descriptions and path segments; slash look-alikes in path segments; the CLI escapes
anything non-printable it shows."""

from __future__ import annotations

import json

import pytest

from openips_cli.main import PrintableStream, printable
from tests.integration.test_processing import jpeg, rows

PARAMS = {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}
HIDDEN = {"escape": "\x1b[2J\x1b[31mHACKED", "rlo": "invoice\u202egpj.exe", "zero width": "a\u200bb",
          "newline": "Subject\nBcc: victim@example.com", "bom": "\ufeffname"}


@pytest.mark.parametrize("text", HIDDEN.values(), ids=HIDDEN.keys())
def test_job_names_with_hidden_characters_are_a_clear_fault(stack, text):
    opened = stack.open_job(text)
    assert (opened.status, opened.fault_code) == (400, 30001)
    assert "control or invisible format characters" in opened.body["fault"]["reason"]
    assert "jobName" in opened.body["fault"]["reason"]


def test_descriptions_keep_lines_but_refuse_escapes(stack):
    ok = stack.call("POST", "/v1/upload-jobs", {"jobName": "lines", "description": "line 1\nline 2\tend",
                                                 "uploadParams": PARAMS})
    assert ok.status == 201, ok.body
    bad = stack.call("POST", "/v1/upload-jobs", {"jobName": "esc", "description": "x\x1b]0;pwned\x07",
                                                  "uploadParams": PARAMS})
    assert (bad.status, bad.fault_code) == (400, 30001) and "description" in bad.body["fault"]["reason"]


@pytest.mark.parametrize("body", [{"name": "Evil\u202eCorp"}, {"name": "ok\x1b[0m"}])
def test_company_project_and_preset_names_refuse_hidden_characters(stack, body):
    assert stack.call("POST", "/v1/admin/companies", body, key=stack.admin_key).status == 400
    assert stack.call("POST", "/v1/projects", body).status == 400
    preset = {**body, "setType": "ImageSet", "matchPattern": r"(?P<base>.+)_\d+"}
    assert stack.call("POST", "/v1/set-presets", preset).status == 400


@pytest.mark.parametrize("path", ["shoes/red\u202egpj.jpg", "shoes\u2215red.jpg", "a\u200b/b.jpg", "x\x1b.jpg"])
def test_paths_that_would_spoof_an_asset_id_are_refused_with_a_row(stack, path):
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    assert stack.post_file(opened.body["upload"], path, jpeg()).status_code == 204
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    stack.drain()
    (error,) = rows(stack, job, "UploadError")
    assert "look like a slash" in error["logMessage"] or "invisible format characters" in error["logMessage"]
    assert stack.call("GET", "/v1/assets", query={"jobHandle": job}).body["assetArray"] == []


def test_the_cli_escapes_what_it_shows(capsys):
    stream = PrintableStream(__import__("sys").stdout)
    stream.write("job \x1b[2J\u202egpj.exe\n")
    assert capsys.readouterr().out == "job \\u001b[2J\\u202egpj.exe\n"
    # --json output stays valid JSON and decodes to the original text
    text = printable(json.dumps({"name": "a\x85b\u202e"}, ensure_ascii=False))
    assert json.loads(text) == {"name": "a\x85b\u202e"} and "\u202e" not in text
