"""Claims, retries and the job's life on the fakes: failed and crashed attempts, pause, stop, shared capacity,
the single finisher, job names, and accounting repairs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from openips.models import errors
from openips.models.domain import JobState
from openips.models.events import IncomingObject, S3Notification
from openips.services import accounting, control, finalize, jobs, processing, sweep
from tests.fakes import INCOMING
from tests.unit.service_rules.harness import World, icc_profile

PROFILE = icc_profile()


def _failing_downloads(world: World, error: BaseException, times: int) -> list[int]:
    """The next ``times`` downloads of the incoming bucket raise ``error``; the list counts them."""
    calls: list[int] = []
    real = world.storage.download

    def download(bucket: str, key: str, path: str) -> None:
        if bucket == INCOMING and len(calls) < times:
            calls.append(1)
            raise error
        real(bucket, key, path)

    world.storage.download = download  # type: ignore[method-assign]
    return calls


def test_a_file_whose_processing_keeps_failing_is_retried_then_logged_as_an_error_naming_it():
    world = World(file_retry_delays=(0, 0, 0))
    job = world.open()
    calls = _failing_downloads(world, ValueError("Error -3 while decompressing data"), times=10)
    obj = world.upload(job, "x.icc", PROFILE)
    outcomes = [world.deliver(obj, world.tick(5)) for _ in range(processing.MAX_ATTEMPTS)]
    assert outcomes == ["Retrying"] * 3 + ["UploadError"]
    assert len(calls) == processing.MAX_ATTEMPTS and len(world.deferred()) == 3  # back in new, delayed messages
    world.end(job)
    (error,) = world.rows(job, "UploadError")
    assert "failed 4 times" in error.log_message and "Error -3 while decompressing" in error.log_message
    log = world.log(job)
    assert (log.log_type, log.total_file_count, log.file_error_count) == ("EndUpload", 1, 1)
    (claim,) = world.deps.claims.list_for_job(job.job_handle)
    assert (claim.status, claim.attempts, claim.result) == ("Done", 4, "UploadError")


def test_a_retry_is_not_taken_before_its_delay_and_then_succeeds():
    world = World(file_retry_delays=(60, 60, 60))
    job = world.open()
    _failing_downloads(world, OSError("connection reset"), times=1)
    obj = world.upload(job, "x.icc", PROFILE)
    assert world.deliver(obj) == "Retrying" and world.deferred() == [60]
    (held,) = world.deps.claims.list_for_job(job.job_handle)
    assert held.last_error == "OSError: connection reset"
    assert world.deliver(obj, world.tick(30)) == "Busy"  # the retry is not due: the claim is held
    assert world.deliver(obj, world.tick(31)) == "UploadSuccess"
    assert world.deps.claims.list_for_job(job.job_handle)[0].attempts == 2


def test_a_crashed_attempt_is_taken_over_when_its_lease_ends_and_counted_once():
    world = World(file_lease_seconds=600)
    job = world.open()
    _failing_downloads(world, SystemExit("worker killed"), times=1)  # not an Exception: nothing may catch it
    obj = world.upload(job, "x.icc", PROFILE)
    with pytest.raises(SystemExit):
        world.deliver(obj)
    (claim,) = world.deps.claims.list_for_job(job.job_handle)
    assert (claim.status, claim.attempts) == ("Processing", 1)
    assert world.deps.quotas.inflight_holders(world.company.company_handle) == {}  # the slot was given back
    assert world.deliver(obj, world.tick(10)) == "Busy"
    assert 589 <= world.deferred()[-1] <= 591  # back when the lease ends
    assert world.job(job).counts.received == 1
    assert world.deliver(obj, world.tick(600)) == "UploadSuccess"
    world.end(job)
    log = world.log(job)
    assert (log.log_type, log.total_file_count, log.file_success_count) == ("EndUpload", 1, 1)
    assert world.deps.claims.list_for_job(job.job_handle)[0].attempts == 2


def test_a_retry_after_the_decision_repeats_it_instead_of_taking_a_new_id():
    world = World(file_retry_delays=(0, 0, 0))
    job = world.open()
    real_copy, failures = world.storage.copy, []

    def copy(src_bucket, src_key, dst_bucket, dst_key, metadata=None):
        if dst_bucket != INCOMING and not failures:  # the master's copy, after the asset was decided
            failures.append(dst_key)
            raise OSError("S3 went away")
        real_copy(src_bucket, src_key, dst_bucket, dst_key, metadata)

    world.storage.copy = copy  # type: ignore[method-assign]
    obj = world.upload(job, "chair.icc", PROFILE)
    assert world.deliver(obj) == "Retrying" and failures
    assert world.deliver(obj, world.tick(5)) == "UploadSuccess"
    (row,) = world.rows(job, "UploadSuccess")
    assert row.asset_name == "chair"  # not chair-1: the retry reused the decision it had recorded
    assert world.deps.assets.find_by_name(world.company.company_handle, "chair-1") is None


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_crash_between_creating_the_asset_and_recording_the_decision_is_still_a_new_asset(overwrite):
    # DynamoDB throttling past botocore's retries (seen in CI) can fail the decision's write
    # after the asset was created: the retry finds its own asset, which is neither an update
    # nor a duplicate of itself.
    world = World(file_retry_delays=(0, 0, 0))
    job = world.open(overwrite=overwrite)
    real_record, failures = world.deps.claims.record_decision, []

    def record_decision(claim, outcome, asset_handle):
        if not failures:
            failures.append(outcome)
            raise errors.TransientError("ProvisionedThroughputExceededException")
        real_record(claim, outcome, asset_handle)

    world.deps.claims.record_decision = record_decision  # type: ignore[method-assign]
    obj = world.upload(job, "chair.icc", PROFILE)
    assert world.deliver(obj) == "Retrying" and failures == ["UploadSuccess"]
    assert world.deliver(obj, world.tick(5)) == "UploadSuccess"
    (row,) = world.rows(job, "UploadSuccess")
    assert row.asset_name == "chair"
    assert world.rows(job, "FileUpdated") == world.rows(job, "DuplicateSkipped") == []
    assert world.deps.assets.find_by_name(world.company.company_handle, "chair-1") is None


def test_files_of_a_paused_job_wait_unclaimed_and_proceed_after_resume():
    world = World(paused_file_delay_seconds=30)
    job = world.open()
    control.pause_job(world.deps, world.user, job.job_handle, world.tick())
    obj = world.upload(job, "a.icc", PROFILE)
    assert world.deliver(obj) == "Paused" and world.deferred() == [30]
    assert world.deps.claims.list_for_job(job.job_handle) == [] and world.job(job).counts.received == 0
    with pytest.raises(errors.IpsApiFault) as twice:
        control.pause_job(world.deps, world.user, job.job_handle, world.tick())
    assert twice.value.http_status == 409 and "it is paused" in twice.value.reason
    control.resume_job(world.deps, world.user, job.job_handle, world.tick())
    assert world.deliver(obj) == "UploadSuccess"


def test_stop_cancels_files_not_started_and_ends_the_job():
    world = World()
    job = world.open()
    assert world.send(job, {"done.icc": PROFILE}) == ["UploadSuccess"]
    waiting = world.upload(job, "waiting.icc", PROFILE)  # uploaded, its notification not handled yet
    control.stop_job(world.deps, world.user, job.job_handle, world.tick())
    assert world.job(job).state == JobState.STOPPING
    assert world.deliver(waiting) == "FileCancel"
    log = world.log(job)
    assert (log.log_type, log.total_file_count, log.file_success_count, log.file_error_count) == (
        "EndUpload", 2, 1, 1)
    (cancel,) = world.rows(job, "FileCancel")
    assert "waiting.icc" in cancel.log_message
    with pytest.raises(errors.IpsApiFault) as ended:
        control.stop_job(world.deps, world.user, job.job_handle, world.tick())
    assert ended.value.http_status == 409 and "it has ended" in ended.value.reason


def test_a_company_over_its_in_flight_slots_waits_unclaimed_while_others_proceed():
    world = World(max_files_in_flight_per_company=1)
    job = world.open()
    busy_until = world.now + timedelta(seconds=900)
    assert world.deps.quotas.take_inflight_slot(world.company.company_handle, "another-invocation", busy_until, 1,
                                                world.now)
    obj = world.upload(job, "a.icc", PROFILE)
    assert world.deliver(obj) == "Throttled"
    assert world.deps.claims.list_for_job(job.job_handle) == []  # no attempt spent
    assert world.deps.quotas.release_inflight_slot(world.company.company_handle, "another-invocation")
    assert world.deliver(obj) == "UploadSuccess"
    assert world.deps.quotas.inflight_holders(world.company.company_handle) == {}


def test_a_crashed_holders_slot_is_taken_over_once_its_lease_has_ended():
    world = World(max_files_in_flight_per_company=1, file_lease_seconds=600)
    job = world.open()
    company = world.company.company_handle
    assert world.deps.quotas.take_inflight_slot(company, "dead", world.now + timedelta(seconds=600), 1, world.now)
    obj = world.upload(job, "a.icc", PROFILE)
    assert world.deliver(obj, world.tick(60)) == "Throttled"
    assert world.deliver(obj, world.tick(600)) == "UploadSuccess"
    assert world.deps.quotas.inflight_holders(company) == {}


def test_a_job_closed_while_a_file_is_on_its_way_waits_for_it_then_ends_exactly_once():
    world = World()
    job = world.open()
    assert world.send(job, {"a.icc": PROFILE, "b.icc": PROFILE}) == ["UploadSuccess"] * 2
    on_its_way = world.upload(job, "c.icc", PROFILE)
    world.end(job)  # three objects under the prefix, two done: the job waits for the third
    assert world.job(job).state != JobState.DONE and world.log(job).log_type == "BeginUpload"
    assert world.deliver(on_its_way) == "UploadSuccess"
    assert world.job(job).state == JobState.DONE
    assert jobs.finish_if_complete(world.deps, job.job_handle, world.tick()) is False
    assert world.deps.events.finished == [job.job_handle]
    (end,) = world.rows(job, "EndUpload")
    assert "ended (endJob): 3 files, 3 new" in end.log_message
    assert finalize.finalize_job(world.deps, job.job_handle) is True  # the processed uploads are removed
    assert finalize.finalize_job(world.deps, job.job_handle) is False
    assert world.storage.keys(INCOMING, "incoming/") == []


def test_job_names_are_unique_in_the_company_and_original_names_are_kept():
    world = World()
    first, second = world.open("batch"), world.open("batch")
    assert first.name == "batch" and second.name.startswith("batch_") and second.original_name == "batch"
    other = World()
    assert other.open("batch").name == "batch"


def test_a_company_cannot_open_more_jobs_than_its_limit_until_one_ends():
    world = World(max_open_jobs_per_company=2)
    opened = [world.open(f"j{n}") for n in range(2)]
    with pytest.raises(errors.IpsApiFault) as refused:
        world.open("j2")
    assert refused.value.http_status == 413 and "limit is 2" in refused.value.reason
    world.end(opened[0])  # nothing pending: it ends at once
    world.deps.jobs.mark_finalized(opened[0].job_handle)  # FinalizeJob ran
    assert world.open("j2").name == "j2"


def test_the_sweeper_repairs_drifted_counters_resends_a_lost_file_and_the_job_ends():
    world = World(missing_file_grace_seconds=60)
    job = world.open()
    world.send(job, {"a.icc": PROFILE})
    world.deps.jobs.t.jobs[job.job_handle].counts.received += 1  # type: ignore[attr-defined]  # a doubled update
    lost = world.upload(job, "lost.icc", PROFILE)  # its notification never came
    world.end(job)
    assert world.log(job).log_type == "BeginUpload"  # stuck: 2 received (one phantom), 1 done

    found = accounting.audit(world.deps, job.job_handle, world.tick())
    assert found is not None and not found.healthy
    assert found.drift == {"received": (2, 1)} and [key for key, _, _ in found.unclaimed] == [lost.key]

    done = sweep.sweep(world.deps, world.tick(120))
    assert done["repaired"] == 1
    (resent,) = world.deps.process_queue.sent  # type: ignore[attr-defined]  # ProcessQueue delivers it
    notification = S3Notification.model_validate_json(resent)
    assert IncomingObject.from_record(notification.records[0]).key == lost.key
    assert processing.process_notification(world.deps, notification, resent, world.tick()) == ["UploadSuccess"]
    log = world.log(job)
    assert (log.log_type, log.total_file_count, log.file_success_count) == ("EndUpload", 2, 2)
    (repaired,) = world.rows(job, "UploadWarning")
    assert "repaired (sweeper)" in repaired.log_message and "lost.icc" in repaired.log_message


def test_a_job_paused_past_the_limit_is_stopped_by_the_sweeper_and_ends_with_every_file_accounted_for():
    world = World(paused_file_delay_seconds=1)
    job = world.open("held")
    assert world.send(job, {"first.icc": PROFILE}) == ["UploadSuccess"]
    control.pause_job(world.deps, world.user, job.job_handle, world.tick())
    waiting = [world.upload(job, name, PROFILE) for name in ("second.icc", "third.icc")]
    assert [world.deliver(obj) for obj in waiting] == ["Paused", "Paused"]  # unclaimed, back in the queue
    paused_at, limit = world.now, timedelta(days=3)
    world.deps.jobs.touch(job.job_handle, paused_at + limit)  # a renewed form does not stretch the pause
    assert sweep.sweep(world.deps, paused_at + limit - timedelta(minutes=5)) == {}
    assert world.job(job).state == JobState.WAITING_COORDINATOR

    world.now = paused_at + limit + timedelta(hours=1)
    assert sweep.sweep(world.deps, world.now) == {"pause_expired": 1}
    assert world.job(job).state == JobState.STOPPING
    assert [world.deliver(obj) for obj in waiting] == ["FileCancel", "FileCancel"]
    log = world.log(job)
    assert (log.log_type, log.total_file_count, log.file_success_count, log.file_error_count) == (
        "EndUpload", 3, 1, 2)
    (why,) = [r for r in world.rows(job, "UploadWarning") if "MaxPauseSeconds" in r.log_message]
    assert why.log_message == (
        "Job held was paused for 73 hours, longer than the limit of 72 hours (MaxPauseSeconds): it was stopped, "
        "and its files that had not started are cancelled")
    assert all("stopped by MaxPauseSeconds" in r.log_message for r in world.rows(job, "FileCancel"))
    found = accounting.audit(world.deps, job.job_handle, world.tick())
    assert found is not None and found.healthy
    assert finalize.finalize_job(world.deps, job.job_handle)  # the JobFinished event's work
    assert sweep.sweep(world.deps, paused_at + limit * 2) == {}


def test_a_pause_resumed_or_renewed_meanwhile_is_not_ended():
    world = World()
    job = world.open()
    control.pause_job(world.deps, world.user, job.job_handle, world.tick())
    first = world.job(job)
    control.resume_job(world.deps, world.user, job.job_handle, world.tick())
    control.pause_job(world.deps, world.user, job.job_handle, world.tick())
    late = world.now + timedelta(seconds=world.deps.settings.max_pause_seconds * 2)
    assert world.deps.jobs.stop_paused(first, control.MAX_PAUSE, late, world.rows(job, "BeginUpload")[0]) is False
    control.resume_job(world.deps, world.user, job.job_handle, world.tick())
    assert control.end_overlong_pause(world.deps, job.job_handle, late) is False  # running again: nothing to end
    assert world.job(job).state == JobState.WAITING_CLIENT
    assert [d.log_type for d in world.log(job).detail_array] == ["BeginUpload"]


def test_the_deferral_of_a_paused_file_grows_with_the_pause():
    world = World()  # the defaults: 30 s at first
    job = world.open()
    control.pause_job(world.deps, world.user, job.job_handle, world.tick())
    paused_at = world.now
    obj = world.upload(job, "waiting.icc", PROFILE)
    for after in (0, 60, 600, 3600, 6 * 3600, 3 * 24 * 3600 - 60):
        assert world.deliver(obj, paused_at + timedelta(seconds=after)) == "Paused"
    assert world.deferred() == [30, 30, 60, 360, 900, 900]  # 30 s at first, a tenth of the pause, at most 900 s
    assert world.deps.claims.list_for_job(job.job_handle) == []  # never claimed: neither counted nor started
