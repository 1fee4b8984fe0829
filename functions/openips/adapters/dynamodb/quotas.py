"""Budgets on DynamoDB, each counted with conditional writes, never read then written (``ports.QuotaRepository``).

* In-flight slots (docs/security.md): one item per company mapping each holder to its lease's end.
* Archive extraction: members and bytes per job (on the job item) and per company and UTC day.
* Mail and re-send quotas (services/mail_policy.py): one item per company and UTC day, ``mails``
  handed to SES and ``resends`` requested; re-sends per job on the job item. Day items expire
  (TTL ``expiresAt``) three days after their day.
"""

from __future__ import annotations

from datetime import UTC, datetime

from openips.adapters.dynamodb import keys
from openips.adapters.dynamodb.table import ConditionCheckFailed, Table, TransactionCancelled
from openips.adapters.ports import Over
from openips.models.domain import FileClaim

NEW = "attribute_not_exists(pk)"
DAY_ITEMS_KEPT_SECONDS = 3 * 86400


class DynamoQuotas:
    def __init__(self, table: Table) -> None:
        self.table = table

    # ---- in-flight slots ------------------------------------------------------------------------

    def take_inflight_slot(self, company_handle: str, holder: str, until: datetime, cap: int,
                           now: datetime) -> bool:
        """Hold one of the company's ``cap`` in-flight slots until ``until``; False when all are held.

        A take is one conditional UpdateItem (a retried request of the same holder succeeds again).
        When it fails, holders whose lease ended (an invocation that crashed before releasing) are
        removed, each only if it is unchanged, and the take is tried again.
        """
        key = keys.inflight_key(company_handle)
        deadline = int(now.timestamp())
        for _ in range(3):
            try:
                self.table.update(
                    key, "SET holders.#id = :until",
                    # attribute_exists(holders) before size(): DynamoDB fails a size() of a missing
                    # attribute, moto raises on it (tests/integration/test_shared_capacity.py).
                    "attribute_exists(holders.#id) OR (attribute_exists(holders) AND size(holders) < :cap)",
                    ExpressionAttributeNames={"#id": holder},
                    ExpressionAttributeValues={":until": int(until.timestamp()), ":cap": cap},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD")
                return True
            except ConditionCheckFailed as failed:
                old = failed.item or {}
            if "holders" not in old:  # the company's first file: the map is made once
                self.table.update(key, "SET holders = if_not_exists(holders, :none)",
                                  ExpressionAttributeValues={":none": {}})
                continue
            held = {name: int(value["N"]) for name, value in old["holders"].get("M", {}).items()}
            expired = {name: end for name, end in held.items() if end <= deadline}
            if not expired:
                return False
            for name, end in expired.items():
                self._remove_holder(key, name, end)
        return False

    def release_inflight_slot(self, company_handle: str, holder: str) -> bool:
        """Give the slot back; False when it was not held (pruned after its lease ended)."""
        return self._remove_holder(keys.inflight_key(company_handle), holder, None)

    def inflight_holders(self, company_handle: str) -> dict[str, datetime]:
        """The company's slot holders and when their leases end."""
        item = self.table.get(keys.inflight_key(company_handle), consistent=True) or {}
        return {name: datetime.fromtimestamp(int(end), UTC) for name, end in (item.get("holders") or {}).items()}

    def _remove_holder(self, key: dict, holder: str, lease_end: int | None) -> bool:
        values = {"ExpressionAttributeValues": {":end": lease_end}} if lease_end is not None else {}
        try:
            self.table.update(key, "REMOVE holders.#id",
                              "holders.#id = :end" if values else "attribute_exists(holders.#id)",
                              ExpressionAttributeNames={"#id": holder}, **values)
            return True
        except ConditionCheckFailed:
            return False  # released, renewed or pruned by someone else meanwhile

    # ---- archive extraction ----------------------------------------------------------------------

    def reserve_extraction(self, claim: FileClaim, company_handle: str, day: str, members: int, size: int,
                           job_limits: tuple[int, int], company_limits: tuple[int, int]) -> Over | None:
        """Count an archive's members and bytes against its job's and its company's daily budget.

        Once per archive claim (a marker item makes a retry a no-op). Returns None when
        reserved, else which budget it would exceed: "job" or "company".
        """
        marker = {**keys.extraction_counted_key(claim.job_handle, claim.claim_id), "members": members, "bytes": size}
        within = "(attribute_not_exists(#m) OR #m <= :max_m) AND (attribute_not_exists(#b) OR #b <= :max_b)"
        names = {"#m": "extracted_members", "#b": "extracted_bytes"}

        def add(key: dict, limits: tuple[int, int], extra: dict | None = None) -> dict:
            return self.table.update_op(
                key, "ADD #m :m, #b :b" + (" SET expiresAt = :ttl" if extra else ""), within,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":m": members, ":b": size, ":max_m": limits[0] - members,
                                           ":max_b": limits[1] - size, **(extra or {})})
        ttl = int(datetime.fromisoformat(day).timestamp()) + DAY_ITEMS_KEPT_SECONDS  # expires with its day
        try:
            self.table.transact([self.table.put_op(marker, NEW), add(keys.job_key(claim.job_handle), job_limits),
                                 add(keys.extraction_day_key(company_handle, day), company_limits, {":ttl": ttl})])
            return None
        except TransactionCancelled as cancelled:
            if cancelled.failed(0):
                return None  # this archive reserved its members on an earlier attempt
            return "job" if cancelled.failed(1) else "company"

    # ---- mail and re-send quotas ---------------------------------------------------------------------

    def _company_day_add(self, company_handle: str, day: str, counter: str, limit: int) -> dict:
        expires_at = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + DAY_ITEMS_KEPT_SECONDS
        return self.table.update_op(
            keys.mail_day_key(company_handle, day), "ADD #n :one SET expiresAt = :ttl",
            "attribute_not_exists(#n) OR #n < :limit", ExpressionAttributeNames={"#n": counter},
            ExpressionAttributeValues={":one": 1, ":limit": limit, ":ttl": expires_at})

    def reserve_resend(self, job_handle: str, company_handle: str, day: str, per_job: int,
                       per_company_day: int) -> Over | None:
        """Count one re-send request of the job; None when counted, else the quota it would pass: "job" or "company"."""
        if per_job <= 0 or per_company_day <= 0:  # a missing counter passes its condition: 0 is decided here
            return "job" if per_job <= 0 else "company"
        per_job_add = self.table.update_op(
            keys.job_key(job_handle), "ADD resend_requests :one",
            "attribute_exists(pk) AND (attribute_not_exists(resend_requests) OR resend_requests < :limit)",
            ExpressionAttributeValues={":one": 1, ":limit": per_job})
        try:
            self.table.transact([per_job_add, self._company_day_add(company_handle, day, "resends", per_company_day)])
            return None
        except TransactionCancelled as cancelled:
            return "job" if cancelled.failed(0) else "company"

    def reserve_mail(self, job_handle: str, step: str, company_handle: str, day: str, per_company_day: int) -> bool:
        """Count the mail of step ``X#<step>`` against its company's day, once; False when the quota is used up.

        A marker (``keys.mail_counted_key``) remembers the count, so a step taken over after a crash is
        not counted twice (it lives beside the step's item, which a takeover rewrites).
        """
        if per_company_day <= 0:
            return False
        marker = self.table.put_op({**keys.mail_counted_key(job_handle, step), "counted_on": day}, NEW)
        try:
            self.table.transact([marker, self._company_day_add(company_handle, day, "mails", per_company_day)])
            return True
        except TransactionCancelled as cancelled:
            return cancelled.failed(0)  # counted by an earlier attempt of the step
