"""ClaimRepository and LogRepository: a file's claim, lease, retries and completion; reading the job log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from openips.models.domain import LogAux, LogType
from tests.unit.repository_contract.builders import T0, asset, claim, open_job, row


def test_a_new_claim_counts_a_received_file_and_a_second_delivery_finds_it_busy(repos):
    open_job(repos)
    first = claim()
    assert repos.claims.claim_file(first, T0 + timedelta(seconds=1)).status == "new"
    job = repos.jobs.get("j-one")
    assert (job.counts.received, job.last_activity) == (1, T0 + timedelta(seconds=1))
    again = repos.claims.claim_file(claim(lease=T0 + timedelta(seconds=99)), T0 + timedelta(seconds=2))
    assert again.status == "busy" and again.claim == first  # the holder's lease is live: its claim, unchanged
    assert repos.jobs.get("j-one").counts.received == 1
    assert repos.claims.get("j-one", "k1") == first and repos.claims.get("j-one", "k-none") is None


def test_a_claim_whose_lease_ended_is_taken_over_once_as_the_next_attempt(repos):
    open_job(repos)
    first = claim()
    repos.claims.claim_file(first, T0)
    later = T0 + timedelta(seconds=61)
    retry = repos.claims.claim_file(claim(lease=later + timedelta(seconds=60)), later)
    assert retry.status == "retry"
    assert (retry.claim.attempts, retry.claim.lease_until, retry.claim.attempt_started) == (
        2, later + timedelta(seconds=60), later)
    assert repos.claims.get("j-one", "k1") == retry.claim
    assert repos.claims.claim_file(claim(lease=later + timedelta(seconds=90)), later).status == "busy"
    assert repos.jobs.get("j-one").counts.received == 1


def test_a_held_claim_waits_for_its_retry_and_a_stale_holder_cannot_hold_it(repos):
    open_job(repos)
    first = claim()
    repos.claims.claim_file(first, T0)
    assert repos.claims.hold(first, T0 + timedelta(seconds=10), "ValueError: boom") is True
    held = repos.claims.get("j-one", "k1")
    assert (held.lease_until, held.last_error) == (T0 + timedelta(seconds=10), "ValueError: boom")
    assert repos.claims.hold(first, T0 + timedelta(seconds=500), "late") is False  # the lease it knew changed
    assert repos.claims.claim_file(claim(), T0 + timedelta(seconds=5)).status == "busy"
    assert repos.claims.claim_file(claim(), T0 + timedelta(seconds=11)).status == "retry"
    assert repos.claims.hold(claim("k-none"), T0, "x") is False


def test_a_claim_held_for_an_external_job_names_it_until_an_error_hold_replaces_it(repos):
    open_job(repos)
    first = claim()
    repos.claims.claim_file(first, T0)
    assert repos.claims.hold(first, T0 + timedelta(seconds=10), "OSError: reset") is True
    retry = repos.claims.claim_file(claim(lease=T0 + timedelta(seconds=70)), T0 + timedelta(seconds=11)).claim
    assert repos.claims.hold_for_job(retry, T0 + timedelta(seconds=900), "mc-job-2") is True
    held = repos.claims.get("j-one", "k1")
    # The running job is not an error: the earlier attempt's error goes.
    assert (held.lease_until, held.external_job, held.last_error) == (T0 + timedelta(seconds=900), "mc-job-2", None)
    assert repos.claims.hold_for_job(retry, T0 + timedelta(seconds=5), "late") is False  # the lease it knew changed
    # A later attempt that fails holds the claim for its retry: the job it replaced is no longer the claim's.
    later = repos.claims.claim_file(claim(lease=T0 + timedelta(seconds=960)), T0 + timedelta(seconds=901)).claim
    assert repos.claims.hold(later, T0 + timedelta(seconds=910), "ValueError: boom") is True
    held = repos.claims.get("j-one", "k1")
    assert (held.external_job, held.last_error) == (None, "ValueError: boom")
    assert repos.claims.hold_for_job(claim("k-none"), T0, "x") is False


def test_completion_writes_claim_counters_link_and_rows_at_once_and_only_once(repos):
    open_job(repos)
    taken = claim()
    repos.claims.claim_file(taken, T0)
    repos.claims.record_decision(taken, "UploadSuccess", "a-one")
    decided = repos.claims.get("j-one", "k1")
    assert (decided.outcome, decided.asset_handle) == ("UploadSuccess", "a-one")
    assert repos.assets.create(asset())
    rows = [row(LogType.UPLOAD_SUCCESS, text=f"page {n}") for n in range(3)]
    repos.claims.complete(decided, {"success": 1, "total_size": 10}, rows, "a-one", completed=T0,
                          result="UploadSuccess", more_expected=2)
    done = repos.claims.get("j-one", "k1")
    assert (done.status, done.completed, done.result) == ("Done", T0, "UploadSuccess")
    assert done.counts == {"success": 1, "total_size": 10, "log_rows": 3, "done": 1, "more_expected": 2}
    job = repos.jobs.get("j-one")
    assert (job.counts.received, job.counts.done, job.counts.success, job.counts.total_size,
            job.counts.log_rows, job.expected_files) == (1, 1, 1, 10, 3, 2)
    assert [r.log_message for r in repos.logs.query("j-one", None, False)] == ["page 0", "page 1", "page 2"]
    assert [a.asset_handle for a in repos.assets.list_for_job("j-one")] == ["a-one"]

    repos.claims.complete(decided, {"success": 1}, rows, "a-one", completed=T0)  # a duplicate delivery
    assert repos.jobs.get("j-one").counts == job.counts and repos.logs.count("j-one") == 3
    assert repos.claims.claim_file(claim(), T0 + timedelta(hours=1)).status == "done"


def test_a_completion_with_more_rows_than_a_transaction_takes_keeps_them_all_in_order(repos):
    open_job(repos)
    taken = claim()
    repos.claims.claim_file(taken, T0)
    rows = [row(LogType.UPLOAD_SUCCESS, text=f"{n:03d}") for n in range(130)]
    repos.claims.complete(taken, {"success": 130}, rows, None, count_as_done=False)
    assert [r.log_message for r in repos.logs.query("j-one", None, False)] == [f"{n:03d}" for n in range(130)]
    assert repos.logs.count("j-one") == 130
    counts = repos.jobs.get("j-one").counts
    assert (counts.log_rows, counts.done, counts.success) == (130, 0, 130)


def test_claims_of_a_job_and_those_still_processing(repos):
    open_job(repos)
    for claim_id in ("k1", "k2", "k3"):
        repos.claims.claim_file(claim(claim_id), T0)
    repos.claims.complete(claim("k2"), {"error": 1}, [], None, completed=T0, result="UploadError")
    assert sorted(c.claim_id for c in repos.claims.list_for_job("j-one")) == ["k1", "k2", "k3"]
    assert sorted(c.claim_id for c in repos.claims.list_for_job("j-one", processing_only=True)) == ["k1", "k3"]
    assert repos.claims.list_for_job("j-other") == []


def test_log_rows_by_type_including_the_types_of_their_aux_rows_and_in_either_order(repos):
    open_job(repos)
    warned = row(LogType.UPLOAD_SUCCESS, T0 + timedelta(seconds=2), "warned",
                 aux=[LogAux(log_type=LogType.UPLOAD_WARNING, log_message="w")])
    repos.claims.claim_file(claim(), T0)
    repos.claims.complete(claim(), {"success": 1}, [warned], None)
    repos.steps.finish("j-one", "x", [row(LogType.UPLOAD_WARNING, T0 + timedelta(seconds=1), "warning"),
                                      row(LogType.UPLOAD_ERROR, T0 + timedelta(seconds=3), "error")])
    assert [r.log_message for r in repos.logs.query("j-one", ["UploadWarning"], False)] == ["warning", "warned"]
    assert [r.log_message for r in repos.logs.query("j-one", ["UploadError", "UploadSuccess"], True)] == [
        "error", "warned"]
    assert [r.log_message for r in repos.logs.query("j-one", None, True)] == ["error", "warned", "warning"]
    assert repos.logs.query("j-one", None, False).__next__().log_message == "warning"
    assert repos.logs.count("j-one") == 3
    (stored,) = [r for r in repos.logs.query("j-one", None, False) if r.log_message == "warned"]
    assert stored == warned


def test_a_row_written_on_a_whole_second_comes_before_the_later_rows_of_that_second(repos):
    # Times are in milliseconds: one in a thousand falls on a whole second, whose ISO form has no fraction.
    open_job(repos)
    second = T0.replace(microsecond=0) + timedelta(seconds=1)
    repos.steps.finish("j-one", "x", [row(LogType.UPLOAD_WARNING, second + timedelta(milliseconds=500), "later"),
                                      row(LogType.BEGIN_UPLOAD, second, "first"),
                                      row(LogType.UPLOAD_ERROR, second - timedelta(milliseconds=1), "before")])
    assert [r.log_message for r in repos.logs.query("j-one", None, False)] == ["before", "first", "later"]
    assert [r.log_message for r in repos.logs.query("j-one", None, True)] == ["later", "first", "before"]


def test_an_assets_rows_across_jobs_newest_first(repos):
    for handle, at in (("j-one", T0), ("j-two", T0 + timedelta(seconds=5))):
        open_job(repos, handle)
        repos.claims.claim_file(claim(job_handle=handle), at)
        repos.claims.complete(claim(job_handle=handle), {"success": 1},
                              [row(LogType.UPLOAD_SUCCESS, at, handle, asset_handle="a-one"),
                               row(LogType.UPLOAD_SUCCESS, at, "other", asset_handle="a-two")], None)
    found = list(repos.logs.query_for_asset("a-one"))
    assert [(job, r.log_message) for job, r in found] == [("j-two", "j-two"), ("j-one", "j-one")]
    assert list(repos.logs.query_for_asset("a-none")) == []


@pytest.mark.parametrize("outcome", ["UploadSuccess", "DuplicateSkipped"])
def test_a_decision_is_remembered_for_the_retry(repos, outcome):
    open_job(repos)
    repos.claims.claim_file(claim(), T0)
    handle = "a-one" if outcome == "UploadSuccess" else None
    repos.claims.record_decision(claim(), outcome, handle)
    stored = repos.claims.get("j-one", "k1")
    assert (stored.outcome, stored.asset_handle) == (outcome, handle)
