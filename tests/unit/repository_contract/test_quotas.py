"""QuotaRepository: in-flight slots, extraction budgets, mail and re-send quotas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.repository_contract.builders import T0, claim, open_job

DAY = "2024-05-01"


def test_a_company_holds_at_most_cap_slots_a_holder_renews_its_own_and_ended_leases_are_pruned(repos):
    until = T0 + timedelta(seconds=60)
    assert [repos.quotas.take_inflight_slot("c-acme", h, until, 2, T0) for h in ("h1", "h2", "h3")] == [
        True, True, False]
    assert repos.quotas.take_inflight_slot("c-acme", "h1", until + timedelta(seconds=30), 2, T0) is True  # renewed
    assert repos.quotas.take_inflight_slot("c-other", "h3", until, 2, T0) is True  # another company's slots
    holders = repos.quotas.inflight_holders("c-acme")
    assert holders == {"h1": datetime.fromtimestamp(int((until + timedelta(seconds=30)).timestamp()), UTC),
                       "h2": datetime.fromtimestamp(int(until.timestamp()), UTC)}
    # h2's invocation died without releasing: once its lease ended, its slot is taken over.
    later = until + timedelta(seconds=1)
    assert repos.quotas.take_inflight_slot("c-acme", "h4", later + timedelta(seconds=60), 2, later) is True
    assert sorted(repos.quotas.inflight_holders("c-acme")) == ["h1", "h4"]
    assert repos.quotas.release_inflight_slot("c-acme", "h4") is True
    assert repos.quotas.release_inflight_slot("c-acme", "h4") is False
    assert repos.quotas.release_inflight_slot("c-nothing", "h1") is False
    assert repos.quotas.inflight_holders("c-nothing") == {}


def test_an_archive_counts_against_its_job_and_company_day_once(repos):
    open_job(repos)
    job_limits, company_limits = (10, 1000), (15, 5000)
    archive = claim("k-zip")
    assert repos.quotas.reserve_extraction(archive, "c-acme", DAY, 6, 100, job_limits, company_limits) is None
    assert repos.quotas.reserve_extraction(archive, "c-acme", DAY, 6, 100, job_limits, company_limits) is None
    assert repos.quotas.reserve_extraction(claim("k-2"), "c-acme", DAY, 5, 100, job_limits, company_limits) == "job"
    assert repos.quotas.reserve_extraction(claim("k-3"), "c-acme", DAY, 4, 900, job_limits, company_limits) is None
    assert repos.quotas.reserve_extraction(claim("k-4"), "c-acme", DAY, 1, 1, job_limits, company_limits) == "job"
    open_job(repos, "j-two")
    other = claim("k-5", job_handle="j-two")
    assert repos.quotas.reserve_extraction(other, "c-acme", DAY, 6, 10, job_limits, company_limits) == "company"
    assert repos.quotas.reserve_extraction(other, "c-acme", "2024-05-02", 6, 10, job_limits, company_limits) is None


def test_an_archives_first_reservation_is_not_checked_against_the_limits(repos):
    """As the condition ``attribute_not_exists(#m) OR #m <= :max`` reads today: a counter that does not
    exist yet passes, whatever is added (the per-archive limits of plan_extraction bound it)."""
    open_job(repos)
    assert repos.quotas.reserve_extraction(claim("k-big"), "c-acme", DAY, 50, 10**6, (10, 1000), (15, 5000)) is None
    assert repos.quotas.reserve_extraction(claim("k-next"), "c-acme", DAY, 1, 1, (10, 1000), (15, 5000)) == "job"


def test_resends_count_per_job_and_per_company_day(repos):
    open_job(repos)
    open_job(repos, "j-two")
    assert [repos.quotas.reserve_resend("j-one", "c-acme", DAY, 2, 3) for _ in range(3)] == [None, None, "job"]
    assert repos.quotas.reserve_resend("j-two", "c-acme", DAY, 2, 3) is None
    assert repos.quotas.reserve_resend("j-two", "c-acme", DAY, 2, 3) == "company"  # the company's day is used up
    assert repos.quotas.reserve_resend("j-two", "c-acme", "2024-05-02", 2, 3) is None
    assert repos.quotas.reserve_resend("j-none", "c-acme", DAY, 2, 30) == "job"  # no such job
    assert repos.quotas.reserve_resend("j-two", "c-acme", DAY, 0, 30) == "job"
    assert repos.quotas.reserve_resend("j-two", "c-acme", DAY, 5, 0) == "company"


def test_a_steps_mail_takes_its_place_in_the_company_day_once(repos):
    assert repos.quotas.reserve_mail("j-one", "email:Completion", "c-acme", DAY, 2) is True
    assert repos.quotas.reserve_mail("j-one", "email:Completion", "c-acme", DAY, 2) is True  # counted before
    assert repos.quotas.reserve_mail("j-two", "email:Completion", "c-acme", DAY, 2) is True
    assert repos.quotas.reserve_mail("j-three", "email:Completion", "c-acme", DAY, 2) is False
    assert repos.quotas.reserve_mail("j-one", "email:Completion", "c-acme", DAY, 2) is True  # still counted
    assert repos.quotas.reserve_mail("j-three", "email:Completion", "c-acme", "2024-05-02", 2) is True
    assert repos.quotas.reserve_mail("j-four", "email:Completion", "c-acme", DAY, 0) is False
