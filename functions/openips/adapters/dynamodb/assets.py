"""Assets on DynamoDB: the asset, its company-unique name, its job links, the word index (``ports.AssetRepository``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice

from boto3.dynamodb.conditions import Key

from openips.adapters.dynamodb import items, keys
from openips.adapters.dynamodb.keys import OWNER_INDEX
from openips.adapters.dynamodb.table import ConditionCheckFailed, Table, TransactionCancelled, clean
from openips.adapters.paging import KeyShape, Position
from openips.models.domain import Asset, VideoRendition

NEW = "attribute_not_exists(pk)"


class DynamoAssets:
    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, asset_handle: str) -> Asset | None:
        item = self.table.get(keys.asset_key(asset_handle), consistent=True)
        return Asset.model_validate(item) if item else None

    def get_many(self, asset_handles: set[str]) -> dict[str, Asset]:
        """BatchGetItem, 100 keys a call."""
        found = (Asset.model_validate(item) for item in self.table.batch_get(
            [keys.asset_key(h) for h in sorted(asset_handles)], consistent=True))
        return {asset.asset_handle: asset for asset in found}

    def find_by_name(self, company_handle: str, name: str) -> Asset | None:
        guard = self.table.get(keys.asset_name_guard_key(company_handle, name), consistent=True)
        return self.get(guard["asset_handle"]) if guard else None

    def _job_link_put(self, asset: Asset) -> dict:
        """The job→asset link of the job that last wrote the asset (``GET /v1/assets?jobHandle=``)."""
        return self.table.put_op(items.job_asset_link(asset.updated_job_handle, asset.asset_handle))

    def create(self, asset: Asset) -> bool:
        """Create the asset, claim its company-unique ID and link it to its job; False if the ID is taken."""
        guard = {**keys.asset_name_guard_key(asset.company_handle, asset.name), "asset_handle": asset.asset_handle}
        try:
            self.table.transact([
                self.table.put_op(clean(guard), NEW),
                self.table.put_op(clean(items.asset_item(asset)), NEW),
                self._job_link_put(asset),
            ])
            return True
        except TransactionCancelled:
            return False

    def replace(self, asset: Asset) -> None:
        """Write an existing asset anew, and link it to the job that wrote it (pages, layers, sets alike)."""
        self.table.transact([
            self.table.put_op(clean(items.asset_item(asset)), "attribute_exists(pk)"),
            self._job_link_put(asset),
        ])

    def add_rendition(self, asset_handle: str, rendition: VideoRendition) -> bool:
        """One map entry by name (``SET renditions.#n``): two renditions finishing at once never overwrite each
        other, as a whole-item ``replace`` would. Items written before renditions existed get the map first."""
        value = json.loads(rendition.model_dump_json())
        names = {"#r": "renditions", "#n": rendition.name}
        for _ in range(2):
            try:
                self.table.update(keys.asset_key(asset_handle), "SET #r.#n = :v", "attribute_exists(#r)",
                                  ExpressionAttributeNames=names, ExpressionAttributeValues={":v": value})
                return True
            except ConditionCheckFailed:
                pass
            try:
                self.table.update(keys.asset_key(asset_handle), "SET #r = :map",
                                  "attribute_exists(pk) AND attribute_not_exists(#r)",
                                  ExpressionAttributeNames={"#r": "renditions"},
                                  ExpressionAttributeValues={":map": {rendition.name: value}})
                return True
            except ConditionCheckFailed:
                if self.get(asset_handle) is None:
                    return False  # deleted meanwhile; otherwise another rendition made the map first
        return False

    def update_set_members(self, asset: Asset, old_members: list[str]) -> bool:
        """Replace a set asset's item if its members are still ``old_members``; False if not."""
        try:
            self.table.transact([
                self.table.put_op(clean(items.asset_item(asset)), "attribute_exists(pk) AND members = :old",
                                  ExpressionAttributeValues={":old": old_members}),
                self._job_link_put(asset),
            ])
            return True
        except TransactionCancelled:
            return False

    def set_smart_crops(self, asset: Asset) -> bool:
        """One attribute, on the version read: a re-upload in between (a new ``last_claim``) wins, never the edit."""
        value = items.asset_item(asset)["smart_crops"]  # numbers as DynamoDB takes them (Decimal)
        try:
            self.table.update(keys.asset_key(asset.asset_handle), "SET #s = :v", "last_claim = :claim",
                              ExpressionAttributeNames={"#s": "smart_crops"},
                              ExpressionAttributeValues={":v": value, ":claim": asset.last_claim})
            return True
        except ConditionCheckFailed:
            return False

    def list_for_job(self, job_handle: str) -> list[Asset]:
        """Every asset the job created or updated, whatever made it (file, page, layer, set, member)."""
        shape = keys.assets_of_job(job_handle)
        links = self.table.query(KeyConditionExpression=Key("pk").eq(shape.fixed["pk"])
                                 & Key("sk").begins_with(shape.prefixed["sk"]))
        assets = [self.get(link["asset_handle"]) for link in links]
        return [a for a in assets if a is not None]

    def iter_for_job(self, job_handle: str, after: str | None, chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """``list_for_job`` page by page: from the page token ``after`` on, ``chunk`` links at a time."""
        return iter_linked_assets(self.table, self, keys.assets_of_job(job_handle), after, chunk)

    def iter_in_folder(self, company_handle: str, folder: str, after: str | None,
                       chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """The folder's assets by name, from the page token ``after`` on, ``chunk`` at a time."""
        shape = keys.assets_in_folder(company_handle, folder)
        for item in self.table.query_from(shape, after, chunk, IndexName=OWNER_INDEX,
                                          KeyConditionExpression=Key("gsi1pk").eq(shape.fixed["gsi1pk"])):
            yield Asset.model_validate(item), shape.position(item)

    # ---- word index (pdfOptions.extractSearchWords, GET /v1/assets?text=) -----------------------

    def index_words(self, company_handle: str, asset_handle: str, old: list[str], new: list[str]) -> None:
        """Make the index hold exactly ``new`` for the asset: put the added words, delete the dropped ones."""
        added, dropped = set(new) - set(old), set(old) - set(new)
        self.table.write_batch(
            puts=[{**keys.word_key(company_handle, word, asset_handle), "asset_handle": asset_handle}
                  for word in sorted(added)],
            deletes=[keys.word_key(company_handle, word, asset_handle) for word in sorted(dropped)])

    def iter_with_word(self, company_handle: str, word: str, after: str | None,
                       chunk: int) -> Iterator[tuple[Asset | None, Position]]:
        """The assets the index lists under ``word``, from the page token ``after`` on, ``chunk`` at a time."""
        return iter_linked_assets(self.table, self, keys.assets_with_word(company_handle, word), after, chunk)


def iter_linked_assets(table: Table, assets: DynamoAssets, shape: KeyShape, after: str | None,
                       chunk: int) -> Iterator[tuple[Asset | None, Position]]:
    """Assets named by link items (``asset_handle``) of one partition: a Query, then a BatchGet, per chunk."""
    links = table.query_from(shape, after, chunk, KeyConditionExpression=Key("pk").eq(shape.fixed["pk"])
                             & Key("sk").begins_with(shape.prefixed["sk"]))
    while batch := list(islice(links, chunk)):
        found = assets.get_many({link["asset_handle"] for link in batch})
        for link in batch:
            yield found.get(link["asset_handle"]), shape.position(link)
