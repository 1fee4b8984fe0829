"""Job-log messages in the job's locale (English, Korean, English fallback) and auxArray rows."""

from __future__ import annotations

import pytest

from tests.integration.test_processing import jpeg, upload_and_end

pyvips = pytest.importorskip("pyvips")

def run_job(stack, files: dict[str, bytes], locale: str | None = None, **params) -> str:
    return upload_and_end(stack, files, "localised", locale=locale, **params)


def by_type(log: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for row in log["detailArray"]:
        found.setdefault(row["logType"], []).append(row)
    return found


def test_a_korean_job_logs_in_korean_and_can_be_read_in_english(stack):
    job = run_job(stack, {"shoes/red.jpg": jpeg(), "bad.jpg": jpeg()[:200]}, locale="ko-KR")
    rows = by_type(stack.job_log(job))
    assert "업로드 작업 localised" in rows["BeginUpload"][0]["logMessage"]
    assert "shoes/red.jpg 파일이 IPS에 자산 red(으)로 처리되었습니다" in rows["UploadSuccess"][0]["logMessage"]
    error = rows["UploadError"][0]["logMessage"]
    assert error.startswith("bad.jpg 파일을 처리할 수 없습니다") and "보관되었습니다" in error
    assert "종료되었습니다" in rows["EndUpload"][0]["logMessage"] and "endJob 요청" in rows["EndUpload"][0]["logMessage"]

    english = by_type(stack.job_log(job, locale="en-US"))
    assert english["BeginUpload"][0]["logMessage"].startswith("Upload job localised started by ops@acme.example")
    assert english["UploadSuccess"][0]["logMessage"].startswith("shoes/red.jpg was processed into IPS as asset red")
    assert english["EndUpload"][0]["logMessage"].startswith("Upload job localised ended (endJob): 2 files, 1 new")

    asset = english["UploadSuccess"][0]["assetHandle"]
    korean_history = stack.call("GET", f"/v1/assets/{asset}/job-logs").body["jobLogArray"]
    assert "처리되었습니다" in korean_history[0]["logMessage"]  # the job's own locale by default
    english_history = stack.call("GET", f"/v1/assets/{asset}/job-logs", query={"locale": "en"}).body["jobLogArray"]
    assert "was processed into IPS" in english_history[0]["logMessage"]


@pytest.mark.parametrize("locale", ["fr-FR", "ja", None])
def test_other_locales_fall_back_to_english(stack, locale):
    job = run_job(stack, {"a.jpg": jpeg()}, locale=locale)
    log = stack.job_log(job)
    assert log["detailArray"][0]["logMessage"].startswith("Upload job localised started by")
    active_or_done = stack.call("GET", "/v1/jobs/logs").body["jobLogArray"]
    assert any(j["jobHandle"] == job for j in active_or_done)


@pytest.mark.parametrize("bad", ["korean", "KO", "ko-kr", "../../etc", "ko-KR-x"])
def test_a_malformed_locale_is_refused(stack, bad):
    job = run_job(stack, {})
    response = stack.call("GET", f"/v1/jobs/{job}/log-details", query={"locale": bad})
    assert response.status == 400 and response.fault_code == 30001
    assert "locale" in response.body["fault"]["reason"]
    opened = stack.open_job("x", locale=bad)
    assert opened.status == 400 and opened.fault_code == 30001


def animated_gif() -> bytes:
    frames = [(pyvips.Image.black(64, 64) + i * 40).cast("uchar") for i in range(3)]
    gif = pyvips.Image.arrayjoin(frames, across=1).copy()
    gif.set_type(pyvips.GValue.gint_type, "page-height", 64)
    return gif.gifsave_buffer()


def test_every_warning_of_a_file_is_an_aux_entry_of_its_one_row(stack):
    # Two warnings on one file: a multi-page GIF, and createMask without a clipping path.
    job = run_job(stack, {"anim.gif": animated_gif(), "plain.jpg": jpeg()}, createMask=True, locale="ko-KR")
    log = stack.job_log(job, locale="en-US")
    assert (log["fileSuccessCount"], log["fileWarningCount"]) == (2, 2)
    rows = by_type(log)
    assert "UploadWarning" not in rows  # no separate rows: one row per file
    gif_row = next(r for r in rows["UploadSuccess"] if r["assetName"] == "anim")
    kinds = sorted(a["logMessage"].split(": ", 1)[1].split(" ")[0] for a in gif_row["auxArray"])
    assert [a["logType"] for a in gif_row["auxArray"]] == ["UploadWarning", "UploadWarning"]
    assert kinds == ["createMask:", "multi-page"]
    assert all(a["logMessage"].startswith("anim.gif: ") and a["dateCreated"] for a in gif_row["auxArray"])

    # logTypeArray=UploadWarning finds the rows whose auxArray holds a warning.
    filtered = stack.job_log(job, logTypeArray="UploadWarning")
    assert {r["assetName"] for r in filtered["detailArray"]} == {"anim", "plain"}
    assert filtered["detailTotalRows"] == 2
    assert stack.job_log(job, logTypeArray="UploadError")["detailArray"] == []

    # The aux entries are localised too, and travel with getAssetJobLogs.
    korean = stack.call("GET", f"/v1/assets/{gif_row['assetHandle']}/job-logs").body["jobLogArray"][0]
    assert all(a["logMessage"].startswith("anim.gif: 경고: ") for a in korean["auxArray"])


def test_rows_written_at_job_end_are_localised_too(stack):
    preset = stack.call("POST", "/v1/set-presets", {"name": "Spins", "setType": "SpinSet",
                                                     "matchPattern": r"(?P<base>.+)_(\d+)"})
    assert preset.status == 201, preset.body
    job = run_job(stack, {"shoe_1.jpg": jpeg(), "shoe_2.jpg": jpeg(shade=30)}, locale="ko-KR",
                  autoSetCreationOptions={"autoSetsArray": [preset.body["presetHandle"]]})
    korean = {r["logMessage"] for r in stack.job_log(job)["detailArray"]}
    assert any("일괄 세트 사전 설정 'Spins'" in m and "만들었습니다 (구성원 2개): shoe_1, shoe_2" in m for m in korean)
    english = {r["logMessage"] for r in stack.job_log(job, locale="en")["detailArray"]}
    assert any(m.startswith("SpinSet shoe_set created in / by batch set preset 'Spins'") for m in english), english
