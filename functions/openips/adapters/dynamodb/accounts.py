"""The accounts table: users, API-key hashes and webhook signing secrets (``ports.AccountRepository``).

These items live apart from the jobs table so that the functions which parse uploaded files
(ProcessFile, Media, AssetImaging) hold no permission on them: a memory-safety bug in a parser
cannot read a secret or mint a key (docs/security.md "Who can reach what"). ApiFunction reads
and writes this table, AuthorizerFunction reads ``K#``/``U#`` items, NotificationFunction reads
and creates ``W#`` items; IAM conditions on the leading key enforce the last two (the prefixes
are ``keys.USER_PREFIX``, ``keys.KEY_PREFIX`` and ``keys.WEBHOOK_SECRET_PREFIX``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from openips.adapters.dynamodb import keys
from openips.adapters.dynamodb.keys import OWNER_INDEX, iso
from openips.adapters.dynamodb.table import ConditionCheckFailed, Table, clean
from openips.models.domain import User

NEW = "attribute_not_exists(pk)"


class DynamoAccounts:
    """Users, their one live API key (as a hash) and each company's webhook secret."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # ---- users and keys -----------------------------------------------------------------

    def put_user(self, user: User, key_hash: str) -> None:
        # The user item names its one live key: a key whose hash it does not name is revoked.
        user_item = {**keys.user_key(user.user_handle), **keys.user_index(user), **user.model_dump(),
                     "key_hash": key_hash}
        key_item = {**keys.api_key_key(key_hash), **user.model_dump()}
        self.table.transact([self.table.put_op(clean(user_item), NEW), self.table.put_op(clean(key_item), NEW)])

    def find_user_by_email(self, company_handle: str, email: str) -> User | None:
        with_email = Key("gsi1pk").eq(keys.company_users_partition(company_handle)) & Key("gsi1sk").eq(email)
        found = next(self.table.pages(IndexName=OWNER_INDEX, KeyConditionExpression=with_email))["Items"]
        return User.model_validate(keys.without_keys(found[0])) if found else None

    def get_user_by_key_hash(self, key_hash: str) -> User | None:
        """The user a live API key belongs to: None for an unknown, revoked or replaced key, or a deleted user."""
        item = self.table.get(keys.api_key_key(key_hash))
        if not item:
            return None
        found = self.get_user(item["user_handle"])
        if found is None or found[1] != key_hash:
            return None
        return found[0]

    def get_user(self, user_handle: str) -> tuple[User, str] | None:
        """A user and the hash of its live key ("" once revoked)."""
        item = self.table.get(keys.user_key(user_handle), consistent=True)
        if not item:
            return None
        return User.model_validate(keys.without_keys(item)), item.get("key_hash", "")

    def replace_user_key(self, user: User, old_hash: str | None, new_hash: str | None) -> None:
        """Revoke the user's key (``new_hash`` None) or replace it, at once."""
        ops = [self.table.update_op(keys.user_key(user.user_handle), "SET key_hash = :new", "attribute_exists(pk)",
                                    ExpressionAttributeValues={":new": new_hash or ""})]
        if old_hash:
            ops.append(self.table.delete_op(keys.api_key_key(old_hash)))
        if new_hash:
            ops.append(self.table.put_op({**keys.api_key_key(new_hash), **user.model_dump()}, NEW))
        self.table.transact(ops)

    def delete_user(self, user: User, key_hash: str | None) -> None:
        ops = [self.table.delete_op(keys.user_key(user.user_handle))]
        if key_hash:
            ops.append(self.table.delete_op(keys.api_key_key(key_hash)))
        self.table.transact(ops)

    # ---- webhook secrets ----------------------------------------------------------------

    def get_webhook_secret(self, company_handle: str) -> dict | None:
        item = self.table.get(keys.webhook_secret_key(company_handle), consistent=True)
        return keys.without_keys(item) if item else None

    def create_webhook_secret(self, company_handle: str, secret: str, now: datetime) -> dict:
        """The company's secret, created with ``secret`` if it has none yet (first writer wins)."""
        try:
            self.table.put({**keys.webhook_secret_key(company_handle), "secret": secret, "created_at": iso(now)},
                           Attr("pk").not_exists())
        except ConditionCheckFailed:
            pass
        found = self.get_webhook_secret(company_handle)
        assert found is not None
        return found

    def rotate_webhook_secret(self, company_handle: str, secret: str, now: datetime,
                              previous_valid_until: datetime) -> dict:
        """Replace the secret; the old one keeps signing (second ``v1=``) until ``previous_valid_until``."""
        old = self.get_webhook_secret(company_handle)
        item: dict[str, Any] = {"secret": secret, "created_at": iso(now)}
        if old:
            item |= {"previous_secret": old["secret"], "previous_valid_until": iso(previous_valid_until)}
        self.table.put({**keys.webhook_secret_key(company_handle), **item})
        return item
