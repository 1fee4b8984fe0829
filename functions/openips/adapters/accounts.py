"""DynamoDB accounts table: users, API-key hashes and webhook signing secrets.

These items live apart from the jobs table so that the functions which parse uploaded files
(ProcessFile, Media, AssetImaging) hold no permission on them: a memory-safety bug in a parser
cannot read a secret or mint a key (docs/security.md "Who can reach what"). ApiFunction reads
and writes this table, AuthorizerFunction reads ``K#``/``U#`` items, NotificationFunction reads
and creates ``W#`` items; IAM conditions on the leading key enforce the last two.

=================  ======================  =====================  ==========================
item               pk                      sk                     indexes
=================  ======================  =====================  ==========================
user               ``U#<u>``               ``USER``               gsi1 ``C#<c>#USERS`` / email
API key            ``K#<sha256>``          ``KEY``
webhook secret     ``W#<c>``               ``WEBHOOK_SECRET``
=================  ======================  =====================  ==========================
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from openips.adapters.store import OWNER_INDEX, _clean, _iso, _is_condition_failure, _plain, _strip_keys, _translate
from openips.models.domain import User

# The leading-key prefixes IAM conditions name (template.yaml); keep them in step.
USER_PREFIX = "U#"
KEY_PREFIX = "K#"
WEBHOOK_SECRET_PREFIX = "W#"


def _user_key(user_handle: str) -> dict:
    return {"pk": f"{USER_PREFIX}{user_handle}", "sk": "USER"}


def _api_key_key(key_hash: str) -> dict:
    return {"pk": f"{KEY_PREFIX}{key_hash}", "sk": "KEY"}


def _webhook_secret_key(company_handle: str) -> dict:
    return {"pk": f"{WEBHOOK_SECRET_PREFIX}{company_handle}", "sk": "WEBHOOK_SECRET"}


class AccountStore:
    """Users, their one live API key (as a hash) and each company's webhook secret."""

    def __init__(self, table_name: str) -> None:
        self.table = boto3.resource("dynamodb").Table(table_name)
        self.client = self.table.meta.client
        self.table_name = table_name

    # ---- users and keys -----------------------------------------------------------------

    def put_user(self, user: User, key_hash: str) -> None:
        # The user item names its one live key: a key whose hash it does not name is revoked.
        user_item = {**_user_key(user.user_handle), "gsi1pk": f"C#{user.company_handle}#USERS",
                     "gsi1sk": user.email, **user.model_dump(), "key_hash": key_hash}
        key_item = {**_api_key_key(key_hash), **user.model_dump()}
        self._transact([
            {"Put": {"TableName": self.table_name, "Item": _clean(user_item),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table_name, "Item": _clean(key_item),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    def find_user_by_email(self, company_handle: str, email: str) -> User | None:
        items = self.table.query(
            IndexName=OWNER_INDEX,
            KeyConditionExpression=Key("gsi1pk").eq(f"C#{company_handle}#USERS") & Key("gsi1sk").eq(email),
        )["Items"]
        return User.model_validate(_plain(_strip_keys(items[0]))) if items else None

    def get_user_by_key_hash(self, key_hash: str) -> User | None:
        """The user a live API key belongs to: None for an unknown, revoked or replaced key, or a deleted user."""
        item = self.table.get_item(Key=_api_key_key(key_hash)).get("Item")
        if not item:
            return None
        found = self.get_user(item["user_handle"])
        if found is None or found[1] != key_hash:
            return None
        return found[0]

    def get_user(self, user_handle: str) -> tuple[User, str] | None:
        """A user and the hash of its live key ("" once revoked)."""
        item = self.table.get_item(Key=_user_key(user_handle), ConsistentRead=True).get("Item")
        if not item:
            return None
        return User.model_validate(_plain(_strip_keys(item))), item.get("key_hash", "")

    def replace_user_key(self, user: User, old_hash: str | None, new_hash: str | None) -> None:
        """Revoke the user's key (``new_hash`` None) or replace it, at once."""
        items: list[dict] = [{"Update": {
            "TableName": self.table_name, "Key": _user_key(user.user_handle),
            "UpdateExpression": "SET key_hash = :new", "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":new": new_hash or ""}}}]
        if old_hash:
            items.append({"Delete": {"TableName": self.table_name, "Key": _api_key_key(old_hash)}})
        if new_hash:
            items.append({"Put": {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(pk)",
                                  "Item": {**_api_key_key(new_hash), **user.model_dump()}}})
        self._transact(items)

    def delete_user(self, user: User, key_hash: str | None) -> None:
        items: list[dict] = [{"Delete": {"TableName": self.table_name, "Key": _user_key(user.user_handle)}}]
        if key_hash:
            items.append({"Delete": {"TableName": self.table_name, "Key": _api_key_key(key_hash)}})
        self._transact(items)

    # ---- webhook secrets ----------------------------------------------------------------

    def get_webhook_secret(self, company_handle: str) -> dict | None:
        item = self.table.get_item(Key=_webhook_secret_key(company_handle), ConsistentRead=True).get("Item")
        return _plain(_strip_keys(item)) if item else None

    def create_webhook_secret(self, company_handle: str, secret: str, now: datetime) -> dict:
        """The company's secret, created with ``secret`` if it has none yet (first writer wins)."""
        try:
            self.table.put_item(Item={**_webhook_secret_key(company_handle), "secret": secret,
                                      "created_at": _iso(now)},
                                ConditionExpression=Attr("pk").not_exists())
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise _translate(exc) from exc
        found = self.get_webhook_secret(company_handle)
        assert found is not None
        return found

    def rotate_webhook_secret(self, company_handle: str, secret: str, now: datetime,
                              previous_valid_until: datetime) -> dict:
        """Replace the secret; the old one keeps signing (second ``v1=``) until ``previous_valid_until``."""
        old = self.get_webhook_secret(company_handle)
        item: dict[str, Any] = {"secret": secret, "created_at": _iso(now)}
        if old:
            item |= {"previous_secret": old["secret"], "previous_valid_until": _iso(previous_valid_until)}
        self.table.put_item(Item={**_webhook_secret_key(company_handle), **item})
        return item

    def _transact(self, items: list[dict]) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            raise _translate(exc) from exc


@lru_cache(maxsize=4)
def get_account_store(table_name: str) -> AccountStore:
    return AccountStore(table_name)
