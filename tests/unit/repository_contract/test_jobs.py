"""JobRepository: creation and its name guard, reads and listings, state changes, the finisher, repairs."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from openips.adapters.dynamodb import keys
from openips.adapters.paging import InvalidPageToken
from openips.models.domain import JobCounts, JobState, LogType
from tests.unit.repository_contract.builders import T0, job, open_job, row


def _key_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["k"]


def test_a_job_is_created_with_its_rows_and_its_name_is_taken_in_its_company_only(repos):
    first = job("j-one", "batch")
    first.counts.log_rows = 2
    rows = [row(LogType.UPLOAD_WARNING, text="warning"), row(LogType.BEGIN_UPLOAD, text="begin")]
    assert repos.jobs.create(first, rows) is True
    assert repos.jobs.get("j-one") == first
    # Rows of one millisecond keep the job's story in order: the begin row first.
    assert [r.log_message for r in repos.logs.query("j-one", None, newest_first=False)] == ["begin", "warning"]

    assert repos.jobs.create(job("j-two", "batch"), [row()]) is False  # the name is taken: nothing written
    assert repos.jobs.get("j-two") is None and repos.logs.count("j-two") == 0
    assert repos.jobs.create(job("j-one", "another"), []) is False  # the handle exists
    assert repos.jobs.create(job("j-three", "batch", company_handle="c-other"), []) is True
    assert repos.jobs.get("j-nothing") is None
    assert sorted(repos.jobs.get_many({"j-one", "j-three", "j-nothing"})) == ["j-one", "j-three"]


def test_active_jobs_are_the_unfinalized_ones_by_start_date(repos):
    for n in (3, 1, 2):
        open_job(repos, f"j-{n}", start=T0 + timedelta(seconds=n))
    open_job(repos, "j-elsewhere", company_handle="c-other")
    active, scanned = repos.jobs.query_active("c-acme")
    assert [j.job_handle for j in active] == ["j-1", "j-2", "j-3"] and scanned == 3
    assert repos.jobs.count_active("c-acme") == 3
    clocks = list(repos.jobs.iter_active_clocks("c-acme"))
    assert [(c.job_handle, c.company_handle, c.state, c.closed, c.last_activity) for c in clocks] == [
        (f"j-{n}", "c-acme", JobState.WAITING_CLIENT, False, T0 + timedelta(seconds=n)) for n in (1, 2, 3)]

    assert repos.jobs.close("j-2", 0, "endJob", T0)
    assert repos.jobs.try_finish(repos.jobs.get("j-2"), T0, row(LogType.END_UPLOAD))
    assert repos.jobs.count_active("c-acme") == 3  # ended, not finalized yet
    assert repos.jobs.mark_finalized("j-2") is True and repos.jobs.mark_finalized("j-2") is False
    assert [j.job_handle for j in repos.jobs.query_active("c-acme")[0]] == ["j-1", "j-3"]
    assert repos.jobs.count_active("c-acme") == 2
    assert repos.jobs.mark_finalized("j-1") is False  # not ended


def test_company_jobs_by_start_date_leave_deleted_jobs_out(repos):
    for n in range(5):
        open_job(repos, f"j-{n}", start=T0 + timedelta(minutes=n))
    assert repos.jobs.stop(repos.jobs.get("j-2"), "deleteJob", T0, delete=True)
    newest = [j.job_handle for j in repos.jobs.query_company("c-acme", None, None, newest_first=True)]
    assert newest == ["j-4", "j-3", "j-1", "j-0"]
    between = repos.jobs.query_company("c-acme", T0 + timedelta(minutes=1), T0 + timedelta(minutes=3), False)
    assert [j.job_handle for j in between] == ["j-1", "j-3"]
    since = repos.jobs.query_company("c-acme", T0 + timedelta(minutes=3), None, False)
    assert [j.job_handle for j in since] == ["j-3", "j-4"]
    until = repos.jobs.query_company("c-acme", None, T0 + timedelta(minutes=1), False)
    assert [j.job_handle for j in until] == ["j-0", "j-1"]


def test_a_job_started_on_a_whole_second_is_listed_in_start_order(repos):
    second = T0.replace(microsecond=0) + timedelta(seconds=1)
    for handle, start in (("j-later", second + timedelta(milliseconds=250)), ("j-whole", second),
                          ("j-before", second - timedelta(milliseconds=1))):
        open_job(repos, handle, start=start)
    expected = ["j-before", "j-whole", "j-later"]
    assert [j.job_handle for j in repos.jobs.query_active("c-acme")[0]] == expected
    assert [j.job_handle for j in repos.jobs.query_company("c-acme", None, None, newest_first=False)] == expected
    assert [j.job_handle for j, _ in repos.jobs.iter_by_start("c-acme", None, None, False, None, 10)] == expected
    # A range starting on the whole second includes the job started then, and nothing before it.
    assert [j.job_handle for j in repos.jobs.query_company("c-acme", second, None, False)] == ["j-whole", "j-later"]


def test_jobs_by_start_come_in_pages_whose_tokens_continue_only_their_listing(repos):
    for n in range(5):
        open_job(repos, f"j-{n}", start=T0 + timedelta(minutes=n))
    listed = list(repos.jobs.iter_by_start("c-acme", None, None, False, None, 2))
    assert [j.job_handle for j, _ in listed] == [f"j-{n}" for n in range(5)]
    # A position is the item's key (the same token from either implementation).
    first = repos.jobs.get("j-0")
    assert _key_of(listed[0][1].token()) == {"gsi1pk": "C#c-acme#JOBS", "sk": "JOB",
                                             "gsi1sk": keys.job_start_sort(first), "pk": "J#j-0"}
    after_two = listed[1][1].token()
    assert [j.job_handle for j, _ in repos.jobs.iter_by_start("c-acme", None, None, False, after_two, 2)] == [
        "j-2", "j-3", "j-4"]
    newest = list(repos.jobs.iter_by_start("c-acme", None, None, True, None, 2))
    assert [j.job_handle for j, _ in newest] == ["j-4", "j-3", "j-2", "j-1", "j-0"]
    continued = repos.jobs.iter_by_start("c-acme", None, None, True, newest[0][1].token(), 2)
    assert [j.job_handle for j, _ in continued] == ["j-3", "j-2", "j-1", "j-0"]
    window = repos.jobs.iter_by_start("c-acme", T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), False, None, 5)
    assert [j.job_handle for j, _ in window] == ["j-1", "j-2"]
    assert list(repos.jobs.iter_by_start("c-acme", T0 + timedelta(minutes=3), T0, False, None, 5)) == []

    for foreign in (newest[0][1].token(),  # the descending listing's
                    list(repos.jobs.iter_by_name("c-acme", False, None, 2))[0][1].token(),  # another listing's
                    "garbage"):
        with pytest.raises(InvalidPageToken):
            list(repos.jobs.iter_by_start("c-acme", None, None, False, foreign, 2))
    open_job(repos, "j-theirs", company_handle="c-other")
    theirs = list(repos.jobs.iter_by_start("c-other", None, None, False, None, 2))[0][1].token()
    with pytest.raises(InvalidPageToken):
        list(repos.jobs.iter_by_start("c-acme", None, None, False, theirs, 2))


def test_a_token_outside_the_date_range_is_refused(repos):
    # DynamoDB answers ValidationException, which Table.query_from turns into InvalidPageToken; moto reads on
    # from the key, unless patched as the local stack patches it (moto_atomic.patch_query_start_keys).
    for n in range(3):
        open_job(repos, f"j-{n}", start=T0 + timedelta(minutes=n))
    token = list(repos.jobs.iter_by_start("c-acme", None, None, False, None, 1))[0][1].token()
    with pytest.raises(InvalidPageToken):
        list(repos.jobs.iter_by_start("c-acme", T0 + timedelta(minutes=1), None, False, token, 1))


def test_jobs_by_original_name_are_the_name_and_its_suffixed_forms_only(repos):
    open_job(repos, "j-1", name="batch", start=T0)
    open_job(repos, "j-2", name="batch_2024-05-01-12:00:01", original_name="batch", start=T0 + timedelta(seconds=1))
    open_job(repos, "j-3", name="batch2", start=T0 + timedelta(seconds=2))  # another name that starts alike
    open_job(repos, "j-4", name="batch", company_handle="c-other")
    found, more = repos.jobs.named_from("c-acme", "batch", 10)
    assert (sorted(j.job_handle for j in found), more) == (["j-1", "j-2"], False)
    # At most ``limit`` names are read, in name order ("batch", "batch2", "batch_…"), and the caller learns
    # that there were more.
    found, more = repos.jobs.named_from("c-acme", "batch", 2)
    assert ([j.job_handle for j in found], more) == (["j-1"], True)
    assert repos.jobs.named_from("c-acme", "nothing", 10) == ([], False)


def test_jobs_by_name_include_deleted_jobs_and_page_through_name_guards(repos):
    for name in ("b", "d", "a", "c"):
        open_job(repos, f"j-{name}", name=name)
    assert repos.jobs.stop(repos.jobs.get("j-c"), "deleteJob", T0, delete=True)
    listed = list(repos.jobs.iter_by_name("c-acme", False, None, 2))
    assert [(j.name, j.deleted) for j, _ in listed] == [("a", False), ("b", False), ("c", True), ("d", False)]
    assert _key_of(listed[0][1].token()) == {"pk": "C#c-acme", "sk": "JN#a"}
    rest = repos.jobs.iter_by_name("c-acme", False, listed[1][1].token(), 2)
    assert [j.name for j, _ in rest] == ["c", "d"]
    descending = list(repos.jobs.iter_by_name("c-acme", True, None, 3))
    assert [j.name for j, _ in descending] == ["d", "c", "b", "a"]
    with pytest.raises(InvalidPageToken):
        list(repos.jobs.iter_by_name("c-acme", True, listed[0][1].token(), 3))


def test_touch_and_close(repos):
    open_job(repos)
    repos.jobs.touch("j-one", T0 + timedelta(seconds=5))
    assert repos.jobs.get("j-one").last_activity == T0 + timedelta(seconds=5)
    assert repos.jobs.close("j-one", 3, "endJob", T0 + timedelta(seconds=9)) is True
    closed = repos.jobs.get("j-one")
    assert (closed.closed, closed.close_reason, closed.closed_at, closed.expected_files) == (
        True, "endJob", T0 + timedelta(seconds=9), 3)
    assert closed.last_activity == T0 + timedelta(seconds=9)
    assert repos.jobs.close("j-one", 5, "idle timeout", T0) is False
    assert repos.jobs.get("j-one").expected_files == 3
    assert repos.jobs.close("j-nothing", 1, "endJob", T0) is False


def _with_files(repos, received: int, done: int, expected: int):
    created = job()
    created.counts = JobCounts(received=received, done=done, success=done)
    assert repos.jobs.create(created, [])
    assert repos.jobs.close("j-one", expected, "endJob", T0)
    return repos.jobs.get("j-one")


def test_the_finisher_writes_only_on_the_counts_it_read_and_exactly_once(repos):
    end = row(LogType.END_UPLOAD, T0 + timedelta(seconds=1), "end")
    assert repos.jobs.try_finish(job(), T0, end) is False  # no such job
    open_job(repos)
    assert repos.jobs.try_finish(repos.jobs.get("j-one"), T0, end) is False  # not closed
    repos.jobs.close("j-one", 0, "endJob", T0)
    read = repos.jobs.get("j-one")
    stale = read.model_copy(update={"counts": read.counts.model_copy(update={"success": 1})})
    assert repos.jobs.try_finish(stale, T0, end) is False  # counts moved since the read
    assert repos.jobs.try_finish(read, T0 + timedelta(seconds=2), end) is True
    assert repos.jobs.try_finish(read, T0, end) is False  # the second finisher writes nothing
    finished = repos.jobs.get("j-one")
    assert finished.state == JobState.DONE and finished.end_date == T0 + timedelta(seconds=2)
    assert finished.counts.log_rows == read.counts.log_rows + 1
    assert [r.log_message for r in repos.logs.query("j-one", None, False)] == ["end"]


def test_the_finisher_waits_for_files_in_flight_and_for_expected_files_unless_forced(repos):
    in_flight = _with_files(repos, received=2, done=1, expected=2)
    assert repos.jobs.try_finish(in_flight, T0, row(LogType.END_UPLOAD)) is False
    assert repos.jobs.try_finish(in_flight, T0, row(LogType.END_UPLOAD), force=True) is False


def test_a_forced_finish_gives_up_expected_files_that_never_came(repos):
    missing = _with_files(repos, received=1, done=1, expected=2)
    assert repos.jobs.try_finish(missing, T0, row(LogType.END_UPLOAD)) is False
    other_expectation = missing.model_copy(update={"expected_files": 1})
    assert repos.jobs.try_finish(other_expectation, T0, row(LogType.END_UPLOAD), force=True) is False
    assert repos.jobs.try_finish(missing, T0, row(LogType.END_UPLOAD), force=True) is True


def test_pause_resume_and_stop_move_only_from_the_states_they_allow(repos):
    open_job(repos)
    assert repos.jobs.resume("j-one", T0) is False
    assert repos.jobs.pause("j-one", T0 + timedelta(seconds=1)) is True
    paused = repos.jobs.get("j-one")
    assert (paused.state, paused.paused_at, paused.last_activity) == (
        JobState.WAITING_COORDINATOR, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1))
    assert repos.jobs.pause("j-one", T0) is False
    assert repos.jobs.resume("j-one", T0 + timedelta(seconds=2)) is True
    resumed = repos.jobs.get("j-one")
    assert resumed.state == JobState.WAITING_CLIENT and resumed.paused_at == T0 + timedelta(seconds=1)
    assert repos.jobs.stop(resumed, "stopJob", T0 + timedelta(seconds=3)) is True
    assert repos.jobs.stop(resumed, "deleteJob", T0 + timedelta(seconds=4), delete=True) is True  # still stopping
    stopped = repos.jobs.get("j-one")
    assert (stopped.state, stopped.stopped_by, stopped.deleted) == (JobState.STOPPING, "stopJob", True)
    assert repos.jobs.pause("j-one", T0) is False and repos.jobs.resume("j-one", T0) is False
    repos.jobs.close("j-one", 0, "stopJob", T0)
    assert repos.jobs.try_finish(repos.jobs.get("j-one"), T0, row(LogType.END_UPLOAD))
    assert repos.jobs.stop(stopped, "stopJob", T0) is False  # ended
    assert repos.jobs.pause("j-nothing", T0) is False and repos.jobs.stop(job("j-nothing"), "stopJob", T0) is False


def test_an_overlong_pause_is_stopped_only_if_the_job_is_still_paused_since_then(repos):
    open_job(repos)
    repos.jobs.pause("j-one", T0)
    read = repos.jobs.get("j-one")
    repos.jobs.resume("j-one", T0 + timedelta(seconds=1))
    repos.jobs.pause("j-one", T0 + timedelta(seconds=2))
    warning = row(text="pause expired")
    assert repos.jobs.stop_paused(read, "MaxPauseSeconds", T0, warning) is False  # paused again since
    current = repos.jobs.get("j-one")
    assert repos.jobs.stop_paused(current, "MaxPauseSeconds", T0 + timedelta(seconds=3), warning) is True
    stopped = repos.jobs.get("j-one")
    assert (stopped.state, stopped.stopped_by, stopped.counts.log_rows) == (JobState.STOPPING, "MaxPauseSeconds", 1)
    assert [r.log_message for r in repos.logs.query("j-one", None, False)] == ["pause expired"]
    assert repos.jobs.stop_paused(current, "MaxPauseSeconds", T0, warning) is False  # not paused any more


def test_late_files_are_counted(repos):
    open_job(repos)
    assert [repos.jobs.count_late_file("j-one") for _ in range(3)] == [1, 2, 3]


def test_a_repair_sets_the_counters_only_if_none_moved_and_counts_itself(repos):
    read = _with_files(repos, received=2, done=1, expected=2)
    recounted = read.counts.model_copy(update={"done": 2, "error": 1, "log_rows": 4})
    moved = read.model_copy(update={"counts": read.counts.model_copy(update={"log_rows": 1})})
    assert repos.jobs.repair_counts(moved, recounted, row(text="stale")) is False
    assert repos.jobs.repair_counts(read, recounted, row(text="repaired")) is True
    repaired = repos.jobs.get("j-one")
    assert repaired.counts == recounted.model_copy(update={"log_rows": 5}) and repaired.repairs == 1
    repos.jobs.note_repair("j-one", row(at=T0 + timedelta(seconds=1), text="re-sent"))
    noted = repos.jobs.get("j-one")
    assert (noted.counts.log_rows, noted.repairs) == (6, 2)
    assert [r.log_message for r in repos.logs.query("j-one", None, False)] == ["repaired", "re-sent"]
