"""Image presets on DynamoDB (``ports.ImagePresetRepository``): one item per preset in the company's
partition, keyed by the name in lower case, and a count item written with each create and delete."""

from __future__ import annotations

from openips.adapters.dynamodb import keys
from openips.adapters.dynamodb.table import Table, TransactionCancelled
from openips.adapters.ports import ImagePresetCreated
from openips.models.image_presets import ImagePreset

NEW = "attribute_not_exists(pk)"


class DynamoImagePresets:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, preset: ImagePreset, max_per_company: int) -> ImagePresetCreated:
        item = {**keys.image_preset_key(preset.company_handle, preset.name), **preset.model_dump(mode="json")}
        try:
            self.table.transact([
                self.table.put_op(item, NEW),
                self.table.update_op(keys.image_preset_count_key(preset.company_handle), "ADD n :one",
                                     "attribute_not_exists(n) OR n < :most",
                                     ExpressionAttributeValues={":one": 1, ":most": max_per_company}),
            ])
            return "created"
        except TransactionCancelled as exc:
            return "exists" if exc.failed(0) else "full"

    def get(self, company_handle: str, name: str) -> ImagePreset | None:
        item = self.table.get(keys.image_preset_key(company_handle, name), consistent=True)
        return ImagePreset.model_validate(keys.without_keys(item)) if item else None

    def list_for_company(self, company_handle: str) -> list[ImagePreset]:
        return [ImagePreset.model_validate(keys.without_keys(item))
                for item in self.table.query_prefixed(keys.image_presets_of(company_handle), ConsistentRead=True)]

    def delete(self, company_handle: str, name: str) -> bool:
        try:
            self.table.transact([
                self.table.delete_op(keys.image_preset_key(company_handle, name), "attribute_exists(pk)"),
                self.table.update_op(keys.image_preset_count_key(company_handle), "ADD n :less",
                                     ExpressionAttributeValues={":less": -1}),
            ])
            return True
        except TransactionCancelled:
            return False
