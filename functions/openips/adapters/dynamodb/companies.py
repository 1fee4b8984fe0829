"""Companies on DynamoDB (``ports.CompanyRepository``)."""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr, Key

from openips.adapters.dynamodb import keys
from openips.adapters.dynamodb.keys import OWNER_INDEX
from openips.adapters.dynamodb.table import Table, clean
from openips.models.domain import Company


class DynamoCompanies:
    def __init__(self, table: Table) -> None:
        self.table = table

    def _item(self, company: Company) -> dict:
        return {**keys.company_key(company.company_handle), **keys.company_index(company), **company.model_dump()}

    def create(self, company: Company) -> None:
        self.table.put(self._item(company), Attr("pk").not_exists())

    def replace(self, company: Company) -> None:
        self.table.put(clean(self._item(company)), Attr("pk").exists())

    def get(self, company_handle: str) -> Company | None:
        item = self.table.get(keys.company_key(company_handle))
        return Company.model_validate(item) if item else None

    def list_handles(self) -> list[str]:
        return [item["gsi1sk"] for item in self.table.query(
            IndexName=OWNER_INDEX, KeyConditionExpression=Key("gsi1pk").eq(keys.COMPANIES_PARTITION))]

    def find_by_name(self, name: str) -> list[Company]:
        # Companies are few (tenants): a filtered query of the one companies partition, no index of names.
        items = self.table.query(IndexName=OWNER_INDEX, KeyConditionExpression=Key("gsi1pk").eq(keys.COMPANIES_PARTITION),
                                 FilterExpression=Attr("name").eq(name))
        return [Company.model_validate(item) for item in items]
